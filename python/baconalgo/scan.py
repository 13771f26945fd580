"""The universe scanner: indicators for thousands of instruments at once (Rust, across
cores), filters, ranking, top N.

    result = scan(
        close, high, low,                       # (n_bars, n_instruments), C or F order
        indicators={"rsi": ("RSI", 14), "ema200": ("EMA", 200), "close": "CLOSE"},
        where=["rsi < 30", "close > ema200"],
        rank_by="rsi",
        top=20,
    )

The universe may also be a long polars DataFrame with columns ``instrument``, ``ts``,
``close`` (and ``high``, ``low`` for the indicators that need them; other columns are
ignored): ``scan(frame, indicators=...)``. Instruments may have different numbers of bars;
the result's ``names`` are the ``instrument`` values, ``instrument`` indexes them in sorted
order.

Indicator kinds: CLOSE, SMA, EMA, WMA, RSI, ROC, MOM (period); STDDEV, BBANDS_UPPER,
BBANDS_LOWER, BBANDS_PERCENT_B (period, nbdev); BBANDS_MIDDLE (period); ATR, NATR, ADX,
CCI, WILLR (period; need high and low). Values are TA-Lib's, taken at the last bar.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from baconalgo._core import scan as _scan
from baconalgo._core import scan_runs as _scan_runs

IndicatorSpec = str | Sequence[str | int | float]

_FILTER = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class ScanResult:
    """Selected instruments, best first, with every requested indicator value."""

    instrument: npt.NDArray[np.uint32]
    values: dict[str, npt.NDArray[np.float64]]
    passed: int
    names: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"instrument": self.instrument}
        if self.names is not None:
            out["name"] = [self.names[i] for i in self.instrument]
        return {**out, **self.values}


def _matrix(
    a: Any, name: str, shape: tuple[int, ...] | None, order: Literal["C", "F"] | None
) -> tuple[npt.NDArray[np.float64], Literal["C", "F"]]:
    """``a`` as float64 in ``order`` ("C" or "F"; for close, whichever it already has)."""
    m = np.asarray(a)
    if m.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_bars, n_instruments), got shape {m.shape}")
    if not (np.issubdtype(m.dtype, np.floating) or np.issubdtype(m.dtype, np.integer)):
        raise TypeError(f"{name} must be numeric, got {m.dtype}")
    if shape is not None and m.shape != shape:
        raise ValueError(f"{name} has shape {m.shape}, close has {shape}")
    if order is None:
        # The scanner reads either order as it is: copying a 40 MB matrix into the other
        # costs more than the scan.
        order = "C" if m.flags.c_contiguous and not m.flags.f_contiguous else "F"
    return np.asarray(m, dtype=np.float64, order=order), order


def _indicator(name: str, spec: IndicatorSpec) -> tuple[str, int, float]:
    parts: tuple[str | int | float, ...] = (spec,) if isinstance(spec, str) else tuple(spec)
    if not parts or not isinstance(parts[0], str) or len(parts) > 3:
        raise ValueError(f"indicator {name!r}: expected ('KIND', period[, param]), got {spec!r}")
    kind = parts[0].upper()
    period = int(parts[1]) if len(parts) > 1 else 0
    param = float(parts[2]) if len(parts) > 2 else 2.0
    return kind, period, param


def _long_frame(
    frame: pl.DataFrame,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64] | None,
    npt.NDArray[np.float64] | None,
    npt.NDArray[np.uint64],
    list[Any],
]:
    """Columns of a long (instrument, ts, ...) frame sorted by instrument then time, the
    offsets where each instrument starts, and the instruments in that order."""
    missing = [c for c in ("instrument", "ts", "close") if c not in frame.columns]
    if missing:
        raise ValueError(f"the universe frame lacks column(s) {missing}; has {frame.columns}")
    for key in ("instrument", "ts"):
        if (nulls := frame[key].null_count()) > 0:
            raise ValueError(f"the universe frame has {nulls} null value(s) in column {key!r}")
    fast = _sorted_runs(frame)
    if fast is not None:
        # Integer keys already in order: the runs are cut in Rust in one read of the two
        # key columns (polars' order check and run-length encoding took 3x the scan).
        sorted_frame, offsets = frame, fast
        starts = frame["instrument"].to_numpy()[offsets[:-1].astype(np.intp)]
        names: list[Any] = starts.tolist()
    else:
        inst, ts = pl.col("instrument"), pl.col("ts")
        in_order = (inst > inst.shift(1)) | ((inst == inst.shift(1)) & (ts >= ts.shift(1)))
        # Sorting 5 M rows costs more than the scan itself; a frame in order skips it.
        if frame.select(in_order.fill_null(True).all()).item():
            sorted_frame = frame
        else:
            sorted_frame = frame.sort("instrument", "ts", maintain_order=True)
        runs = sorted_frame.select(pl.col("instrument").rle()).unnest("instrument")
        offsets = np.zeros(len(runs) + 1, dtype=np.uint64)
        np.cumsum(runs["len"].to_numpy(), out=offsets[1:])
        names = runs["value"].to_list()

    def column(name: str) -> npt.NDArray[np.float64] | None:
        if name not in sorted_frame.columns:
            return None
        series = sorted_frame[name]
        if not series.dtype.is_numeric():
            raise TypeError(f"column {name!r} must be numeric, got {series.dtype}")
        return np.ascontiguousarray(series.cast(pl.Float64).to_numpy(), dtype=np.float64)

    close = column("close")
    assert close is not None
    return close, column("high"), column("low"), offsets, names


def _sorted_runs(frame: pl.DataFrame) -> npt.NDArray[np.uint64] | None:
    """The run offsets of a frame whose integer ``instrument`` and integer or temporal
    ``ts`` are already sorted; None when the keys are of other types or out of order."""
    key, ts = frame["instrument"], frame["ts"]
    if key.dtype not in (pl.Int32, pl.Int64) or len(frame) == 0:
        return None
    if ts.dtype.is_temporal():
        ts = ts.to_physical()
    if ts.dtype != pl.Int64:
        return None
    return _scan_runs(key.to_numpy(), ts.to_numpy())


def scan(
    close: Any,
    high: Any = None,
    low: Any = None,
    *,
    indicators: Mapping[str, IndicatorSpec],
    where: Sequence[str] = (),
    rank_by: str | None = None,
    descending: bool = False,
    top: int = 50,
    names: Sequence[str] | None = None,
) -> ScanResult:
    """Computes ``indicators`` for every instrument (a column of ``close``), keeps those
    passing every ``where`` condition (``"name op number"`` or ``"name op name"``), sorts
    by ``rank_by`` (NaN last) and returns the first ``top``. ``close`` may instead be a
    long polars DataFrame (see the module docstring); then ``high``/``low`` must be None."""
    offsets: npt.NDArray[np.uint64] | None = None
    row_major = False
    if isinstance(close, pl.DataFrame):
        if high is not None or low is not None:
            raise ValueError("with a DataFrame universe, high and low come from its columns")
        if names is not None:
            raise ValueError("with a DataFrame universe, names come from its instrument column")
        c_flat, h_flat, lo_flat, offsets, names = _long_frame(close)
        n_rows, n_instruments = 0, len(offsets) - 1
    else:
        c, order = _matrix(close, "close", None, None)
        h = None if high is None else _matrix(high, "high", c.shape, order)[0]
        lo = None if low is None else _matrix(low, "low", c.shape, order)[0]
        c_flat = c.ravel(order=order)
        h_flat = None if h is None else h.ravel(order=order)
        lo_flat = None if lo is None else lo.ravel(order=order)
        n_rows, n_instruments = c.shape
        row_major = order == "C"
    keys = list(indicators)
    index = {k: i for i, k in enumerate(keys)}
    filters: list[tuple[int, str, int | None, float]] = []
    for text in where:
        m = _FILTER.match(text)
        if m is None:
            raise ValueError(f"filter {text!r}: expected 'name <op> value' with op <, <=, >, >=")
        left, op, right = m.groups()
        if left not in index:
            raise ValueError(f"filter {text!r}: {left!r} is not one of the indicators {keys}")
        if right in index:
            filters.append((index[left], op, index[right], 0.0))
        else:
            try:
                filters.append((index[left], op, None, float(right)))
            except ValueError:
                raise ValueError(
                    f"filter {text!r}: {right!r} is neither a number nor an indicator"
                ) from None
    if rank_by is not None and rank_by not in index:
        raise ValueError(f"rank_by {rank_by!r} is not one of the indicators {keys}")
    if names is not None and len(names) != n_instruments:
        raise ValueError(f"names has {len(names)} entries for {n_instruments} instruments")
    instrument, values, passed = _scan(
        c_flat,
        n_rows,
        h_flat,
        lo_flat,
        [_indicator(k, spec) for k, spec in indicators.items()],
        filters,
        None if rank_by is None else index[rank_by],
        descending,
        top,
        offsets,
        row_major,
    )
    columns = {k: np.ascontiguousarray(values[:, i]) for i, k in enumerate(keys)}
    return ScanResult(instrument, columns, passed, None if names is None else list(names))


__all__ = ["IndicatorSpec", "ScanResult", "scan"]
