"""The risk engine from Python: every pre-trade check accepting and refusing with its
stable code, the order lifecycle, breakers tripping and resetting, the kill switch, run-time
limit changes, a property test of the worst-case limits against an independent model,
NaN/inf handling, and VaR/ES, VaR backtests and Kelly against numpy/scipy on real BTC
returns."""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats

import baconalgo as ba
from baconalgo import _core, risk
from baconalgo.risk import (
    BreakerLimits,
    CheckResult,
    InstrumentLimits,
    InstrumentSpec,
    Order,
    RateBreaker,
    RiskEngine,
    RiskLimits,
    Throttle,
    TradingState,
    VolatilityHalt,
)

T0 = 1_700_000_000_000_000_000
SEC = 1_000_000_000
REF = 1000
BUY, SELL = int(ba.Side.BUY), int(ba.Side.SELL)
BARS = Path(__file__).resolve().parents[1] / "data" / "bars" / "btc_perp_1m_2022-01.csv.gz"


def base_limits(**account: Any) -> RiskLimits:
    inst = InstrumentLimits(
        max_qty_lots=100,
        max_notional_quote=15_000.0,
        max_position_lots=150,
        min_qty_lots=2,
        min_notional_quote=1.0,
        min_price_ticks=500,
        max_price_ticks=2000,
        price_band_bps=1000.0,
    )
    fields: dict[str, Any] = {
        "max_gross_exposure_quote": 1e9,
        "max_net_exposure_quote": 1e9,
        "max_open_orders": 5,
        "strategy_count": 2,
        "max_reference_age_ns": SEC,
    }
    fields.update(account)
    return RiskLimits(instruments=(inst, inst), **fields)


def with_inst(limits: RiskLimits, **kw: Any) -> RiskLimits:
    """The limits with instrument 0 changed."""
    return replace(
        limits, instruments=(replace(limits.instruments[0], **kw), limits.instruments[1])
    )


def make_engine(limits: RiskLimits | None = None, equity: float = 100_000.0) -> RiskEngine:
    """Instrument 0 on venue 0 and instrument 1 on venue 1, 0.1 quote per tick-lot (a lot
    at 1000 ticks is worth 100); instrument 0 priced at 1000 at T0, instrument 1 not."""
    specs = [InstrumentSpec(0.1, venue=0), InstrumentSpec(0.1, venue=1)]
    e = RiskEngine(specs, limits or base_limits(), equity)
    e.on_reference_price(0, REF, T0)
    return e


def buy(qty: int, coid: int, price: int | None = REF - 1, **kw: Any) -> Order:
    return Order(0, BUY, qty, coid, price, **kw)


def sell(qty: int, coid: int, price: int | None = REF + 1, **kw: Any) -> Order:
    return Order(0, SELL, qty, coid, price, **kw)


# Each case: (expected code, expected name, scenario). A scenario builds an engine, and
# returns the check result of the refused order and of a nearby order that passes.
Scenario = Callable[[], tuple[CheckResult, CheckResult]]


def sc_unknown_instrument() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    return e.check(Order(7, BUY, 10, 1, REF), T0), e.check(Order(0, BUY, 10, 2, REF), T0)


def sc_venue() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    return e.check(buy(10, 1, venue=1), T0), e.check(buy(10, 2, venue=0), T0)


def sc_strategy() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    return e.check(buy(10, 1, strategy_id=2), T0), e.check(buy(10, 2, strategy_id=1), T0)


def sc_side() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    return e.check(Order(0, 0, 10, 1, REF), T0), e.check(Order(0, BUY, 10, 2, REF), T0)


def sc_qty_min() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    return e.check(buy(1, 1), T0), e.check(buy(2, 2), T0)


def sc_qty_max() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    return e.check(buy(101, 1), T0), e.check(buy(100, 2), T0)


def sc_price_positive() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    return e.check(buy(10, 1, price=0), T0), e.check(buy(10, 2, price=REF), T0)


def sc_price_min() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    return e.check(buy(10, 1, price=499), T0), e.check(buy(10, 2, price=REF), T0)


def sc_price_max() -> tuple[CheckResult, CheckResult]:
    e = make_engine(with_inst(base_limits(), price_band_bps=20_000.0))
    return e.check(buy(10, 1, price=2001), T0), e.check(buy(10, 2, price=2000), T0)


def sc_notional_min() -> tuple[CheckResult, CheckResult]:
    # 1000 ticks x 2 lots x 0.1 = 200 < 300; 3 lots = 300
    e = make_engine(with_inst(base_limits(), min_notional_quote=300.0))
    return e.check(buy(2, 1, price=REF), T0), e.check(buy(3, 2, price=REF), T0)


def sc_notional_max() -> tuple[CheckResult, CheckResult]:
    # 1001 x 100 x 0.1 = 10,010 > 10,000; 1000 x 100 x 0.1 = 10,000
    e = make_engine(with_inst(base_limits(), max_notional_quote=10_000.0))
    return e.check(buy(100, 1, price=1001), T0), e.check(buy(100, 2, price=1000), T0)


def sc_band() -> tuple[CheckResult, CheckResult]:
    # 10% of 1000 = 100 ticks
    e = make_engine()
    return e.check(sell(10, 1, price=1101), T0), e.check(sell(10, 2, price=1100), T0)


def sc_no_reference() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    refused = e.check(Order(1, BUY, 10, 1, REF, venue=1), T0)
    e.on_reference_price(1, REF, T0)
    return refused, e.check(Order(1, BUY, 10, 2, REF, venue=1), T0)


