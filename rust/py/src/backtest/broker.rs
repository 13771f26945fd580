//! `BarBroker`: the bar simulation (`baconalgo_core::backtest::BarSim`) as the broker of a
//! Python strategy, and the loop that feeds it bars and calls the strategy. Per bar the
//! loop reuses one `Bar` object and calls Python once for `on_bar` (plus once per
//! registered indicator); reports become `OrderUpdate` objects only when there are any.

use baconalgo_core::backtest::{Bar, BarConfig, BarFill, BarSim, EmaCross, OrderRecord, SimReport};
use baconalgo_core::model::Event;
use baconalgo_core::model::{OrderType, Side, TimeInForce};
use baconalgo_core::risk::{ResetRefused, RiskEngine};
use baconalgo_core::venue::{ExecKind, Liquidity, OrderView, VenueReason};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::vectorized::{contiguous, metrics_dict, orders_dict, trades_dict};
use crate::book::parse_side;
use crate::errors::{backtest_err, reset_refused_err, risk_err, RiskError};
use crate::event::PyEvent;
use crate::risk::limits::{extract_limits, extract_specs};
use crate::risk::names::{reject_name, snake, state_reason_name};
use crate::signal::{deliver, signal_err, SignalDefinition};

/// One OHLCV bar. In a backtest the strategy gets the same object every bar, updated in
/// place: keep `bar.copy()`, not `bar`, beyond the call.
#[pyclass(module = "baconalgo._core", name = "Bar")]
#[derive(Clone, Copy)]
pub struct PyBar {
    #[pyo3(get)]
    ts_ns: u64,
    #[pyo3(get)]
    open: f64,
    #[pyo3(get)]
    high: f64,
    #[pyo3(get)]
    low: f64,
    #[pyo3(get)]
    close: f64,
    #[pyo3(get)]
    volume: f64,
    /// Position of the bar in the run (0-based).
    #[pyo3(get)]
    index: u64,
}

#[pymethods]
impl PyBar {
    #[new]
    #[pyo3(signature = (ts_ns, open, high, low, close, volume = 0.0, index = 0))]
    pub(super) fn new(
        ts_ns: u64,
        open: f64,
        high: f64,
        low: f64,
        close: f64,
        volume: f64,
        index: u64,
    ) -> Self {
        PyBar {
            ts_ns,
            open,
            high,
            low,
            close,
            volume,
            index,
        }
    }

    fn copy(&self) -> PyBar {
        *self
    }

    fn __repr__(&self) -> String {
        format!(
            "Bar(ts_ns={}, open={}, high={}, low={}, close={}, volume={}, index={})",
            self.ts_ns, self.open, self.high, self.low, self.close, self.volume, self.index
        )
    }
}

#[derive(Clone, Copy)]
enum Input {
    Open,
    High,
    Low,
    Close,
    Volume,
}

impl Input {
    fn of(self, b: &PyBar) -> f64 {
        match self {
            Input::Open => b.open,
            Input::High => b.high,
            Input::Low => b.low,
            Input::Close => b.close,
            Input::Volume => b.volume,
        }
    }
}

/// A streaming indicator fed from bars: `value` is its latest output, `previous` the one
/// before (None until there is one).
#[pyclass(module = "baconalgo._core", name = "Indicator")]
pub struct PyIndicator {
    indicator: Py<PyAny>,
    update: Py<PyAny>,
    inputs: Vec<Input>,
    #[pyo3(get)]
    value: Option<Py<PyAny>>,
    #[pyo3(get)]
    previous: Option<Py<PyAny>>,
    /// Bars fed so far.
    #[pyo3(get)]
    count: u64,
}

impl PyIndicator {
    pub(super) fn feed_bar(&mut self, py: Python<'_>, b: &PyBar) -> PyResult<()> {
        let u = self.update.bind(py);
        let x = |k: usize| self.inputs[k].of(b);
        let v = match self.inputs.len() {
            1 => u.call1((x(0),))?,
            2 => u.call1((x(0), x(1)))?,
            3 => u.call1((x(0), x(1), x(2)))?,
            4 => u.call1((x(0), x(1), x(2), x(3)))?,
            _ => u.call1((x(0), x(1), x(2), x(3), x(4)))?,
        };
        self.previous = self.value.replace(v.unbind());
        self.count += 1;
        Ok(())
    }
}

