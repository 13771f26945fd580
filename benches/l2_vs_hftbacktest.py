"""L2 replay with queue and latency models: BaconAlgo's ``run_market`` (via
``baconalgo._core.replay_l2``) against hftbacktest on the same synthetic feed, same run.

The feed is deterministic (seeded): a book of ``DEPTH`` levels a side around a mid that
takes one-tick steps, each step of the feed two events: level updates at random depths,
trades at the touch (aggressor buy at the best ask, sell at the best bid), and mid moves
(the level at the new mid is deleted before the one behind it is added, so the book
never crosses). It is written once in hftbacktest's npz event format and read by both
(converted to ``EVENT_DTYPE`` for BaconAlgo before the clock starts).

Both run the same fixed quoting schedule: every ``INTERVAL_NS`` cancel the working orders,
quote one lot post-only at the best bid and the best ask, within a position limit; both
with constant order and feed latency and the same queue model (risk-averse, then the
power-3 probabilistic model). hftbacktest runs its no-partial-fill exchange: its
partial-fill exchange stops this feed with error 14 from ``elapse`` (hftbacktest 2.4.4)
once a trade prints through a resting quote. BaconAlgo's venue fills partially. Events
per second = feed events / wall time of the run.

    make bench-l2        (installs hftbacktest; EVENTS=... to change the feed length)
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import baconalgo as ba
from baconalgo._core import replay_l2

OUT = Path(__file__).resolve().parent / "out"
SEED = 20261126
DEPTH = 20
MID0_TICKS = 5_000_000  # 50,000.00 with a 0.01 tick
TICK = 0.01
LOT = 0.001
STEP_NS = 100_000  # one feed step every 0.1 ms
FEED_LATENCY_NS = 1_000_000
ORDER_LATENCY_NS = 2_000_000
RESPONSE_LATENCY_NS = 2_000_000
INTERVAL_NS = 100_000_000
MAX_POSITION_LOTS = 10

# hftbacktest's event flags (hftbacktest.types), spelled out so the feed can be written
# and read without importing it.
DEPTH_EVENT, TRADE_EVENT = 1, 2
EXCH_EVENT, LOCAL_EVENT = 1 << 31, 1 << 30
BUY_EVENT, SELL_EVENT = 1 << 29, 1 << 28
HBT_DTYPE = np.dtype(
    [
        ("ev", "u8"),
        ("exch_ts", "i8"),
        ("local_ts", "i8"),
        ("px", "f8"),
        ("qty", "f8"),
        ("order_id", "u8"),
        ("ival", "i8"),
        ("fval", "f8"),
    ],
    align=True,
)


def synthetic_feed(n_events: int, seed: int = SEED) -> npt.NDArray[np.void]:
    """``n_events`` events (rounded up to even) in hftbacktest's dtype, deterministic."""
    rng = np.random.default_rng(seed)
    steps = (n_events + 1) // 2
    # Step kinds: 0 level updates (88 %), 1 trade + update (10 %), 2 mid up, 3 mid down.
    kind = rng.choice(4, size=steps, p=[0.88, 0.10, 0.01, 0.01])
    move = np.where(kind == 2, 1, np.where(kind == 3, -1, 0))
    mid = MID0_TICKS + np.concatenate(([0], np.cumsum(move)[:-1]))  # mid before each step
    k1 = rng.integers(1, DEPTH + 1, size=steps)
    k2 = rng.integers(1, DEPTH + 1, size=steps)
    q1 = rng.integers(1, 100, size=steps)
    q2 = rng.integers(1, 100, size=steps)
    buy_aggressor = rng.random(steps) < 0.5
    trade_qty = rng.integers(1, 20, size=steps)

    # First event of each step.
    px_a = np.where(kind == 0, mid - k1, 0)
    px_a = np.where(kind == 1, np.where(buy_aggressor, mid + 1, mid - 1), px_a)
    px_a = np.where(kind == 2, mid + 1, px_a)  # up: delete the ask the mid moves onto
    px_a = np.where(kind == 3, mid - 1, px_a)  # down: delete the bid the mid moves onto
    qty_a = np.where(kind == 1, trade_qty, np.where(kind >= 2, 0, q1))
    ev_a = np.where(kind == 1, TRADE_EVENT, DEPTH_EVENT)
    buy_a = np.where(kind == 1, buy_aggressor, (kind == 0) | (kind == 3))
    # Second event: an ask update, or the level left behind by a mid move.
    px_b = np.where(kind == 2, mid, np.where(kind == 3, mid, mid + k2))
    buy_b = kind == 2
    qty_b = q2

    feed = np.zeros(2 * steps, dtype=HBT_DTYPE)
    t = np.arange(steps, dtype=np.int64) * STEP_NS + 1_700_000_000_000_000_000
    for j, (px, qty, ev, buy) in enumerate(
        ((px_a, qty_a, ev_a, buy_a), (px_b, qty_b, np.full(steps, DEPTH_EVENT), buy_b))
    ):
        side = np.where(buy, BUY_EVENT, SELL_EVENT).astype(np.uint64)
        feed["ev"][j::2] = ev.astype(np.uint64) | side | np.uint64(EXCH_EVENT | LOCAL_EVENT)
        feed["exch_ts"][j::2] = t + j
        feed["local_ts"][j::2] = t + j + FEED_LATENCY_NS
        feed["px"][j::2] = px * TICK
        feed["qty"][j::2] = qty * LOT
    return feed[:n_events] if n_events % 2 == 0 else feed


