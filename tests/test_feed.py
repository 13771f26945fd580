"""The Binance decoder from Python on the bundled real recording: every message decodes,
prices land exactly on the grid, and bad messages raise FeedError and are counted."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import baconalgo as ba

BTC = [("BTCUSDT", "0.01", "0.00000001")]


def lines(path: Path) -> list[tuple[int, bytes]]:
    with gzip.open(path, "rb") as f:
        return [(int(ts), msg) for ts, _, msg in (ln.rstrip(b"\n").partition(b" ") for ln in f)]


def test_every_recorded_message_decodes_and_matches_the_wire_decimals(spot_recording: Path) -> None:
    dec = ba.BinanceDecoder("spot", BTC)
    checked_trades = 0
    for ts, msg in lines(spot_recording):
        if msg.startswith(b'{"lastUpdateId"'):
            ev = dec.decode_snapshot("BTCUSDT", msg, ts)
            assert ev["kind"][0] == ba.EventKind.BOOK_SNAPSHOT_BEGIN
            continue
        ev = dec.decode(msg, ts)
        assert (ev["ts_recv_ns"] == ts).all()
        data = json.loads(msg)["data"]
        if data.get("e") == "trade":
            # Independent check with Python's Decimal: ticks * 0.01 == the wire price.
            (t,) = ev
            assert Decimal(int(t["price_ticks"])) * Decimal("0.01") == Decimal(data["p"])
            assert Decimal(int(t["qty_lots"])) * Decimal("0.00000001") == Decimal(data["q"])
            assert t["id"] == data["t"] and t["ts_event_ns"] == data["T"] * 1_000_000
            checked_trades += 1
    c = dec.counters()
    assert c["rejected"] == 0
    assert c["decoded"] == 41_249
    assert checked_trades == 9_757


@pytest.mark.parametrize(
    ("message", "counter"),
    [
        (b'{"stream":"btcusdt@trade","data":{"e":"trade"', "malformed_json"),
        (
            b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":"x"}}',
            "bad_field",
        ),
        (
            b'{"stream":"x@trade","data":{"e":"trade","E":1,"s":"NOPE","t":1,"p":"1.00","q":"1",'
            b'"T":1,"m":true,"M":true}}',
            "unknown_symbol",
        ),
    ],
)
def test_bad_messages_raise_feederror_and_are_counted(message: bytes, counter: str) -> None:
    dec = ba.BinanceDecoder("spot", BTC)
    with pytest.raises(ba.FeedError, match="binance-spot"):
        dec.decode(message)
    c = dec.counters()
    assert c[counter] == 1 and c["rejected"] == 1 and c["decoded"] == 0


def test_bad_instrument_definitions_name_the_instrument() -> None:
    with pytest.raises(ValueError, match="ETHUSDT"):
        ba.BinanceDecoder("spot", [("ETHUSDT", "0.0x", "1")])
    with pytest.raises(ValueError, match="market"):
        ba.BinanceDecoder("margin", BTC)


def test_decoded_events_publish_onto_the_bus_unchanged(spot_recording: Path) -> None:
    dec = ba.BinanceDecoder("spot", BTC)
    bus = ba.Bus(1 << 17)
    bus.add_poller("p")
    bus.start()
    stream = [(ts, m) for ts, m in lines(spot_recording) if not m.startswith(b'{"lastUpdateId"')]
    sent = [dec.decode(m, ts) for ts, m in stream[:2000]]
    for batch in sent:
        bus.publish_batch(batch)
    got = bus.poll("p", 1 << 17)
    assert got.tobytes() == np.concatenate(sent).tobytes()
    bus.close()


def test_decode_lines_on_one_buffer_equals_decode_many_on_the_messages(
    spot_recording: Path,
) -> None:
    msgs = [msg for _, msg in lines(spot_recording) if not msg.startswith(b'{"lastUpdateId"')]
    many, rejected_many = ba.BinanceDecoder("spot", BTC).decode_many(msgs, 5)
    # CRLF line ends, blank lines and a malformed line in the middle of the buffer.
    buffer = b"\r\n".join(msgs[:100]) + b"\n\n{broken\n" + b"\n".join(msgs[100:])
    dec = ba.BinanceDecoder("spot", BTC)
    got, rejected = dec.decode_lines(buffer, 5)
    assert (rejected_many, rejected) == (0, 1)
    assert dec.counters()["malformed_json"] == 1
    np.testing.assert_array_equal(got, many)
