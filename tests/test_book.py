"""The book bindings from Python: OrderBook against a plain-dict model, and the OKX and
Kraken synchronisers on the real cryptofeed captures (every checksum the venues sent
must match), with the errors a caller gets for bad input."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

import baconalgo as ba
from tests.adapters.common import received_frames

DATA = Path(__file__).resolve().parents[1] / "data" / "cryptofeed"


def deltas(rows: list[tuple[int, int, int]], snapshot: bool = False) -> np.ndarray:
    ev = ba.events(len(rows) + (2 if snapshot else 0))
    rows_at = 1 if snapshot else 0
    if snapshot:
        ev["kind"][0] = ba.EventKind.BOOK_SNAPSHOT_BEGIN
        ev["kind"][-1] = ba.EventKind.BOOK_SNAPSHOT_END
        ev["seq"][-1] = 42
    for i, (side, px, qty) in enumerate(rows):
        e = ev[rows_at + i]
        e["kind"], e["side"], e["price_ticks"], e["qty_lots"] = (
            ba.EventKind.BOOK_DELTA,
            side,
            px,
            qty,
        )
    return ev


def test_order_book_matches_a_dict_model_over_random_batches() -> None:
    rng = random.Random(5)
    book = ba.OrderBook(0)
    model: dict[int, dict[int, int]] = {1: {}, 2: {}}
    for _ in range(200):
        rows = [
            (rng.choice([1, 2]), rng.randrange(900, 1100), rng.choice([0, 0, 1, 5, 10]))
            for _ in range(rng.randrange(1, 50))
        ]
        stats = book.apply(deltas(rows))
        assert stats == {"levels": len(rows), "skipped": 0, "snapshots": 0}
        for side, px, qty in rows:
            if qty:
                model[side][px] = qty
            else:
                model[side].pop(px, None)
    bids = sorted(model[1].items(), reverse=True)
    asks = sorted(model[2].items())
    top_bids, top_asks = book.top(10_000)
    assert top_bids.tolist() == [list(x) for x in bids]
    assert top_asks.tolist() == [list(x) for x in asks]
    assert book.best_bid() == bids[0] and book.best_ask() == asks[0]
    assert book.spread() == asks[0][0] - bids[0][0]
    assert book.mid() == (asks[0][0] + bids[0][0]) / 2
    assert book.is_crossed() == (bids[0][0] >= asks[0][0])
    assert book.qty_at("bid", bids[-1][0]) == bids[-1][1]
    assert book.depth(ba.Side.ASK, 3).tolist() == [list(x) for x in asks[:3]]
    want = 7
    est = book.fill_estimate("buy", want)
    filled, notional, left = 0, 0, want
    for px, qty in asks:
        take = min(left, qty)
        filled, notional, left = filled + take, notional + take * px, left - take
        if not left:
            break
    assert (est["filled_lots"], est["notional"], est["complete"]) == (filled, notional, True)
    b5, a5 = sum(q for _, q in bids[:5]), sum(q for _, q in asks[:5])
    assert book.imbalance(5) == pytest.approx((b5 - a5) / (b5 + a5))


def test_snapshot_events_replace_the_book() -> None:
    book = ba.OrderBook()
    book.apply(deltas([(1, 100, 1), (2, 105, 1)]))
    stats = book.apply(deltas([(1, 99, 3), (2, 101, 4)], snapshot=True))
    assert stats["snapshots"] == 1
    assert (book.best_bid(), book.best_ask()) == ((99, 3), (101, 4))
    assert (book.last_seq, len(book)) == (42, 2)


def test_bad_input_gets_a_clear_error_and_changes_nothing() -> None:
    book = ba.OrderBook()
    book.apply(deltas([(1, 100, 1)]))
    with pytest.raises(TypeError, match="EVENT_DTYPE"):
        book.apply(np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="numpy array"):
        book.apply([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="side"):
        book.qty_at("middle", 100)
    with pytest.raises(ValueError, match="qty_lots"):
        book.set_level("bid", 100, -1)
    with pytest.raises(ValueError, match="market"):
        ba.BinanceBookSync("margin")
    with pytest.raises(ValueError, match="depth"):
        ba.KrakenBookSync(0, "0.01", "0.1", 7)
    assert book.best_bid() == (100, 1)


OKX_INSTRUMENTS = [
    ("BTC-USD-220527", "0.1", "1"),
    ("UNI-USD-SWAP", "0.001", "1"),
    ("BTC-USDT", "0.1", "0.00000001"),
]


def test_okx_sync_matches_every_checksum_of_the_real_capture() -> None:
    dec = ba.OkxDecoder(OKX_INSTRUMENTS)
    syncs = [ba.OkxBookSync(i, tick, lot) for i, (_, tick, lot) in enumerate(OKX_INSTRUMENTS)]
    outcomes: dict[str, int] = {}
    for frame in received_frames(DATA / "OKX.ws.1.0.gz"):
        batch = dec.decode(frame)
        for s in syncs:
            o = s.on_events(batch)
            outcomes[o] = outcomes.get(o, 0) + 1
    stats = [s.stats() for s in syncs]
    assert sum(s["checksums_ok"] for s in stats) == 290
    assert sum(s["checksum_mismatches"] + s["gaps"] for s in stats) == 0
    assert sum(s["snapshots"] for s in stats) == 3
    assert all(s.state == "synced" and not s.book().is_crossed() for s in syncs)
    assert dec.counters()["rejected"] == 0


def test_okx_sync_reports_a_checksum_mismatch_and_asks_for_a_resubscribe() -> None:
    dec = ba.OkxDecoder(OKX_INSTRUMENTS)
    sync = ba.OkxBookSync(2, "0.1", "0.00000001")
    frames = [f for f in received_frames(DATA / "OKX.ws.1.0.gz") if b'"BTC-USDT"' in f]
    books = [f for f in frames if b'"books"' in f and b'"action"' in f]
    assert sync.on_events(dec.decode(books[0])) == "snapshot"
    # A changed checksum on the first update: the book no longer matches the venue's.
    tampered = re.sub(rb'"checksum":-?\d+', b'"checksum":12345', books[1], count=1)
    assert tampered != books[1]
    assert sync.on_events(dec.decode(tampered)) == "checksum_mismatch"
    assert sync.needs_resync and sync.state == "needs_resync"
    assert sync.on_events(dec.decode(books[2])) == "awaiting_snapshot"


def test_kraken_sync_matches_every_checksum_of_the_real_capture() -> None:
    pairs = [
        ("WAVES/EUR", "0.0001", "0.00000001"),
        ("XMR/USD", "0.01", "0.00000001"),
        ("KSM/XBT", "0.000001", "0.00000001"),
        ("GRT/ETH", "0.0000001", "0.00000001"),
        ("SC/EUR", "0.00001", "0.00000001"),
        ("ETH/CHF", "0.01", "0.00000001"),
        ("OCEAN/XBT", "0.00000001", "0.00000001"),
        ("OMG/USD", "0.000001", "0.00000001"),
        ("XBT/CHF", "0.1", "0.00000001"),
        ("ADA/XBT", "0.00000001", "0.00000001"),
    ]
    dec = ba.KrakenDecoder(pairs)
    syncs = [ba.KrakenBookSync(i, t, lot, 1000) for i, (_, t, lot) in enumerate(pairs)]
    frames = received_frames(DATA / "KRAKEN.ws.50.0.gz")
    batch, rejected = dec.decode_many(frames, 1)
    # The capture's 31 heartbeats and 11 status events (data/README.md) are control.
    assert rejected == 0 and dec.counters()["control"] == 42
    by_instrument = {i: batch[batch["instrument"] == i] for i in range(len(pairs))}
    for i, s in enumerate(syncs):
        s.on_events(by_instrument[i])
    stats = [s.stats() for s in syncs]
    assert sum(s["checksums_ok"] for s in stats) == 4269
    assert sum(s["checksum_mismatches"] for s in stats) == 0
    assert all(s.state == "synced" for s in syncs)


def test_decoders_raise_feed_error_and_count_by_reason() -> None:
    for dec in (
        ba.OkxDecoder(OKX_INSTRUMENTS),
        ba.KrakenDecoder([("XBT/USD", "0.1", "0.00000001")]),
        ba.CoinbaseDecoder([("BTC-USD", "0.01", "0.00000001")]),
    ):
        with pytest.raises(ba.FeedError):
            dec.decode(b'{"not json')
        events, rejected = dec.decode_many([b"{", b"[", b"nope"])
        assert (len(events), rejected) == (0, 3)
        assert dec.counters()["malformed_json"] == 4
    with pytest.raises(TypeError, match=r"messages\[1\] must be bytes"):
        ba.OkxDecoder(OKX_INSTRUMENTS).decode_many([b"{}", "text"])  # type: ignore[list-item]
