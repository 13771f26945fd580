"""The Kraken adapter end to end against the replay server on 127.0.0.1 playing the real
cryptofeed capture (2021-04-17, ten pairs, ``book-1000`` with Kraken's own checksums).

The capture is Kraken WebSocket v1. Each run is made twice: as recorded, with the
adapter's v1 protocol and the v1 decoder, and converted by the replay server to the v2
shape live Kraken uses (same levels as JSON numbers with their recorded text, Kraken's own
update checksums; the server computes snapshot checksums, checked below against every
checksum Kraken sent), with the adapter's v2 protocol. With a dropped connection, a lost
update and malformed frames the adapter reconnects, resubscribes and ends with the books
the Rust synchroniser rebuilds straight from the recording."""

from __future__ import annotations

import asyncio
import json
import zlib

import numpy as np
import pytest

import baconalgo as ba
from baconalgo.adapters.base import Instrument
from baconalgo.adapters.kraken import KrakenAdapter
from baconalgo.adapters.replay_server import Faults, KrakenReplayServer, kraken_checksum
from tests.adapters.common import (
    CRYPTOFEED,
    FAST,
    books_equal,
    detected_skip,
    received_frames,
    run_until,
    run_while_waiting,
)

CAPTURE = CRYPTOFEED / "KRAKEN.ws.50.0.gz"
INSTRUMENTS = [
    Instrument("WAVES/EUR", "0.0001", "0.00000001"),
    Instrument("XMR/USD", "0.01", "0.00000001"),
    Instrument("KSM/XBT", "0.000001", "0.00000001"),
    Instrument("GRT/ETH", "0.0000001", "0.00000001"),
    Instrument("SC/EUR", "0.00001", "0.00000001"),
    Instrument("ETH/CHF", "0.01", "0.00000001"),
    Instrument("OCEAN/XBT", "0.00000001", "0.00000001"),
    Instrument("OMG/USD", "0.000001", "0.00000001"),
    Instrument("XBT/CHF", "0.1", "0.00000001"),
    Instrument("ADA/XBT", "0.00000001", "0.00000001"),
]
MALFORMED = {
    "v1": {
        40: b'[992,{"b":[["354.15000000","5.00000000"',
        41: b'[992,{"b":[["354.15000000","-5.00000000","1618678133.365913"]],"c":"1"},'
        b'"book-1000","XMR/USD"]',
    },
    "v2": {
        40: b'{"channel":"book","type":"update","data":[{"symbol":"XMR/USD","bids":[{"pr',
        41: b'{"channel":"book","type":"update","data":[{"symbol":"XMR/USD","bids":'
        b'[{"price":354.15000000,"qty":-5.00000000}],"asks":[],"checksum":1}]}',
    },
}


def decoder() -> ba.KrakenDecoder:
    return ba.KrakenDecoder([(i.symbol, i.tick, i.lot) for i in INSTRUMENTS])