def sc_stale_reference() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    return e.check(buy(10, 1), T0 + SEC + 1), e.check(buy(10, 2), T0 + SEC)


def sc_position() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    assert e.submit(buy(100, 1), T0)
    return e.check(buy(51, 2), T0), e.check(buy(50, 3), T0)


def sc_gross() -> tuple[CheckResult, CheckResult]:
    # a lot is worth 100: 100 working + 51 = 15,100 > 15,000
    e = make_engine(
        with_inst(base_limits(max_gross_exposure_quote=15_000.0), max_position_lots=10**6)
    )
    assert e.submit(buy(100, 1), T0)
    return e.check(buy(51, 2), T0), e.check(buy(50, 3), T0)


def sc_net() -> tuple[CheckResult, CheckResult]:
    e = make_engine(
        with_inst(base_limits(max_net_exposure_quote=15_000.0), max_position_lots=10**6)
    )
    assert e.submit(sell(100, 1), T0)
    return e.check(sell(51, 2), T0), e.check(sell(50, 3), T0)


def sc_open_orders() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    for k in range(5):
        assert e.submit(buy(2, 10 + k), T0)
    refused = e.check(buy(2, 20), T0)
    e.on_order_done(10)
    return refused, e.check(buy(2, 21), T0)


def sc_strategy_throttle() -> tuple[CheckResult, CheckResult]:
    e = make_engine(base_limits(strategy_throttle=Throttle(2, SEC)))
    assert e.check(buy(2, 1), T0) and e.check(buy(2, 2), T0)
    return e.check(buy(2, 3), T0), e.check(buy(2, 4, strategy_id=1), T0)


def sc_venue_throttle() -> tuple[CheckResult, CheckResult]:
    e = make_engine(base_limits(venue_throttle=Throttle(2, SEC)))
    assert e.check(buy(2, 1), T0) and e.check(buy(2, 2, strategy_id=1), T0)
    refused = e.check(buy(2, 3, strategy_id=1), T0 + 1)
    e.on_reference_price(0, REF, T0 + SEC)
    return refused, e.check(buy(2, 4), T0 + SEC)


def sc_self_trade() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    assert e.submit(sell(10, 1, price=1010), T0)
    return e.check(buy(10, 2, price=1010), T0), e.check(buy(10, 3, price=1009), T0)


def sc_reduce_only() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    refused = e.check(sell(10, 1, reduce_only=True), T0)
    assert e.submit(buy(10, 2), T0)
    e.on_fill(2, 0, BUY, REF - 1, 10, ts_ns=T0)
    return refused, e.check(sell(10, 3, reduce_only=True), T0)


def sc_duplicate() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    assert e.submit(buy(10, 1), T0)
    return e.check(buy(10, 1), T0), e.check(buy(10, 2), T0)


def sc_halted() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    e.set_state(TradingState.HALTED, T0)
    refused = e.check(buy(10, 1), T0)
    e.reset(T0)
    return refused, e.check(buy(10, 2), T0)


def sc_reducing() -> tuple[CheckResult, CheckResult]:
    e = make_engine()
    assert e.submit(buy(10, 1), T0)
    e.on_fill(1, 0, BUY, REF - 1, 10, ts_ns=T0)
    e.set_state(TradingState.REDUCING, T0)
    return e.check(buy(10, 2), T0), e.check(sell(10, 3), T0)


def sc_non_finite() -> tuple[CheckResult, CheckResult]:
    # 1e18 ticks x 1e290 quote per tick-lot: 1 lot is 1e308, 2 lots overflow to inf.
    big = InstrumentLimits(
        max_qty_lots=10,
        max_notional_quote=1.7e308,
        max_position_lots=10,
        price_band_bps=1000.0,
    )
    limits = RiskLimits(
        instruments=(big,), max_gross_exposure_quote=1.7e308, max_net_exposure_quote=1.7e308
    )
    e = RiskEngine([InstrumentSpec(1e290)], limits, 1.0)
    e.on_reference_price(0, 10**18, T0)
    return e.check(Order(0, BUY, 2, 1, 10**18), T0), e.check(Order(0, BUY, 1, 2, 10**18), T0)


CASES: list[tuple[int, str, Scenario]] = [
    (1, "unknown_instrument", sc_unknown_instrument),
    (2, "venue_mismatch", sc_venue),
    (3, "unknown_strategy", sc_strategy),
    (4, "invalid_side", sc_side),
    (5, "qty_below_min", sc_qty_min),
    (6, "qty_above_max", sc_qty_max),
    (7, "price_not_positive", sc_price_positive),
    (8, "price_below_min", sc_price_min),
    (9, "price_above_max", sc_price_max),
    (10, "notional_below_min", sc_notional_min),
    (11, "notional_above_max", sc_notional_max),
    (12, "price_band", sc_band),
    (13, "no_reference_price", sc_no_reference),
    (14, "stale_reference_price", sc_stale_reference),
    (15, "position_limit", sc_position),
    (16, "gross_exposure_limit", sc_gross),
    (17, "net_exposure_limit", sc_net),
    (18, "open_orders_limit", sc_open_orders),
    (19, "strategy_throttle", sc_strategy_throttle),
    (20, "venue_throttle", sc_venue_throttle),
    (21, "self_trade", sc_self_trade),
    (22, "reduce_only", sc_reduce_only),
    (23, "duplicate_client_order_id", sc_duplicate),
    (24, "halted", sc_halted),
    (25, "reducing_state", sc_reducing),
    (26, "non_finite", sc_non_finite),
]


