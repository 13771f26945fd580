"""Strategies receive the signals they subscribe to, in every runner: the rule values
against TA-Lib on polars-resampled real bars (bar backtests) and on the recorded Binance
trades (paper sessions / run_market), the fills against the bars' closes and the book
rebuilt from the recording with json, and the callbacks in order."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
import talib

from baconalgo import backtest
from baconalgo.paper import PaperSettings
from baconalgo.signal import Signal
from baconalgo.strategy import Bar, SignalFired, Strategy, StrategyNotAttached
from tests.conftest import REPO
from tests.test_paper import JsonBook, recorded_batches

BARS = REPO / "data" / "bars" / "btc_perp_1m_2022-01.csv.gz"
SEC = 1_000_000_000
MIN = 60 * SEC
CONFIG = backtest.BacktestConfig(tick_size=0.1, lot_size=0.001)


def minute_bars() -> pl.DataFrame:
    return pl.read_csv(BARS).with_columns(
        pl.col("timestamp")
        .str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="ns")
        .cast(pl.Int64)
        .alias("t")
    )


def resampled(df: pl.DataFrame, every: str, last_end_ns: int) -> pl.DataFrame:
    """``every`` bars by polars (windows aligned to the epoch), with their end time, the
    ones that end by ``last_end_ns`` only (a runner cannot know a later one is over)."""
    out = (
        df.sort("t")
        .with_columns(pl.col("t").cast(pl.Datetime("ns")))
        .group_by_dynamic("t", every=every, closed="left", label="left")
        .agg(pl.col("close").last())
    )
    out = out.with_columns(pl.col("t").cast(pl.Int64).alias("start"))
    span_ns = int(every[:-1]) * {"s": SEC, "m": MIN, "h": 60 * MIN}[every[-1]]
    out = out.with_columns((pl.col("start") + span_ns).alias("end"))
    return out.filter(pl.col("end") <= last_end_ns)


def latest(ends: npt.NDArray[np.int64], values: npt.NDArray[np.float64], at: int) -> float:
    """The value of the latest window that ended by ``at`` (NaN before the first)."""
    j = int(np.searchsorted(ends, at, side="right")) - 1
    return float(values[j]) if j >= 0 else float("nan")


def same(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or bool(np.isclose(a, b, rtol=1e-9, atol=0.0))


class Recorder(Strategy):
    """Subscribes to ``signals`` and logs every callback in order."""

    def __init__(self, *signals: Signal) -> None:
        self._wanted = signals
        self.log: list[tuple[str, Any]] = []
        self.fired: list[SignalFired] = []

    def on_start(self) -> None:
        for s in self._wanted:
            self.subscribe_signal(s)

    def on_bar(self, bar: Bar) -> None:
        self.log.append(("bar", bar.ts_ns))

    def on_trade(self, trade: Any) -> None:
        self.log.append(("trade", (trade.ts_ns, trade.price)))

    def on_signal(self, signal: SignalFired) -> None:
        self.log.append(("signal", signal))
        self.fired.append(signal)


class RsiTrader(Recorder):
    """Buys when RSI(14) on ``tf`` falls under ``low``, sells the position when it rises
    above ``high``; ``qty`` per buy (None: all the cash buys). Runs unchanged on bars and
    on trades."""

    def __init__(
        self, tf: str, qty: float | None = None, low: float = 30, high: float = 70
    ) -> None:
        super().__init__(
            Signal([f"RSI(14)@{tf} < {low}"], side="buy", signal_id=1),
            Signal([f"RSI(14)@{tf} > {high}"], side="sell", signal_id=2),
        )
        self.qty = qty
        self.sent: list[tuple[SignalFired, str, int]] = []

    def on_signal(self, signal: SignalFired) -> None:
        super().on_signal(signal)
        if signal.side == "buy" and self.position == 0:
            qty = self.qty if self.qty is not None else self.max_buy_qty()
            self.sent.append((signal, "buy", self.buy(qty)))
        elif signal.side == "sell" and self.position > 0:
            self.sent.append((signal, "sell", self.sell(self.position)))


# ---------------------------------------------------------------- bar backtests


def test_bar_backtest_signals_carry_talib_values_of_the_resampled_bars() -> None:
    df = minute_bars()
    last_end = int(df["t"].to_numpy().max()) + MIN
    q = resampled(df, "15m", last_end)
    h = resampled(df, "1h", last_end)
    rsi15 = talib.RSI(q["close"].to_numpy(), 14)
    close60, ema60 = h["close"].to_numpy(), talib.EMA(h["close"].to_numpy(), 20)
    q_end, h_end = q["end"].to_numpy(), h["end"].to_numpy()
    # The rules are evaluated whenever a window of theirs closes: every 15 minutes.
    expected, was = [], False
    for at in q_end:
        r = latest(q_end, rsi15, at)
        c, e = latest(h_end, close60, at), latest(h_end, ema60, at)
        now = bool(r < 35) or bool(c > e)
        if now and not was:
            expected.append((int(at), [(bool(r < 35), r, 35.0), (bool(c > e), c, e)]))
        was = now

    s = Recorder(Signal(["RSI(14)@15m < 35", "CLOSE@1h > EMA(20)@1h"], fusion="any", signal_id=7))
    backtest.run(s, BARS, CONFIG)

    assert len(expected) > 50
    assert [f.ts_ns for f in s.fired] == [t for t, _ in expected]
    for f, (_, rules) in zip(s.fired, expected, strict=True):
        assert f.signal_id == 7 and f.side == "buy"
        for (holds, left, right), (x_holds, x_left, x_right) in zip(f.rules, rules, strict=True):
            assert holds == x_holds
            assert same(left, x_left) and same(right, x_right), (f, rules)
        assert f.score == pytest.approx(sum(r[0] for r in rules) / 2)
    # Each firing comes right after the on_bar of the minute bar that closed its window.
    for prev, (kind, f) in zip(s.log, s.log[1:], strict=False):
        if kind == "signal":
            assert prev[0] == "bar" and prev[1] + MIN == f.ts_ns


def test_an_rsi_strategy_trades_its_signals_at_the_close_of_the_firing_bar() -> None:
    df = minute_bars()
    h = resampled(df, "1h", int(df["t"].to_numpy().max()) + MIN)
    rsi = talib.RSI(h["close"].to_numpy(), 14)
    ends = h["end"].to_numpy()
    crossings = []
    for k in range(1, len(rsi)):
        for side, now, before in (
            ("buy", rsi[k] < 30, rsi[k - 1] < 30),
            ("sell", rsi[k] > 70, rsi[k - 1] > 70),
        ):
            if now and not before:
                crossings.append((int(ends[k]), side, float(rsi[k])))

    s = RsiTrader("1h")
    result = backtest.run(s, BARS, CONFIG)

    assert [(f.ts_ns, f.side) for f in s.fired] == [(t, side) for t, side, _ in crossings]
    for f, (_, _, value) in zip(s.fired, crossings, strict=True):
        assert same(f.rules[0][1], value)
    # Long only, one position at a time: the first buy, then alternate.
    expected, flat = [], True
    closes = df["close"].to_numpy()
    for t, side, _ in crossings:
        if (side == "buy") == flat:
            # The window's last minute bar opened one minute before its end.
            bar = int(np.searchsorted(df["t"].to_numpy(), t - MIN))
            expected.append((bar, side, float(closes[bar])))
            flat = not flat
    fills = result.fills
    assert len(expected) >= 3
    assert list(zip(fills["bar"], fills["side"], fills["price"], strict=True)) == expected
    # A sell closes the whole position the buy before opened.
    qty = fills["qty"].to_list()
    assert all(qty[i] == qty[i + 1] for i in range(0, len(qty) - 1, 2))
    assert [o for _, _, o in s.sent] == result.orders["client_order_id"].to_list()


def test_bad_signal_subscriptions_say_what_is_wrong() -> None:
    def run_with(*signals: Signal) -> None:
        backtest.run(Recorder(*signals), BARS, CONFIG)

    with pytest.raises(ValueError, match=r"30s is finer than the data's 1m bars.*RSI\(14\)@30s"):
        run_with(Signal(["CLOSE@1h > 0", "RSI(14)@30s < 30"]))
    with pytest.raises(ValueError, match=r"90s is not a whole number of the data's 1m bars"):
        run_with(Signal(["RSI(14)@90s < 30"]))
    with pytest.raises(ValueError, match=r"signal id 1 is taken"):
        run_with(Signal(["RSI(14)@1h < 30"], signal_id=1), Signal(["CLOSE@1h > 0"], signal_id=1))
    with pytest.raises(ValueError, match=r"series 'RSI\(14\)@5x'"):
        Signal(["RSI(14)@5x < 30"])
    with pytest.raises(ValueError, match=r"rule 0.*period.*RSI\(1\)@1h < 30"):
        Signal(["RSI(1)@1h < 30"])
    with pytest.raises(TypeError, match="list of rule strings"):
        Signal("RSI(14)@1h < 30")
    with pytest.raises(StrategyNotAttached, match="subscribe_signal"):
        Recorder().subscribe_signal(Signal(["CLOSE@1h > 0"]))
    with pytest.raises(TypeError, match=r"takes a baconalgo\.signal\.Signal"):
        Recorder().subscribe_signal("CLOSE@1h > 0")  # type: ignore[arg-type]


# ---------------------------------------------------------------- paper / run_market


def recorded_trades_ns(path: Path) -> pl.DataFrame:
    """Every trade of the recording by json: exchange time (ns) and price."""
    rows = []
    with gzip.open(path, "rt") as f:
        for line in f:
            msg = json.loads(line.split(" ", 1)[1])
            if msg.get("stream", "").endswith("@trade"):
                rows.append((msg["data"]["T"] * 1_000_000, float(msg["data"]["p"])))
    return pl.DataFrame(rows, schema=["t", "close"], orient="row")


def tops_at_trades(path: Path) -> list[tuple[Decimal, Decimal, Decimal, Decimal]]:
    """(best bid, its qty, best ask, its qty) of the book rebuilt by json when each trade
    message arrives, in trade order (what a market order sent on that trade meets)."""
    from tests.test_paper import recorded_frames

    frames = recorded_frames(path)
    book = JsonBook(frames[0][1])
    out = []
    for _, msg in frames[1:]:
        stream = msg.get("stream", "")
        if "@depth" in stream:
            book.apply(msg["data"])
        elif stream.endswith("@trade"):
            bid, ask = max(book.bids), min(book.asks)
            out.append((bid, book.bids[bid], ask, book.asks[ask]))
    return out


@pytest.fixture(scope="module")
def spot_events(spot_recording: Path) -> npt.NDArray[np.void]:
    return np.concatenate(recorded_batches(spot_recording))


def test_run_market_delivers_signals_after_their_trade_with_talib_values(
    spot_recording: Path, spot_events: npt.NDArray[np.void]
) -> None:
    trades = recorded_trades_ns(spot_recording)
    t = trades["t"].to_numpy()
    bars = resampled(trades, "5s", int(t[-1]))
    # A window closes when the first trade of a later window arrives: the last never does.
    bars = bars.filter(pl.col("end") <= int(t[-1]))
    rsi = talib.RSI(bars["close"].to_numpy(), 14)
    ends = bars["end"].to_numpy()
    expected, was = [], False
    for k in range(len(ends)):
        now = bool(rsi[k] < 45)
        if now and not was:
            expected.append((int(ends[k]), float(rsi[k])))
        was = now

    s = Recorder(Signal(["RSI(14)@5s < 45"], signal_id=3))
    result = backtest.run_market(
        s, spot_events, PaperSettings(tick_size=0.01, lot_size=1e-8), chunk_events=5_000
    )

    assert len(expected) >= 3
    assert [f.ts_ns for f in s.fired] == [at for at, _ in expected]
    for f, (_, value) in zip(s.fired, expected, strict=True):
        assert same(f.rules[0][1], value) and f.rules[0][2] == 45.0
    assert result.status["counters"]["signals"] == len(expected)
    # Each firing right after the on_trade of the first trade at or after its window's end.
    for prev, (kind, f) in zip(s.log, s.log[1:], strict=False):
        if kind == "signal":
            first = int(np.searchsorted(t, f.ts_ns, side="left"))
            assert prev == ("trade", (int(t[first]), pytest.approx(float(trades["close"][first]))))
            assert f.price == pytest.approx(prev[1][1])


def test_the_rsi_strategy_trades_its_signals_in_a_paper_session(
    spot_recording: Path, spot_events: npt.NDArray[np.void]
) -> None:
    tops = tops_at_trades(spot_recording)
    # Seven minutes of a falling market: 2-second bars and a 60 exit to see round trips.
    s = RsiTrader("2s", qty=0.001, low=30, high=60)
    # The recorder's batches as a live session would poll them from the bus.
    batches = [spot_events[i : i + 777] for i in range(0, len(spot_events), 777)]
    result = backtest.run_market(s, batches, PaperSettings(tick_size=0.01, lot_size=1e-8))

    assert len(s.sent) >= 2, s.fired
    fills = result.fills
    assert fills["client_order_id"].to_list() == [o for _, _, o in s.sent]
    # The trade each signal came after, by its place among the on_trade calls.
    trade_index = {}
    n = -1
    for kind, item in s.log:
        if kind == "trade":
            n += 1
        else:
            trade_index[id(item)] = n
    for (f, side, _), row in zip(s.sent, fills.iter_rows(named=True), strict=True):
        bid, bid_qty, ask, ask_qty = tops[trade_index[id(f)]]
        # A market order of 0.001 meets the top level of the recorded book, taker.
        assert row["side"] == side and row["liquidity"] == "taker"
        assert row["qty"] == pytest.approx(0.001)
        price = row["price_ticks"] * Decimal("0.01")
        if side == "buy":
            assert ask_qty >= Decimal("0.001") and price == ask
        else:
            assert bid_qty >= Decimal("0.001") and price == bid
        assert row["ts_ns"] >= f.ts_ns


def test_the_signal_example_runs_unchanged_in_a_bar_backtest_and_in_paper(
    spot_events: npt.NDArray[np.void],
) -> None:
    from baconalgo.cli import load_strategy

    example = load_strategy(f"{REPO / 'examples' / 'rsi_signals.py'}:RsiReversal")
    ours = backtest.run(RsiTrader("1h"), BARS, CONFIG)
    result = backtest.run(example, BARS, CONFIG)
    assert result.fills.height >= 3
    assert result.fills.equals(ours.fills)

    class Fast(example):  # type: ignore[valid-type, misc]
        timeframe, overbought = "2s", 60.0

    paper = backtest.run_market(Fast, spot_events, PaperSettings(tick_size=0.01, lot_size=1e-8))
    # All the cash buys at the recorded ask, and the sell closes the position.
    assert paper.fills["side"].to_list() == ["buy", "sell"]
    assert paper.fills["qty"][0] == paper.fills["qty"][1] > 0
