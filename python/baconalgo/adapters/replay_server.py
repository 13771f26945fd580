"""A local stand-in for a venue, for tests and the demo: a websockets server on 127.0.0.1
that plays a recording as the venue would, plus the venue's REST depth endpoint on the
same port.

Binance (``data/binance/*.gz``, ``<ts_ns> <json>`` per line): clients connect to
``/stream`` (optionally ``?streams=a/b``) and send ``SUBSCRIBE``/``UNSUBSCRIBE``; each
recorded combined-stream message goes to the clients subscribed to its stream, at recorded
pace times ``speed`` (0 = as fast as the clients read).
``GET /api/v3/depth?symbol=..&limit=..`` (or ``/fapi/v1/depth``) answers with the venue's
book *now*: the recorded REST snapshot with every recorded diff played so far that is newer
than it applied. So a client that resyncs after a fault gets what Binance would give it.

The recording advances only while some client is subscribed (the venue pauses while
nobody listens), which keeps runs deterministic. Faults, by index of the streamed message:
``skip`` (never sent: a gap; the venue's book still moves), ``malformed`` (a bad frame sent
before the message), ``drop_after`` (the TCP connection is aborted after the message).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

log = logging.getLogger(__name__)

_SNAPSHOT_PREFIX = b'{"lastUpdateId"'


@dataclass
class Faults:
    """Faults to inject, by index of the streamed message (0 = first streamed)."""

    skip: set[int] = field(default_factory=set)
    malformed: dict[int, bytes] = field(default_factory=dict)
    drop_after: set[int] = field(default_factory=set)


@dataclass
class ReplayStats:
    position: int = 0
    sent: int = 0
    skipped: int = 0
    malformed_sent: int = 0
    drops: int = 0
    replies: int = 0
    connections: int = 0
    snapshots_served: int = 0


@dataclass
class _Message:
    ts_ns: int
    stream: str
    data: bytes


def read_binance_recording(path: Path) -> tuple[list[_Message], bytes, int]:
    """``(streamed messages, REST snapshot body, index of the first message after the
    snapshot)`` from a ``<ts_ns> <json>`` recording."""
    messages: list[_Message] = []
    snapshot = b""
    snapshot_at = 0
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            ts, sep, body = line.partition(b" ")
            if not sep or not ts.isdigit():
                raise ValueError(f"{path}:{lineno}: expected '<ts_ns> <json>'")
            if body.startswith(_SNAPSHOT_PREFIX):
                snapshot, snapshot_at = body, len(messages)
                continue
            # Combined-stream frames start with {"stream":"<name>", ...
            start = body.find(b'"stream":"')
            if start < 0:
                raise ValueError(f"{path}:{lineno}: not a combined-stream message")
            start += len(b'"stream":"')
            stream = body[start : body.index(b'"', start)].decode()
            messages.append(_Message(int(ts), stream, body))
    if not snapshot:
        raise ValueError(f"{path}: no REST depth snapshot line")
    return messages, snapshot, snapshot_at


class _BinanceBook:
    """The venue's book, from the recorded snapshot and the diffs played since: wire
    strings kept as sent, so the REST answer is what Binance would write."""

    def __init__(self, snapshot: bytes) -> None:
        snap = json.loads(snapshot)
        self.last_update_id: int = snap["lastUpdateId"]
        self.sides: dict[str, dict[str, str]] = {
            "bids": {p: q for p, q in snap["bids"]},
            "asks": {p: q for p, q in snap["asks"]},
        }

    def apply(self, diff: dict[str, Any]) -> None:
        # Diffs the book already holds (older than the recorded snapshot) change nothing.
        if diff["u"] <= self.last_update_id:
            return
        for key, side in (("b", "bids"), ("a", "asks")):
            levels = self.sides[side]
            for p, q in diff[key]:
                if Decimal(q) == 0:
                    levels.pop(p, None)
                else:
                    levels[p] = q
        self.last_update_id = diff["u"]

    def rest_body(self, limit: int) -> bytes:
        bids = sorted(self.sides["bids"].items(), key=lambda pq: Decimal(pq[0]), reverse=True)
        asks = sorted(self.sides["asks"].items(), key=lambda pq: Decimal(pq[0]))
        body = {
            "lastUpdateId": self.last_update_id,
            "bids": [list(pq) for pq in bids[:limit]],
            "asks": [list(pq) for pq in asks[:limit]],
        }
        return json.dumps(body, separators=(",", ":")).encode()


class BinanceReplayServer:
    """Plays a Binance recording on ``ws://127.0.0.1:<port>/stream`` and serves the REST
    depth snapshot on ``http://127.0.0.1:<port>/api/v3/depth``."""

    def __init__(
        self,
        path: Path,
        *,
        speed: float = 0.0,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval: float | None = 20.0,
        limit: int | None = None,
    ) -> None:
        self.path = path
        self.speed = speed
        self.faults = faults or Faults()
        self.host = host
        self.port = port
        self.ping_interval = ping_interval
        self.messages, self._snapshot, self._snapshot_at = read_binance_recording(path)
        if limit is not None:
            self.messages = self.messages[:limit]
        self._book = _BinanceBook(self._snapshot)
        self.stats = ReplayStats()
        self.done = asyncio.Event()
        self._clients: dict[ServerConnection, set[str]] = {}
        self._listening = asyncio.Event()
        self._server: Server | None = None
        self._player: asyncio.Task[None] | None = None

    # ---- life cycle -------------------------------------------------------------------

    async def start(self) -> BinanceReplayServer:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            ping_interval=self.ping_interval,
            compression=None,
        )
        sock = next(iter(self._server.sockets))
        self.port = int(sock.getsockname()[1])
        self._player = asyncio.get_running_loop().create_task(self._play())
        return self

    async def stop(self) -> None:
        if self._player is not None:
            self._player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._player
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> BinanceReplayServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/stream"

    @property
    def spot_rest_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/v3/depth"

    @property
    def usdm_rest_url(self) -> str:
        return f"http://{self.host}:{self.port}/fapi/v1/depth"

    # ---- what the venue shows ---------------------------------------------------------

    @property
    def book_update_id(self) -> int:
        """``lastUpdateId`` of the venue's book now."""
        return self._book.last_update_id

    def streams(self) -> Iterator[str]:
        return iter(dict.fromkeys(m.stream for m in self.messages))

    def rest_snapshot(self, limit: int = 5000) -> bytes:
        """The REST depth answer now."""
        return self._book.rest_body(limit)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path not in ("/api/v3/depth", "/fapi/v1/depth"):
            return None
        query = parse_qs(url.query)
        try:
            limit = int(query.get("limit", ["100"])[0])
        except ValueError:
            return _json_response(HTTPStatus.BAD_REQUEST, b'{"code":-1100,"msg":"bad limit"}')
        if not 1 <= limit <= 5000:
            return _json_response(HTTPStatus.BAD_REQUEST, b'{"code":-1100,"msg":"bad limit"}')
        self.stats.snapshots_served += 1
        return _json_response(HTTPStatus.OK, self.rest_snapshot(limit))

    async def _handle(self, ws: ServerConnection) -> None:
        self.stats.connections += 1
        subscribed: set[str] = set()
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        for streams in query.get("streams", []):
            subscribed.update(s for s in streams.split("/") if s)
        self._clients[ws] = subscribed
        self._update_listening()
        try:
            async for raw in ws:
                reply = self._control(raw, subscribed)
                self._update_listening()
                if reply is not None:
                    self.stats.replies += 1
                    await ws.send(reply)
        except ConnectionClosed:
            pass
        finally:
            self._clients.pop(ws, None)
            self._update_listening()

    def _control(self, raw: str | bytes, subscribed: set[str]) -> str | None:
        try:
            msg = json.loads(raw)
            method, params, rid = msg["method"], msg.get("params", []), msg.get("id")
        except (ValueError, KeyError, TypeError):
            return json.dumps({"code": 3, "msg": "Invalid JSON"})
        if method == "SUBSCRIBE":
            subscribed.update(params)
            return json.dumps({"result": None, "id": rid})
        if method == "UNSUBSCRIBE":
            subscribed.difference_update(params)
            return json.dumps({"result": None, "id": rid})
        if method == "LIST_SUBSCRIPTIONS":
            return json.dumps({"result": sorted(subscribed), "id": rid})
        return json.dumps({"code": 2, "msg": f"Invalid request: unknown variant {method}"})

    def _update_listening(self) -> None:
        if any(self._clients.values()):
            self._listening.set()
        else:
            self._listening.clear()

    async def _play(self) -> None:
        first_ts = self.messages[0].ts_ns if self.messages else 0
        paused = 0.0
        wall_start = time.monotonic()
        for i, m in enumerate(self.messages):
            if not self._listening.is_set():
                t0 = time.monotonic()
                await self._listening.wait()
                paused += time.monotonic() - t0
            if self.speed > 0:
                due = (m.ts_ns - first_ts) / 1e9 / self.speed
                delay = due - (time.monotonic() - wall_start - paused)
                if delay > 0:
                    await asyncio.sleep(delay)
            if "@depth" in m.stream:
                self._book.apply(json.loads(m.data)["data"])
            self.stats.position = i + 1
            if i in self.faults.malformed:
                await self._broadcast(m.stream, self.faults.malformed[i])
                self.stats.malformed_sent += 1
            if i in self.faults.skip:
                self.stats.skipped += 1
                continue
            await self._broadcast(m.stream, m.data)
            self.stats.sent += 1
            if i in self.faults.drop_after:
                self.stats.drops += 1
                for ws in list(self._clients):
                    ws.transport.abort()
                    self._clients.pop(ws, None)
                self._update_listening()
            elif self.speed == 0 and i % 256 == 0:
                # Let clients' handlers (subscriptions, REST) run between bursts.
                await asyncio.sleep(0)
        self.done.set()

    async def _broadcast(self, stream: str, data: bytes) -> None:
        # Venues send text frames; bytes that are not UTF-8 (a fault) go as a binary frame.
        frame: str | bytes
        try:
            frame = data.decode()
        except UnicodeDecodeError:
            frame = data
        for ws, subscribed in list(self._clients.items()):
            if stream in subscribed:
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(frame)


def _json_response(status: HTTPStatus, body: bytes) -> Response:
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)