def initial_book() -> npt.NDArray[np.void]:
    """The starting book as depth events just before the feed."""
    book = np.zeros(2 * DEPTH, dtype=HBT_DTYPE)
    k = np.arange(1, DEPTH + 1)
    for j, (sign, flag) in enumerate(((-1, BUY_EVENT), (1, SELL_EVENT))):
        rows = book[j * DEPTH : (j + 1) * DEPTH]
        rows["ev"] = DEPTH_EVENT | flag | EXCH_EVENT | LOCAL_EVENT
        rows["exch_ts"] = 1_700_000_000_000_000_000 - 1_000
        rows["local_ts"] = rows["exch_ts"] + FEED_LATENCY_NS
        rows["px"] = (MID0_TICKS + sign * k) * TICK
        rows["qty"] = 50 * LOT
    return book


def to_events(feed: npt.NDArray[np.void]) -> npt.NDArray[np.void]:
    """hftbacktest events as BaconAlgo's EVENT_DTYPE (instrument 0)."""
    out = np.zeros(len(feed), dtype=ba.EVENT_DTYPE)
    ev = feed["ev"]
    is_trade = (ev & np.uint64(0xFF)) == TRADE_EVENT
    out["ts_event_ns"] = feed["exch_ts"]
    out["ts_recv_ns"] = feed["local_ts"]
    out["price_ticks"] = np.rint(feed["px"] / TICK).astype(np.int64)
    out["qty_lots"] = np.rint(feed["qty"] / LOT).astype(np.int64)
    out["kind"] = np.where(is_trade, int(ba.EventKind.TRADE), int(ba.EventKind.BOOK_DELTA))
    out["side"] = np.where(ev & np.uint64(BUY_EVENT), int(ba.Side.BID), int(ba.Side.ASK))
    return out


def run_ours(events: npt.NDArray[np.void], queue: str) -> dict[str, Any]:
    return replay_l2(
        events,
        interval_ns=INTERVAL_NS,
        qty_lots=1,
        max_position_lots=MAX_POSITION_LOTS,
        queue=queue,
        order_latency_ns=ORDER_LATENCY_NS,
        response_latency_ns=RESPONSE_LATENCY_NS,
        market_data_latency_ns=FEED_LATENCY_NS,
        quote_per_tick_lot=TICK * LOT,
    )


