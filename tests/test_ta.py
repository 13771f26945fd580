"""Indicators from Python: every function against the real TA-Lib (the `talib` package) on
recorded BTC bars and seeded random walks, edge cases, float32, 2-D = per column,
streaming = batch bit for bit, and bad input getting a clear exception."""

from __future__ import annotations

import gzip
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import talib
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from talib import abstract

import baconalgo as ba
from baconalgo import ta

# talib's abstract API (parameter defaults, lookbacks) has no type information.
TalibFunction: Any = abstract.Function  # type: ignore[attr-defined]

Arr = npt.NDArray[np.float64]
Cols = dict[str, Arr]

BARS = Path(__file__).resolve().parents[1] / "data" / "bars" / "btc_perp_1m_2022-01.csv.gz"

# TA-Lib's 25 functions: the input columns they take, in `talib`'s order.
INPUTS: dict[str, tuple[str, ...]] = {
    **{f: ("close",) for f in ("SMA", "EMA", "WMA", "DEMA", "TEMA", "KAMA", "BBANDS")},
    **{f: ("close",) for f in ("TRIMA", "T3", "MAMA")},
    **{f: ("close",) for f in ("STDDEV", "RSI", "MACD", "STOCHRSI", "ROC", "MOM")},
    **{f: ("high", "low", "close") for f in ("STOCH", "ADX", "PLUS_DI", "MINUS_DI", "CCI")},
    **{f: ("high", "low", "close") for f in ("WILLR", "TRANGE", "ATR", "NATR")},
    "MFI": ("high", "low", "close", "volume"),
    "AROON": ("high", "low"),
    "OBV": ("close", "volume"),
}