#[pymethods]
impl PyIndicator {
    /// `indicator`: an object with `update(...)` (a `baconalgo.ta.stream` class);
    /// `inputs`: the bar fields passed to it, in order.
    #[new]
    fn new(indicator: &Bound<'_, PyAny>, inputs: Vec<String>) -> PyResult<Self> {
        if inputs.is_empty() || inputs.len() > 5 {
            return Err(PyValueError::new_err(format!(
                "inputs must name 1 to 5 bar fields, got {inputs:?}"
            )));
        }
        let mut parsed = Vec::with_capacity(inputs.len());
        for name in &inputs {
            parsed.push(match name.as_str() {
                "open" => Input::Open,
                "high" => Input::High,
                "low" => Input::Low,
                "close" => Input::Close,
                "volume" => Input::Volume,
                other => {
                    return Err(PyValueError::new_err(format!(
                        "unknown bar field {other:?}: use open, high, low, close or volume"
                    )))
                }
            });
        }
        let update = indicator.getattr("update").map_err(|_| {
            PyTypeError::new_err("indicator must have an update() method (baconalgo.ta.stream)")
        })?;
        Ok(PyIndicator {
            indicator: indicator.clone().unbind(),
            update: update.unbind(),
            inputs: parsed,
            value: None,
            previous: None,
            count: 0,
        })
    }

    /// Feeds one bar (what the backtest loop does before `on_bar`; live runners call it).
    fn feed(&mut self, py: Python<'_>, bar: PyRef<'_, PyBar>) -> PyResult<()> {
        self.feed_bar(py, &bar)
    }

    #[getter]
    fn indicator(&self, py: Python<'_>) -> Py<PyAny> {
        self.indicator.clone_ref(py)
    }
}

pub(super) fn kind_name(k: ExecKind) -> &'static str {
    match k {
        ExecKind::New => "new",
        ExecKind::PartiallyFilled => "partially_filled",
        ExecKind::Filled => "filled",
        ExecKind::Cancelled => "cancelled",
        ExecKind::Rejected => "rejected",
        ExecKind::Replaced => "replaced",
    }
}

pub(super) fn side_name(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
        Side::None => "none",
    }
}

pub(super) fn tif_name(t: TimeInForce) -> &'static str {
    match t {
        TimeInForce::Gtc => "gtc",
        TimeInForce::Ioc => "ioc",
        TimeInForce::Fok => "fok",
        TimeInForce::PostOnly => "post_only",
    }
}

pub(super) fn reason_name(s: &SimReport) -> Option<String> {
    reason_name_of_code(s.reason_code())
}

/// The snake-case name of a reason code: the risk engine's (1-99) or the venue's (101-).
pub(super) fn reason_name_of_code(code: u16) -> Option<String> {
    if let Some(r) = baconalgo_core::risk::RejectReason::from_code(code) {
        return Some(reject_name(r));
    }
    VenueReason::from_code(code).map(|v| snake(&format!("{v:?}")))
}

/// What happened to an order: every report of the venue (or the risk engine's refusal).
/// Prices and quantities in the instrument's units; `qty` is the fill's quantity (0 for
/// other updates).
#[pyclass(module = "baconalgo._core", name = "OrderUpdate", frozen)]
pub struct PyOrderUpdate {
    #[pyo3(get)]
    client_order_id: u64,
    /// new, partially_filled, filled, cancelled, rejected or replaced.
    #[pyo3(get)]
    status: &'static str,
    #[pyo3(get)]
    side: &'static str,
    /// The fill price for fills, else the order's limit price (None for market orders).
    #[pyo3(get)]
    price: Option<f64>,
    #[pyo3(get)]
    qty: f64,
    #[pyo3(get)]
    filled_qty: f64,
    #[pyo3(get)]
    leaves_qty: f64,
    #[pyo3(get)]
    fee: f64,
    /// "maker" / "taker" for fills, else None.
    #[pyo3(get)]
    liquidity: Option<&'static str>,
    /// Snake-case reason of a refusal or cancel (a risk reason or a venue reason).
    #[pyo3(get)]
    reason: Option<String>,
    /// Its stable code: 1-99 risk (`baconalgo.RejectReason`), 101 and up venue.
    #[pyo3(get)]
    reason_code: u16,
    #[pyo3(get)]
    is_final: bool,
    #[pyo3(get)]
    ts_ns: u64,
}

#[pymethods]
impl PyOrderUpdate {
    #[getter]
    fn is_fill(&self) -> bool {
        matches!(self.status, "filled" | "partially_filled")
    }

