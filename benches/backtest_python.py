"""Backtests from Python against their anchors, side by side in one run:

* event-driven: the EMA(10)/EMA(50) cross as a Python ``baconalgo.Strategy``
  (``examples/ema_cross.py``) and as the declared rule run in Rust, against
  nautilus_trader's own ``EMACross`` example strategy, on the same 525,600 one-minute bars;
* vectorized: one EMA(10)/EMA(50) run, and a 1,000-pair EMA sweep, against vectorbt's
  ``Portfolio.from_signals`` on the same signals, results checked equal in this script.

    make bench-backtest      (pip-installs nautilus_trader and vectorbt into .bench-deps/backtest)

The year of bars is the bundled month (``data/bars/btc_perp_1m_2022-01.csv.gz``, 45,031
real bars) tiled 12 times and cut at 525,600 bars, timestamps re-spaced one minute apart
from the first bar: deterministic, real prices, one price jump at each seam.

nautilus' ``EMACross`` is its own example, not ours: it flips between long and short with
a fixed size, we are long-only all-in; both see every bar, update two EMAs, decide and
trade on crosses. Times are wall clock of the run only (data loading excluded for all).
"""

from __future__ import annotations

import importlib.util
import platform
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from baconalgo import backtest, ta
from baconalgo.backtest import BacktestConfig, EmaCrossRule

REPO = Path(__file__).resolve().parents[1]
BARS = REPO / "data" / "bars" / "btc_perp_1m_2022-01.csv.gz"
YEAR = 525_600
FEES = 0.001
CASH = 10_000.0