@pytest.mark.parametrize(("code", "name", "scenario"), CASES, ids=[c[1] for c in CASES])
def test_each_check_refuses_with_its_code_and_accepts_the_nearby_order(
    code: int, name: str, scenario: Scenario
) -> None:
    refused, accepted = scenario()
    assert not refused.accepted and not refused
    assert (refused.code, refused.reason) == (code, name)
    assert refused.message and refused.message != "accepted"
    assert ba.RejectReason(refused.code).name.lower() == name
    assert accepted.accepted and accepted, accepted
    assert (accepted.code, accepted.reason) == (0, None)


def test_every_reject_code_is_covered_by_a_case() -> None:
    assert sorted(c[0] for c in CASES) == sorted(_core.REJECT_REASONS.values())


def test_submit_or_raise_raises_risk_rejected_with_reason_and_code() -> None:
    e = make_engine()
    e.submit_or_raise(buy(10, 1), T0)
    assert e.working_order_ids() == [1]
    with pytest.raises(ba.RiskRejected, match="qty_above_max") as info:
        e.submit_or_raise(buy(101, 2), T0)
    err = info.value
    assert (err.code, err.reason, err.client_order_id) == (6, "qty_above_max", 2)
    assert err.message == "quantity above the maximum order quantity"
    assert isinstance(err, ba.RiskError) and isinstance(err, ba.BaconAlgoError)
    assert e.open_order_count == 1
    assert e.reject_counts()["qty_above_max"] == 1 and e.accepted_count == 1


def test_lifecycle_positions_and_pnl_by_hand() -> None:
    e = make_engine(with_inst(base_limits(), max_position_lots=1000))
    assert e.submit(buy(10, 1, price=1000), T0)
    assert e.open_lots(0) == (10, 0)
    assert e.worst_case_exposure_quote() == (1000.0, 1000.0, 0.0)  # 10 lots x 100
    e.on_fill(1, 0, BUY, 1000, 4, fee_quote=0.5, ts_ns=T0)
    assert e.working_order(1) == {
        "client_order_id": 1, "instrument": 0, "side": BUY, "price_ticks": 1000,
        "remaining_lots": 6, "strategy_id": 0,
    }  # fmt: skip
    e.on_fill(1, 0, BUY, 1000, 6, fee_quote=0.5, ts_ns=T0)
    assert e.working_order(1) is None and e.open_order_count == 0  # filled = done
    e.on_reference_price(0, 1100, T0 + 1)
    p = e.position(0)
    # 10 lots from 1000 to 1100 ticks at 0.1: +100 unrealized; fees 1.0
    assert (p["qty_lots"], p["avg_price_ticks"], p["mark_ticks"]) == (10, 1000.0, 1100)
    assert p["unrealized_pnl_quote"] == pytest.approx(100.0)
    assert p["exposure_quote"] == pytest.approx(1100.0)
    assert e.submit(sell(4, 2, price=1050), T0 + 1)
    e.on_fill(2, 0, SELL, 1050, 4, ts_ns=T0 + 1)
    pnl = e.pnl()
    # closes 4 of 10 at +50 ticks: 4 x 50 x 0.1 = 20 realized; 6 left, +600 ticks x 0.1 = 60
    assert pnl["realized_pnl_quote"] == pytest.approx(20.0)
    assert pnl["unrealized_pnl_quote"] == pytest.approx(60.0)
    assert pnl["fees_quote"] == pytest.approx(1.0)
    assert pnl["equity_quote"] == pytest.approx(100_000 + 20 + 60 - 1)
    assert e.equity_quote == pytest.approx(pnl["equity_quote"])
    assert e.reference_price(0) == (1100, T0 + 1) and e.reference_price(1) is None
    with pytest.raises(ba.RiskError, match="not a working order"):
        e.on_order_done(99)
    with pytest.raises(ba.RiskError, match="already working"):
        assert e.submit(buy(2, 3), T0 + 1)
        e.on_order_accepted(buy(2, 3))
    with pytest.raises(ba.RiskInputError, match="instrument 9"):
        e.on_reference_price(9, 100, T0)
    with pytest.raises(ba.RiskInputError, match="price"):
        e.on_reference_price(0, 0, T0)


def events_of(e: RiskEngine) -> list[tuple[int, int, int, int]]:
    """(reason code, from state, to state, instrument) of the drained events."""
    ev = e.take_events()
    assert ev.dtype == ba.EVENT_DTYPE
    assert (ev["kind"] == ba.EventKind.RISK_STATE).all()
    return [
        (int(x["aux"]), int(x["price_ticks"]), int(x["qty_lots"]), int(x["instrument"])) for x in ev
    ]


NO_INST = 2**32 - 1
A, R, H = int(TradingState.ACTIVE), int(TradingState.REDUCING), int(TradingState.HALTED)


def breaker_engine(**b: Any) -> RiskEngine:
    limits = with_inst(
        base_limits(breakers=BreakerLimits(**b)), max_position_lots=1000, max_notional_quote=1e9
    )
    e = RiskEngine([InstrumentSpec(0.1), InstrumentSpec(0.1, venue=1)], limits, 10_000.0)
    e.on_reference_price(0, REF, T0)
    return e


def long_100(e: RiskEngine, now: int = T0) -> None:
    """A 100-lot long at 1000 ticks: 10 quote per tick of price move."""
    assert e.submit(buy(100, 1, price=REF), now)
    e.on_fill(1, 0, BUY, REF, 100, ts_ns=now)


