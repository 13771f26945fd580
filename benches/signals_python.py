"""What signals cost a strategy, side by side in one run (anchor: the same run without
them; ratio = with / without, so 1.05 means 5 % slower):

Each pair of runs is taken in turns (best of 5 for bars, 20 for run_market).

* bar backtest: the EMA(10)/EMA(50) cross Python strategy (``examples/ema_cross.py``) on
  the 525,600 one-minute bars of ``benches/backtest_python.py``, with and without two
  subscribed signals (``RSI(14)@1m < 30`` fused with ``CLOSE@15m > EMA(50)@1h``, and
  ``RSI(14)@1m > 70``) evaluated in Rust on every bar, ``on_signal`` in Python per firing;
  and the two signals' engines alone over one trade per bar (Rust only, the figure the
  machine's noise does not swamp) against the same series computed by polars resampling
  + TA-Lib in one vectorized pass (what an offline study of the rules costs);
* ``backtest.run_market`` on the bundled Binance spot recording (191,930 events, 9,757
  trades) with a strategy whose ``on_trade`` counts trades, with and without two signals
  (``RSI(14)@1s < 30`` with ``CLOSE@5s > EMA(20)@5s``, and ``RSI(14)@1s > 70``).

    .venv/bin/python benches/signals_python.py       (make bench-signals)
"""

from __future__ import annotations

import importlib.util
import platform
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import talib

import baconalgo as ba
from baconalgo import backtest
from baconalgo.backtest import BacktestConfig
from baconalgo.paper import PaperSettings
from baconalgo.signal import Signal
from baconalgo.strategy import SignalFired

REPO = Path(__file__).resolve().parents[1]
REPEAT = 3