# Parameter sets per function: TA-Lib's defaults ({}), periods 1 and 2 where TA-Lib takes
# them, long periods, every supported moving-average type.
PARAMS: dict[str, list[dict[str, Any]]] = {
    **{
        f: [{}, {"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 9}, {"timeperiod": 200}]
        for f in ("SMA", "EMA", "WMA", "DEMA", "TEMA", "KAMA", "TRIMA")
    },
    "T3": [
        {},
        {"timeperiod": 1},
        {"timeperiod": 2},
        {"timeperiod": 30, "vfactor": 0.0},
        {"timeperiod": 9, "vfactor": 1.0},
        {"timeperiod": 200},
    ],
    "BBANDS": [
        {},
        {"timeperiod": 2},
        {"timeperiod": 10, "nbdevup": 1.5, "nbdevdn": 2.5},
        *({"timeperiod": 7, "matype": m} for m in (1, 2, 3, 4, 5, 6, 7, 8)),
        {"timeperiod": 8, "matype": 5},
        # MAMA's lookback (32) is shorter than this window: the bands start with it.
        {"timeperiod": 40, "matype": 7},
    ],
    "STDDEV": [{}, {"timeperiod": 2}, {"timeperiod": 20, "nbdev": 2.5}],
    "RSI": [{}, {"timeperiod": 2}, {"timeperiod": 30}],
    "MACD": [
        {},
        {"fastperiod": 5, "slowperiod": 13, "signalperiod": 4},
        {"fastperiod": 26, "slowperiod": 12, "signalperiod": 1},
        {"fastperiod": 2, "slowperiod": 2, "signalperiod": 2},
    ],
    "STOCH": [
        {},
        {"fastk_period": 14, "slowk_period": 1, "slowd_period": 1},
        {"fastk_period": 1, "slowk_period": 2, "slowd_period": 2},
        {"slowk_matype": 1, "slowd_period": 4, "slowd_matype": 2},
        {"slowk_matype": 3, "slowd_matype": 6},
        {"slowk_matype": 5, "slowd_period": 4, "slowd_matype": 8},
        {"slowk_matype": 7, "slowd_matype": 7},
    ],
    "STOCHRSI": [
        {},
        {"timeperiod": 9, "fastk_period": 3, "fastd_period": 3, "fastd_matype": 1},
        {"timeperiod": 9, "fastk_period": 5, "fastd_period": 4, "fastd_matype": 5},
        {"timeperiod": 9, "fastk_period": 5, "fastd_period": 3, "fastd_matype": 8},
        {"timeperiod": 9, "fastk_period": 5, "fastd_period": 3, "fastd_matype": 7},
        {"timeperiod": 2, "fastk_period": 1, "fastd_period": 1},
    ],
    **{f: [{}, {"timeperiod": 2}, {"timeperiod": 30}] for f in ("ADX", "CCI", "MFI", "WILLR")},
    **{f: [{}, {"timeperiod": 1}, {"timeperiod": 2}] for f in ("PLUS_DI", "MINUS_DI")},
    **{f: [{}, {"timeperiod": 1}, {"timeperiod": 2}, {"timeperiod": 25}] for f in ("ROC", "MOM")},
    "AROON": [{}, {"timeperiod": 2}, {"timeperiod": 25}],
    "TRANGE": [{}],
    **{f: [{}, {"timeperiod": 1}, {"timeperiod": 2}] for f in ("ATR", "NATR")},
    "OBV": [{}],
    # Not bit for bit (TA-Lib's compiled library contracts some multiply-adds here), well
    # inside 1e-9.
    "MAMA": [{}, {"fastlimit": 0.9, "slowlimit": 0.1}, {"fastlimit": 0.3, "slowlimit": 0.01}],
}

CASES = [(f, p) for f, ps in PARAMS.items() for p in ps]


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    f, p = case
    return f + "".join(f"-{k}={v}" for k, v in p.items())


def outputs(result: Any) -> list[Arr]:
    return list(result) if isinstance(result, tuple) else [result]


def ours(f: str, cols: Cols, params: dict[str, Any]) -> list[Arr]:
    fn: Callable[..., Any] = getattr(ta, f)
    return outputs(fn(*(cols[c] for c in INPUTS[f]), **params))


def theirs(f: str, cols: Cols, params: dict[str, Any]) -> list[Arr]:
    fn: Callable[..., Any] = getattr(talib, f)
    return outputs(fn(*(np.asarray(cols[c], dtype=np.float64) for c in INPUTS[f]), **params))


def assert_close(got: list[Arr], want: list[Arr], what: str) -> None:
    """talib's values to 1e-9 relative, NaN in the same positions."""
    assert len(got) == len(want), what
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.dtype == np.float64 and g.shape == w.shape, what
        assert np.array_equal(np.isnan(g), np.isnan(w)), f"{what}[{k}]: NaN positions differ"
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=0, equal_nan=True, err_msg=f"{what}[{k}]")


def assert_same_bits(got: list[Arr], want: list[Arr], what: str) -> None:
    """Bit for bit (so -0.0 != 0.0), any NaN equal to any NaN."""
    assert len(got) == len(want), what
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        g, w = np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64)
        assert g.shape == w.shape, what
        nan = np.isnan(g)
        assert np.array_equal(nan, np.isnan(w)), f"{what}[{k}]: NaN positions differ"
        bad = np.flatnonzero(g[~nan].view(np.int64) != w[~nan].view(np.int64))
        assert bad.size == 0, f"{what}[{k}]: {bad.size} values differ, first {g[~nan][bad[0]]!r}"


def load_bars() -> Cols:
    with gzip.open(BARS, "rt") as f:
        raw = np.loadtxt(f, delimiter=",", skiprows=1, usecols=(1, 2, 3, 4, 5))
    names = ("open", "high", "low", "close", "volume")
    return {k: np.ascontiguousarray(raw[:, i]) for i, k in enumerate(names)}


def walk(n: int, seed: int, tick: float | None = None) -> Cols:
    """A random walk with consistent bars; on a tick grid, equal highs and lows are frequent."""
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 1.0, n))
    open_ = close + rng.normal(0.0, 0.3, n)
    high = np.maximum(close, open_) + np.abs(rng.normal(0.0, 0.7, n))
    low = np.minimum(close, open_) - np.abs(rng.normal(0.0, 0.7, n))
    volume = np.round(rng.uniform(0.0, 1000.0, n), 1)
    if tick is not None:
        close, open_, high, low = (np.round(a / tick) * tick for a in (close, open_, high, low))
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


