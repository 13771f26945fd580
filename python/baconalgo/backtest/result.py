"""Backtest results as polars DataFrames, with the metrics and a text summary."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

#: vectorbt's default year (365 days), the basis of annualized figures.
YEAR_NS = 365 * 86_400 * 1_000_000_000

METRIC_NAMES = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "win_rate",
    "profit_factor",
    "exposure",
    "turnover",
    "closed_trades",
)


def ann_factor(ts_ns: np.ndarray[Any, Any]) -> float:
    """Bars per year from the median spacing of the bar times (vectorbt: year / freq)."""
    if len(ts_ns) < 2:
        return float("nan")
    step = float(np.median(np.diff(ts_ns.astype(np.int64))))
    return YEAR_NS / step if step > 0 else float("nan")


def _ts(values: Any) -> pl.Series:
    return pl.Series(values).cast(pl.Int64).cast(pl.Datetime("ns", "UTC"))


@dataclass(frozen=True)
class BacktestResult:
    """``equity``: one row per bar (ts, position, cash, equity, drawdown); ``fills``:
    every fill; ``trades``: vectorbt-style exit trades (an open position valued at the
    last close); ``orders``: every order with its final state; ``positions``: one row per
    bar where the position changed; ``metrics``: see ``baconalgo_core::backtest::metrics``.
    """

    equity: pl.DataFrame
    fills: pl.DataFrame
    trades: pl.DataFrame
    orders: pl.DataFrame
    positions: pl.DataFrame
    metrics: dict[str, float]
    init_cash: float
    risk: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_core(cls, raw: dict[str, Any], ts_ns: Any = None, **info: Any) -> BacktestResult:
        """From the dict a core simulation returns (``BarBroker.result`` or the
        vectorized ``backtest_simulate``); ``ts_ns`` when the dict has none."""
        ts = np.asarray(raw.get("ts_ns", ts_ns), dtype=np.uint64)
        equity = pl.DataFrame(
            {
                "ts": _ts(ts),
                "position": raw["position"],
                "cash": raw["cash"],
                "equity": raw["equity"],
            }
        ).with_columns((1 - pl.col("equity") / pl.col("equity").cum_max()).alias("drawdown"))
        f = raw["fills"]
        idx = f["idx"]
        fills = pl.DataFrame(
            {
                "bar": idx,
                "ts": _ts(ts[idx]),
                "side": np.where(f["is_buy"], "buy", "sell"),
                "qty": f["size"],
                "price": f["price"],
                "fee": f["fees"],
            }
        )
        t = raw["trades"]
        trades = pl.DataFrame(
            {
                "entry_bar": t["entry_idx"],
                "exit_bar": t["exit_idx"],
                "entry_ts": _ts(ts[t["entry_idx"]]),
                "exit_ts": _ts(ts[t["exit_idx"]]),
                "direction": np.where(t["is_long"], "long", "short"),
                "size": t["size"],
                "entry_price": t["entry_price"],
                "exit_price": t["exit_price"],
                "entry_fees": t["entry_fees"],
                "exit_fees": t["exit_fees"],
                "pnl": t["pnl"],
                "return": t["return"],
                "is_open": t["is_open"],
            }
        )
        if "orders" in raw:
            orders = pl.DataFrame(raw["orders"]).with_columns(
                pl.col("ts_submitted_ns").cast(pl.Int64).cast(pl.Datetime("ns", "UTC")),
                pl.col("ts_updated_ns").cast(pl.Int64).cast(pl.Datetime("ns", "UTC")),
            )
        else:
            orders = fills.with_columns(
                pl.lit("market").alias("type"), pl.lit("filled").alias("status")
            )
        changed = equity.with_row_index("bar").filter(
            pl.col("position") != pl.col("position").shift(1, fill_value=0.0)
        )
        positions = changed.select("bar", "ts", "position", "cash")
        return cls(
            equity=equity,
            fills=fills,
            trades=trades,
            orders=orders,
            positions=positions,
            metrics=dict(raw["metrics"]),
            init_cash=float(raw["init_cash"]),
            risk=raw.get("risk"),
            info=info,
        )

    @property
    def final_equity(self) -> float:
        return float(self.equity["equity"][-1])

    def summary(self) -> str:
        """A few lines for a terminal."""
        m = self.metrics
        e = self.equity

        def pct(x: float) -> str:
            return "n/a" if math.isnan(x) else f"{x * 100:+.2f}%"

        def num(x: float) -> str:
            return "n/a" if math.isnan(x) else f"{x:.3f}"

        lines = [
            f"bars {e.height:,} from {e['ts'][0]} to {e['ts'][-1]}",
            f"equity {self.init_cash:,.2f} -> {self.final_equity:,.2f} "
            f"(total return {pct(m['total_return'])}, CAGR {pct(m['cagr'])})",
            f"sharpe {num(m['sharpe'])}  sortino {num(m['sortino'])}  "
            f"max drawdown {pct(-m['max_drawdown'])}  calmar {num(m['calmar'])}",
            f"trades {int(m['closed_trades'])} closed, win rate {pct(m['win_rate'])}, "
            f"profit factor {num(m['profit_factor'])}, exposure {pct(m['exposure'])}, "
            f"turnover {num(m['turnover'])}x",
            f"orders {self.orders.height}, fills {self.fills.height}, "
            f"fees {float(self.fills['fee'].sum()):,.2f}",
        ]
        if self.risk is not None:
            rejected = ", ".join(f"{k} {v}" for k, v in self.risk["rejected"].items()) or "none"
            lines.append(
                f"risk: {self.risk['accepted']} accepted, rejected: {rejected}, "
                f"state {self.risk['state']}"
            )
        for k, v in self.info.items():
            lines.append(f"{k}: {v}")
        return "\n".join(lines)

    def write(self, folder: str | Path) -> list[Path]:
        """Writes each table as Parquet and the metrics as JSON into ``folder``."""
        import json

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in ("equity", "fills", "trades", "orders", "positions"):
            path = out / f"{name}.parquet"
            getattr(self, name).write_parquet(path)
            written.append(path)
        path = out / "metrics.json"
        path.write_text(
            json.dumps(
                {"metrics": self.metrics, "risk": self.risk, "init_cash": self.init_cash},
                indent=2,
                default=str,
            )
        )
        written.append(path)
        return written


__all__ = ["METRIC_NAMES", "YEAR_NS", "BacktestResult", "ann_factor"]
