"""Local stand-ins for the venues, for tests and the demo: websockets servers on 127.0.0.1
that play a recording as the venue would, answering subscribe messages, keepalive pings
and (Binance) REST depth requests the way the venue does (PROTOCOLS.md).

* ``BinanceReplayServer`` (``data/binance/*.gz``, ``<ts_ns> <json>`` per line): clients
  connect to ``/stream`` (optionally ``?streams=a/b``) and send ``SUBSCRIBE``/
  ``UNSUBSCRIBE``. ``GET /api/v3/depth?symbol=..&limit=..`` (or ``/fapi/v1/depth``)
  answers with the venue's book *now*: the recorded REST snapshot with every recorded
  diff played so far that is newer than it applied.
* ``OkxReplayServer`` (cryptofeed ``OKX.ws.*`` capture): ``{"op":"subscribe","args":[..]}``
  acked per arg; subscribing ``books`` sends a snapshot of the venue's book now, with
  its checksum. ``live_sequence=True`` plays the capture in OKX's 2026 shape instead:
  ``seqId``/``prevSeqId`` stamped per instrument and ``checksum`` 0.
* ``KrakenReplayServer`` (cryptofeed ``KRAKEN.ws.*`` capture, WebSocket v1):
  ``{"event":"subscribe",..}`` answered with ``subscriptionStatus`` (the recorded
  channel ids) and a snapshot at the subscribed depth.
* ``CoinbaseReplayServer``: no real Advanced Trade recording exists; it plays a script of
  messages the caller writes from the documented format, stamping each connection's
  ``sequence_num`` (0, 1, 2, ... across channels) and sending an ``l2_data`` snapshot of
  the venue's book on a ``level2`` subscription.

Each message goes to the clients subscribed to its stream, at recorded pace times
``speed`` (0 = as fast as the clients read). The recording advances only while some
client is subscribed (the venue pauses while nobody listens), which keeps runs
deterministic; a snapshot is never interleaved with a message being played. Faults, by
index of the streamed message: ``skip`` (never sent: a gap; the venue's book still moves
and, on Coinbase, the sequence number is used up), ``malformed`` (a bad frame sent before
the message), ``drop_after`` (the TCP connections are aborted after the message),
``shutdown`` (index -> n: the venue announces a shutdown to the clients connected now,
then closes their connections n messages later; Binance's 24-hour disconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Any, Self
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
    shutdown: dict[int, int] = field(default_factory=dict)


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
    shutdown_notices: int = 0
    pongs: int = 0


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


def read_cryptofeed_capture(path: Path) -> list[tuple[int, bytes]]:
    """``(ts_ns, frame)`` for every frame the venue sent, from a cryptofeed capture
    (``<ts>: <json>`` lines; lines the client sent, ``<url> <- ..``, are left out)."""
    out = []
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip(b"\r\n")
            if not line or b" <- " in line or b" <-> " in line:
                continue
            ts, sep, body = line.partition(b": ")
            try:
                ts_ns = int(float(ts) * 1e9)
            except ValueError:
                ts_ns = -1
            if not sep or ts_ns < 0:
                raise ValueError(f"{path}:{lineno}: expected '<ts>: <json>'")
            out.append((ts_ns, body))
    return out


def _is_zero(q: str) -> bool:
    try:
        return Decimal(q) == 0
    except ArithmeticError:
        return False


class _WireBook:
    """A venue's book as the venue would write it: each level is the list sent on the
    wire (price string first, quantity string second, then whatever else the venue
    sends), keyed by its price string."""

    def __init__(self) -> None:
        self.bids: dict[str, list[Any]] = {}
        self.asks: dict[str, list[Any]] = {}

    def side(self, bid: bool) -> dict[str, list[Any]]:
        return self.bids if bid else self.asks

    def set(self, bid: bool, level: list[Any]) -> None:
        levels = self.side(bid)
        if _is_zero(level[1]):
            levels.pop(level[0], None)
        else:
            levels[level[0]] = list(level)

    def replace(self, bids: Sequence[list[Any]], asks: Sequence[list[Any]]) -> None:
        self.bids = {lv[0]: list(lv) for lv in bids}
        self.asks = {lv[0]: list(lv) for lv in asks}

    def top(self, bid: bool, n: int | None = None) -> list[list[Any]]:
        """Best first: bids high to low, asks low to high."""
        levels = sorted(self.side(bid).values(), key=lambda lv: Decimal(lv[0]), reverse=bid)
        return levels if n is None else levels[:n]

    def truncate(self, depth: int) -> None:
        for bid in (True, False):
            if len(self.side(bid)) > depth:
                keep = self.top(bid, depth)
                if bid:
                    self.bids = {lv[0]: lv for lv in keep}
                else:
                    self.asks = {lv[0]: lv for lv in keep}


@dataclass
class _Client:
    ws: ServerConnection
    subscribed: set[str] = field(default_factory=set)
    # Messages this connection was sent (Coinbase numbers them per connection).
    sent: int = 0


class ReplayServer(ABC):
    """The venue-independent part: serving websockets on 127.0.0.1, clients and their
    subscriptions, playing the messages with faults, the lock that keeps a snapshot from
    being interleaved with a played message. A venue says what playing a message does to
    its book (``play``), how it answers a client (``on_message``) and, optionally, how it
    frames a message for one connection and what HTTP it serves."""

    venue = "venue"
    # Where the venue's websocket lives on the server.
    ws_path = "/"

    def __init__(
        self,
        messages: list[_Message],
        *,
        speed: float = 0.0,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval: float | None = 20.0,
        limit: int | None = None,
    ) -> None:
        self.messages = messages if limit is None else messages[:limit]
        self.speed = speed
        self.faults = faults or Faults()
        self.host = host
        self.port = port
        self.ping_interval = ping_interval
        self.stats = ReplayStats()
        self.done = asyncio.Event()
        self._clients: dict[ServerConnection, _Client] = {}
        self._closing: dict[ServerConnection, int] = {}
        self._listening = asyncio.Event()
        self._lock = asyncio.Lock()
        self._server: Server | None = None
        self._player: asyncio.Task[None] | None = None

    # ---- what a venue supplies --------------------------------------------------------

    def play(self, m: _Message) -> bytes:
        """Applies ``m`` to the venue's state; returns the frame to send."""
        return m.data

    @abstractmethod
    async def on_message(self, client: _Client, raw: str | bytes) -> None:
        """Answers one message from a client (under the play lock)."""

    async def on_connect(self, client: _Client) -> None:  # noqa: B027 - optional hook
        """A new connection, before its first message."""

    def frame_for(self, client: _Client, data: bytes) -> str | bytes:
        """The frame one client gets for a played message (called even for a skipped
        message: a venue numbering messages per connection has used the number)."""
        return _text_frame(data)

    def shutdown_notice(self) -> bytes | None:
        """The venue's announcement that it will close a connection, if it has one."""
        return None

    def http(self, path: str, query: dict[str, list[str]]) -> Response | None:
        """An HTTP answer on the websocket port (REST snapshots), or None."""
        return None

    # ---- life cycle -------------------------------------------------------------------

    async def start(self) -> Self:
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

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{self.ws_path}"

    def streams(self) -> Iterator[str]:
        return iter(dict.fromkeys(m.stream for m in self.messages))

    @property
    def connected_clients(self) -> int:
        return len(self._clients)

    # ---- helpers for venues -----------------------------------------------------------

    async def send(self, client: _Client, frame: str | bytes) -> None:
        with contextlib.suppress(ConnectionClosed):
            await client.ws.send(frame)

    async def reply(self, client: _Client, data: bytes) -> None:
        """A venue answer to a client's request (an ack, a snapshot, a pong)."""
        self.stats.replies += 1
        await self.send(client, self.frame_for(client, data))

    # ---- internals --------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        return self.http(url.path, parse_qs(url.query))

    async def _handle(self, ws: ServerConnection) -> None:
        self.stats.connections += 1
        client = _Client(ws)
        self._clients[ws] = client
        try:
            async with self._lock:
                await self.on_connect(client)
            self._update_listening()
            async for raw in ws:
                async with self._lock:
                    await self.on_message(client, raw)
                self._update_listening()
        except ConnectionClosed:
            pass
        finally:
            self._clients.pop(ws, None)
            self._closing.pop(ws, None)
            self._update_listening()

    def _update_listening(self) -> None:
        if any(c.subscribed for c in self._clients.values()):
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
            async with self._lock:
                await self._play_one(i, m)
            if self.speed == 0:
                # Let clients' requests (subscriptions, REST) in between messages, as
                # they would reach a venue between its messages.
                await asyncio.sleep(0)
        self.done.set()

    async def _play_one(self, i: int, m: _Message) -> None:
        data = self.play(m)
        self.stats.position = i + 1
        if i in self.faults.malformed:
            bad = self.faults.malformed[i]
            for client in self._subscribers(m.stream):
                await self.send(client, _text_frame(bad))
            self.stats.malformed_sent += 1
        if i in self.faults.skip:
            self.stats.skipped += 1
            for client in self._subscribers(m.stream):
                self.frame_for(client, data)
        else:
            receivers = self._subscribers(m.stream)
            for client in receivers:
                await self.send(client, self.frame_for(client, data))
            # A message of a stream nobody subscribed is played (the venue's book moves)
            # but not sent.
            self.stats.sent += bool(receivers)
        if i in self.faults.drop_after:
            self.stats.drops += 1
            await self._delivered()
            for ws in list(self._clients):
                ws.transport.abort()
                self._clients.pop(ws, None)
            self._update_listening()
        if i in self.faults.shutdown:
            notice = self.shutdown_notice()
            self.stats.shutdown_notices += 1
            for client in list(self._clients.values()):
                self._closing[client.ws] = i + self.faults.shutdown[i]
                if notice is not None:
                    await self.send(client, _text_frame(notice))
        for ws, last in list(self._closing.items()):
            if i >= last:
                del self._closing[ws]
                self._clients.pop(ws, None)
                self._update_listening()
                # Going away (1001), as a venue closing a connection at its lifetime.
                await ws.close(1001, "connection lifetime reached")

    async def _delivered(self) -> None:
        """Waits until every client has read what was sent so far (a ping's pong comes
        back only once the frames before it are read), so that a dropped connection
        loses what a venue's would, the frames in flight, and not an arbitrary backlog
        of a test's replay running ahead of its client."""
        for ws in list(self._clients):
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                pong = await ws.ping()
                await asyncio.wait_for(pong, 10.0)

    def _subscribers(self, stream: str) -> list[_Client]:
        return [c for c in self._clients.values() if stream in c.subscribed]