    fn __repr__(&self) -> String {
        format!(
            "OrderUpdate(client_order_id={}, status={:?}, side={:?}, price={:?}, qty={}, \
             filled_qty={}, leaves_qty={}, fee={}, reason={:?})",
            self.client_order_id,
            self.status,
            self.side,
            self.price,
            self.qty,
            self.filled_qty,
            self.leaves_qty,
            self.fee,
            self.reason
        )
    }
}

pub(super) fn update_of(s: &SimReport, cfg: &BarConfig) -> PyOrderUpdate {
    let r = &s.report;
    let fill = r.is_fill();
    PyOrderUpdate {
        client_order_id: r.client_order_id,
        status: kind_name(r.kind),
        side: side_name(r.side),
        price: (r.price_ticks != 0).then_some(r.price_ticks as f64 * cfg.tick_size),
        qty: if fill {
            r.last_qty_lots as f64 * cfg.lot_size
        } else {
            0.0
        },
        filled_qty: r.cum_qty_lots as f64 * cfg.lot_size,
        leaves_qty: r.leaves_qty_lots as f64 * cfg.lot_size,
        fee: r.fee_quote,
        liquidity: match r.liquidity {
            Liquidity::Maker => Some("maker"),
            Liquidity::Taker => Some("taker"),
            Liquidity::None => None,
        },
        reason: reason_name(s),
        reason_code: s.reason_code(),
        is_final: r.is_final(),
        ts_ns: r.ts_event_ns,
    }
}

fn slice<'a, T: numpy::Element>(
    name: &str,
    a: &'a PyReadonlyArray1<'_, T>,
    n: usize,
) -> PyResult<&'a [T]> {
    let s = contiguous(name, a)?;
    if s.len() != n {
        return Err(PyValueError::new_err(format!(
            "`{name}` has {} bars, `close` {n}",
            s.len()
        )));
    }
    Ok(s)
}

type BarSlices<'a> = (
    &'a [u64],
    &'a [f64],
    &'a [f64],
    &'a [f64],
    &'a [f64],
    &'a [f64],
);

/// The six bar columns as slices of `close`'s length, or an error naming the column.
fn bar_slices<'a>(
    ts: &'a PyReadonlyArray1<'_, u64>,
    open: &'a PyReadonlyArray1<'_, f64>,
    high: &'a PyReadonlyArray1<'_, f64>,
    low: &'a PyReadonlyArray1<'_, f64>,
    close: &'a PyReadonlyArray1<'_, f64>,
    volume: &'a PyReadonlyArray1<'_, f64>,
) -> PyResult<BarSlices<'a>> {
    let n = close.len()?;
    Ok((
        slice("ts", ts, n)?,
        slice("open", open, n)?,
        slice("high", high, n)?,
        slice("low", low, n)?,
        slice("close", close, n)?,
        slice("volume", volume, n)?,
    ))
}

/// The bar simulation as a strategy's broker: orders in (checked by the risk engine when
/// one is given), fills and updates out, cash / position / equity, the liquidity
/// provider's quote as the book. `run` is the backtest loop over one chunk of bars.
#[pyclass(module = "baconalgo._core", name = "BarBroker", unsendable)]
pub struct PyBarBroker {
    sim: BarSim,
    ts: Vec<u64>,
    rule: Option<EmaCross>,
    bar: Py<PyBar>,
    scratch: Vec<SimReport>,
}

impl PyBarBroker {
    fn cfg(&self) -> &BarConfig {
        self.sim.config()
    }

    /// Calls `on_update` then (fills) `on_fill` for each report, holding no borrow of the
    /// broker so the callbacks may send orders.
    pub(super) fn dispatch(
        py: Python<'_>,
        reports: &[SimReport],
        cfg: &BarConfig,
        on_fill: Option<&Bound<'_, PyAny>>,
        on_update: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if on_fill.is_none() && on_update.is_none() {
            return Ok(());
        }
        for s in reports {
            let u = Py::new(py, update_of(s, cfg))?;
            if let Some(f) = on_update {
                f.call1((u.clone_ref(py),))?;
            }
            if let (Some(f), true) = (on_fill, s.report.is_fill()) {
                f.call1((u,))?;
            }
        }
        Ok(())
    }
}

