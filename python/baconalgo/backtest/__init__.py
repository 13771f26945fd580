"""Backtests: a :class:`~baconalgo.strategy.Strategy` (or a declared rule) over bars,
against the Rust venue's matching engine, with the risk engine in front when configured;
and the vectorized engine for signal arrays and parameter sweeps.

::

    from baconalgo import backtest
    result = backtest.run(MyStrategy(), "data/bars/btc_perp_1m_2022-01.csv.gz",
                          backtest.BacktestConfig(init_cash=10_000, taker_fee=0.001))
    print(result.summary())
    result.trades          # polars DataFrames: equity, fills, trades, orders, positions

The loop is Rust (``baconalgo_core::backtest::BarSim``): per bar the venue's liquidity
provider quotes ``close x (1 -/+ slippage)``, resting orders that the quote crosses trade
at their price (maker), the registered indicators are fed, ``on_bar`` is called, and the
orders it sends trade against the quote (taker) before the next bar. Market orders so
execute at the close of the bar that decided them, as in vectorbt's ``from_signals``.
Signals the strategy subscribed (``subscribe_signal``) are evaluated in Rust on each bar;
each firing reaches ``on_signal`` right after that bar's ``on_bar``.
Bars stream in chunks of ``chunk_bars``; the result holds one row per bar.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl

from baconalgo import _core
from baconalgo.backtest.data import BarChunk, iter_bars, load_bars
from baconalgo.backtest.market import MarketResult, run_market
from baconalgo.backtest.progress import Progress
from baconalgo.backtest.result import METRIC_NAMES, BacktestResult, ann_factor
from baconalgo.backtest.vectorized import ema_cross_sweep, simulate, simulate_targets
from baconalgo.errors import BacktestError
from baconalgo.strategy import Strategy

if TYPE_CHECKING:
    from baconalgo.config import BacktestSection, RiskConfig

#: Liquidity of the simulated quotes when none is given: enough lots never to run out.
_UNLIMITED_LOTS = 1e15


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """The simulated venue and account. Fees are fractions of the notional (0.001 = 10
    bps; a negative maker fee is a rebate); ``slippage`` the fraction of the close the
    quotes stand away from it; ``liquidity`` the quantity each quote offers (None:
    unlimited); ``fill`` when a resting order fills within a bar: ``"close"`` (against
    the close quotes, vectorbt's convention), ``"touch"`` (the bar's low reaches a buy,
    its high a sell) or ``"trade_through"`` (the bar traded beyond the price);
    ``bar_seconds`` what each bar spans (for signals; None infers it from the data)."""

    init_cash: float = 10_000.0
    tick_size: float = 0.01
    lot_size: float = 1e-8
    taker_fee: float = 0.0
    maker_fee: float = 0.0
    slippage: float = 0.0
    liquidity: float | None = None
    chunk_bars: int = 65_536
    fill: Literal["close", "touch", "trade_through"] = "close"
    #: What each bar spans, for the strategy's signals (None: the smallest step between
    #: the timestamps of the first chunk).
    bar_seconds: float | None = None

    def broker(self, risk: RiskConfig | None = None) -> _core.BarBroker:
        """A fresh simulated venue for one run."""
        liquidity = (
            self.liquidity if self.liquidity is not None else self.lot_size * _UNLIMITED_LOTS
        )
        if risk is None:
            return _core.BarBroker(
                self.init_cash,
                self.tick_size,
                self.lot_size,
                self.taker_fee,
                self.maker_fee,
                self.slippage,
                liquidity,
                fill=self.fill,
            )
        risk.check_grid(self.tick_size, self.lot_size, "the backtest's")
        return _core.BarBroker(
            self.init_cash,
            self.tick_size,
            self.lot_size,
            self.taker_fee,
            self.maker_fee,
            self.slippage,
            liquidity,
            risk.instrument_specs(),
            risk.limits(),
            risk.starting_equity,
            fill=self.fill,
        )


def config_from(section: BacktestSection) -> BacktestConfig:
    """A :class:`BacktestConfig` from the ``[backtest]`` config section."""
    return BacktestConfig(
        init_cash=section.init_cash,
        tick_size=float(section.tick),
        lot_size=float(section.lot),
        taker_fee=section.taker_fee,
        maker_fee=section.maker_fee,
        slippage=section.slippage,
        liquidity=section.liquidity,
        chunk_bars=section.chunk_bars,
        fill=section.fill,
    )


@dataclass(frozen=True, slots=True)
class EmaCrossRule:
    """A declared rule run entirely in Rust (no Python per bar): long-only, all in, buy
    when EMA(fast) crosses above EMA(slow), sell everything when it crosses below."""

    fast: int = 10
    slow: int = 50


def _bar_ns(first: BarChunk | None, bar_seconds: float | None) -> int | None:
    """The data's bar timeframe: ``bar_seconds``, else the smallest step between the
    first chunk's timestamps (None when it has fewer than two bars)."""
    if bar_seconds is not None:
        if not (math.isfinite(bar_seconds) and bar_seconds > 0):
            raise ValueError(f"bar_seconds must be > 0, got {bar_seconds}")
        return round(bar_seconds * 1e9)
    if first is None or len(first) < 2:
        return None
    steps = np.diff(first.ts_ns.astype(np.int64))
    steps = steps[steps > 0]
    return int(steps.min()) if len(steps) else None


