"""Long series through Python: the kernels that run a 1,000,000-bar series in stretches
on several cores (PLUS_DI, MINUS_DI), ATR, NATR and MACD (the same chain code in one
pass) and the chunked or lane-grouped ones (MFI, CCI) equal TA-Lib bit for bit, as their
one-pass forms do, also with NaNs and flat runs where the stretches meet."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
import talib

from baconalgo import ta

Arr = npt.NDArray[np.float64]

N = 1_000_000

FUNCTIONS: dict[str, tuple[str, ...]] = {
    **{f: ("high", "low", "close") for f in ("PLUS_DI", "MINUS_DI", "ATR", "NATR", "CCI")},
    "MACD": ("close",),
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
