"""Technical indicators: TA-Lib's functions, computed by the Rust core (``baconalgo_core::ta``).

Drop-in for the ``talib`` function API: the same names, parameter names, defaults and
output order (tuples for BBANDS, MACD, STOCH, STOCHRSI, AROON and MAMA), and the same values as
TA-Lib 0.8 to within 1e-9 relative (bit for bit on the reference data), NaN where TA-Lib
gives NaN. Parameter ranges are TA-Lib's; a rejected parameter raises
:class:`~baconalgo.errors.TaError` (a ``ValueError``) naming it.

Inputs
    numpy arrays of float64 or float32 (float32 is widened exactly; outputs are always
    float64). A polars Series is accepted and converted with its own ``to_numpy()``
    (polars is not a dependency). Anything else raises ``TypeError``
    naming the argument; inputs of different shapes raise ``ValueError``. A strided 1-D
    array is copied once, as ``talib`` copies it; a contiguous one is read in place.

Leading NaNs
    Rows before the first row where every input is non-NaN are skipped, as ``talib``
    does; a NaN after that goes through TA-Lib's arithmetic unchanged.

2-D (many instruments at once)
    Pass a 2-D **Fortran-ordered** ``(bars, instruments)`` array (one column per
    instrument, e.g. ``np.asfortranarray(x)`` or ``x.T`` of a C-ordered
    ``(instruments, bars)`` array) to every input of a function: columns are computed in
    parallel on all cores, each exactly as the 1-D call on that column, and the outputs
    are Fortran-ordered arrays of the same shape. A C-ordered 2-D array raises
    ``ValueError`` rather than being transposed (a whole universe copied) silently.

Outputs into the caller's arrays
    The multi-output functions (BBANDS, MACD, STOCH, STOCHRSI, AROON, MAMA) take ``out=``: a
    tuple of float64 arrays of the inputs' shape (C-contiguous for a series,
    Fortran-ordered for a matrix), written in place and returned, so a loop over many calls
    allocates nothing. An output that is also an input raises ``ValueError``.

The GIL is released while a kernel runs. Beyond TA-Lib: :func:`VWAP` (session VWAP, keys
given or cut from timestamps) and :func:`VWAP_ROLLING`.

Streaming: :mod:`baconalgo.ta.stream` has one class per function, fed one value (or bar) at
a time, returning bit for bit what the batch function returns at the same position.
"""

from __future__ import annotations

from enum import IntEnum

from baconalgo._core import (
    ADX,
    AROON,
    ATR,
    BBANDS,
    CCI,
    DEMA,
    EMA,
    KAMA,
    MACD,
    MAMA,
    MFI,
    MINUS_DI,
    MOM,
    NATR,
    OBV,
    PLUS_DI,
    ROC,
    RSI,
    SMA,
    STDDEV,
    STOCH,
    STOCHRSI,
    T3,
    TEMA,
    TRANGE,
    TRIMA,
    VWAP,
    VWAP_ROLLING,
    WILLR,
    WMA,
)
from baconalgo.errors import TaError
from baconalgo.ta import stream


class MAType(IntEnum):
    """TA-Lib's ``matype`` codes (BBANDS, STOCH, STOCHRSI). T3 uses TA-Lib's default volume
    factor 0.7 and MAMA its limits 0.5 / 0.05 (the period only makes 1 a copy), as
    ``TA_MA`` does."""

    SMA = 0
    EMA = 1
    WMA = 2
    DEMA = 3
    TEMA = 4
    TRIMA = 5
    KAMA = 6
    MAMA = 7
    T3 = 8


FUNCTIONS: tuple[str, ...] = (
    "SMA", "EMA", "WMA", "DEMA", "TEMA", "KAMA", "BBANDS", "STDDEV", "RSI", "MACD", "STOCH",
    "STOCHRSI", "ADX", "PLUS_DI", "MINUS_DI", "CCI", "MFI", "WILLR", "ROC", "MOM", "AROON",
    "TRANGE", "ATR", "NATR", "OBV", "VWAP", "VWAP_ROLLING", "TRIMA", "T3", "MAMA",
)  # fmt: skip
"""Every indicator function of this module: TA-Lib's 25, the two VWAPs, then TRIMA, T3 and
MAMA."""

__all__ = [
    "ADX",
    "AROON",
    "ATR",
    "BBANDS",
    "CCI",
    "DEMA",
    "EMA",
    "FUNCTIONS",
    "KAMA",
    "MACD",
    "MAMA",
    "MFI",
    "MINUS_DI",
    "MOM",
    "NATR",
    "OBV",
    "PLUS_DI",
    "ROC",
    "RSI",
    "SMA",
    "STDDEV",
    "STOCH",
    "STOCHRSI",
    "T3",
    "TEMA",
    "TRANGE",
    "TRIMA",
    "VWAP",
    "VWAP_ROLLING",
    "WILLR",
    "WMA",
    "MAType",
    "TaError",
    "stream",
]
