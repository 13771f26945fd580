"""Binance spot and USD-M market data over the combined-stream websocket, with books kept
in Rust by ``BinanceBookSync`` from a REST depth snapshot (httpx) plus the diff stream.

Book procedure (PROTOCOLS.md 1.3/1.4): on every connection the books are reset and diffs
buffered; once a symbol's first diff is buffered its REST snapshot is fetched and the
buffer replayed on it. A gap in update ids (spot ``U != prev u + 1``, USD-M
``pu != prev u``) discards that book and fetches a new snapshot; a snapshot too old to
bridge the buffer is fetched again. Connections are renewed before Binance's 24-hour
limit, and at once on a ``serverShutdown`` event, by handover: the new connection is
opened and subscribed while the old one still delivers, and the adapter moves to it once
both carry the same message (duplicates dropped by sequence number: diff ``u``, trade
id, bookTicker ``u``), so no event is lost and the book needs no resync. If the old
connection dies first, the book sees any gap and resyncs from a snapshot.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any, Literal

import httpx
import numpy as np
import numpy.typing as npt

from baconalgo._core import BinanceBookSync, BinanceDecoder, Bus, OrderBook, now_ns
from baconalgo.adapters.base import Instrument, VenueLimits, WebsocketAdapter
from baconalgo.bus import EVENT_DTYPE, EventKind, Side
from baconalgo.errors import BusClosed, FeedError

log = logging.getLogger(__name__)

SPOT_WS_URL = "wss://stream.binance.com:9443/stream"
SPOT_REST_URL = "https://api.binance.com/api/v3/depth"
USDM_WS_URL = "wss://fstream.binance.com/public/stream"
USDM_REST_URL = "https://fapi.binance.com/fapi/v1/depth"

# Binance closes every connection after 24 h; renew a little before.
DEFAULT_MAX_CONNECTION_AGE = 23.5 * 3600


BinanceInstrument = Instrument


class BinanceAdapter(WebsocketAdapter):
    """Binance spot (``market="spot"``) or USD-M futures (``"usdm"``) market data."""

    def __init__(
        self,
        market: Literal["spot", "usdm"],
        instruments: Sequence[BinanceInstrument],
        bus: Bus | None = None,
        *,
        ws_url: str | None = None,
        rest_url: str | None = None,
        channels: Sequence[str] = ("depth@100ms", "bookTicker", "trade"),
        snapshot_limit: int = 5000,
        snapshot_retries: int = 5,
        snapshot_retry_delay: float = 0.2,
        max_connection_age: float | None = DEFAULT_MAX_CONNECTION_AGE,
        http_timeout: float = 10.0,
        handover_timeout: float = 30.0,
        publish_books: bool = False,
        **kwargs: Any,
    ) -> None:
        if market not in ("spot", "usdm"):
            raise ValueError(f"market must be 'spot' or 'usdm', got {market!r}")
        if not instruments:
            raise ValueError("at least one instrument is needed")
        self.market = market
        self.venue = f"binance-{market}"
        # Spot: 5 incoming messages/s; USD-M: 10 (PROTOCOLS.md 0). Keep a margin.
        self.limits = VenueLimits(1024, 4.0 if market == "spot" else 8.0)
        decoder = BinanceDecoder(market, [(i.symbol, i.tick, i.lot) for i in instruments])
        super().__init__(
            ws_url or (SPOT_WS_URL if market == "spot" else USDM_WS_URL),
            decoder,
            bus,
            max_connection_age=max_connection_age,
            handover_timeout=handover_timeout,
            # Spot pings every 20 s, USD-M every 3 min; the library answers them. Our own
            # pings only detect a dead connection sooner.
            ping_interval=kwargs.pop("ping_interval", 20.0 if market == "spot" else 180.0),
            ping_timeout=kwargs.pop("ping_timeout", 60.0 if market == "spot" else 600.0),
            **kwargs,
        )
        self.binance_decoder = decoder
        self.rest_url = rest_url or (SPOT_REST_URL if market == "spot" else USDM_REST_URL)
        self.snapshot_limit = snapshot_limit
        self.snapshot_retries = snapshot_retries
        self.snapshot_retry_delay = snapshot_retry_delay
        self.http_timeout = http_timeout
        self.instruments = list(instruments)
        self.syncs: dict[int, BinanceBookSync] = {}
        self.symbols: dict[int, str] = {}
        for inst in instruments:
            index = decoder.instrument_index(inst.symbol)
            assert index is not None  # the decoder was built from this list
            self.syncs[index] = BinanceBookSync(market, index)
            self.symbols[index] = inst.symbol
        self._resyncing: dict[int, asyncio.Task[None]] = {}
        self._first_sync_done: set[int] = set()
        self._http: httpx.AsyncClient | None = None
        self._next_id = 0
        # Paper trading keeps its own copy of each book from the bus: on each sync the
        # synchronised book goes onto the bus as a snapshot, so the diffs after it apply.
        self.publish_books = publish_books
        self._last_book_event: dict[int, tuple[int, int]] = {}
        self._streams = [f"{i.symbol.lower()}@{c}" for i in instruments for c in channels]

    # ---- subscription -----------------------------------------------------------------

    def _control(self, method: str, streams: Sequence[str]) -> list[str]:
        out = []
        step = self.limits.max_streams_per_message
        for i in range(0, len(streams), step):
            self._next_id += 1
            out.append(
                json.dumps(
                    {"method": method, "params": list(streams[i : i + step]), "id": self._next_id}
                )
            )
        return out

    def subscribe_messages(self, streams: Sequence[str]) -> list[str]:
        return self._control("SUBSCRIBE", streams)

    def unsubscribe_messages(self, streams: Sequence[str]) -> list[str]:
        return self._control("UNSUBSCRIBE", streams)

    # ---- books ------------------------------------------------------------------------

    async def on_connected(self) -> None:
        # Diffs sent while we were away are lost: every book restarts from a snapshot.
        for index, sync in self.syncs.items():
            sync.reset()
            self._start_resync(index)

    def handle_frame(self, data: bytes, ts_recv_ns: int | None = None) -> None:
        if b'"serverShutdown"' in data:
            self.counters.messages += 1
            self.counters.control += 1
            log.info("server shutdown announced", extra={"venue": self.venue})
            self.request_handover("serverShutdown")
            return
        super().handle_frame(data, ts_recv_ns)

    def on_batch(self, batch: npt.NDArray[np.void], frame: bytes) -> None:
        head = batch[0]
        if int(head["kind"]) != EventKind.BOOK_DELTA:
            return
        index = int(head["instrument"])
        sync = self.syncs.get(index)
        if sync is None:
            return
        self._last_book_event[index] = (int(batch[-1]["ts_event_ns"]), int(head["venue"]))
        if sync.on_events(batch) == "gap":
            self.counters.gaps += 1
            log.warning(
                "depth gap: resyncing from a new snapshot",
                extra={"venue": self.venue, "symbol": self.symbols[index]},
            )
            self._start_resync(index)

    def _start_resync(self, index: int) -> None:
        task = self._resyncing.get(index)
        if task is not None and not task.done():
            return
        self._resyncing[index] = asyncio.get_running_loop().create_task(self._resync(index))

    async def _resync(self, index: int) -> None:
        sync = self.syncs[index]
        symbol = self.symbols[index]
        # The documented order: buffer the stream first, then fetch the snapshot.
        for _ in range(200):
            if sync.buffered_diffs > 0 or self._stop.is_set():
                break
            await asyncio.sleep(0.01)
        for attempt in range(self.snapshot_retries):
            if self._stop.is_set() or not sync.needs_snapshot:
                return
            try:
                events = await self.fetch_snapshot(symbol)
            except (httpx.HTTPError, FeedError) as e:
                self.counters.last_error = f"snapshot {symbol}: {type(e).__name__}: {e}"
                log.warning(
                    "snapshot fetch failed",
                    extra={"venue": self.venue, "symbol": symbol, "error": str(e)},
                )
                await asyncio.sleep(self.snapshot_retry_delay * (attempt + 1))
                continue
            outcome, _ = sync.on_snapshot(events)
            if outcome == "synced":
                if index in self._first_sync_done:
                    self.counters.resyncs += 1
                self._first_sync_done.add(index)
                if self.publish_books:
                    self._publish_book(index)
                return
            log.info(
                "snapshot too old for the buffered diffs: fetching again",
                extra={"venue": self.venue, "symbol": symbol},
            )
            await asyncio.sleep(self.snapshot_retry_delay)
        log.warning("book not synced after retries", extra={"venue": self.venue, "symbol": symbol})

    def _publish_book(self, index: int) -> None:
        """The synchronised book onto the bus as a snapshot (begin, levels, end), timed
        like the last diff it includes: the REST snapshot carries no exchange time."""
        if self.bus is None:
            return
        sync = self.syncs[index]
        ts_event, venue = self._last_book_event.get(index, (0, 0))
        batch = book_snapshot_events(sync.book(), sync.last_update_id, ts_event, now_ns(), venue)
        try:
            self.bus.publish_batch(batch)
        except BusClosed:
            return
        self.counters.events += len(batch)

    async def fetch_snapshot(self, symbol: str) -> npt.NDArray[np.void]:
        """GETs the REST depth snapshot of ``symbol`` and decodes it (Rust)."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.http_timeout)
        r = await self._http.get(
            self.rest_url, params={"symbol": symbol, "limit": self.snapshot_limit}
        )
        r.raise_for_status()
        self.counters.snapshots += 1
        return self.binance_decoder.decode_snapshot(symbol, r.content, now_ns())

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            for task in self._resyncing.values():
                task.cancel()
            if self._http is not None:
                await self._http.aclose()
                self._http = None

    @property
    def books(self) -> dict[int, BinanceBookSync]:
        """The synchroniser of each instrument, by index (as other adapters' ``books``)."""
        return self.syncs

    def book_summary(self, symbol: str) -> dict[str, Any]:
        index = self.binance_decoder.instrument_index(symbol)
        if index is None or index not in self.syncs:
            raise KeyError(f"{self.venue}: no book for {symbol!r}")
        return self.syncs[index].summary()

    def venue_status(self) -> dict[str, Any]:
        return {
            "books": {self.symbols[i]: {**s.summary(), **s.stats()} for i, s in self.syncs.items()}
        }


