#!/usr/bin/env python3
"""Generate vectorbt reference fixtures for rust/core/tests/backtest_vs_vectorbt.rs.

Runs vectorbt's own `Portfolio.from_signals` (accumulate=False, execution at the close)
on EMA(fast)/EMA(slow) crossovers of the recorded BTC 1-minute bars (first 20,000 bars;
EMAs from TA-Lib, which `ta::ema` reproduces bit for bit) and on hand-made edge cases,
and writes backtest_fixtures.txt.gz next to this script. Floats are written as the hex of
their IEEE-754 big-endian bytes, so nothing is lost in text.

Usage: python3 -m venv /work/venv-vbt && /work/venv-vbt/bin/pip install vectorbt TA-Lib
       /work/venv-vbt/bin/python make_backtest_fixtures.py
"""

from __future__ import annotations

import csv
import gzip
import os
import struct

import numpy as np
import pandas as pd
import talib
import vectorbt as vbt

HERE = os.path.dirname(os.path.abspath(__file__))
N_BARS = 20_000


def h(v: float) -> str:
    return struct.pack(">d", float(v)).hex()


def load_close(n: int) -> np.ndarray:
    path = os.path.join(HERE, "..", "..", "..", "..", "data", "bars", "btc_perp_1m_2022-01.csv.gz")
    out = []
    with gzip.open(path, "rt") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i >= n:
                break
            out.append(float(row["close"]))
    return np.array(out, dtype=np.float64)


