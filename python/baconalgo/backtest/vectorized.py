"""The vectorized backtest: signals or target positions in, the whole portfolio out, in
Rust. The semantics are vectorbt's ``Portfolio.from_signals`` / ``from_orders`` (checked
against vectorbt's own outputs in ``rust/core/tests/backtest_vs_vectorbt.rs``): orders
at the signal bar's close (``slippage`` a fraction of it), ``fees`` a fraction of the
notional, ``size=None`` all in, ``direction`` "longonly" or "both".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from baconalgo import _core
from baconalgo.backtest.result import BacktestResult, ann_factor


def _f64(x: Any) -> npt.NDArray[np.float64]:
    return np.ascontiguousarray(x, dtype=np.float64)


def _bool(x: Any) -> npt.NDArray[np.bool_]:
    return np.ascontiguousarray(x, dtype=np.bool_)


def _ts(n: int, ts_ns: Any) -> npt.NDArray[np.uint64]:
    if ts_ns is None:
        # Bar numbers as minutes from the epoch: times only label the rows.
        return np.arange(n, dtype=np.uint64) * np.uint64(60_000_000_000)
    ts = np.ascontiguousarray(ts_ns, dtype=np.uint64)
    if len(ts) != n:
        raise ValueError(f"ts_ns has {len(ts)} values, close {n}")
    return ts


def simulate(
    close: Any,
    entries: Any,
    exits: Any,
    *,
    init_cash: float = 100.0,
    fees: float = 0.0,
    slippage: float = 0.0,
    size: float | None = None,
    direction: str = "longonly",
    ts_ns: Any = None,
) -> BacktestResult:
    """One column of entry/exit signals (vectorbt ``from_signals``)."""
    c = _f64(close)
    ts = _ts(len(c), ts_ns)
    raw = _core.backtest_simulate(
        c,
        _bool(entries),
        _bool(exits),
        init_cash,
        fees,
        slippage,
        size,
        direction,
        ann_factor(ts),
    )
    return BacktestResult.from_core(raw, ts, engine="vectorized")


def simulate_targets(
    close: Any,
    targets: Any,
    *,
    init_cash: float = 100.0,
    fees: float = 0.0,
    slippage: float = 0.0,
    direction: str = "both",
    ts_ns: Any = None,
) -> BacktestResult:
    """Target positions per bar, NaN for no order (vectorbt ``from_orders`` with
    ``size_type='targetamount'``)."""
    c = _f64(close)
    ts = _ts(len(c), ts_ns)
    raw = _core.backtest_simulate_targets(
        c, _f64(targets), init_cash, fees, slippage, direction, ann_factor(ts)
    )
    return BacktestResult.from_core(raw, ts, engine="vectorized")


def ema_cross_sweep(
    close: Any,
    pairs: Any,
    *,
    init_cash: float = 100.0,
    fees: float = 0.0,
    slippage: float = 0.0,
    size: float | None = None,
    direction: str = "longonly",
) -> pl.DataFrame:
    """EMA(fast) / EMA(slow) cross (TA-Lib EMAs) for every ``(fast, slow)`` pair, all
    cores; one row per pair: final equity, orders, closed trades, fees, max drawdown."""
    p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    fast, slow = np.ascontiguousarray(p[:, 0]), np.ascontiguousarray(p[:, 1])
    raw = _core.backtest_ema_cross_sweep(
        _f64(close), fast, slow, init_cash, fees, slippage, size, direction
    )
    return pl.DataFrame({"fast": fast, "slow": slow, **raw})


__all__ = ["ema_cross_sweep", "simulate", "simulate_targets"]
