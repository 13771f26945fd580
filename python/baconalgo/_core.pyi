"""Type stubs of the compiled core (rust/py). Kept in step with the bindings."""

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

__version__: Final[str]
EVENT_DTYPE: Final[np.dtype[np.void]]
EVENT_KINDS: Final[dict[str, int]]
HANDLERS: Final[list[str]]

class BaconAlgoError(Exception): ...
class BusError(BaconAlgoError): ...
class BusFull(BusError): ...
class BusClosed(BusError): ...
class FeedError(BaconAlgoError): ...

def cpu_features() -> dict[str, bool]: ...
def now_ns() -> int: ...

class Bus:
    def __init__(
        self,
        capacity: int = 65536,
        producer: Literal["single", "multi"] | str = "single",
        wait: Literal["busy_spin", "yielding", "blocking"] | str = "yielding",
    ) -> None: ...
    def add_consumer(
        self, name: str, handler: str, after: Sequence[str] = ..., core: int | None = None
    ) -> None: ...
    def add_poller(self, name: str, after: Sequence[str] = ...) -> None: ...
    def start(self) -> None: ...
    def publish(
        self,
        kind: int,
        instrument: int = 0,
        price_ticks: int = 0,
        qty_lots: int = 0,
        side: int = 0,
        ts_event_ns: int = 0,
        ts_recv_ns: int | None = None,
        seq: int = 0,
        id: int = 0,
        aux: int = 0,
        venue: int = 0,
        flags: int = 0,
    ) -> None: ...
    def publish_batch(self, events: npt.NDArray[np.void], block: bool = True) -> int: ...
    def poll(
        self, name: str, max_events: int = 65536, timeout: float = 0.0
    ) -> npt.NDArray[np.void]: ...
    def poll_into(self, name: str, out: npt.NDArray[np.void], timeout: float = 0.0) -> int: ...
    def counters(self) -> dict[str, Any]: ...
    def handler_stats(self, name: str) -> dict[str, int]: ...
    def close(self) -> None: ...
    @property
    def started(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def capacity(self) -> int: ...
    def __enter__(self) -> Bus: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool: ...

class BinanceDecoder:
    def __init__(
        self,
        market: Literal["spot", "usdm"] | str,
        instruments: Sequence[tuple[str, str, str]],
        venue: int = 0,
    ) -> None: ...
    def decode(self, data: bytes, ts_recv_ns: int | None = None) -> npt.NDArray[np.void]: ...
    def decode_snapshot(
        self, symbol: str, data: bytes, ts_recv_ns: int | None = None
    ) -> npt.NDArray[np.void]: ...
    def instrument_index(self, symbol: str) -> int | None: ...
    def instrument(self, index: int) -> tuple[str, str, str]: ...
    def format_price(self, index: int, price_ticks: int) -> str: ...
    def counters(self) -> dict[str, int]: ...

class _BarsModule:
    @staticmethod
    def build(
        ts_ns: npt.NDArray[np.uint64],
        price_ticks: npt.NDArray[np.int64],
        qty_lots: npt.NDArray[np.int64],
        *,
        every_ns: int | None = None,
        offset_ns: int = 0,
        trades: int | None = None,
        volume_lots: int | None = None,
        notional: int | None = None,
    ) -> dict[str, npt.NDArray[Any]]: ...
    @staticmethod
    def resample(
        ts_open_ns: npt.NDArray[np.uint64],
        open: npt.NDArray[np.int64],
        high: npt.NDArray[np.int64],
        low: npt.NDArray[np.int64],
        close: npt.NDArray[np.int64],
        volume: npt.NDArray[np.int64],
        *,
        every_ns: int,
        offset_ns: int = 0,
        trades: npt.NDArray[np.uint64] | None = None,
    ) -> dict[str, npt.NDArray[Any]]: ...
    @staticmethod
    def from_events(events: npt.NDArray[np.void]) -> dict[str, npt.NDArray[Any]]: ...

    class LiveBars:
        def __init__(
            self,
            *,
            every_ns: int | None = None,
            offset_ns: int = 0,
            trades: int | None = None,
            volume_lots: int | None = None,
            notional: int | None = None,
        ) -> None: ...
        def on_events(
            self, events: npt.NDArray[np.void], ts_recv_ns: int = 0
        ) -> npt.NDArray[np.void]: ...
        def close_until(self, now_ns: int, ts_recv_ns: int = 0) -> npt.NDArray[np.void]: ...
        def partial(self) -> npt.NDArray[np.void]: ...

bars: _BarsModule

def scan(
    close: npt.NDArray[np.float64],
    n_rows: int,
    high: npt.NDArray[np.float64] | None,
    low: npt.NDArray[np.float64] | None,
    indicators: Sequence[tuple[str, int, float]],
    filters: Sequence[tuple[int, str, int | None, float]],
    rank_by: int | None,
    descending: bool,
    top: int,
) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64], int]: ...

SIGNAL_SUMMARY_AUX: Final[int]

class SignalEngine:
    def __init__(
        self,
        rules: Sequence[
            tuple[tuple[str, int, int], str, tuple[str, int, int] | None, float, float]
        ],
        fusion: str = "all",
        min_votes: int = 1,
        threshold: float = 1.0,
        side: int = 1,
        price_scale: float = 1.0,
        signal_id: int = 0,
    ) -> None: ...
    def on_events(self, events: npt.NDArray[np.void]) -> npt.NDArray[np.void]: ...
