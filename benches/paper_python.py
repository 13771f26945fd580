"""Paper trading throughput on the bundled Binance recording (191,930 events: trades,
bookTicker quotes, depth levels), fed in bus-sized numpy batches.

* ``PaperSession`` with the example ``QuoteMaker`` (its Python callbacks included);
* ``PaperSession`` with a strategy that overrides nothing (venue + account only);
* the anchor, in the same run: a per-event Python loop that only keeps a dict book, the
  last trade and the quote from the same batches: the least a Python paper broker does
  per event before any matching, queue or account work.

Run: ``.venv/bin/python benches/paper_python.py`` (``make bench-paper``).
"""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

import baconalgo as ba
from baconalgo.bus import EventKind
from baconalgo.cli import load_strategy
from baconalgo.paper import PaperSession, PaperSettings

REPO = Path(__file__).resolve().parents[1]
RECORDING = REPO / "data" / "binance" / "spot_btcusdt_20240808.gz"
BATCH = 4096
REPEAT = 5


def events() -> npt.NDArray[np.void]:
    decoder = ba.BinanceDecoder("spot", [("BTCUSDT", "0.01", "0.00000001")])
    out = []
    snapshot_id = 0
    with gzip.open(RECORDING, "rb") as f:
        for line in f:
            ts, _, message = line.partition(b" ")
            if message.startswith(b'{"lastUpdateId"'):
                snap = decoder.decode_snapshot("BTCUSDT", message, int(ts))
                snapshot_id = int(snap["seq"][0])
                out.insert(0, snap)
            else:
                b = decoder.decode(message, int(ts))
                if b["kind"][0] == EventKind.BOOK_DELTA and int(b["seq"][0]) <= snapshot_id:
                    continue
                out.append(b)
    return np.concatenate(out)


def python_loop(batches: list[npt.NDArray[np.void]]) -> int:
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    last = (0, 0)
    quote = [0, 0]
    for batch in batches:
        for kind, side, px, qty in zip(
            batch["kind"].tolist(),
            batch["side"].tolist(),
            batch["price_ticks"].tolist(),
            batch["qty_lots"].tolist(),
            strict=True,
        ):
            if kind == 3:
                book = bids if side == 1 else asks
                if qty == 0:
                    book.pop(px, None)
                else:
                    book[px] = qty
            elif kind == 1:
                last = (px, qty)
            elif kind == 2:
                quote[side - 1] = px
    return len(bids) + len(asks) + last[0] + quote[0]


def session_run(cls: type[ba.Strategy], batches: list[npt.NDArray[np.void]]) -> int:
    s = PaperSession(cls, PaperSettings(0.01, 1e-8, taker_fee=0.001, maker_fee=0.001))
    s.start()
    for b in batches:
        s.on_batch(b)
    s.stop()
    return int(s.broker.counters()["fills"])


def best(fn: object, *args: object) -> float:
    times = []
    for _ in range(REPEAT):
        t = time.perf_counter()
        fn(*args)  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ev = events()
    batches = [ev[i : i + BATCH] for i in range(0, len(ev), BATCH)]
    maker = load_strategy(f"{REPO / 'examples' / 'quote_maker.py'}:QuoteMaker")

    class Idle(ba.Strategy):
        pass

    print(f"{len(ev):,} events in batches of {BATCH}, best of {REPEAT}")
    load = Path("/proc/loadavg").read_text().strip()
    print(f"load average: {load}  cpus: {os.cpu_count()}")
    anchor = best(python_loop, batches)
    rows = [
        ("PaperSession, QuoteMaker (Python callbacks)", best(session_run, maker, batches)),
        ("PaperSession, no callbacks (venue + account)", best(session_run, Idle, batches)),
        ("anchor: Python per-event loop, dict book only", anchor),
    ]
    print(f"fills (QuoteMaker): {session_run(maker, batches)}")
    for name, t in rows:
        print(f"{name:<48} {len(ev) / t / 1e6:6.2f} M events/s  {anchor / t:5.1f}x")


if __name__ == "__main__":
    main()
