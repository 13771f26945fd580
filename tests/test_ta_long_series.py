"""Long series through Python: the kernels that run a 1,000,000-bar series a stretch per
core (PLUS_DI, MINUS_DI, RSI, EMA, DEMA, TEMA, T3, ADX), ATR, NATR and MACD (the same chain
code in one pass) and the chunked or lane-grouped ones (MFI, CCI) equal TA-Lib bit for bit,
as their one-pass forms do, also with NaNs and flat runs where the stretches meet."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import talib

from baconalgo import ta

Arr = npt.NDArray[np.float64]

N = 1_000_000

FUNCTIONS: dict[str, tuple[str, ...]] = {
    **{f: ("high", "low", "close") for f in ("PLUS_DI", "MINUS_DI", "ATR", "NATR", "CCI", "ADX")},
    **{f: ("close",) for f in ("MACD", "EMA", "DEMA", "TEMA", "RSI")},
    "MFI": ("high", "low", "close", "volume"),
}


def walk(seed: int, holes: bool) -> dict[str, Arr]:
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(rng.normal(0.0, 1.0, N))
    high = close + np.abs(rng.normal(0.0, 0.7, N))
    low = close - np.abs(rng.normal(0.0, 0.7, N))
    volume = np.round(rng.uniform(0.0, 1000.0, N), 1)
    if holes:
        # A flat run across a point where two stretches meet (3/7 of the series), zero
        # volume, and a NaN late in the series (it poisons the running sums to the end,
        # as in TA-Lib).
        for a in (high, low, close):
            a[3 * N // 7 - 3000 : 3 * N // 7 + 3000] = 123.0
        volume[N // 3 : N // 3 + 40] = 0.0
        close[N - 1000] = np.nan
    return {"high": high, "low": low, "close": close, "volume": volume}


@pytest.fixture(scope="module", params=[False, True], ids=["walk", "walk-with-holes"])
def cols(request: pytest.FixtureRequest) -> dict[str, Arr]:
    return walk(5, bool(request.param))


@pytest.mark.parametrize("f", list(FUNCTIONS))
def test_long_series_equal_talib_bit_for_bit(cols: dict[str, Arr], f: str) -> None:
    args = [cols[c] for c in FUNCTIONS[f]]
    ours = getattr(ta, f)(*args)
    theirs = getattr(talib, f)(*args)
    if not isinstance(ours, tuple):
        ours, theirs = (ours,), (theirs,)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        nan = np.isnan(a)
        assert np.array_equal(nan, np.isnan(b)), f"{f} output {k}: NaN rows"
        # Bits, not values: -0.0 and 0.0 compare equal.
        assert np.array_equal(a[~nan].view(np.uint64), b[~nan].view(np.uint64)), f"{f} output {k}"


def test_long_t3_equals_its_stream_bit_for_bit(cols: dict[str, Arr]) -> None:
    """T3 is not bit for bit TA-Lib's even in one pass (TA-Lib's compiled library contracts
    some of its multiply-adds): split over the cores it equals its own stream bit for bit,
    and TA-Lib to 1e-9 as in test_ta."""
    close = cols["close"]
    ours = ta.T3(close)
    s = ta.stream.T3()
    streamed = np.array([s.update(x) for x in close.tolist()], dtype=np.float64)
    nan = np.isnan(ours)
    assert np.array_equal(nan, np.isnan(streamed)), "T3: NaN rows"
    assert np.array_equal(ours[~nan].view(np.uint64), streamed[~nan].view(np.uint64)), "T3"
    np.testing.assert_allclose(ours, talib.T3(close), rtol=1e-9, atol=0, equal_nan=True)
