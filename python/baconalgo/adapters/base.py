"""What every websocket venue adapter shares: the connection loop (connect, subscribe,
receive, reconnect with exponential backoff and jitter, proactive reconnect before the
venue's connection lifetime), run-time subscribe/unsubscribe within the venue's stream and
message-rate limits, frame -> Rust decoder -> bus, and the counters ``/api/status`` reads.

A venue subclass says how to subscribe, what to do with each decoded batch (feed its Rust
book synchronisers) and how to resync a book; the base never parses a frame in Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import websockets
from websockets.asyncio.client import ClientConnection

from baconalgo._core import Bus, now_ns
from baconalgo.errors import BusClosed, FeedError
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
class VenueLimits:
    """A venue's published per-connection limits (see shared/PROTOCOLS.md)."""

    max_streams_per_connection: int
    # Control messages the client may send per second (pings and subscriptions count).
    max_messages_per_second: float
    # Streams named in one subscribe message.
    max_streams_per_message: int = 200


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
        self.counters = AdapterCounters()
        self.connected = asyncio.Event()
        self._rng = random.Random(seed)
        self._streams: list[str] = []
        self._ws: ClientConnection | None = None
        self._stop = asyncio.Event()
        self._limiter = _RateLimiter(self.limits.max_messages_per_second)
        self._decoder_counts = dict(decoder.counters())
        self._reconnect_reason: str | None = None

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

    async def keepalive(self, ws: ClientConnection) -> None:  # noqa: B027 - optional hook
        """Application-level pings, for venues that want them; runs per connection."""

    def venue_status(self) -> dict[str, Any]:
        """Venue-specific status (book states and synchroniser stats)."""
        return {}

    # ---- public API -------------------------------------------------------------------

    @property
    def streams(self) -> list[str]:
        return list(self._streams)

    async def subscribe(self, streams: Iterable[str]) -> None:
        """Adds streams; sends the subscription now if connected, else on connect."""
        new = [s for s in dict.fromkeys(streams) if s not in self._streams]
        if len(self._streams) + len(new) > self.limits.max_streams_per_connection:
            raise ValueError(
                f"{self.venue}: {len(self._streams) + len(new)} streams exceed the venue's "
                f"{self.limits.max_streams_per_connection} per connection"
            )
        self._streams.extend(new)
        if new and self._ws is not None:
            await self._send_all(self.subscribe_messages(new))

    async def unsubscribe(self, streams: Iterable[str]) -> None:
        gone = [s for s in dict.fromkeys(streams) if s in self._streams]
        self._streams = [s for s in self._streams if s not in gone]
        if gone and self._ws is not None:
            await self._send_all(self.unsubscribe_messages(gone))

    def stop(self) -> None:
        self._stop.set()

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
        attempt = 0
        while not self._stop.is_set():
            connected_at: float | None = None
            proactive = False
            try:
                async with websockets.connect(
                    self.url,
                    ping_interval=self.ping_interval,
                    ping_timeout=self.ping_timeout,
                    open_timeout=self.open_timeout,
                    max_size=2**24,
                    close_timeout=2.0,
                    compression=None,
                ) as ws:
                    connected_at = time.monotonic()
                    self._ws = ws
                    self.counters.connects += 1
                    if self.counters.connects > 1:
                        self.counters.reconnects += 1
                    self.connected.set()
                    attempt = 0
                    if self._streams:
                        await self._send_all(self.subscribe_messages(self._streams))
                    await self.on_connected()
                    proactive = await self._receive(ws, connected_at)
            except _Reconnect as r:
                proactive = r.proactive
                log.info("reconnecting", extra={"venue": self.venue, "reason": r.reason})
            except (OSError, TimeoutError, websockets.WebSocketException) as e:
                self.counters.last_error = f"{type(e).__name__}: {e}"
                log.warning(
                    "connection lost", extra={"venue": self.venue, "error": str(e) or repr(e)}
                )
            finally:
                self._ws = None
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

    # ---- internals --------------------------------------------------------------------

    async def _send_all(self, messages: Sequence[str]) -> None:
        ws = self._ws
        if ws is None:
            return
        for m in messages:
            await self._limiter.wait()
            await ws.send(m)
            self.counters.subscribe_messages += 1

    async def _receive(self, ws: ClientConnection, connected_at: float) -> bool:
        """Reads frames until the connection ends; True when it ended for a proactive
        reconnect (the venue's connection lifetime)."""
        keepalive = asyncio.create_task(self.keepalive(ws))
        stop_wait = asyncio.create_task(self._stop.wait())
        try:
            while not self._stop.is_set():
                timeout = None
                if self.max_connection_age is not None:
                    timeout = self.max_connection_age - (time.monotonic() - connected_at)
                    if timeout <= 0:
                        raise _Reconnect("connection age limit", proactive=True)
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
                    raise _Reconnect("connection age limit", proactive=True)
                frame = recv.result()
                self.handle_frame(frame.encode() if isinstance(frame, str) else frame)
                if self._reconnect_reason is not None:
                    reason, self._reconnect_reason = self._reconnect_reason, None
                    raise _Reconnect(reason, proactive=True)
            return False
        finally:
            keepalive.cancel()
            stop_wait.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive

    def handle_frame(self, data: bytes, ts_recv_ns: int | None = None) -> None:
        """One frame: decode in Rust, publish the batch, hand it to the books. A frame the
        decoder rejects is counted by reason and logged with the venue; never raised."""
        self.counters.messages += 1
        try:
            batch = self.decoder.decode(data, now_ns() if ts_recv_ns is None else ts_recv_ns)
        except FeedError as e:
            self._count_reject(str(e))
            return
        if not len(batch):
            self.counters.control += 1
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


def ws_url(base: str, path: str) -> str:
    """Joins a configured base URL and a path without doubling the slash."""
    return base.rstrip("/") + "/" + path.lstrip("/")
