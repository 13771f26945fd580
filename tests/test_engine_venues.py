"""The main job replaying the OKX and Kraken recordings: the engine starts the venue's
replay server and adapter from ``[replay] venue = ...`` and its top of book ends equal to
the book the Rust synchroniser rebuilds straight from the same recording."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import baconalgo as ba
from baconalgo.config import load_config
from baconalgo.engine import Engine
from tests.adapters.common import CRYPTOFEED, received_frames

CASES = {
    "okx": (
        CRYPTOFEED / "OKX.ws.1.0.gz",
        [("BTC-USDT", "0.1", "0.00000001"), ("UNI-USD-SWAP", "0.001", "1")],
    ),
    "kraken": (
        CRYPTOFEED / "KRAKEN.ws.50.0.gz",
        [("XMR/USD", "0.01", "0.00000001"), ("ETH/CHF", "0.01", "0.00000001")],
    ),
}


def expected_tops(venue: str) -> dict[str, tuple[int | None, int | None]]:
    path, instruments = CASES[venue]
    if venue == "okx":
        dec: ba.OkxDecoder | ba.KrakenDecoder = ba.OkxDecoder(instruments)
        syncs: list[ba.OkxBookSync | ba.KrakenBookSync] = [
            ba.OkxBookSync(i, t, lot) for i, (_, t, lot) in enumerate(instruments)
        ]
    else:
        dec = ba.KrakenDecoder(instruments)
        syncs = [ba.KrakenBookSync(i, t, lot, 1000) for i, (_, t, lot) in enumerate(instruments)]
    batch, _ = dec.decode_many(received_frames(path), 1)
    tops = {}
    for (symbol, _, _), s in zip(instruments, syncs, strict=True):
        s.on_events(batch)
        bid, ask = s.book().best_bid(), s.book().best_ask()
        tops[symbol] = (bid and bid[0], ask and ask[0])
    return tops


@pytest.mark.parametrize("venue", ["okx", "kraken"])
def test_main_job_replays_the_venue_into_its_books(venue: str, tmp_path: Path) -> None:
    path, instruments = CASES[venue]
    tables = "".join(
        f'[[replay.instruments]]\nsymbol = "{s}"\ntick = "{t}"\nlot = "{lot}"\n'
        for s, t, lot in instruments
    )
    toml = tmp_path / "config.toml"
    toml.write_text(
        f'[replay]\nvenue = "{venue}"\npath = "{path}"\nsymbol = "{instruments[0][0]}"\n'
        f"speed = 0\n{tables}"
    )
    engine = Engine(load_config(toml, environ={}))
    engine.start()
    try:
        deadline = time.monotonic() + 60
        while not engine.feed_done():
            assert time.monotonic() < deadline, engine.status()["components"]["feed"]
            time.sleep(0.05)
        tops = engine.top_of_book()
        feed = engine.status()["components"]["feed"]
    finally:
        engine.stop()
    assert feed["venue"] == venue and feed["rejected"] == 0 and feed["connects"] == 1
    for symbol, (bid, ask) in expected_tops(venue).items():
        top = tops[symbol]
        assert top["book_state"] == "synced"
        assert (top["bid_ticks"], top["ask_ticks"]) == (bid, ask)
        assert not top["crossed"]
