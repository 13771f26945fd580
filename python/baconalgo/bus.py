"""The message bus: a Disruptor ring of 64-byte events shared by Rust consumer threads
and Python pollers.

`EVENT_DTYPE` is the numpy structured dtype of one event; its fields, in order:

============  ======  ==============================================================
field         type    meaning
============  ======  ==============================================================
ts_event_ns   u8      exchange (or venue) time, ns since the Unix epoch, UTC
ts_recv_ns    u8      local receive time, ns since the Unix epoch, UTC
seq           u8      venue sequence / update id (Binance ``u``, OKX seqId, ...)
price_ticks   i8      price in the instrument's ticks
qty_lots      i8      quantity in the instrument's lots; 0 deletes a book level
id            u8      trade id, order id or client order id, by kind
aux           i8      kind-specific (previous update id, reason code, ...)
instrument    u4      index into the instrument table
kind          u1      an :class:`EventKind`
side          u1      a :class:`Side`
venue         u1      index into the venue table
flags         u1      bit 0: last in batch, bit 1: snapshot, bit 2: final, bit 3: half ticks
============  ======  ==============================================================
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt

from baconalgo._core import EVENT_DTYPE as _EVENT_DTYPE
from baconalgo._core import EVENT_KINDS, HANDLERS, Bus

EVENT_DTYPE: np.dtype[np.void] = _EVENT_DTYPE


class EventKind(IntEnum):
    """What an event is; the ``kind`` field of EVENT_DTYPE (checked against the core)."""

    TRADE = 1
    QUOTE = 2
    BOOK_DELTA = 3
    BOOK_SNAPSHOT_BEGIN = 4
    BOOK_SNAPSHOT_END = 5
    BAR = 6
    SIGNAL = 7
    ORDER = 8
    EXEC_REPORT = 9
    RISK_STATE = 10
    HEARTBEAT = 11


# The Rust enum is the source of truth; a drift here is a packaging bug, caught at import.
if {k.name.lower(): k.value for k in EventKind} != dict(EVENT_KINDS):
    raise ImportError("baconalgo.bus.EventKind is out of step with the compiled core")


class Side(IntEnum):
    """Book side or order side; the ``side`` field of EVENT_DTYPE."""

    NONE = 0
    BUY = 1
    SELL = 2
    BID = 1
    ASK = 2


def events(n: int) -> npt.NDArray[np.void]:
    """A zeroed array of ``n`` events, ready to fill and publish."""
    return np.zeros(n, dtype=EVENT_DTYPE)


__all__ = ["EVENT_DTYPE", "HANDLERS", "Bus", "EventKind", "Side", "events"]
