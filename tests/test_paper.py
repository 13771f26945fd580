"""Paper trading on the bundled Binance recording: the strategy driven by bus events, fills
from the simulated venue fed by the same market data, checked against the recording
parsed independently with json."""

from __future__ import annotations

import gzip
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
from prometheus_client.parser import text_string_to_metric_families

import baconalgo as ba
from baconalgo import backtest
from baconalgo.cli import load_strategy
from baconalgo.config import load_config
from baconalgo.engine import Engine
from baconalgo.paper import PaperSession, PaperSettings, settings_from
from baconalgo.recorder import Recorder, read
from baconalgo.strategy import OrderUpdate, Strategy
from tests.conftest import REPO
from tests.test_cli import run_cli
from tests.test_server import _serve_in_thread, wait_until

QUOTE_MAKER = f"{REPO / 'examples' / 'quote_maker.py'}:QuoteMaker"
EMA_CROSS = f"{REPO / 'examples' / 'ema_cross.py'}:EmaCross"
BARS = REPO / "data" / "bars" / "btc_perp_1m_2022-01.csv.gz"
NS_PER_MS = 1_000_000


def recorded_frames(path: Path) -> list[tuple[npt.NDArray[np.void], dict[str, Any]]]:
    """The recording decoded frame by frame as the adapter publishes it once synced: the
    REST snapshot first, then every frame except the diffs it already contains; each
    batch with its message as json parsed it."""
    decoder = ba.BinanceDecoder("spot", [("BTCUSDT", "0.01", "0.00000001")])
    snapshot = None
    frames = []
    with gzip.open(path, "rb") as f:
        for line in f:
            ts, _, message = line.partition(b" ")
            if message.startswith(b'{"lastUpdateId"'):
                snapshot = (decoder.decode_snapshot("BTCUSDT", message, int(ts)), message)
            else:
                frames.append((decoder.decode(message, int(ts)), message))
    assert snapshot is not None
    last_id = json.loads(snapshot[1])["lastUpdateId"]
    out = [(snapshot[0], json.loads(snapshot[1]))]
    for b, message in frames:
        msg = json.loads(message)
        if "@depth" in msg["stream"] and msg["data"]["u"] <= last_id:
            continue  # stale: older than the snapshot
        out.append((b, msg))
    return out


def recorded_batches(path: Path) -> list[npt.NDArray[np.void]]:
    return [b for b, _ in recorded_frames(path)]


def recorded_trades(path: Path) -> list[tuple[int, Decimal]]:
    """(exchange time ns, price) of every trade, by json."""
    out = []
    with gzip.open(path, "rt") as f:
        for line in f:
            msg = json.loads(line.split(" ", 1)[1])
            if msg.get("stream", "").endswith("@trade"):
                out.append((msg["data"]["T"] * NS_PER_MS, Decimal(msg["data"]["p"])))
    return out


@pytest.fixture(scope="module")
def batches(spot_recording: Path) -> list[npt.NDArray[np.void]]:
    return recorded_batches(spot_recording)


def settings(**kw: Any) -> PaperSettings:
    return PaperSettings(tick_size=0.01, lot_size=1e-8, **kw)


def run_offline(
    strategy: Strategy | type[Strategy],
    batches: list[npt.NDArray[np.void]],
    paper_settings: PaperSettings,
    risk: Any = None,
) -> PaperSession:
    session = PaperSession(strategy, paper_settings, risk)
    session.start()
    for b in batches:
        session.on_batch(b)
    session.stop()
    return session


