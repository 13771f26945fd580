"""The kill switch and the way back to ACTIVE where orders really flow: a paper session on
the bundled recording, a bar backtest, and a running engine over HTTP. The kill switch
halts trading in the risk engine and cancels every working order at the venue; orders
sent afterwards are rejected ``halted`` until a reset; every state change is a RISK_STATE
event published on the bus."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from baconalgo import backtest
from baconalgo.bus import EventKind
from baconalgo.config import Config, load_config
from baconalgo.engine import Engine
from baconalgo.errors import RiskError
from baconalgo.paper import PaperSession, PaperSettings, settings_from
from baconalgo.recorder import read
from baconalgo.risk import state_changes
from baconalgo.strategy import OrderUpdate, Strategy
from tests.test_backtest import Scripted, flat_bars
from tests.test_paper import recorded_batches
from tests.test_server import _serve_in_thread, wait_until


@pytest.fixture(scope="module")
def batches(spot_recording: Path) -> list[npt.NDArray[np.void]]:
    return recorded_batches(spot_recording)


class TwoBids(Strategy):
    """Rests two bids 0.5 % and 0.6 % under the market once the venue has a book and a
    trade gave the risk engine its reference price; sends one more bid whenever told."""

    def on_start(self) -> None:
        self.updates: list[tuple[int, str, str | None]] = []
        self.sent = False
        self.send_one = False

    def on_trade(self, trade: Any) -> None:
        bid = self.book.bid
        if math.isnan(bid):
            return
        if not self.sent:
            self.sent = True
            self.buy(0.001, round(bid * 0.995, 2), post_only=True)
            self.buy(0.001, round(bid * 0.994, 2), post_only=True)
        elif self.send_one:
            self.send_one = False
            self.buy(0.001, round(bid * 0.995, 2), post_only=True)

    def on_order_update(self, update: OrderUpdate) -> None:
        self.updates.append((update.client_order_id, update.status, update.reason))


def _session_with_working_bids(
    batches: list[npt.NDArray[np.void]],
) -> tuple[PaperSession, TwoBids, int]:
    """A session fed until both bids are working; returns it and the next batch index."""
    paper_settings, risk = settings_from(load_config(None, environ={}), 0)
    assert risk is not None
    strategy = TwoBids()
    session = PaperSession(strategy, paper_settings, risk)
    session.start()
    for i, b in enumerate(batches):
        session.on_batch(b)
        if len(session.broker.open_orders()) == 2:
            return session, strategy, i + 1
    raise AssertionError("the two bids never rested")


def test_the_kill_switch_cancels_every_working_order_and_halts_a_paper_session(
    batches: list[npt.NDArray[np.void]],
) -> None:
    session, strategy, k = _session_with_working_bids(batches)
    working = sorted(o[0] for o in session.broker.open_orders())

    assert session.kill_switch() == 2
    assert session.broker.risk()["state"] == "halted"  # type: ignore[index]
    # The cancels travel with the order latency (5 ms of exchange time): the venue
    # confirms them once the market data's clock has moved past it.
    for b in batches[k : k + 50]:
        session.on_batch(b)
    assert session.broker.open_orders() == []
    cancelled = sorted(oid for oid, status, _ in strategy.updates if status == "cancelled")
    assert cancelled == working

    # An order sent while halted is refused with the reason, and never reaches the venue.
    strategy.send_one = True
    for b in batches[k + 50 : k + 100]:
        session.on_batch(b)
    assert strategy.updates[-1][1:] == ("rejected", "halted")
    assert session.status()["rejects"] == {"halted": 1}

    session.reset_risk()
    strategy.send_one = True
    for b in batches[k + 100 : k + 150]:
        session.on_batch(b)
    assert strategy.updates[-1][1:] == ("new", None)
    assert len(session.broker.open_orders()) == 1

    changes = session.status()["risk"]["changes"]
    assert [(c["from"], c["to"], c["reason"]) for c in changes] == [
        ("active", "halted", "kill_switch"),
        ("halted", "active", "reset"),
    ]
    events = session.take_risk_events()
    assert [int(e["kind"]) for e in events] == [EventKind.RISK_STATE] * 2
    assert state_changes(events) == changes
    assert len(session.take_risk_events()) == 0  # taken once
    assert "risk state active; changes: halted (kill_switch), active (reset)" in session.summary()


def test_without_a_risk_engine_the_kill_switch_refuses_and_leaves_orders_alone(
    batches: list[npt.NDArray[np.void]],
) -> None:
    strategy = TwoBids()
    session = PaperSession(strategy, PaperSettings(tick_size=0.01, lot_size=1e-8))
    session.start()
    for b in batches[:400]:
        session.on_batch(b)
    assert len(session.broker.open_orders()) == 2
    with pytest.raises(RiskError, match="needs a risk engine"):
        session.kill_switch()
    assert len(session.broker.open_orders()) == 2
    assert not [u for u in strategy.updates if u[1] == "cancelled"]


def bar_config(tmp_path: Path, max_position_qty: str) -> Config:
    """A bar backtest on tick 0.5 / lot 0.001 with a risk engine: orders up to 1.0, a 20 %
    price band."""
    toml = tmp_path / "c.toml"
    toml.write_text(
        '[backtest]\ninit_cash = 100000.0\ntick = "0.5"\nlot = "0.001"\n'
        "[risk]\nstarting_equity = 100000.0\nmax_gross_exposure = 1000000.0\n"
        "max_net_exposure = 1000000.0\n"
        '[risk.instruments.BTCUSDT]\ntick = "0.5"\nlot = "0.001"\nmax_order_qty = "1.0"\n'
        f'max_position_qty = "{max_position_qty}"\nmax_notional = 1000000.0\n'
        "price_band_bps = 2000.0\n"
    )
    return load_config(toml, {})


def test_a_strategy_pulls_the_kill_switch_in_a_bar_backtest(tmp_path: Path) -> None:
    config = bar_config(tmp_path, max_position_qty="5")

    class Killer(Scripted):
        def on_bar(self, bar: Any) -> None:
            super().on_bar(bar)
            if bar.index == 2:
                self.killed = self.kill_switch()

    s = Killer(
        {
            1: [
                ("submit", (("buy", 1.0, 90.0), {})),  # rests under the market
                ("submit", (("sell", 1.0, 110.0), {})),  # rests over it
            ],
            3: [("submit", (("buy", 1.0), {}))],  # halted
        }
    )
    res = backtest.run(
        s, flat_bars([100.0] * 5), backtest.config_from(config.backtest), risk=config.risk
    )
    assert s.killed == 2
    assert [(oid, status, reason) for oid, status, reason, _ in s.updates] == [
        (1, "new", None),
        (2, "new", None),
        (1, "cancelled", "user_cancel"),
        (2, "cancelled", "user_cancel"),
        (3, "rejected", "halted"),
    ]
    assert res.risk is not None and res.risk["state"] == "halted"
    assert res.risk["rejected"] == {"halted": 1}


def test_the_operator_pulls_the_kill_switch_over_http_and_resets(tmp_path: Path) -> None:
    config = load_config(
        None,
        environ={
            "BACONALGO__REPLAY__SPEED": "5",
            "BACONALGO__RECORDER__ENABLED": "true",
            "BACONALGO__RECORDER__PATH": str(tmp_path / "rec"),
        },
    )
    engine = Engine(config)
    engine.start()
    try:
        for url in _serve_in_thread(engine):
            with httpx.Client(base_url=url, timeout=30) as http:

                def paper() -> dict[str, Any]:
                    p: dict[str, Any] = http.get("/api/status").json()["components"]["paper"]
                    return p

                wait_until(lambda: bool(paper().get("open_orders")), timeout=120)
                killed = http.post("/api/risk/kill_switch")
                assert killed.status_code == 200, killed.text
                body = killed.json()
                # Whatever was working at that instant (the strategy requotes all the time).
                assert body["cancelled"] >= 0 and body["risk"]["state"] == "halted"
                assert body["risk"]["changes"][-1]["reason"] == "kill_switch"
                wait_until(lambda: paper()["open_orders"] == [], timeout=120)

                # The strategy keeps quoting; the risk engine refuses every order.
                wait_until(lambda: paper()["rejects"].get("halted", 0) > 0, timeout=120)
                assert paper()["open_orders"] == []

                reset = http.post("/api/risk/reset")
                assert reset.status_code == 200, reset.text
                assert reset.json()["risk"]["state"] == "active"
                wait_until(lambda: bool(paper().get("open_orders")), timeout=120)

                assert http.post("/api/risk/bogus").status_code == 404
                assert http.get("/api/risk/kill_switch").status_code == 405
    finally:
        engine.stop()
    assert engine.paper is not None and engine.paper.risk_events_published == 2
    # The recorder consumed the RISK_STATE events from the bus like any other event.
    recorded = np.concatenate(list(read(tmp_path / "rec")))
    risk = recorded[recorded["kind"] == EventKind.RISK_STATE]
    assert [c["reason"] for c in state_changes(risk)] == ["kill_switch", "reset"]


def test_risk_actions_without_a_paper_session_are_not_found() -> None:
    config = load_config(
        None, environ={"BACONALGO__REPLAY__SPEED": "0", "BACONALGO__PAPER__ENABLED": "false"}
    )
    engine = Engine(config)
    engine.start()
    try:
        for url in _serve_in_thread(engine):
            r = httpx.post(f"{url}/api/risk/kill_switch", timeout=30)
            assert r.status_code == 404 and "no paper session" in r.json()["error"]
    finally:
        engine.stop()


def test_a_breaker_trips_in_a_paper_session_on_the_losses_it_sees(
    tmp_path: Path, batches: list[npt.NDArray[np.void]]
) -> None:
    """A market buy pays the spread and the 0.1 % taker fee (about 0.06 USDT on 0.001
    BTC): a daily-loss limit of 0.05 USDT halts trading, and the next order is refused."""
    toml = tmp_path / "c.toml"
    toml.write_text(
        "[risk]\nstarting_equity = 10000.0\nmax_gross_exposure = 5000.0\n"
        "max_net_exposure = 5000.0\nmax_reference_age_seconds = 60.0\n"
        '[risk.breakers]\nmax_daily_loss = 0.05\ndaily_loss_action = "halted"\n'
        '[risk.instruments.BTCUSDT]\ntick = "0.01"\nlot = "0.00000001"\n'
        'max_order_qty = "0.01"\nmax_position_qty = "0.02"\nmax_notional = 2000.0\n'
    )
    config = load_config(toml, {})
    paper_settings, risk = settings_from(config, 0)
    assert risk is config.risk

    class BuyTwice(Strategy):
        def on_start(self) -> None:
            self.updates: list[tuple[int, str, str | None]] = []
            self.sent = 0

        def on_trade(self, trade: Any) -> None:
            if math.isnan(self.book.ask):
                return
            if self.sent == 0 or (self.sent == 1 and self.position > 0):
                self.sent += 1
                self.buy(0.001)

        def on_order_update(self, update: OrderUpdate) -> None:
            self.updates.append((update.client_order_id, update.status, update.reason))

    strategy = BuyTwice()
    session = PaperSession(strategy, paper_settings, risk)
    session.start()
    for b in batches:
        session.on_batch(b)
    session.stop()
    changes = session.status()["risk"]["changes"]
    assert [(c["to"], c["reason"]) for c in changes] == [("halted", "daily_loss")]
    assert strategy.updates[0][1] == "new" and strategy.updates[1][1] == "filled"
    assert strategy.updates[-1] == (2, "rejected", "halted")
    assert state_changes(session.take_risk_events()) == changes


def test_a_replace_over_a_limit_is_refused_and_the_order_keeps_working(
    tmp_path: Path,
) -> None:
    config = bar_config(tmp_path, max_position_qty="1.5")
    s = Scripted(
        {
            1: [("submit", (("buy", 1.0, 95.0), {}))],
            2: [("replace", (0, {"qty": 1.2}))],  # above max_order_qty
            3: [("replace", (0, {"price": 96.0, "qty": 0.8}))],
        }
    )
    res = backtest.run(
        s, flat_bars([100.0] * 5), backtest.config_from(config.backtest), risk=config.risk
    )
    assert [(oid, status, reason, leaves) for oid, status, reason, leaves in s.updates] == [
        (1, "new", None, 1.0),
        (1, "rejected", "qty_above_max", 1.0),
        (1, "replaced", None, 0.8),
    ]
    assert res.risk is not None and res.risk["rejected"] == {"qty_above_max": 1}
    assert res.orders.row(0, named=True)["price"] == 96.0