def year_of_bars() -> pl.DataFrame:
    month = backtest.load_bars(BARS)
    reps = -(-YEAR // month.height)
    tiled = pl.concat([month] * reps).head(YEAR)
    start = int(month["ts_ns"][0])
    ts = start + np.arange(YEAR, dtype=np.uint64) * np.uint64(60_000_000_000)
    return tiled.with_columns(pl.Series("ts_ns", ts))


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("ema_cross", REPO / "examples" / "ema_cross.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.EmaCross


def best(fn: Any, repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def nautilus_ema_cross(bars: pl.DataFrame) -> tuple[float, int] | None:
    try:
        import pandas as pd
        from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
        from nautilus_trader.config import LoggingConfig
        from nautilus_trader.examples.strategies.ema_cross import EMACross, EMACrossConfig
        from nautilus_trader.model.currencies import USDT
        from nautilus_trader.model.data import BarType
        from nautilus_trader.model.enums import AccountType, OmsType
        from nautilus_trader.model.identifiers import TraderId, Venue
        from nautilus_trader.model.objects import Money
        from nautilus_trader.persistence.wranglers import BarDataWrangler
        from nautilus_trader.test_kit.providers import TestInstrumentProvider
    except ImportError:
        return None
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId("BENCH-001"), logging=LoggingConfig(log_level="ERROR")
        )
    )
    engine.add_venue(
        venue=Venue("BINANCE"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=None,
        starting_balances=[Money(1_000_000, USDT)],
    )
    inst = TestInstrumentProvider.btcusdt_perp_binance()
    engine.add_instrument(inst)
    bar_type = BarType.from_str(f"{inst.id}-1-MINUTE-LAST-EXTERNAL")
    frame = pd.DataFrame(
        {c: bars[c].to_numpy() for c in ("open", "high", "low", "close", "volume")},
        index=pd.to_datetime(bars["ts_ns"].to_numpy().astype(np.int64), utc=True),
    )
    engine.add_data(BarDataWrangler(bar_type, inst).process(frame))
    config = EMACrossConfig(
        instrument_id=inst.id,
        bar_type=bar_type,
        trade_size=Decimal("0.010"),
        fast_ema_period=10,
        slow_ema_period=50,
        request_bars=False,
        subscribe_trade_ticks=False,
    )
    engine.add_strategy(EMACross(config))
    t0 = time.perf_counter()
    engine.run()
    elapsed = time.perf_counter() - t0
    orders = len(engine.cache.orders())
    engine.dispose()
    return elapsed, orders


def cross(fast: Any, slow: Any) -> tuple[Any, Any]:
    """The cross rule of ``baconalgo_core::backtest::cross_signals``, in numpy, 2-D ok."""
    f0, s0, f1, s1 = fast[:-1], slow[:-1], fast[1:], slow[1:]
    valid = ~(np.isnan(f0) | np.isnan(s0) | np.isnan(f1) | np.isnan(s1))
    pad = np.zeros((1, *fast.shape[1:]), dtype=bool)
    entries = np.concatenate([pad, valid & (f1 > s1) & (f0 <= s0)])
    exits = np.concatenate([pad, valid & (f1 < s1) & (f0 >= s0)])
    return entries, exits


def event_driven(bars: pl.DataFrame, rows: list[tuple[str, str, str, str]]) -> None:
    ema_cross = load_example()
    cfg = BacktestConfig(init_cash=CASH, tick_size=0.01, lot_size=1e-8, taker_fee=FEES)
    t_py, res_py = best(lambda: backtest.run(ema_cross(), bars, cfg), 3)
    t_rule, res_rule = best(lambda: backtest.run(EmaCrossRule(10, 50), bars, cfg), 3)
    assert res_py.fills.equals(res_rule.fills), "Python strategy and declared rule disagree"
    print(f"ours, Python strategy: {t_py:.3f} s for {YEAR:,} bars, {res_py.fills.height} fills")
    print(f"ours, declared rule:   {t_rule:.3f} s")
    nt = nautilus_ema_cross(bars)
    if nt is None:
        print("nautilus_trader not installed: pip install nautilus_trader", file=sys.stderr)
        rows.append(("EMA cross, 525,600 bars, Python strategy", f"{t_py:.2f} s", "-", "-"))
        return
    print(f"nautilus_trader EMACross: {nt[0]:.3f} s, {nt[1]} orders")
    anchor = f"nautilus_trader EMACross {nt[0]:.1f} s"
    rows.append(
        (
            "EMA cross, 525,600 bars, Python strategy",
            f"{t_py:.2f} s",
            anchor,
            f"{nt[0] / t_py:.0f}x",
        )
    )
    rows.append(
        (
            "EMA cross, 525,600 bars, declared rule (Rust)",
            f"{t_rule:.3f} s",
            anchor,
            f"{nt[0] / t_rule:.0f}x",
        )
    )


def vectorized(bars: pl.DataFrame, rows: list[tuple[str, str, str, str]]) -> None:
    try:
        import vectorbt as vbt
    except ImportError:
        print("vectorbt not installed: pip install vectorbt", file=sys.stderr)
        return
    close = bars["close"].to_numpy()
    entries, exits = cross(ta.EMA(close, 10), ta.EMA(close, 50))
    t_vec, ours = best(
        lambda: backtest.simulate(close, entries, exits, init_cash=CASH, fees=FEES), 5
    )
    # Warm numba's JIT on a small input first: compile time is not run time.
    vbt.Portfolio.from_signals(
        close[:100], entries[:100], exits[:100], fees=FEES, init_cash=CASH, freq="1min"
    )

    def vbt_single() -> Any:
        return vbt.Portfolio.from_signals(
            close, entries, exits, fees=FEES, init_cash=CASH, freq="1min"
        )

    t_vbt, pf = best(vbt_single, 5)
    rec = pf.orders.records
    assert len(rec) == ours.fills.height
    np.testing.assert_array_equal(rec["idx"], ours.fills["bar"].to_numpy())
    np.testing.assert_allclose(rec["size"], ours.fills["qty"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(rec["price"], ours.fills["price"].to_numpy(), rtol=1e-15)
    # The fees eat the account down to cents over a year: equal to 1e-9 of the start.
    assert abs(float(pf.final_value()) - ours.final_equity) <= 1e-9 * CASH
    print(f"vectorized single: ours {t_vec * 1e3:.1f} ms, vectorbt {t_vbt * 1e3:.1f} ms (equal)")
    rows.append(
        (
            "vectorized EMA cross, 525,600 bars, one run",
            f"{t_vec * 1e3:.1f} ms",
            f"vectorbt from_signals {t_vbt * 1e3:.1f} ms",
            f"{t_vbt / t_vec:.1f}x",
        )
    )

    month = backtest.load_bars(BARS)["close"].to_numpy()
    pairs = [(f, s) for f in range(2, 27) for s in range(30, 230, 5)]
    assert len(pairs) == 1000
    t_sweep, sweep = best(
        lambda: backtest.ema_cross_sweep(month, pairs, init_cash=CASH, fees=FEES), 3
    )
    periods = sorted({p for pair in pairs for p in pair})

    def vbt_sweep() -> Any:
        # The same TA-Lib EMAs (our ta.EMA is bit-exact TA-Lib), one per period, the
        # same cross rule, then vectorbt simulates the 1,000 columns.
        emas = {p: ta.EMA(month, p) for p in periods}
        f2 = np.column_stack([emas[f] for f, _ in pairs])
        s2 = np.column_stack([emas[s] for _, s in pairs])
        en, ex = cross(f2, s2)
        return vbt.Portfolio.from_signals(
            month[:, None], en, ex, fees=FEES, init_cash=CASH, freq="1min"
        )

    t_vsweep, pf2 = best(vbt_sweep, 3)
    np.testing.assert_allclose(
        pf2.final_value().to_numpy(),
        sweep["final_equity"].to_numpy(),
        rtol=1e-9,
        atol=1e-9 * CASH,
    )
    assert (pf2.orders.count().to_numpy() == sweep["orders"].to_numpy()).all()
    print(
        f"sweep 1,000 pairs x {len(month):,} bars: ours {t_sweep:.3f} s, "
        f"vectorbt {t_vsweep:.3f} s (equal)"
    )
    rows.append(
        (
            f"vectorized sweep, 1,000 EMA pairs x {len(month):,} bars",
            f"{t_sweep * 1e3:.0f} ms",
            f"vectorbt (TA-Lib EMAs + from_signals) {t_vsweep * 1e3:.0f} ms",
            f"{t_vsweep / t_sweep:.1f}x",
        )
    )


def main(parts: set[str]) -> None:
    rows: list[tuple[str, str, str, str]] = []
    load = Path("/proc/loadavg").read_text().strip()
    print(f"{date.today()}  Python {platform.python_version()}  loadavg {load}")
    bars = year_of_bars()
    if "event" in parts:
        event_driven(bars, rows)
    if "vectorized" in parts:
        vectorized(bars, rows)
    print()
    print("| what | BaconAlgo | anchor | ratio |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"loadavg after: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    # `python benches/backtest_python.py [event] [vectorized]`: both when none is named.
    main(set(sys.argv[1:]) or {"event", "vectorized"})
