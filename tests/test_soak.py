"""Soak: the pipeline at full rate with every event checksummed and RSS sampled every
second. CI runs a short form; the full run is

    BACONALGO_SOAK_SECONDS=600 .venv/bin/pytest -m soak -s
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import psutil
import pytest

import baconalgo as ba
from tests.conftest import event_digests

SOAK_SECONDS = float(os.environ.get("BACONALGO_SOAK_SECONDS", "5"))
BATCH = 4096


@pytest.mark.soak
def test_soak_nothing_lost_nothing_altered_rss_flat() -> None:
    bus = ba.Bus(1 << 16)
    bus.add_consumer("kinds", "kind_counts")
    bus.add_consumer("checksum", "checksum", after=["kinds"])
    bus.add_poller("py", after=["checksum"])
    bus.start()

    published = 0
    published_digest = np.uint64(0)
    stop = threading.Event()
    errors: list[str] = []

    def produce() -> None:
        nonlocal published, published_digest
        template = ba.events(BATCH)
        template["kind"] = ba.EventKind.QUOTE
        template["side"] = np.arange(BATCH) % 2 + 1
        while not stop.is_set():
            seq = np.arange(published, published + BATCH, dtype=np.uint64)
            template["seq"] = seq
            template["price_ticks"] = (seq * np.uint64(2654435761) % np.uint64(1_000_003)).astype(
                np.int64
            )
            template["ts_recv_ns"] = time.time_ns()
            bus.publish_batch(template)
            with np.errstate(over="ignore"):
                published_digest += event_digests(template).sum(dtype=np.uint64)
            published += BATCH

    consumed = 0
    consumed_digest = np.uint64(0)

    def consume() -> None:
        nonlocal consumed, consumed_digest
        while True:
            try:
                batch = bus.poll("py", 1 << 16, 0.1)
            except ba.BusClosed:
                return
            if not len(batch):
                continue
            seq = batch["seq"]
            if seq[0] != consumed or (len(seq) > 1 and not (np.diff(seq) == 1).all()):
                errors.append(f"sequence break near {consumed}")
                return
            with np.errstate(over="ignore"):
                consumed_digest += event_digests(batch).sum(dtype=np.uint64)
            consumed += len(batch)

    proc = psutil.Process()
    rss: list[int] = []
    producer = threading.Thread(target=produce)
    consumer = threading.Thread(target=consume)
    producer.start()
    consumer.start()
    deadline = time.monotonic() + SOAK_SECONDS
    while time.monotonic() < deadline:
        time.sleep(1.0)
        rss.append(proc.memory_info().rss)
    stop.set()
    producer.join(30)
    bus.close()
    consumer.join(30)

    assert not errors, errors
    assert published > 0
    assert consumed == published
    assert consumed_digest == published_digest
    stats = bus.handler_stats("checksum")
    assert stats["events"] == published
    assert stats["digest_sum"] == int(published_digest)
    assert bus.handler_stats("kinds")["quote"] == published
    # Flat: after a warm-up second, RSS grows by less than 5% (or 8 MiB on short runs).
    if len(rss) >= 3:
        base, peak = rss[1], max(rss[1:])
        assert peak - base < max(0.05 * base, 8 << 20), f"RSS grew from {base} to {peak}"
    rate = published / SOAK_SECONDS
    mib = rss[-1] >> 20
    print(f"soak: {published} events in {SOAK_SECONDS:.0f}s ({rate / 1e6:.1f} M/s), RSS {mib} MiB")
