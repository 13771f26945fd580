"""What every websocket venue adapter shares: the connection loop (connect, subscribe,
receive, reconnect with exponential backoff and jitter, proactive reconnect before the
venue's connection lifetime), run-time subscribe/unsubscribe within the venue's stream and
message-rate limits, application-level keepalive pings, frame -> Rust decoder -> bus, and
the counters ``/api/status`` reads.

A venue subclass says how to subscribe, what to do with each decoded batch (feed its Rust
book synchronisers) and how to resync a book; the base never parses a frame in Python.
``ResubscribingAdapter`` is the shared shape of the venues whose books recover by
subscribing the book channel again (OKX, Kraken, Coinbase): it keeps one book per
instrument and resubscribes on a gap or a checksum mismatch.

Streams are named ``"<channel>:<symbol>"`` (``"books:BTC-USDT"``), or just ``"<channel>"``
for a channel with no instrument (Coinbase ``heartbeats``); Binance keeps its own stream
names (``"btcusdt@trade"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import websockets
from websockets.asyncio.client import ClientConnection

from baconalgo._core import Bus, OrderBook, now_ns
from baconalgo.bus import EventKind
from baconalgo.errors import BusClosed, FeedError, SubscriptionLimitError
from baconalgo.feed import Decoder

log = logging.getLogger(__name__)

REJECT_REASONS = (
    "malformed_json",
    "bad_field",
    "negative_quantity",
    "bad_decimal",
    "unknown_symbol",
    "unsupported",
)


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: ``initial * factor**attempt`` capped at ``maximum``, each scaled
    by a random factor in ``[1 - jitter, 1]`` so that many clients do not reconnect in step
    ("equal jitter" keeps a floor, so a flapping venue is never hammered)."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError(f"backoff needs 0 <= initial <= maximum and factor >= 1: {self}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter must be in [0, 1], got {self.jitter}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt))
        return base * (1.0 - self.jitter * rng.random())


@dataclass(frozen=True)
class Instrument:
    """A venue symbol with its price tick and quantity lot, as decimal strings."""

    symbol: str
    tick: str
    lot: str


@dataclass(frozen=True)
class VenueLimits:
    """A venue's published per-connection limits (see docs/operations.md for sources).
    ``None`` means the venue publishes no such limit."""

    max_streams_per_connection: int | None
    # Control messages the client may send per second (pings and subscriptions count).
    max_messages_per_second: float
    # Streams named in one subscribe message.
    max_streams_per_message: int = 200
    # Subscribe/unsubscribe requests per connection per hour (OKX: 480).
    max_subscribe_requests_per_hour: int | None = None


def stream_key(channel: str, symbol: str | None = None) -> str:
    """``"books:BTC-USDT"``; a channel with no instrument is its own key."""
    return channel if symbol is None else f"{channel}:{symbol}"


def split_stream(stream: str) -> tuple[str, str | None]:
    """``"books:BTC-USDT"`` -> ``("books", "BTC-USDT")``; ``"heartbeats"`` -> ``(.., None)``."""
    channel, sep, symbol = stream.partition(":")
    return channel, (symbol if sep else None)


def chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


@dataclass
class AdapterCounters:
    """What an adapter has done since it was created."""

    messages: int = 0
    events: int = 0
    control: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))
    connects: int = 0
    reconnects: int = 0
    proactive_reconnects: int = 0
    resyncs: int = 0
    gaps: int = 0
    checksum_mismatches: int = 0
    snapshots: int = 0
    subscribe_messages: int = 0
    venue_errors: int = 0
    keepalive_pings: int = 0
    keepalive_timeouts: int = 0
    handovers: int = 0
    handover_duplicates: int = 0
    last_reject: str | None = None
    last_error: str | None = None

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "events": self.events,
            "control": self.control,
            "rejected": self.rejected_total,
            "rejected_by_reason": dict(self.rejected),
            "connects": self.connects,
            "reconnects": self.reconnects,
            "proactive_reconnects": self.proactive_reconnects,
            "resyncs": self.resyncs,
            "gaps": self.gaps,
            "checksum_mismatches": self.checksum_mismatches,
            "snapshots": self.snapshots,
            "subscribe_messages": self.subscribe_messages,
            "venue_errors": self.venue_errors,
            "keepalive_pings": self.keepalive_pings,
            "keepalive_timeouts": self.keepalive_timeouts,
            "handovers": self.handovers,
            "handover_duplicates": self.handover_duplicates,
            "last_reject": self.last_reject,
            "last_error": self.last_error,
        }


class _RateLimiter:
    """Spaces outgoing control messages to at most ``rate`` per second."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(now, self._next) + self.interval


