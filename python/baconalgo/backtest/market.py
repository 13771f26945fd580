"""Market-data backtests: a :class:`~baconalgo.strategy.Strategy` over recorded trades,
quotes and L2 book events, its orders filled by the Rust ``MarketSim`` with a queue-position
model and order/response latencies, the risk engine in front when configured.

It is the paper session (:mod:`baconalgo.paper`) fed from a recording instead of the live
bus: the clock is the events' exchange time, so a backtest over the recorder's copy of a
paper session's bus gives that session's fills, and the same events give the same fills
whatever the chunking. ::

    from baconalgo import backtest
    from baconalgo.paper import PaperSettings
    result = backtest.run_market(MyStrategy(), "recordings/",   # a Recorder directory
                                 PaperSettings(tick_size=0.01, lot_size=1e-8))
    print(result.summary)
    result.fills           # polars DataFrames: fills and the order log

The book events must begin with a snapshot (as the adapters publish once synced, and as
the recorder keeps them): deltas before the first snapshot are not applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from baconalgo import recorder
from baconalgo.bus import EVENT_DTYPE
from baconalgo.paper import PaperSession, PaperSettings
from baconalgo.strategy import Strategy

if TYPE_CHECKING:
    from baconalgo.config import RiskConfig

Events = str | Path | npt.NDArray[np.void] | Iterable[npt.NDArray[np.void]]


@dataclass(frozen=True)
class MarketResult:
    """What a market-data backtest leaves: the fills and the order log as polars frames,
    the account and counters (``status``) and the printed ``summary``."""

    fills: pl.DataFrame
    orders: pl.DataFrame
    status: dict[str, Any]
    summary: str
    events: int


def _batches(events: Events, chunk_events: int) -> Iterable[npt.NDArray[np.void]]:
    if isinstance(events, str | Path):
        path = Path(events)
        if not path.is_dir():
            raise ValueError(f"events: {path} is not a recorder directory")
        return recorder.read(path, chunk_events=chunk_events)
    if isinstance(events, np.ndarray):
        if events.dtype != EVENT_DTYPE:
            raise TypeError(f"events: expected EVENT_DTYPE, got {events.dtype}")
        return (events[i : i + chunk_events] for i in range(0, len(events), chunk_events))
    return events


def run_market(
    strategy: Strategy | type[Strategy],
    events: Events,
    settings: PaperSettings,
    risk: RiskConfig | None = None,
    chunk_events: int = 1_000_000,
) -> MarketResult:
    """Runs ``strategy`` over ``events``: a Recorder directory (read in chunks of
    ``chunk_events``, memory bounded), an ``EVENT_DTYPE`` array, or batches of them."""
    if chunk_events <= 0:
        raise ValueError(f"chunk_events must be positive, got {chunk_events}")
    session = PaperSession(strategy, settings, risk)
    session.start()
    n = 0
    for batch in _batches(events, chunk_events):
        if batch.dtype != EVENT_DTYPE:
            raise TypeError(f"events: expected EVENT_DTYPE batches, got {batch.dtype}")
        session.on_batch(batch)
        n += len(batch)
    session.stop()
    return MarketResult(
        fills=pl.DataFrame(session.broker.fills()),
        orders=pl.DataFrame(session.broker.orders()),
        status=session.status(),
        summary=session.summary(),
        events=n,
    )


__all__ = ["MarketResult", "run_market"]