def _total(data: Any) -> int | None:
    if isinstance(data, pl.DataFrame):
        return data.height
    if isinstance(data, dict) and "close" in data:
        return len(data["close"])
    return None


def run(
    strategy: Strategy | type[Strategy] | EmaCrossRule,
    data: Any,
    config: BacktestConfig | None = None,
    *,
    risk: RiskConfig | None = None,
    progress: bool | None = False,
    instrument: int | None = None,
) -> BacktestResult:
    """Runs ``strategy`` over the bars of ``data`` (see :mod:`baconalgo.backtest.data`).

    ``risk``: a ``[risk]`` config section (``load_config(...).risk``); every order then
    passes its checks and a refusal reaches ``on_order_update`` as a ``rejected`` update
    with the reason. ``progress``: a bar on stderr (None: only when stderr is a terminal).
    Same inputs, same fills: nothing in the loop depends on time or chance.
    """
    cfg = config or BacktestConfig()
    if isinstance(strategy, type):
        strategy = strategy()
    broker = cfg.broker(risk)
    bar = Progress(_total(data), enabled=progress)
    started = time.perf_counter()
    ann = float("nan")
    chunks = iter_bars(
        data, chunk_bars=cfg.chunk_bars, tick_size=cfg.tick_size, instrument=instrument
    )
    if isinstance(strategy, EmaCrossRule):
        broker.set_ema_cross(strategy.fast, strategy.slow)
        for c in chunks:
            if ann != ann:
                ann = ann_factor(c.ts_ns)
            broker.run_rule(c.ts_ns, c.open, c.high, c.low, c.close, c.volume)
            bar.update(len(c))
        name = f"EmaCrossRule({strategy.fast}, {strategy.slow}) in Rust"
    elif isinstance(strategy, Strategy):
        # Signals subscribed in on_start need the bars' timeframe: read it off the first
        # chunk before the strategy starts.
        first = next(chunks, None)
        bar_ns = _bar_ns(first, cfg.bar_seconds)
        if bar_ns is not None:
            broker.set_bar_timeframe(bar_ns)
        strategy.attach(broker)
        strategy.on_start()
        on_fill = strategy.on_fill if strategy.overrides("on_fill") else None
        on_update = strategy.on_order_update if strategy.overrides("on_order_update") else None
        on_signal = strategy.on_signal if strategy.overrides("on_signal") else None
        for c in itertools.chain([first] if first is not None else [], chunks):
            if ann != ann:
                ann = ann_factor(c.ts_ns)
            _core.BarBroker.run(
                broker,
                strategy.on_bar,
                on_fill,
                on_update,
                strategy.indicators,
                c.ts_ns,
                c.open,
                c.high,
                c.low,
                c.close,
                c.volume,
                on_signal,
            )
            bar.update(len(c))
        strategy.on_stop()
        name = type(strategy).__name__
    else:
        raise TypeError(
            "strategy must be a baconalgo.Strategy or a declared rule, "
            f"got {type(strategy).__name__}"
        )
    bar.close()
    if broker.bars == 0:
        raise BacktestError("no bars in the data")
    elapsed = time.perf_counter() - started
    result = BacktestResult.from_core(
        broker.result(ann if ann == ann else 1.0),
        strategy=name,
        elapsed=f"{elapsed:.3f} s ({broker.bars / max(elapsed, 1e-9):,.0f} bars/s)",
    )
    return result


__all__ = [
    "METRIC_NAMES",
    "BacktestConfig",
    "BacktestResult",
    "BarChunk",
    "EmaCrossRule",
    "MarketResult",
    "ann_factor",
    "config_from",
    "ema_cross_sweep",
    "iter_bars",
    "load_bars",
    "run",
    "run_market",
    "simulate",
    "simulate_targets",
]
