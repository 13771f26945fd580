"""Normalized events to Parquet and back, for backtests.

Files are laid out hive-style, one folder per venue, instrument and UTC day of the local
receive time, so a reader can skip whole partitions::

    <root>/venue=<v>/instrument=<i>/date=<YYYY-MM-DD>/part-<n>.parquet

Every column of ``EVENT_DTYPE`` is stored with its own integer type, plus ``write_seq``,
the order in which the recorder received the events. ``read`` streams the events back in
receive order (``ts_recv_ns``, then ``write_seq``), one day at a time and in chunks, so
memory stays bounded by a day of data whatever the length of the recording.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from baconalgo.bus import EVENT_DTYPE

_FIELDS: list[str] = list(EVENT_DTYPE.names or ())
_DAY_NS = 86_400_000_000_000


def _day(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).strftime("%Y-%m-%d")


class Recorder:
    """Buffers events and writes them to Parquet partitions on ``flush``."""

    def __init__(self, root: str | Path, flush_events: int = 1_000_000) -> None:
        if flush_events <= 0:
            raise ValueError(f"flush_events must be positive, got {flush_events}")
        self.root = Path(root)
        self.flush_events = flush_events
        self._buffer: list[npt.NDArray[np.void]] = []
        self._buffered = 0
        self._write_seq = 0
        self._parts: dict[Path, int] = {}
        self.files: list[Path] = []

    def write(self, events: npt.NDArray[np.void]) -> None:
        """Adds a batch of ``EVENT_DTYPE`` events; flushes when enough are buffered."""
        if events.dtype != EVENT_DTYPE or events.ndim != 1:
            raise TypeError(f"events must be a 1-D EVENT_DTYPE array, got {events.dtype}")
        if len(events):
            self._buffer.append(events.copy())
            self._buffered += len(events)
        if self._buffered >= self.flush_events:
            self.flush()

    def flush(self) -> list[Path]:
        """Writes what is buffered, one file per (venue, instrument, day); returns them."""
        if not self._buffer:
            return []
        events = np.concatenate(self._buffer)
        self._buffer, self._buffered = [], 0
        frame = pl.DataFrame({name: events[name] for name in _FIELDS})
        frame = frame.with_columns(
            pl.Series(
                "write_seq",
                np.arange(self._write_seq, self._write_seq + len(events), dtype=np.uint64),
            ),
            (pl.col("ts_recv_ns") // _DAY_NS).alias("_day"),
        )
        self._write_seq += len(events)
        written = []
        for (venue, instrument, day), part in frame.group_by(
            ["venue", "instrument", "_day"], maintain_order=True
        ):
            folder = (
                self.root
                / f"venue={venue}"
                / f"instrument={instrument}"
                / f"date={_day(int(day) * _DAY_NS)}"
            )
            folder.mkdir(parents=True, exist_ok=True)
            n = self._parts.get(folder, len(list(folder.glob("part-*.parquet"))))
            self._parts[folder] = n + 1
            path = folder / f"part-{n:05d}.parquet"
            part.drop("_day").write_parquet(path)
            written.append(path)
        self.files.extend(written)
        return written

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _to_events(frame: pl.DataFrame) -> npt.NDArray[np.void]:
    out = np.zeros(frame.height, dtype=EVENT_DTYPE)
    for name in _FIELDS:
        out[name] = frame[name].to_numpy()
    return out


def read(
    root: str | Path,
    *,
    venue: int | None = None,
    instrument: int | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
    chunk_events: int = 1_000_000,
) -> Iterator[npt.NDArray[np.void]]:
    """Streams recorded events back in receive order, in ``EVENT_DTYPE`` chunks of at
    most ``chunk_events``, optionally only one venue / instrument and ``ts_recv_ns`` in
    ``[start_ns, end_ns)``."""
    if chunk_events <= 0:
        raise ValueError(f"chunk_events must be positive, got {chunk_events}")
    root = Path(root)
    days = sorted({p.name for p in root.glob("venue=*/instrument=*/date=*") if p.is_dir()})
    for day in days:
        venues = "*" if venue is None else str(venue)
        instruments = "*" if instrument is None else str(instrument)
        pattern = f"venue={venues}/instrument={instruments}/{day}/part-*.parquet"
        files = sorted(root.glob(pattern))
        if not files:
            continue
        lazy = pl.scan_parquet(files, hive_partitioning=False)
        if start_ns is not None:
            lazy = lazy.filter(pl.col("ts_recv_ns") >= start_ns)
        if end_ns is not None:
            lazy = lazy.filter(pl.col("ts_recv_ns") < end_ns)
        frame = lazy.sort(["ts_recv_ns", "write_seq"]).collect()
        for offset in range(0, frame.height, chunk_events):
            yield _to_events(frame.slice(offset, chunk_events))


__all__ = ["Recorder", "read"]
