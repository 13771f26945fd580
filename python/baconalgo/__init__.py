"""BaconAlgo: a trading platform whose hot path is Rust and whose face is Python.

The public API, re-exported from the domain modules.
"""

from __future__ import annotations

from baconalgo import backtest, ta
from baconalgo._core import __version__, cpu_features, now_ns
from baconalgo.book import BinanceBookSync, KrakenBookSync, OkxBookSync, OrderBook
from baconalgo.bus import EVENT_DTYPE, HANDLERS, Bus, EventKind, Side, events
from baconalgo.config import Config, load_config
from baconalgo.errors import (
    BacktestError,
    BaconAlgoError,
    BusClosed,
    BusError,
    BusFull,
    ConfigError,
    FeedError,
    ResetRefused,
    RiskError,
    RiskInputError,
    RiskLimitsError,
    RiskRejected,
    TaError,
)
from baconalgo.feed import BinanceDecoder, CoinbaseDecoder, KrakenDecoder, OkxDecoder
from baconalgo.paper import PaperSession, PaperSettings
from baconalgo.risk import (
    CheckResult,
    InstrumentLimits,
    InstrumentSpec,
    Order,
    RejectReason,
    RiskEngine,
    RiskLimits,
    TradingState,
)
from baconalgo.strategy import Strategy

__all__ = [
    "EVENT_DTYPE",
    "HANDLERS",
    "BacktestError",
    "BaconAlgoError",
    "BinanceBookSync",
    "BinanceDecoder",
    "Bus",
    "BusClosed",
    "BusError",
    "BusFull",
    "CheckResult",
    "CoinbaseDecoder",
    "Config",
    "ConfigError",
    "EventKind",
    "FeedError",
    "InstrumentLimits",
    "InstrumentSpec",
    "KrakenBookSync",
    "KrakenDecoder",
    "OkxBookSync",
    "OkxDecoder",
    "Order",
    "OrderBook",
    "PaperSession",
    "PaperSettings",
    "RejectReason",
    "ResetRefused",
    "RiskEngine",
    "RiskError",
    "RiskInputError",
    "RiskLimits",
    "RiskLimitsError",
    "RiskRejected",
    "Side",
    "Strategy",
    "TaError",
    "TradingState",
    "__version__",
    "backtest",
    "cpu_features",
    "events",
    "load_config",
    "now_ns",
    "ta",
]
