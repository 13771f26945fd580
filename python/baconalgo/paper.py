"""Paper trading: a :class:`~baconalgo.strategy.Strategy` fed by live market data from the
bus, its orders filled by the simulated venue (the Rust ``MarketSim``) against the same
market data, every order through the risk engine.

::

    session = PaperSession(MyStrategy(), PaperSettings(tick_size=0.01, lot_size=1e-8))
    session.start()
    for batch in batches:          # numpy EVENT_DTYPE batches polled from the bus
        session.on_batch(batch)
    session.stop()
    print(session.summary())

Per batch one call goes to Rust (``PaperBroker.run``): the venue, the account, the risk
engine and the order log are Rust; Python runs only the strategy's own callbacks
(``on_trade``, ``on_quote``, ``on_book``, ``on_bar``, ``on_signal``, ``on_fill``,
``on_order_update``), and only those it overrides. Subscribed signals are evaluated in
Rust on each trade; a firing reaches ``on_signal`` after that trade's ``on_trade`` (and
``on_bar`` when the trade closed a bar), before the next event. The session clock is the
exchange time of the market data, so the same events in the same order give the same
fills, whatever the wall clock.

A ``PaperBroker`` belongs to the thread that made it: the engine's paper consumer builds
the session on its own thread and publishes :meth:`PaperSession.status` snapshots for
the HTTP server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from baconalgo._core import EVENT_DTYPE, PaperBroker
from baconalgo.errors import ConfigError
from baconalgo.risk import state_changes
from baconalgo.strategy import Strategy

if TYPE_CHECKING:
    from baconalgo.config import Config, PaperSection, RiskConfig


@dataclass(frozen=True, slots=True)
class PaperSettings:
    """The simulated venue and account of one session (see ``[paper]``)."""

    tick_size: float
    lot_size: float
    instrument: int = 0
    init_cash: float = 10_000.0
    taker_fee: float = 0.0
    maker_fee: float = 0.0
    queue: str = "risk_averse"
    queue_power: float = 2.0
    order_latency_ns: int = 0
    response_latency_ns: int = 0
    bar_seconds: float | None = None
    status_orders: int = 20

    def broker(self, risk: RiskConfig | None = None) -> PaperBroker:
        """A fresh paper broker, with ``risk``'s engine in front when given."""
        kw: dict[str, Any] = {}
        if risk is not None:
            risk.check_grid(self.tick_size, self.lot_size, "the traded instrument's")
            kw = {
                "risk_instruments": risk.instrument_specs(),
                "risk_limits": risk.limits(),
                "risk_starting_equity": risk.starting_equity,
            }
        return PaperBroker(
            self.init_cash,
            self.tick_size,
            self.lot_size,
            self.taker_fee,
            self.maker_fee,
            self.instrument,
            self.queue,
            self.queue_power,
            self.order_latency_ns,
            self.response_latency_ns,
            self.bar_seconds,
            **kw,
        )


def settings_from(config: Config, instrument: int = 0) -> tuple[PaperSettings, RiskConfig | None]:
    """The session's settings and risk limits from ``[paper]`` (and ``[risk]``, else
    ``[paper.limits]``) for the replayed symbol."""
    from baconalgo.config import RiskConfig, RiskInstrumentConfig

    paper = config.paper
    symbol = (paper.symbol or config.replay.symbol).upper()
    spec = next((i for i in config.replay.instruments if i.symbol.upper() == symbol), None)
    if spec is None:
        raise ConfigError(f"paper.symbol: {symbol!r} is not in replay.instruments")
    settings = PaperSettings(
        tick_size=float(spec.tick),
        lot_size=float(spec.lot),
        instrument=instrument,
        init_cash=paper.init_cash,
        taker_fee=paper.taker_fee,
        maker_fee=paper.maker_fee,
        queue=paper.queue,
        queue_power=paper.queue_power,
        order_latency_ns=round(paper.order_latency_ms * 1e6),
        response_latency_ns=round(paper.response_latency_ms * 1e6),
        bar_seconds=paper.bar_seconds,
        status_orders=paper.status_orders,
    )
    if not paper.risk:
        return settings, None
    if config.risk is not None:
        return settings, config.risk
    lim = paper.limits
    try:
        risk = RiskConfig(
            starting_equity=paper.init_cash,
            max_gross_exposure=lim.max_gross_exposure,
            max_net_exposure=lim.max_gross_exposure,
            max_open_orders=lim.max_open_orders,
            # Reference prices are market trades in exchange time.
            max_reference_age_seconds=60.0,
            instruments={
                symbol: RiskInstrumentConfig(
                    tick=Decimal(spec.tick),
                    lot=Decimal(spec.lot),
                    max_order_qty=lim.max_order_qty,
                    max_position_qty=lim.max_position_qty,
                    max_notional=lim.max_notional,
                    price_band_bps=lim.price_band_bps,
                )
            },
        )
    except ValueError as e:
        raise ConfigError(f"paper.limits: {e}") from None
    return settings, risk


