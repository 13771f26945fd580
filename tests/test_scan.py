"""The scanner against TA-Lib looped from Python with the filters and ranking done in
numpy: same instruments, same order, same values."""

from __future__ import annotations

import gzip
from typing import Any

import numpy as np
import pytest
import talib

from baconalgo.scan import scan
from tests.conftest import REPO


def universe(n_bars: int, n_instruments: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 1, (n_bars, n_instruments)), axis=0)
    spread = np.abs(rng.normal(0, 0.5, (n_bars, n_instruments)))
    return close, close + spread, close - spread


def real_universe(n_bars: int = 500) -> tuple[np.ndarray, ...]:
    with gzip.open(REPO / "data" / "bars" / "btc_perp_1m_2022-01.csv.gz", "rt") as f:
        rows = np.loadtxt(f, delimiter=",", skiprows=1, usecols=(2, 3, 4))
    k = len(rows) // n_bars
    cut = rows[: k * n_bars]
    # Consecutive 500-minute slices of real BTC bars, one per "instrument".
    high, low, close = (cut[:, i].reshape(k, n_bars).T for i in range(3))
    return np.ascontiguousarray(close), np.ascontiguousarray(high), np.ascontiguousarray(low)


INDICATORS: dict[str, str | tuple[str | int | float, ...]] = {
    "rsi": ("RSI", 14),
    "ema": ("EMA", 50),
    "atr": ("ATR", 14),
    "upper": ("BBANDS_UPPER", 20, 2.0),
    "lower": ("BBANDS_LOWER", 20, 2.0),
    "close": "CLOSE",
}


def talib_last(close: np.ndarray, high: np.ndarray, low: np.ndarray) -> dict[str, np.ndarray]:
    cols = range(close.shape[1])
    c = [np.ascontiguousarray(close[:, j]) for j in cols]
    h = [np.ascontiguousarray(high[:, j]) for j in cols]
    lo = [np.ascontiguousarray(low[:, j]) for j in cols]
    bb = [talib.BBANDS(x, 20, 2.0, 2.0) for x in c]
    return {
        "rsi": np.array([talib.RSI(x, 14)[-1] for x in c]),
        "ema": np.array([talib.EMA(x, 50)[-1] for x in c]),
        "atr": np.array([talib.ATR(h[j], lo[j], c[j], 14)[-1] for j in cols]),
        "upper": np.array([b[0][-1] for b in bb]),
        "lower": np.array([b[2][-1] for b in bb]),
        "close": close[-1, :].astype(float),
    }


@pytest.mark.parametrize("source", ["random", "real"])
def test_scan_equals_talib_loop_with_numpy_filters(source: str) -> None:
    close, high, low = universe(300, 400, 7) if source == "random" else real_universe()
    ref = talib_last(close, high, low)
    keep = (ref["rsi"] < 45) & (ref["close"] > ref["lower"])
    order = np.flatnonzero(keep)
    order = order[np.argsort(-ref["rsi"][order], kind="stable")][:25]
    result = scan(
        close,
        high,
        low,
        indicators=INDICATORS,
        where=["rsi < 45", "close > lower"],
        rank_by="rsi",
        descending=True,
        top=25,
    )
    assert result.passed == int(keep.sum()) > 0
    assert result.instrument.tolist() == order.tolist()
    for name, values in result.values.items():
        np.testing.assert_allclose(values, ref[name][order], rtol=1e-9, atol=0, err_msg=name)


def test_c_ordered_input_and_names_work_the_same() -> None:
    close, _, _ = universe(120, 30, 3)
    f = scan(np.asfortranarray(close), indicators={"sma": ("SMA", 10)}, rank_by="sma", top=30)
    c = scan(
        np.ascontiguousarray(close),
        indicators={"sma": ("SMA", 10)},
        rank_by="sma",
        top=30,
        names=[f"I{j}" for j in range(30)],
    )
    assert f.instrument.tolist() == c.instrument.tolist()
    assert c.to_dict()["name"][0] == f"I{c.instrument[0]}"
    np.testing.assert_array_equal(
        np.sort(f.values["sma"]), np.sort([talib.SMA(close[:, j], 10)[-1] for j in range(30)])
    )


def test_c_f_mixed_and_strided_matrices_give_the_same_values_as_talib() -> None:
    # C order is read row by row, F order column by column; a mixed or strided input is
    # copied into close's order first. All must give TA-Lib's values, bit for bit alike.
    close, high, low = universe(260, 37, 11)
    ref = talib_last(close, high, low)
    c_order = (np.ascontiguousarray(close), np.ascontiguousarray(high), np.ascontiguousarray(low))
    f_order = tuple(np.asfortranarray(x) for x in c_order)
    mixed = (c_order[0], f_order[1], c_order[2])
    wide = np.repeat(close, 2, axis=1)
    strided = (wide[:, ::2], high, low)
    results = [scan(*m, indicators=INDICATORS, top=37) for m in (c_order, f_order, mixed, strided)]
    for r in results:
        assert r.instrument.tolist() == list(range(37))
        for name, values in r.values.items():
            np.testing.assert_array_equal(values, results[0].values[name], err_msg=name)
            np.testing.assert_allclose(values, ref[name], rtol=1e-9, atol=0, err_msg=name)


