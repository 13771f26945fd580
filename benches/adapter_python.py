"""What an adapter adds to decoding, per frame, side by side in one run on the real
recordings (no network: the frames are handed to ``handle_frame`` as the receive loop
would):

* anchor: ``decoder.decode(frame)`` in a Python loop, one call per frame;
* ``adapter.handle_frame(frame)``: decode, publish on a started bus (a Rust consumer
  draining it), feed the venue's Rust book synchroniser, count.

    .venv/bin/python benches/adapter_python.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import baconalgo as ba
from baconalgo.adapters.base import Instrument, WebsocketAdapter
from baconalgo.adapters.binance import BinanceAdapter
from baconalgo.adapters.kraken import KrakenAdapter
from baconalgo.adapters.okx import OkxAdapter
from baconalgo.adapters.replay_server import read_binance_recording, read_cryptofeed_capture

DATA = Path(__file__).resolve().parents[1] / "data"
REPEATS = 5


def bus() -> ba.Bus:
    b = ba.Bus(1 << 16)
    b.add_consumer("checksum", "checksum")
    b.start()
    return b


def binance() -> tuple[str, list[bytes], Callable[[], WebsocketAdapter]]:
    messages, snapshot, _ = read_binance_recording(DATA / "binance" / "spot_btcusdt_20240808.gz")

    def make() -> WebsocketAdapter:
        a = BinanceAdapter("spot", [Instrument("BTCUSDT", "0.01", "0.00000001")], bus())
        sync = a.syncs[0]
        sync.on_snapshot(a.binance_decoder.decode_snapshot("BTCUSDT", snapshot))
        return a

    return "Binance spot BTCUSDT", [m.data for m in messages], make


def okx() -> tuple[str, list[bytes], Callable[[], WebsocketAdapter]]:
    frames = [
        f
        for _, f in read_cryptofeed_capture(DATA / "cryptofeed" / "OKX.ws.1.0.gz")
        if b'"event"' not in f[:12]
    ]
    inst = [
        Instrument("BTC-USD-220527", "0.1", "1"),
        Instrument("UNI-USD-SWAP", "0.001", "1"),
        Instrument("BTC-USDT", "0.1", "0.00000001"),
    ]
    return "OKX (3 instruments)", frames, lambda: OkxAdapter(inst, bus())


def kraken() -> tuple[str, list[bytes], Callable[[], WebsocketAdapter]]:
    frames = [
        f
        for _, f in read_cryptofeed_capture(DATA / "cryptofeed" / "KRAKEN.ws.50.0.gz")
        if f.startswith(b"[")
    ]
    pairs = [
        ("WAVES/EUR", "0.0001"), ("XMR/USD", "0.01"), ("KSM/XBT", "0.000001"),
        ("GRT/ETH", "0.0000001"), ("SC/EUR", "0.00001"), ("ETH/CHF", "0.01"),
        ("OCEAN/XBT", "0.00000001"), ("OMG/USD", "0.000001"), ("XBT/CHF", "0.1"),
        ("ADA/XBT", "0.00000001"),
    ]  # fmt: skip
    inst = [Instrument(p, t, "0.00000001") for p, t in pairs]
    return (
        "Kraken v1 book-1000 (10 pairs)",
        frames,
        lambda: KrakenAdapter(inst, bus(), protocol="v1", depth=1000),
    )


def decode_loop(frames: list[bytes], make: Callable[[], WebsocketAdapter]) -> float:
    dec = make().decoder
    t0 = time.perf_counter()
    for f in frames:
        dec.decode(f, 1)
    return time.perf_counter() - t0


def adapter_loop(frames: list[bytes], make: Callable[[], WebsocketAdapter]) -> float:
    adapter = make()
    t0 = time.perf_counter()
    for f in frames:
        adapter.handle_frame(f, 1)
    elapsed = time.perf_counter() - t0
    assert adapter.counters.rejected_total == 0, adapter.status()
    assert adapter.bus is not None
    adapter.bus.close()
    return elapsed


def main() -> None:
    print(f"date {date.today()}, load average {Path('/proc/loadavg').read_text().split()[:3]}")
    print("| recording | frames | decode loop (anchor) | adapter.handle_frame | ratio |")
    print("|---|---|---|---|---|")
    for name, frames, make in (binance(), okx(), kraken()):
        # Each timed call builds its adapter outside the clock; keep the best run.
        dec_s = min(decode_loop(frames, make) for _ in range(REPEATS))
        ad_s = min(adapter_loop(frames, make) for _ in range(REPEATS))
        n = len(frames)
        print(
            f"| {name} | {n:,} | {n / dec_s / 1e3:,.0f} k/s ({dec_s / n * 1e6:.2f} us) "
            f"| {n / ad_s / 1e3:,.0f} k/s ({ad_s / n * 1e6:.2f} us) | {dec_s / ad_s:.2f}x |"
        )


if __name__ == "__main__":
    main()