/// A Python order's arguments on the instrument's grid: (side, type, price ticks, lots,
/// time in force); no price makes a market order.
#[allow(clippy::type_complexity)]
pub(super) fn order_args(
    py: Python<'_>,
    grid: &BarConfig,
    side: &Bound<'_, PyAny>,
    qty: f64,
    price: Option<f64>,
    tif: &str,
    post_only: bool,
) -> PyResult<(Side, OrderType, i64, i64, TimeInForce)> {
    let side = parse_side(side)?;
    let tif = parse_tif(tif, post_only, price.is_none())?;
    let lots = grid.qty_lots(qty).map_err(|e| backtest_err(py, e))?;
    let (ty, ticks) = match price {
        None => (OrderType::Market, 0),
        Some(p) => (
            OrderType::Limit,
            grid.price_ticks(p).map_err(|e| backtest_err(py, e))?,
        ),
    };
    Ok((side, ty, ticks, lots, tif))
}

/// A replace's (price ticks, remaining lots); None keeps the working order's. A replace
/// of an order that is no longer working still goes to the venue, so the strategy gets
/// the venue's `unknown_order` rejection in order; the values sent with it (the given
/// ones, else zero) are never applied.
pub(super) fn replace_args(
    py: Python<'_>,
    grid: &BarConfig,
    working: &[OrderView],
    client_order_id: u64,
    price: Option<f64>,
    qty: Option<f64>,
) -> PyResult<(i64, i64)> {
    let current = working
        .iter()
        .find(|o| o.client_order_id == client_order_id);
    let ticks = match price {
        Some(p) => grid.price_ticks(p).map_err(|e| backtest_err(py, e))?,
        None => current.map_or(1, |o| o.price_ticks),
    };
    let lots = match qty {
        Some(q) => grid.qty_lots(q).map_err(|e| backtest_err(py, e))?,
        None => current.map_or(1, |o| o.leaves_qty_lots),
    };
    Ok((ticks, lots))
}

/// Working orders as (client_order_id, side, price, leaves_qty, filled_qty, tif).
#[allow(clippy::type_complexity)]
pub(super) fn open_order_tuples(
    grid: &BarConfig,
    working: &[OrderView],
) -> Vec<(u64, &'static str, f64, f64, f64, &'static str)> {
    let (t, l) = (grid.tick_size, grid.lot_size);
    working
        .iter()
        .map(|o| {
            (
                o.client_order_id,
                side_name(o.side),
                o.price_ticks as f64 * t,
                o.leaves_qty_lots as f64 * l,
                o.cum_qty_lots as f64 * l,
                tif_name(o.tif),
            )
        })
        .collect()
}

/// The risk engine's figures: accepted, rejected per reason, state.
pub(super) fn risk_dict<'py>(py: Python<'py>, risk: &RiskEngine) -> PyResult<Bound<'py, PyDict>> {
    let r = PyDict::new(py);
    r.set_item("accepted", risk.accepted_count())?;
    let rejected = PyDict::new(py);
    for reason in baconalgo_core::risk::RejectReason::ALL {
        let k = risk.reject_counts()[reason.code() as usize];
        if k > 0 {
            rejected.set_item(reject_name(*reason), k)?;
        }
    }
    r.set_item("rejected", rejected)?;
    r.set_item("state", risk.state().name())?;
    let tripped: Vec<&str> = risk
        .breakers()
        .tripped_reasons()
        .into_iter()
        .map(state_reason_name)
        .collect();
    r.set_item("tripped", tripped)?;
    Ok(r)
}

/// The kill switch's answer to Python: the cancels queued, or `RiskError` when there is
/// no risk engine to halt trading (the orders are then left alone).
pub(super) fn kill_switch_result(queued: Option<usize>) -> PyResult<usize> {
    queued.ok_or_else(|| {
        RiskError::new_err(
            "the kill switch needs a risk engine to halt trading: give risk limits \
             ([risk] or [paper.limits] with paper.risk = true)",
        )
    })
}

/// A risk reset's answer to Python: `ResetRefused` naming the breakers whose condition
/// still holds, `RiskError` without a risk engine.
pub(super) fn reset_result(py: Python<'_>, r: Option<Result<(), ResetRefused>>) -> PyResult<()> {
    match r {
        None => Err(RiskError::new_err("no risk engine to reset")),
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(reset_refused_err(
            py,
            e.reasons.into_iter().map(state_reason_name).collect(),
        )),
    }
}

/// Risk state changes as an `EVENT_DTYPE` array (kind RISK_STATE), ready to publish.
pub(super) fn risk_events<'py>(
    py: Python<'py>,
    events: Vec<Event>,
) -> Bound<'py, PyArray1<PyEvent>> {
    PyArray1::from_vec(py, events.into_iter().map(PyEvent).collect())
}