def book_snapshot_events(
    book: OrderBook, seq: int, ts_event_ns: int, ts_recv_ns: int, venue: int = 0
) -> npt.NDArray[np.void]:
    """``book`` as the decoder writes a snapshot: ``BookSnapshotBegin``, one ``BookDelta``
    per level flagged SNAPSHOT (bids then asks, best first), ``BookSnapshotEnd`` flagged
    last in batch (tested equal to the decoder's own)."""
    bids, asks = (
        book.depth(Side.BID, book.levels(Side.BID)),
        book.depth(Side.ASK, book.levels(Side.ASK)),
    )
    n = len(bids) + len(asks)
    out = np.zeros(n + 2, dtype=EVENT_DTYPE)
    out["ts_event_ns"], out["ts_recv_ns"], out["seq"] = ts_event_ns, ts_recv_ns, seq
    out["instrument"], out["venue"] = book.instrument, venue
    out["kind"] = EventKind.BOOK_DELTA
    out["flags"] = _SNAPSHOT
    out[0]["kind"], out[0]["flags"] = EventKind.BOOK_SNAPSHOT_BEGIN, 0
    out[-1]["kind"], out[-1]["flags"] = EventKind.BOOK_SNAPSHOT_END, _LAST_IN_BATCH
    levels = np.concatenate([bids, asks]) if n else np.zeros((0, 2), dtype=np.int64)
    out["price_ticks"][1:-1], out["qty_lots"][1:-1] = levels[:, 0], levels[:, 1]
    out["side"][1 : 1 + len(bids)] = Side.BID
    out["side"][1 + len(bids) : -1] = Side.ASK
    return out


# flags of model/event.rs
_LAST_IN_BATCH, _SNAPSHOT = 1, 2
