"""The Coinbase Advanced Trade adapter end to end against the replay server on 127.0.0.1.

No real Advanced Trade recording exists (PROTOCOLS.md 6: only single-message fixtures),
so the messages here are written from Coinbase's documented format (channel ``l2_data``
for level2 with ``bid``/``offer`` sides and absolute ``new_quantity``, ``market_trades``,
``ticker``, ``heartbeats``; envelope ``sequence_num`` numbering a connection's messages
from 0). The expected book is kept by a plain Decimal dict in this test, apart from the
code under test. With a dropped connection, a lost message (a sequence gap) and
malformed frames the adapter reconnects, resubscribes level2 and ends with that book."""

from __future__ import annotations

import asyncio
import json
import random
from decimal import Decimal

import numpy as np

import baconalgo as ba
from baconalgo.adapters.base import Instrument
from baconalgo.adapters.coinbase import CoinbaseAdapter
from baconalgo.adapters.replay_server import (
    CoinbaseReplayServer,
    Faults,
    _Message,
    coinbase_message,
)
from tests.adapters.common import FAST, run_until, run_while_waiting

PRODUCTS = [
    Instrument("BTC-USD", "0.01", "0.00000001"),
    Instrument("ETH-USD", "0.01", "0.00000001"),
]
MIDS = {"BTC-USD": 60_000, "ETH-USD": 3_000}