def _text_frame(data: bytes) -> str | bytes:
    """Venues send text frames; bytes that are not UTF-8 (a fault) go as a binary frame."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data


# ---- Binance ---------------------------------------------------------------------------


class _BinanceBook:
    """The venue's book, from the recorded snapshot and the diffs played since: wire
    strings kept as sent, so the REST answer is what Binance would write."""

    def __init__(self, snapshot: bytes) -> None:
        snap = json.loads(snapshot)
        self.last_update_id: int = snap["lastUpdateId"]
        self.book = _WireBook()
        self.book.replace(snap["bids"], snap["asks"])

    def apply(self, diff: dict[str, Any]) -> None:
        # Diffs the book already holds (older than the recorded snapshot) change nothing.
        if diff["u"] <= self.last_update_id:
            return
        for key in ("b", "a"):
            for level in diff[key]:
                self.book.set(key == "b", level)
        self.last_update_id = diff["u"]

    def rest_body(self, limit: int) -> bytes:
        body = {
            "lastUpdateId": self.last_update_id,
            "bids": self.book.top(True, limit),
            "asks": self.book.top(False, limit),
        }
        return json.dumps(body, separators=(",", ":")).encode()


class BinanceReplayServer(ReplayServer):
    """Plays a Binance recording on ``ws://127.0.0.1:<port>/stream`` and serves the REST
    depth snapshot on ``http://127.0.0.1:<port>/api/v3/depth``."""

    venue = "binance"
    ws_path = "/stream"

    def __init__(self, path: Path, **kwargs: Any) -> None:
        self.path = path
        messages, self._snapshot, self._snapshot_at = read_binance_recording(path)
        super().__init__(messages, **kwargs)
        self._book = _BinanceBook(self._snapshot)

    @property
    def spot_rest_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/v3/depth"

    @property
    def usdm_rest_url(self) -> str:
        return f"http://{self.host}:{self.port}/fapi/v1/depth"

    @property
    def book_update_id(self) -> int:
        """``lastUpdateId`` of the venue's book now."""
        return self._book.last_update_id

    def rest_snapshot(self, limit: int = 5000) -> bytes:
        """The REST depth answer now."""
        return self._book.rest_body(limit)

    def play(self, m: _Message) -> bytes:
        if "@depth" in m.stream:
            self._book.apply(json.loads(m.data)["data"])
        return m.data

    def shutdown_notice(self) -> bytes:
        event = {"e": "serverShutdown", "E": time.time_ns() // 1_000_000}
        return json.dumps({"stream": "!serverShutdown", "data": event}).encode()

    def http(self, path: str, query: dict[str, list[str]]) -> Response | None:
        if path not in ("/api/v3/depth", "/fapi/v1/depth"):
            return None
        try:
            limit = int(query.get("limit", ["100"])[0])
        except ValueError:
            return _json_response(HTTPStatus.BAD_REQUEST, b'{"code":-1100,"msg":"bad limit"}')
        if not 1 <= limit <= 5000:
            return _json_response(HTTPStatus.BAD_REQUEST, b'{"code":-1100,"msg":"bad limit"}')
        self.stats.snapshots_served += 1
        return _json_response(HTTPStatus.OK, self.rest_snapshot(limit))

    async def on_connect(self, client: _Client) -> None:
        query = parse_qs(urlsplit(client.ws.request.path if client.ws.request else "").query)
        for streams in query.get("streams", []):
            client.subscribed.update(s for s in streams.split("/") if s)

    async def on_message(self, client: _Client, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
            method, params, rid = msg["method"], msg.get("params", []), msg.get("id")
        except (ValueError, KeyError, TypeError):
            await self.reply(client, b'{"code":3,"msg":"Invalid JSON"}')
            return
        answer: dict[str, Any]
        if method == "SUBSCRIBE":
            client.subscribed.update(params)
            answer = {"result": None, "id": rid}
        elif method == "UNSUBSCRIBE":
            client.subscribed.difference_update(params)
            answer = {"result": None, "id": rid}
        elif method == "LIST_SUBSCRIPTIONS":
            answer = {"result": sorted(client.subscribed), "id": rid}
        else:
            answer = {"code": 2, "msg": f"Invalid request: unknown variant {method}"}
        await self.reply(client, json.dumps(answer).encode())


# ---- OKX -------------------------------------------------------------------------------

_OKX_CHANNELS = ("books", "trades", "tickers")


def okx_checksum(book: _WireBook) -> int:
    """OKX's CRC32 of the top 25 levels, ``bid:ask`` interleaved, wire strings, as a
    signed 32-bit int (OKX v5 docs; PROTOCOLS.md 4.1)."""
    bids, asks = book.top(True, 25), book.top(False, 25)
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts += bids[i][:2]
        if i < len(asks):
            parts += asks[i][:2]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


class OkxReplayServer(ReplayServer):
    """Plays a cryptofeed OKX capture on ``ws://127.0.0.1:<port>/ws/v5/public``."""

    venue = "okx"
    ws_path = "/ws/v5/public"

    def __init__(
        self,
        path: Path,
        *,
        live_sequence: bool = False,
        answer_pings: bool = True,
        **kwargs: Any,
    ) -> None:
        self.path = path
        messages = []
        for ts_ns, body in read_cryptofeed_capture(path):
            msg = json.loads(body)
            # Recorded acks are the recorder's; this server answers its own clients.
            if "event" in msg or "data" not in msg:
                continue
            arg = msg["arg"]
            messages.append(_Message(ts_ns, f"{arg['channel']}:{arg['instId']}", body))
        super().__init__(messages, **kwargs)
        self.live_sequence = live_sequence
        self.answer_pings = answer_pings
        self.instruments = sorted({m.stream.partition(":")[2] for m in self.messages})
        self.books: dict[str, _WireBook] = {}
        self._book_ts: dict[str, str] = {}
        self._seq_id: dict[str, int] = {}

    def play(self, m: _Message) -> bytes:
        channel, _, inst = m.stream.partition(":")
        if channel != "books":
            return m.data
        msg = json.loads(m.data)
        data = msg["data"][0]
        if msg["action"] == "snapshot":
            self.books[inst] = _WireBook()
            self.books[inst].replace(data["bids"], data["asks"])
        else:
            book = self.books[inst]
            for level in data["bids"]:
                book.set(True, level)
            for level in data["asks"]:
                book.set(False, level)
        self._book_ts[inst] = data["ts"]
        if not self.live_sequence:
            return m.data
        # OKX since 2026-06-23: sequence ids on every message, checksum always 0.
        prev = -1 if msg["action"] == "snapshot" else self._seq_id[inst]
        seq = self._seq_id.get(inst, 1000) + 7
        self._seq_id[inst] = seq
        data.update(checksum=0, prevSeqId=prev, seqId=seq)
        return json.dumps(msg, separators=(",", ":")).encode()

    def snapshot(self, inst: str) -> bytes:
        """The ``books`` snapshot a subscription gets now."""
        book = self.books[inst]
        data: dict[str, Any] = {
            "asks": book.top(False),
            "bids": book.top(True),
            "ts": self._book_ts[inst],
            "checksum": 0 if self.live_sequence else okx_checksum(book),
        }
        if self.live_sequence:
            data.update(prevSeqId=-1, seqId=self._seq_id[inst])
        msg = {"arg": {"channel": "books", "instId": inst}, "action": "snapshot", "data": [data]}
        return json.dumps(msg, separators=(",", ":")).encode()

    async def on_message(self, client: _Client, raw: str | bytes) -> None:
        if raw in ("ping", b"ping"):
            if self.answer_pings:
                self.stats.pongs += 1
                await self.reply(client, b"pong")
            return
        try:
            msg = json.loads(raw)
            op, args = msg["op"], msg["args"]
            if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
                raise ValueError(op)
        except (ValueError, KeyError, TypeError):
            text = raw if isinstance(raw, str) else raw.decode(errors="replace")
            error = {"event": "error", "code": "60012", "msg": f"Invalid request: {text}"}
            await self.reply(client, json.dumps(error).encode())
            return
        for arg in args:
            channel, inst = arg.get("channel"), arg.get("instId")
            if channel not in _OKX_CHANNELS or inst not in self.instruments:
                error = {
                    "event": "error",
                    "code": "60018",
                    "msg": f"Wrong URL or channel:{channel},instId:{inst} doesn't exist.",
                }
                await self.reply(client, json.dumps(error).encode())
                continue
            stream = f"{channel}:{inst}"
            ack = {"event": op, "arg": {"channel": channel, "instId": inst}}
            if op == "unsubscribe":
                client.subscribed.discard(stream)
                await self.reply(client, json.dumps(ack).encode())
                continue
            client.subscribed.add(stream)
            await self.reply(client, json.dumps(ack).encode())
            if channel == "books" and inst in self.books:
                self.stats.snapshots_served += 1
                await self.reply(client, self.snapshot(inst))


# ---- Kraken ----------------------------------------------------------------------------


def kraken_checksum(book: _WireBook) -> int:
    """Kraken's CRC32 of the top 10 asks (low to high) then the top 10 bids (high to
    low), each level's price then quantity as sent, '.' removed and leading zeros
    stripped (Kraken's "Book checksum" guides; PROTOCOLS.md 4.2)."""
    text = "".join(
        lv[0].replace(".", "").lstrip("0") + lv[1].replace(".", "").lstrip("0")
        for lv in book.top(False, 10) + book.top(True, 10)
    )
    return zlib.crc32(text.encode())


def _kraken_v2_levels(levels: Sequence[list[Any]]) -> str:
    # v2 sends JSON numbers; the recorded text goes out as is, trailing zeros and all.
    return ",".join(f'{{"price":{lv[0]},"qty":{lv[1]}}}' for lv in levels)


class KrakenReplayServer(ReplayServer):
    """Plays a cryptofeed Kraken WebSocket v1 capture on ``ws://127.0.0.1:<port>/``, as
    v1 (as recorded) or, with ``protocol="v2"``, in the v2 shape live Kraken uses: the
    same levels as JSON numbers with their recorded text, Kraken's own checksum on each
    update and this server's (``kraken_checksum``) on snapshots, v2 requests and replies."""

    venue = "kraken"

    def __init__(
        self,
        path: Path,
        *,
        protocol: str = "v1",
        answer_pings: bool = True,
        **kwargs: Any,
    ) -> None:
        if protocol not in ("v1", "v2"):
            raise ValueError(f"protocol must be 'v1' or 'v2', got {protocol!r}")
        self.path = path
        self.protocol = protocol
        messages = []
        self.channel_ids: dict[str, int] = {}
        self.depth = 0
        for ts_ns, body in read_cryptofeed_capture(path):
            if not body.startswith(b"["):
                continue  # heartbeats, status and acks: this server sends its own
            msg = json.loads(body)
            name, pair = msg[-2], msg[-1]
            channel, _, depth = name.partition("-")
            if channel == "book":
                self.depth = int(depth)
            self.channel_ids[pair] = msg[0]
            messages.append(_Message(ts_ns, f"{channel}:{pair}", body))
        super().__init__(messages, **kwargs)
        self.answer_pings = answer_pings
        self.books: dict[str, _WireBook] = {}

    def play(self, m: _Message) -> bytes:
        channel, _, pair = m.stream.partition(":")
        if channel != "book":
            return m.data
        msg = json.loads(m.data)
        changed: dict[bool, list[list[Any]]] = {True: [], False: []}
        checksum = None
        for part in msg[1:-2]:
            if "as" in part or "bs" in part:
                self.books[pair] = _WireBook()
                self.books[pair].replace(part.get("bs", []), part.get("as", []))
                continue
            book = self.books[pair]
            for key in ("a", "b"):
                for level in part.get(key, []):
                    book.set(key == "b", level[:3])  # a republished flag is not kept
                    changed[key == "b"].append(level)
            checksum = part.get("c", checksum)
        # Kraken keeps (and checksums) only the subscribed depth.
        self.books[pair].truncate(self.depth)
        if self.protocol == "v1":
            return m.data
        if checksum is None:
            return self.snapshot(pair)
        return self._v2_book("update", pair, changed[True], changed[False], int(checksum))

    def _v2_book(
        self, kind: str, pair: str, bids: Sequence[list[Any]], asks: Sequence[list[Any]], crc: int
    ) -> bytes:
        return (
            f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{pair}",'
            f'"bids":[{_kraken_v2_levels(bids)}],"asks":[{_kraken_v2_levels(asks)}],'
            f'"checksum":{crc}}}]}}'
        ).encode()

    def snapshot(self, pair: str) -> bytes:
        book = self.books[pair]
        bids, asks = book.top(True, self.depth), book.top(False, self.depth)
        if self.protocol == "v2":
            return self._v2_book("snapshot", pair, bids, asks, kraken_checksum(book))
        msg = [self.channel_ids[pair], {"as": asks, "bs": bids}, f"book-{self.depth}", pair]
        return json.dumps(msg, separators=(",", ":")).encode()

    async def on_connect(self, client: _Client) -> None:
        status: dict[str, Any]
        if self.protocol == "v2":
            info = {"version": "2.0.10", "system": "online", "api_version": "v2"}
            status = {"channel": "status", "type": "update", "data": [info]}
        else:
            status = {"event": "systemStatus", "status": "online", "version": "1.9.0"}
        await self.reply(client, json.dumps(status).encode())

    async def on_message(self, client: _Client, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
            if not isinstance(msg, dict):
                raise TypeError(type(msg).__name__)
        except (ValueError, TypeError):
            error = {"error": "Malformed request", "success": False}
            await self.reply(client, json.dumps(error).encode())
            return
        if self.protocol == "v2":
            await self._on_v2(client, msg)
        else:
            await self._on_v1(client, msg)

    def _check(self, pair: str, name: Any, depth: Any) -> str | None:
        """Kraken's refusal of a subscription, or None."""
        if pair not in self.channel_ids:
            return f"Currency pair not supported {pair}"
        if name != "book":
            return f"Subscription name invalid {name}"
        if depth != self.depth:
            return f"Subscription depth not supported {depth}"
        return None

    async def _subscribed(self, client: _Client, event: str, pair: str, ack: bytes) -> None:
        stream = f"book:{pair}"
        if event == "unsubscribe":
            client.subscribed.discard(stream)
            await self.reply(client, ack)
            return
        client.subscribed.add(stream)
        await self.reply(client, ack)
        if pair in self.books:
            self.stats.snapshots_served += 1
            await self.reply(client, self.snapshot(pair))

    async def _on_v1(self, client: _Client, msg: dict[str, Any]) -> None:
        event = msg.get("event")
        reqid = {"reqid": msg["reqid"]} if "reqid" in msg else {}
        if event == "ping":
            if self.answer_pings:
                self.stats.pongs += 1
                await self.reply(client, json.dumps({"event": "pong", **reqid}).encode())
            return
        if event not in ("subscribe", "unsubscribe"):
            error = {"errorMessage": f"Unsupported event {event}", "event": "error", **reqid}
            await self.reply(client, json.dumps(error).encode())
            return
        sub = msg.get("subscription") or {}
        for pair in msg.get("pair", []):
            status: dict[str, Any] = {"event": "subscriptionStatus", "pair": pair, **reqid}
            refusal = self._check(pair, sub.get("name"), sub.get("depth", 10))
            if refusal is not None:
                status |= {"errorMessage": refusal, "status": "error", "subscription": sub}
                await self.reply(client, json.dumps(status).encode())
                continue
            status |= {
                "channelID": self.channel_ids[pair],
                "channelName": f"book-{self.depth}",
                "status": "subscribed" if event == "subscribe" else "unsubscribed",
                "subscription": {"depth": self.depth, "name": "book"},
            }
            await self._subscribed(client, event, pair, json.dumps(status).encode())

    async def _on_v2(self, client: _Client, msg: dict[str, Any]) -> None:
        method = msg.get("method")
        req_id = {"req_id": msg["req_id"]} if "req_id" in msg else {}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        times = {"time_in": now, "time_out": now}
        if method == "ping":
            if self.answer_pings:
                self.stats.pongs += 1
                pong = {"method": "pong", **req_id, **times}
                await self.reply(client, json.dumps(pong).encode())
            return
        params = msg.get("params") or {}
        if method not in ("subscribe", "unsubscribe") or not isinstance(params, dict):
            error = {"error": f"Method not supported {method}", "success": False, **req_id}
            await self.reply(client, json.dumps(error).encode())
            return
        channel, depth = params.get("channel"), params.get("depth", 10)
        for pair in params.get("symbol", []):
            reply: dict[str, Any] = {"method": method, **req_id, **times}
            refusal = self._check(pair, channel, depth)
            if refusal is not None:
                reply |= {"error": refusal, "success": False, "symbol": pair}
                await self.reply(client, json.dumps(reply).encode())
                continue
            result = {"channel": "book", "depth": self.depth, "snapshot": True, "symbol": pair}
            reply |= {"result": result, "success": True}
            await self._subscribed(client, method, pair, json.dumps(reply).encode())


# ---- Coinbase --------------------------------------------------------------------------

_COINBASE_WIRE_CHANNEL = {"level2": "l2_data"}
_COINBASE_CHANNELS = ("level2", "market_trades", "ticker", "heartbeats")


def coinbase_message(stream: str, timestamp: str, event: dict[str, Any]) -> _Message:
    """One scripted Coinbase Advanced Trade message: ``stream`` is ``"level2:BTC-USD"``,
    ``"market_trades:BTC-USD"``, ``"ticker:BTC-USD"`` or ``"heartbeats"``; ``event`` is
    one entry of the envelope's ``events`` (the server adds the envelope)."""
    channel = stream.partition(":")[0]
    body = {
        "channel": _COINBASE_WIRE_CHANNEL.get(channel, channel),
        "client_id": "",
        "timestamp": timestamp,
        "events": [event],
    }
    return _Message(0, stream, json.dumps(body, separators=(",", ":")).encode())


class CoinbaseReplayServer(ReplayServer):
    """Plays scripted Advanced Trade messages (``coinbase_message``) on
    ``ws://127.0.0.1:<port>/``, numbering each connection's messages from 0."""

    venue = "coinbase"

    def __init__(self, messages: list[_Message], **kwargs: Any) -> None:
        super().__init__(messages, **kwargs)
        self.products = sorted({p for m in self.messages if (p := m.stream.partition(":")[2])})
        self.books: dict[str, _WireBook] = {}
        self._timestamp = "1970-01-01T00:00:00Z"

    def play(self, m: _Message) -> bytes:
        msg = json.loads(m.data)
        self._timestamp = msg["timestamp"]
        if msg["channel"] == "l2_data":
            for event in msg["events"]:
                book = self.books.setdefault(event["product_id"], _WireBook())
                if event["type"] == "snapshot":
                    book.replace([], [])
                for u in event["updates"]:
                    level = [u["price_level"], u["new_quantity"], u]
                    book.set(u["side"] == "bid", level)
        return m.data

    def frame_for(self, client: _Client, data: bytes) -> str:
        msg = json.loads(data)
        msg["sequence_num"] = client.sent
        client.sent += 1
        return json.dumps(msg, separators=(",", ":"))

    def _envelope(self, channel: str, event: dict[str, Any]) -> bytes:
        return coinbase_message(channel, self._timestamp, event).data

    def snapshot(self, product: str) -> bytes:
        book = self.books.get(product, _WireBook())
        updates = [lv[2] for lv in book.top(True)] + [lv[2] for lv in book.top(False)]
        event = {"type": "snapshot", "product_id": product, "updates": updates}
        return self._envelope("level2", event)

    async def on_message(self, client: _Client, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
            kind, channel = msg["type"], msg["channel"]
            products = msg.get("product_ids", [])
            if kind not in ("subscribe", "unsubscribe") or not isinstance(channel, str):
                raise ValueError(kind)
        except (ValueError, KeyError, TypeError):
            # One channel per message: a `channels` list is refused like any bad request.
            error = {"type": "error", "message": "Failure to subscribe: malformed request"}
            await self.reply(client, json.dumps(error).encode())
            return
        unknown = [p for p in products if p not in self.products]
        if channel not in _COINBASE_CHANNELS or unknown:
            error = {"type": "error", "message": f"Failure to subscribe: {channel} {unknown}"}
            await self.reply(client, json.dumps(error).encode())
            return
        streams = [f"{channel}:{p}" for p in products] if products else [channel]
        if kind == "subscribe":
            client.subscribed.update(streams)
        else:
            client.subscribed.difference_update(streams)
        current: dict[str, list[str]] = {}
        for s in sorted(client.subscribed):
            ch, _, product = s.partition(":")
            current.setdefault(ch, [])
            if product:
                current[ch].append(product)
        await self.reply(client, self._envelope("subscriptions", {"subscriptions": current}))
        if kind == "subscribe" and channel == "level2":
            for product in products:
                self.stats.snapshots_served += 1
                await self.reply(client, self.snapshot(product))


def _json_response(status: HTTPStatus, body: bytes) -> Response:
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)
