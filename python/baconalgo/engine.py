"""The engine: the bus, its consumers, the market data feed and the monitor, wired from
the configuration. The server reports on it.

The feed is the real live path: a venue adapter (websockets) decoding every frame in Rust
onto the bus and keeping the books in Rust synchronisers. With no exchange reachable here,
``baconalgo run`` starts a replay server on 127.0.0.1 (random port) that plays the bundled
recording as the venue would (Binance with its REST depth snapshot, OKX, or Kraken) and
points the venue's adapter at it."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from baconalgo._core import Bus, __version__, cpu_features
from baconalgo.adapters.base import Instrument, ResubscribingAdapter
from baconalgo.adapters.binance import BinanceAdapter
from baconalgo.adapters.kraken import KrakenAdapter
from baconalgo.adapters.okx import OkxAdapter
from baconalgo.adapters.replay_server import (
    BinanceReplayServer,
    KrakenReplayServer,
    OkxReplayServer,
    ReplayServer,
)
from baconalgo.bus import EventKind
from baconalgo.config import REPO_ROOT, Config, RecorderConfig
from baconalgo.errors import BaconAlgoError, BusClosed, BusFull, ConfigError
from baconalgo.paper import PaperSession, resolve_strategy, settings_from
from baconalgo.recorder import Recorder

log = logging.getLogger(__name__)

MONITOR = "monitor"
RECORDER = "recorder"
PAPER = "paper"


@dataclass
class TradeFlow:
    """What the monitor saw of one instrument on the bus; the book itself is the Rust
    synchroniser's, so the best bid and ask are read there, not kept twice."""

    last_trade_ticks: int | None = None
    last_trade_lots: int | None = None
    trades: int = 0
    quotes: int = 0
    ts_event_ns: int = 0


class _PollerThread:
    """A bus poller drained from its own thread until the bus is closed and empty."""

    def __init__(self, bus: Bus, name: str) -> None:
        self.bus = bus
        self.name = name
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                batch = self.bus.poll(self.name, 65536, 0.1)
            except BusClosed:
                break
            if len(batch):
                self.apply(batch)
            self.idle()
        self.closed()

    def apply(self, batch: npt.NDArray[np.void]) -> None:
        raise NotImplementedError

    def idle(self) -> None:
        """After each poll (at least every 0.1 s), on the poller's thread."""

    def closed(self) -> None:
        """After the last batch."""


class Monitor(_PollerThread):
    """Polls the bus from Python in batches and keeps the trade and quote flow per
    instrument. Each batch is reduced with numpy: no per-event Python work."""

    def __init__(self, bus: Bus, name: str = MONITOR) -> None:
        super().__init__(bus, name)
        self.books: dict[int, TradeFlow] = {}
        self.events = 0
        self._lock = threading.Lock()

    def apply(self, batch: npt.NDArray[np.void]) -> None:
        with self._lock:
            self.events += len(batch)
            for instrument in np.unique(batch["instrument"]).tolist():
                mine = batch[batch["instrument"] == instrument]
                top = self.books.setdefault(int(instrument), TradeFlow())
                k = mine["kind"]
                trades = mine[k == EventKind.TRADE]
                if len(trades):
                    top.trades += len(trades)
                    top.last_trade_ticks = int(trades["price_ticks"][-1])
                    top.last_trade_lots = int(trades["qty_lots"][-1])
                top.quotes += int((k == EventKind.QUOTE).sum())
                top.ts_event_ns = max(top.ts_event_ns, int(mine["ts_event_ns"].max()))

    def snapshot(self) -> dict[int, TradeFlow]:
        with self._lock:
            return {k: TradeFlow(**vars(v)) for k, v in self.books.items()}