def test_drawdown_breaker_trips_refuses_reset_and_rebases_the_peak() -> None:
    e = breaker_engine(max_drawdown_frac=0.10)
    long_100(e)
    e.on_reference_price(0, 900, T0 + 1)  # -1000 of 10,000: exactly 10%, not above
    assert e.state == A
    e.on_reference_price(0, 899, T0 + 2)  # -1010: 10.1%
    assert e.state == H and e.tripped_breakers() == ["drawdown"]
    assert events_of(e) == [(103, A, H, NO_INST)]
    assert e.check(buy(2, 2), T0 + 2).code == 24
    with pytest.raises(ba.ResetRefused) as info:
        e.reset(T0 + 3)
    assert info.value.reasons == ["drawdown"]
    assert e.state == H
    e.reset(T0 + 3, rebase_peak=True)
    assert e.state == A and e.tripped_breakers() == []
    assert e.breaker_equity()["peak_equity_quote"] == pytest.approx(10_000 - 1010)
    assert events_of(e) == [(101, H, A, NO_INST)]


def test_daily_loss_breaker_reduces_until_the_next_day() -> None:
    day = 86_400 * SEC
    day0 = T0 - T0 % day
    e = breaker_engine(max_daily_loss_quote=500.0)
    e.on_clock(day0 + 1)
    e.on_reference_price(0, REF, day0 + 1)
    long_100(e, day0 + 1)
    e.on_reference_price(0, 949, day0 + 2)  # -510
    assert e.state == R and e.tripped_breakers() == ["daily_loss"]
    assert e.check(buy(2, 2), day0 + 2).code == 25
    assert e.check(sell(2, 3, price=950), day0 + 2)  # reduces the long
    with pytest.raises(ba.ResetRefused, match="daily_loss"):
        e.reset(day0 + 3)
    e.reset(day0 + day + 1)  # next day: the day's starting equity is re-based
    assert e.state == A
    assert [x[0] for x in events_of(e)] == [104, 101]


def test_volatility_reject_rate_error_rate_and_stale_data_breakers() -> None:
    e = breaker_engine(volatility=VolatilityHalt(0.05, 60 * SEC))
    e.on_reference_price(0, 1050, T0 + SEC)  # 5%: not above
    assert e.state == A
    e.on_reference_price(0, 1051, T0 + 2 * SEC)
    assert e.state == H and events_of(e) == [(105, A, H, 0)]
    e.reset(T0 + 3 * SEC)
    assert e.state == A

    e = breaker_engine(reject_rate=RateBreaker(2, SEC, TradingState.REDUCING))
    for k in range(3):
        assert e.submit(buy(2, 10 + k), T0)
        e.on_order_rejected(10 + k, T0 + k)
        assert e.state == (R if k == 2 else A)
    assert events_of(e) == [(106, A, R, NO_INST)]

    e = breaker_engine(error_rate=RateBreaker(1, SEC))
    e.on_error(T0)
    assert e.state == A
    e.on_error(T0 + SEC - 1)
    assert e.state == H and e.tripped_breakers() == ["error_rate"]

    e = breaker_engine(stale_data_ns=10 * SEC)
    e.on_clock(T0 + 10 * SEC)
    assert e.state == A
    e.on_clock(T0 + 10 * SEC + 1)
    assert e.state == H and events_of(e) == [(108, A, H, 0)]
    with pytest.raises(ba.ResetRefused, match="stale_data"):
        e.reset(T0 + 11 * SEC)
    e.on_reference_price(0, REF, T0 + 11 * SEC)
    e.reset(T0 + 11 * SEC)
    assert e.state == A


def test_kill_switch_halts_and_returns_the_orders_to_cancel() -> None:
    e = make_engine()
    for k in (1, 2, 3):
        assert e.submit(buy(2, k), T0)
    e.on_order_done(2)
    assert sorted(e.kill_switch(T0 + 1)) == [1, 3]
    assert e.state == H and e.tripped_breakers() == ["kill_switch"]
    assert e.check(buy(2, 4), T0 + 1).code == 24
    for k in (1, 3):
        e.on_order_done(k)
    assert e.open_order_count == 0
    e.reset(T0 + 2)
    assert e.check(buy(2, 5), T0 + 2)
    assert events_of(e) == [(102, A, H, NO_INST), (101, H, A, NO_INST)]


def test_state_events_travel_on_the_bus() -> None:
    e = make_engine()
    e.kill_switch(T0)
    events = e.take_events()
    assert len(events) == 1 and events["seq"][0] == 1 and events["ts_event_ns"][0] == T0
    bus = ba.Bus(1024)
    bus.add_poller("py")
    bus.start()
    assert bus.publish_batch(events) == 1
    got = bus.poll("py", 16, 1.0)
    bus.close()
    assert got.tobytes() == events.tobytes()
    assert len(e.take_events()) == 0  # drained


