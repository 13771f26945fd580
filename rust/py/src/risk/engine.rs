//! `RiskEngine`, `Order` and `CheckResult`. A check result is one of a fixed set of
//! immutable objects made once (accepted, or one per reject reason), so `check()` from
//! Python allocates nothing either.

use baconalgo_core::model::{time::now_ns, Side};
use baconalgo_core::risk::{Fill, OrderRequest, OrderType, RejectReason, RiskEngine, WorkingOrder};
use numpy::PyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use super::limits::{extract_limits, extract_specs};
use super::names::{reject_name, state_reason_name, trading_state};
use crate::errors::{rejected_err, reset_refused_err, risk_err};
use crate::event::PyEvent;

fn side(value: u8) -> PyResult<Side> {
    match value {
        0 => Ok(Side::None),
        1 => Ok(Side::Buy),
        2 => Ok(Side::Sell),
        _ => Err(PyValueError::new_err(format!(
            "side must be 0 (none), 1 (buy) or 2 (sell), got {value}"
        ))),
    }
}

/// One order as a strategy submits it: prices in ticks, quantities in lots. A limit order
/// when `price_ticks` is given, a market order (valued at the reference price) when not.
#[pyclass(module = "baconalgo._core", name = "Order", frozen)]
pub struct PyOrder(OrderRequest);

#[pymethods]
impl PyOrder {
    #[new]
    #[pyo3(signature = (instrument, side, qty_lots, client_order_id, price_ticks = None, *,
        venue = 0, strategy_id = 0, reduce_only = false, ts_ns = 0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        instrument: u32,
        side: u8,
        qty_lots: i64,
        client_order_id: u64,
        price_ticks: Option<i64>,
        venue: u8,
        strategy_id: u16,
        reduce_only: bool,
        ts_ns: u64,
    ) -> PyResult<Self> {
        Ok(PyOrder(OrderRequest {
            instrument,
            side: self::side(side)?,
            order_type: if price_ticks.is_some() {
                OrderType::Limit
            } else {
                OrderType::Market
            },
            price_ticks: price_ticks.unwrap_or(0),
            qty_lots,
            client_order_id,
            strategy_id,
            venue,
            reduce_only,
            ts_ns,
        }))
    }

    #[getter]
    fn instrument(&self) -> u32 {
        self.0.instrument
    }
    #[getter]
    fn side(&self) -> u8 {
        self.0.side as u8
    }
    #[getter]
    fn qty_lots(&self) -> i64 {
        self.0.qty_lots
    }
    #[getter]
    fn client_order_id(&self) -> u64 {
        self.0.client_order_id
    }
    /// The limit price, or None for a market order.
    #[getter]
    fn price_ticks(&self) -> Option<i64> {
        (self.0.order_type == OrderType::Limit).then_some(self.0.price_ticks)
    }
    #[getter]
    fn is_market(&self) -> bool {
        self.0.order_type == OrderType::Market
    }
    #[getter]
    fn venue(&self) -> u8 {
        self.0.venue
    }
    #[getter]
    fn strategy_id(&self) -> u16 {
        self.0.strategy_id
    }
    #[getter]
    fn reduce_only(&self) -> bool {
        self.0.reduce_only
    }
    #[getter]
    fn ts_ns(&self) -> u64 {
        self.0.ts_ns
    }

    fn __repr__(&self) -> String {
        let o = &self.0;
        let price = match o.order_type {
            OrderType::Limit => o.price_ticks.to_string(),
            OrderType::Market => "None".into(),
        };
        format!(
            "Order(instrument={}, side={}, qty_lots={}, client_order_id={}, price_ticks={price}, \
             venue={}, strategy_id={}, reduce_only={})",
            o.instrument,
            o.side as u8,
            o.qty_lots,
            o.client_order_id,
            o.venue,
            o.strategy_id,
            if o.reduce_only { "True" } else { "False" },
        )
    }
}

/// The outcome of a pre-trade check: truthy when accepted; otherwise the reason's
/// snake-case name, stable numeric code and message.
#[pyclass(module = "baconalgo._core", name = "CheckResult", frozen)]
pub struct PyCheckResult {
    reason: Option<RejectReason>,
    name: Option<String>,
}