def test_bad_scan_requests_are_clear() -> None:
    close, high, low = universe(50, 4, 1)
    with pytest.raises(ValueError, match=r"needs? high and low"):
        scan(close, indicators={"atr": ("ATR", 14)})
    with pytest.raises(ValueError, match="not one of the indicators"):
        scan(close, indicators={"rsi": ("RSI", 14)}, where=["ema > 3"])
    with pytest.raises(ValueError, match="neither a number nor an indicator"):
        scan(close, indicators={"rsi": ("RSI", 14)}, where=["rsi > abc"])
    with pytest.raises(ValueError, match="expected 'name <op> value'"):
        scan(close, indicators={"rsi": ("RSI", 14)}, where=["rsi == 3"])
    with pytest.raises(ValueError, match="unknown scan indicator"):
        scan(close, indicators={"x": ("MAMA", 3)})
    with pytest.raises(ValueError, match="2-D"):
        scan(close[:, 0], indicators={"rsi": ("RSI", 14)})
    with pytest.raises(ValueError, match="shape"):
        scan(close, high[:-1], low, indicators={"atr": ("ATR", 14)})
    with pytest.raises(ValueError, match=r"period"):
        scan(close, indicators={"rsi": ("RSI", 1)})


def long_frame(keys: Any, close: np.ndarray, high: np.ndarray, low: np.ndarray) -> Any:
    """The matrices as a long polars frame, instrument by instrument, one bar a minute."""
    import polars as pl

    n_bars, n_inst = close.shape
    return pl.DataFrame(
        {
            "instrument": np.repeat(keys, n_bars),
            "ts": np.tile(np.arange(n_bars, dtype=np.int64) * 60_000, n_inst),
            "high": high.T.ravel(),
            "low": low.T.ravel(),
            "close": close.T.ravel(),
        }
    )


def test_long_polars_frame_equals_the_matrix_and_talib() -> None:
    import polars as pl

    close, high, low = universe(300, 40, 5)
    n_inst = close.shape[1]
    names = [f"SYM{j:02d}" for j in range(n_inst)]
    # Long form, rows shuffled: the scanner must sort by instrument, then time; other
    # columns are ignored.
    frame = (
        long_frame(names, close, high, low)
        .with_columns(open=pl.col("close"), volume=pl.lit(1.0))
        .sample(fraction=1.0, shuffle=True, seed=3)
    )
    args = dict(indicators=INDICATORS, where=["rsi < 60"], rank_by="rsi", top=15)
    from_frame = scan(frame, **args)  # type: ignore[arg-type]
    from_matrix = scan(close, high, low, names=names, **args)  # type: ignore[arg-type]
    assert from_frame.passed == from_matrix.passed > 0
    assert from_frame.to_dict()["name"] == from_matrix.to_dict()["name"]
    for name in INDICATORS:
        np.testing.assert_array_equal(from_frame.values[name], from_matrix.values[name])

    # Instruments with different numbers of bars: each equals TA-Lib on its own series.
    ragged = frame.filter(~((pl.col("instrument") == "SYM03") & (pl.col("ts") < 60_000 * 50)))
    r = scan(ragged, indicators={"rsi": ("RSI", 14), "atr": ("ATR", 14)}, top=n_inst)
    row = r.to_dict()["name"].index("SYM03")
    c3, h3, l3 = close[50:, 3].copy(), high[50:, 3].copy(), low[50:, 3].copy()
    np.testing.assert_allclose(r.values["rsi"][row], talib.RSI(c3, 14)[-1], rtol=1e-9, atol=0)
    np.testing.assert_allclose(
        r.values["atr"][row], talib.ATR(h3, l3, c3, 14)[-1], rtol=1e-9, atol=0
    )
    with pytest.raises(ValueError, match="lacks column"):
        scan(frame.drop("ts"), indicators={"rsi": ("RSI", 14)})
    with_null = frame.with_columns(
        pl.when(pl.col("ts") == 0).then(None).otherwise(pl.col("instrument")).alias("instrument")
    )
    with pytest.raises(ValueError, match="null value"):
        scan(with_null, indicators={"rsi": ("RSI", 14)})


def test_sorted_integer_keyed_frame_takes_the_rust_runs_and_equals_the_matrix() -> None:
    import polars as pl

    close, high, low = universe(200, 21, 9)
    n_inst = close.shape[1]
    ids = np.arange(n_inst, dtype=np.int32) * 7 + 100  # sorted, not 0..n
    frame = long_frame(ids, close, high, low).with_columns(pl.col("ts").cast(pl.Datetime("ms")))
    args = dict(indicators=INDICATORS, rank_by="rsi", top=n_inst)
    want = scan(close, high, low, names=ids.tolist(), **args)  # type: ignore[arg-type]
    # Sorted (the Rust runs), as Int64 keys too, and shuffled (polars sorts it first).
    frames = [
        frame,
        frame.with_columns(pl.col("instrument").cast(pl.Int64)),
        frame.sample(fraction=1.0, shuffle=True, seed=1),
    ]
    for f in frames:
        got = scan(f, **args)
        assert got.to_dict()["name"] == want.to_dict()["name"]
        for name in INDICATORS:
            np.testing.assert_array_equal(got.values[name], want.values[name], err_msg=name)
