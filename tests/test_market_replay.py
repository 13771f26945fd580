"""The L2 market replay (`replay_l2`, the core's `run_market` with the `QuoteTouch`
schedule against the simulated venue): deterministic, bounded in memory, and it fills."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil
import pytest

import baconalgo as ba
from baconalgo._core import replay_l2

MID = 100_000


def feed(n_steps: int, seed: int = 7) -> npt.NDArray[np.void]:
    """Level updates within 10 ticks of a fixed mid (never crossing) and trades at the
    touch, 1 ms apart."""
    rng = np.random.default_rng(seed)
    ev = np.zeros(2 * n_steps, dtype=ba.EVENT_DTYPE)
    ev["ts_event_ns"] = np.arange(2 * n_steps, dtype=np.uint64) * 1_000_000 + 1
    ev["ts_recv_ns"] = ev["ts_event_ns"]
    k = rng.integers(1, 11, size=2 * n_steps)
    bid = np.arange(2 * n_steps) % 2 == 0
    ev["side"] = np.where(bid, int(ba.Side.BID), int(ba.Side.ASK))
    ev["price_ticks"] = np.where(bid, MID - k, MID + k)
    ev["qty_lots"] = rng.integers(0, 50, size=2 * n_steps)
    ev["kind"] = int(ba.EventKind.BOOK_DELTA)
    trade = rng.random(2 * n_steps) < 0.2
    ev["kind"][trade] = int(ba.EventKind.TRADE)
    # A trade prints at the touch: an aggressive buy at the best ask, a sell at the bid.
    ev["price_ticks"][trade] = np.where(bid[trade], MID + 1, MID - 1)
    ev["side"][trade] = np.where(bid[trade], int(ba.Side.ASK), int(ba.Side.BID))
    ev["qty_lots"][trade] = rng.integers(1, 30, size=int(trade.sum()))
    # The touch levels exist from the start.
    ev["kind"][:2] = int(ba.EventKind.BOOK_DELTA)
    ev["price_ticks"][:2] = (MID - 1, MID + 1)
    ev["qty_lots"][:2] = 40
    return ev


def run(events: npt.NDArray[np.void], queue: str = "risk_averse") -> dict[str, Any]:
    return replay_l2(
        events,
        interval_ns=50_000_000,
        qty_lots=1,
        max_position_lots=5,
        queue=queue,
        order_latency_ns=2_000_000,
        response_latency_ns=2_000_000,
        market_data_latency_ns=1_000_000,
        quote_per_tick_lot=0.01,
        maker_bps=-1.0,
        taker_bps=5.0,
    )


def test_replay_is_deterministic_delivers_every_event_and_fills_orders() -> None:
    events = feed(20_000)
    first = run(events, "power:3")
    assert first == run(events, "power:3")
    assert first["events_delivered"] == len(events)
    assert first["fills"] > 0
    assert abs(first["position_lots"]) <= 5
    # Maker fills earn the rebate.
    assert first["fees_quote"] < 0


def test_bad_settings_raise_value_errors_naming_them() -> None:
    events = feed(10)
    with pytest.raises(ValueError, match="queue"):
        run(events, "fifo")
    with pytest.raises(ValueError, match="interval_ns"):
        replay_l2(events, interval_ns=0, qty_lots=1, max_position_lots=1)


def test_rss_stays_flat_over_twenty_repeated_replays() -> None:
    events = feed(200_000)
    proc = psutil.Process()
    run(events)
    gc.collect()
    baseline = proc.memory_info().rss
    for _ in range(19):
        run(events)
    gc.collect()
    grown = proc.memory_info().rss - baseline
    assert grown <= 0.05 * baseline, f"RSS grew by {grown} bytes over {baseline}"