#[pymethods]
impl PyCheckResult {
    #[getter]
    fn accepted(&self) -> bool {
        self.reason.is_none()
    }
    /// Snake-case reject reason (`"position_limit"`), None when accepted.
    #[getter]
    fn reason(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The stable reject code (see `baconalgo.risk.RejectReason`), 0 when accepted.
    #[getter]
    fn code(&self) -> u16 {
        self.reason.map_or(0, RejectReason::code)
    }
    #[getter]
    fn message(&self) -> &'static str {
        self.reason.map_or("accepted", RejectReason::message)
    }
    fn __bool__(&self) -> bool {
        self.reason.is_none()
    }
    fn __repr__(&self) -> String {
        match self.reason {
            None => "CheckResult(accepted=True)".into(),
            Some(r) => format!(
                "CheckResult(accepted=False, reason={:?}, code={}, message={:?})",
                reject_name(r),
                r.code(),
                r.message()
            ),
        }
    }
}

/// Index 0: accepted; index `code`: that reason (codes are small and dense).
static RESULTS: PyOnceLock<Vec<Py<PyCheckResult>>> = PyOnceLock::new();

fn result(py: Python<'_>, r: Result<(), RejectReason>) -> PyResult<Py<PyCheckResult>> {
    let table = RESULTS.get_or_try_init(py, || {
        let max = RejectReason::ALL
            .iter()
            .map(|r| r.code())
            .max()
            .unwrap_or(0);
        (0..=max)
            .map(|code| {
                let reason = RejectReason::from_code(code);
                Py::new(
                    py,
                    PyCheckResult {
                        reason,
                        name: reason.map(reject_name),
                    },
                )
            })
            .collect::<PyResult<Vec<_>>>()
    })?;
    let code = match r {
        Ok(()) => 0,
        Err(reason) => reason.code() as usize,
    };
    Ok(table[code].clone_ref(py))
}

fn working_dict<'py>(py: Python<'py>, w: &WorkingOrder) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("client_order_id", w.client_order_id)?;
    d.set_item("instrument", w.instrument)?;
    d.set_item("side", w.side as u8)?;
    d.set_item(
        "price_ticks",
        (w.order_type == OrderType::Limit).then_some(w.price_ticks),
    )?;
    d.set_item("remaining_lots", w.remaining_lots)?;
    d.set_item("strategy_id", w.strategy_id)?;
    Ok(d)
}

/// The pre-trade risk engine of one account. Instrument `i` is `instruments[i]`; times
/// are nanoseconds since the epoch and default to now.
#[pyclass(module = "baconalgo._core", name = "RiskEngine")]
pub struct PyRiskEngine {
    engine: RiskEngine,
    limits: Py<PyAny>,
}

fn now(ts: Option<u64>) -> u64 {
    ts.unwrap_or_else(now_ns)
}

#[pymethods]
impl PyRiskEngine {
    /// `instruments`: `InstrumentSpec`s (venue, quote per tick-lot); `limits`: a
    /// `RiskLimits` with one `InstrumentLimits` per instrument.
    #[new]
    fn new(
        py: Python<'_>,
        instruments: &Bound<'_, PyAny>,
        limits: &Bound<'_, PyAny>,
        starting_equity_quote: f64,
    ) -> PyResult<Self> {
        let specs = extract_specs(instruments)?;
        let l = extract_limits(limits)?;
        let engine =
            RiskEngine::new(specs, l, starting_equity_quote).map_err(|e| risk_err(py, e))?;
        Ok(PyRiskEngine {
            engine,
            limits: limits.clone().unbind(),
        })
    }

    /// Runs every pre-trade check. An accepted order counts in the throttles; register it
    /// with `on_order_accepted` before the next check, or use `submit`.
    #[pyo3(signature = (order, now_ns = None))]
    fn check(
        &mut self,
        py: Python<'_>,
        order: PyRef<'_, PyOrder>,
        now_ns: Option<u64>,
    ) -> PyResult<Py<PyCheckResult>> {
        result(py, self.engine.check(&order.0, now(now_ns)))
    }

