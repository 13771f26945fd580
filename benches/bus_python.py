"""Python publish -> consume throughput of the bus, against queue.SimpleQueue and
NautilusTrader's MessageBus, in one run.

    make bench-python        (installs nautilus_trader into .bench-deps/nautilus, then runs this)

Each case moves N events from a publishing Python caller to a consuming Python caller
and counts both ends; the figure is events per second, best of REPEATS runs.
"""

from __future__ import annotations

import platform
import queue
import sys
import time
from collections.abc import Callable
from datetime import date

import numpy as np

import baconalgo as ba

N = 1_000_000
BATCH = 4096
REPEATS = 5


def best_rate(run: Callable[[], int]) -> float:
    rates = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        moved = run()
        rates.append(moved / (time.perf_counter() - t0))
    return max(rates)


def bus_single() -> int:
    bus = ba.Bus(1 << 20)
    bus.add_poller("py")
    bus.start()
    publish = bus.publish
    trade = int(ba.EventKind.TRADE)
    for i in range(N):
        publish(trade, 0, i, 1)
    got = 0
    while got < N:
        got += len(bus.poll("py", 1 << 20))
    bus.close()
    return got


def bus_batched() -> int:
    bus = ba.Bus(1 << 20)
    bus.add_poller("py")
    bus.start()
    batch = ba.events(BATCH)
    batch["kind"] = ba.EventKind.TRADE
    batch["price_ticks"] = np.arange(BATCH)
    got = 0
    for _ in range(N // BATCH):
        bus.publish_batch(batch)
    while got < (N // BATCH) * BATCH:
        got += len(bus.poll("py", 1 << 20))
    bus.close()
    return got


def simple_queue() -> int:
    q: queue.SimpleQueue[tuple[int, int, int, int]] = queue.SimpleQueue()
    put, get = q.put, q.get
    for i in range(N):
        put((1, 0, i, 1))
    for _ in range(N):
        get()
    return N


def nautilus_msgbus() -> int | None:
    try:
        from nautilus_trader.common.component import MessageBus, TestClock
        from nautilus_trader.model.identifiers import TraderId
    except ImportError:
        return None
    bus = MessageBus(TraderId("TRADER-001"), TestClock())
    received = [0]

    def handler(msg: object) -> None:
        received[0] += 1

    bus.subscribe("data.trades", handler)
    publish = bus.publish
    for i in range(N):
        publish("data.trades", i)
    return received[0]


def main() -> None:
    rows = [
        ("bus, single events (publish + poll)", best_rate(bus_single)),
        ("bus, numpy batches of 4096", best_rate(bus_batched)),
        ("queue.SimpleQueue put/get", best_rate(simple_queue)),
    ]
    if nautilus_msgbus() is not None:
        rows.append(("nautilus_trader MessageBus publish->handler", best_rate(nautilus_msgbus)))  # type: ignore[arg-type]
    else:
        print("nautilus_trader not installed: pip install nautilus_trader", file=sys.stderr)
    base = dict(rows)
    print(f"Python {platform.python_version()}, {date.today()}, N={N}, best of {REPEATS}\n")
    print("| case | events/s | vs SimpleQueue | vs Nautilus MessageBus |")
    print("|---|---|---|---|")
    sq = base["queue.SimpleQueue put/get"]
    nt = base.get("nautilus_trader MessageBus publish->handler")
    for name, rate in rows:
        vs_nt = f"{rate / nt:.1f}x" if nt else "n/a"
        print(f"| {name} | {rate / 1e6:.2f} M | {rate / sq:.1f}x | {vs_nt} |")


if __name__ == "__main__":
    main()