@pytest.fixture(scope="module")
def btc() -> Cols:
    assert BARS.exists(), f"missing bundled bars {BARS}"
    return load_bars()


DATASETS: dict[str, Callable[[], Cols]] = {
    "walk-7": lambda: walk(3000, 7),
    "walk-11-tick": lambda: walk(3000, 11, tick=0.5),
    "walk-1e6": lambda: {k: v * 1e4 for k, v in walk(2000, 3).items()},
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_talib_on_recorded_btc_bars(btc: Cols, case: tuple[str, dict[str, Any]]) -> None:
    f, params = case
    assert len(btc["close"]) > 40_000
    assert_close(ours(f, btc, params), theirs(f, btc, params), case_id(case))


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_talib_on_random_walks(dataset: str, case: tuple[str, dict[str, Any]]) -> None:
    cols = DATASETS[dataset]()
    f, params = case
    assert_close(ours(f, cols, params), theirs(f, cols, params), f"{dataset} {case_id(case)}")


def test_signatures_are_talibs() -> None:
    """Same parameter names, order and defaults as talib's function API; the one addition
    is the keyword-only ``out`` of the multi-output functions."""
    for f in INPUTS:
        params = inspect.signature(getattr(ta, f)).parameters
        extra = [k for k, p in params.items() if p.kind is p.KEYWORD_ONLY]
        assert extra in ([], ["out"]), f
        positional = {k: p for k, p in params.items() if k not in extra}
        talib_names = list(inspect.signature(getattr(talib, f)).parameters)
        assert list(positional) == talib_names, f
        defaults = {k: p.default for k, p in positional.items() if p.default is not p.empty}
        assert defaults == dict(TalibFunction(f).info["parameters"]), f


def edge_inputs() -> dict[str, Cols]:
    w = walk(400, 5)
    lead = {k: v.copy() for k, v in w.items()}
    for v in lead.values():
        v[:17] = np.nan
    mid = {k: v.copy() for k, v in w.items()}
    mid["close"][150] = np.nan
    mid["high"][220] = np.nan
    only_high = {k: v.copy() for k, v in w.items()}
    only_high["high"][:5] = np.nan
    const = {k: np.full(300, 42.5) for k in ("open", "high", "low", "close")}
    const["volume"] = np.full(300, 10.0)
    return {
        "constant": const,
        "zero": {k: np.zeros(100) for k in w},
        "short": {k: v[:6] for k, v in w.items()},
        "one-row": {k: v[:1] for k, v in w.items()},
        "empty": {k: v[:0] for k, v in w.items()},
        "leading-nan": lead,
        "nan-inside": mid,
        "nan-in-high-only": only_high,
        "all-nan": {k: np.full(50, np.nan) for k in w},
    }


EDGES = edge_inputs()


@pytest.mark.parametrize("edge", list(EDGES))
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_edge_cases_match_talib(edge: str, case: tuple[str, dict[str, Any]]) -> None:
    f, params = case
    cols = EDGES[edge]
    assert_close(ours(f, cols, params), theirs(f, cols, params), f"{edge} {case_id(case)}")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float32_input_is_widened_exactly(case: tuple[str, dict[str, Any]]) -> None:
    f, params = case
    cols32 = {k: v.astype(np.float32) for k, v in walk(1500, 21).items()}
    cols64 = {k: v.astype(np.float64) for k, v in cols32.items()}
    got = ours(f, cols32, params)  # type: ignore[arg-type]
    assert_same_bits(got, ours(f, cols64, params), case_id(case))
    assert_close(got, theirs(f, cols64, params), case_id(case))


def test_mixed_float32_and_float64_inputs_equal_all_float64() -> None:
    w = walk(500, 2)
    h32 = w["high"].astype(np.float32)
    got = ta.ATR(h32, w["low"], w["close"])
    assert_same_bits([got], [ta.ATR(h32.astype(np.float64), w["low"], w["close"])], "ATR")


def test_strided_input_is_copied_like_talib() -> None:
    w = walk(1000, 4)
    ohlc = np.column_stack([w["open"], w["high"], w["low"], w["close"]])  # C order: strided cols
    close = ohlc[:, 3]
    assert not close.flags.c_contiguous
    assert_same_bits([ta.RSI(close)], [ta.RSI(np.ascontiguousarray(close))], "RSI")
    assert_close([ta.RSI(close)], [talib.RSI(close)], "RSI")
    k, d = ta.STOCH(ohlc[:, 1], ohlc[:, 2], ohlc[:, 3])
    assert_close([k, d], list(talib.STOCH(ohlc[:, 1], ohlc[:, 2], ohlc[:, 3])), "STOCH")
    assert_same_bits([ta.SMA(w["close"][::-1], 5)], [ta.SMA(w["close"][::-1].copy(), 5)], "SMA")


# --- parameter validation against TA-Lib's own ---------------------------------------

INT_PARAMS = [
    (f, name)
    for f in INPUTS
    for name, default in TalibFunction(f).info["parameters"].items()
    if isinstance(default, int) and not name.endswith("matype")
]


@pytest.mark.parametrize(("f", "name"), INT_PARAMS, ids=[f"{f}-{n}" for f, n in INT_PARAMS])
def test_period_ranges_are_talibs(f: str, name: str) -> None:
    cols = walk(120, 8)
    for value in (-1, 0, 1, 2, 3, 100_000, 100_001):
        params = {name: value}
        try:
            want = theirs(f, cols, params)
        except Exception:
            with pytest.raises(ba.TaError, match=name):
                ours(f, cols, params)
            continue
        assert_close(ours(f, cols, params), want, f"{f} {params}")


@pytest.mark.parametrize(
    ("f", "param"),
    [("BBANDS", "matype"), ("STOCH", "slowk_matype"), ("STOCH", "slowd_matype"),
     ("STOCHRSI", "fastd_matype")],
)  # fmt: skip
def test_unsupported_matype_raises_taerror_naming_it(f: str, param: str) -> None:
    cols = walk(100, 1)
    for code in (9, -1):
        with pytest.raises(ba.TaError, match=param) as info:
            ours(f, cols, {param: code})
        assert isinstance(info.value, ValueError) and isinstance(info.value, ba.BaconAlgoError)
    assert int(ta.MAType.KAMA) == 6
    assert_close(ours(f, cols, {param: ta.MAType.EMA}), theirs(f, cols, {param: 1}), f)


def test_bad_inputs_raise_clear_errors_naming_the_argument() -> None:
    x = walk(50, 3)["close"]
    with pytest.raises(TypeError, match="real must be a numpy array"):
        ta.SMA(list(x))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"real must have dtype float64 or float32, got int64"):
        ta.SMA(np.arange(50, dtype=np.int64))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="close must have dtype"):
        ta.ATR(x, x, x.astype(np.complex128))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"low has shape \(49,\), expected \(50,\)"):
        ta.ATR(x, x[:-1], x)
    with pytest.raises(ValueError, match="volume has shape"):
        ta.OBV(x, x[:10])
    with pytest.raises(ValueError, match="not Fortran-ordered"):
        ta.SMA(np.zeros((10, 3)), 2)
    with pytest.raises(ValueError, match="3-D"):
        ta.SMA(np.zeros((2, 2, 2)), 2)
    with pytest.raises(ValueError, match=r"shape \(10, 3\), expected \(10, 2\)"):
        ta.ATR(*(np.zeros((10, 2), order="F"),) * 2, np.zeros((10, 3), order="F"))
    with pytest.raises(ba.TaError, match="timeperiod"):
        ta.RSI(x, 1)
    with pytest.raises(ba.TaError, match="fastk_period"):
        ta.STOCH(x, x, x, fastk_period=0)