    /// Runs the checks on a replace of a working order to `price_ticks` and
    /// `remaining_lots` (the old order's quantity no longer counts). An order the engine
    /// does not know passes: the venue answers it. After the venue's `replaced`, call
    /// `on_order_done` then `on_order_accepted` with the new order.
    #[pyo3(signature = (client_order_id, price_ticks, remaining_lots, now_ns = None))]
    fn check_replace(
        &mut self,
        py: Python<'_>,
        client_order_id: u64,
        price_ticks: i64,
        remaining_lots: i64,
        now_ns: Option<u64>,
    ) -> PyResult<Py<PyCheckResult>> {
        let verdict =
            self.engine
                .check_replace(client_order_id, price_ticks, remaining_lots, now(now_ns));
        result(py, verdict)
    }

    /// `check`, and on acceptance registers the order as working.
    #[pyo3(signature = (order, now_ns = None))]
    fn submit(
        &mut self,
        py: Python<'_>,
        order: PyRef<'_, PyOrder>,
        now_ns: Option<u64>,
    ) -> PyResult<Py<PyCheckResult>> {
        result(py, self.engine.submit(&order.0, now(now_ns)))
    }

    /// `submit`, raising `RiskRejected` (with `reason`, `code`, `message`) on refusal.
    #[pyo3(signature = (order, now_ns = None))]
    fn submit_or_raise(
        &mut self,
        py: Python<'_>,
        order: PyRef<'_, PyOrder>,
        now_ns: Option<u64>,
    ) -> PyResult<()> {
        self.engine
            .submit(&order.0, now(now_ns))
            .map_err(|r| rejected_err(py, r, order.0.client_order_id, &reject_name(r)))
    }

    /// The order passed `check` and went out: it now counts as working.
    fn on_order_accepted(&mut self, py: Python<'_>, order: PyRef<'_, PyOrder>) -> PyResult<()> {
        self.engine
            .on_order_accepted(&order.0)
            .map_err(|e| risk_err(py, e))
    }

    /// The order is finished (cancelled, expired, filled): it stops counting.
    fn on_order_done(&mut self, py: Python<'_>, client_order_id: u64) -> PyResult<()> {
        self.engine
            .on_order_done(client_order_id)
            .map_err(|e| risk_err(py, e))
    }

    /// A venue rejected the order: it is done and counts towards the reject-rate breaker.
    #[pyo3(signature = (client_order_id, now_ns = None))]
    fn on_order_rejected(
        &mut self,
        py: Python<'_>,
        client_order_id: u64,
        now_ns: Option<u64>,
    ) -> PyResult<()> {
        self.engine
            .on_order_rejected(client_order_id, now(now_ns))
            .map_err(|e| risk_err(py, e))
    }

    /// An error talking to a venue: counts towards the error-rate breaker.
    #[pyo3(signature = (now_ns = None))]
    fn on_error(&mut self, now_ns: Option<u64>) {
        self.engine.on_error(now(now_ns));
    }

