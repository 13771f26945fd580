"""Bars from trades (time, tick, volume, dollar), time bars from quotes (mid, bid or ask),
resampling to higher timeframes, and live bars from trade or quote events. Prices are in
ticks and volumes in lots, as on the bus.

Time bars follow polars' ``group_by_dynamic(every, closed="left", label="left")``: a
bar's window is ``[ts_open_ns, ts_close_ns)`` and windows without trades give no bar.
On the bus a bar travels as four ``EventKind.BAR`` events (open, high, low, close; see
``baconalgo.bus``): ``LiveBars`` returns them ready to publish and ``from_events`` turns
them back into columns. ``LiveBars(every_ns=..., quotes="mid")`` follows quote events
instead of trades; a mid is carried in half ticks so that it stays exact, and its runs
carry the ``HALF_TICKS`` flag (``from_events``'s ``half_ticks`` column says which bars to
halve). A crossed live quote is skipped and counted (``skipped_quotes``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from baconalgo._core import bars as _bars

from_events = _bars.from_events
LiveBars = _bars.LiveBars

SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS

Columns = dict[str, npt.NDArray[Any]]


def _column(values: Any, dtype: type[np.generic], name: str) -> npt.NDArray[Any]:
    """A contiguous array of exactly ``dtype``; fields of an event array are strided
    views, so those are copied, but a value of another type is refused, not converted."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.dtype != dtype and not (
        np.issubdtype(array.dtype, np.integer) and np.can_cast(array.dtype, dtype, "safe")
    ):
        raise TypeError(f"{name} must be {np.dtype(dtype)}, got {array.dtype}")
    return np.ascontiguousarray(array, dtype=dtype)


def build(
    ts_ns: Any,
    price_ticks: Any,
    qty_lots: Any,
    *,
    every_ns: int | None = None,
    offset_ns: int = 0,
    trades: int | None = None,
    volume_lots: int | None = None,
    notional: int | None = None,
) -> Columns:
    """Bars of one instrument from time-ordered trades. Give exactly one of ``every_ns``
    (time bars aligned to ``offset_ns``), ``trades`` (tick bars), ``volume_lots`` (volume
    bars) or ``notional`` (dollar bars, in ticks x lots). Returns columns ``ts_open_ns,
    ts_close_ns, open, high, low, close, volume, trades, closed``; the last bar has
    ``closed`` False when its window or threshold was not reached."""
    return _bars.build(
        _column(ts_ns, np.uint64, "ts_ns"),
        _column(price_ticks, np.int64, "price_ticks"),
        _column(qty_lots, np.int64, "qty_lots"),
        every_ns=every_ns,
        offset_ns=offset_ns,
        trades=trades,
        volume_lots=volume_lots,
        notional=notional,
    )


def build_quotes(
    ts_ns: Any,
    bid_ticks: Any,
    ask_ticks: Any,
    *,
    every_ns: int,
    offset_ns: int = 0,
    price: Literal["mid", "bid", "ask"] = "mid",
) -> Columns:
    """Time bars of one instrument from time-ordered quotes (best bid and ask, in ticks),
    following the ``price`` of each quote. Returns ``ts_open_ns, ts_close_ns, open, high,
    low, close`` (float64, in ticks: a mid can fall on half a tick), ``quotes`` (how many
    quotes the bar saw) and ``closed``. A crossed quote (ask below bid) raises
    ``ValueError`` naming its index."""
    out = _bars.build_quotes(
        _column(ts_ns, np.uint64, "ts_ns"),
        _column(bid_ticks, np.int64, "bid_ticks"),
        _column(ask_ticks, np.int64, "ask_ticks"),
        every_ns=every_ns,
        offset_ns=offset_ns,
        price=price,
    )
    # The core carries a mid in half ticks so that it stays an exact integer.
    scale = 0.5 if price == "mid" else 1.0
    for name in ("open", "high", "low", "close"):
        out[name] = out[name].astype(np.float64) * scale
    out["quotes"] = out.pop("trades")
    del out["volume"]
    return out


def resample(
    ts_open_ns: Any,
    open: Any,
    high: Any,
    low: Any,
    close: Any,
    volume: Any,
    *,
    every_ns: int,
    offset_ns: int = 0,
    trades: Any = None,
) -> Columns:
    """Higher-timeframe bars from time-ordered lower ones (same columns as ``build``)."""
    return _bars.resample(
        _column(ts_open_ns, np.uint64, "ts_open_ns"),
        _column(open, np.int64, "open"),
        _column(high, np.int64, "high"),
        _column(low, np.int64, "low"),
        _column(close, np.int64, "close"),
        _column(volume, np.int64, "volume"),
        every_ns=every_ns,
        offset_ns=offset_ns,
        trades=None if trades is None else _column(trades, np.uint64, "trades"),
    )


__all__ = [
    "DAY_NS",
    "HOUR_NS",
    "MINUTE_NS",
    "SECOND_NS",
    "Columns",
    "LiveBars",
    "build",
    "build_quotes",
    "from_events",
    "resample",
]
