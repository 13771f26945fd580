"""Streaming indicators: one object per series, fed one value (or bar) at a time.

Each class takes the parameters of the batch function of the same name in
:mod:`baconalgo.ta` (same names and defaults) and has:

* ``update(...)`` -- the next input: ``update(real)`` for single-series indicators,
  ``update(high, low, close)`` for bar indicators (``high, low`` for AROON,
  ``high, low, close, volume`` for MFI and VWAP_ROLLING, ``real, volume`` for OBV,
  ``high, low, close, volume, session`` for VWAP). It returns the value the batch function
  gives at the same position, bit for bit (a tuple for BBANDS, MACD, STOCH, STOCHRSI and
  AROON), NaN while warming up. Leading inputs with a NaN are skipped, as in the batch form.
* ``reset()`` -- forget every input.
* ``lookback`` -- valid inputs consumed before the first value (TA-Lib's lookback).

Two documented departures from the batch functions, both on inputs TA-Lib itself treats
inconsistently: WILLR with NaNs inside the window, and OBV on a series with no row free of
NaN (see ``baconalgo_core::ta``).

Each update is one Python call (about a hundred nanoseconds); for whole arrays use the
batch functions.
"""

from __future__ import annotations

from baconalgo._core import ADXStream as ADX
from baconalgo._core import AROONStream as AROON
from baconalgo._core import ATRStream as ATR
from baconalgo._core import BBANDSStream as BBANDS
from baconalgo._core import CCIStream as CCI
from baconalgo._core import DEMAStream as DEMA
from baconalgo._core import EMAStream as EMA
from baconalgo._core import KAMAStream as KAMA
from baconalgo._core import MACDStream as MACD
from baconalgo._core import MAMAStream as MAMA
from baconalgo._core import MFIStream as MFI
from baconalgo._core import MINUS_DIStream as MINUS_DI
from baconalgo._core import MOMStream as MOM
from baconalgo._core import NATRStream as NATR
from baconalgo._core import OBVStream as OBV
from baconalgo._core import PLUS_DIStream as PLUS_DI
from baconalgo._core import ROCStream as ROC
from baconalgo._core import RSIStream as RSI
from baconalgo._core import SMAStream as SMA
from baconalgo._core import STDDEVStream as STDDEV
from baconalgo._core import STOCHRSIStream as STOCHRSI
from baconalgo._core import STOCHStream as STOCH
from baconalgo._core import T3Stream as T3
from baconalgo._core import TEMAStream as TEMA
from baconalgo._core import TRANGEStream as TRANGE
from baconalgo._core import TRIMAStream as TRIMA
from baconalgo._core import VWAP_ROLLINGStream as VWAP_ROLLING
from baconalgo._core import VWAPStream as VWAP
from baconalgo._core import WILLRStream as WILLR
from baconalgo._core import WMAStream as WMA

__all__ = [
    "ADX",
    "AROON",
    "ATR",
    "BBANDS",
    "CCI",
    "DEMA",
    "EMA",
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
]
