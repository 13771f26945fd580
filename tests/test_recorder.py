"""Recorder round trip on the real recording: Parquet partitions by venue, instrument and
day, read back bit for bit in receive order, in chunks, with filters."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import baconalgo as ba
from baconalgo.recorder import Recorder, read


def decoded(path: Path) -> np.ndarray:
    dec = ba.BinanceDecoder(
        "spot", [("BTCUSDT", "0.01", "0.00000001"), ("ETHUSDT", "0.01", "0.0001")]
    )
    out = []
    with gzip.open(path, "rb") as f:
        for line in f:
            ts, _, msg = line.rstrip(b"\n").partition(b" ")
            if not msg.startswith(b'{"lastUpdateId"'):
                out.append(dec.decode(msg, int(ts)))
    return np.concatenate(out)


@pytest.fixture(scope="module")
def events(spot_recording: Path) -> np.ndarray:
    ev = decoded(spot_recording)
    # A second instrument and venue, and a day boundary, so every partition key varies.
    other = ev[:5000].copy()
    other["instrument"] = 1
    other["venue"] = 2
    day = 86_400_000_000_000
    mid = (int(other["ts_recv_ns"][0]) + int(other["ts_recv_ns"][-1])) // 2
    other["ts_recv_ns"] += np.uint64((mid // day + 1) * day - mid)  # midnight falls inside
    return np.concatenate([ev, other])


def test_round_trip_is_bit_for_bit_in_receive_order(tmp_path: Path, events: np.ndarray) -> None:
    with Recorder(tmp_path, flush_events=50_000) as rec:
        for chunk in np.array_split(events, 17):
            rec.write(chunk)
    dirs = sorted({p.parent.relative_to(tmp_path).as_posix() for p in rec.files})
    assert dirs == [
        "venue=0/instrument=0/date=2024-08-08",
        "venue=2/instrument=1/date=2024-08-08",
        "venue=2/instrument=1/date=2024-08-09",
    ]
    back = np.concatenate(list(read(tmp_path, chunk_events=20_000)))
    order = np.lexsort((np.arange(len(events)), events["ts_recv_ns"]))
    assert back.tobytes() == events[order].tobytes()
    # The files are ordinary Parquet: polars reads them with the hive columns.
    frame = pl.scan_parquet(tmp_path / "**/*.parquet", hive_partitioning=True).collect()
    assert frame.height == len(events)


def test_chunks_and_filters(tmp_path: Path, events: np.ndarray) -> None:
    with Recorder(tmp_path) as rec:
        rec.write(events)
    chunks = list(read(tmp_path, chunk_events=7_000))
    assert all(0 < len(c) <= 7_000 for c in chunks)
    start, end = int(events["ts_recv_ns"][1000]), int(events["ts_recv_ns"][30_000])
    got = np.concatenate(list(read(tmp_path, venue=0, instrument=0, start_ns=start, end_ns=end)))
    want = events[
        (events["venue"] == 0) & (events["ts_recv_ns"] >= start) & (events["ts_recv_ns"] < end)
    ]
    assert got.tobytes() == want.tobytes()
    assert list(read(tmp_path, instrument=9)) == []


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="EVENT_DTYPE"):
        Recorder(tmp_path).write(np.zeros(3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flush_events"):
        Recorder(tmp_path, flush_events=0)
    with pytest.raises(ValueError, match="chunk_events"):
        list(read(tmp_path, chunk_events=0))


def test_the_main_job_records_to_parquet_what_it_publishes(tmp_path: Path) -> None:
    """``[recorder] enabled``: a replay run of the main job writes every event published
    on the bus to Parquet; read back, they equal what a second poller saw."""
    from baconalgo.config import load_config
    from baconalgo.engine import Engine
    from baconalgo.errors import BusClosed

    config = load_config(
        None,
        environ={
            "BACONALGO__REPLAY__SPEED": "0",
            "BACONALGO__RECORDER__ENABLED": "true",
            "BACONALGO__RECORDER__PATH": str(tmp_path / "rec"),
            "BACONALGO__RECORDER__FLUSH_EVENTS": "50000",
        },
    )
    engine = Engine(config)
    engine.bus.add_poller("published")
    engine.start()
    seen = []
    try:
        while not engine.feed_done():
            seen.append(engine.bus.poll("published", 65536, 0.05))
    finally:
        engine.stop()
    try:
        while True:
            seen.append(engine.bus.poll("published", 65536, 0.05))
    except BusClosed:
        pass
    published = np.concatenate(seen)
    assert engine.recorder is not None
    status = engine.recorder.status()
    assert status["error"] is None and status["lost"] == 0
    assert status["events"] == len(published) > 100_000
    recorded = np.concatenate(list(read(tmp_path / "rec")))
    # The reader returns receive order: (ts_recv_ns, order written).
    expected = published[np.argsort(published["ts_recv_ns"], kind="stable")]
    np.testing.assert_array_equal(recorded, expected)
    assert engine.status()["components"]["recorder"]["files"] >= 3