def reference_books() -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The books rebuilt straight from the recorded frames by the Rust synchroniser at
    depth 1000; all 4,269 update checksums must match (data/README.md)."""
    batch, rejected = decoder().decode_many(received_frames(CAPTURE), 1)
    assert rejected == 0
    syncs = [ba.KrakenBookSync(n, i.tick, i.lot, 1000) for n, i in enumerate(INSTRUMENTS)]
    for s in syncs:
        s.on_events(batch)
    assert sum(s.stats()["checksums_ok"] for s in syncs) == 4269
    assert all(s.state == "synced" for s in syncs)
    return {n: s.book().top(100_000) for n, s in enumerate(syncs)}


def adapter_for(server: KrakenReplayServer, **kwargs: object) -> KrakenAdapter:
    return KrakenAdapter(
        INSTRUMENTS,
        protocol="v2" if server.protocol == "v2" else "v1",
        ws_url=server.ws_url,
        depth=1000,
        channels=("book",),
        backoff=FAST,
        seed=5,
        **kwargs,  # type: ignore[arg-type]
    )


def test_server_checksum_is_kraken_own() -> None:
    """The replay server's checksum code (used on the v2 snapshots it sends) gives, after
    every recorded update, the checksum Kraken sent with it."""
    server = KrakenReplayServer(CAPTURE)
    checked = 0
    for m in server.messages:
        server.play(m)
        sent = [p["c"] for p in json.loads(m.data)[1:-2] if "c" in p]
        if sent:
            assert kraken_checksum(server.books[m.stream.partition(":")[2]]) == int(sent[-1])
            checked += 1
    assert checked == 4269


PROTOCOLS = pytest.mark.parametrize("protocol", ["v1", "v2"])


@PROTOCOLS
def test_clean_replay_ends_with_the_recorded_books(protocol: str) -> None:
    ref = reference_books()

    async def main() -> KrakenAdapter:
        async with KrakenReplayServer(CAPTURE, protocol=protocol) as server:
            adapter = adapter_for(server)
            await run_until(server, adapter, lambda: books_equal(adapter.books, ref))
            return adapter

    adapter = asyncio.run(main())
    c = adapter.counters
    assert (c.connects, c.checksum_mismatches, c.resyncs, c.rejected_total) == (1, 0, 0, 0)
    # v2 also checksums the ten snapshots.
    expected = 4269 + (len(INSTRUMENTS) if protocol == "v2" else 0)
    assert sum(b.stats()["checksums_ok"] for b in adapter.books.values()) == expected


@PROTOCOLS
def test_drop_lost_update_and_malformed_frames_resubscribe_and_end_with_the_right_books(
    protocol: str,
) -> None:
    ref = reference_books()
    probe = KrakenReplayServer(CAPTURE)
    dec = decoder()
    batches = [dec.decode(m.data) for m in probe.messages]
    xmr = [
        i
        for i, m in enumerate(probe.messages)
        if m.stream == "book:XMR/USD" and b'"c":' in m.data and i > 2 * len(probe.messages) // 3
    ]
    skip = detected_skip(batches, xmr, lambda: ba.KrakenBookSync(1, "0.01", "0.00000001", 1000))
    drop = len(probe.messages) // 3
    faults = Faults(skip={skip}, malformed=MALFORMED[protocol], drop_after={drop})

    async def main() -> tuple[KrakenAdapter, KrakenReplayServer]:
        async with KrakenReplayServer(CAPTURE, protocol=protocol, faults=faults) as server:
            adapter = adapter_for(server)
            await run_until(server, adapter, lambda: books_equal(adapter.books, ref))
            return adapter, server

    adapter, server = asyncio.run(main())
    assert server.stats.drops == 1 and server.stats.skipped == 1
    c = adapter.counters
    assert c.connects == 2 and c.reconnects == 1
    assert c.checksum_mismatches == 1
    assert c.resyncs == len(INSTRUMENTS) + 1  # every book after the reconnect, then XMR/USD
    assert c.rejected["malformed_json"] == 1
    assert c.rejected["negative_quantity"] == 1
    assert c.rejected_total == 2
    assert c.last_reject is not None and "kraken" in c.last_reject


@PROTOCOLS
def test_wrong_depth_is_refused_by_the_venue_and_counted(protocol: str) -> None:
    """The venue serves the depth it has (1000); asking for 10 gets Kraken's error."""

    async def main() -> KrakenAdapter:
        async with KrakenReplayServer(CAPTURE, protocol=protocol) as server:
            adapter = KrakenAdapter(
                INSTRUMENTS[:1],
                protocol="v2" if protocol == "v2" else "v1",
                ws_url=server.ws_url,
                depth=10,
                channels=("book",),
                backoff=FAST,
            )
            await run_while_waiting(
                adapter, lambda: adapter.counters.venue_errors >= 1, "an error reply"
            )
            return adapter

    adapter = asyncio.run(main())
    assert "depth" in (adapter.counters.last_error or "")
    assert adapter.books[0].state == "awaiting_snapshot"


