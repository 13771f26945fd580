"""Bar sources for backtests, streamed in chunks so memory stays bounded by a chunk (a
day of recorded events for the recorder's layout) whatever the length of the data.

A source is one of:

* a polars ``DataFrame`` or ``LazyFrame`` with ``open, high, low, close`` (``volume``
  optional) and a time column: ``ts_ns`` (integer nanoseconds) or ``timestamp`` / ``ts`` /
  ``time`` / ``datetime`` (a datetime, or text polars can parse);
* a mapping of numpy arrays with the same names, or a numpy structured array;
* a path: a ``.parquet`` file (scanned lazily, one chunk at a time), a ``.csv`` /
  ``.csv.gz`` file, or a directory in the recorder's layout (``baconalgo.recorder``) whose
  BAR events (a run of four: open, high, low, close) become bars, prices converted from
  ticks with the instrument's tick size.

Each chunk is a :class:`BarChunk` of contiguous arrays: ``ts_ns`` (uint64), and float64
``open, high, low, close, volume``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from baconalgo.bus import EventKind

_TIME_COLUMNS = ("ts_ns", "timestamp", "ts", "time", "datetime", "date")
_PRICE_COLUMNS = ("open", "high", "low", "close")
_FINAL = 4  # EVENT_DTYPE flags bit 2


@dataclass(frozen=True, slots=True)
class BarChunk:
    ts_ns: npt.NDArray[np.uint64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.close)


def _ts_expr(frame_schema: Mapping[str, pl.DataType]) -> pl.Expr:
    for name in _TIME_COLUMNS:
        if name not in frame_schema:
            continue
        dtype = frame_schema[name]
        col = pl.col(name)
        if name == "ts_ns" or dtype.is_integer():
            return col.cast(pl.UInt64).alias("ts_ns")
        if dtype == pl.String:
            col = col.str.to_datetime(time_unit="ns", time_zone="UTC")
        elif isinstance(dtype, pl.Date):
            col = col.cast(pl.Datetime("ns"))
        return col.dt.cast_time_unit("ns").dt.epoch("ns").cast(pl.UInt64).alias("ts_ns")
    raise ValueError(
        f"bars need a time column: one of {', '.join(_TIME_COLUMNS)}; got {list(frame_schema)}"
    )


def _normalize(lazy: pl.LazyFrame) -> pl.LazyFrame:
    schema = lazy.collect_schema()
    missing = [c for c in _PRICE_COLUMNS if c not in schema]
    if missing:
        raise ValueError(f"bars are missing column(s) {missing}; got {list(schema)}")
    volume = pl.col("volume").cast(pl.Float64) if "volume" in schema else pl.lit(0.0)
    return lazy.select(
        _ts_expr(schema),
        *(pl.col(c).cast(pl.Float64) for c in _PRICE_COLUMNS),
        volume.alias("volume"),
    )


def _chunk(frame: pl.DataFrame) -> BarChunk:
    def f64(name: str) -> npt.NDArray[np.float64]:
        return np.ascontiguousarray(frame[name].to_numpy(), dtype=np.float64)

    nulls = {c: n for c, n in zip(frame.columns, frame.null_count().row(0), strict=True) if n}
    if nulls:
        raise ValueError(f"bars have missing values: {nulls}")
    return BarChunk(
        ts_ns=np.ascontiguousarray(frame["ts_ns"].to_numpy(), dtype=np.uint64),
        open=f64("open"),
        high=f64("high"),
        low=f64("low"),
        close=f64("close"),
        volume=f64("volume"),
    )


def _frames(lazy: pl.LazyFrame, chunk_bars: int) -> Iterator[BarChunk]:
    norm = _normalize(lazy)
    offset = 0
    while True:
        frame = norm.slice(offset, chunk_bars).collect()
        if frame.height == 0:
            return
        yield _chunk(frame)
        offset += frame.height
        if frame.height < chunk_bars:
            return


def _recorded(
    root: Path, chunk_bars: int, tick_size: float, instrument: int | None
) -> Iterator[BarChunk]:
    from baconalgo import recorder

    carry: npt.NDArray[np.void] | None = None
    # Four events a bar: read about a chunk of bars' worth of events at a time.
    for events in recorder.read(root, instrument=instrument, chunk_events=4 * chunk_bars):
        bars = events[(events["kind"] == EventKind.BAR) & ((events["flags"] & _FINAL) != 0)]
        if carry is not None and len(carry):
            bars = np.concatenate([carry, bars])
        # Runs start at aux 0; a run cut by the chunk's end waits for the next chunk.
        starts = np.flatnonzero(bars["aux"] == 0)
        whole = starts[starts + 3 < len(bars)]
        carry = bars[whole[-1] + 4 :] if len(whole) else bars
        if len(starts) and len(whole) < len(starts):
            carry = bars[starts[len(whole)] :]
        if not len(whole):
            continue
        run = np.stack([bars[whole + k] for k in range(4)])
        ok = np.all(run["aux"] == np.arange(4)[:, None], axis=0) & np.all(
            run["ts_event_ns"] == run["ts_event_ns"][0], axis=0
        )
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            raise ValueError(
                f"{root}: bar events at ts_event_ns={int(run['ts_event_ns'][0][bad])} are not "
                "an open/high/low/close run"
            )
        px = run["price_ticks"].astype(np.float64) * tick_size
        yield BarChunk(
            ts_ns=np.ascontiguousarray(run["ts_event_ns"][0], dtype=np.uint64),
            open=np.ascontiguousarray(px[0]),
            high=np.ascontiguousarray(px[1]),
            low=np.ascontiguousarray(px[2]),
            close=np.ascontiguousarray(px[3]),
            volume=np.ascontiguousarray(run["qty_lots"][3], dtype=np.float64),
        )


def iter_bars(
    source: Any,
    *,
    chunk_bars: int = 65_536,
    tick_size: float = 1.0,
    instrument: int | None = None,
) -> Iterator[BarChunk]:
    """Streams ``source`` (see the module docs) as :class:`BarChunk` s of at most
    ``chunk_bars`` bars. ``tick_size`` and ``instrument`` apply to recorder directories."""
    if chunk_bars <= 0:
        raise ValueError(f"chunk_bars must be positive, got {chunk_bars}")
    if isinstance(source, pl.DataFrame):
        yield from _frames(source.lazy(), chunk_bars)
    elif isinstance(source, pl.LazyFrame):
        yield from _frames(source, chunk_bars)
    elif isinstance(source, np.ndarray) and source.dtype.names:
        names = source.dtype.names
        yield from _frames(pl.DataFrame({n: source[n] for n in names}).lazy(), chunk_bars)
    elif isinstance(source, Mapping):
        yield from _frames(
            pl.DataFrame({k: np.asarray(v) for k, v in source.items()}).lazy(), chunk_bars
        )
    elif isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            yield from _recorded(path, chunk_bars, tick_size, instrument)
        elif not path.exists():
            raise FileNotFoundError(f"bar data {path} does not exist")
        elif path.suffix == ".parquet":
            yield from _frames(pl.scan_parquet(path), chunk_bars)
        elif path.name.endswith((".csv", ".csv.gz")):
            yield from _frames(pl.read_csv(path).lazy(), chunk_bars)
        else:
            raise ValueError(f"{path}: bar files are .parquet, .csv or .csv.gz, or a recorder dir")
    else:
        raise TypeError(
            "bars must be a polars DataFrame/LazyFrame, a mapping of numpy arrays, a numpy "
            f"structured array or a path; got {type(source).__name__}"
        )


def load_bars(source: Any, **kw: Any) -> pl.DataFrame:
    """The whole of ``source`` as one DataFrame (``ts_ns`` and the float columns)."""
    frames = [
        pl.DataFrame(
            {
                "ts_ns": c.ts_ns,
                "open": c.open,
                "high": c.high,
                "low": c.low,
                "close": c.close,
                "volume": c.volume,
            }
        )
        for c in iter_bars(source, **kw)
    ]
    if not frames:
        raise ValueError("no bars in the source")
    return pl.concat(frames)


__all__ = ["BarChunk", "iter_bars", "load_bars"]