pub(super) fn parse_tif(tif: &str, post_only: bool, market: bool) -> PyResult<TimeInForce> {
    let t = match tif.to_ascii_lowercase().as_str() {
        "gtc" => TimeInForce::Gtc,
        "ioc" => TimeInForce::Ioc,
        "fok" => TimeInForce::Fok,
        "post_only" => TimeInForce::PostOnly,
        other => {
            return Err(PyValueError::new_err(format!(
                "tif must be 'gtc', 'ioc' or 'fok', got {other:?}"
            )))
        }
    };
    if post_only || t == TimeInForce::PostOnly {
        if market {
            return Err(PyValueError::new_err(
                "a market order cannot be post-only: give a limit price",
            ));
        }
        if t != TimeInForce::Gtc && t != TimeInForce::PostOnly {
            return Err(PyValueError::new_err(format!(
                "post_only orders rest: tif must be 'gtc', got {tif:?}"
            )));
        }
        return Ok(TimeInForce::PostOnly);
    }
    // A market order never rests: its time in force is at most immediate-or-cancel.
    if market && t == TimeInForce::Gtc {
        return Ok(TimeInForce::Ioc);
    }
    Ok(t)
}

#[pymethods]
impl PyBarBroker {
    /// Fees are fractions of the notional; `slippage` the fraction of the close the
    /// quotes are away from it; `liquidity` the quantity each quote offers; `fill` when a
    /// resting order fills within a bar (close, touch, trade_through). With
    /// `risk_instruments` and `risk_limits` (as for `RiskEngine`) every order is checked.
    #[new]
    #[pyo3(signature = (init_cash, tick_size, lot_size, taker_fee = 0.0, maker_fee = 0.0,
        slippage = 0.0, liquidity = 1e12, risk_instruments = None, risk_limits = None,
        risk_starting_equity = None, fill = "close"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        init_cash: f64,
        tick_size: f64,
        lot_size: f64,
        taker_fee: f64,
        maker_fee: f64,
        slippage: f64,
        liquidity: f64,
        risk_instruments: Option<&Bound<'_, PyAny>>,
        risk_limits: Option<&Bound<'_, PyAny>>,
        risk_starting_equity: Option<f64>,
        fill: &str,
    ) -> PyResult<Self> {
        let fill = match fill {
            "close" => BarFill::Close,
            "touch" => BarFill::Touch,
            "trade_through" => BarFill::TradeThrough,
            other => {
                return Err(PyValueError::new_err(format!(
                    "fill must be 'close', 'touch' or 'trade_through', got {other:?}"
                )))
            }
        };
        let liquidity_lots = (liquidity / lot_size).floor();
        if !(liquidity_lots.is_finite() && (1.0..9.0e18).contains(&liquidity_lots)) {
            return Err(PyValueError::new_err(format!(
                "liquidity {liquidity} must be at least one lot ({lot_size})"
            )));
        }
        let cfg = BarConfig {
            init_cash,
            tick_size,
            lot_size,
            taker_fee,
            maker_fee,
            slippage,
            liquidity_lots: liquidity_lots as i64,
            fill,
        };
        let risk = match (risk_instruments, risk_limits) {
            (Some(specs), Some(limits)) => Some(
                RiskEngine::new(
                    extract_specs(specs)?,
                    extract_limits(limits)?,
                    risk_starting_equity.unwrap_or(init_cash),
                )
                .map_err(|e| risk_err(py, e))?,
            ),
            (None, None) => None,
            _ => {
                return Err(PyValueError::new_err(
                    "give both risk_instruments and risk_limits, or neither",
                ))
            }
        };
        let sim = BarSim::new(cfg, risk).map_err(|e| backtest_err(py, e))?;
        Ok(PyBarBroker {
            sim,
            ts: Vec::new(),
            rule: None,
            bar: Py::new(py, PyBar::new(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0))?,
            scratch: Vec::with_capacity(16),
        })
    }

    /// Sends an order (served after the callback returns); returns its client order id.
    /// No `price`: a market order. `tif`: gtc, ioc or fok; `post_only` rests or is
    /// rejected.
    #[pyo3(signature = (side, qty, price = None, tif = "gtc", post_only = false))]
    fn submit(
        &mut self,
        py: Python<'_>,
        side: &Bound<'_, PyAny>,
        qty: f64,
        price: Option<f64>,
        tif: &str,
        post_only: bool,
    ) -> PyResult<u64> {
        let (side, ty, ticks, lots, tif) =
            order_args(py, self.cfg(), side, qty, price, tif, post_only)?;
        Ok(self.sim.submit(side, ty, ticks, lots, tif))
    }

    /// Cancels a working order (an unknown id gets a `rejected` update).
    fn cancel(&mut self, client_order_id: u64) {
        self.sim.cancel(client_order_id);
    }

    /// New price and/or remaining quantity of a working order (None keeps it).
    #[pyo3(signature = (client_order_id, price = None, qty = None))]
    fn replace(
        &mut self,
        py: Python<'_>,
        client_order_id: u64,
        price: Option<f64>,
        qty: Option<f64>,
    ) -> PyResult<()> {
        let working = self.sim.open_orders();
        let (ticks, lots) = replace_args(py, self.cfg(), &working, client_order_id, price, qty)?;
        self.sim.replace(client_order_id, ticks, lots);
        Ok(())
    }

    #[getter]
    fn cash(&self) -> f64 {
        self.sim.cash()
    }
    /// Position in the instrument's units (lots x lot size).
    #[getter]
    fn position(&self) -> f64 {
        self.sim.position_lots() as f64 * self.cfg().lot_size
    }
    #[getter]
    fn position_lots(&self) -> i64 {
        self.sim.position_lots()
    }
    #[getter]
    fn equity(&self) -> f64 {
        self.sim.equity()
    }
    #[getter]
    fn tick_size(&self) -> f64 {
        self.cfg().tick_size
    }
    #[getter]
    fn lot_size(&self) -> f64 {
        self.cfg().lot_size
    }
    /// Time of the current bar.
    #[getter]
    fn ts_ns(&self) -> u64 {
        self.sim.bar().ts_ns
    }
    /// Bars booked so far.
    #[getter]
    fn bars(&self) -> usize {
        self.sim.bars_closed()
    }
    /// The liquidity provider's (bid, ask) for the current bar.
    fn quote(&self) -> (f64, f64) {
        let (b, a) = self.sim.quote_ticks();
        let t = self.cfg().tick_size;
        (b as f64 * t, a as f64 * t)
    }
    /// The quantity cash buys at the current ask, fees included, floored to the lot.
    fn max_buy_qty(&self) -> f64 {
        self.sim.max_buy_lots() as f64 * self.cfg().lot_size
    }
    /// Working orders: (client_order_id, side, price, leaves_qty, filled_qty, tif).
    fn open_orders(&self) -> Vec<(u64, &'static str, f64, f64, f64, &'static str)> {
        open_order_tuples(self.cfg(), &self.sim.open_orders())
    }

    /// The kill switch: halts trading in the risk engine and cancels every working order
    /// (the cancels are served with the next requests); returns how many. `RiskError`
    /// without a risk engine.
    fn kill_switch(&mut self) -> PyResult<usize> {
        kill_switch_result(self.sim.kill_switch())
    }
    /// Back to ACTIVE after the kill switch or a breaker; `ResetRefused` names the
    /// breakers whose condition still holds. `rebase_peak`: equity now is the new peak.
    #[pyo3(signature = (*, rebase_peak = false))]
    fn reset_risk(&mut self, py: Python<'_>, rebase_peak: bool) -> PyResult<()> {
        reset_result(py, self.sim.reset_risk(rebase_peak))
    }
    /// Drains the risk engine's state changes as RISK_STATE events (`EVENT_DTYPE`).
    fn take_risk_events<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyArray1<PyEvent>> {
        risk_events(py, self.sim.take_risk_events())
    }

    /// What each bar of the data spans, in ns (signal rule timeframes are multiples).
    fn set_bar_timeframe(&mut self, bar_ns: u64) -> PyResult<()> {
        self.sim
            .set_bar_timeframe(bar_ns)
            .map_err(|e| signal_err(e, &[]))
    }

    /// Evaluates a signal (`baconalgo.signal.Signal.definition()`; prices at the tick
    /// size) on every bar from the next one on; `run` calls `on_signal` with its firings.
    fn add_signal(&mut self, definition: SignalDefinition) -> PyResult<()> {
        let engine = definition.engine(self.cfg().tick_size)?;
        self.sim
            .add_signal(engine)
            .map_err(|e| signal_err(e, definition.names()))
    }

    /// Signals fired since the start.
    #[getter]
    fn signals_fired(&self) -> u64 {
        self.sim.signals_fired_count()
    }

    /// The declared EMA(fast) / EMA(slow) cross for `run_rule` (no Python per bar).
    fn set_ema_cross(&mut self, py: Python<'_>, fast: usize, slow: usize) -> PyResult<()> {
        self.rule = Some(EmaCross::new(fast, slow).map_err(|e| crate::errors::ta_err(py, e))?);
        Ok(())
    }

    /// Runs the declared rule over a chunk of bars, in Rust, the GIL released.
    #[allow(clippy::too_many_arguments)]
    fn run_rule(
        &mut self,
        py: Python<'_>,
        ts: PyReadonlyArray1<'_, u64>,
        open: PyReadonlyArray1<'_, f64>,
        high: PyReadonlyArray1<'_, f64>,
        low: PyReadonlyArray1<'_, f64>,
        close: PyReadonlyArray1<'_, f64>,
        volume: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<()> {
        let (t, o, h, l, c, v) = bar_slices(&ts, &open, &high, &low, &close, &volume)?;
        let n = c.len();
        let Some(mut rule) = self.rule.take() else {
            return Err(PyValueError::new_err(
                "no declared rule: call set_ema_cross first",
            ));
        };
        let bars: Vec<Bar> = (0..n)
            .map(|i| Bar {
                ts_ns: t[i],
                open: o[i],
                high: h[i],
                low: l[i],
                close: c[i],
                volume: v[i],
            })
            .collect();
        let sim = &mut self.sim;
        let r = py.detach(|| sim.run_chunk(&bars, &mut rule));
        self.rule = Some(rule);
        self.ts
            .extend_from_slice(&t[..self.sim.bars_closed().saturating_sub(self.ts.len())]);
        r.map_err(|e| backtest_err(py, e))
    }

    /// The backtest loop over one chunk of bars: per bar the quotes meet resting orders
    /// (updates to `on_update` / `on_fill`), the indicators are fed, `on_bar(bar)` is
    /// called, then `on_signal` with each signal the bar fired (evaluated in Rust), and
    /// orders sent are served until no callback sends more.
    #[staticmethod]
    #[pyo3(signature = (broker, on_bar, on_fill, on_update, indicators, ts, open, high, low,
        close, volume, on_signal = None))]
    #[allow(clippy::too_many_arguments)]
    fn run(
        py: Python<'_>,
        broker: &Bound<'_, PyBarBroker>,
        on_bar: &Bound<'_, PyAny>,
        on_fill: Option<&Bound<'_, PyAny>>,
        on_update: Option<&Bound<'_, PyAny>>,
        indicators: &Bound<'_, PyList>,
        ts: PyReadonlyArray1<'_, u64>,
        open: PyReadonlyArray1<'_, f64>,
        high: PyReadonlyArray1<'_, f64>,
        low: PyReadonlyArray1<'_, f64>,
        close: PyReadonlyArray1<'_, f64>,
        volume: PyReadonlyArray1<'_, f64>,
        on_signal: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let (t, o, h, l, c, v) = bar_slices(&ts, &open, &high, &low, &close, &volume)?;
        let n = c.len();
        let mut runs = Vec::new();
        let inds: Vec<Bound<'_, PyIndicator>> = indicators
            .iter()
            .map(|i| i.cast_into::<PyIndicator>().map_err(PyErr::from))
            .collect::<PyResult<_>>()?;
        let (bar_obj, cfg, mut out) = {
            let mut me = broker.borrow_mut();
            let out = std::mem::take(&mut me.scratch);
            (me.bar.clone_ref(py).into_bound(py), *me.cfg(), out)
        };
        let result = (|| -> PyResult<()> {
            for i in 0..n {
                let bar = Bar {
                    ts_ns: t[i],
                    open: o[i],
                    high: h[i],
                    low: l[i],
                    close: c[i],
                    volume: v[i],
                };
                let index = {
                    let mut me = broker.borrow_mut();
                    out.clear();
                    me.sim
                        .open_bar(&bar, &mut out)
                        .map_err(|e| backtest_err(py, e))?;
                    me.ts.push(bar.ts_ns);
                    me.sim.bar_index() as u64
                };
                Self::dispatch(py, &out, &cfg, on_fill, on_update)?;
                let pb = {
                    let mut pb = bar_obj.borrow_mut();
                    *pb = PyBar::new(
                        bar.ts_ns, bar.open, bar.high, bar.low, bar.close, bar.volume, index,
                    );
                    *pb
                };
                for ind in &inds {
                    ind.borrow_mut().feed_bar(py, &pb)?;
                }
                on_bar.call1((&bar_obj,))?;
                if let Some(f) = on_signal {
                    runs.clear();
                    runs.extend_from_slice(broker.borrow().sim.signals_fired());
                    if !runs.is_empty() {
                        deliver(py, &runs, cfg.tick_size, f)?;
                    }
                }
                loop {
                    {
                        let mut me = broker.borrow_mut();
                        if !me.sim.has_requests() {
                            me.sim.close_bar();
                            break;
                        }
                        out.clear();
                        me.sim.process(&mut out);
                    }
                    Self::dispatch(py, &out, &cfg, on_fill, on_update)?;
                }
            }
            Ok(())
        })();
        broker.borrow_mut().scratch = out;
        result
    }

    /// The result so far as a dict of arrays: per-bar ts / position / cash / equity,
    /// fills, trades, the orders table, metrics (`ann_factor` bars a year) and risk.
    fn result<'py>(&self, py: Python<'py>, ann_factor: f64) -> PyResult<Bound<'py, PyDict>> {
        let res = self.sim.result().map_err(|e| backtest_err(py, e))?;
        let d = PyDict::new(py);
        let n = res.equity.len();
        d.set_item("ts_ns", self.ts[..n].to_vec().into_pyarray(py))?;
        d.set_item("fills", orders_dict(py, &res.orders)?)?;
        d.set_item("trades", trades_dict(py, &res.trades)?)?;
        d.set_item("orders", orders_table(py, &res.order_log, self.cfg())?)?;
        let pf = res.portfolio();
        d.set_item("metrics", metrics_dict(py, &pf, ann_factor)?)?;
        d.set_item("init_cash", res.init_cash)?;
        d.set_item("position", res.position.into_pyarray(py))?;
        d.set_item("cash", res.cash.into_pyarray(py))?;
        d.set_item("equity", res.equity.into_pyarray(py))?;
        if let Some(risk) = self.sim.risk() {
            let r = risk_dict(py, risk)?;
            r.set_item("errors", res.risk_errors)?;
            d.set_item("risk", r)?;
        }
        Ok(d)
    }
}

