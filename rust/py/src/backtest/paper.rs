//! `PaperBroker`: `baconalgo_core::backtest::PaperSim` (a strategy account on live market
//! data against the `MarketSim` venue) as the broker of a Python strategy, and `run`, the
//! loop over one numpy batch of bus events. Per event the loop calls Python only for the
//! strategy callbacks the strategy overrides; the venue, the account and the risk engine
//! are Rust. Market-data objects (`Trade`, `Tick`, `Bar`) are reused, updated in place.

use baconalgo_core::backtest::{due, BarConfig, LastTrade, PaperConfig, PaperSim, SimReport, Top};
use baconalgo_core::model::Side;
use baconalgo_core::risk::RiskEngine;
use baconalgo_core::venue::queue::QueueShape;
use baconalgo_core::venue::{ExecReport, FeeSchedule, Liquidity};
use baconalgo_core::venue::{LatencyModel, QueueModel, SimConfig, VenueInstrument};
use numpy::{IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::broker::{
    kill_switch_result, open_order_tuples, order_args, orders_table, reason_name_of_code,
    replace_args, reset_result, risk_dict, risk_events, side_name, PyBar, PyBarBroker, PyIndicator,
};
use crate::bus::events_array;
use crate::errors::{backtest_err, risk_err};
use crate::event::{as_events, PyEvent};
use crate::risk::limits::{extract_limits, extract_specs};
use crate::signal::{deliver, signal_err, SignalDefinition};

/// A market trade as the strategy sees it (one object, updated in place per trade: keep
/// `trade.copy()` beyond the call).
#[pyclass(module = "baconalgo._core", name = "Trade")]
#[derive(Clone, Copy)]
pub struct PyTrade {
    #[pyo3(get)]
    ts_ns: u64,
    #[pyo3(get)]
    price: f64,
    #[pyo3(get)]
    qty: f64,
    /// The aggressor: "buy" (a buyer lifted the ask) or "sell".
    #[pyo3(get)]
    side: &'static str,
    #[pyo3(get)]
    trade_id: u64,
}

#[pymethods]
impl PyTrade {
    fn copy(&self) -> PyTrade {
        *self
    }
    fn __repr__(&self) -> String {
        format!(
            "Trade(ts_ns={}, price={}, qty={}, side={:?}, trade_id={})",
            self.ts_ns, self.price, self.qty, self.side, self.trade_id
        )
    }
}

/// Best bid and ask with their quantities (`on_quote`: the exchange's best bid/offer
/// stream; `on_book`: the venue's L2 book after an update). Prices are NaN and
/// quantities 0 for an empty side. Updated in place: keep `tick.copy()`.
#[pyclass(module = "baconalgo._core", name = "Tick")]
#[derive(Clone, Copy)]
pub struct PyTick {
    #[pyo3(get)]
    ts_ns: u64,
    #[pyo3(get)]
    bid: f64,
    #[pyo3(get)]
    ask: f64,
    #[pyo3(get)]
    bid_qty: f64,
    #[pyo3(get)]
    ask_qty: f64,
}

#[pymethods]
impl PyTick {
    fn copy(&self) -> PyTick {
        *self
    }
    fn __repr__(&self) -> String {
        format!(
            "Tick(ts_ns={}, bid={}, ask={}, bid_qty={}, ask_qty={})",
            self.ts_ns, self.bid, self.ask, self.bid_qty, self.ask_qty
        )
    }
}

fn tick_of(t: &Top, g: &BarConfig) -> PyTick {
    let px = |ticks: i64| {
        if ticks == 0 {
            f64::NAN
        } else {
            ticks as f64 * g.tick_size
        }
    };
    PyTick {
        ts_ns: t.ts_ns,
        bid: px(t.bid_ticks),
        ask: px(t.ask_ticks),
        bid_qty: t.bid_lots as f64 * g.lot_size,
        ask_qty: t.ask_lots as f64 * g.lot_size,
    }
}

fn trade_of(t: &LastTrade, g: &BarConfig) -> PyTrade {
    PyTrade {
        ts_ns: t.ts_ns,
        price: t.price_ticks as f64 * g.tick_size,
        qty: t.qty_lots as f64 * g.lot_size,
        side: if t.side == Side::Buy as u8 {
            "buy"
        } else {
            "sell"
        },
        trade_id: t.trade_id,
    }
}

fn queue_model(name: &str, power: f64) -> PyResult<QueueModel> {
    match name {
        "risk_averse" => Ok(QueueModel::RiskAverse),
        "probabilistic" if power.is_finite() && power > 0.0 => {
            Ok(QueueModel::Probabilistic(QueueShape::Power(power)))
        }
        "probabilistic_log" => Ok(QueueModel::Probabilistic(QueueShape::Log)),
        "probabilistic" => Err(PyValueError::new_err(format!(
            "queue_power must be finite and > 0, got {power}"
        ))),
        other => Err(PyValueError::new_err(format!(
            "queue must be 'risk_averse', 'probabilistic' or 'probabilistic_log', got {other:?}"
        ))),
    }
}

/// Where a paper strategy's orders go: the simulated venue fed by the live market data,
/// the account (cash, position, average cost, realized and unrealized PnL, fees), the
/// order log and the risk engine. `run` feeds it a batch of bus events.
#[pyclass(module = "baconalgo._core", name = "PaperBroker", unsendable)]
pub struct PyPaperBroker {
    sim: PaperSim,
    /// Tick, lot and fees in the form the shared report converters take.
    grid: BarConfig,
    bar: Py<PyBar>,
    trade: Py<PyTrade>,
    quote: Py<PyTick>,
    book: Py<PyTick>,
    bars_fed: u64,
    scratch: Vec<SimReport>,
}

#[pymethods]
impl PyPaperBroker {
    /// Fees are fractions of the notional (negative maker fee: a rebate). `queue`:
    /// risk_averse, probabilistic (`queue_power`) or probabilistic_log; latencies in ns
    /// (orders to the venue, reports back). `bar_seconds`: time bars for `on_bar`.
    /// With `risk_instruments` and `risk_limits` every order is checked first.
    #[new]
    #[pyo3(signature = (init_cash, tick_size, lot_size, taker_fee = 0.0, maker_fee = 0.0,
        instrument = 0, queue = "risk_averse", queue_power = 2.0, order_latency_ns = 0,
        response_latency_ns = 0, bar_seconds = None, risk_instruments = None,
        risk_limits = None, risk_starting_equity = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        init_cash: f64,
        tick_size: f64,
        lot_size: f64,
        taker_fee: f64,
        maker_fee: f64,
        instrument: u32,
        queue: &str,
        queue_power: f64,
        order_latency_ns: u64,
        response_latency_ns: u64,
        bar_seconds: Option<f64>,
        risk_instruments: Option<&Bound<'_, PyAny>>,
        risk_limits: Option<&Bound<'_, PyAny>>,
        risk_starting_equity: Option<f64>,
    ) -> PyResult<Self> {
        for (name, fee) in [("taker_fee", taker_fee), ("maker_fee", maker_fee)] {
            if !(fee.is_finite() && fee.abs() < 1.0) {
                return Err(PyValueError::new_err(format!(
                    "{name} must be a fraction of the notional in (-1, 1), got {fee}"
                )));
            }
        }
        let bar_every_ns = match bar_seconds {
            None => None,
            Some(s) if s.is_finite() && s > 0.0 && s * 1e9 < 1.8e19 => Some((s * 1e9) as u64),
            Some(s) => {
                return Err(PyValueError::new_err(format!(
                    "bar_seconds must be > 0, got {s}"
                )))
            }
        };
        let venue = SimConfig {
            instrument,
            spec: VenueInstrument {
                quote_per_tick_lot: tick_size * lot_size,
                fees: FeeSchedule {
                    maker_bps: maker_fee * 1e4,
                    taker_bps: taker_fee * 1e4,
                },
            },
            queue: queue_model(queue, queue_power)?,
            latency: LatencyModel::Constant {
                order_ns: order_latency_ns,
                response_ns: response_latency_ns,
                market_data_ns: 0,
            },
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
        let cfg = PaperConfig {
            init_cash,
            tick_size,
            lot_size,
            bar_every_ns,
        };
        let sim = PaperSim::new(cfg, venue, risk).map_err(|e| backtest_err(py, e))?;
        let grid = BarConfig {
            init_cash,
            tick_size,
            lot_size,
            taker_fee,
            maker_fee,
            slippage: 0.0,
            liquidity_lots: 1,
            fill: Default::default(),
        };
        let empty = tick_of(&Top::default(), &grid);
        Ok(PyPaperBroker {
            sim,
            grid,
            bar: Py::new(py, PyBar::new(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0))?,
            trade: Py::new(py, trade_of(&LastTrade::default(), &grid))?,
            quote: Py::new(py, empty)?,
            book: Py::new(py, empty)?,
            bars_fed: 0,
            scratch: Vec::with_capacity(16),
        })
    }

    /// Sends an order (at the session clock, after the callback returns); returns its
    /// client order id. No `price`: a market order.
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
            order_args(py, &self.grid, side, qty, price, tif, post_only)?;
        Ok(self.sim.submit(side, ty, ticks, lots, tif))
    }

    /// Cancels a working order (an unknown or finished one gets a `rejected` update).
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
        let (ticks, lots) = replace_args(py, &self.grid, &working, client_order_id, price, qty)?;
        self.sim.replace(client_order_id, ticks, lots);
        Ok(())
    }

    #[getter]
    fn cash(&self) -> f64 {
        self.sim.cash()
    }
    #[getter]
    fn position(&self) -> f64 {
        self.sim.position_lots() as f64 * self.grid.lot_size
    }
    #[getter]
    fn position_lots(&self) -> i64 {
        self.sim.position_lots()
    }
    /// Cash plus the position at the mark (the venue book's mid, else the last trade).
    #[getter]
    fn equity(&self) -> f64 {
        self.sim.equity()
    }
    #[getter]
    fn realized_pnl(&self) -> f64 {
        self.sim.realized_pnl()
    }
    #[getter]
    fn unrealized_pnl(&self) -> f64 {
        self.sim.unrealized_pnl()
    }
    #[getter]
    fn fees(&self) -> f64 {
        self.sim.fees()
    }
    /// Average cost of the open position (None when flat).
    #[getter]
    fn avg_price(&self) -> Option<f64> {
        (self.sim.position_lots() != 0).then(|| self.sim.avg_price_ticks() * self.grid.tick_size)
    }
    #[getter]
    fn init_cash(&self) -> f64 {
        self.grid.init_cash
    }
    #[getter]
    fn tick_size(&self) -> f64 {
        self.grid.tick_size
    }
    #[getter]
    fn lot_size(&self) -> f64 {
        self.grid.lot_size
    }
    /// The session clock: exchange time of the latest book or trade event.
    #[getter]
    fn ts_ns(&self) -> u64 {
        self.sim.now_ns()
    }
    /// The venue book's best (bid, ask): what orders trade against now (NaN if empty).
    fn quote(&self) -> (f64, f64) {
        let t = tick_of(&self.sim.top(), &self.grid);
        (t.bid, t.ask)
    }
    /// The quantity cash buys at the venue's best ask, taker fee included, floored.
    fn max_buy_qty(&self) -> f64 {
        self.sim.max_buy_lots(self.grid.taker_fee) as f64 * self.grid.lot_size
    }
    /// Working orders: (client_order_id, side, price, leaves_qty, filled_qty, tif).
    fn open_orders(&self) -> Vec<(u64, &'static str, f64, f64, f64, &'static str)> {
        open_order_tuples(&self.grid, &self.sim.open_orders())
    }
    /// Lots ahead of a working order at its price (the queue model's estimate).
    fn queue_ahead(&self, client_order_id: u64) -> Option<f64> {
        self.sim
            .queue_ahead(client_order_id)
            .map(|lots| lots * self.grid.lot_size)
    }

    /// Session counters: events, trades, quotes, book updates, bars, orders, fills,
    /// rejects, cancels, risk_errors.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.sim.counters();
        let d = PyDict::new(py);
        for (k, v) in [
            ("events", c.events),
            ("trades", c.trades),
            ("quotes", c.quotes),
            ("book_updates", c.book_updates),
            ("bars", c.bars),
            ("signals", c.signals),
            ("orders", c.orders),
            ("fills", c.fills),
            ("rejects", c.rejects),
            ("cancels", c.cancels),
            ("risk_errors", c.risk_errors),
            ("deltas_before_book", c.deltas_before_book),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// Rejected orders, cancels and replaces per reason name (risk or venue reason).
    fn rejects<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut counts: Vec<(u16, u64)> = self
            .sim
            .reject_counts()
            .iter()
            .map(|(&c, &n)| (c, n))
            .collect();
        counts.sort_unstable();
        let d = PyDict::new(py);
        for (code, n) in counts {
            d.set_item(reason_name_of_code(code).unwrap_or("unknown".into()), n)?;
        }
        Ok(d)
    }

    /// Orders sent, as columns (as `BarBroker`'s orders table; `bar_submitted` and
    /// `bar_updated` count market events): every one, or the `last` n.
    #[pyo3(signature = (last = None))]
    fn orders<'py>(&self, py: Python<'py>, last: Option<usize>) -> PyResult<Bound<'py, PyDict>> {
        let log = self.sim.order_log();
        let from = last.map_or(0, |n| log.len().saturating_sub(n));
        orders_table(py, &log[from..], &self.grid)
    }

    /// Every fill received, as columns: ts_ns (venue time), ts_recv_ns, client_order_id,
    /// side, price, qty, fee, liquidity, trade_id.
    fn fills<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let f = self.sim.fills();
        let (t, l) = (self.grid.tick_size, self.grid.lot_size);
        let d = PyDict::new(py);
        let u = |g: fn(&ExecReport) -> u64| f.iter().map(g).collect::<Vec<_>>().into_pyarray(py);
        let i = |g: fn(&ExecReport) -> i64| f.iter().map(g).collect::<Vec<_>>().into_pyarray(py);
        let x =
            |g: &dyn Fn(&ExecReport) -> f64| f.iter().map(g).collect::<Vec<_>>().into_pyarray(py);
        d.set_item("ts_ns", u(|r| r.ts_event_ns))?;
        d.set_item("ts_recv_ns", u(|r| r.ts_recv_ns))?;
        d.set_item("client_order_id", u(|r| r.client_order_id))?;
        d.set_item(
            "side",
            f.iter().map(|r| side_name(r.side)).collect::<Vec<_>>(),
        )?;
        d.set_item("price", x(&|r| r.price_ticks as f64 * t))?;
        d.set_item("price_ticks", i(|r| r.price_ticks))?;
        d.set_item("qty", x(&|r| r.last_qty_lots as f64 * l))?;
        d.set_item("qty_lots", i(|r| r.last_qty_lots))?;
        d.set_item("fee", x(&|r| r.fee_quote))?;
        let liquidity = |r: &ExecReport| match r.liquidity {
            Liquidity::Maker => "maker",
            _ => "taker",
        };
        d.set_item("liquidity", f.iter().map(liquidity).collect::<Vec<_>>())?;
        d.set_item("trade_id", u(|r| r.trade_id))?;
        Ok(d)
    }

    /// One batch of bus events (`EVENT_DTYPE`) through the venue and the strategy: per
    /// event of the instrument, the venue and account update, due reports go to
    /// `on_update` / `on_fill`, then the market callback (`on_trade`, `on_quote`,
    /// `on_book`, `on_bar` after feeding `indicators`), then `on_signal` with each
    /// signal the event fired (evaluated in Rust on the trade), then the orders they sent
    /// are served until no callback sends more. None skips a callback.
    #[staticmethod]
    #[pyo3(signature = (broker, events, on_trade, on_quote, on_book, on_bar, on_fill,
        on_update, indicators, on_signal = None))]
    #[allow(clippy::too_many_arguments)]
    fn run(
        py: Python<'_>,
        broker: &Bound<'_, PyPaperBroker>,
        events: &Bound<'_, PyAny>,
        on_trade: Option<&Bound<'_, PyAny>>,
        on_quote: Option<&Bound<'_, PyAny>>,
        on_book: Option<&Bound<'_, PyAny>>,
        on_bar: Option<&Bound<'_, PyAny>>,
        on_fill: Option<&Bound<'_, PyAny>>,
        on_update: Option<&Bound<'_, PyAny>>,
        indicators: &Bound<'_, PyList>,
        on_signal: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let array = events_array(events, "events")?;
        let mut runs = Vec::new();
        let readonly: PyReadonlyArray1<'_, PyEvent> = array.readonly();
        let events = as_events(readonly.as_slice().map_err(|_| {
            PyValueError::new_err("events must be C-contiguous (use numpy.ascontiguousarray)")
        })?);
        let inds: Vec<Bound<'_, PyIndicator>> = indicators
            .iter()
            .map(|i| i.cast_into::<PyIndicator>().map_err(PyErr::from))
            .collect::<PyResult<_>>()?;
        let (grid, mut out, trade, quote, book, bar) = {
            let mut me = broker.borrow_mut();
            (
                me.grid,
                std::mem::take(&mut me.scratch),
                me.trade.clone_ref(py).into_bound(py),
                me.quote.clone_ref(py).into_bound(py),
                me.book.clone_ref(py).into_bound(py),
                me.bar.clone_ref(py).into_bound(py),
            )
        };
        let result = (|| -> PyResult<()> {
            // Runs of events no callback wants stay in Rust under one borrow.
            let mut wanted = 0;
            for (cb, bit) in [
                (on_trade.is_some(), due::TRADE),
                (on_quote.is_some(), due::QUOTE),
                (on_book.is_some(), due::BOOK),
                (on_bar.is_some() || !inds.is_empty(), due::BAR),
                (on_signal.is_some(), due::SIGNAL),
            ] {
                if cb {
                    wanted |= bit;
                }
            }
            let reports_wanted = on_fill.is_some() || on_update.is_some();
            let mut next = 0;
            while next < events.len() {
                let due = {
                    let mut me = broker.borrow_mut();
                    out.clear();
                    let mut due = 0;
                    while next < events.len() {
                        due = me.sim.on_event(&events[next], &mut out) & wanted;
                        next += 1;
                        if due != 0 || (reports_wanted && !out.is_empty()) {
                            break;
                        }
                        out.clear();
                    }
                    due
                };
                // The update callbacks may send orders too: served below with the rest.
                PyBarBroker::dispatch(py, &out, &grid, on_fill, on_update)?;
                if due & due::TRADE != 0 {
                    if let Some(f) = on_trade {
                        let t = trade_of(&broker.borrow().sim.last_trade(), &grid);
                        *trade.borrow_mut() = t;
                        f.call1((&trade,))?;
                    }
                }
                if due & due::QUOTE != 0 {
                    if let Some(f) = on_quote {
                        let t = tick_of(&broker.borrow().sim.quote(), &grid);
                        *quote.borrow_mut() = t;
                        f.call1((&quote,))?;
                    }
                }
                if due & due::BOOK != 0 {
                    if let Some(f) = on_book {
                        let t = tick_of(&broker.borrow().sim.top(), &grid);
                        *book.borrow_mut() = t;
                        f.call1((&book,))?;
                    }
                }
                if due & due::BAR != 0 {
                    let closed = broker.borrow().sim.last_bar();
                    if let Some(b) = closed {
                        let index = {
                            let mut me = broker.borrow_mut();
                            me.bars_fed += 1;
                            me.bars_fed - 1
                        };
                        let (t, v) = (grid.tick_size, grid.lot_size);
                        let pb = PyBar::new(
                            b.ts_open_ns,
                            b.open_ticks as f64 * t,
                            b.high_ticks as f64 * t,
                            b.low_ticks as f64 * t,
                            b.close_ticks as f64 * t,
                            b.volume_lots as f64 * v,
                            index,
                        );
                        *bar.borrow_mut() = pb;
                        for ind in &inds {
                            ind.borrow_mut().feed_bar(py, &pb)?;
                        }
                        if let Some(f) = on_bar {
                            f.call1((&bar,))?;
                        }
                    }
                }
                if due & due::SIGNAL != 0 {
                    if let Some(f) = on_signal {
                        runs.clear();
                        runs.extend_from_slice(broker.borrow().sim.signals_fired());
                        deliver(py, &runs, grid.tick_size, f)?;
                    }
                }
                loop {
                    {
                        let mut me = broker.borrow_mut();
                        if !me.sim.has_requests() {
                            break;
                        }
                        out.clear();
                        me.sim.process(&mut out);
                    }
                    PyBarBroker::dispatch(py, &out, &grid, on_fill, on_update)?;
                }
            }
            Ok(())
        })();
        broker.borrow_mut().scratch = out;
        result
    }

    /// Evaluates a signal (`baconalgo.signal.Signal.definition()`; prices at the tick
    /// size) on every trade of the instrument from now on; `run` calls `on_signal` with
    /// its firings.
    fn add_signal(&mut self, definition: SignalDefinition) -> PyResult<()> {
        let engine = definition.engine(self.grid.tick_size)?;
        self.sim
            .add_signal(engine)
            .map_err(|e| signal_err(e, definition.names()))
    }

    /// Serves orders sent outside `run` (from `on_start`, or between batches).
    #[staticmethod]
    #[pyo3(signature = (broker, on_fill, on_update))]
    fn flush(
        py: Python<'_>,
        broker: &Bound<'_, PyPaperBroker>,
        on_fill: Option<&Bound<'_, PyAny>>,
        on_update: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let grid = broker.borrow().grid;
        let mut out = Vec::new();
        loop {
            {
                let mut me = broker.borrow_mut();
                if !me.sim.has_requests() {
                    return Ok(());
                }
                out.clear();
                me.sim.process(&mut out);
            }
            PyBarBroker::dispatch(py, &out, &grid, on_fill, on_update)?;
        }
    }

    /// Risk engine summary: accepted, rejected per reason, state (None without one).
    fn risk<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.sim.risk().map(|r| risk_dict(py, r)).transpose()
    }

    /// The kill switch: halts trading in the risk engine and cancels every working order
    /// (sent with the next requests: call `flush` outside `run`); returns how many.
    /// `RiskError` without a risk engine.
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
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTrade>()?;
    m.add_class::<PyTick>()?;
    m.add_class::<PyPaperBroker>()?;
    Ok(())
}