def test_read_only_input_is_accepted_and_not_modified() -> None:
    x = walk(200, 6)["close"]
    before = x.copy()
    x.setflags(write=False)
    assert_close([ta.EMA(x, 5)], [talib.EMA(before, 5)], "EMA")
    assert np.array_equal(x, before)


def test_polars_series_are_converted() -> None:
    pl = pytest.importorskip("polars")
    w = walk(300, 9)
    got = ta.MFI(*(pl.Series(k, w[k]) for k in ("high", "low", "close", "volume")))
    assert_same_bits([got], [ta.MFI(w["high"], w["low"], w["close"], w["volume"])], "MFI")
    with pytest.raises(TypeError, match="dtype"):
        ta.SMA(pl.Series("x", [1, 2, 3]), 2)


# --- 2-D ------------------------------------------------------------------------------


def matrix_cols(n_rows: int, n_cols: int) -> Cols:
    per = [walk(n_rows, 100 + j, tick=0.25 if j % 2 else None) for j in range(n_cols)]
    per[1]["close"][:9] = np.nan  # one column with a late start
    return {k: np.asfortranarray(np.column_stack([p[k] for p in per])) for k in per[0]}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_2d_fortran_input_equals_per_column_calls(case: tuple[str, dict[str, Any]]) -> None:
    f, params = case
    cols = matrix_cols(257, 6)
    got = ours(f, cols, params)
    for g in got:
        assert g.shape == (257, 6) and g.flags.f_contiguous
    for j in range(6):
        col = {k: np.ascontiguousarray(v[:, j]) for k, v in cols.items()}
        assert_same_bits([g[:, j] for g in got], ours(f, col, params), f"{case_id(case)} col {j}")