@dataclass
class _Handover:
    """A new connection opened beside the current one, buffering until they overlap."""

    ws: ClientConnection
    started: float
    frames: list[tuple[npt.NDArray[np.void], bytes]] = field(default_factory=list)
    # (instrument, kind) -> first sequence number the new connection received.
    first_seq: dict[tuple[int, int], int] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None
    switched: bool = False


async def _close_quietly(ws: ClientConnection) -> None:
    with contextlib.suppress(websockets.WebSocketException, OSError):
        await ws.close()


class _Reconnect(Exception):
    """Raised inside the receive loop to leave the connection on purpose."""

    def __init__(self, reason: str, proactive: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.proactive = proactive


class WebsocketAdapter(ABC):
    """One websocket connection to a venue, kept up until ``stop()``.

    Subclasses implement the venue's subscribe messages, the per-batch book handling and
    the resync; ``run()`` is the whole life cycle and never raises on what the venue sends.
    """

    venue: str = "venue"
    limits: VenueLimits = VenueLimits(1024, 5.0)

    def __init__(
        self,
        url: str,
        decoder: Decoder,
        bus: Bus | None = None,
        *,
        backoff: Backoff | None = None,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 60.0,
        max_connection_age: float | None = None,
        open_timeout: float = 10.0,
        app_ping_interval: float | None = None,
        app_ping_timeout: float = 10.0,
        handover_timeout: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.url = url
        self.decoder = decoder
        self.bus = bus
        self.backoff = backoff or Backoff()
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_connection_age = max_connection_age
        self.open_timeout = open_timeout
        # Venue-level keepalive (OKX text "ping", Kraken ping event): sent after this much
        # silence; the connection is given up if nothing arrives within the timeout.
        self.app_ping_interval = app_ping_interval
        self.app_ping_timeout = app_ping_timeout
        # > 0: renew a connection by handover (see request_handover), giving up on an
        # overlap after this many seconds; 0: close, then reconnect.
        self.handover_timeout = handover_timeout
        self.counters = AdapterCounters()
        self.connected = asyncio.Event()
        self._rng = random.Random(seed)
        self._streams: list[str] = []
        self._ws: ClientConnection | None = None
        self._stop = asyncio.Event()
        self._limiter = _RateLimiter(self.limits.max_messages_per_second)
        self._decoder_counts = dict(decoder.counters())
        self._reconnect_reason: str | None = None
        self._last_frame_at = 0.0
        self._requests_sent: deque[float] = deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handover_reason: str | None = None
        self._last_seq: dict[tuple[int, int], int] = {}

    # ---- what a venue supplies -------------------------------------------------------

    @abstractmethod
    def subscribe_messages(self, streams: Sequence[str]) -> list[str]:
        """The control messages that subscribe ``streams`` (already chunked)."""

    @abstractmethod
    def unsubscribe_messages(self, streams: Sequence[str]) -> list[str]:
        """The control messages that unsubscribe ``streams``."""

    @abstractmethod
    def on_batch(self, batch: npt.NDArray[np.void], frame: bytes) -> None:
        """A decoded batch (already on the bus): feed the book synchronisers."""

    async def on_connected(self) -> None:  # noqa: B027 - optional hook
        """After subscribing on a new connection (reset books, start snapshot fetches)."""

    def ping_message(self) -> str | None:
        """The venue's application-level ping, if it wants one (``app_ping_interval``)."""
        return None

    async def keepalive(self, ws: ClientConnection) -> None:
        """Sends ``ping_message()`` after ``app_ping_interval`` of silence and closes the
        connection (so ``run`` reconnects) if nothing at all arrives within
        ``app_ping_timeout``: OKX drops a connection silent for 30 s, and a half-open TCP
        connection would otherwise look like a quiet market."""
        message, interval = self.ping_message(), self.app_ping_interval
        if message is None or interval is None:
            return
        while True:
            idle = time.monotonic() - self._last_frame_at
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            await self._limiter.wait()
            await ws.send(message)
            self.counters.keepalive_pings += 1
            sent_at = time.monotonic()
            await asyncio.sleep(self.app_ping_timeout)
            if self._last_frame_at < sent_at:
                self.counters.keepalive_timeouts += 1
                self.counters.last_error = (
                    f"no answer to a keepalive ping within {self.app_ping_timeout} s"
                )
                log.warning("keepalive timeout: reconnecting", extra={"venue": self.venue})
                await ws.close()
                return

    def venue_status(self) -> dict[str, Any]:
        """Venue-specific status (book states and synchroniser stats)."""
        return {}

    # ---- public API -------------------------------------------------------------------

    @property
    def streams(self) -> list[str]:
        return list(self._streams)

    async def subscribe(self, streams: Iterable[str]) -> None:
        """Adds streams; sends the subscription now if connected, else on connect.
        Raises SubscriptionLimitError, subscribing nothing, beyond the venue's limits."""
        new = [s for s in dict.fromkeys(streams) if s not in self._streams]
        cap = self.limits.max_streams_per_connection
        if cap is not None and len(self._streams) + len(new) > cap:
            raise SubscriptionLimitError(
                f"{self.venue}: {len(self._streams) + len(new)} streams would exceed the "
                f"venue's limit of {cap} per connection ({len(self._streams)} subscribed)"
            )
        if new and self._ws is not None:
            messages = self.subscribe_messages(new)
            self._check_request_budget(len(messages))
            self._streams.extend(new)
            await self._send_all(messages)
        else:
            self._streams.extend(new)

    async def unsubscribe(self, streams: Iterable[str]) -> None:
        gone = [s for s in dict.fromkeys(streams) if s in self._streams]
        if gone and self._ws is not None:
            messages = self.unsubscribe_messages(gone)
            self._check_request_budget(len(messages))
            self._streams = [s for s in self._streams if s not in gone]
            await self._send_all(messages)
        else:
            self._streams = [s for s in self._streams if s not in gone]

    def _check_request_budget(self, n: int) -> None:
        cap = self.limits.max_subscribe_requests_per_hour
        if cap is None:
            return
        self._forget_old_requests()
        if len(self._requests_sent) + n > cap:
            raise SubscriptionLimitError(
                f"{self.venue}: {n} more subscribe/unsubscribe requests would exceed the "
                f"venue's limit of {cap} per connection per hour "
                f"({len(self._requests_sent)} sent in the last hour)"
            )

    def _forget_old_requests(self) -> None:
        hour_ago = time.monotonic() - 3600.0
        while self._requests_sent and self._requests_sent[0] < hour_ago:
            self._requests_sent.popleft()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs ``work`` beside the receive loop; cancelled when ``run`` ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        self._stop.set()

    def last_seq(self, instrument: int, kind: int) -> int | None:
        """The sequence number of the last batch delivered for ``(instrument, kind)``
        (update id, trade id...), tracked for adapters that renew connections by handover."""
        return self._last_seq.get((instrument, int(kind)))

    def request_reconnect(self, reason: str) -> None:
        """Leaves the current connection at the next frame and reconnects at once."""
        self._reconnect_reason = reason

    def status(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "url": self.url,
            "connected": self.connected.is_set(),
            "streams": len(self._streams),
            **self.counters.as_dict(),
            "decoder": self.decoder.counters(),
            **self.venue_status(),
        }

    async def run(self) -> None:
        """Connects and keeps the connection up until ``stop()``."""
        try:
            await self._run()
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            connected_at: float | None = None
            proactive = False
            ws: ClientConnection | None = None
            try:
                ws = await self._connect()
                connected_at = self._last_frame_at = time.monotonic()
                self._ws = ws
                self.counters.connects += 1
                if self.counters.connects > 1:
                    self.counters.reconnects += 1
                self.connected.set()
                attempt = 0
                if self._streams:
                    await self._send_all(self.subscribe_messages(self._streams))
                await self.on_connected()
                while True:
                    outcome = await self._receive(ws, connected_at)
                    if isinstance(outcome, bool):
                        proactive = outcome
                        break
                    # Handed over: the new connection carries on, the old one is closed.
                    self.spawn(_close_quietly(ws))
                    ws = self._ws = outcome
                    connected_at = time.monotonic()
            except _Reconnect as r:
                proactive = r.proactive
                log.info("reconnecting", extra={"venue": self.venue, "reason": r.reason})
            except (OSError, TimeoutError, websockets.WebSocketException) as e:
                self.counters.last_error = f"{type(e).__name__}: {e}"
                log.warning(
                    "connection lost", extra={"venue": self.venue, "error": str(e) or repr(e)}
                )
            finally:
                if ws is not None:
                    await _close_quietly(ws)
                self._ws = None
                self._requests_sent.clear()  # the venue's budget is per connection
                self.connected.clear()
            if self._stop.is_set():
                break
            if proactive:
                self.counters.proactive_reconnects += 1
                continue
            # A connection that lived a while resets the backoff; one that failed at once
            # (or never opened) backs off further.
            if connected_at is not None and time.monotonic() - connected_at > 5.0:
                attempt = 0
            delay = self.backoff.delay(attempt, self._rng)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _connect(self) -> ClientConnection:
        return await websockets.connect(
            self.url,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            open_timeout=self.open_timeout,
            max_size=2**24,
            close_timeout=2.0,
            compression=None,
        )

    # ---- handover: a new connection before the old one closes ---------------------------

    def request_handover(self, reason: str) -> None:
        """Opens a new connection and moves to it once it overlaps the current one (or
        reconnects, for a venue without handover). Binance closes connections after 24 h
        and announces shutdowns; moving without a gap keeps every event and the book."""
        self._handover_reason = reason

    async def _start_handover(self, reason: str) -> _Handover | None:
        log.info(
            "handover: opening a new connection", extra={"venue": self.venue, "reason": reason}
        )
        ws: ClientConnection | None = None
        try:
            ws = await self._connect()
            if self._streams:
                await self._send_all(self.subscribe_messages(self._streams), ws)
        except (OSError, TimeoutError, websockets.WebSocketException) as e:
            self.counters.last_error = f"handover: {type(e).__name__}: {e}"
            log.warning("handover failed", extra={"venue": self.venue, "error": str(e)})
            if ws is not None:
                await _close_quietly(ws)
            return None
        self.counters.connects += 1
        handover = _Handover(ws, time.monotonic())
        handover.reader = asyncio.get_running_loop().create_task(self._buffer(handover))
        return handover

    async def _buffer(self, handover: _Handover) -> None:
        """Decodes the new connection's frames into the handover buffer (nothing is
        published yet) and notes the first sequence number of each stream."""
        with contextlib.suppress(websockets.WebSocketException):
            async for frame in handover.ws:
                data = frame.encode() if isinstance(frame, str) else frame
                ts = now_ns()
                try:
                    batch = self.decoder.decode(data, ts)
                except FeedError as e:
                    self.counters.messages += 1
                    self._count_reject(str(e))
                    continue
                handover.frames.append((batch, data))
                if len(batch):
                    key = (int(batch[0]["instrument"]), int(batch[0]["kind"]))
                    handover.first_seq.setdefault(key, int(batch[0]["seq"]))

    def _overlaps(self, handover: _Handover) -> bool:
        """True once the old connection has delivered a message the new one also holds:
        everything the venue sent before the new subscription has then been read."""
        return any(self._last_seq.get(key, -1) >= seq for key, seq in handover.first_seq.items())

    async def _finish_handover(self, handover: _Handover) -> ClientConnection:
        if handover.reader is not None:
            handover.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handover.reader
        duplicates = 0
        for batch, data in handover.frames:
            self.counters.messages += 1
            if len(batch):
                key = (int(batch[0]["instrument"]), int(batch[0]["kind"]))
                if int(batch[0]["seq"]) <= self._last_seq.get(key, -1):
                    duplicates += 1
                    continue
            self.process_batch(batch, data)
        handover.switched = True
        self.counters.handovers += 1
        self.counters.handover_duplicates += duplicates
        log.info(
            "handover done",
            extra={"venue": self.venue, "buffered": len(handover.frames), "duplicates": duplicates},
        )
        return handover.ws

    # ---- internals --------------------------------------------------------------------

    async def _send_quietly(self, messages: Sequence[str]) -> None:
        """``_send_all`` for work of the adapter's own: a connection lost meanwhile is
        the receive loop's business (it reconnects and subscribes everything again)."""
        with contextlib.suppress(websockets.WebSocketException):
            await self._send_all(messages)

    async def _send_all(self, messages: Sequence[str], ws: ClientConnection | None = None) -> None:
        """Sends control messages at the venue's pace, on ``ws`` or the current connection."""
        ws = ws or self._ws
        if ws is None:
            return
        for m in messages:
            await self._limiter.wait()
            await ws.send(m)
            self._requests_sent.append(time.monotonic())
            self.counters.subscribe_messages += 1

    async def _receive(self, ws: ClientConnection, connected_at: float) -> bool | ClientConnection:
        """Reads frames until the connection ends: True when it ended for a proactive
        reconnect (the venue's connection lifetime), False at ``stop()``, or the new
        connection a handover moved to."""
        keepalive = asyncio.create_task(self.keepalive(ws))
        stop_wait = asyncio.create_task(self._stop.wait())
        handover: _Handover | None = None
        try:
            while not self._stop.is_set():
                timeout = None
                if handover is not None:
                    timeout = handover.started + self.handover_timeout - time.monotonic()
                    if timeout <= 0:
                        log.warning("handover: no overlap in time", extra={"venue": self.venue})
                        return await self._finish_handover(handover)
                elif self._handover_reason is not None or (
                    self.max_connection_age is not None
                    and time.monotonic() - connected_at >= self.max_connection_age
                ):
                    reason = self._handover_reason or "connection age limit"
                    self._handover_reason = None
                    if self.handover_timeout <= 0:
                        raise _Reconnect(reason, proactive=True)
                    handover = await self._start_handover(reason)
                    if handover is None:
                        raise _Reconnect(reason, proactive=True)
                    continue
                elif self.max_connection_age is not None:
                    timeout = self.max_connection_age - (time.monotonic() - connected_at)
                recv = asyncio.create_task(ws.recv())
                done, _ = await asyncio.wait(
                    {recv, stop_wait}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if recv not in done:
                    recv.cancel()
                    with contextlib.suppress(asyncio.CancelledError, websockets.WebSocketException):
                        await recv
                    if self._stop.is_set():
                        return False
                    continue
                try:
                    frame = recv.result()
                except websockets.ConnectionClosed:
                    if handover is not None:
                        # The old connection ended first: whatever it missed, the new
                        # one has, or the books see a gap and resync.
                        return await self._finish_handover(handover)
                    raise
                self._last_frame_at = time.monotonic()
                self.handle_frame(frame.encode() if isinstance(frame, str) else frame)
                if handover is not None and self._overlaps(handover):
                    return await self._finish_handover(handover)
                if self._reconnect_reason is not None:
                    reason, self._reconnect_reason = self._reconnect_reason, None
                    raise _Reconnect(reason, proactive=True)
            return False
        finally:
            keepalive.cancel()
            stop_wait.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive
            if handover is not None and not handover.switched:
                if handover.reader is not None:
                    handover.reader.cancel()
                self.spawn(_close_quietly(handover.ws))

    def handle_frame(self, data: bytes, ts_recv_ns: int | None = None) -> None:
        """One frame: decode in Rust, publish the batch, hand it to the books. A frame the
        decoder rejects is counted by reason and logged with the venue; never raised."""
        self.counters.messages += 1
        try:
            batch = self.decoder.decode(data, now_ns() if ts_recv_ns is None else ts_recv_ns)
        except FeedError as e:
            self._count_reject(str(e))
            return
        self.process_batch(batch, data)

    def process_batch(self, batch: npt.NDArray[np.void], data: bytes) -> None:
        """A decoded frame: control, or events onto the bus and into the books."""
        if not len(batch):
            self.counters.control += 1
            errors = self.decoder.counters().get("venue_errors", 0)
            if errors != self._decoder_counts.get("venue_errors", 0):
                self._decoder_counts["venue_errors"] = errors
                self.counters.venue_errors += 1
                self.counters.last_error = data[:300].decode(errors="replace")
                log.warning(
                    "venue error reply",
                    extra={"venue": self.venue, "detail": self.counters.last_error},
                )
            self.on_control(data)
            return
        if self.bus is not None:
            try:
                self.bus.publish_batch(batch)
            except BusClosed:
                log.info("bus closed: adapter stopping", extra={"venue": self.venue})
                self.stop()
                return
        self.counters.events += len(batch)
        if self.handover_timeout > 0:
            # Per stream, the last sequence number delivered: what a handover compares.
            head = batch[0]
            self._last_seq[(int(head["instrument"]), int(head["kind"]))] = int(head["seq"])
        self.on_batch(batch, data)

    def on_control(self, data: bytes) -> None:  # noqa: B027 - optional hook
        """A frame that decoded to no events (a reply, a heartbeat)."""

    def _count_reject(self, message: str) -> None:
        counts = self.decoder.counters()
        reason = next(
            (r for r in REJECT_REASONS if counts[r] != self._decoder_counts.get(r, 0)),
            "unsupported",
        )
        self._decoder_counts = dict(counts)
        self.counters.rejected[reason] += 1
        self.counters.last_reject = message
        log.warning(
            "rejected frame", extra={"venue": self.venue, "reason": reason, "detail": message}
        )


_BOOK_KIND_SET = frozenset(
    int(k)
    for k in (EventKind.BOOK_DELTA, EventKind.BOOK_SNAPSHOT_BEGIN, EventKind.BOOK_SNAPSHOT_END)
)


def _is_book(kinds: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    book: npt.NDArray[np.bool_] = (
        (kinds == EventKind.BOOK_DELTA)
        | (kinds == EventKind.BOOK_SNAPSHOT_BEGIN)
        | (kinds == EventKind.BOOK_SNAPSHOT_END)
    )
    return book


class BookKeeper(Protocol):
    """What ``ResubscribingAdapter`` needs of a book: the Rust ``OkxBookSync`` and
    ``KrakenBookSync``, or ``SnapshotBook``."""

    def on_events(self, events: npt.NDArray[np.void]) -> str: ...
    def reset(self) -> None: ...
    @property
    def state(self) -> str: ...
    def book(self) -> OrderBook: ...
    def summary(self) -> dict[str, Any]: ...
    def stats(self) -> dict[str, int]: ...


class SnapshotBook:
    """A book for a venue that guards it with no checksum or id of its own (Coinbase:
    the connection-wide ``sequence_num`` is checked by the decoder): a snapshot replaces
    the Rust ``OrderBook``, updates apply only while synced, ``reset`` waits for the next
    snapshot. Outcomes use ``OkxBookSync``'s names."""

    def __init__(self, instrument: int) -> None:
        self.instrument = instrument
        self._book = OrderBook(instrument)
        self._state = "awaiting_snapshot"
        self._stats = {"snapshots": 0, "applied": 0, "ignored": 0}

    def on_events(self, events: npt.NDArray[np.void]) -> str:
        mine = events[(events["instrument"] == self.instrument) & _is_book(events["kind"])]
        if not len(mine):
            return "not_a_book_message"
        snapshot = bool((mine["kind"] == EventKind.BOOK_SNAPSHOT_BEGIN).any())
        if not snapshot and self._state != "synced":
            self._stats["ignored"] += 1
            return "awaiting_snapshot"
        self._book.apply(mine)
        if snapshot:
            self._state = "synced"
            self._stats["snapshots"] += 1
            return "snapshot"
        self._stats["applied"] += 1
        return "applied"

    def reset(self) -> None:
        self._book.clear()
        self._state = "awaiting_snapshot"

    @property
    def state(self) -> str:
        return self._state

    def book(self) -> OrderBook:
        return self._book.copy()

    def summary(self) -> dict[str, Any]:
        return {
            "state": self._state,
            "best_bid": self._book.best_bid(),
            "best_ask": self._book.best_ask(),
            "bid_levels": self._book.levels("bid"),
            "ask_levels": self._book.levels("ask"),
            "last_seq": self._book.last_seq,
            "crossed": self._book.is_crossed(),
        }

    def stats(self) -> dict[str, int]:
        return dict(self._stats)


class ResubscribingAdapter(WebsocketAdapter):
    """A venue whose books recover by subscribing the book channel again, which makes
    the venue send a fresh snapshot (OKX, Kraken, Coinbase). One book per instrument;
    a gap or checksum mismatch reported by the book (or, for Coinbase, by the decoder)
    sends unsubscribe + subscribe for that book's stream; updates in flight are ignored
    by the book until the snapshot arrives. A new connection resets every book."""

    book_channel: str = "books"

    def __init__(
        self,
        url: str,
        decoder: Decoder,
        instruments: Sequence[Instrument],
        channels: Sequence[str],
        bus: Bus | None = None,
        **kwargs: Any,
    ) -> None:
        if not instruments:
            raise ValueError(f"{self.venue}: at least one instrument is needed")
        super().__init__(url, decoder, bus, **kwargs)
        self.instruments = list(instruments)
        self.symbols: dict[int, str] = {}
        self.books: dict[int, BookKeeper] = {}
        for inst in instruments:
            index = decoder.instrument_index(inst.symbol)
            if index is None:  # the decoder was built from this list
                raise ValueError(f"{self.venue}: {inst.symbol!r} missing from the decoder")
            self.symbols[index] = inst.symbol
            self.books[index] = self.make_book(index, inst)
        self._indices = {symbol: index for index, symbol in self.symbols.items()}
        self._streams = [stream_key(c, i.symbol) for i in instruments for c in channels]
        self._resubscribing: set[int] = set()
        self._synced_once: set[int] = set()

    @abstractmethod
    def make_book(self, index: int, instrument: Instrument) -> BookKeeper:
        """The book kept for one instrument."""

    async def subscribe(self, streams: Iterable[str]) -> None:
        streams = list(streams)
        for stream in streams:
            symbol = split_stream(stream)[1]
            if symbol is not None and symbol not in self._indices:
                raise ValueError(
                    f"{self.venue}: {symbol!r} (stream {stream!r}) is not one of this "
                    f"adapter's instruments {sorted(self._indices)}"
                )
        await super().subscribe(streams)

    async def unsubscribe(self, streams: Iterable[str]) -> None:
        streams = list(streams)
        await super().unsubscribe(streams)
        for stream in streams:
            channel, symbol = split_stream(stream)
            if channel == self.book_channel and symbol in self._indices:
                # No longer kept in step: never report a stale book as synced.
                self.books[self._indices[symbol]].reset()

    async def on_connected(self) -> None:
        # What the venue sent while we were away is lost: every book waits for the
        # snapshot the (re)subscription brings.
        for book in self.books.values():
            book.reset()
        self._resubscribing.clear()

    def on_batch(self, batch: npt.NDArray[np.void], frame: bytes) -> None:
        # A frame is one venue message, and every decoder makes a message's events all
        # book events or none: the first event says which.
        if int(batch["kind"][0]) not in _BOOK_KIND_SET:
            return
        instruments = batch["instrument"]
        first = int(instruments[0])
        if instruments[-1] == first and (instruments == first).all():
            indices = [first]
        else:  # Coinbase may carry several products in one l2_data message
            indices = np.unique(instruments).tolist()
        for index in indices:
            book = self.books.get(int(index))
            if book is not None:
                self.on_book_outcome(int(index), book.on_events(batch))

    def on_book_outcome(self, index: int, outcome: str) -> None:
        if outcome == "snapshot":
            if index in self._synced_once:
                self.counters.resyncs += 1
            self._synced_once.add(index)
            self._resubscribing.discard(index)
        elif outcome in ("gap", "checksum_mismatch"):
            if outcome == "gap":
                self.counters.gaps += 1
            else:
                self.counters.checksum_mismatches += 1
            log.warning(
                "book broken: resubscribing",
                extra={"venue": self.venue, "symbol": self.symbols[index], "reason": outcome},
            )
            self.resubscribe_book(index)

    def resubscribe_book(self, index: int) -> None:
        """Unsubscribes and subscribes the book stream of ``index`` (once while pending)."""
        if index in self._resubscribing:
            return
        self.books[index].reset()
        stream = stream_key(self.book_channel, self.symbols[index])
        if stream not in self._streams or self._ws is None:
            return  # a new connection subscribes it anyway
        self._resubscribing.add(index)
        messages = self.unsubscribe_messages([stream]) + self.subscribe_messages([stream])
        self.spawn(self._send_quietly(messages))

    def book_summary(self, symbol: str) -> dict[str, Any]:
        index = self._indices.get(symbol)
        if index is None:
            raise KeyError(f"{self.venue}: no book for {symbol!r}")
        return self.books[index].summary()

    def venue_status(self) -> dict[str, Any]:
        return {
            "books": {self.symbols[i]: {**b.summary(), **b.stats()} for i, b in self.books.items()}
        }


def ws_url(base: str, path: str) -> str:
    """Joins a configured base URL and a path without doubling the slash."""
    return base.rstrip("/") + "/" + path.lstrip("/")