def test_limits_change_at_run_time_and_invalid_limits_keep_the_old_ones() -> None:
    e = make_engine()
    old = e.limits
    assert e.check(buy(50, 1), T0)
    lower = with_inst(old, max_qty_lots=40)
    e.set_limits(lower)
    assert e.limits is lower
    assert e.check(buy(50, 2), T0).code == 6
    assert e.check(buy(40, 3), T0)
    bad = with_inst(old, max_qty_lots=1)  # below min_qty_lots = 2
    with pytest.raises(ba.RiskLimitsError) as info:
        e.set_limits(bad)
    assert info.value.field == "instruments[0].max_qty_lots"
    assert (info.value.value, info.value.rule) == ("1", "must be at least min_qty_lots")
    assert isinstance(info.value, ValueError)
    assert e.limits is lower and e.check(buy(50, 4), T0).code == 6
    with pytest.raises(ba.RiskLimitsError, match="one entry per instrument"):
        e.set_limits(replace(old, instruments=old.instruments[:1]))
    with pytest.raises(TypeError, match=r"breakers\.drawdown_action"):
        e.set_limits(replace(old, breakers=replace(old.breakers, drawdown_action="x")))
    with pytest.raises(ValueError, match=r"breakers\.drawdown_action"):
        e.set_limits(replace(old, breakers=replace(old.breakers, drawdown_action=7)))
    e.set_limits(base_limits(max_open_orders=1))
    assert e.submit(buy(2, 5), T0)
    assert e.check(buy(2, 6), T0).code == 18


def test_nan_and_inf_get_an_error_or_a_refusal_never_acceptance() -> None:
    nan, inf = float("nan"), float("inf")
    e = make_engine()
    assert e.submit(buy(2, 1), T0)
    for fee in (nan, inf, -inf):
        with pytest.raises(ba.RiskInputError, match="fee_quote"):
            e.on_fill(1, 0, BUY, REF, 1, fee_quote=fee)
    assert e.position(0)["qty_lots"] == 0
    for bad in (nan, inf):
        with pytest.raises(ba.RiskInputError, match="starting_equity"):
            RiskEngine([InstrumentSpec(0.1)], base_limits(), bad)
        with pytest.raises(ba.RiskInputError, match=r"instruments\[0\]"):
            RiskEngine([InstrumentSpec(bad)], base_limits(), 1.0)
        with pytest.raises(ba.RiskLimitsError) as info:
            e.set_limits(with_inst(base_limits(), max_notional_quote=bad))
        assert info.value.field == "instruments[0].max_notional_quote"
        with pytest.raises(ba.RiskLimitsError, match="max_gross_exposure_quote"):
            e.set_limits(base_limits(max_gross_exposure_quote=bad))
        with pytest.raises(ba.RiskLimitsError, match="price_band_bps"):
            e.set_limits(with_inst(base_limits(), price_band_bps=bad))
        with pytest.raises(ba.RiskInputError, match="fraction"):
            e.kelly_qty_lots(0, BUY, bad)
    with pytest.raises(TypeError):
        Order(0, BUY, 2, 9, nan)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Order(0, BUY, inf, 9, REF)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        Order(0, BUY, 2**63, 9, REF)
    with pytest.raises(ValueError, match="side"):
        Order(0, 3, 2, 9, REF)
    # A notional that overflows is refused (code 26), see sc_non_finite.
    assert sc_non_finite()[0].code == 26


# ---------------------------------------------------------------- property test

MAX_POS, MAX_GROSS, MAX_NET, MAX_OPEN = 40, 5000.0, 4000.0, 6
PRICES = (100, 50)  # instrument reference prices; 1 quote per tick-lot keeps sums exact


def prop_engine() -> RiskEngine:
    inst = InstrumentLimits(max_qty_lots=30, max_notional_quote=1e9, max_position_lots=MAX_POS)
    limits = RiskLimits(
        instruments=(inst, inst),
        max_gross_exposure_quote=MAX_GROSS,
        max_net_exposure_quote=MAX_NET,
        max_open_orders=MAX_OPEN,
        self_trade_prevention=False,
        max_reference_age_ns=2**63,
    )
    e = RiskEngine([InstrumentSpec(1.0), InstrumentSpec(1.0)], limits, 1e6)
    for i, p in enumerate(PRICES):
        e.on_reference_price(i, p, T0)
    return e