def test_2d_with_no_column_checks_parameters() -> None:
    empty = np.zeros((10, 0), order="F")
    assert ta.SMA(empty, 3).shape == (10, 0)
    with pytest.raises(ba.TaError, match="timeperiod"):
        ta.SMA(empty, 0)


# --- VWAP (not in TA-Lib: checked against a plain numpy statement of the definition) ---


def vwap_reference(w: Cols, keys: npt.NDArray[np.int64]) -> Arr:
    tp = (w["high"] + w["low"] + w["close"]) / 3.0
    out = np.empty_like(tp)
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        out[rows] = np.cumsum(tp[rows] * w["volume"][rows]) / np.cumsum(w["volume"][rows])
    return out


def test_session_vwap_matches_definition_and_timestamps_cut_sessions() -> None:
    w = walk(1000, 12)
    ts = 1_640_995_200_000_000_000 + np.arange(1000, dtype=np.int64) * 60_000_000_000
    hour = 3_600_000_000_000
    keys = (ts - 1_800_000_000_000) // hour
    got = ta.VWAP(w["high"], w["low"], w["close"], w["volume"], session=keys)
    np.testing.assert_allclose(got, vwap_reference(w, keys), rtol=1e-12)
    by_ts = ta.VWAP(w["high"], w["low"], w["close"], w["volume"], timestamps=ts,
                    session_ns=hour, offset_ns=1_800_000_000_000)  # fmt: skip
    assert_same_bits([by_ts], [got], "VWAP timestamps")
    dt = ts.astype("datetime64[ns]").astype("datetime64[s]")
    by_dt = ta.VWAP(w["high"], w["low"], w["close"], w["volume"], timestamps=dt,
                    session_ns=hour, offset_ns=1_800_000_000_000)  # fmt: skip
    assert_same_bits([by_dt], [got], "VWAP datetime64")
    daily = ta.VWAP(w["high"], w["low"], w["close"], w["volume"], timestamps=ts)
    np.testing.assert_allclose(daily, vwap_reference(w, ts // 86_400_000_000_000), rtol=1e-12)


def test_rolling_vwap_matches_definition() -> None:
    w = walk(500, 13)
    p = 20
    got = ta.VWAP_ROLLING(w["high"], w["low"], w["close"], w["volume"], p)
    pv = (w["high"] + w["low"] + w["close"]) / 3.0 * w["volume"]
    want = np.full(500, np.nan)
    for i in range(p - 1, 500):
        want[i] = pv[i - p + 1 : i + 1].sum() / w["volume"][i - p + 1 : i + 1].sum()
    assert_close([got], [want], "VWAP_ROLLING")


def test_vwap_argument_errors() -> None:
    w = walk(20, 1)
    hlcv = (w["high"], w["low"], w["close"], w["volume"])
    keys = np.zeros(20, dtype=np.int64)
    with pytest.raises(ValueError, match="session keys"):
        ta.VWAP(*hlcv)
    with pytest.raises(ValueError, match="not both"):
        ta.VWAP(*hlcv, session=keys, timestamps=keys)
    with pytest.raises(ValueError, match="length 19"):
        ta.VWAP(*hlcv, session=keys[:-1])
    with pytest.raises(TypeError, match="session must have dtype int64"):
        ta.VWAP(*hlcv, session=keys.astype(np.float64))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timestamps must be >= 0"):
        ta.VWAP(*hlcv, timestamps=keys - 1)
    with pytest.raises(ba.TaError, match="timeperiod"):
        ta.VWAP_ROLLING(*hlcv, 0)


def test_2d_session_vwap_shares_keys_across_columns() -> None:
    cols = matrix_cols(120, 3)
    keys = np.arange(120, dtype=np.int64) // 25
    got = ta.VWAP(cols["high"], cols["low"], cols["close"], cols["volume"], session=keys)
    for j in range(3):
        c = {k: np.ascontiguousarray(v[:, j]) for k, v in cols.items()}
        want = ta.VWAP(c["high"], c["low"], c["close"], c["volume"], session=keys)
        assert_same_bits([got[:, j]], [want], f"col {j}")


# --- streaming ------------------------------------------------------------------------

STREAM_INPUTS = {**INPUTS, "VWAP_ROLLING": ("high", "low", "close", "volume")}
STREAM_CASES = [*CASES, ("VWAP_ROLLING", {"timeperiod": 1}), ("VWAP_ROLLING", {"timeperiod": 7})]


def run_stream(f: str, params: dict[str, Any], cols: Cols, n_out: int) -> list[Arr]:
    s = getattr(ta.stream, f)(**params)
    ins = [cols[c] for c in STREAM_INPUTS[f]]
    steps = [s.update(*(float(x[i]) for x in ins)) for i in range(len(ins[0]))]
    arr = np.array(steps, dtype=np.float64).reshape(len(steps), n_out)
    return [arr[:, k] for k in range(n_out)]


def run_batch(f: str, params: dict[str, Any], cols: Cols) -> list[Arr]:
    fn: Callable[..., Any] = getattr(ta, f)
    return outputs(fn(*(cols[c] for c in STREAM_INPUTS[f]), **params))


bars_strategy = st.integers(0, 160).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-50.0, 50.0), min_size=n, max_size=n),
        st.lists(st.floats(0.0, 5.0), min_size=n, max_size=n),
        st.lists(st.floats(0.0, 5.0), min_size=n, max_size=n),
        st.lists(st.floats(0.0, 1e4), min_size=n, max_size=n),
        st.integers(0, 5),
        st.integers(0, 200),
    )
)

