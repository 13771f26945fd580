"""Cost of ``RiskEngine.check()`` called from Python, next to the Rust figure of
``cargo bench -p baconalgo-core --bench risk_check``.

    .venv/bin/python benches/risk_python.py

The book mirrors the Rust bench (benches/risk_check.rs): 16 instruments on 4 venues with
fresh reference prices, positions and 256 working orders, strategy and venue throttles,
every breaker configured; the orders pass every check, so each call runs the whole list.
Orders are built before timing (as the Rust bench does); a second figure includes building
the ``Order`` in the loop. Per-call figures include one ``time.perf_counter_ns()`` pair;
the batch mean does not.
"""

from __future__ import annotations

import platform
import sys
import time
from datetime import date

import numpy as np

import baconalgo as ba
from baconalgo.risk import (
    BreakerLimits,
    InstrumentLimits,
    InstrumentSpec,
    Order,
    RateBreaker,
    RiskEngine,
    RiskLimits,
    Throttle,
    VolatilityHalt,
)

N_INSTRUMENTS = 16
CALLS = 100_000
WARMUP = 10_000
T0 = 1_700_000_000_000_000_000
REF = 1_000_000
STEP_NS = 2_000  # simulated time between orders, as the Rust bench
BUY, SELL = int(ba.Side.BUY), int(ba.Side.SELL)


def build() -> RiskEngine:
    specs = [InstrumentSpec(1e-5, venue=i % 4) for i in range(N_INSTRUMENTS)]
    inst = InstrumentLimits(
        max_qty_lots=1_000,
        max_notional_quote=1e6,
        max_position_lots=1_000_000,
        min_qty_lots=1,
        min_notional_quote=1.0,
        min_price_ticks=1,
        max_price_ticks=10 * REF,
        price_band_bps=500.0,
    )
    second = 1_000_000_000
    limits = RiskLimits(
        instruments=(inst,) * N_INSTRUMENTS,
        max_gross_exposure_quote=1e12,
        max_net_exposure_quote=1e12,
        max_open_orders=10_000,
        strategy_count=8,
        strategy_throttle=Throttle(1_000, 1_000_000),
        venue_throttle=Throttle(2_000, 1_000_000),
        max_reference_age_ns=60 * second,
        self_trade_prevention=True,
        duplicate_id_memory=100_000,
        breakers=BreakerLimits(
            max_drawdown_frac=0.5,
            max_daily_loss_quote=1e9,
            volatility=VolatilityHalt(0.5, second),
            reject_rate=RateBreaker(100, second),
            error_rate=RateBreaker(100, second),
            stale_data_ns=60 * second,
        ),
    )
    e = RiskEngine(specs, limits, 1e9)
    for i in range(N_INSTRUMENTS):
        e.on_reference_price(i, REF, T0)
    for k in range(256):
        coid = (1 << 40) + k
        i = k % N_INSTRUMENTS
        buy = k % 2 == 0
        price = REF - 20_000 if buy else REF + 20_000
        o = Order(i, BUY if buy else SELL, 10, coid, price, venue=i % 4, strategy_id=k % 8)
        assert e.submit(o, T0), "setup order refused"
        if k % 4 == 0:
            e.on_fill(coid, i, o.side, price, 5, fee_quote=0.01, ts_ns=T0)
    return e


def order_args(k: int) -> tuple[int, int, int, int, int, int, int]:
    i = (k * 7) % N_INSTRUMENTS
    buy = k % 2 == 0
    price = REF - k % 100 if buy else REF + k % 100
    return (i, BUY if buy else SELL, 1 + k % 50, k + 1, price, i % 4, k % 8)


def make(k: int) -> Order:
    i, side, qty, coid, price, venue, strategy = order_args(k)
    return Order(i, side, qty, coid, price, venue=venue, strategy_id=strategy)


def main() -> None:
    n = CALLS + WARMUP
    orders = [make(k) for k in range(n)]
    nows = [T0 + k * STEP_NS for k in range(n)]

    e = build()
    check = e.check
    clock = time.perf_counter_ns
    lat = np.empty(n, dtype=np.int64)
    rejected = 0
    for k in range(n):
        t = clock()
        r = check(orders[k], nows[k])
        lat[k] = clock() - t
        rejected += not r
    assert rejected == 0, f"bench orders must pass every check: {e.reject_counts()}"
    lat = np.sort(lat[WARMUP:])

    # Batch mean on a fresh engine: no clock reads inside the loop.
    e = build()
    check = e.check
    t = clock()
    for k in range(n):
        check(orders[k], nows[k])
    batch_ns = (clock() - t) / n

    # Building the Order in the loop as well (what a strategy that makes one order pays).
    e = build()
    check = e.check
    t = clock()
    for k in range(n):
        i, side, qty, coid, price, venue, strategy = order_args(k)
        check(Order(i, side, qty, coid, price, venue=venue, strategy_id=strategy), nows[k])
    build_ns = (clock() - t) / n

    # An empty Python call with the same arguments, for scale.
    def nothing(order: Order, now: int) -> None:
        return None

    t = clock()
    for k in range(n):
        nothing(orders[k], nows[k])
    empty_ns = (clock() - t) / n

    def q(p: float) -> int:
        return int(lat[int((len(lat) - 1) * p)])

    print(
        f"risk check from Python, {date.today()}, {platform.machine()}, "
        f"Python {sys.version.split()[0]}"
    )
    print(f"  {N_INSTRUMENTS} instruments, 256 working orders, all checks on, {CALLS:,} calls")
    print(
        f"  per call (incl. perf_counter_ns pair): p50 {q(0.5)} ns  p90 {q(0.9)} ns  "
        f"p99 {q(0.99)} ns  p99.9 {q(0.999)} ns  max {int(lat[-1])} ns"
    )
    print(f"  batch mean (no clock):                {batch_ns:.1f} ns/check")
    print(f"  Order(...) built + check, mean:       {build_ns:.1f} ns")
    print(f"  empty Python function, same args:     {empty_ns:.1f} ns")


if __name__ == "__main__":
    main()