pub(super) fn orders_table<'py>(
    py: Python<'py>,
    log: &[OrderRecord],
    cfg: &BarConfig,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let (t, l) = (cfg.tick_size, cfg.lot_size);
    let f =
        |g: &dyn Fn(&OrderRecord) -> f64| log.iter().map(g).collect::<Vec<f64>>().into_pyarray(py);
    let u =
        |g: &dyn Fn(&OrderRecord) -> u64| log.iter().map(g).collect::<Vec<u64>>().into_pyarray(py);
    let s = |g: &dyn Fn(&OrderRecord) -> &'static str| log.iter().map(g).collect::<Vec<_>>();
    d.set_item("client_order_id", u(&|o| o.client_order_id))?;
    d.set_item("side", s(&|o| side_name(o.side)))?;
    d.set_item(
        "type",
        s(&|o| match o.order_type {
            OrderType::Market => "market",
            OrderType::Limit => "limit",
        }),
    )?;
    d.set_item("tif", s(&|o| tif_name(o.tif)))?;
    d.set_item(
        "price",
        f(&|o| {
            if o.order_type == OrderType::Market {
                f64::NAN
            } else {
                o.price_ticks as f64 * t
            }
        }),
    )?;
    d.set_item("qty", f(&|o| o.qty_lots as f64 * l))?;
    d.set_item("filled_qty", f(&|o| o.filled_lots as f64 * l))?;
    d.set_item("avg_fill_price", f(&|o| o.avg_price_ticks() * t))?;
    d.set_item("fees", f(&|o| o.fees_quote))?;
    d.set_item("status", s(&|o| kind_name(o.status)))?;
    d.set_item("reason_code", u(&|o| o.reason_code as u64))?;
    d.set_item("bar_submitted", u(&|o| o.bar_submitted as u64))?;
    d.set_item("ts_submitted_ns", u(&|o| o.ts_submitted_ns))?;
    d.set_item("bar_updated", u(&|o| o.bar_updated as u64))?;
    d.set_item("ts_updated_ns", u(&|o| o.ts_updated_ns))?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBar>()?;
    m.add_class::<PyIndicator>()?;
    m.add_class::<PyOrderUpdate>()?;
    m.add_class::<PyBarBroker>()?;
    Ok(())
}