# Forms that disagree on a NaN inside the window (documented in baconalgo.ta.stream).
NAN_INSIDE_DEPARTS = {"WILLR"}


@pytest.mark.parametrize("case", STREAM_CASES, ids=case_id)
@settings(max_examples=25, deadline=None)
@given(data=bars_strategy)
def test_streaming_equals_batch_bit_for_bit(
    case: tuple[str, dict[str, Any]],
    data: tuple[list[float], list[float], list[float], list[float], int, int],
) -> None:
    steps, up, down, volume, n_lead_nan, nan_at = data
    close = 1000.0 + np.cumsum(np.asarray(steps, dtype=np.float64))
    cols = {
        "close": close,
        "high": close + np.asarray(up),
        "low": close - np.asarray(down),
        "volume": np.asarray(volume, dtype=np.float64),
    }
    for v in cols.values():
        v[:n_lead_nan] = np.nan  # leading NaNs are skipped by both forms
    f, params = case
    if nan_at < len(close) and f not in NAN_INSIDE_DEPARTS:
        cols["close"][nan_at] = np.nan  # a NaN later on goes through both the same way
        cols["high"][nan_at // 2] = np.nan
    if f == "OBV":
        # Documented departure: with no row holding both a close and a volume, the batch
        # form reports the last row's volume as TA-Lib does, the stream stays NaN.
        assume(bool((~np.isnan(cols["close"]) & ~np.isnan(cols["volume"])).any()))
    batch = run_batch(f, params, cols)
    assert_same_bits(run_stream(f, params, cols, len(batch)), batch, case_id(case))


def test_stream_reset_and_lookback() -> None:
    w = walk(300, 30)
    s = ta.stream.MACD()
    first = [s.update(float(x)) for x in w["close"]]
    s.reset()
    again = [s.update(float(x)) for x in w["close"]]
    assert_same_bits([np.array(first)], [np.array(again)], "MACD reset")
    assert s.lookback == int(np.isnan(talib.MACD(w["close"])[2]).sum())
    for f, params in CASES:
        lookback = getattr(ta.stream, f)(**params).lookback
        want = TalibFunction(f, **params).lookback
        assert lookback == want, f"{f} {params}"
    with pytest.raises(ba.TaError, match="timeperiod"):
        ta.stream.RSI(1)
    with pytest.raises(ba.TaError, match="slowd_matype"):
        ta.stream.STOCH(slowd_matype=9)
    assert repr(ta.stream.RSI).endswith("'baconalgo.ta.stream.RSI'>")


def test_session_vwap_stream_matches_batch() -> None:
    w = walk(200, 31)
    keys = np.arange(200, dtype=np.int64) // 30
    s = ta.stream.VWAP()
    got = [s.update(w["high"][i], w["low"][i], w["close"][i], w["volume"][i], int(keys[i]))
           for i in range(200)]  # fmt: skip
    want = ta.VWAP(w["high"], w["low"], w["close"], w["volume"], session=keys)
    assert_same_bits([np.array(got)], [want], "VWAP stream")


def test_multi_output_functions_write_into_out_arrays_1d_and_2d() -> None:
    w = walk(400, 11)
    c = w["close"]
    bands = (np.empty(400), np.empty(400), np.empty(400))
    got = ta.BBANDS(c, 20, 2.0, 2.0, out=bands)
    assert all(g is b for g, b in zip(got, bands, strict=True))
    assert_close(list(bands), outputs(talib.BBANDS(c, 20, 2.0, 2.0)), "BBANDS out=")
    # 2-D: Fortran-ordered outputs, each column TA-Lib's.
    m = np.asfortranarray(np.stack([c, c[::-1].copy(), c * 2], axis=1))
    outs2 = (
        np.empty(m.shape, order="F"),
        np.empty(m.shape, order="F"),
        np.empty(m.shape, order="F"),
    )
    ta.BBANDS(m, 10, out=outs2)
    for j in range(3):
        assert_close([o[:, j] for o in outs2], outputs(talib.BBANDS(m[:, j].copy(), 10)), "2-D")
    h, lo = w["high"], w["low"]
    k_d = (np.empty(400), np.empty(400))
    ta.STOCH(h, lo, c, out=k_d)
    assert_close(list(k_d), outputs(talib.STOCH(h, lo, c)), "STOCH out=")
    with pytest.raises(ValueError, match=r"out has 2 arrays, this function has 3 outputs"):
        ta.MACD(c, out=k_d)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"out\[0\] has shape"):
        ta.AROON(h, lo, out=(np.empty(399), np.empty(400)))
    with pytest.raises(ValueError, match="Fortran-ordered"):
        ta.BBANDS(m, 10, out=tuple(np.empty(m.shape) for _ in range(3)))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float64"):
        ta.STOCHRSI(c, out=(np.empty(400, dtype=np.float32), np.empty(400)))
    with pytest.raises(ValueError):
        ta.BBANDS(c, out=(c, np.empty(400), np.empty(400)))  # the input itself