def cross(fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fast crosses above / below slow: the rule of backtest::cross_signals."""
    n = len(fast)
    en = np.zeros(n, dtype=bool)
    ex = np.zeros(n, dtype=bool)
    for t in range(1, n):
        f0, s0, f1, s1 = fast[t - 1], slow[t - 1], fast[t], slow[t]
        if np.isnan(f0) or np.isnan(s0) or np.isnan(f1) or np.isnan(s1):
            continue
        en[t] = f1 > s1 and f0 <= s0
        ex[t] = f1 < s1 and f0 >= s0
    return en, ex


def run_case(lines, name, close, en, ex, *, init_cash, size, fees, slippage, direction, fast=0, slow=0, write_close=False):
    idx = pd.date_range("2022-01-01", periods=len(close), freq="1min")
    pf = vbt.Portfolio.from_signals(
        pd.Series(close, index=idx),
        pd.Series(en, index=idx),
        pd.Series(ex, index=idx),
        init_cash=init_cash,
        size=size,
        fees=fees,
        slippage=slippage,
        direction=direction,
        accumulate=False,
        freq="1min",
    )
    size_s = "inf" if np.isinf(size) else h(size)
    lines.append(f"case {name} {len(close)} {direction} {size_s} {h(fees)} {h(slippage)} {h(init_cash)} {fast} {slow}")
    if write_close:
        lines.append("close " + " ".join(h(v) for v in close))
    lines.append("entries " + " ".join(str(i) for i in np.flatnonzero(en)))
    lines.append("exits " + " ".join(str(i) for i in np.flatnonzero(ex)))
    write_results(lines, pf, len(close))
    return pf


def write_results(lines, pf, n):
    for r in pf.orders.records_arr:
        lines.append(f"order {r['idx']} {h(r['size'])} {h(r['price'])} {h(r['fees'])} {int(r['side'] == 0)}")
    for r in pf.trades.records_arr:
        lines.append(
            "trade {} {} {} {} {} {} {} {} {} {}".format(
                r["entry_idx"], r["exit_idx"], h(r["size"]), h(r["entry_price"]), h(r["exit_price"]),
                h(r["entry_fees"]), h(r["exit_fees"]), h(r["pnl"]), int(r["direction"] == 0), int(r["status"] == 0),
            )
        )
    value = pf.value().to_numpy()
    cash = pf.cash().to_numpy()
    pos = pf.assets().to_numpy()
    step = max(1, n // 200)
    for i in list(range(0, n, step)) + [n - 1]:
        lines.append(f"bar {i} {h(value[i])} {h(cash[i])} {h(pos[i])}")
    closed = pf.trades.closed
    stats = {
        "total_return": pf.total_return(),
        "annualized_return": pf.annualized_return(),
        "sharpe": pf.sharpe_ratio(),
        "sortino": pf.sortino_ratio(),
        "max_drawdown": pf.max_drawdown(),
        "calmar": pf.calmar_ratio(),
        "win_rate": closed.win_rate() if closed.count() > 0 else float("nan"),
        "profit_factor": closed.profit_factor() if closed.count() > 0 else float("nan"),
        "closed_trades": float(closed.count()),
    }
    lines.append("stats " + " ".join(f"{k}={h(v)}" for k, v in stats.items()))
    lines.append("end")


def run_targets(lines, name, close, targets, *, init_cash, fees, slippage, direction, fast, slow):
    """vectorbt from_orders with size_type='targetamount' (NaN = no order)."""
    idx = pd.date_range("2022-01-01", periods=len(close), freq="1min")
    pf = vbt.Portfolio.from_orders(
        pd.Series(close, index=idx),
        size=pd.Series(targets, index=idx),
        size_type="targetamount",
        init_cash=init_cash,
        fees=fees,
        slippage=slippage,
        direction=direction,
        freq="1min",
    )
    lines.append(f"case {name} {len(close)} {direction} tgt {h(fees)} {h(slippage)} {h(init_cash)} {fast} {slow}")
    lines.append("targets " + " ".join(f"{i}:{h(targets[i])}" for i in np.flatnonzero(~np.isnan(targets))))
    write_results(lines, pf, len(close))


def main() -> None:
    close = load_close(N_BARS)
    lines: list[str] = [f"# vectorbt {vbt.__version__}, TA-Lib {talib.__version__}, numpy {np.__version__}"]
    pairs = [(10, 50), (5, 20), (20, 100), (50, 200), (3, 7)]
    for fast, slow in pairs:
        en, ex = cross(talib.EMA(close, fast), talib.EMA(close, slow))
        run_case(lines, f"ema_{fast}_{slow}_long", close, en, ex, init_cash=10_000.0, size=np.inf,
                 fees=0.001, slippage=0.0005, direction="longonly", fast=fast, slow=slow)
    en, ex = cross(talib.EMA(close, 10), talib.EMA(close, 50))
    run_case(lines, "ema_10_50_both", close, en, ex, init_cash=10_000.0, size=np.inf,
             fees=0.001, slippage=0.0005, direction="both", fast=10, slow=50)
    run_case(lines, "ema_10_50_both_fixed", close, en, ex, init_cash=10_000.0, size=0.3,
             fees=0.0005, slippage=0.0, direction="both", fast=10, slow=50)
    run_case(lines, "ema_10_50_long_fixed_nofee", close, en, ex, init_cash=10_000.0, size=0.3,
             fees=0.0, slippage=0.0, direction="longonly", fast=10, slow=50)
    run_case(lines, "ema_10_50_long_rebate", close, en, ex, init_cash=10_000.0, size=np.inf,
             fees=-0.0001, slippage=0.0, direction="longonly", fast=10, slow=50)
    # Target positions: +0.3 BTC after an up-cross (cash-limited at ~46k), 0 or -0.3 after a
    # down-cross, no order elsewhere.
    for direction, low in (("longonly", 0.0), ("both", -0.3)):
        tg = np.full(len(close), np.nan)
        tg[en] = 0.3
        tg[ex] = low
        run_targets(lines, f"targets_10_50_{direction}", close, tg, init_cash=10_000.0, fees=0.001,
                    slippage=0.0005, direction=direction, fast=10, slow=50)

    # Edge cases on small hand-made series.
    c = np.array([10.0, 11.0, 12.0, 11.5, 13.0, 12.0, 9.0, 10.0, 10.5, 11.0])
    def sig(idx):
        a = np.zeros(len(c), dtype=bool)
        a[list(idx)] = True
        return a
    edge = [
        # exit before any entry, entry on bar 0, repeated entries, exit+entry on one bar
        ("edge_first_bar_and_repeats", sig([0, 2, 4]), sig([1, 4, 6]), "longonly", np.inf),
        ("edge_entry_last_bar_open", sig([1, 9]), sig([3]), "longonly", np.inf),
        ("edge_both_reversals", sig([0, 3, 7]), sig([2, 5, 9]), "both", np.inf),
        ("edge_both_fixed_partial", sig([0, 4]), sig([2, 8]), "both", 20.0),
        ("edge_no_signals", sig([]), sig([]), "longonly", np.inf),
        ("edge_short_first", sig([6]), sig([1]), "both", np.inf),
    ]
    for name, en_e, ex_e, direction, size in edge:
        run_case(lines, name, c, en_e, ex_e, init_cash=100.0, size=size, fees=0.01, slippage=0.02,
                 direction=direction, write_close=True)
    with gzip.open(os.path.join(HERE, "backtest_fixtures.txt.gz"), "wt", compresslevel=9) as f:
        f.write("\n".join(lines) + "\n")
    print(f"{sum(1 for l in lines if l.startswith('case'))} cases, {len(lines)} lines")


if __name__ == "__main__":
    main()
