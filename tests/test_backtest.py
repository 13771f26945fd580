"""Backtests from Python: the Strategy API over the Rust venue, the vectorized binding,
results and metrics, data sources, the risk engine in front of orders.

External references: vectorbt 1.2's own orders, trades and stats
(``rust/core/tests/data/backtest_fixtures.txt.gz``, made by vectorbt from PyPI), the real
TA-Lib's EMA for the signals, and numpy restatements of the metric formulas.
"""

from __future__ import annotations

import gc
import gzip
import importlib.util
import io
import math
import re
import struct
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psutil
import pytest
import talib

from baconalgo import EVENT_DTYPE, BacktestError, Strategy, backtest, ta
from baconalgo.backtest import BacktestConfig, EmaCrossRule
from baconalgo.backtest.progress import Progress
from baconalgo.config import load_config
from baconalgo.errors import ConfigError
from baconalgo.recorder import Recorder
from baconalgo.risk import RejectReason
from baconalgo.strategy import Bar, Quote, StrategyAlreadyAttached, StrategyNotAttached

REPO = Path(__file__).resolve().parents[1]
BARS = REPO / "data" / "bars" / "btc_perp_1m_2022-01.csv.gz"
FIXTURES = REPO / "rust" / "core" / "tests" / "data" / "backtest_fixtures.txt.gz"


