"""The OKX adapter end to end against the replay server on 127.0.0.1 playing the real
cryptofeed capture (2022-05-13, three instruments, books carrying OKX's own checksums):
with a dropped connection, a lost book message and malformed frames it reconnects,
resubscribes, and ends with the books the Rust synchroniser rebuilds straight from the
recording. The same again with the capture in OKX's 2026 shape (seqId/prevSeqId, checksum
0), where the lost message is caught by the sequence ids instead."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

import baconalgo as ba
from baconalgo.adapters.base import Instrument, VenueLimits
from baconalgo.adapters.okx import OkxAdapter
from baconalgo.adapters.replay_server import Faults, OkxReplayServer, okx_checksum
from baconalgo.errors import SubscriptionLimitError
from tests.adapters.common import (
    CRYPTOFEED,
    FAST,
    books_equal,
    detected_skip,
    received_frames,
    run_until,
    run_while_waiting,
    wait_for,
)

CAPTURE = CRYPTOFEED / "OKX.ws.1.0.gz"
INSTRUMENTS = [
    Instrument("BTC-USD-220527", "0.1", "1"),
    Instrument("UNI-USD-SWAP", "0.001", "1"),
    Instrument("BTC-USDT", "0.1", "0.00000001"),
]
STREAMS = [f"{c}:{i.symbol}" for i in INSTRUMENTS for c in ("books", "trades")]
MALFORMED = {
    5: b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId"',
    9: b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
    b'"tradeId":"1","px":"30000","sz":"-1","side":"buy","ts":"1652459226050"}]}',
    12: b"\xff\xfe not json",
}


def reference_books(frames: list[bytes]) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], int]:
    """The books rebuilt straight from the recorded frames by the Rust synchroniser
    (every checksum OKX sent must match), and how many checksums were checked."""
    dec = ba.OkxDecoder([(i.symbol, i.tick, i.lot) for i in INSTRUMENTS])
    syncs = [ba.OkxBookSync(n, i.tick, i.lot) for n, i in enumerate(INSTRUMENTS)]
    for frame in frames:
        batch = dec.decode(frame)
        for s in syncs:
            assert s.on_events(batch) not in ("gap", "checksum_mismatch")
    assert all(s.state == "synced" for s in syncs)
    return {n: s.book().top(100_000) for n, s in enumerate(syncs)}, sum(
        s.stats()["checksums_ok"] for s in syncs
    )


def adapter_for(server: OkxReplayServer, **kwargs: object) -> OkxAdapter:
    return OkxAdapter(
        INSTRUMENTS,
        ws_url=server.ws_url,
        channels=("books", "trades"),
        backoff=FAST,
        seed=3,
        **kwargs,  # type: ignore[arg-type]
    )


def btc_usdt_detected_skip(server: OkxReplayServer, start: int) -> int:
    dec = ba.OkxDecoder([(i.symbol, i.tick, i.lot) for i in INSTRUMENTS])
    batches = [dec.decode(m.data) for m in server.messages]
    candidates = [
        i
        for i, m in enumerate(server.messages)
        if i >= start and m.stream == "books:BTC-USDT" and b'"update"' in m.data
    ]
    return detected_skip(batches, candidates, lambda: ba.OkxBookSync(2, "0.1", "0.00000001"))


def test_server_snapshot_checksum_is_okx_own() -> None:
    """The replay server's checksum code reproduces what OKX sent on the recorded
    snapshots (an outside check of the snapshots it sends on resubscription)."""
    server = OkxReplayServer(CAPTURE)
    checked = 0
    for m in server.messages:
        if m.stream.startswith("books:") and b'"snapshot"' in m.data:
            server.play(m)
            inst = m.stream.partition(":")[2]
            sent = json.loads(m.data)["data"][0]["checksum"]
            assert okx_checksum(server.books[inst]) == sent
            checked += 1
    assert checked == 3


def test_clean_replay_ends_with_the_recorded_books() -> None:
    ref, checksums = reference_books(received_frames(CAPTURE))
    assert checksums == 290

    async def main() -> OkxAdapter:
        async with OkxReplayServer(CAPTURE) as server:
            adapter = adapter_for(server)
            await run_until(server, adapter, lambda: books_equal(adapter.books, ref))
            return adapter

    adapter = asyncio.run(main())
    c = adapter.counters
    assert (c.connects, c.gaps, c.checksum_mismatches, c.resyncs, c.rejected_total) == (
        1,
        0,
        0,
        0,
        0,
    )
    stats = [b.stats() for b in adapter.books.values()]
    assert sum(s["checksums_ok"] for s in stats) == 290


def test_drop_lost_update_and_malformed_frames_resubscribe_and_end_with_the_right_books() -> None:
    ref, _ = reference_books(received_frames(CAPTURE))
    probe = OkxReplayServer(CAPTURE)
    # The drop first: after it the adapter's requests are spaced by OKX's rate limit, and
    # the resubscription after the lost update comes later still, whatever the pace.
    drop = len(probe.messages) // 3
    skip = btc_usdt_detected_skip(probe, 2 * len(probe.messages) // 3)
    faults = Faults(skip={skip}, malformed=MALFORMED, drop_after={drop})

    async def main() -> tuple[OkxAdapter, OkxReplayServer]:
        async with OkxReplayServer(CAPTURE, faults=faults) as server:
            adapter = adapter_for(server)
            await run_until(server, adapter, lambda: books_equal(adapter.books, ref))
            return adapter, server

    adapter, server = asyncio.run(main())
    assert server.stats.drops == 1 and server.stats.skipped == 1
    c = adapter.counters
    assert c.connects == 2 and c.reconnects == 1
    assert c.checksum_mismatches == 1 and c.gaps == 0  # the capture predates seqIds
    # One resubscription after the mismatch, three books after the reconnect.
    assert c.resyncs == 4
    assert c.rejected["malformed_json"] == 2
    assert c.rejected["negative_quantity"] == 1
    assert c.rejected_total == 3
    assert c.last_reject is not None and "okx" in c.last_reject
    assert all(not b.book().is_crossed() for b in adapter.books.values())


def test_live_shape_gap_in_sequence_ids_resubscribes() -> None:
    """OKX since 2026: seqId/prevSeqId on every books message and checksum 0. A lost
    message is a prevSeqId that is not the last seqId."""
    ref, _ = reference_books(received_frames(CAPTURE))
    probe = OkxReplayServer(CAPTURE)
    books = [i for i, m in enumerate(probe.messages) if m.stream.startswith("books:")]
    drop = books[len(books) // 3]
    skip = books[2 * len(books) // 3]

    async def main() -> OkxAdapter:
        faults = Faults(skip={skip}, drop_after={drop})
        async with OkxReplayServer(CAPTURE, live_sequence=True, faults=faults) as server:
            adapter = adapter_for(server)
            await run_until(server, adapter, lambda: books_equal(adapter.books, ref))
            return adapter

    adapter = asyncio.run(main())
    c = adapter.counters
    assert c.gaps == 1 and c.checksum_mismatches == 0
    assert c.connects == 2 and c.resyncs == 4
    assert all(b.stats()["checksums_ok"] == 0 for b in adapter.books.values())
    assert all(b.last_seq_id is not None for b in adapter.books.values())  # type: ignore[attr-defined]


def test_text_ping_keeps_a_quiet_connection_and_a_silent_venue_is_left() -> None:
    async def main(answer: bool) -> OkxAdapter:
        async with OkxReplayServer(CAPTURE, answer_pings=answer) as server:
            # A venue that answers is given ample time (the machine may be loaded); a
            # silent one is left after 0.2 s.
            timeout = 5.0 if answer else 0.2
            adapter = adapter_for(server, app_ping_interval=0.05, app_ping_timeout=timeout)
            adapter._streams = []  # nothing subscribed: the venue sends nothing
            if answer:
                await run_while_waiting(adapter, lambda: server.stats.pongs >= 3, "3 pongs")
            else:
                await run_while_waiting(
                    adapter, lambda: adapter.counters.connects >= 2, "reconnect"
                )
            return adapter

    quiet = asyncio.run(main(True))
    assert quiet.counters.keepalive_pings >= 3
    assert quiet.counters.connects == 1 and quiet.counters.keepalive_timeouts == 0
    # The decoder takes OKX's bare "pong" as control, not as a malformed frame.
    assert quiet.counters.rejected_total == 0
    silent = asyncio.run(main(False))
    assert silent.counters.keepalive_timeouts >= 1


def test_subscribe_and_unsubscribe_at_run_time_within_okx_limits() -> None:
    bus = ba.Bus(1 << 16)
    bus.add_poller("test")
    bus.start()

    async def main() -> OkxAdapter:
        async with OkxReplayServer(CAPTURE, speed=5.0) as server:
            adapter = adapter_for(server)
            adapter.bus = bus
            adapter._streams = ["books:BTC-USDT"]

            async def during() -> None:
                await wait_for(lambda: adapter.books[2].state == "synced", "BTC-USDT book")
                await adapter.subscribe(["trades:BTC-USDT"])
                await wait_for(lambda: "trades:BTC-USDT" in adapter.streams, "subscribed")
                await adapter.unsubscribe(["books:BTC-USDT"])
                with pytest.raises(ValueError, match="ETH-USDT"):
                    await adapter.subscribe(["books:ETH-USDT"])
                # OKX allows 480 subscribe/unsubscribe requests per connection per hour.
                adapter.limits = VenueLimits(None, 2.5, 500, adapter.counters.subscribe_messages)
                with pytest.raises(SubscriptionLimitError, match="per connection per hour"):
                    await adapter.subscribe(["trades:UNI-USD-SWAP"])
                assert "trades:UNI-USD-SWAP" not in adapter.streams

            await run_until(server, adapter, lambda: True, during=during)
            return adapter

    adapter = asyncio.run(main())
    events = bus.poll("test", 1 << 16)
    bus.close()
    kinds = events["kind"]
    assert (kinds == ba.EventKind.TRADE).any()
    assert adapter.streams == ["trades:BTC-USDT"]
    # Book messages stop once the venue has handled the unsubscribe.
    last_book = int(np.flatnonzero(kinds == ba.EventKind.BOOK_DELTA)[-1])
    assert (kinds[last_book + 1 :] != ba.EventKind.BOOK_DELTA).all()
    assert (kinds[last_book + 1 :] == ba.EventKind.TRADE).any()