class RecorderConsumer(_PollerThread):
    """Polls the bus from its own thread and writes every event to Parquet
    (``baconalgo.recorder``) until the bus is closed and drained. A write that fails is
    logged and reported in status; the consumer keeps polling so the bus never stalls."""

    def __init__(self, bus: Bus, config: RecorderConfig, name: str = RECORDER) -> None:
        super().__init__(bus, name)
        self.recorder = Recorder(config.path, config.flush_events)
        self.events = 0
        self.lost = 0
        self.error: str | None = None

    def closed(self) -> None:
        try:
            self.recorder.close()
        except OSError as e:
            self._failed(e, 0)

    def apply(self, batch: npt.NDArray[np.void]) -> None:
        try:
            self.recorder.write(batch)
            self.events += len(batch)
        except OSError as e:
            self._failed(e, len(batch))

    def _failed(self, e: OSError, lost: int) -> None:
        self.lost += lost
        self.error = f"{type(e).__name__}: {e}"
        log.exception("recorder write failed", extra={"path": str(self.recorder.root)})

    def status(self) -> dict[str, Any]:
        return {
            "path": str(self.recorder.root),
            "events": self.events,
            "files": len(self.recorder.files),
            "lost": self.lost,
            "error": self.error,
        }


class PaperConsumer(_PollerThread):
    """The paper-trading session as a bus poller. The session (its Rust broker belongs to
    one thread) is built, started and fed on this thread; the HTTP server reads the
    status snapshot it publishes after batches (at most every 0.2 s) and at the end. A
    strategy that raises stops trading; the consumer keeps draining so the bus never
    stalls, and counts what it dropped."""

    def __init__(
        self, bus: Bus, make_session: Callable[[], PaperSession], name: str = PAPER
    ) -> None:
        super().__init__(bus, name)
        self._make = make_session
        self.session: PaperSession | None = None
        self.error: str | None = None
        self.dropped = 0
        self.summary: str | None = None
        # The whole session's fills and orders (columns), once the bus has closed.
        self.fills: dict[str, Any] | None = None
        self.orders: dict[str, Any] | None = None
        self._status: dict[str, Any] | None = None
        self._published = 0.0
        self._lock = threading.Lock()
        # Operator actions (kill switch, risk reset) run on this thread, which owns the
        # broker; RISK_STATE events wait here while the bus is full.
        self._actions: queue.SimpleQueue[tuple[str, dict[str, Any], Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._unpublished: list[npt.NDArray[np.void]] = []
        self.risk_events_published = 0

    def _run(self) -> None:
        try:
            self.session = self._make()
            self.session.start()
        except Exception as e:  # reported in status; the bus keeps flowing
            self._failed(e)
        super()._run()

    def apply(self, batch: npt.NDArray[np.void]) -> None:
        if self.session is None or self.error is not None:
            self.dropped += len(batch)
            return
        try:
            self.session.on_batch(batch)
        except Exception as e:
            self._failed(e)
            return
        now = time.monotonic()
        if now - self._published >= 0.2:
            self._publish()

    def submit_action(self, action: str, **kw: Any) -> Future[Any]:
        """Runs ``session.<action>(**kw)`` on the session's thread; the future holds its
        result or exception (``RuntimeError`` once the session has ended)."""
        done: Future[Any] = Future()
        self._actions.put((action, kw, done))
        if self.session is None and self._thread is not None and not self._thread.is_alive():
            self._fail_actions()
        return done

    def idle(self) -> None:
        while True:
            try:
                action, kw, done = self._actions.get_nowait()
            except queue.Empty:
                break
            if not done.set_running_or_notify_cancel():
                continue
            if self.session is None or self.error is not None:
                done.set_exception(RuntimeError(f"the paper session is not trading ({self.error})"))
                continue
            try:
                done.set_result(getattr(self.session, action)(**kw))
            except Exception as e:
                done.set_exception(e)
            self._publish()
        self._publish_risk_events()

    def _publish_risk_events(self) -> None:
        """RISK_STATE events onto the bus for every other consumer (recorder, monitor); a
        full ring keeps them for the next round instead of waiting on a ring this thread
        itself drains."""
        if self.session is None:
            return
        events = self.session.take_risk_events()
        if len(events):
            self._unpublished.append(events)
        while self._unpublished:
            try:
                self.bus.publish_batch(self._unpublished[0], block=False)
            except BusFull:
                return
            except BusClosed:
                self._unpublished.clear()
                return
            self.risk_events_published += len(self._unpublished.pop(0))

    def _fail_actions(self) -> None:
        while True:
            try:
                _, _, done = self._actions.get_nowait()
            except queue.Empty:
                return
            if done.set_running_or_notify_cancel():
                done.set_exception(RuntimeError("the paper session has ended"))

    def closed(self) -> None:
        self.idle()
        if self.session is None:
            self._fail_actions()
            return
        try:
            if self.error is None:
                self.session.stop()
        except Exception as e:
            self._failed(e)
        self._publish()
        self.summary = self.session.summary()
        self.fills = self.session.broker.fills()
        self.orders = self.session.broker.orders()
        # The Rust broker must be freed on the thread that made it.
        self.session = None
        self._fail_actions()

    def _failed(self, e: BaseException) -> None:
        self.error = f"{type(e).__name__}: {e}"
        # The traceback as text: a record holding the exception would keep the strategy
        # and its broker (which must die on this thread) alive in whoever keeps records.
        log.error(
            "paper session failed: the strategy stops trading\n%s",
            "".join(traceback.format_exception(e)),
        )

    def _publish(self) -> None:
        if self.session is None:
            return
        status = self.session.status()
        self._published = time.monotonic()
        with self._lock:
            self._status = status

    def status(self) -> dict[str, Any]:
        with self._lock:
            status = dict(self._status or {})
        return {**status, "error": self.error, "dropped_events": self.dropped}


class FeedRunner:
    """Runs the replay server and the venue's adapter on their own asyncio loop thread:
    Binance (spot or USD-M, REST snapshots from the server), OKX, or Kraken (WebSocket
    v2, the server converting the v1 recording)."""

    def __init__(self, config: Config, bus: Bus) -> None:
        replay = config.replay
        self.config = replay
        self.bus = bus
        self.venue = replay.venue
        instruments = [Instrument(i.symbol, i.tick, i.lot) for i in replay.instruments]
        common: dict[str, Any] = {"speed": replay.speed, "ping_interval": replay.ping_interval}
        # The server reads the whole recording now, so a bad file fails at start.
        try:
            if replay.venue == "okx":
                self.server: ReplayServer = OkxReplayServer(replay.path, **common)
            elif replay.venue == "kraken":
                self.server = KrakenReplayServer(replay.path, protocol="v2", **common)
            else:
                self.server = BinanceReplayServer(replay.path, **common)
        except (OSError, ValueError, KeyError) as e:
            raise ConfigError(f"replay.path: {e}") from None
        channels: dict[str, Any] = {} if replay.channels is None else {"channels": replay.channels}
        self.adapter: BinanceAdapter | ResubscribingAdapter
        if isinstance(self.server, OkxReplayServer):
            self.adapter = OkxAdapter(instruments, bus, **channels)
        elif isinstance(self.server, KrakenReplayServer):
            depth = self.server.depth
            self.adapter = KrakenAdapter(instruments, bus, depth=depth, **channels)
        else:
            self.market: Literal["spot", "usdm"] = (
                "spot" if replay.venue == "binance_spot" else "usdm"
            )
            self.adapter = BinanceAdapter(
                self.market,
                instruments,
                bus,
                max_connection_age=replay.max_connection_age_seconds,
                ping_interval=replay.ping_interval,
                publish_books=config.paper.enabled,
                **channels,
            )
        self.error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._run, name="feed", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("feed did not start")
        if self.error is not None:
            raise RuntimeError(f"feed failed to start: {self.error}")

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def done(self) -> bool:
        """The recording has been played and every frame sent has been handled."""
        s = self.server.stats
        sent = s.sent + s.malformed_sent + s.replies
        return self.server.done.is_set() and self.adapter.counters.messages >= sent

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as e:  # reported in status; the engine stays up
            self.error = f"{type(e).__name__}: {e}"
            log.exception("feed failed")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.server:
            self.adapter.url = self.server.ws_url
            if isinstance(self.server, BinanceReplayServer):
                self.adapter.rest_url = (  # type: ignore[union-attr]
                    self.server.spot_rest_url
                    if self.market == "spot"
                    else self.server.usdm_rest_url
                )
            task = asyncio.create_task(self.adapter.run())
            self._ready.set()
            log.info("replaying", extra={"url": self.server.ws_url, "path": str(self.config.path)})
            await self._stop.wait()
            self.adapter.stop()
            await asyncio.wait_for(task, 10)


class Engine:
    """Builds and runs the pipeline described by the configuration."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.started_monotonic = time.monotonic()
        bus_cfg = config.bus
        self.bus = Bus(bus_cfg.capacity, bus_cfg.producer, bus_cfg.wait)
        for c in bus_cfg.consumers:
            try:
                self.bus.add_consumer(c.name, c.handler, c.after, c.core)
            except ValueError as e:
                raise ConfigError(f"bus.consumers[{c.name}]: {e}") from None
        self.bus.add_poller(MONITOR)
        replay = config.replay
        if not replay.path.exists():
            raise ConfigError(f"replay.path: recording {replay.path} does not exist")
        self.feed = FeedRunner(config, self.bus)
        self.decoder = self.feed.adapter.decoder
        if self.decoder.instrument_index(replay.symbol) is None:
            raise ConfigError(f"replay.symbol: {replay.symbol!r} is not in replay.instruments")
        self.monitor = Monitor(self.bus)
        self.recorder: RecorderConsumer | None = None
        if config.recorder.enabled:
            self.bus.add_poller(RECORDER)
            self.recorder = RecorderConsumer(self.bus, config.recorder)
        self.paper: PaperConsumer | None = None
        if config.paper.enabled:
            self.paper = self._paper_consumer(config, replay.symbol)
        self._stall: dict[str, tuple[int, float]] = {}

    def _paper_consumer(self, config: Config, symbol: str) -> PaperConsumer:
        """Checks ``[paper]`` now (a bad strategy or limit fails the start) and adds the
        paper poller after the monitor."""
        traded = (config.paper.symbol or symbol).upper()
        index = self.decoder.instrument_index(traded)
        if index is None:
            raise ConfigError(f"paper.symbol: {traded!r} is not in replay.instruments")
        settings, risk = settings_from(config, index)
        cls = resolve_strategy(config.paper, REPO_ROOT)
        try:
            settings.broker(risk)  # validates the venue and risk settings
        except (ValueError, BaconAlgoError) as e:
            raise ConfigError(f"paper: {e}") from None
        self.bus.add_poller(PAPER)
        return PaperConsumer(self.bus, lambda: PaperSession(cls, settings, risk))

    def start(self) -> None:
        self.bus.start()
        self.monitor.start()
        if self.recorder is not None:
            self.recorder.start()
        if self.paper is not None:
            self.paper.start()
        self.feed.start()
        log.info("engine started", extra={"version": __version__})

    def stop(self) -> None:
        self.feed.stop()
        self.bus.close()
        self.monitor.join(5.0)
        if self.paper is not None:
            self.paper.join(30.0)
        if self.recorder is not None:
            # Drains what the bus still holds, then writes the last files.
            self.recorder.join(30.0)

    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic

    def risk_action(self, action: str, timeout: float = 10.0, **kw: Any) -> dict[str, Any]:
        """An operator's risk action on the paper session, run on the session's thread:
        ``kill_switch`` (halt and cancel every working order) or ``reset_risk`` (back to
        ACTIVE; ``rebase_peak``). Returns the outcome and the risk state after it; raises
        ``LookupError`` without a paper session, ``RuntimeError`` once it has ended, and
        what the action raised (``RiskError``, ``ResetRefused``)."""
        if action not in ("kill_switch", "reset_risk"):
            raise ValueError(f"unknown risk action {action!r}: kill_switch or reset_risk")
        if self.paper is None:
            raise LookupError("no paper session: [paper] enabled = false")
        result = self.paper.submit_action(action, **kw).result(timeout)
        status = self.paper.status()
        out: dict[str, Any] = {"action": action, "risk": status.get("risk")}
        if action == "kill_switch":
            out["cancelled"] = result
        return out

    def consumer_health(self) -> list[dict[str, Any]]:
        """Each consumer's counters plus `stalled`: events waiting and no progress for
        longer than ``server.stall_seconds``."""
        now = time.monotonic()
        out = []
        for c in self.bus.counters()["consumers"]:
            name, seq, lag = c["name"], c["sequence"], c["lag"]
            last_seq, since = self._stall.get(name, (seq, now))
            if seq != last_seq or lag == 0:
                since = now
            self._stall[name] = (seq, since)
            stalled = lag > 0 and now - since > self.config.server.stall_seconds
            out.append({**c, "stalled": stalled})
        return out

    def health(self) -> dict[str, Any]:
        counters = self.bus.counters()
        consumers = self.consumer_health()
        running = bool(counters["started"]) and not counters["closed"]
        ready = running and all(c["alive"] and not c["stalled"] for c in consumers)
        return {
            "live": True,
            "ready": ready,
            "bus_running": running,
            "consumers": {
                c["name"]: {"alive": c["alive"], "stalled": c["stalled"], "lag": c["lag"]}
                for c in consumers
            },
        }

    def feed_done(self) -> bool:
        return self.feed.done()

    def top_of_book(self) -> dict[str, dict[str, Any]]:
        """Per symbol: the best bid and ask of the synchronised Rust book (exact decimals),
        with the trade and quote flow the monitor saw on the bus."""
        out: dict[str, dict[str, Any]] = {}
        flow = self.monitor.snapshot()
        for index, sync in self.feed.adapter.books.items():
            symbol = self.decoder.instrument(index)[0]
            book = sync.summary()
            top = flow.get(index, TradeFlow())

            def price(ticks: int | None, index: int = index) -> str | None:
                return None if ticks is None else self.decoder.format_price(index, ticks)

            def qty(lots: int | None, index: int = index) -> str | None:
                return None if lots is None else self.decoder.format_qty(index, lots)

            bid, ask = book["best_bid"] or (None, None), book["best_ask"] or (None, None)
            out[symbol] = {
                "book_state": book["state"],
                "bid": price(bid[0]),
                "ask": price(ask[0]),
                "bid_qty": qty(bid[1]),
                "ask_qty": qty(ask[1]),
                "bid_ticks": bid[0],
                "ask_ticks": ask[0],
                "bid_lots": bid[1],
                "ask_lots": ask[1],
                "bid_levels": book["bid_levels"],
                "ask_levels": book["ask_levels"],
                "book_update_id": book["last_seq"],
                "crossed": book["crossed"],
                "last_trade": price(top.last_trade_ticks),
                "trades": top.trades,
                "quotes": top.quotes,
                "ts_event_ns": top.ts_event_ns,
            }
        return out

    def status(self) -> dict[str, Any]:
        adapter = self.feed.adapter.status()
        replay = self.feed.server.stats
        return {
            "version": __version__,
            "uptime_seconds": round(self.uptime_seconds(), 3),
            "cpu_features": cpu_features(),
            "components": {
                "bus": self.bus.counters(),
                "feed": {
                    "source": str(self.config.replay.path),
                    **adapter,
                    "replay_done": self.feed_done(),
                    "replay_error": self.feed.error,
                    "replay_server": {"url": self.feed.server.ws_url, **vars(replay)},
                },
                "handlers": {
                    c.name: self.bus.handler_stats(c.name) for c in self.config.bus.consumers
                },
                "top_of_book": self.top_of_book(),
                "recorder": None if self.recorder is None else self.recorder.status(),
                "paper": None if self.paper is None else self.paper.status(),
            },
            "config": self.config.summary(),
        }