def _load_example() -> type[Strategy]:
    spec = importlib.util.spec_from_file_location(
        "example_ema_cross", REPO / "examples" / "ema_cross.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["example_ema_cross"] = module
    spec.loader.exec_module(module)
    cls: type[Strategy] = module.EmaCross
    return cls


EmaCross = _load_example()


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return backtest.load_bars(BARS)


def _hex(h: str) -> float:
    return float(struct.unpack(">d", bytes.fromhex(h))[0])


def vectorbt_case(name: str) -> dict[str, Any]:
    """One case of the vectorbt fixture file (format in rust/core/tests/data/README.md)."""
    case: dict[str, Any] = {"orders": [], "trades": []}
    inside = False
    with gzip.open(FIXTURES, "rt") as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "case":
                inside = parts[1] == name
                if inside:
                    case["bars"] = int(parts[2])
                    case["fees"], case["slippage"], case["init_cash"] = (
                        _hex(parts[5]),
                        _hex(parts[6]),
                        _hex(parts[7]),
                    )
                continue
            if not inside:
                continue
            if parts[0] in ("entries", "exits"):
                case[parts[0]] = [int(x) for x in parts[1:]]
            elif parts[0] == "order":
                case["orders"].append(
                    (int(parts[1]), *(_hex(x) for x in parts[2:5]), parts[5] == "1")
                )
            elif parts[0] == "trade":
                case["trades"].append(
                    (int(parts[1]), int(parts[2]), *(_hex(x) for x in parts[3:9]))
                )
            elif parts[0] == "stats":
                case["stats"] = {k: _hex(v) for k, v in (p.split("=") for p in parts[1:])}
            elif parts[0] == "end":
                break
    assert case.get("bars"), f"case {name} not in {FIXTURES}"
    return case


def cross_signals(close: np.ndarray[Any, Any], fast: int, slow: int) -> tuple[Any, Any]:
    """EMA cross signals from the real TA-Lib, restated in numpy."""
    f, s = talib.EMA(close, fast), talib.EMA(close, slow)
    f0, s0, f1, s1 = f[:-1], s[:-1], f[1:], s[1:]
    valid = ~(np.isnan(f0) | np.isnan(s0) | np.isnan(f1) | np.isnan(s1))
    entries = np.concatenate([[False], valid & (f1 > s1) & (f0 <= s0)])
    exits = np.concatenate([[False], valid & (f1 < s1) & (f0 >= s0)])
    return entries, exits


# ---------------------------------------------------------------- the vectorized binding


def test_vectorized_binding_equals_vectorbt_orders_trades_and_stats(bars: pl.DataFrame) -> None:
    case = vectorbt_case("ema_10_50_long")
    n = case["bars"]
    close = bars["close"].to_numpy()[:n]
    entries, exits = np.zeros(n, bool), np.zeros(n, bool)
    entries[case["entries"]] = True
    exits[case["exits"]] = True
    res = backtest.simulate(
        close,
        entries,
        exits,
        init_cash=case["init_cash"],
        fees=case["fees"],
        slippage=case["slippage"],
        ts_ns=bars["ts_ns"].to_numpy()[:n],
    )
    assert res.fills.height == len(case["orders"]) > 300
    for row, (idx, size, price, fee, is_buy) in zip(
        res.fills.iter_rows(named=True), case["orders"], strict=True
    ):
        assert row["bar"] == idx and (row["side"] == "buy") == is_buy
        assert row["qty"] == pytest.approx(size, rel=1e-9)
        assert row["price"] == pytest.approx(price, rel=1e-12)
        assert row["fee"] == pytest.approx(fee, rel=1e-9)
    assert res.trades.height == len(case["trades"])
    for row, t in zip(res.trades.iter_rows(named=True), case["trades"], strict=True):
        assert (row["entry_bar"], row["exit_bar"]) == t[:2]
        assert row["pnl"] == pytest.approx(t[7], rel=1e-7, abs=1e-9)
    stats = case["stats"]
    m = res.metrics
    assert m["total_return"] == pytest.approx(stats["total_return"], rel=1e-9)
    assert m["sharpe"] == pytest.approx(stats["sharpe"], rel=1e-6)
    assert m["sortino"] == pytest.approx(stats["sortino"], rel=1e-6)
    # vectorbt reports the drawdown negative.
    assert m["max_drawdown"] == pytest.approx(-stats["max_drawdown"], rel=1e-9)
    assert m["win_rate"] == pytest.approx(stats["win_rate"], rel=1e-12)
    assert m["profit_factor"] == pytest.approx(stats["profit_factor"], rel=1e-9)
    assert m["closed_trades"] == stats["closed_trades"]


def test_sweep_summaries_equal_single_runs(bars: pl.DataFrame) -> None:
    close = bars["close"].to_numpy()[:10_000]
    pairs = [(5, 20), (10, 50), (20, 100)]
    sweep = backtest.ema_cross_sweep(close, pairs, init_cash=10_000, fees=0.001)
    for row, (f, s) in zip(sweep.iter_rows(named=True), pairs, strict=True):
        en, ex = cross_signals(close, f, s)
        one = backtest.simulate(close, en, ex, init_cash=10_000, fees=0.001)
        assert row["final_equity"] == one.final_equity
        assert row["orders"] == one.fills.height


# ---------------------------------------------------------------- the Python strategy


def test_python_ema_cross_makes_the_vectorized_trades_on_the_real_bars(bars: pl.DataFrame) -> None:
    cfg = BacktestConfig(init_cash=10_000.0, tick_size=0.01, lot_size=1e-8, taker_fee=0.001)
    ev = backtest.run(EmaCross(), bars, cfg)
    close = bars["close"].to_numpy()
    en, ex = cross_signals(close, 10, 50)
    vec = backtest.simulate(close, en, ex, init_cash=10_000.0, fees=0.001)
    assert vec.trades.height > 600
    assert ev.trades.height == vec.trades.height
    a, b = ev.trades, vec.trades
    assert a["entry_bar"].to_list() == b["entry_bar"].to_list()
    assert a["exit_bar"].to_list() == b["exit_bar"].to_list()
    assert a["is_open"].to_list() == b["is_open"].to_list()
    # Closes sit on a 0.25 grid, so ticks of 0.01 hold them exactly.
    np.testing.assert_allclose(a["entry_price"], b["entry_price"], rtol=1e-12)
    np.testing.assert_allclose(a["exit_price"], b["exit_price"], rtol=1e-12)
    # The venue trades whole lots (1e-8): sizes differ by less than a lot.
    assert np.all(
        np.abs(a["size"].to_numpy() - b["size"].to_numpy()) <= 1e-8 + 1e-9 * b["size"].to_numpy()
    )
    assert ev.final_equity == pytest.approx(vec.final_equity, rel=1e-6)


def test_python_ema_cross_trades_where_vectorbt_does_with_slippage(bars: pl.DataFrame) -> None:
    case = vectorbt_case("ema_10_50_long")
    n = case["bars"]
    cfg = BacktestConfig(
        init_cash=case["init_cash"],
        tick_size=0.01,
        lot_size=1e-8,
        taker_fee=case["fees"],
        slippage=case["slippage"],
    )
    ev = backtest.run(EmaCross(), bars.head(n), cfg)
    assert ev.fills.height == len(case["orders"])
    for row, (idx, size, price, _, is_buy) in zip(
        ev.fills.iter_rows(named=True), case["orders"], strict=True
    ):
        assert row["bar"] == idx and (row["side"] == "buy") == is_buy
        # The venue rounds the slipped price away from the trader to the 0.01 tick.
        assert abs(row["price"] - price) <= 0.01 + 1e-9
        assert row["qty"] == pytest.approx(size, rel=1e-4)


def test_declared_rule_in_rust_makes_the_python_strategys_fills(bars: pl.DataFrame) -> None:
    cfg = BacktestConfig(
        init_cash=10_000.0, tick_size=0.01, lot_size=1e-8, taker_fee=0.001, chunk_bars=7_000
    )
    py = backtest.run(EmaCross(), bars, cfg)
    rule = backtest.run(EmaCrossRule(10, 50), bars, cfg)
    assert py.fills.equals(rule.fills)
    assert py.equity.equals(rule.equity)


def test_same_inputs_same_fills_whatever_the_chunk_size(bars: pl.DataFrame) -> None:
    data = bars.head(12_000)
    runs = [
        backtest.run(EmaCross(), data, BacktestConfig(taker_fee=0.001, chunk_bars=c))
        for c in (65_536, 65_536, 1_000, 333)
    ]
    for r in runs[1:]:
        assert r.fills.equals(runs[0].fills)
        assert r.orders.equals(runs[0].orders)
        assert r.equity.equals(runs[0].equity)


def test_every_data_source_gives_the_same_bars(bars: pl.DataFrame, tmp_path: Path) -> None:
    data = bars.head(3_000)
    cfg = BacktestConfig(taker_fee=0.001, chunk_bars=1_024)
    ref = backtest.run(EmaCross(), data, cfg)
    pq = tmp_path / "bars.parquet"
    data.write_parquet(pq)
    arrays = {c: data[c].to_numpy() for c in data.columns}
    # The recorder's layout: each bar a run of four BAR events, prices in 0.01 ticks.
    events = np.zeros(4 * data.height, dtype=EVENT_DTYPE)
    for k, col in enumerate(("open", "high", "low", "close")):
        run = events[k::4]
        run["ts_event_ns"] = data["ts_ns"].to_numpy()
        run["ts_recv_ns"] = data["ts_ns"].to_numpy() + 60_000_000_000
        run["seq"] = run["ts_recv_ns"]
        run["kind"] = 6
        run["aux"] = k
        run["flags"] = 4
        run["price_ticks"] = np.round(data[col].to_numpy() * 100).astype(np.int64)
    rec = tmp_path / "rec"
    with Recorder(rec, flush_events=5_000) as r:
        r.write(events)
    for source in (pq, arrays, data.lazy(), rec):
        got = backtest.run(EmaCross(), source, cfg)
        assert got.fills.equals(ref.fills), type(source)
        np.testing.assert_array_equal(got.equity["equity"], ref.equity["equity"])


def test_metrics_restate_in_numpy(bars: pl.DataFrame) -> None:
    res = backtest.run(EmaCross(), bars.head(20_000), BacktestConfig(taker_fee=0.001))
    eq = res.equity["equity"].to_numpy()
    r = np.diff(np.concatenate([[res.init_cash], eq])) / np.concatenate([[res.init_cash], eq[:-1]])
    ann = 525_600.0  # one-minute bars, 365-day year
    m = res.metrics
    assert m["total_return"] == pytest.approx(eq[-1] / res.init_cash - 1, rel=1e-12)
    assert m["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(ann), rel=1e-9)
    peak = np.maximum.accumulate(eq)
    assert m["max_drawdown"] == pytest.approx(np.max(1 - eq / peak), rel=1e-9)
    closed = res.trades.filter(~pl.col("is_open"))["pnl"].to_numpy()
    assert m["win_rate"] == pytest.approx(np.mean(closed > 0), rel=1e-12)
    assert m["exposure"] == pytest.approx(
        np.mean(res.equity["position"].to_numpy() != 0), rel=1e-12
    )
    assert res.positions.height == res.fills.height


# ---------------------------------------------------------------- orders, risk, errors


def flat_bars(closes: list[float]) -> dict[str, Any]:
    c = np.array(closes)
    ts = np.uint64(1_700_000_000_000_000_000) + np.arange(len(c), dtype=np.uint64) * np.uint64(
        60_000_000_000
    )
    return {"ts_ns": ts, "open": c, "high": c, "low": c, "close": c, "volume": np.ones(len(c))}


class Scripted(Strategy):
    """Sends the orders of ``script[bar index]`` and records every update."""

    def __init__(self, script: dict[int, list[tuple[str, Any]]]) -> None:
        self.script = script
        self.updates: list[tuple[int, str, str | None, float]] = []
        self.fills: list[tuple[int, float, float, str | None]] = []
        self.ids: list[int] = []
        self.bar_index = -1

    def on_bar(self, bar: Any) -> None:
        self.bar_index = bar.index
        for action, args in self.script.get(bar.index, []):
            if action == "submit":
                self.ids.append(self.submit(*args[0], **args[1]))
            elif action == "cancel":
                self.cancel(self.ids[args])
            elif action == "replace":
                self.replace(self.ids[args[0]], **args[1])

    def on_order_update(self, update: Any) -> None:
        self.updates.append(
            (update.client_order_id, update.status, update.reason, update.leaves_qty)
        )

    def on_fill(self, fill: Any) -> None:
        self.fills.append((fill.client_order_id, fill.price, fill.qty, fill.liquidity))


def test_limit_ioc_fok_post_only_cancel_and_replace_behave_as_a_venue() -> None:
    cfg = BacktestConfig(
        init_cash=1_000_000.0,
        tick_size=0.5,
        lot_size=0.1,
        taker_fee=0.001,
        maker_fee=-0.0001,
        liquidity=5.0,
    )
    s = Scripted(
        {
            0: [
                ("submit", (("buy", 1.0, 99.0), {})),  # 1 rests below 100
                ("submit", (("buy", 1.0, 101.0), {"post_only": True})),  # 2 would take: rejected
                ("submit", (("buy", 6.0, 100.0), {"tif": "fok"})),  # 3 only 5 offered: killed
                ("submit", (("buy", 6.0, 100.0), {"tif": "ioc"})),  # 4 takes 5, rest cancelled
                ("submit", (("sell", 2.0, 110.0), {})),  # 5 rests above
            ],
            1: [("replace", (4, {"price": 105.0}))],  # 5 repriced to 105
            2: [("cancel", 0)],  # 1 cancelled
        }
    )
    backtest.run(s, flat_bars([100.0, 100.0, 100.0, 106.0]), cfg)
    by_id: dict[int, list[tuple[str, str | None]]] = {}
    for oid, status, reason, _ in s.updates:
        by_id.setdefault(oid, []).append((status, reason))
    assert by_id[1] == [("new", None), ("cancelled", "user_cancel")]
    assert by_id[2] == [("rejected", "post_only_would_take")]
    assert by_id[3] == [("rejected", "fok_not_fillable")]
    assert by_id[4] == [("new", None), ("partially_filled", None), ("cancelled", "ioc_remainder")]
    assert by_id[5] == [("new", None), ("replaced", None), ("filled", None)]
    assert (4, 100.0, 5.0, "taker") in s.fills
    # The replaced sell at 105 trades when the close reaches 106, at its own price, as maker.
    assert (5, 105.0, 2.0, "maker") in s.fills


def test_risk_refusal_reaches_on_order_update_with_its_reason(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text(
        """
[backtest]
init_cash = 100000.0
tick = "0.5"
lot = "0.001"
taker_fee = 0.001

[risk]
starting_equity = 100000.0
max_gross_exposure = 1000000.0
max_net_exposure = 1000000.0

[risk.instruments.BTCUSDT]
tick = "0.5"
lot = "0.001"
max_order_qty = "1.0"
max_position_qty = "1.5"
max_notional = 1000000.0
"""
    )
    config = load_config(toml, {})
    s = Scripted(
        {
            1: [
                ("submit", (("buy", 2.0), {})),  # above max_order_qty
                ("submit", (("buy", 1.0), {})),
            ],  # fine
            2: [("submit", (("buy", 1.0), {}))],  # position would be 2.0 > 1.5
        }
    )
    res = backtest.run(
        s, flat_bars([100.0] * 4), backtest.config_from(config.backtest), risk=config.risk
    )
    rejected = [(oid, reason) for oid, status, reason, _ in s.updates if status == "rejected"]
    assert rejected == [(1, "qty_above_max"), (3, "position_limit")]
    assert (
        res.orders.filter(pl.col("client_order_id") == 1)["reason_code"].item()
        == RejectReason.QTY_ABOVE_MAX
    )
    assert res.risk is not None and res.risk["rejected"] == {
        "qty_above_max": 1,
        "position_limit": 1,
    }
    assert res.risk["errors"] == 0
    assert res.equity["position"][-1] == 1.0


def test_risk_and_venue_must_count_in_the_same_ticks(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text(
        "[risk]\nstarting_equity = 1.0\nmax_gross_exposure = 1.0\nmax_net_exposure = 1.0\n"
        '[risk.instruments.X]\ntick = "0.1"\nlot = "0.001"\nmax_order_qty = "1"\n'
        'max_position_qty = "1"\nmax_notional = 1.0\n'
    )
    config = load_config(toml, {})
    with pytest.raises(ConfigError, match=r"risk.instruments.X.tick"):
        backtest.run(
            EmaCross(), flat_bars([1.0, 2.0]), BacktestConfig(tick_size=0.01), risk=config.risk
        )


def test_off_grid_orders_and_bad_bars_raise_naming_the_field() -> None:
    class OffGrid(Strategy):
        def on_bar(self, bar: Any) -> None:
            self.buy(1.0, price=100.003)

    with pytest.raises(BacktestError, match="price"):
        backtest.run(OffGrid(), flat_bars([100.0]), BacktestConfig(tick_size=0.01, lot_size=0.1))
    with pytest.raises(BacktestError, match="close"):
        backtest.run(EmaCross(), flat_bars([100.0, float("nan")]), BacktestConfig())
    with pytest.raises(ValueError, match="missing column"):
        backtest.run(EmaCross(), pl.DataFrame({"ts_ns": [1], "close": [1.0]}), BacktestConfig())
    with pytest.raises(StrategyNotAttached):
        EmaCross().buy(1.0)
    used = EmaCross()
    backtest.run(used, flat_bars([100.0, 101.0]), BacktestConfig())
    with pytest.raises(StrategyAlreadyAttached, match="make a new instance"):
        backtest.run(used, flat_bars([100.0, 101.0]), BacktestConfig())


def test_indicator_handles_hold_the_streaming_values(bars: pl.DataFrame) -> None:
    class Watch(Strategy):
        def on_start(self) -> None:
            self.atr = self.indicator(ta.stream.ATR(14), "high", "low", "close")
            self.seen: list[float] = []

        def on_bar(self, bar: Any) -> None:
            self.seen.append(self.atr.value)

    w = Watch()
    data = bars.head(500)
    backtest.run(w, data, BacktestConfig())
    expected = talib.ATR(
        data["high"].to_numpy(), data["low"].to_numpy(), data["close"].to_numpy(), 14
    )
    np.testing.assert_array_equal(np.array(w.seen), expected)


# ---------------------------------------------------------------- CLI, report, memory


def test_cli_backtest_prints_the_summary_and_writes_results_and_report(tmp_path: Path) -> None:
    cfg = tmp_path / "bt.toml"
    cfg.write_text("[backtest]\ninit_cash = 10000.0\ntaker_fee = 0.001\n")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "baconalgo",
            "backtest",
            "examples/ema_cross.py:EmaCross",
            "--data",
            str(BARS),
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "out"),
            "--report",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    # The vectorized engine (= vectorbt) on TA-Lib's EMAs decides the expected figures.
    close = backtest.load_bars(BARS)["close"].to_numpy()
    en, ex = cross_signals(close, 10, 50)
    vec = backtest.simulate(close, en, ex, init_cash=10_000.0, fees=0.001)
    closed = vec.trades.filter(~pl.col("is_open")).height
    assert f"trades {closed} closed" in r.stdout
    assert "bars 45,031 from 2021-12-31 23:01:00" in r.stdout
    # Not a terminal: no progress bar on stderr.
    assert "\r" not in r.stderr
    trades = pl.read_parquet(tmp_path / "out" / "trades.parquet")
    assert trades["entry_bar"].to_list() == vec.trades["entry_bar"].to_list()
    page = (tmp_path / "r.html").read_text()
    assert "Plotly.newPlot" in page and "Drawdown" in page
    # plotly.js is embedded from the package: the page needs no network.
    assert re.search(r"<script[^>]*\bsrc=", page) is None
    assert "plotly.js v" in page


def test_cli_backtest_names_a_bad_strategy(tmp_path: Path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "baconalgo",
            "backtest",
            "examples/ema_cross.py:Nope",
            "--data",
            str(BARS),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert r.returncode == 2
    assert "Nope is not a baconalgo.Strategy subclass" in r.stderr


def test_progress_bar_draws_only_when_enabled() -> None:
    out = io.StringIO()
    p = Progress(100, enabled=True, stream=out)
    p.update(100)
    p.close()
    assert "100.0% 100/100 bars" in out.getvalue()
    quiet = io.StringIO()
    Progress(100, stream=quiet).update(100)  # StringIO is not a terminal
    assert quiet.getvalue() == ""


def test_rss_stays_flat_over_20_repeated_backtests(bars: pl.DataFrame) -> None:
    proc = psutil.Process()
    cfg = BacktestConfig(taker_fee=0.001)
    for _ in range(3):  # warm-up: allocator pools, imports, caches
        backtest.run(EmaCross(), bars, cfg)
    gc.collect()
    before = proc.memory_info().rss
    for _ in range(20):
        backtest.run(EmaCross(), bars, cfg)
    gc.collect()
    after = proc.memory_info().rss
    assert after <= before * 1.05, f"RSS grew from {before} to {after} bytes"


def test_the_same_strategy_runs_against_any_broker_a_runner_attaches() -> None:
    class PaperBroker:
        """What a paper or live runner provides: the Broker protocol, nothing of the
        backtest."""

        def __init__(self) -> None:
            self.sent: list[tuple[Any, ...]] = []
            self.cash, self.position, self.equity, self.ts_ns = 1_000.0, 0.0, 1_000.0, 7

        def submit(
            self,
            side: Any,
            qty: float,
            price: Any = None,
            tif: str = "gtc",
            post_only: bool = False,
        ) -> int:
            self.sent.append((side, qty, price, tif, post_only))
            return len(self.sent)

        def cancel(self, client_order_id: int) -> None:
            self.sent.append(("cancel", client_order_id))

        def replace(self, client_order_id: int, price: Any = None, qty: Any = None) -> None:
            self.sent.append(("replace", client_order_id, price, qty))

        def quote(self) -> tuple[float, float]:
            return (99.5, 100.5)

        def open_orders(self) -> list[tuple[int, str, float, float, float, str]]:
            return [(1, "buy", 100.25, 1.0, 0.0, "ioc")]

        def max_buy_qty(self) -> float:
            return 9.0

        def kill_switch(self) -> int:
            self.sent.append(("kill_switch",))
            return 1

    class QuoteTaker(Strategy):
        def on_start(self) -> None:
            self.sma = self.indicator(ta.stream.SMA(2))

        def on_quote(self, quote: Any) -> None:
            if quote.ask < 100.5:
                self.buy(1.0, quote.ask, tif="ioc")

    s, broker = QuoteTaker(), PaperBroker()
    s.attach(broker)
    s.on_start()
    s.on_quote(types.SimpleNamespace(bid=100.0, ask=100.25))
    s.cancel_all()
    s.replace(1, price=100.0)
    assert broker.sent == [
        ("buy", 1.0, 100.25, "ioc", False),
        ("cancel", 1),
        ("replace", 1, 100.0, None),
    ]
    assert s.book == Quote(99.5, 100.5) and s.now_ns == 7 and s.max_buy_qty() == 9.0
    assert s.open_orders[0].client_order_id == 1 and s.position == 0.0
    # A live runner feeds the registered indicators from the bars it builds.
    for i, close in enumerate((1.0, 3.0)):
        for handle in s.indicators:
            handle.feed(Bar(i, close, close, close, close))
    assert s.sma.value == 2.0 and math.isnan(s.sma.previous)


# ---------------------------------------------------------------- bar fill models


class RangeMaker(Strategy):
    """One limit order at a time: a buy 20 below the close when flat, a sell 20 above
    when long; an order still working after ``LIFE`` bars is cancelled and placed anew."""

    LIFE = 30

    def __init__(self) -> None:
        self.placed_at = -1

    def on_bar(self, bar: Any) -> None:
        working = self.open_orders
        if working and bar.index - self.placed_at >= self.LIFE:
            self.cancel(working[0][0])
        elif working:
            return
        self.placed_at = bar.index
        if self.position == 0:
            self.buy(0.01, price=bar.close - 20.0)
        else:
            self.sell(self.position, price=bar.close + 20.0)


@pytest.mark.parametrize("fill", ["touch", "trade_through"])
def test_resting_orders_fill_where_the_real_bars_range_first_reaches_them(
    bars: pl.DataFrame, fill: str
) -> None:
    """Each order fills, at its own price, on the first later bar whose low (buy) or high
    (sell) reaches it (touch) or goes beyond it (trade-through), found here by walking
    the real bars in plain Python."""
    cfg = BacktestConfig(fill=fill)  # type: ignore[arg-type]
    r = backtest.run(RangeMaker(), bars, cfg)
    low: list[float] = bars["low"].to_list()
    high: list[float] = bars["high"].to_list()

    def reaches(k: int, side: str, price: float) -> bool:
        if fill == "touch":
            return low[k] <= price if side == "buy" else high[k] >= price
        return low[k] < price if side == "buy" else high[k] > price

    filled = cancelled = 0
    last = len(low) - 1
    for o in r.orders.iter_rows(named=True):
        # Working from the bar after it was sent to the bar that cancels it (fills at a
        # bar's start come before that bar's callback).
        start, end = o["bar_submitted"] + 1, min(o["bar_submitted"] + RangeMaker.LIFE, last)
        first = next((k for k in range(start, end + 1) if reaches(k, o["side"], o["price"])), None)
        if o["status"] == "filled":
            filled += 1
            assert o["bar_updated"] == first, o
            assert o["avg_fill_price"] == o["price"]
        elif o["status"] == "cancelled":
            cancelled += 1
            assert first is None and o["bar_updated"] == end, o
        else:
            assert o["status"] == "new" and first is None, o
    assert filled > 2_000 and cancelled > 100
    # The close model fills the same orders later or never: fewer round trips.
    close = backtest.run(RangeMaker(), bars, BacktestConfig())
    assert close.orders.filter(pl.col("status") == "filled").height < filled


def test_an_unknown_fill_model_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="fill must be"):
        backtest.run(RangeMaker(), flat_bars([100.0, 101.0]), BacktestConfig(fill="bogus"))  # type: ignore[arg-type]