    /// A fill of `qty_lots` at `price_ticks` paying `fee_quote`; moves the position and
    /// PnL, and the order's remaining quantity (fully filled = done).
    #[pyo3(signature = (client_order_id, instrument, side, price_ticks, qty_lots,
        fee_quote = 0.0, ts_ns = None))]
    #[allow(clippy::too_many_arguments)]
    fn on_fill(
        &mut self,
        py: Python<'_>,
        client_order_id: u64,
        instrument: u32,
        side: u8,
        price_ticks: i64,
        qty_lots: i64,
        fee_quote: f64,
        ts_ns: Option<u64>,
    ) -> PyResult<()> {
        let fill = Fill {
            client_order_id,
            instrument,
            side: self::side(side)?,
            price_ticks,
            qty_lots,
            fee_quote,
            ts_ns: now(ts_ns),
        };
        self.engine.on_fill(&fill).map_err(|e| risk_err(py, e))
    }

    /// A reference (mark) price for the band, market-order notional, exposure, PnL and
    /// the volatility, drawdown and daily-loss breakers.
    #[pyo3(signature = (instrument, price_ticks, ts_ns = None))]
    fn on_reference_price(
        &mut self,
        py: Python<'_>,
        instrument: u32,
        price_ticks: i64,
        ts_ns: Option<u64>,
    ) -> PyResult<()> {
        self.engine
            .on_reference_price(instrument, price_ticks, now(ts_ns))
            .map_err(|e| risk_err(py, e))
    }

    /// Time passes: the stale-data breaker and the trading-day boundary.
    #[pyo3(signature = (now_ns = None))]
    fn on_clock(&mut self, now_ns: Option<u64>) {
        self.engine.on_clock(now(now_ns));
    }

    /// The limits in force (the object last given to the constructor or `set_limits`).
    #[getter]
    fn limits(&self, py: Python<'_>) -> Py<PyAny> {
        self.limits.clone_ref(py)
    }

    /// Replaces the limits at run time; invalid limits raise `RiskLimitsError` and leave
    /// the old ones in force. Working orders and positions are kept.
    fn set_limits(&mut self, py: Python<'_>, limits: &Bound<'_, PyAny>) -> PyResult<()> {
        let l = extract_limits(limits)?;
        self.engine.set_limits(l).map_err(|e| risk_err(py, e))?;
        self.limits = limits.clone().unbind();
        Ok(())
    }

    /// The trading state: 0 active, 1 reducing, 2 halted.
    #[getter]
    fn state(&self) -> u8 {
        self.engine.state() as u8
    }

    /// Sets the operator's state; breakers can only make it stricter.
    #[pyo3(signature = (state, now_ns = None))]
    fn set_state(&mut self, state: u8, now_ns: Option<u64>) -> PyResult<()> {
        let s = trading_state(state, "state")?;
        self.engine.set_state(s, now(now_ns));
        Ok(())
    }

    /// Halts trading; returns the client order ids still working, for the caller to
    /// cancel (then report each with `on_order_done`).
    #[pyo3(signature = (now_ns = None))]
    fn kill_switch(&mut self, now_ns: Option<u64>) -> Vec<u64> {
        self.engine.kill_switch(now(now_ns))
    }

    /// Clears every breaker and returns to ACTIVE, or raises `ResetRefused` naming the
    /// breakers whose condition still holds. `rebase_peak` accepts a drawdown: current
    /// equity becomes the peak.
    #[pyo3(signature = (now_ns = None, *, rebase_peak = false))]
    fn reset(&mut self, py: Python<'_>, now_ns: Option<u64>, rebase_peak: bool) -> PyResult<()> {
        self.engine.reset(now(now_ns), rebase_peak).map_err(|e| {
            reset_refused_err(py, e.reasons.into_iter().map(state_reason_name).collect())
        })
    }

    /// Names of the tripped breakers.
    fn tripped_breakers(&self) -> Vec<&'static str> {
        self.engine
            .breakers()
            .tripped_reasons()
            .into_iter()
            .map(state_reason_name)
            .collect()
    }

    /// Equity, peak equity (drawdown base) and the trading day's starting equity as the
    /// breakers last saw them.
    fn breaker_equity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let b = self.engine.breakers();
        let d = PyDict::new(py);
        d.set_item("equity_quote", b.equity_quote())?;
        d.set_item("peak_equity_quote", b.peak_equity_quote())?;
        d.set_item("day_start_equity_quote", b.day_start_equity_quote())?;
        Ok(d)
    }

    /// Drains the state changes since the last call as an `EVENT_DTYPE` array (kind
    /// RISK_STATE; `aux` reason code, `qty_lots` new state, `price_ticks` previous state,
    /// `instrument` the tripping instrument or 2**32-1, `seq` the change counter).
    fn take_events<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyArray1<PyEvent>> {
        let events: Vec<PyEvent> = self.engine.take_events().into_iter().map(PyEvent).collect();
        PyArray1::from_vec(py, events)
    }

    /// Position of `instrument`: size, average price, realized/unrealized PnL, fees,
    /// mark and exposure at the mark.
    fn position<'py>(&self, py: Python<'py>, instrument: u32) -> PyResult<Bound<'py, PyDict>> {
        let book = self.engine.positions();
        let (Some(p), Some(q), Some(mark)) = (
            book.get(instrument),
            book.quote_per_tick_lot(instrument),
            book.mark_ticks(instrument),
        ) else {
            return Err(risk_err(
                py,
                baconalgo_core::risk::RiskError::UnknownInstrument(instrument),
            ));
        };
        let d = PyDict::new(py);
        d.set_item("qty_lots", p.qty_lots)?;
        d.set_item("avg_price_ticks", p.avg_price_ticks)?;
        d.set_item("realized_pnl_quote", p.realized_pnl_quote)?;
        d.set_item("unrealized_pnl_quote", p.unrealized_pnl_quote(mark, q))?;
        d.set_item("fees_quote", p.fees_quote)?;
        d.set_item("mark_ticks", mark)?;
        d.set_item("exposure_quote", p.exposure_quote(mark, q))?;
        Ok(d)
    }

    /// Book-wide PnL and exposure at the reference prices, and equity.
    fn pnl<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.engine.pnl();
        let d = PyDict::new(py);
        d.set_item("realized_pnl_quote", s.realized_pnl_quote)?;
        d.set_item("unrealized_pnl_quote", s.unrealized_pnl_quote)?;
        d.set_item("fees_quote", s.fees_quote)?;
        d.set_item("total_pnl_quote", s.total_pnl_quote())?;
        d.set_item("net_exposure_quote", s.net_exposure_quote)?;
        d.set_item("gross_exposure_quote", s.gross_exposure_quote)?;
        d.set_item("equity_quote", self.engine.equity_quote())?;
        Ok(d)
    }

    /// Starting equity + realized + unrealized PnL - fees.
    #[getter]
    fn equity_quote(&self) -> f64 {
        self.engine.equity_quote()
    }

    /// Worst-case `(gross, net_long, net_short)` exposure with every working order filled.
    fn worst_case_exposure_quote(&self) -> (f64, f64, f64) {
        self.engine.worst_case_exposure_quote()
    }

    /// `(price_ticks, ts_ns)` of the instrument's reference price, or None.
    fn reference_price(&self, instrument: u32) -> Option<(i64, u64)> {
        self.engine.reference_price(instrument)
    }

    /// Working `(buy_lots, sell_lots)` of an instrument.
    fn open_lots(&self, py: Python<'_>, instrument: u32) -> PyResult<(i64, i64)> {
        self.engine.open_lots(instrument).ok_or_else(|| {
            risk_err(
                py,
                baconalgo_core::risk::RiskError::UnknownInstrument(instrument),
            )
        })
    }

    #[getter]
    fn open_order_count(&self) -> usize {
        self.engine.open_order_count()
    }

    #[getter]
    fn instrument_count(&self) -> usize {
        self.engine.instrument_count()
    }

    /// Client order ids of the working orders.
    fn working_order_ids(&self) -> Vec<u64> {
        self.engine.working_order_ids()
    }

    /// A working order as a dict, or None.
    fn working_order<'py>(
        &self,
        py: Python<'py>,
        client_order_id: u64,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.engine
            .working_order(client_order_id)
            .map(|w| working_dict(py, w))
            .transpose()
    }

    /// Orders accepted by `check` so far.
    #[getter]
    fn accepted_count(&self) -> u64 {
        self.engine.accepted_count()
    }

    /// Refusals so far by reason name (every reason, zeros included).
    fn reject_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counts = self.engine.reject_counts();
        let d = PyDict::new(py);
        for r in RejectReason::ALL {
            d.set_item(
                reject_name(*r),
                counts.get(r.code() as usize).copied().unwrap_or(0),
            )?;
        }
        Ok(d)
    }

    /// The largest order in lots for a Kelly `fraction` of equity at `price_ticks` (the
    /// reference price when None) that the position, size and notional limits allow.
    #[pyo3(signature = (instrument, side, fraction, price_ticks = None))]
    fn kelly_qty_lots(
        &self,
        py: Python<'_>,
        instrument: u32,
        side: u8,
        fraction: f64,
        price_ticks: Option<i64>,
    ) -> PyResult<i64> {
        self.engine
            .kelly_qty_lots(instrument, self::side(side)?, fraction, price_ticks)
            .map_err(|e| risk_err(py, e))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOrder>()?;
    m.add_class::<PyCheckResult>()?;
    m.add_class::<PyRiskEngine>()
}