def same_fills(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert set(a) == set(b)
    for k in a:
        assert list(a[k]) == list(b[k]), k


# ---------------------------------------------------------------- the recording, by json


class JsonBook:
    """The book rebuilt from the messages with json and Decimal alone, by Binance's
    documented rule: the snapshot, then each diff's absolute quantities."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"]}
        self.asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"]}

    def apply(self, diff: dict[str, Any]) -> None:
        for side, levels in ((self.bids, diff["b"]), (self.asks, diff["a"])):
            for p, q in levels:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)


def reaches(msg: dict[str, Any], book: JsonBook, side: str, price: Decimal) -> bool:
    """Whether recorded message ``msg`` (``book`` already updated by it) reaches a resting
    order on ``side`` at ``price``: a trade from the other side at or through the price,
    or the other side of the book at or through it."""
    data = msg["data"]
    if msg["stream"].endswith("@trade"):
        px, buyer_maker = Decimal(data["p"]), data["m"]
        return (buyer_maker and px <= price) if side == "buy" else (not buyer_maker and px >= price)
    if "@depth" in msg["stream"]:
        if side == "buy":
            return bool(book.asks) and min(book.asks) <= price
        return bool(book.bids) and max(book.bids) >= price
    return False


# ---------------------------------------------------------------- tests


def test_paper_fills_are_consistent_with_the_recorded_market(spot_recording: Path) -> None:
    """Message by message: every fill the session makes is explained by the recorded
    message that caused it, parsed with json."""
    frames = recorded_frames(spot_recording)
    session = PaperSession(load_strategy(QUOTE_MAKER), settings(taker_fee=0.001))
    session.start()
    book = JsonBook(frames[0][1])
    seen = 0
    for batch, msg in frames:
        session.on_batch(batch)
        if "@depth" in msg.get("stream", ""):
            book.apply(msg["data"])
        fills = session.broker.fills()
        for i in range(seen, len(fills["price"])):
            assert fills["liquidity"][i] == "maker"  # the maker only posts
            px = Decimal(int(fills["price_ticks"][i])) * Decimal("0.01")
            assert reaches(msg, book, fills["side"][i], px), (fills["side"][i], px, msg)
        seen = len(fills["price"])
    assert seen >= 20, "the example strategy trades on this recording"
    # Buys and sells net to the position; the account adds up.
    fills = session.broker.fills()
    signed = sum(
        q if s == "buy" else -q for s, q in zip(fills["side"], fills["qty_lots"], strict=True)
    )
    b = session.broker
    assert signed == b.position_lots
    assert math.isclose(
        b.equity - b.init_cash, b.realized_pnl + b.unrealized_pnl - b.fees, abs_tol=1e-6
    )


def test_a_buy_never_fills_when_the_recording_does_not_reach_its_price(
    batches: list[npt.NDArray[np.void]], spot_recording: Path
) -> None:
    """A bid 1 % under the market rests all session: the recording never trades there."""

    class DeepBid(Strategy):
        def on_start(self) -> None:
            self.sent = False

        def on_book(self, book: Any) -> None:
            if not self.sent:
                self.sent = True
                self.buy(0.001, round(book.bid * 0.99, 2), post_only=True)

    session = run_offline(DeepBid, batches, settings())
    [(_, _, price, leaves, filled, _)] = session.broker.open_orders()
    lowest = min(p for _, p in recorded_trades(spot_recording))
    assert Decimal(str(price)) < lowest
    assert (filled, leaves) == (0.0, 0.001)
    assert len(session.broker.fills()["price"]) == 0


def test_the_same_messages_in_the_same_order_give_the_same_fills(
    batches: list[npt.NDArray[np.void]],
) -> None:
    cls = load_strategy(QUOTE_MAKER)
    one = run_offline(cls, batches, settings(order_latency_ns=5 * NS_PER_MS))
    # Batch boundaries are not messages: one big batch gives the same fills too.
    two = run_offline(cls, [np.concatenate(batches)], settings(order_latency_ns=5 * NS_PER_MS))
    same_fills(one.broker.fills(), two.broker.fills())
    assert one.broker.orders()["status"] == two.broker.orders()["status"]


def test_the_live_session_equals_a_replay_of_what_it_saw_on_the_bus(tmp_path: Path) -> None:
    """The main job (replay server -> Binance adapter -> bus -> paper consumer) records
    the bus; the recorded events, fed to a fresh session, give the live session's fills."""
    config = load_config(
        None,
        environ={
            "BACONALGO__REPLAY__SPEED": "0",
            "BACONALGO__RECORDER__ENABLED": "true",
            "BACONALGO__RECORDER__PATH": json.dumps(str(tmp_path)),
        },
    )
    engine = Engine(config)
    engine.start()
    try:
        wait_until(engine.feed_done, timeout=120)
    finally:
        engine.stop()
    assert engine.paper is not None and engine.paper.error is None
    live = engine.paper.fills
    assert live is not None and len(live["price"]) >= 20
    paper_settings, risk = settings_from(config, 0)
    replayed = run_offline(
        load_strategy(QUOTE_MAKER), list(read(tmp_path, chunk_events=4096)), paper_settings, risk
    )
    same_fills(live, replayed.broker.fills())


class Oversize(Strategy):
    """Sends one order above the risk limit and one within it, on the first trade once
    the venue has a book (the trade gives the risk engine its reference price)."""

    def on_start(self) -> None:
        self.updates: list[tuple[int, str, str | None]] = []
        self.sent = False

    def on_trade(self, trade: Any) -> None:
        if not self.sent and not math.isnan(self.book.ask):
            self.sent = True
            self.buy(0.05)  # [paper.limits] max_order_qty = 0.01
            self.buy(0.001)

    def on_order_update(self, update: OrderUpdate) -> None:
        self.updates.append((update.client_order_id, update.status, update.reason))


def test_risk_rejections_reach_on_order_update_with_their_reason(
    batches: list[npt.NDArray[np.void]],
) -> None:
    config = load_config(None, environ={})
    paper_settings, risk = settings_from(config, 0)
    assert risk is not None
    strategy = Oversize()
    session = run_offline(strategy, batches[:200], paper_settings, risk)
    assert strategy.updates[0] == (1, "rejected", "qty_above_max")
    assert strategy.updates[1] == (2, "new", None)
    assert strategy.updates[-1][:2] == (2, "filled")
    status = session.status()
    assert status["rejects"] == {"qty_above_max": 1}
    assert status["risk"]["rejected"] == {"qty_above_max": 1}
    assert status["position"] == pytest.approx(0.001)


def test_one_strategy_class_runs_in_backtest_and_in_paper(
    batches: list[npt.NDArray[np.void]], spot_recording: Path
) -> None:
    cls = load_strategy(EMA_CROSS)
    result = backtest.run(cls, BARS, backtest.BacktestConfig(taker_fee=0.001, tick_size=0.1))
    assert result.trades.height > 0
    # Paper: 1-second bars of the live trades feed the same indicators and on_bar.
    session = run_offline(cls, batches, settings(bar_seconds=1.0, taker_fee=0.001))
    fills = session.broker.fills()
    assert len(fills["price"]) > 0 and set(fills["liquidity"]) == {"taker"}
    # Every 1-second window with trades closes a bar, except the last (still open).
    windows = {ts // 1_000_000_000 for ts, _ in recorded_trades(spot_recording)}
    assert session.broker.counters()["bars"] == len(windows) - 1


def test_status_shows_position_pnl_and_orders_while_running() -> None:
    config = load_config(None, environ={"BACONALGO__REPLAY__SPEED": "10"})
    engine = Engine(config)
    engine.start()
    try:
        for url in _serve_in_thread(engine):
            with httpx.Client(base_url=url) as http:

                def filled() -> bool:
                    paper = http.get("/api/status").json()["components"]["paper"]
                    return bool(paper.get("counters", {}).get("fills"))

                wait_until(filled, timeout=120)
                status = http.get("/api/status").json()
                metrics = http.get("/api/metrics").text
    finally:
        engine.stop()
    paper = status["components"]["paper"]
    assert paper["strategy"] == "QuoteMaker" and paper["error"] is None
    assert paper["orders"] and paper["counters"]["orders"] >= len(paper["orders"])
    assert math.isclose(
        paper["equity"] - paper["init_cash"],
        paper["realized_pnl"] + paper["unrealized_pnl"] - paper["fees"],
        abs_tol=1e-6,
    )
    assert paper["position"] >= 0 and paper["fees"] > 0
    assert {"bid", "ask", "open_orders", "rejects", "risk"} <= set(paper)
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    assert families["baconalgo_paper_fills"].samples[0].value >= 1
    assert "baconalgo_paper_realized_pnl" in families
    # What the dashboard and the older tests read is still there.
    assert status["components"]["top_of_book"]["BTCUSDT"]["book_state"] == "synced"


def test_paper_cli_runs_a_strategy_end_to_end(tmp_path: Path) -> None:
    cfg = tmp_path / "paper.toml"
    cfg.write_text('[paper]\nmaker_fee = -0.0001\nqueue = "probabilistic"\n')
    r = run_cli(
        "paper",
        "examples/quote_maker.py:QuoteMaker",
        "--config",
        str(cfg),
        "--speed",
        "0",
        "--port",
        "0",
        "--exit-when-done",
    )
    assert r.returncode == 0, r.stderr
    assert "Paper-trading examples/quote_maker.py:QuoteMaker" in r.stdout
    assert "paper QuoteMaker:" in r.stdout and "realized PnL" in r.stdout
    assert "replayed 41249 messages" in r.stdout


def test_paper_cli_names_a_bad_strategy() -> None:
    r = run_cli("paper", "examples/nope.py:Nope", "--speed", "0", "--port", "0")
    assert r.returncode == 2
    assert "paper.strategy" in r.stderr


def test_orders_sent_from_on_order_update_are_served(
    batches: list[npt.NDArray[np.void]],
) -> None:
    class RoundTrip(Strategy):
        def on_start(self) -> None:
            self.sent = False

        def on_book(self, book: Any) -> None:
            if not self.sent:
                self.sent = True
                self.buy(0.001)

        def on_order_update(self, update: OrderUpdate) -> None:
            if update.status == "filled" and update.side == "buy":
                self.sell(0.001)

    session = run_offline(RoundTrip, batches[:300], settings(order_latency_ns=NS_PER_MS))
    fills = session.broker.fills()
    assert list(fills["side"]) == ["buy", "sell"]
    assert session.broker.position == 0.0


def test_a_published_book_reads_like_the_decoders_snapshot(spot_recording: Path) -> None:
    """What the adapter publishes on a sync has the decoder's own snapshot layout: a book
    rebuilt from the REST snapshot gives back the same events."""
    from baconalgo.adapters.binance import book_snapshot_events

    snapshot, _ = recorded_frames(spot_recording)[0]
    book = ba.OrderBook(0)
    book.apply(snapshot)
    ours = book_snapshot_events(book, int(snapshot["seq"][0]), 7, 9)
    fields = ["kind", "side", "price_ticks", "qty_lots", "flags", "seq", "instrument"]
    assert ours[fields].tolist() == snapshot[fields].tolist()
    assert set(ours["ts_event_ns"].tolist()) == {7}


def test_a_strategy_that_raises_stops_trading_and_the_bus_keeps_flowing(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text(
        "from baconalgo import Strategy\n\n"
        "class Broken(Strategy):\n"
        "    def on_trade(self, trade):\n"
        "        raise RuntimeError('strategy bug')\n"
    )
    config = load_config(
        None,
        environ={
            "BACONALGO__REPLAY__SPEED": "0",
            "BACONALGO__PAPER__STRATEGY": json.dumps(f"{path}:Broken"),
        },
    )
    engine = Engine(config)
    engine.start()
    try:
        wait_until(engine.feed_done, timeout=120)
    finally:
        engine.stop()
    assert engine.paper is not None
    assert engine.paper.error == "RuntimeError: strategy bug"
    paper = engine.status()["components"]["paper"]
    assert paper["dropped_events"] > 0 and paper["counters"]["trades"] == 1
    consumers = {c["name"]: c for c in engine.bus.counters()["consumers"]}
    assert consumers["paper"]["lag"] == 0
    assert consumers["paper"]["sequence"] == engine.bus.counters()["published"]


# ---------------------------------------------------------------- market-data backtests


def test_market_backtest_over_a_recorder_directory_gives_the_paper_sessions_fills(
    batches: list[npt.NDArray[np.void]], tmp_path: Path
) -> None:
    """backtest.run_market reads the recorder's Parquet in chunks: the same fills as the
    session fed the same events directly, whatever the chunk size, and tables that agree
    with them. The recorder gives events back in receive-time order (the REST snapshot
    was taken after some of the frames the adapter then skipped), so that is the order
    the direct run gets too."""
    cls = load_strategy(QUOTE_MAKER)
    paper_settings = settings(order_latency_ns=5 * NS_PER_MS, response_latency_ns=NS_PER_MS)
    events = np.concatenate(batches)
    events = events[np.argsort(events["ts_recv_ns"], kind="stable")]
    direct = run_offline(cls, [events], paper_settings)
    with Recorder(tmp_path) as rec:
        rec.write(events)
    for source, chunk in ((tmp_path, 997), (tmp_path, 1_000_000), (events, 4096)):
        result = backtest.run_market(cls, source, paper_settings, chunk_events=chunk)
        same_fills(direct.broker.fills(), result.fills.to_dict(as_series=False))
        assert result.events == len(events)
        assert result.summary == direct.summary()
    assert result.fills.height >= 20
    filled = result.orders.filter(result.orders["filled_qty"] > 0)
    assert math.isclose(filled["filled_qty"].sum(), result.fills["qty"].sum(), rel_tol=1e-12)


def test_market_backtest_refuses_what_is_not_events(tmp_path: Path) -> None:
    cls = load_strategy(QUOTE_MAKER)
    with pytest.raises(ValueError, match="recorder directory"):
        backtest.run_market(cls, tmp_path / "missing", settings())
    with pytest.raises(TypeError, match="EVENT_DTYPE"):
        backtest.run_market(cls, np.zeros(3), settings())
    with pytest.raises(ValueError, match="chunk_events"):
        backtest.run_market(cls, tmp_path, settings(), chunk_events=0)
