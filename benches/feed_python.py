"""Feeds and books from Python, side by side in one run:

* decoding the recording's Binance depth diffs: ``BinanceDecoder.decode_lines`` (one
  newline-separated buffer) and ``decode_many`` (a list of bytes), JSON to fixed-point
  events, against orjson and msgspec parsing the same messages;
* applying book deltas: ``OrderBook.apply`` on a numpy batch against nautilus_trader's
  ``OrderBook`` (L2_MBP), per delta and batched (``apply_deltas``).

    make bench-python-feed     (needs the bench extras: nautilus_trader, orjson, msgspec)
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import msgspec
import orjson

import baconalgo as ba

RECORDING = Path(__file__).resolve().parents[1] / "data" / "binance" / "spot_btcusdt_20240808.gz"
REPEATS = 7


def best(f: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


class Depth(msgspec.Struct):
    e: str
    E: int
    s: str
    U: int
    u: int
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]


class Wrapped(msgspec.Struct):
    stream: str
    data: Depth


def main() -> None:
    with gzip.open(RECORDING, "rb") as f:
        lines = [line.rstrip(b"\n").partition(b" ")[2] for line in f]
    diffs = [m for m in lines if b"@depth" in m[:40]]
    decoder = ba.BinanceDecoder("spot", [("BTCUSDT", "0.01", "0.00000001")])
    events, rejected = decoder.decode_many(diffs)
    assert rejected == 0
    typed = msgspec.json.Decoder(Wrapped)

    buffer = b"\n".join(diffs)
    lines, rejected = decoder.decode_lines(buffer)
    assert rejected == 0 and len(lines) == len(events)
    t_ours = best(lambda: decoder.decode_many(diffs))
    t_lines = best(lambda: decoder.decode_lines(buffer))
    t_orjson = best(lambda: [orjson.loads(m) for m in diffs])
    t_msgspec = best(lambda: [msgspec.json.decode(m) for m in diffs])
    t_typed = best(lambda: [typed.decode(m) for m in diffs])
    n = len(diffs)
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(
        f"{date.today()}, {n} depth diffs ({len(events)} level updates), best of {REPEATS}, "
        f"load average {' '.join(load)}\n"
    )
    print("| decode Binance depth diffs | messages/s | vs msgspec (typed) |")
    print("|---|---|---|")
    for name, t in (
        ("baconalgo BinanceDecoder.decode_lines (one buffer, to fixed-point events)", t_lines),
        ("baconalgo BinanceDecoder.decode_many (list of bytes, to fixed-point events)", t_ours),
        ("orjson.loads (to dicts of strings)", t_orjson),
        ("msgspec.json.decode (to dicts of strings)", t_msgspec),
        ("msgspec typed Struct (to tuples of strings)", t_typed),
    ):
        print(f"| {name} | {n / t / 1e6:.2f} M | {t_typed / t:.1f}x |")

    deltas = events[events["kind"] == ba.EventKind.BOOK_DELTA]
    book = ba.OrderBook(0)

    def ours_apply() -> None:
        book.clear()
        book.apply(deltas)

    t_book = best(ours_apply)
    rows = [("baconalgo OrderBook.apply (numpy batch)", t_book)]
    try:
        from nautilus_trader.model.book import OrderBook
        from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDeltas
        from nautilus_trader.model.enums import BookAction, BookType, OrderSide
        from nautilus_trader.model.identifiers import InstrumentId
        from nautilus_trader.model.objects import Price, Quantity

        iid = InstrumentId.from_str("BTCUSDT.BINANCE")
        nt = []
        for d in deltas:
            side = OrderSide.BUY if d["side"] == ba.Side.BID else OrderSide.SELL
            qty = int(d["qty_lots"])
            action = BookAction.DELETE if qty == 0 else BookAction.UPDATE
            order = BookOrder(
                side, Price(int(d["price_ticks"]) / 100, 2), Quantity(qty / 1e8, 8), 0
            )
            nt.append(OrderBookDelta(iid, action, order, 0, int(d["seq"]), 0, 0))
        batch = OrderBookDeltas(iid, nt)

        def nautilus_each() -> None:
            b = OrderBook(iid, BookType.L2_MBP)
            for x in nt:
                b.apply_delta(x)

        def nautilus_batch() -> None:
            OrderBook(iid, BookType.L2_MBP).apply_deltas(batch)

        rows.append(("nautilus_trader OrderBook.apply_delta (per delta)", best(nautilus_each)))
        rows.append(("nautilus_trader OrderBook.apply_deltas (batched)", best(nautilus_batch)))
    except ImportError:
        print("\nnautilus_trader not installed: pip install nautilus_trader")
    m = len(deltas)
    print(f"\n| apply {m} real level updates | updates/s | vs nautilus batched |")
    print("|---|---|---|")
    ref = rows[-1][1]
    for name, t in rows:
        print(f"| {name} | {m / t / 1e6:.1f} M | {ref / t:.1f}x |")


if __name__ == "__main__":
    main()
