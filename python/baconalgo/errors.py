"""Every exception BaconAlgo raises on purpose, in one place.

The Rust core's error enums map onto these classes in the bindings; configuration errors
are raised from Python and name the offending key.
"""

from __future__ import annotations

from baconalgo._core import (
    BacktestError,
    BaconAlgoError,
    BusClosed,
    BusError,
    BusFull,
    FeedError,
    ResetRefused,
    RiskError,
    RiskInputError,
    RiskLimitsError,
    RiskRejected,
    TaError,
)


class ConfigError(BaconAlgoError, ValueError):
    """A configuration value is missing or invalid; the message names the key."""


class SubscriptionLimitError(BaconAlgoError, ValueError):
    """A subscription would exceed a venue's published limit (streams per connection,
    subscribe requests per hour); the message names the venue, the limit and the count."""


__all__ = [
    "BacktestError",
    "BaconAlgoError",
    "BusClosed",
    "BusError",
    "BusFull",
    "ConfigError",
    "FeedError",
    "ResetRefused",
    "RiskError",
    "RiskInputError",
    "RiskLimitsError",
    "RiskRejected",
    "SubscriptionLimitError",
    "TaError",
]