def _module(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def best(fn: Any, repeats: int = REPEAT) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def best_pair(plain: Any, signalled: Any, repeats: int) -> tuple[float, float, Any, Any]:
    """Best times of two runs taken in turns, so both see the same (shared) machine."""
    tp, ts, out_p, out_s = float("inf"), float("inf"), None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out_p = plain()
        t1 = time.perf_counter()
        out_s = signalled()
        t2 = time.perf_counter()
        tp, ts = min(tp, t1 - t0), min(ts, t2 - t1)
    return tp, ts, out_p, out_s


def with_signals(base: type[ba.Strategy], buy: list[str], sell: list[str]) -> type[ba.Strategy]:
    class Signalled(base):  # type: ignore[misc, valid-type]
        def on_start(self) -> None:
            super().on_start()
            self.fired = 0
            self.subscribe_signal(Signal(buy, side="buy", signal_id=1))
            self.subscribe_signal(Signal(sell, side="sell", signal_id=2))

        def on_signal(self, signal: SignalFired) -> None:
            self.fired += 1

    return Signalled


def talib_pass(bars: pl.DataFrame) -> int:
    """The bar signals' series by polars + TA-Lib over the whole year, vectorized."""
    t = bars.with_columns(pl.col("ts_ns").cast(pl.Int64).cast(pl.Datetime("ns")).alias("t"))
    rsi = talib.RSI(t["close"].to_numpy(), 14)
    c15 = t.group_by_dynamic("t", every="15m").agg(pl.col("close").last())
    c60 = t.group_by_dynamic("t", every="1h").agg(pl.col("close").last())
    ema = talib.EMA(c60["close"].to_numpy(), 50)
    return int(np.isfinite(rsi).sum() + c15.height + np.isfinite(ema).sum())


def bar_backtest(rows: list[tuple[str, str, str, str]]) -> None:
    bench = _module("backtest_python", REPO / "benches" / "backtest_python.py")
    bars = bench.year_of_bars()
    ema_cross = bench.load_example()
    signalled = with_signals(
        ema_cross, ["RSI(14)@1m < 30", "CLOSE@15m > EMA(50)@1h"], ["RSI(14)@1m > 70"]
    )
    cfg = BacktestConfig(init_cash=10_000.0, tick_size=0.01, lot_size=1e-8, taker_fee=0.001)
    holder: list[Any] = []

    def run_signalled() -> Any:
        holder.append(signalled())
        return backtest.run(holder[-1], bars, cfg)

    t_plain, t_sig, plain, res = best_pair(
        lambda: backtest.run(ema_cross(), bars, cfg), run_signalled, 5
    )
    assert res.fills.equals(plain.fills), "on_signal only counts: the fills must not change"
    t_talib, _ = best(lambda: talib_pass(bars))
    fired = holder[-1].fired
    print(f"bar backtest: {t_plain:.3f} s plain, {t_sig:.3f} s with signals ({fired} firings)")
    print(f"polars + TA-Lib, the same series vectorized: {t_talib * 1e3:.1f} ms")
    rows.append(
        (
            f"EMA cross + 2 signals, {bars.height:,} bars ({fired:,} firings)",
            f"{t_sig:.3f} s",
            f"the same run without signals {t_plain:.3f} s",
            f"{t_sig / t_plain:.2f}",
        )
    )
    # The engines alone, on one trade per bar (a large, Rust-only job the shared
    # machine's noise does not swamp).
    trades = ba.events(bars.height)
    trades["kind"] = ba.EventKind.TRADE
    trades["ts_event_ns"] = bars["ts_ns"].to_numpy() + np.uint64(30_000_000_000)
    trades["price_ticks"] = np.round(bars["close"].to_numpy() * 100).astype(np.int64)
    trades["qty_lots"] = 1

    def engines() -> int:
        a = Signal(["RSI(14)@1m < 30", "CLOSE@15m > EMA(50)@1h"], price_scale=0.01)
        b = Signal(["RSI(14)@1m > 70"], side="sell", signal_id=1, price_scale=0.01)
        return len(a.on_events(trades)) + len(b.on_events(trades))

    t_eng, _ = best(engines, 5)
    print(f"the two engines alone: {t_eng * 1e3:.1f} ms for {bars.height:,} trades")
    rows.append(
        (
            f"the 2 signals' engines alone, {bars.height:,} trades",
            f"{t_eng * 1e3:.1f} ms ({t_eng / bars.height * 1e9:.0f} ns a trade)",
            f"polars + TA-Lib, the same series vectorized {t_talib * 1e3:.1f} ms",
            f"{t_eng / t_talib:.2f}",
        )
    )


def market(rows: list[tuple[str, str, str, str]]) -> None:
    paper = _module("paper_python", REPO / "benches" / "paper_python.py")
    ev = paper.events()
    batches = [ev[i : i + paper.BATCH] for i in range(0, len(ev), paper.BATCH)]

    class CountTrades(ba.Strategy):
        def on_start(self) -> None:
            self.trades = 0

        def on_trade(self, trade: Any) -> None:
            self.trades += 1

    signalled = with_signals(
        CountTrades, ["RSI(14)@1s < 30", "CLOSE@5s > EMA(20)@5s"], ["RSI(14)@1s > 70"]
    )
    settings = PaperSettings(tick_size=0.01, lot_size=1e-8)
    holder: list[Any] = []

    def run_signalled() -> Any:
        holder.append(signalled())
        return backtest.run_market(holder[-1], batches, settings)

    t_plain, t_sig, _, _ = best_pair(
        lambda: backtest.run_market(CountTrades(), batches, settings), run_signalled, 20
    )
    fired = holder[-1].fired
    print(f"run_market: {t_plain * 1e3:.1f} ms plain, {t_sig * 1e3:.1f} ms with signals")
    rows.append(
        (
            f"run_market + 2 signals, {len(ev):,} events ({fired} firings)",
            f"{t_sig * 1e3:.1f} ms ({len(ev) / t_sig / 1e6:.1f} M events/s)",
            f"the same run without signals {t_plain * 1e3:.1f} ms",
            f"{t_sig / t_plain:.2f}",
        )
    )


def main() -> None:
    rows: list[tuple[str, str, str, str]] = []
    load = Path("/proc/loadavg").read_text().strip()
    print(f"{date.today()}  Python {platform.python_version()}  loadavg {load}")
    bar_backtest(rows)
    market(rows)
    print()
    print("| what | BaconAlgo | anchor | ratio |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"loadavg after: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
