"""The engine: the bus, its consumers, the market data source and the monitor that keeps
the live top of book, wired from the configuration. The server reports on it."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from baconalgo._core import BinanceDecoder, Bus, __version__, cpu_features
from baconalgo.adapters.recording import RecordingReplayer
from baconalgo.bus import EventKind, Side
from baconalgo.config import Config
from baconalgo.errors import BusClosed, ConfigError

log = logging.getLogger(__name__)

MONITOR = "monitor"


@dataclass
class TopOfBook:
    bid_ticks: int | None = None
    bid_lots: int | None = None
    ask_ticks: int | None = None
    ask_lots: int | None = None
    last_trade_ticks: int | None = None
    last_trade_lots: int | None = None
    trades: int = 0
    quotes: int = 0
    ts_event_ns: int = 0


class Monitor:
    """Polls the bus from Python in batches and keeps the top of book per instrument.
    Each batch is reduced with numpy: no per-event Python work."""

    def __init__(self, bus: Bus, name: str = MONITOR) -> None:
        self.bus = bus
        self.name = name
        self.books: dict[int, TopOfBook] = {}
        self.events = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="monitor", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                batch = self.bus.poll(self.name, 65536, 0.1)
            except BusClosed:
                return
            if len(batch):
                self.apply(batch)

    def apply(self, batch: npt.NDArray[np.void]) -> None:
        with self._lock:
            self.events += len(batch)
            for instrument in np.unique(batch["instrument"]).tolist():
                mine = batch[batch["instrument"] == instrument]
                top = self.books.setdefault(int(instrument), TopOfBook())
                k = mine["kind"]
                trades = mine[k == EventKind.TRADE]
                if len(trades):
                    top.trades += len(trades)
                    top.last_trade_ticks = int(trades["price_ticks"][-1])
                    top.last_trade_lots = int(trades["qty_lots"][-1])
                quotes = mine[k == EventKind.QUOTE]
                if len(quotes):
                    top.quotes += len(quotes)
                    for side, attr in ((Side.BID, "bid"), (Side.ASK, "ask")):
                        s = quotes[quotes["side"] == side]
                        if len(s):
                            setattr(top, f"{attr}_ticks", int(s["price_ticks"][-1]))
                            setattr(top, f"{attr}_lots", int(s["qty_lots"][-1]))
                top.ts_event_ns = max(top.ts_event_ns, int(mine["ts_event_ns"].max()))

    def snapshot(self) -> dict[int, TopOfBook]:
        with self._lock:
            return {k: TopOfBook(**vars(v)) for k, v in self.books.items()}


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
        market = "spot" if replay.venue == "binance_spot" else "usdm"
        self.decoder = BinanceDecoder(
            market, [(i.symbol, i.tick, i.lot) for i in replay.instruments]
        )
        if self.decoder.instrument_index(replay.symbol) is None:
            raise ConfigError(f"replay.symbol: {replay.symbol!r} is not in replay.instruments")
        self.replayer = RecordingReplayer(
            replay.path, self.decoder, self.bus, replay.symbol, replay.speed
        )
        self.monitor = Monitor(self.bus)
        self._stall: dict[str, tuple[int, float]] = {}

    def start(self) -> None:
        self.bus.start()
        self.monitor.start()
        self.replayer.start()
        log.info("engine started", extra={"version": __version__})

    def stop(self) -> None:
        self.replayer.stop()
        self.bus.close()
        self.monitor.join(5.0)

    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic

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

    def top_of_book(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for index, top in self.monitor.snapshot().items():
            symbol = self.decoder.instrument(index)[0]

            def price(ticks: int | None, index: int = index) -> str | None:
                return None if ticks is None else self.decoder.format_price(index, ticks)

            out[symbol] = {
                "bid": price(top.bid_ticks),
                "ask": price(top.ask_ticks),
                "last_trade": price(top.last_trade_ticks),
                "bid_ticks": top.bid_ticks,
                "ask_ticks": top.ask_ticks,
                "bid_lots": top.bid_lots,
                "ask_lots": top.ask_lots,
                "trades": top.trades,
                "quotes": top.quotes,
                "ts_event_ns": top.ts_event_ns,
            }
        return out

    def status(self) -> dict[str, Any]:
        stats = self.replayer.stats
        return {
            "version": __version__,
            "uptime_seconds": round(self.uptime_seconds(), 3),
            "cpu_features": cpu_features(),
            "components": {
                "bus": self.bus.counters(),
                "feed": {
                    "source": str(self.config.replay.path),
                    "venue": self.config.replay.venue,
                    "messages": stats.messages,
                    "events": stats.events,
                    "rejected": stats.rejected,
                    "last_reject": stats.last_reject,
                    "replay_done": stats.done,
                    "replay_error": stats.error,
                    "decoder": self.decoder.counters(),
                },
                "handlers": {
                    c.name: self.bus.handler_stats(c.name) for c in self.config.bus.consumers
                },
                "top_of_book": self.top_of_book(),
            },
            "config": self.config.summary(),
        }