def test_mama_limits_are_talibs() -> None:
    cols = walk(200, 9)
    for name in ("fastlimit", "slowlimit"):
        for value in (0.0, 0.009, 0.01, 0.5, 0.99, 0.991, 1.0):
            params = {name: value}
            try:
                want = theirs("MAMA", cols, params)
            except Exception:
                with pytest.raises(ba.TaError, match=name):
                    ours("MAMA", cols, params)
                with pytest.raises(ba.TaError, match=name):
                    ta.stream.MAMA(**params)
                continue
            assert_close(ours("MAMA", cols, params), want, f"MAMA {params}")


SINGLE_OUTPUT = [
    f for f in INPUTS if f not in ("BBANDS", "MACD", "STOCH", "STOCHRSI", "AROON", "MAMA")
]


@pytest.mark.parametrize("f", SINGLE_OUTPUT)
def test_single_output_functions_write_into_out_array(f: str) -> None:
    w = walk(300, 12)
    args = [w[c] for c in INPUTS[f]]
    fn: Callable[..., Any] = getattr(ta, f)
    buf = np.full(300, 7.0)
    got = fn(*args, out=buf)
    assert got is buf
    assert_same_bits([buf], [fn(*args)], f"{f} out=")
    assert_close([buf], theirs(f, w, {}), f"{f} out= vs talib")
    # A one-element tuple is the same request.
    tup = (np.full(300, 7.0),)
    fn(*args, out=tup)
    assert_same_bits([tup[0]], [buf], f"{f} out=(array,)")
    with pytest.raises(ValueError, match=r"out\[0\] has shape"):
        fn(*args, out=np.empty(299))
    with pytest.raises(TypeError, match="float64"):
        fn(*args, out=np.empty(300, dtype=np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        fn(*args, out=np.empty(600)[::2])


# STDDEV, BBANDS and WMA split one long 1-D series over the pool's threads at rows where
# their running sums re-anchor (a one-column matrix runs on one pool worker, unsplit).
REANCHOR_SPLIT_CASES = [
    ("STDDEV", {}),
    ("STDDEV", {"timeperiod": 2}),
    ("STDDEV", {"timeperiod": 300, "nbdev": 1.5}),
    ("BBANDS", {}),
    ("BBANDS", {"timeperiod": 2, "nbdevup": 1.5, "nbdevdn": 2.5}),
    ("BBANDS", {"timeperiod": 5, "matype": 1}),
    ("WMA", {}),
    ("WMA", {"timeperiod": 2}),
    ("WMA", {"timeperiod": 500}),
]


def unsplit(f: str, cols: Cols, params: dict[str, Any]) -> list[Arr]:
    fn: Callable[..., Any] = getattr(ta, f)
    got = fn(*(np.asfortranarray(cols[c][:, None]) for c in INPUTS[f]), **params)
    return [g[:, 0] for g in outputs(got)]


@pytest.fixture(scope="module")
def million_closes() -> dict[str, Cols]:
    plain = walk(1_000_000, 21)
    # On a tick grid flat windows are frequent: the variance re-anchors off its schedule.
    tick = walk(1_000_000, 22, tick=0.25)
    marked = {"close": tick["close"].copy()}
    close = marked["close"]
    close[:9] = np.nan
    close[[300_001, 650_000]] = np.nan
    close[400_000:400_050] = close[400_000]
    close[123_456] = 1e12
    return {"plain": plain, "tick": tick, "marked": marked}


@pytest.mark.parametrize("case", REANCHOR_SPLIT_CASES, ids=case_id)
def test_long_series_split_at_reanchors_equals_talib_bit_for_bit(
    million_closes: dict[str, Cols], case: tuple[str, dict[str, Any]]
) -> None:
    f, params = case
    for name, cols in million_closes.items():
        got = ours(f, cols, params)
        assert_same_bits(got, theirs(f, cols, params), f"{case_id(case)} {name} vs talib")
        assert_same_bits(got, unsplit(f, cols, params), f"{case_id(case)} {name} 1 thread")
    cols32 = {"close": million_closes["marked"]["close"].astype(np.float32)}
    cols64 = {"close": cols32["close"].astype(np.float64)}
    got = ours(f, cols32, params)  # type: ignore[arg-type]
    assert_same_bits(got, ours(f, cols64, params), f"{case_id(case)} float32")