@PROTOCOLS
def test_ping_keeps_a_quiet_connection(protocol: str) -> None:
    async def main() -> tuple[KrakenAdapter, KrakenReplayServer]:
        async with KrakenReplayServer(CAPTURE, protocol=protocol) as server:
            adapter = adapter_for(server, app_ping_interval=0.05, app_ping_timeout=5.0)
            adapter._streams = []
            await run_while_waiting(adapter, lambda: server.stats.pongs >= 3, "three pongs")
            return adapter, server

    adapter, _ = asyncio.run(main())
    c = adapter.counters
    assert c.keepalive_pings >= 3 and c.keepalive_timeouts == 0 and c.connects == 1
    assert c.rejected_total == 0


def test_v2_subscribe_messages_follow_the_documented_shape() -> None:
    adapter = KrakenAdapter([Instrument("BTC/USD", "0.1", "0.00000001")], depth=25)
    assert adapter.url == "wss://ws.kraken.com/v2"
    book, trade = (json.loads(m) for m in adapter.subscribe_messages(adapter.streams))
    assert book["method"] == "subscribe"
    assert book["params"] == {"channel": "book", "symbol": ["BTC/USD"], "depth": 25}
    assert trade["params"] == {"channel": "trade", "symbol": ["BTC/USD"]}
    (unsub,) = (json.loads(m) for m in adapter.unsubscribe_messages(["book:BTC/USD"]))
    assert unsub["method"] == "unsubscribe" and unsub["params"]["depth"] == 25
    assert json.loads(adapter.ping_message())["method"] == "ping"
    with pytest.raises(ValueError, match="depth"):
        KrakenAdapter([Instrument("BTC/USD", "0.1", "0.00000001")], depth=15)


def kraken_crc(asks: list[tuple[str, str]], bids: list[tuple[str, str]]) -> int:
    """Kraken's documented checksum, written here from the "Book checksum v2" guide:
    top 10 asks low to high then top 10 bids high to low, price then qty, each with the
    '.' removed and leading zeros stripped, CRC32 unsigned."""
    text = "".join(
        p.replace(".", "").lstrip("0") + q.replace(".", "").lstrip("0")
        for p, q in asks[:10] + bids[:10]
    )
    return zlib.crc32(text.encode())


def v2_book(kind: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]], crc: int) -> bytes:
    def levels(side: list[tuple[str, str]]) -> str:
        return ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in side)

    return (
        f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"ETH/USD","bids":[{levels(bids)}],'
        f'"asks":[{levels(asks)}],"checksum":{crc},"timestamp":"2025-05-06T12:00:00.000000Z"}}]}}'
    ).encode()


def test_v2_book_messages_keep_the_book_and_a_bad_checksum_resubscribes() -> None:
    """v2 sends JSON numbers whose trailing zeros are part of the checksum (PROTOCOLS.md
    4.2); the adapter's book must reproduce Kraken's checksum on the snapshot and on an
    update that pushes a level out of the subscribed depth."""
    adapter = KrakenAdapter([Instrument("ETH/USD", "0.01", "0.00000001")], depth=10)
    bids = [(f"{1797 - i}.07", "4.21870000") for i in range(10)]
    asks = [(f"{1797 + i}.29", "0.50000000") for i in range(10)]
    adapter.handle_frame(v2_book("snapshot", bids, asks, kraken_crc(asks, bids)), 1)
    assert adapter.books[0].state == "synced"
    # A better ask: the 11th ask falls out of the depth-10 book before the checksum.
    new_asks = [("1796.99", "1.00000000"), *asks[:9]]
    update = v2_book("update", [], [("1796.99", "1.00000000")], kraken_crc(new_asks, bids))
    adapter.handle_frame(update, 2)
    assert adapter.counters.checksum_mismatches == 0
    assert adapter.books[0].book().levels("ask") == 10
    assert adapter.books[0].book().best_ask() == (179699, 100_000_000)
    adapter.handle_frame(v2_book("update", [("1797.07", "0")], [], 12345), 3)
    assert adapter.counters.checksum_mismatches == 1
    assert adapter.books[0].state != "synced"