def script(
    n: int, seed: int = 11
) -> tuple[list[_Message], dict[str, dict[str, dict[Decimal, Decimal]]]]:
    """``n`` messages in the documented format, and the books they leave."""
    rng = random.Random(seed)
    books: dict[str, dict[str, dict[Decimal, Decimal]]] = {
        p.symbol: {"bid": {}, "offer": {}} for p in PRODUCTS
    }
    out = []
    trade_id = 1000
    for i in range(n):
        ts = f"2026-11-26T15:00:{i // 100:02d}.{i % 100:02d}0000000Z"
        product = rng.choice(PRODUCTS).symbol
        roll = rng.random()
        if i % 40 == 0:
            out.append(
                coinbase_message(
                    "heartbeats",
                    ts,
                    {"current_time": ts, "heartbeat_counter": str(i // 40)},
                )
            )
        elif roll < 0.7:
            updates = []
            for _ in range(rng.randint(1, 3)):
                side = rng.choice(["bid", "offer"])
                offset = rng.randint(1, 40) * Decimal("0.5")
                mid = MIDS[product]
                price = (mid - offset) if side == "bid" else (mid + offset)
                qty = Decimal(0) if rng.random() < 0.3 else Decimal(rng.randint(1, 10**8)) / 10**8
                updates.append(
                    {
                        "side": side,
                        "event_time": ts,
                        "price_level": f"{price:.2f}",
                        "new_quantity": "0" if qty == 0 else f"{qty:.8f}",
                    }
                )
                levels = books[product][side]
                if qty == 0:
                    levels.pop(price, None)
                else:
                    levels[price] = qty
            event = {"type": "update", "product_id": product, "updates": updates}
            out.append(coinbase_message(f"level2:{product}", ts, event))
        elif roll < 0.9:
            trade_id += 1
            trade = {
                "trade_id": str(trade_id),
                "product_id": product,
                "price": f"{MIDS[product]}.00",
                "size": "0.01000000",
                "side": rng.choice(["BUY", "SELL"]),
                "time": ts,
            }
            out.append(
                coinbase_message(
                    f"market_trades:{product}", ts, {"type": "update", "trades": [trade]}
                )
            )
        else:
            ticker = {
                "type": "ticker",
                "product_id": product,
                "price": f"{MIDS[product]}.00",
                "best_bid": f"{MIDS[product] - 1}.00",
                "best_bid_quantity": "1.00000000",
                "best_ask": f"{MIDS[product] + 1}.00",
                "best_ask_quantity": "2.00000000",
            }
            out.append(
                coinbase_message(f"ticker:{product}", ts, {"type": "update", "tickers": [ticker]})
            )
    return out, books


def as_ticks(levels: dict[Decimal, Decimal], bid: bool) -> np.ndarray:
    rows = sorted(levels.items(), reverse=bid)
    return np.array([[int(p * 100), int(q * 10**8)] for p, q in rows], dtype=np.int64).reshape(
        -1, 2
    )


def book_matches(
    adapter: CoinbaseAdapter, books: dict[str, dict[str, dict[Decimal, Decimal]]]
) -> bool:
    for index, symbol in adapter.symbols.items():
        keeper = adapter.books[index]
        if keeper.state != "synced":
            return False
        bids, asks = keeper.book().top(100_000)
        if not (
            np.array_equal(bids.reshape(-1, 2), as_ticks(books[symbol]["bid"], True))
            and np.array_equal(asks.reshape(-1, 2), as_ticks(books[symbol]["offer"], False))
        ):
            return False
    return True


def adapter_for(server: CoinbaseReplayServer, **kwargs: object) -> CoinbaseAdapter:
    return CoinbaseAdapter(
        PRODUCTS,
        ws_url=server.ws_url,
        channels=("level2", "market_trades", "ticker"),
        backoff=FAST,
        seed=9,
        **kwargs,  # type: ignore[arg-type]
    )


def test_subscribe_messages_follow_the_documented_shape() -> None:
    adapter = CoinbaseAdapter(PRODUCTS, jwt=lambda: "a.jwt.token")
    messages = [json.loads(m) for m in adapter.subscribe_messages(adapter.streams)]
    # One channel per subscribe message; heartbeats always, with no product ids.
    assert [m["channel"] for m in messages] == ["level2", "market_trades", "heartbeats"]
    assert messages[0] == {
        "type": "subscribe",
        "channel": "level2",
        "product_ids": ["BTC-USD", "ETH-USD"],
        "jwt": "a.jwt.token",
    }
    assert "product_ids" not in messages[2]


def test_clean_replay_ends_with_the_scripted_books() -> None:
    messages, books = script(3000)

    async def main() -> CoinbaseAdapter:
        async with CoinbaseReplayServer(messages) as server:
            adapter = adapter_for(server)
            await run_until(server, adapter, lambda: book_matches(adapter, books))
            return adapter

    adapter = asyncio.run(main())
    c = adapter.counters
    assert (c.connects, c.gaps, c.resyncs, c.rejected_total) == (1, 0, 0, 0)
    assert adapter.coinbase_decoder.gaps == 0


def test_drop_sequence_gap_and_malformed_frames_resubscribe_and_end_with_the_right_books() -> None:
    messages, books = script(3000)
    level2 = [i for i, m in enumerate(messages) if m.stream.startswith("level2:")]
    drop = level2[len(level2) // 3]
    skip = level2[2 * len(level2) // 3]
    bad_side = json.loads(messages[level2[10]].data)
    bad_side["sequence_num"] = 0
    bad_side["events"][0]["updates"][0]["new_quantity"] = "-1"
    faults = Faults(
        skip={skip},
        drop_after={drop},
        malformed={
            level2[5]: b'{"channel":"l2_data","client_id":"","timestamp":"2026-11-26T',
            level2[10]: json.dumps(bad_side).encode(),
        },
    )
    bus = ba.Bus(1 << 16)
    bus.add_poller("test")
    bus.start()

    async def main() -> tuple[CoinbaseAdapter, CoinbaseReplayServer]:
        async with CoinbaseReplayServer(messages, faults=faults) as server:
            adapter = adapter_for(server)
            adapter.bus = bus
            await run_until(server, adapter, lambda: book_matches(adapter, books))
            return adapter, server

    adapter, server = asyncio.run(main())
    bus.close()
    assert server.stats.drops == 1 and server.stats.skipped == 1
    c = adapter.counters
    assert c.connects == 2 and c.reconnects == 1
    assert c.gaps == 1  # the lost message; the new connection numbers from 0 again
    # Both books after the reconnect and again after the gap.
    assert c.resyncs == 4
    assert c.rejected["malformed_json"] == 1
    assert c.rejected["negative_quantity"] == 1
    assert c.rejected_total == 2


def test_unknown_channel_gets_the_venue_error_and_is_counted() -> None:
    messages, _ = script(50)

    async def main() -> CoinbaseAdapter:
        async with CoinbaseReplayServer(messages) as server:
            adapter = adapter_for(server)
            adapter._streams = ["level3:BTC-USD"]
            await run_while_waiting(
                adapter, lambda: adapter.counters.venue_errors >= 1, "an error reply"
            )
            return adapter

    adapter = asyncio.run(main())
    assert "level3" in (adapter.counters.last_error or "")