def resolve_strategy(section: PaperSection, repo_root: Path) -> type[Strategy]:
    """The ``[paper] strategy`` class (a relative file path is taken from the repo)."""
    from baconalgo.cli import load_strategy

    spec = section.strategy
    target, sep, name = spec.rpartition(":")
    if sep and target.endswith(".py") and not Path(target).is_file():
        spec = f"{repo_root / target}:{name}"
    try:
        return load_strategy(spec)
    except (ValueError, ImportError) as e:
        raise ConfigError(f"paper.strategy: {e}") from None


def _num(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else x


class PaperSession:
    """One strategy trading paper on a stream of event batches (module docs)."""

    def __init__(
        self,
        strategy: Strategy | type[Strategy],
        settings: PaperSettings,
        risk: RiskConfig | None = None,
    ) -> None:
        self.strategy = strategy() if isinstance(strategy, type) else strategy
        if not isinstance(self.strategy, Strategy):
            raise TypeError(
                f"strategy must be a baconalgo.Strategy, got {type(self.strategy).__name__}"
            )
        self.settings = settings
        self.broker = settings.broker(risk)
        s = self.strategy

        def cb(name: str) -> Any:
            return getattr(s, name) if s.overrides(name) else None

        self._callbacks = (
            cb("on_trade"),
            cb("on_quote"),
            cb("on_book"),
            cb("on_bar"),
            cb("on_fill"),
            cb("on_order_update"),
        )
        self._on_signal = cb("on_signal")
        self.started = False
        self.stopped = False
        # The risk engine's state changes, oldest first (RISK_STATE events, as published).
        self.risk_events: list[npt.NDArray[np.void]] = []
        self._risk_log: list[dict[str, Any]] = []

    def start(self) -> None:
        """Attaches the strategy, calls ``on_start`` and sends what it ordered."""
        self.strategy.attach(self.broker)
        self.strategy.on_start()
        self.started = True
        self._serve()

    def on_batch(self, batch: npt.NDArray[np.void]) -> None:
        """One batch of bus events through the venue and the strategy (Rust loop)."""
        on_trade, on_quote, on_book, on_bar, on_fill, on_update = self._callbacks
        PaperBroker.run(
            self.broker,
            batch,
            on_trade,
            on_quote,
            on_book,
            on_bar,
            on_fill,
            on_update,
            self.strategy.indicators,
            self._on_signal,
        )
        self._collect_risk_events()

    def kill_switch(self) -> int:
        """The operator's kill switch: halts trading in the risk engine and sends a cancel
        for every working order now; returns how many. The venue confirms each after the
        order latency and the strategy sees it in ``on_order_update``. Orders sent
        afterwards are rejected (``halted``) until :meth:`reset_risk`. Raises
        ``RiskError`` when the session has no risk engine (nothing is cancelled then)."""
        n = self.broker.kill_switch()
        self._serve()
        return n

    def reset_risk(self, *, rebase_peak: bool = False) -> None:
        """Back to ACTIVE after the kill switch or a breaker. Raises ``ResetRefused`` naming
        the breakers whose condition still holds (a drawdown holds until equity recovers,
        or ``rebase_peak=True`` accepts it: equity now becomes the peak)."""
        self.broker.reset_risk(rebase_peak=rebase_peak)
        self._collect_risk_events()

    def take_risk_events(self) -> npt.NDArray[np.void]:
        """The RISK_STATE events not taken yet (for the bus), oldest first."""
        self._collect_risk_events()
        events = np.concatenate(self.risk_events) if self.risk_events else np.empty(0, EVENT_DTYPE)
        self.risk_events = []
        return events

    def _serve(self) -> None:
        _, _, _, _, on_fill, on_update = self._callbacks
        PaperBroker.flush(self.broker, on_fill, on_update)
        self._collect_risk_events()

    def _collect_risk_events(self) -> None:
        events = self.broker.take_risk_events()
        if len(events):
            self.risk_events.append(events)
            self._risk_log = (self._risk_log + state_changes(events))[-self._RISK_LOG :]

    _RISK_LOG = 50

    def stop(self) -> None:
        """Calls ``on_stop`` once; orders still working stay as they are (no fills come)."""
        if self.started and not self.stopped:
            self.stopped = True
            self.strategy.on_stop()

    def status(self) -> dict[str, Any]:
        """Account, positions, PnL, open and recent orders, counters, rejects: plain data
        for ``/api/status`` (call on the session's thread)."""
        b = self.broker
        bid, ask = b.quote()
        # The newest only: a live session's order log grows all day.
        orders = b.orders(last=self.settings.status_orders)
        risk = b.risk()
        keep = range(len(orders["client_order_id"]))
        recent = [
            {
                "client_order_id": int(orders["client_order_id"][i]),
                "side": orders["side"][i],
                "type": orders["type"][i],
                "tif": orders["tif"][i],
                "price": _num(float(orders["price"][i])),
                "qty": float(orders["qty"][i]),
                "filled_qty": float(orders["filled_qty"][i]),
                "avg_fill_price": _num(float(orders["avg_fill_price"][i])),
                "status": orders["status"][i],
                "reason_code": int(orders["reason_code"][i]),
                "ts_submitted_ns": int(orders["ts_submitted_ns"][i]),
            }
            for i in keep
        ]
        return {
            "strategy": type(self.strategy).__name__,
            "ts_ns": b.ts_ns,
            "position": b.position,
            "avg_price": b.avg_price,
            "cash": b.cash,
            "equity": b.equity,
            "init_cash": b.init_cash,
            "realized_pnl": b.realized_pnl,
            "unrealized_pnl": b.unrealized_pnl,
            "fees": b.fees,
            "bid": _num(bid),
            "ask": _num(ask),
            "open_orders": [
                dict(
                    zip(
                        ("client_order_id", "side", "price", "leaves_qty", "filled_qty", "tif"),
                        o,
                        strict=True,
                    )
                )
                for o in b.open_orders()
            ],
            "orders": recent,
            "counters": b.counters(),
            "rejects": b.rejects(),
            "risk": None if risk is None else {**risk, "changes": list(self._risk_log)},
        }

    def summary(self) -> str:
        """The end-of-session report: orders, fills, position, PnL, fees, rejects."""
        b = self.broker
        c = b.counters()
        fills = b.fills()
        maker = sum(1 for x in fills["liquidity"] if x == "maker")
        lines = [
            f"paper {type(self.strategy).__name__}: {c['orders']} orders, {c['fills']} fills "
            f"({maker} maker, {c['fills'] - maker} taker), {c['cancels']} cancels, "
            f"{c['rejects']} rejects over {c['trades']} trades / {c['book_updates']} book "
            f"updates / {c['quotes']} quotes",
            f"  position {b.position:.8f}"
            + (f" @ avg {b.avg_price:.2f}" if b.avg_price is not None else "")
            + f", cash {b.cash:.2f}, equity {b.equity:.2f} (start {b.init_cash:.2f})",
            f"  realized PnL {b.realized_pnl:+.4f}, unrealized PnL {b.unrealized_pnl:+.4f}, "
            f"fees {b.fees:.4f}",
        ]
        rejects = b.rejects()
        if rejects:
            lines.append("  rejects: " + ", ".join(f"{k} x{v}" for k, v in sorted(rejects.items())))
        risk = b.risk()
        if risk is not None and (risk["state"] != "active" or self._risk_log):
            line = f"  risk state {risk['state']}"
            if self._risk_log:
                steps = (f"{c['to']} ({c['reason']})" for c in self._risk_log)
                line += "; changes: " + ", ".join(steps)
            lines.append(line)
        open_orders = b.open_orders()
        if open_orders:
            lines.append(f"  {len(open_orders)} orders still working at the end")
        return "\n".join(lines)


__all__ = ["PaperSession", "PaperSettings", "resolve_strategy", "settings_from"]