def hftbacktest_runner(path: Path, queue: str) -> Callable[[], dict[str, Any]]:
    from hftbacktest import (
        GTX,
        LIMIT,
        BacktestAsset,
        HashMapMarketDepthBacktest,
    )
    from numba import njit

    @njit
    def quote_touch(hbt: Any, interval: int, qty: float, max_pos: float) -> int:
        order_id = 0
        rounds = 0
        while hbt.elapse(interval) == 0:
            hbt.clear_inactive_orders(0)
            orders = hbt.orders(0)
            values = orders.values()
            while values.has_next():
                o = values.get()
                if o.cancellable:
                    hbt.cancel(0, o.order_id, False)
            depth = hbt.depth(0)
            pos = hbt.position(0)
            if pos + qty <= max_pos + 1e-12:
                order_id += 1
                hbt.submit_buy_order(0, order_id, depth.best_bid, qty, GTX, LIMIT, False)
            if pos - qty >= -max_pos - 1e-12:
                order_id += 1
                hbt.submit_sell_order(0, order_id, depth.best_ask, qty, GTX, LIMIT, False)
            rounds += 1
        return rounds

    def build(data: str) -> Any:
        asset = (
            BacktestAsset()
            .data([data])
            .linear_asset(1.0)
            .constant_order_latency(ORDER_LATENCY_NS, RESPONSE_LATENCY_NS)
            .tick_size(TICK)
            .lot_size(LOT)
            .trading_value_fee_model(0.0, 0.0)
            .no_partial_fill_exchange()
        )
        asset = asset.risk_adverse_queue_model() if queue == "risk_averse" else asset
        if queue.startswith("power:"):
            asset = asset.power_prob_queue_model(float(queue.split(":")[1]))
        return HashMapMarketDepthBacktest([asset])

    def run() -> dict[str, Any]:
        hbt = build(str(path))
        rounds = quote_touch(hbt, INTERVAL_NS, LOT, MAX_POSITION_LOTS * LOT)
        position = hbt.position(0)
        hbt.close()
        return {"rounds": rounds, "position_lots": round(position / LOT)}

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=int(os.environ.get("EVENTS", 10_000_000)))
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    feed = np.concatenate((initial_book(), synthetic_feed(args.events)))
    path = OUT / f"l2_synthetic_{args.events}.npz"
    np.savez(path, data=feed)
    events = to_events(feed)
    n = len(feed)
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"{date.today()}, {n:,} events (seed {SEED}), load average {' '.join(load)}\n")
    print("| queue model | engine | events/s | wall s | vs hftbacktest |")
    print("|---|---|---|---|---|")
    for queue in ("risk_averse", "power:3"):
        hbt_run = None
        try:
            hbt_run = hftbacktest_runner(path, queue)
            # Compiles the numba strategy on a short feed before the clock starts.
            small = OUT / "l2_warmup.npz"
            np.savez(small, data=feed[:10_000])
            hftbacktest_runner(small, queue)()
        except ImportError:
            print("hftbacktest not installed: pip install hftbacktest")
        t0 = time.perf_counter()
        ours = run_ours(events, queue)
        t_ours = time.perf_counter() - t0
        t_hbt = float("nan")
        hbt: dict[str, Any] = {}
        if hbt_run is not None:
            t0 = time.perf_counter()
            hbt = hbt_run()
            t_hbt = time.perf_counter() - t0
        print(
            f"| {queue} | baconalgo replay_l2 (run_market) | {n / t_ours / 1e6:.1f} M | "
            f"{t_ours:.2f} | {t_hbt / t_ours:.1f}x |"
        )
        print(
            f"| {queue} | hftbacktest HashMapMarketDepthBacktest | {n / t_hbt / 1e6:.1f} M | "
            f"{t_hbt:.2f} | 1.0x |"
        )
        print(f"|  | ours: {ours} | hftbacktest: {hbt} | | |")


if __name__ == "__main__":
    main()
