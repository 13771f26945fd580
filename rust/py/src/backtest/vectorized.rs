//! `simulate`, `simulate_targets`, `ema_cross_sweep` and `metrics` over numpy arrays;
//! results as dicts of arrays (the Python side makes polars frames of them).

use baconalgo_core::backtest::{
    ema_cross_sweep, metrics, simulate, simulate_targets, Direction, Order, Portfolio,
    PortfolioConfig, Size, Trade,
};
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::backtest_err;

/// The array as a slice, or a `ValueError` naming it when it is not contiguous.
pub fn contiguous<'a, T: numpy::Element>(
    name: &str,
    a: &'a PyReadonlyArray1<'_, T>,
) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("`{name}` must be a contiguous 1-D array")))
}

pub fn config(
    init_cash: f64,
    fees: f64,
    slippage: f64,
    size: Option<f64>,
    direction: &str,
) -> PyResult<PortfolioConfig> {
    let direction = match direction {
        "longonly" | "long_only" => Direction::LongOnly,
        "both" => Direction::Both,
        other => {
            return Err(PyValueError::new_err(format!(
                "direction must be 'longonly' or 'both', got {other:?}"
            )))
        }
    };
    Ok(PortfolioConfig {
        init_cash,
        size: size.map_or(Size::AllIn, Size::Fixed),
        fees,
        slippage,
        direction,
    })
}

/// Fills (vectorbt orders) as arrays: bar index, size, price, fees, is_buy.
pub fn orders_dict<'py>(py: Python<'py>, orders: &[Order]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let col = |f: fn(&Order) -> f64| orders.iter().map(f).collect::<Vec<f64>>();
    d.set_item(
        "idx",
        orders
            .iter()
            .map(|o| o.idx as i64)
            .collect::<Vec<_>>()
            .into_pyarray(py),
    )?;
    d.set_item("size", col(|o| o.size).into_pyarray(py))?;
    d.set_item("price", col(|o| o.price).into_pyarray(py))?;
    d.set_item("fees", col(|o| o.fees).into_pyarray(py))?;
    d.set_item(
        "is_buy",
        orders
            .iter()
            .map(|o| o.is_buy)
            .collect::<Vec<_>>()
            .into_pyarray(py),
    )?;
    Ok(d)
}

/// vectorbt exit trades as arrays.
pub fn trades_dict<'py>(py: Python<'py>, trades: &[Trade]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let idx = |f: fn(&Trade) -> usize| {
        trades
            .iter()
            .map(|t| f(t) as i64)
            .collect::<Vec<_>>()
            .into_pyarray(py)
    };
    let col = |f: fn(&Trade) -> f64| trades.iter().map(f).collect::<Vec<f64>>().into_pyarray(py);
    let flag = |f: fn(&Trade) -> bool| trades.iter().map(f).collect::<Vec<bool>>().into_pyarray(py);
    d.set_item("entry_idx", idx(|t| t.entry_idx))?;
    d.set_item("exit_idx", idx(|t| t.exit_idx))?;
    d.set_item("size", col(|t| t.size))?;
    d.set_item("entry_price", col(|t| t.entry_price))?;
    d.set_item("exit_price", col(|t| t.exit_price))?;
    d.set_item("entry_fees", col(|t| t.entry_fees))?;
    d.set_item("exit_fees", col(|t| t.exit_fees))?;
    d.set_item("pnl", col(|t| t.pnl))?;
    d.set_item("return", col(|t| t.ret))?;
    d.set_item("is_long", flag(|t| t.is_long))?;
    d.set_item("is_open", flag(|t| t.is_open))?;
    Ok(d)
}

/// The statistics of `backtest::metrics` as a dict.
pub fn metrics_dict<'py>(
    py: Python<'py>,
    pf: &Portfolio,
    ann_factor: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let m = metrics::compute(pf, ann_factor);
    let d = PyDict::new(py);
    d.set_item("total_return", m.total_return)?;
    d.set_item("cagr", m.cagr)?;
    d.set_item("sharpe", m.sharpe)?;
    d.set_item("sortino", m.sortino)?;
    d.set_item("max_drawdown", m.max_drawdown)?;
    d.set_item("calmar", m.calmar)?;
    d.set_item("win_rate", m.win_rate)?;
    d.set_item("profit_factor", m.profit_factor)?;
    d.set_item("exposure", m.exposure)?;
    d.set_item("turnover", m.turnover)?;
    d.set_item("closed_trades", m.closed_trades)?;
    Ok(d)
}

/// A portfolio as a dict: orders, trades, per-bar position / cash / equity, metrics.
pub fn portfolio_dict<'py>(
    py: Python<'py>,
    pf: Portfolio,
    ann_factor: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("fills", orders_dict(py, &pf.orders)?)?;
    d.set_item("trades", trades_dict(py, &pf.trades)?)?;
    d.set_item("metrics", metrics_dict(py, &pf, ann_factor)?)?;
    d.set_item("init_cash", pf.init_cash)?;
    d.set_item("position", pf.position.into_pyarray(py))?;
    d.set_item("cash", pf.cash.into_pyarray(py))?;
    d.set_item("equity", pf.equity.into_pyarray(py))?;
    Ok(d)
}

