"""BaconAlgo: a trading platform whose hot path is Rust and whose face is Python.

The public API, re-exported from the domain modules.
"""

from __future__ import annotations

from baconalgo import ta
from baconalgo._core import __version__, cpu_features, now_ns
from baconalgo.book import BinanceBookSync, KrakenBookSync, OkxBookSync, OrderBook
from baconalgo.bus import EVENT_DTYPE, HANDLERS, Bus, EventKind, Side, events
from baconalgo.config import Config, load_config
from baconalgo.errors import (
    BaconAlgoError,
    BusClosed,
    BusError,
    BusFull,
    ConfigError,
    FeedError,
    TaError,
)
from baconalgo.feed import BinanceDecoder, CoinbaseDecoder, KrakenDecoder, OkxDecoder

__all__ = [
    "EVENT_DTYPE",
    "HANDLERS",
    "BaconAlgoError",
    "BinanceBookSync",
    "BinanceDecoder",
    "Bus",
    "BusClosed",
    "BusError",
    "BusFull",
    "CoinbaseDecoder",
    "Config",
    "ConfigError",
    "EventKind",
    "FeedError",
    "KrakenBookSync",
    "KrakenDecoder",
    "OkxBookSync",
    "OkxDecoder",
    "OrderBook",
    "Side",
    "TaError",
    "__version__",
    "cpu_features",
    "events",
    "load_config",
    "now_ns",
    "ta",
]