action = st.one_of(
    st.tuples(
        st.just("order"),
        st.integers(0, 1),
        st.sampled_from([BUY, SELL]),
        st.integers(1, 30),
        st.booleans(),
        st.booleans(),
    ),
    st.tuples(st.just("fill"), st.integers(0, 50), st.integers(1, 30)),
    st.tuples(st.just("done"), st.integers(0, 50)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(action, max_size=60))
def test_accepted_orders_and_fills_never_exceed_position_exposure_or_open_order_limits(
    actions: list[tuple[Any, ...]],
) -> None:
    e = prop_engine()
    position = [0, 0]
    working: dict[int, list[int]] = {}  # id -> [instrument, side, remaining]
    next_id = 1
    for a in actions:
        if a[0] == "order":
            _, inst, side, qty, market, reduce_only = a
            price = None if market else PRICES[inst]
            order = Order(inst, side, qty, next_id, price, reduce_only=reduce_only)
            if e.submit(order, T0):
                working[next_id] = [inst, side, qty]
            next_id += 1
        elif working and a[0] == "fill":
            coid = sorted(working)[a[1] % len(working)]
            inst, side, remaining = working[coid]
            qty = min(a[2], remaining)
            e.on_fill(coid, inst, side, PRICES[inst], qty, ts_ns=T0)
            position[inst] += qty if side == BUY else -qty
            working[coid][2] -= qty
            if working[coid][2] == 0:
                del working[coid]
        elif working and a[0] == "done":
            coid = sorted(working)[a[1] % len(working)]
            e.on_order_done(coid)
            del working[coid]
        # The model, computed independently of the engine:
        gross = net_long = net_short = 0.0
        for i in (0, 1):
            buys = sum(w[2] for w in working.values() if w[0] == i and w[1] == BUY)
            sells = sum(w[2] for w in working.values() if w[0] == i and w[1] == SELL)
            long_, short = position[i] + buys, position[i] - sells
            assert short >= -MAX_POS and long_ <= MAX_POS, (i, long_, short)
            gross += max(abs(long_), abs(short)) * PRICES[i]
            net_long += long_ * PRICES[i]
            net_short += short * PRICES[i]
            assert e.position(i)["qty_lots"] == position[i]
            assert e.open_lots(i) == (buys, sells)
        assert gross <= MAX_GROSS
        assert net_long <= MAX_NET and -net_short <= MAX_NET
        assert len(working) <= MAX_OPEN
        assert e.open_order_count == len(working)
        assert sorted(e.working_order_ids()) == sorted(working)


def test_property_model_sees_refusals_too() -> None:
    """The property test's limits do bind: the engine refuses at the model's boundary."""
    e = prop_engine()
    assert e.submit(Order(0, BUY, 30, 1, 100), T0)
    assert e.check(Order(0, BUY, 11, 2, 100), T0).reason == "position_limit"  # 41 > 40
    assert e.submit(Order(0, BUY, 10, 3, 100), T0)  # 40 lots x 100 = 4000 net
    assert e.check(Order(1, BUY, 1, 4, 50), T0).reason == "net_exposure_limit"
    assert e.submit(Order(1, SELL, 20, 5, 50), T0)  # gross 4000 + 1000 = 5000
    assert e.check(Order(1, SELL, 1, 6, 50), T0).reason == "gross_exposure_limit"
    for coid in (1, 3, 5):
        e.on_order_done(coid)
    for coid in range(11, 11 + MAX_OPEN):
        assert e.submit(Order(0, BUY, 2, coid, 100), T0)
    assert e.check(Order(0, BUY, 2, 99, 100), T0).reason == "open_orders_limit"


# ---------------------------------------------------------------- statistics vs numpy/scipy


def load_returns() -> dict[str, np.ndarray]:
    cols: dict[str, list[float]] = {"close": [], "high": [], "low": []}
    with gzip.open(BARS, "rt") as f:
        for row in csv.DictReader(f):
            for k, v in cols.items():
                v.append(math.log(float(row[k])))
    return {k: np.diff(np.array(v)) for k, v in cols.items()}


@pytest.fixture(scope="module")
def rets() -> dict[str, np.ndarray]:
    return load_returns()


REL = 1e-9


def close(got: float, want: float, rel: float = REL) -> None:
    assert got == pytest.approx(want, rel=rel, abs=0), (got, want)


def ref_hist(r: np.ndarray, c: float) -> tuple[float, float]:
    q = float(np.quantile(r, 1 - c))
    return -q, -float(r[r <= q].mean())


def ref_normal(mu: float, sd: float, c: float) -> tuple[float, float]:
    z = stats.norm.ppf(c)
    return -mu + sd * z, -mu + sd * stats.norm.pdf(z) / (1 - c)


def ref_cf(r: np.ndarray, c: float) -> tuple[float, float]:
    mu, sd = r.mean(), r.std(ddof=1)
    s, k = stats.skew(r), stats.kurtosis(r)

    def zcf(z: float) -> float:
        return float(
            z + (z * z - 1) * s / 6 + (z**3 - 3 * z) * k / 24 - (2 * z**3 - 5 * z) * s * s / 36
        )

    zq = stats.norm.ppf(1 - c)
    integral, _ = integrate.quad(
        lambda z: zcf(z) * stats.norm.pdf(z), -np.inf, zq, epsabs=0, epsrel=1e-13, limit=200
    )
    return float(-(mu + sd * zcf(zq))), float(-(mu + sd * integral / (1 - c)))


@pytest.mark.parametrize("c", [0.95, 0.99])
def test_single_asset_var_es_match_numpy_scipy(rets: dict[str, np.ndarray], c: float) -> None:
    r = rets["close"]
    assert len(r) == 45_030
    for got, want in (
        (risk.var_historical(r, c), ref_hist(r, c)),
        (risk.var_parametric(r, c), ref_normal(r.mean(), r.std(ddof=1), c)),
        (risk.var_normal(r.mean(), r.std(ddof=1), c), ref_normal(r.mean(), r.std(ddof=1), c)),
        (risk.var_cornish_fisher(r, c), ref_cf(r, c)),
    ):
        close(got.var, want[0])
        close(got.es, want[1])
    # Real BTC minutes are fat-tailed: Cornish-Fisher's 99% VaR is above the normal one.
    if c == 0.99:
        assert risk.var_cornish_fisher(r, c).var > risk.var_parametric(r, c).var
    # Lists work as well as arrays (converted at the edge).
    assert risk.var_historical(list(r[:100]), c) == risk.var_historical(r[:100], c)


def mc_tolerance(sd: float, c: float, n: int) -> tuple[float, float]:
    """Five asymptotic standard errors of the sample quantile (Bahadur) and of the tail
    mean of n normal draws (the truncated normal's variance over the tail count, plus the
    quantile's own error), for the VaR and the ES."""
    p = 1 - c
    z = stats.norm.ppf(p)
    phi = stats.norm.pdf(z)
    se_q = math.sqrt(p * (1 - p) / n) / phi * sd
    tail_var = sd**2 * (1 - z * phi / p - (phi / p) ** 2)
    return 5 * se_q, 5 * (math.sqrt(tail_var / (n * p)) + se_q)


def test_monte_carlo_var_is_seeded_and_within_sampling_error(rets: dict[str, np.ndarray]) -> None:
    r = rets["close"]
    mu, sd, c, n = float(r.mean()), float(r.std(ddof=1)), 0.99, 200_000
    a = risk.var_monte_carlo(mu, sd, c, n, seed=7)
    assert a == risk.var_monte_carlo(mu, sd, c, n, seed=7)
    assert a != risk.var_monte_carlo(mu, sd, c, n, seed=8)
    want = ref_normal(mu, sd, c)
    tol_var, tol_es = mc_tolerance(sd, c, n)
    assert abs(a.var - want[0]) < tol_var
    assert abs(a.es - want[1]) < tol_es


def test_portfolio_covariances_and_var_match_numpy(rets: dict[str, np.ndarray]) -> None:
    rm = np.column_stack([rets["close"], rets["high"], rets["low"]])
    w = np.array([0.5, 0.3, 0.2])
    cov = risk.covariance(rm)
    np.testing.assert_allclose(cov, np.cov(rm.T, ddof=1), rtol=REL, atol=0)
    lam = 0.94
    s = np.zeros((3, 3))
    for row in rm:
        s = lam * s + (1 - lam) * np.outer(row, row)
    ewma = s / (1 - lam ** len(rm))
    np.testing.assert_allclose(risk.covariance(rm, "ewma", lam), ewma, rtol=1e-8, atol=0)
    rp = risk.portfolio_returns(rm, w)
    np.testing.assert_allclose(rp, rm @ w, rtol=1e-12, atol=1e-18)
    for c in (0.95, 0.99):
        got = risk.portfolio_var(rm, w, c, "parametric")
        want = ref_normal(float(rm.mean(axis=0) @ w), float(np.sqrt(w @ np.cov(rm.T) @ w)), c)
        close(got.var, want[0])
        close(got.es, want[1])
        got = risk.portfolio_var(rm, w, c, "parametric", cov="ewma", lam=lam)
        want = ref_normal(0.0, float(np.sqrt(w @ ewma @ w)), c)
        close(got.var, want[0], 1e-8)
        got = risk.portfolio_var(rm, w, c, "historical")
        want = ref_hist(rm @ w, c)
        close(got.var, want[0], 1e-8)
        close(got.es, want[1], 1e-8)
        got = risk.portfolio_var(rm, w, c, "cornish_fisher")
        want = ref_cf(rm @ w, c)
        close(got.var, want[0], 1e-8)
    sd_p = float(np.sqrt(w @ np.cov(rm.T) @ w))
    mc = risk.portfolio_var(rm, w, 0.99, "monte_carlo", n_paths=200_000, seed=3)
    want = ref_normal(float(rm.mean(axis=0) @ w), sd_p, 0.99)
    tol_var, tol_es = mc_tolerance(sd_p, 0.99, 200_000)
    assert abs(mc.var - want[0]) < tol_var and abs(mc.es - want[1]) < tol_es


def test_var_backtests_match_scipy(rets: dict[str, np.ndarray]) -> None:
    r, window, c = rets["close"], 1440, 0.99
    var = risk.rolling_var_historical(r, window, c)
    assert np.isnan(var[:window]).all()
    want = np.array([-np.quantile(r[t - window : t], 1 - c) for t in range(window, len(r))])
    np.testing.assert_allclose(var[window:], want, rtol=REL, atol=0)
    exc = risk.var_exceptions(r, var)
    np.testing.assert_array_equal(exc, r[window:] < -want)
    t, x = len(exc), int(exc.sum())
    p = 1 - c
    pof = -2 * (
        special.xlogy(t - x, 1 - p) + special.xlogy(x, p)
        - special.xlogy(t - x, 1 - x / t) - special.xlogy(x, x / t)
    )  # fmt: skip
    a, b = exc[:-1], exc[1:]
    n00, n01 = int((~a & ~b).sum()), int((~a & b).sum())
    n10, n11 = int((a & ~b).sum()), int((a & b).sum())
    pi0, pi1, pi = n01 / (n00 + n01), n11 / (n10 + n11), (n01 + n11) / (t - 1)
    ind = -2 * (
        special.xlogy(n00 + n10, 1 - pi) + special.xlogy(n01 + n11, pi)
        - special.xlogy(n00, 1 - pi0) - special.xlogy(n01, pi0)
        - special.xlogy(n10, 1 - pi1) - special.xlogy(n11, pi1)
    )  # fmt: skip
    k = risk.kupiec_test(exc, c)
    close(k.statistic, pof)
    close(k.p_value, stats.chi2.sf(pof, 1))
    assert k.degrees_of_freedom == 1
    i = risk.christoffersen_test(exc)
    close(i.statistic, ind)
    close(i.p_value, stats.chi2.sf(ind, 1))
    cc = risk.conditional_coverage_test(exc, c)
    close(cc.statistic, pof + ind)
    close(cc.p_value, stats.chi2.sf(pof + ind, 2))
    assert cc.degrees_of_freedom == 2
    # One day of minutes underestimates BTC's tail: exceptions cluster (the real finding).
    assert i.p_value < 0.01


def test_kelly_matches_root_finding_and_linear_algebra(rets: dict[str, np.ndarray]) -> None:
    for p, b in [(0.6, 1.0), (0.55, 2.0), (0.3, 4.0), (0.52, 0.9)]:

        def growth_slope(f: float, p: float = p, b: float = b) -> float:
            return p * b / (1 + b * f) - (1 - p) / (1 - f)

        f = optimize.brentq(growth_slope, -1 / b + 1e-12, 1 - 1e-12, xtol=1e-15)
        close(risk.kelly_discrete(p, b), f, 1e-9)
    r = rets["close"]
    close(risk.kelly_continuous(float(r.mean()), float(r.var(ddof=1))), r.mean() / r.var(ddof=1))
    rm = np.column_stack([rets["close"], rets["high"], rets["low"]])
    means, cov = rm.mean(axis=0), np.cov(rm.T)
    np.testing.assert_allclose(
        risk.kelly_multi_asset(means, cov), np.linalg.solve(cov, means), rtol=1e-7
    )
    assert risk.kelly_fractional(2.0, 0.5, 0.8) == 0.8
    assert risk.kelly_fractional(-1.0, 0.5, 0.8) == -0.5
    np.testing.assert_array_equal(risk.kelly_fractional_weights([3.0, -1.0], 1.0, 2.0), [1.5, -0.5])
    # 25% of 10,000 at 20,000 ticks x 0.01 = 200 quote per lot: 12.5 -> 12 lots
    assert risk.kelly_size_lots(0.25, 10_000.0, 20_000, 0.01, 100) == 12
    assert risk.kelly_size_lots(0.25, 10_000.0, 20_000, 0.01, 5) == 5
    # Through the engine: 10% of 100,000 equity at 1000 ticks x 0.1 = 100 per lot -> 100 lots,
    # capped by max_qty_lots 100 and max_position 150 minus 60 working buys = 90.
    e = make_engine()
    assert e.submit(buy(60, 1), T0)
    assert e.kelly_qty_lots(0, BUY, 0.10) == 90
    assert e.kelly_qty_lots(0, SELL, 0.05) == 50


def test_statistics_refuse_bad_inputs_with_clear_errors() -> None:
    nan, inf = float("nan"), float("inf")
    for bad in ([0.01, nan, 0.02], [0.01, inf, 0.02], [0.01, -inf, 0.02]):
        for fn in (risk.var_historical, risk.var_parametric, risk.var_cornish_fisher):
            with pytest.raises(ba.RiskInputError, match="returns"):
                fn(bad, 0.99)
        with pytest.raises(ValueError, match="returns"):
            risk.rolling_var_historical(bad, 1, 0.99)
        with pytest.raises(ValueError, match="returns"):
            risk.covariance(np.array([bad, bad]).T)
    for c in (nan, 1.0, 0.0, inf):
        with pytest.raises(ValueError, match="confidence"):
            risk.var_historical([0.1, 0.2], c)
    with pytest.raises(ValueError, match="std"):
        risk.var_monte_carlo(0.0, nan, 0.99, 100, 1)
    with pytest.raises(ValueError, match="p"):
        risk.kelly_discrete(nan, 1.0)
    with pytest.raises(ValueError, match="variance"):
        risk.kelly_continuous(0.1, inf)
    with pytest.raises(ValueError, match="positive definite"):
        risk.kelly_multi_asset([0.1, 0.2], [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="cov"):
        risk.kelly_multi_asset([0.1, 0.2], [[1.0, nan], [nan, 1.0]])
    with pytest.raises(ValueError, match="returns"):
        risk.var_historical([], 0.99)
    with pytest.raises(ValueError, match="var"):
        risk.var_exceptions([0.1, 0.2], [0.1])
    # The edge: shapes, dtypes and contiguity, named.
    with pytest.raises(ValueError, match="returns must be 1-D"):
        _core.var_historical(np.zeros((2, 2)), 0.99)
    with pytest.raises(TypeError, match="returns must have dtype float64"):
        _core.var_historical(np.zeros(4, dtype=np.float32), 0.99)
    with pytest.raises(TypeError, match="returns must be a numpy array"):
        _core.var_historical([0.1, 0.2], 0.99)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.var_historical(np.zeros(8)[::2], 0.99)
    with pytest.raises(TypeError, match="exceptions must have dtype bool"):
        _core.kupiec_pof(np.zeros(4), 0.99)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method"):
        risk.covariance(np.zeros((3, 2)), "median")  # type: ignore[arg-type]


def test_status_is_plain_data_naming_positions_by_symbol() -> None:
    e = make_engine()
    assert e.submit(buy(10, 1), T0)
    e.on_fill(1, 0, BUY, REF - 1, 10, ts_ns=T0)
    e.check(buy(1, 2), T0)
    s = risk.status(e, ["BTCUSDT", "ETHUSDT"])
    assert s["state"] == "active" and s["tripped_breakers"] == []
    assert s["positions"]["BTCUSDT"]["qty_lots"] == 10
    assert s["positions"]["ETHUSDT"]["qty_lots"] == 0
    assert s["rejected"] == {"qty_below_min": 1}
    assert s["accepted"] == 1 and s["open_orders"] == 0


def test_check_replace_judges_the_replaced_order_without_the_old_one() -> None:
    e = make_engine()
    assert e.submit(buy(100, 1), T0)
    assert e.submit(buy(40, 2), T0)  # 140 working of a 150 position limit
    assert e.check_replace(2, REF - 1, 50, T0)  # 100 + 50
    refused = e.check_replace(2, REF - 1, 51, T0)
    assert not refused and refused.reason == "position_limit"
    assert e.check_replace(2, REF - 1, 101, T0).reason == "qty_above_max"
    assert e.check_replace(2, REF + 200, 40, T0).reason == "price_band"
    # Unknown to the engine: let through for the venue to answer.
    assert e.check_replace(99, REF - 1, 40, T0)
