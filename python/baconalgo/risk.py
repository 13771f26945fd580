"""Risk: the pre-trade engine, its limits, circuit breakers and kill switch, positions and
PnL, and VaR/ES, VaR backtests and Kelly sizing over numpy arrays. The work is Rust
(``baconalgo_core::risk``); this module holds the limits as data, the enums and the
array functions' Python signatures.

Prices are the instrument's integer ticks, quantities its integer lots, money the quote
currency, times nanoseconds since the Unix epoch (defaulting to now where optional).

A typical loop::

    engine = RiskEngine([InstrumentSpec.from_steps("0.1", "0.001")], limits, 100_000.0)
    engine.on_reference_price(0, 500_000)              # market data
    result = engine.submit(Order(0, Side.BUY, 10, 1, price_ticks=499_990))
    if not result:                                     # CheckResult is falsy when refused
        log.warning("refused", extra={"reason": result.reason, "code": result.code})
    engine.on_fill(1, 0, Side.BUY, 499_990, 10, fee_quote=0.05)
    publish(engine.take_events())                      # RISK_STATE events for the bus

Statistics take returns per period (log or simple) and report losses as positive
fractions: ``var`` is minus the ``1 - confidence`` quantile, ``es`` minus the mean return
at or beyond it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from baconalgo import _core
from baconalgo._core import (
    REJECT_REASONS,
    STATE_REASONS,
    TRADING_STATES,
    CheckResult,
    Order,
    RiskEngine,
)

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

I64_MAX = 2**63 - 1


class TradingState(IntEnum):
    """Whether orders may go out: every check (ACTIVE), only position-reducing orders
    (REDUCING), none (HALTED)."""

    ACTIVE = 0
    REDUCING = 1
    HALTED = 2


class RejectReason(IntEnum):
    """Why a pre-trade check refused an order; the stable code of ``CheckResult.code``,
    ``RiskRejected.code`` and engine events."""

    UNKNOWN_INSTRUMENT = 1
    VENUE_MISMATCH = 2
    UNKNOWN_STRATEGY = 3
    INVALID_SIDE = 4
    QTY_BELOW_MIN = 5
    QTY_ABOVE_MAX = 6
    PRICE_NOT_POSITIVE = 7
    PRICE_BELOW_MIN = 8
    PRICE_ABOVE_MAX = 9
    NOTIONAL_BELOW_MIN = 10
    NOTIONAL_ABOVE_MAX = 11
    PRICE_BAND = 12
    NO_REFERENCE_PRICE = 13
    STALE_REFERENCE_PRICE = 14
    POSITION_LIMIT = 15
    GROSS_EXPOSURE_LIMIT = 16
    NET_EXPOSURE_LIMIT = 17
    OPEN_ORDERS_LIMIT = 18
    STRATEGY_THROTTLE = 19
    VENUE_THROTTLE = 20
    SELF_TRADE = 21
    REDUCE_ONLY = 22
    DUPLICATE_CLIENT_ORDER_ID = 23
    HALTED = 24
    REDUCING_STATE = 25
    NON_FINITE = 26


class StateReason(IntEnum):
    """Why the trading state changed: the ``aux`` of a RISK_STATE event."""

    MANUAL = 100
    RESET = 101
    KILL_SWITCH = 102
    DRAWDOWN = 103
    DAILY_LOSS = 104
    VOLATILITY = 105
    REJECT_RATE = 106
    ERROR_RATE = 107
    STALE_DATA = 108


# The Rust enums are the source of truth; a drift here is a packaging bug, caught at import.
for _enum, _table in (
    (RejectReason, REJECT_REASONS),
    (StateReason, STATE_REASONS),
    (TradingState, TRADING_STATES),
):
    if {m.name.lower(): m.value for m in _enum} != dict(_table):
        raise ImportError(f"baconalgo.risk.{_enum.__name__} is out of step with the compiled core")


_NO_INSTRUMENT = 2**32 - 1


def state_changes(events: npt.NDArray[np.void]) -> list[dict[str, Any]]:
    """RISK_STATE events (``RiskEngine.take_events``, a broker's ``take_risk_events``) as
    plain records: time, previous and new state, reason, and the instrument that tripped a
    per-instrument breaker (None otherwise)."""
    return [
        {
            "ts_ns": int(e["ts_event_ns"]),
            "seq": int(e["seq"]),
            "from": TradingState(int(e["price_ticks"])).name.lower(),
            "to": TradingState(int(e["qty_lots"])).name.lower(),
            "reason": StateReason(int(e["aux"])).name.lower(),
            "instrument": None if int(e["instrument"]) == _NO_INSTRUMENT else int(e["instrument"]),
        }
        for e in events
    ]


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """What the engine needs to value an instrument: its venue and the quote currency per
    one tick of price times one lot of quantity (tick x lot x contract multiplier)."""

    quote_per_tick_lot: float
    venue: int = 0

    @classmethod
    def from_steps(
        cls, tick: str, lot: str, multiplier: str | int = 1, venue: int = 0
    ) -> InstrumentSpec:
        """From decimal tick and lot sizes (``"0.01"``, ``"0.00001"``), computed exactly
        before the one rounding to float."""
        return cls(float(Decimal(tick) * Decimal(lot) * Decimal(multiplier)), venue)


@dataclass(frozen=True, slots=True)
class InstrumentLimits:
    """Per-instrument order limits. Position counts every working order as filled."""

    max_qty_lots: int
    max_notional_quote: float
    max_position_lots: int
    min_qty_lots: int = 1
    min_notional_quote: float = 0.0
    min_price_ticks: int = 1
    max_price_ticks: int = I64_MAX
    #: Largest distance of a limit price from the reference price, in basis points.
    price_band_bps: float = 500.0


@dataclass(frozen=True, slots=True)
class Throttle:
    """At most ``max_orders`` orders in any window of ``window_ns``."""

    max_orders: int
    window_ns: int


@dataclass(frozen=True, slots=True)
class RateBreaker:
    """Trips when more than ``max_events`` events fall within ``window_ns``."""

    max_events: int
    window_ns: int
    action: TradingState = TradingState.HALTED


@dataclass(frozen=True, slots=True)
class VolatilityHalt:
    """Trips when an instrument's reference price moves more than ``max_move_frac``
    (low to high) within ``window_ns``."""

    max_move_frac: float
    window_ns: int
    action: TradingState = TradingState.HALTED


@dataclass(frozen=True, slots=True)
class BreakerLimits:
    """Circuit-breaker thresholds; None switches a breaker off. A tripped breaker stays
    tripped until ``RiskEngine.reset``."""

    max_drawdown_frac: float | None = None
    drawdown_action: TradingState = TradingState.HALTED
    max_daily_loss_quote: float | None = None
    daily_loss_action: TradingState = TradingState.REDUCING
    #: Where the trading day starts, after midnight UTC.
    day_start_offset_ns: int = 0
    volatility: VolatilityHalt | None = None
    reject_rate: RateBreaker | None = None
    error_rate: RateBreaker | None = None
    stale_data_ns: int | None = None
    stale_data_action: TradingState = TradingState.HALTED


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Every pre-trade limit and breaker threshold, one ``InstrumentLimits`` per
    instrument of the engine. Attribute names are the core's, so a ``RiskLimitsError``'s
    ``field`` (``instruments[0].max_qty_lots``) is a path into this object."""

    instruments: tuple[InstrumentLimits, ...]
    max_gross_exposure_quote: float
    max_net_exposure_quote: float
    max_open_orders: int = 1000
    strategy_count: int = 1
    strategy_throttle: Throttle | None = None
    venue_throttle: Throttle | None = None
    max_reference_age_ns: int = 5_000_000_000
    self_trade_prevention: bool = True
    #: How many finished client order ids are remembered to refuse their reuse.
    duplicate_id_memory: int = 65536
    breakers: BreakerLimits = field(default_factory=BreakerLimits)

    def validate(self) -> None:
        """Checks every value with the engine's rules; raises ``RiskLimitsError`` naming
        the field."""
        _core.validate_limits(self)


class VarEs(NamedTuple):
    """Value at Risk and Expected Shortfall as positive loss fractions."""

    var: float
    es: float


class LrTest(NamedTuple):
    """A likelihood-ratio test: statistic, chi-square p-value, degrees of freedom."""

    statistic: float
    p_value: float
    degrees_of_freedom: int


def _f64(x: ArrayLike) -> FloatArray:
    """A C-contiguous float64 view (a copy only when ``x`` is not one already)."""
    return np.ascontiguousarray(x, dtype=np.float64)


def _bool(x: ArrayLike) -> npt.NDArray[np.bool_]:
    return np.ascontiguousarray(x, dtype=np.bool_)


def var_historical(returns: ArrayLike, confidence: float = 0.99) -> VarEs:
    """Historical simulation: numpy's linear quantile; ES the mean of returns at or
    below it."""
    return VarEs(*_core.var_historical(_f64(returns), confidence))


def var_parametric(returns: ArrayLike, confidence: float = 0.99) -> VarEs:
    """Normal VaR/ES from the sample mean and standard deviation (n - 1)."""
    return VarEs(*_core.var_parametric_normal(_f64(returns), confidence))


def var_normal(mean: float, std: float, confidence: float = 0.99) -> VarEs:
    """Normal VaR/ES for a given mean and standard deviation."""
    return VarEs(*_core.var_normal(mean, std, confidence))


def var_cornish_fisher(returns: ArrayLike, confidence: float = 0.99) -> VarEs:
    """Normal quantile corrected by sample skewness and excess kurtosis (biased moments);
    ES integrates the same expansion over the tail."""
    return VarEs(*_core.var_cornish_fisher(_f64(returns), confidence))


def var_monte_carlo(
    mean: float, std: float, confidence: float = 0.99, n_paths: int = 100_000, seed: int = 0
) -> VarEs:
    """VaR/ES of ``n_paths`` seeded normal draws; the same seed gives the same figures."""
    return VarEs(*_core.var_monte_carlo_normal(mean, std, confidence, n_paths, seed))


def covariance(
    returns: ArrayLike, method: Literal["sample", "ewma"] = "sample", lam: float = 0.94
) -> FloatArray:
    """Covariance of ``(T, n)`` returns: ``"sample"`` (n - 1) or ``"ewma"`` (RiskMetrics,
    zero-mean, decay ``lam``, weights normalized to one)."""
    r = _f64(returns)
    if method == "sample":
        return _core.covariance_sample(r)
    if method == "ewma":
        return _core.covariance_ewma(r, lam)
    raise ValueError(f"method must be 'sample' or 'ewma', got {method!r}")


def portfolio_returns(returns: ArrayLike, weights: ArrayLike) -> FloatArray:
    """``returns @ weights`` per period, for ``(T, n)`` returns."""
    return _core.portfolio_returns(_f64(returns), _f64(weights))


def portfolio_var(
    returns: ArrayLike,
    weights: ArrayLike,
    confidence: float = 0.99,
    method: Literal["historical", "parametric", "cornish_fisher", "monte_carlo"] = "parametric",
    cov: Literal["sample", "ewma"] = "sample",
    lam: float = 0.94,
    n_paths: int = 100_000,
    seed: int = 0,
) -> VarEs:
    """Portfolio VaR/ES of ``(T, n)`` returns with ``weights`` (fractions of value).

    ``historical`` and ``cornish_fisher`` use the portfolio's return series;
    ``parametric`` and ``monte_carlo`` the covariance ``cov`` with the sample means
    (``"sample"``) or zero means (``"ewma"``, as RiskMetrics)."""
    r, w = _f64(returns), _f64(weights)
    if method == "historical":
        return var_historical(_core.portfolio_returns(r, w), confidence)
    if method == "cornish_fisher":
        return var_cornish_fisher(_core.portfolio_returns(r, w), confidence)
    if method not in ("parametric", "monte_carlo"):
        raise ValueError(
            "method must be 'historical', 'parametric', 'cornish_fisher' or 'monte_carlo', "
            f"got {method!r}"
        )
    c = covariance(r, cov, lam)
    means = _core.column_means(r) if cov == "sample" else np.zeros(c.shape[0])
    if method == "parametric":
        return VarEs(*_core.portfolio_var_parametric(means, c, w, confidence))
    return VarEs(*_core.portfolio_var_monte_carlo(means, c, w, confidence, n_paths, seed))


def rolling_var_historical(returns: ArrayLike, window: int, confidence: float = 0.99) -> FloatArray:
    """Historical VaR forecast for each period from the ``window`` returns before it;
    NaN for the first ``window`` periods."""
    return _core.rolling_var_historical(_f64(returns), window, confidence)


def var_exceptions(returns: ArrayLike, var: ArrayLike) -> npt.NDArray[np.bool_]:
    """``returns < -var`` for each period that has a forecast (NaN forecasts skipped)."""
    return _core.var_exceptions(_f64(returns), _f64(var))


def kupiec_test(exceptions: ArrayLike, confidence: float = 0.99) -> LrTest:
    """Kupiec's proportion of failures: are exceptions as frequent as 1 - confidence?"""
    return LrTest(*_core.kupiec_pof(_bool(exceptions), confidence))


def christoffersen_test(exceptions: ArrayLike) -> LrTest:
    """Christoffersen's independence test: do exceptions cluster?"""
    return LrTest(*_core.christoffersen_independence(_bool(exceptions)))


def conditional_coverage_test(exceptions: ArrayLike, confidence: float = 0.99) -> LrTest:
    """Christoffersen's conditional coverage: Kupiec + independence, 2 degrees of freedom."""
    return LrTest(*_core.christoffersen_conditional_coverage(_bool(exceptions), confidence))


def kelly_discrete(p: float, b: float) -> float:
    """Kelly fraction of a bet won with probability ``p`` paying ``b`` per unit staked:
    ``p - (1 - p) / b`` (negative: no edge)."""
    return _core.kelly_discrete(p, b)


def kelly_continuous(mu: float, variance: float) -> float:
    """Kelly leverage of an asset with excess drift ``mu`` and ``variance`` per period."""
    return _core.kelly_continuous(mu, variance)


def kelly_multi_asset(means: ArrayLike, cov: ArrayLike) -> FloatArray:
    """Multi-asset Kelly weights ``cov^-1 means`` (Cholesky; ``cov`` positive definite)."""
    return _core.kelly_multi_asset(_f64(means), _f64(cov))


def kelly_fractional(f: float, fraction: float = 0.5, cap: float = 1.0) -> float:
    """``f * fraction`` clamped to ``[-cap, cap]`` (half Kelly, at most 1x, by default)."""
    return _core.kelly_fractional(f, fraction, cap)


def kelly_fractional_weights(
    weights: ArrayLike, fraction: float = 0.5, max_gross: float = 1.0
) -> FloatArray:
    """Weights times ``fraction``, scaled down together so ``sum |w| <= max_gross``."""
    return _core.kelly_fractional_weights(_f64(weights), fraction, max_gross)


def kelly_size_lots(
    fraction: float,
    equity_quote: float,
    price_ticks: int,
    quote_per_tick_lot: float,
    max_lots: int = I64_MAX,
) -> int:
    """Whole lots worth ``|fraction| * equity_quote`` at ``price_ticks``, at most
    ``max_lots``; the side is the sign of ``fraction``."""
    return _core.kelly_size_lots(fraction, equity_quote, price_ticks, quote_per_tick_lot, max_lots)


def status(engine: RiskEngine, symbols: Sequence[str] | None = None) -> dict[str, Any]:
    """The engine's state as plain data (for ``/api/status`` and logs): trading state,
    tripped breakers, equity and PnL, open orders, worst-case exposure, positions (keyed by
    ``symbols[i]`` when given) and refusals by reason."""
    names = list(symbols) if symbols is not None else None
    positions = {}
    for i in range(engine.instrument_count):
        key = names[i] if names is not None and i < len(names) else str(i)
        positions[key] = engine.position(i)
    gross, net_long, net_short = engine.worst_case_exposure_quote()
    return {
        "state": TradingState(engine.state).name.lower(),
        "tripped_breakers": engine.tripped_breakers(),
        "pnl": engine.pnl(),
        "breakers": engine.breaker_equity(),
        "open_orders": engine.open_order_count,
        "accepted": engine.accepted_count,
        "rejected": {k: v for k, v in engine.reject_counts().items() if v},
        "worst_case_exposure_quote": {"gross": gross, "net_long": net_long, "net_short": net_short},
        "positions": positions,
    }


__all__ = [
    "BreakerLimits",
    "CheckResult",
    "InstrumentLimits",
    "InstrumentSpec",
    "LrTest",
    "Order",
    "RateBreaker",
    "RejectReason",
    "RiskEngine",
    "RiskLimits",
    "StateReason",
    "Throttle",
    "TradingState",
    "VarEs",
    "VolatilityHalt",
    "christoffersen_test",
    "conditional_coverage_test",
    "covariance",
    "kelly_continuous",
    "kelly_discrete",
    "kelly_fractional",
    "kelly_fractional_weights",
    "kelly_multi_asset",
    "kelly_size_lots",
    "kupiec_test",
    "portfolio_returns",
    "portfolio_var",
    "rolling_var_historical",
    "state_changes",
    "status",
    "var_cornish_fisher",
    "var_exceptions",
    "var_historical",
    "var_monte_carlo",
    "var_normal",
    "var_parametric",
]