/// vectorbt `Portfolio.from_signals` semantics over one column.
#[pyfunction]
#[pyo3(signature = (close, entries, exits, init_cash, fees, slippage, size, direction, ann_factor))]
#[allow(clippy::too_many_arguments)]
fn backtest_simulate<'py>(
    py: Python<'py>,
    close: PyReadonlyArray1<'py, f64>,
    entries: PyReadonlyArray1<'py, bool>,
    exits: PyReadonlyArray1<'py, bool>,
    init_cash: f64,
    fees: f64,
    slippage: f64,
    size: Option<f64>,
    direction: &str,
    ann_factor: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = config(init_cash, fees, slippage, size, direction)?;
    let (c, en, ex) = (
        contiguous("close", &close)?,
        contiguous("entries", &entries)?,
        contiguous("exits", &exits)?,
    );
    let pf = py
        .detach(|| simulate(c, en, ex, &cfg))
        .map_err(|e| backtest_err(py, e))?;
    portfolio_dict(py, pf, ann_factor)
}

/// vectorbt `Portfolio.from_orders(size_type='targetamount')` over one column.
#[pyfunction]
#[pyo3(signature = (close, targets, init_cash, fees, slippage, direction, ann_factor))]
#[allow(clippy::too_many_arguments)]
fn backtest_simulate_targets<'py>(
    py: Python<'py>,
    close: PyReadonlyArray1<'py, f64>,
    targets: PyReadonlyArray1<'py, f64>,
    init_cash: f64,
    fees: f64,
    slippage: f64,
    direction: &str,
    ann_factor: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = config(init_cash, fees, slippage, None, direction)?;
    let (c, t) = (
        contiguous("close", &close)?,
        contiguous("targets", &targets)?,
    );
    let pf = py
        .detach(|| simulate_targets(c, t, &cfg))
        .map_err(|e| backtest_err(py, e))?;
    portfolio_dict(py, pf, ann_factor)
}

/// EMA(fast) / EMA(slow) cross for many pairs at once (all cores); summaries as arrays.
#[pyfunction]
#[pyo3(signature = (close, fast, slow, init_cash, fees, slippage, size, direction))]
#[allow(clippy::too_many_arguments)]
fn backtest_ema_cross_sweep<'py>(
    py: Python<'py>,
    close: PyReadonlyArray1<'py, f64>,
    fast: PyReadonlyArray1<'py, i64>,
    slow: PyReadonlyArray1<'py, i64>,
    init_cash: f64,
    fees: f64,
    slippage: f64,
    size: Option<f64>,
    direction: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = config(init_cash, fees, slippage, size, direction)?;
    let (c, f, s) = (
        contiguous("close", &close)?,
        contiguous("fast", &fast)?,
        contiguous("slow", &slow)?,
    );
    if f.len() != s.len() {
        return Err(PyValueError::new_err(format!(
            "`fast` has {} periods and `slow` {}: one pair per position",
            f.len(),
            s.len()
        )));
    }
    let mut pairs = Vec::with_capacity(f.len());
    for (&a, &b) in f.iter().zip(s) {
        if a < 1 || b < 1 {
            return Err(PyValueError::new_err(format!(
                "periods must be >= 1, got fast={a} slow={b}"
            )));
        }
        pairs.push((a as usize, b as usize));
    }
    let sums = py
        .detach(|| ema_cross_sweep(c, &pairs, &cfg))
        .map_err(|e| backtest_err(py, e))?;
    let d = PyDict::new(py);
    let col = |f: &dyn Fn(&baconalgo_core::backtest::Summary) -> f64| {
        sums.iter().map(f).collect::<Vec<f64>>().into_pyarray(py)
    };
    d.set_item("final_equity", col(&|s| s.final_equity))?;
    d.set_item("fees_paid", col(&|s| s.fees_paid))?;
    d.set_item("max_drawdown", col(&|s| s.max_drawdown))?;
    d.set_item(
        "orders",
        sums.iter()
            .map(|s| s.orders as i64)
            .collect::<Vec<_>>()
            .into_pyarray(py),
    )?;
    d.set_item(
        "closed_trades",
        sums.iter()
            .map(|s| s.closed_trades as i64)
            .collect::<Vec<_>>()
            .into_pyarray(py),
    )?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(backtest_simulate, m)?)?;
    m.add_function(wrap_pyfunction!(backtest_simulate_targets, m)?)?;
    m.add_function(wrap_pyfunction!(backtest_ema_cross_sweep, m)?)?;
    Ok(())
}
