from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

REPO = Path(__file__).resolve().parents[1]
SPOT_RECORDING = REPO / "data" / "binance" / "spot_btcusdt_20240808.gz"

_M1 = np.uint64(0xBF58476D1CE4E5B9)


def event_digests(events: npt.NDArray[np.void]) -> npt.NDArray[np.uint64]:
    """Independent numpy re-statement of the core's per-event digest (model/event.rs),
    used to prove consumers saw exactly the bytes producers published."""
    words = [
        events["ts_event_ns"],
        events["ts_recv_ns"],
        events["seq"],
        events["price_ticks"].astype(np.uint64),
        events["qty_lots"].astype(np.uint64),
        events["id"],
        events["aux"].astype(np.uint64),
        events["instrument"].astype(np.uint64)
        | (events["kind"].astype(np.uint64) << np.uint64(32))
        | (events["side"].astype(np.uint64) << np.uint64(40))
        | (events["venue"].astype(np.uint64) << np.uint64(48))
        | (events["flags"].astype(np.uint64) << np.uint64(56)),
    ]
    h = np.full(len(events), 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for w in words:
            h ^= w.astype(np.uint64)
            h *= _M1
            h ^= h >> np.uint64(31)
    return h


def digest_sum(events: npt.NDArray[np.void]) -> int:
    with np.errstate(over="ignore"):
        return int(event_digests(events).sum(dtype=np.uint64))


@pytest.fixture(scope="session")
def spot_recording() -> Path:
    assert SPOT_RECORDING.exists(), f"missing bundled recording {SPOT_RECORDING}"
    return SPOT_RECORDING
