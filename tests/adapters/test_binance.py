"""The Binance adapter end to end against the replay server on 127.0.0.1 playing the
bundled real recording: with dropped connections, lost diffs and malformed frames it
reconnects, resyncs from REST snapshots and ends with the book rebuilt from the recording
without faults, which also matches the exchange's own last bookTicker."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import baconalgo as ba
from baconalgo.adapters.base import Backoff
from baconalgo.adapters.binance import BinanceAdapter, BinanceInstrument
from baconalgo.adapters.replay_server import (
    BinanceReplayServer,
    Faults,
    read_binance_recording,
)
from baconalgo.errors import SubscriptionLimitError
from tests.adapters.common import run_until

BTC = BinanceInstrument("BTCUSDT", "0.01", "0.00000001")
FAST = Backoff(initial=0.01, maximum=0.1)


@dataclass
class Reference:
    bids: np.ndarray
    asks: np.ndarray
    last_update_id: int


def ticks(ticker: dict[str, str]) -> tuple[int, int, int, int]:
    return (
        int(Decimal(ticker["b"]) * 100),
        int(Decimal(ticker["B"]) * 10**8),
        int(Decimal(ticker["a"]) * 100),
        int(Decimal(ticker["A"]) * 10**8),
    )


def reference_book(path: Path, limit: int | None = None) -> Reference:
    """The book rebuilt straight from the recording (no websocket, no faults): the REST
    snapshot, then every diff in recorded order. Along the way, every bookTicker whose
    update id is a diff's final id must be the book's top after that diff (the exchange's
    own cross-check)."""
    messages, snapshot, snapshot_at = read_binance_recording(path)
    if limit is not None:
        messages = messages[:limit]
    dec = ba.BinanceDecoder("spot", [("BTCUSDT", "0.01", "0.00000001")])
    sync = ba.BinanceBookSync("spot", 0)
    for m in messages[:snapshot_at]:
        sync.on_events(dec.decode(m.data))
    assert sync.on_snapshot(dec.decode_snapshot("BTCUSDT", snapshot))[0] == "synced"
    tickers = {
        t["u"]: t
        for t in (json.loads(m.data)["data"] for m in messages if "@bookTicker" in m.stream)
    }
    checked = 0
    for m in messages[snapshot_at:]:
        assert sync.on_events(dec.decode(m.data)) != "gap"
        ticker = tickers.get(sync.last_update_id)
        if "@depth" in m.stream and ticker is not None:
            top = sync.summary()
            assert (*top["best_bid"], *top["best_ask"]) == ticks(ticker)
            checked += 1
    assert checked > 0
    bids, asks = sync.book().top(100_000)
    return Reference(bids, asks, sync.last_update_id)


def last_book_ticker(path: Path) -> dict[str, str]:
    messages, _, _ = read_binance_recording(path)
    ticker = next(m for m in reversed(messages) if m.stream.endswith("@bookTicker"))
    data: dict[str, str] = json.loads(ticker.data)["data"]
    return data


def book_caught_up(server: BinanceReplayServer, adapter: BinanceAdapter) -> Callable[[], bool]:
    sync = adapter.syncs[0]
    return lambda: sync.state == "synced" and sync.last_update_id == server.book_update_id


def adapter_for(server: BinanceReplayServer, **kwargs: object) -> BinanceAdapter:
    return BinanceAdapter(
        "spot",
        [BTC],
        ws_url=server.ws_url,
        rest_url=server.spot_rest_url,
        backoff=FAST,
        seed=7,
        **kwargs,  # type: ignore[arg-type]
    )


def assert_same_book(adapter: BinanceAdapter, ref: Reference) -> None:
    bids, asks = adapter.syncs[0].book().top(100_000)
    assert adapter.syncs[0].last_update_id == ref.last_update_id
    np.testing.assert_array_equal(bids, ref.bids)
    np.testing.assert_array_equal(asks, ref.asks)


def test_clean_replay_ends_with_the_recorded_book_and_the_last_book_ticker(
    spot_recording: Path,
) -> None:
    ref = reference_book(spot_recording)

    async def main() -> BinanceAdapter:
        async with BinanceReplayServer(spot_recording) as server:
            adapter = adapter_for(server)
            caught_up = book_caught_up(server, adapter)
            await run_until(
                server, adapter, lambda: caught_up() and adapter.counters.messages == 41_249
            )
            assert server.stats.sent == len(server.messages) == 41_248
            return adapter

    adapter = asyncio.run(main())
    assert_same_book(adapter, ref)
    # The last bookTicker comes after the last 100 ms diff (its quantities are newer than
    # any diff); its prices are the book's final best bid and ask.
    ticker = last_book_ticker(spot_recording)
    bid, _, ask, _ = ticks(ticker)
    assert (ref.bids[0][0], ref.asks[0][0]) == (bid, ask)
    c = adapter.counters
    assert (c.connects, c.reconnects, c.gaps, c.resyncs, c.rejected_total) == (1, 0, 0, 0, 0)
    assert c.snapshots == 1
    # Every streamed message plus the SUBSCRIBE reply reached the adapter.
    assert c.messages == 41_248 + 1 and c.control == 1


def test_drop_gap_and_malformed_frames_reconnect_resync_and_end_with_the_right_book(
    spot_recording: Path,
) -> None:
    ref = reference_book(spot_recording)
    messages, _, _ = read_binance_recording(spot_recording)
    depth = [i for i, m in enumerate(messages) if "@depth" in m.stream]
    lost_diff = depth[len(depth) // 3]
    faults = Faults(
        skip={lost_diff},
        malformed={
            50: b'{"stream":"btcusdt@trade","data":{"e":"trade"',
            60: b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT",'
            b'"U":1,"u":2,"b":[["61000.00000000","-1.00000000"]],"a":[]}}',
            70: b"\xff\xfe not json",
        },
        drop_after={depth[2 * len(depth) // 3]},
    )

    async def main() -> tuple[BinanceAdapter, BinanceReplayServer]:
        async with BinanceReplayServer(spot_recording, faults=faults) as server:
            adapter = adapter_for(server)
            await run_until(server, adapter, book_caught_up(server, adapter))
            return adapter, server

    adapter, server = asyncio.run(main())
    assert server.stats.drops == 1 and server.stats.skipped == 1
    c = adapter.counters
    assert c.connects == 2 and c.reconnects == 1
    assert c.gaps == 1  # the lost diff
    assert c.resyncs == 2  # after the gap and after the reconnect
    assert c.rejected["malformed_json"] == 2
    assert c.rejected["negative_quantity"] == 1
    assert c.rejected_total == 3
    assert c.last_reject is not None and "binance-spot" in c.last_reject
    assert_same_book(adapter, ref)
    assert not adapter.syncs[0].book().is_crossed()


def trades_in(messages: list[Any]) -> list[int]:
    return [json.loads(m.data)["data"]["t"] for m in messages if m.stream.endswith("@trade")]


def run_with_bus(
    spot_recording: Path, limit: int, adapter_kwargs: dict[str, Any], **server_kwargs: Any
) -> tuple[BinanceAdapter, np.ndarray]:
    bus = ba.Bus(1 << 17)
    bus.add_poller("test")
    bus.start()

    messages, _, _ = read_binance_recording(spot_recording)
    last_trade = trades_in(messages[:limit])[-1]

    async def main() -> BinanceAdapter:
        async with BinanceReplayServer(spot_recording, limit=limit, **server_kwargs) as server:
            adapter = adapter_for(server, **adapter_kwargs)
            adapter.bus = bus
            caught_up = book_caught_up(server, adapter)

            def done() -> bool:
                return caught_up() and adapter.last_seq(0, ba.EventKind.TRADE) == last_trade

            await run_until(server, adapter, done)
            return adapter

    adapter = asyncio.run(main())
    events = bus.poll("test", 1 << 17)
    bus.close()
    return adapter, events


def test_connection_renewed_before_the_age_limit_by_handover_loses_nothing(
    spot_recording: Path,
) -> None:
    """Binance's 24-hour limit, scaled down: a connection renewed every 0.4 s, each time
    by opening the next one before leaving the last: no gap, no resync, every trade of
    the recording on the bus exactly once."""
    limit = 4000
    ref = reference_book(spot_recording, limit)
    # 4000 messages are ~35 s of exchange time: at 20x about 1.8 s.
    adapter, events = run_with_bus(spot_recording, limit, {"max_connection_age": 0.4}, speed=20.0)
    c = adapter.counters
    assert c.handovers >= 2
    assert c.reconnects == 0 and c.gaps == 0 and c.resyncs == 0 and c.snapshots == 1
    assert_same_book(adapter, ref)
    messages, _, _ = read_binance_recording(spot_recording)
    trade_ids = events["id"][events["kind"] == ba.EventKind.TRADE].tolist()
    assert trade_ids == trades_in(messages[:limit])


def test_scheduled_disconnect_is_handed_over_without_a_gap(spot_recording: Path) -> None:
    """The replay server announces a shutdown (Binance's ``serverShutdown``) and closes
    the connection 1000 messages later: the adapter has moved to a new one by then."""
    limit = 4000
    ref = reference_book(spot_recording, limit)
    adapter, events = run_with_bus(
        spot_recording, limit, {}, speed=20.0, faults=Faults(shutdown={1500: 1000})
    )
    c = adapter.counters
    assert c.handovers == 1 and c.connects == 2
    assert c.reconnects == 0 and c.gaps == 0 and c.resyncs == 0
    assert c.handover_duplicates > 0  # the overlap was real, and dropped
    assert_same_book(adapter, ref)
    messages, _, _ = read_binance_recording(spot_recording)
    trade_ids = events["id"][events["kind"] == ba.EventKind.TRADE].tolist()
    assert trade_ids == trades_in(messages[:limit])


def test_subscribe_and_unsubscribe_at_run_time(spot_recording: Path) -> None:
    bus = ba.Bus(1 << 18)
    bus.add_poller("test")
    bus.start()

    async def main() -> BinanceAdapter:
        async with BinanceReplayServer(spot_recording, speed=50.0, limit=3000) as server:
            adapter = adapter_for(server, channels=("depth@100ms", "bookTicker"))
            adapter.bus = bus

            async def during() -> None:
                await asyncio.wait_for(adapter.connected.wait(), 10)
                while server.stats.position < 1000:
                    await asyncio.sleep(0.01)
                await adapter.unsubscribe(["btcusdt@bookTicker"])
                await adapter.subscribe(["btcusdt@trade"])

            await run_until(server, adapter, book_caught_up(server, adapter), during=during)
            assert adapter.streams == ["btcusdt@depth@100ms", "btcusdt@trade"]
            return adapter

    adapter = asyncio.run(main())
    events = bus.poll("test", 1 << 18)
    bus.close()
    kinds = events["kind"]
    first_trade = int(np.argmax(kinds == ba.EventKind.TRADE))
    last_quote = len(kinds) - 1 - int(np.argmax(kinds[::-1] == ba.EventKind.QUOTE))
    assert (kinds == ba.EventKind.TRADE).any() and (kinds == ba.EventKind.QUOTE).any()
    # The venue handles control messages in order: quotes stop, then trades start.
    assert last_quote < first_trade
    assert adapter.counters.subscribe_messages == 3


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    b = Backoff(initial=0.5, maximum=8.0, factor=2.0, jitter=0.5)
    rng = random.Random(1)
    for attempt, base in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]):
        d = b.delay(attempt, rng)
        assert base * 0.5 <= d <= base
    with pytest.raises(ValueError, match="jitter"):
        Backoff(jitter=1.5)


def test_unreachable_venue_is_retried_with_backoff_without_raising() -> None:
    async def main() -> BinanceAdapter:
        # A port nobody listens on: bind, read the port, close.
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        adapter = BinanceAdapter(
            "spot",
            [BTC],
            ws_url=f"ws://127.0.0.1:{port}/stream",
            rest_url=f"http://127.0.0.1:{port}/api/v3/depth",
            backoff=Backoff(initial=0.02, maximum=0.05),
            seed=1,
        )
        task = asyncio.create_task(adapter.run())
        await asyncio.sleep(0.5)
        adapter.stop()
        await asyncio.wait_for(task, 5)
        return adapter

    adapter = asyncio.run(main())
    assert adapter.counters.connects == 0
    assert adapter.counters.last_error is not None
    assert "Connect" in adapter.counters.last_error or "Errno" in adapter.counters.last_error


def test_streams_beyond_binance_limit_are_refused_with_a_clear_error() -> None:
    """Binance allows 1024 streams per connection (PROTOCOLS.md 1.1)."""
    adapter = BinanceAdapter("spot", [BTC], channels=("trade",))
    many = [f"sym{i}usdt@trade" for i in range(1023)]
    asyncio.run(adapter.subscribe(many))
    assert len(adapter.streams) == 1024
    with pytest.raises(SubscriptionLimitError, match=r"1025 streams .* 1024"):
        asyncio.run(adapter.subscribe(["ethusdt@trade"]))
    assert len(adapter.streams) == 1024


def test_a_venue_error_reply_is_counted_and_logged_as_a_venue_error_not_a_bad_frame() -> None:
    """Binance answers a refused request with ``{"code":..,"msg":..}`` (PROTOCOLS.md 1.1):
    the same venue-error count as the other venues, the reply kept as the last error."""
    adapter = BinanceAdapter("spot", [BTC], channels=("trade",))
    reply = b'{"code":2,"msg":"Invalid request: unknown variant","id":7}'
    adapter.handle_frame(reply, 1)
    c = adapter.counters
    assert (c.venue_errors, c.control, c.rejected_total) == (1, 1, 0)
    assert c.last_error is not None and "Invalid request" in c.last_error
