//! The event-driven backtest over bars: a [`Strategy`] sees each bar, sends orders through
//! the venue's [`MatchingEngine`], and is told of its fills; one deterministic loop.
//!
//! Bars carry no order book, so the loop gives the venue one: a liquidity provider quotes
//! a bid at `close x (1 - slippage)` and an ask at `close x (1 + slippage)` (rounded
//! outwards to the tick) of `liquidity_lots` each. At each bar the ask, then the bid, is
//! posted and withdrawn (our resting orders it crosses trade); then the strategy acts and
//! each of its orders meets the quote on its other side, posted for it and withdrawn
//! after (posting both at once would lock the book when slippage is 0). Market orders therefore execute at the close of
//! the bar that produced the signal (vectorbt's default); our resting limit orders stay in
//! the book and trade, at their own price, when a later bar's quote crosses them. The
//! strategy pays the taker fee on orders that trade on arrival and the maker fee on
//! resting orders that are hit. Cash and position are kept in lots and quote currency;
//! equity is `cash + position x close` after each bar.
//!
//! [`BarSim`] is that loop as a machine stepped bar by bar (so bars may arrive in chunks
//! and a Python strategy can drive it), with an optional [`RiskEngine`] in front of the
//! venue; [`run_bars`] runs a Rust [`Strategy`] through it.
//!
//! Signals ([`crate::signal`]) added with [`BarSim::add_signal`] are evaluated on each bar
//! as it opens, from the data's bars ([`BarSim::set_bar_timeframe`]); the runs fired by
//! the current bar are in [`BarSim::signals_fired`], for the strategy after `on_bar`.

use std::collections::HashMap;

use super::orders::{all_in_lots, halt_and_list, replace_refusal, sync_risk};
use super::vectorized::{exit_trades, BacktestError, Order, Portfolio, Trade};
use crate::model::{Event, OrderRequest, OrderType, Side, TimeInForce};
use crate::risk::{RejectReason, ResetRefused, RiskEngine};
use crate::signal::{SignalEngine, SignalError, SignalSet};
use crate::ta;
use crate::venue::{
    EngineConfig, ExecKind, ExecReport, FeeSchedule, MatchingEngine, OrderView, StpMode,
    VenueInstrument,
};

/// One OHLCV bar (floats: bars are an edge format; the venue works in ticks).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bar {
    pub ts_ns: u64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// When a resting order fills within a bar. Bars carry no book, so this is a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BarFill {
    /// Against the liquidity provider's quotes at close -/+ slippage: vectorbt's
    /// convention, and what the vectorized engine does.
    #[default]
    Close,
    /// A resting buy fills when the bar's low reaches its price, a sell when the high does.
    Touch,
    /// Only when the bar traded beyond the price: its low below a buy, its high above a
    /// sell (the cautious choice: touching the price may not reach our place in the queue).
    TradeThrough,
}

/// Parameters of a bar backtest of one instrument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarConfig {
    pub init_cash: f64,
    pub tick_size: f64,
    pub lot_size: f64,
    /// Taker fee as a fraction of notional (0.001 = 10 bps).
    pub taker_fee: f64,
    /// Maker fee as a fraction of notional; negative for a rebate.
    pub maker_fee: f64,
    /// Fraction of the close the liquidity provider's quotes are away from it.
    pub slippage: f64,
    /// Quantity of each liquidity-provider quote.
    pub liquidity_lots: i64,
    /// How resting orders fill within a bar.
    pub fill: BarFill,
}

impl BarConfig {
    /// `price` in whole ticks; an error when it is not finite, not positive or more than
    /// a millionth of a tick off the grid.
    pub fn price_ticks(&self, price: f64) -> Result<i64, BacktestError> {
        on_grid(
            "price",
            price,
            self.tick_size,
            "a positive multiple of tick_size",
        )
    }

    /// `qty` in whole lots, under the same rules as [`price_ticks`](Self::price_ticks).
    pub fn qty_lots(&self, qty: f64) -> Result<i64, BacktestError> {
        on_grid("qty", qty, self.lot_size, "a positive multiple of lot_size")
    }
}

fn on_grid(
    field: &'static str,
    value: f64,
    step: f64,
    rule: &'static str,
) -> Result<i64, BacktestError> {
    let steps = value / step;
    let whole = steps.round();
    if !(value.is_finite() && value > 0.0 && (1.0..9.0e18).contains(&whole))
        || (steps - whole).abs() > 1e-6
    {
        return Err(bad(field, value, rule));
    }
    Ok(whole as i64)
}

/// The owner id of the synthetic liquidity provider; strategies are owner 0.
const LP_OWNER: u16 = u16::MAX;
/// Client id of the liquidity provider's quote (strategy ids count up from 1).
const LP_ID: u64 = u64::MAX;

#[derive(Debug, Clone, Copy)]
enum Request {
    Submit(OrderRequest, TimeInForce),
    Cancel(u64),
    Replace {
        client_order_id: u64,
        price_ticks: i64,
        qty_lots: i64,
    },
}

/// One report for the strategy: the venue's [`ExecReport`], or a `Rejected` report the
/// risk engine made (with `risk` set, `seq` 0: the venue never saw the order).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimReport {
    pub report: ExecReport,
    pub risk: Option<RejectReason>,
}

impl SimReport {
    /// The reject / cancel reason as one code: risk codes are 1-99, venue codes 101 and
    /// up (they never collide), 0 when there is none.
    pub fn reason_code(&self) -> u16 {
        match (self.risk, self.report.reason) {
            (Some(r), _) => r.code(),
            (None, Some(v)) => v.code(),
            (None, None) => 0,
        }
    }
}

/// The life of one strategy order, for the orders table of a result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderRecord {
    pub client_order_id: u64,
    pub side: Side,
    pub order_type: OrderType,
    pub tif: TimeInForce,
    /// Limit price (0 for market orders); the latest after a replace.
    pub price_ticks: i64,
    /// Ordered quantity (filled plus what rests after a replace).
    pub qty_lots: i64,
    pub filled_lots: i64,
    /// Sum of fill price x fill quantity, for the average fill price.
    pub filled_ticks_lots: f64,
    pub fees_quote: f64,
    /// The latest report's kind.
    pub status: ExecKind,
    /// [`SimReport::reason_code`] of the report that finished the order (0 if none).
    pub reason_code: u16,
    pub bar_submitted: usize,
    pub ts_submitted_ns: u64,
    /// The bar of the last report.
    pub bar_updated: usize,
    pub ts_updated_ns: u64,
}

impl OrderRecord {
    /// Average fill price in ticks (NaN before any fill).
    pub fn avg_price_ticks(&self) -> f64 {
        if self.filled_lots == 0 {
            f64::NAN
        } else {
            self.filled_ticks_lots / self.filled_lots as f64
        }
    }
}

/// The output of a bar backtest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarResult {
    /// Every report the strategy received, in order (risk refusals included).
    pub reports: Vec<SimReport>,
    /// The strategy's fills as orders (bar index, size in asset units, price, fee).
    pub orders: Vec<Order>,
    /// Every order the strategy sent, in submission order.
    pub order_log: Vec<OrderRecord>,
    pub trades: Vec<Trade>,
    pub position: Vec<f64>,
    pub cash: Vec<f64>,
    pub equity: Vec<f64>,
    pub init_cash: f64,
    /// Risk-engine calls that failed (an order state the risk engine did not expect);
    /// counted, never silently dropped.
    pub risk_errors: u64,
}

impl BarResult {
    /// The result as a vectorized [`Portfolio`], for [`metrics`](super::metrics).
    pub fn portfolio(&self) -> Portfolio {
        Portfolio {
            orders: self.orders.clone(),
            trades: self.trades.clone(),
            position: self.position.clone(),
            cash: self.cash.clone(),
            equity: self.equity.clone(),
            init_cash: self.init_cash,
        }
    }
}

fn ask_ticks(close: f64, cfg: &BarConfig) -> i64 {
    // The small epsilon absorbs division noise (46377.0 / 0.1 = 463770.00000000006).
    (close * (1.0 + cfg.slippage) / cfg.tick_size - 1e-9).ceil() as i64
}

fn bid_ticks(close: f64, cfg: &BarConfig) -> i64 {
    (close * (1.0 - cfg.slippage) / cfg.tick_size + 1e-9).floor() as i64
}

fn bad(field: &'static str, value: f64, rule: &'static str) -> BacktestError {
    BacktestError::OutOfRange { field, value, rule }
}

/// The bar backtest as a machine a driver steps through, bar by bar: [`open_bar`]
/// (the bar's quotes meet resting orders), the strategy acts ([`submit`], [`cancel`],
/// [`replace`] queue requests), [`process`] serves the queue (repeat while the
/// strategy reacts to reports), [`close_bar`] books the bar's equity. [`run_bars`] and
/// [`BarSim::run_chunk`] drive it with a Rust [`Strategy`]; the Python bindings drive it
/// with a Python one. Bars can arrive in chunks of any size: the state carries over.
///
/// With a [`RiskEngine`] every order is checked before it reaches the venue (a refusal
/// is a `Rejected` report with the risk reason), the close is its reference price, and
/// fills, cancels and venue rejects keep its positions and working orders in step.
///
/// [`open_bar`]: BarSim::open_bar
/// [`submit`]: BarSim::submit
/// [`cancel`]: BarSim::cancel
/// [`replace`]: BarSim::replace
/// [`process`]: BarSim::process
/// [`close_bar`]: BarSim::close_bar
#[derive(Debug)]
pub struct BarSim {
    cfg: BarConfig,
    signals: SignalSet,
    engine: MatchingEngine,
    risk: Option<RiskEngine>,
    cash: f64,
    position_lots: i64,
    next_id: u64,
    /// Bars opened so far; the current bar is `bars - 1`.
    bars: usize,
    bar: Bar,
    bid_ticks: i64,
    ask_ticks: i64,
    outbox: Vec<Request>,
    scratch: Vec<ExecReport>,
    /// Index into `res.order_log` of each working order.
    working: HashMap<u64, usize>,
    res: BarResult,
}

impl BarSim {
    pub fn new(cfg: BarConfig, risk: Option<RiskEngine>) -> Result<BarSim, BacktestError> {
        for (f, v) in [
            ("init_cash", cfg.init_cash),
            ("tick_size", cfg.tick_size),
            ("lot_size", cfg.lot_size),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(bad(f, v, "finite and > 0"));
            }
        }
        if !(cfg.slippage.is_finite() && (0.0..1.0).contains(&cfg.slippage)) {
            return Err(bad("slippage", cfg.slippage, "0 <= slippage < 1"));
        }
        if cfg.liquidity_lots <= 0 {
            return Err(bad("liquidity_lots", cfg.liquidity_lots as f64, "> 0"));
        }
        if let Some(r) = &risk {
            if r.instrument_count() == 0 {
                return Err(bad(
                    "risk instruments",
                    0.0,
                    "the risk engine knows instrument 0",
                ));
            }
        }
        let spec = VenueInstrument {
            quote_per_tick_lot: cfg.tick_size * cfg.lot_size,
            fees: FeeSchedule {
                maker_bps: cfg.maker_fee * 1e4,
                taker_bps: cfg.taker_fee * 1e4,
            },
        };
        let engine = MatchingEngine::new(EngineConfig {
            instruments: vec![spec],
            stp: StpMode::CancelNewest,
            capacity: 4096,
        })
        .map_err(|_| bad("fees", cfg.taker_fee, "finite"))?;
        Ok(BarSim {
            cfg,
            signals: SignalSet::new(),
            engine,
            risk,
            cash: cfg.init_cash,
            position_lots: 0,
            next_id: 0,
            bars: 0,
            bar: Bar::default(),
            bid_ticks: 0,
            ask_ticks: 0,
            outbox: Vec::with_capacity(16),
            scratch: Vec::with_capacity(64),
            working: HashMap::new(),
            res: BarResult {
                init_cash: cfg.init_cash,
                ..BarResult::default()
            },
        })
    }

    pub fn config(&self) -> &BarConfig {
        &self.cfg
    }
    /// Index of the current bar (0 before the first).
    pub fn bar_index(&self) -> usize {
        self.bars.saturating_sub(1)
    }
    pub fn bar(&self) -> &Bar {
        &self.bar
    }
    pub fn cash(&self) -> f64 {
        self.cash
    }
    pub fn position_lots(&self) -> i64 {
        self.position_lots
    }
    /// Cash plus the position valued at the current close.
    pub fn equity(&self) -> f64 {
        self.cash + self.position_lots as f64 * self.cfg.lot_size * self.bar.close
    }
    /// The liquidity provider's current (bid, ask) in ticks.
    pub fn quote_ticks(&self) -> (i64, i64) {
        (self.bid_ticks, self.ask_ticks)
    }
    pub fn risk(&self) -> Option<&RiskEngine> {
        self.risk.as_ref()
    }
    /// The strategy's working orders, oldest first.
    pub fn open_orders(&self) -> Vec<OrderView> {
        let mut idx: Vec<usize> = self.working.values().copied().collect();
        idx.sort_unstable();
        idx.iter()
            .filter_map(|&i| self.engine.order(self.res.order_log[i].client_order_id))
            .collect()
    }
    /// The record of one order (working or finished).
    pub fn order_record(&self, client_order_id: u64) -> Option<&OrderRecord> {
        self.res
            .order_log
            .iter()
            .rev()
            .find(|o| o.client_order_id == client_order_id)
    }
    /// Bars booked so far.
    pub fn bars_closed(&self) -> usize {
        self.res.equity.len()
    }

    /// The lots that `cash` buys at the liquidity provider's current ask, fees included
    /// (vectorbt's all-in size, floored to the lot).
    pub fn max_buy_lots(&self) -> i64 {
        let ask = self.ask_ticks as f64 * self.cfg.tick_size;
        all_in_lots(self.cash, self.cfg.taker_fee, ask, self.cfg.lot_size)
    }

    /// The timeframe of the data's bars (what each bar spans), needed before signals.
    pub fn set_bar_timeframe(&mut self, bar_ns: u64) -> Result<(), SignalError> {
        self.signals.set_bar_timeframe(bar_ns)
    }

    /// Evaluates `engine` on every bar from the next one on (its rule timeframes must be
    /// whole numbers of the data's bars, the error names the rule that is not).
    pub fn add_signal(&mut self, engine: SignalEngine) -> Result<(), SignalError> {
        if self.signals.bar_timeframe().is_none() {
            return Err(SignalError::UnknownBarTimeframe);
        }
        self.signals.add(engine)
    }

    /// The signal runs the current bar fired (see [`SignalEngine::on_trade`] for a run).
    pub fn signals_fired(&self) -> &[Event] {
        self.signals.fired()
    }

    /// Signals fired since the start.
    pub fn signals_fired_count(&self) -> u64 {
        self.signals.fired_count()
    }

    /// Queues an order; returns its client id. Served by [`process`](Self::process).
    pub fn submit(
        &mut self,
        side: Side,
        order_type: OrderType,
        price_ticks: i64,
        qty_lots: i64,
        tif: TimeInForce,
    ) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let mut req = OrderRequest::limit(0, 0, side, price_ticks, qty_lots, id);
        req.order_type = order_type;
        self.outbox.push(Request::Submit(req, tif));
        id
    }

    /// Queues a cancel.
    pub fn cancel(&mut self, client_order_id: u64) {
        self.outbox.push(Request::Cancel(client_order_id));
    }

    /// Queues a replace: new limit price and new remaining quantity.
    pub fn replace(&mut self, client_order_id: u64, price_ticks: i64, qty_lots: i64) {
        self.outbox.push(Request::Replace {
            client_order_id,
            price_ticks,
            qty_lots,
        });
    }

    /// Whether requests are waiting for [`process`](Self::process).
    pub fn has_requests(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// The kill switch: the risk engine halts trading (only a reset brings it back) and
    /// every working order gets a cancel, sent with the next requests. Returns the
    /// number of cancels queued; `None` without a risk engine (nothing would refuse the
    /// orders sent after it).
    pub fn kill_switch(&mut self) -> Option<usize> {
        let now = self.bar.ts_ns;
        let open = self.open_orders();
        let ids = halt_and_list(self.risk.as_mut(), now, &open)?;
        self.outbox.extend(ids.map(Request::Cancel));
        Some(open.len())
    }

    /// The risk engine's way back to ACTIVE (see [`RiskEngine::reset`]); `None` without one.
    pub fn reset_risk(&mut self, rebase_peak: bool) -> Option<Result<(), ResetRefused>> {
        let now = self.bar.ts_ns;
        self.risk.as_mut().map(|r| r.reset(now, rebase_peak))
    }

    /// Drains the risk engine's trading-state changes as bus events (empty without one).
    pub fn take_risk_events(&mut self) -> Vec<Event> {
        self.risk
            .as_mut()
            .map_or_else(Vec::new, RiskEngine::take_events)
    }

    /// Starts a bar: the liquidity provider's quotes meet our resting orders, one side at
    /// a time (a bid and an ask at the same price would be a locked book the venue does
    /// not allow). The strategy's reports are appended to `out`.
    pub fn open_bar(&mut self, bar: &Bar, out: &mut Vec<SimReport>) -> Result<(), BacktestError> {
        if !(bar.close.is_finite() && bar.close > 0.0) {
            return Err(bad("close", bar.close, "finite and > 0"));
        }
        self.bars += 1;
        self.bar = *bar;
        let input = ta::Bar::new(bar.open, bar.high, bar.low, bar.close, bar.volume);
        self.signals.on_bar(0, 0, bar.ts_ns, input)?;
        self.bid_ticks = bid_ticks(bar.close, &self.cfg);
        self.ask_ticks = ask_ticks(bar.close, &self.cfg);
        if let Some(risk) = self.risk.as_mut() {
            let close_ticks = (bar.close / self.cfg.tick_size).round() as i64;
            if risk.on_reference_price(0, close_ticks, bar.ts_ns).is_err() {
                self.res.risk_errors += 1;
            }
            risk.on_clock(bar.ts_ns);
        }
        if self.engine.open_orders() == 0 {
            // Nothing of ours rests: the quotes would meet nobody.
            return Ok(());
        }
        let mut reports = std::mem::take(&mut self.scratch);
        reports.clear();
        let (ask, bid) = self.resting_fill_quotes(bar);
        for (side, px) in [(Side::Sell, ask), (Side::Buy, bid)] {
            lp_quote(
                &mut self.engine,
                side,
                px,
                self.cfg.liquidity_lots,
                bar.ts_ns,
                &mut reports,
                |_, _| {},
            );
        }
        self.apply(&reports, out);
        self.scratch = reports;
        Ok(())
    }

    /// The (ask, bid) in ticks that our resting orders meet at the start of `bar`: the
    /// close quotes, or under [`BarFill::Touch`] / [`BarFill::TradeThrough`] the bar's low
    /// and high (a resting order trades at its own price, as a maker). A bar without a
    /// usable range (high/low not finite, not positive or low > high) falls back to the
    /// close quotes.
    fn resting_fill_quotes(&self, bar: &Bar) -> (i64, i64) {
        let close = (self.ask_ticks, self.bid_ticks);
        if self.cfg.fill == BarFill::Close
            || !(bar.low.is_finite()
                && bar.high.is_finite()
                && 0.0 < bar.low
                && bar.low <= bar.high)
        {
            return close;
        }
        let (low, high) = (bar.low / self.cfg.tick_size, bar.high / self.cfg.tick_size);
        // The epsilons absorb division noise, as in ask_ticks / bid_ticks.
        match self.cfg.fill {
            // Buys at or above the low, sells at or below the high.
            BarFill::Touch => ((low - 1e-9).ceil() as i64, (high + 1e-9).floor() as i64),
            // Buys strictly above the low, sells strictly below the high.
            BarFill::TradeThrough => (
                (low + 1e-9).floor() as i64 + 1,
                (high - 1e-9).ceil() as i64 - 1,
            ),
            BarFill::Close => close,
        }
    }

    /// Serves the queued requests in order; their reports are appended to `out`. Each
    /// order meets the quote on its other side, posted for it and withdrawn after.
    pub fn process(&mut self, out: &mut Vec<SimReport>) {
        let ts = self.bar.ts_ns;
        let (bid, ask, liq) = (self.bid_ticks, self.ask_ticks, self.cfg.liquidity_lots);
        let mut reports = std::mem::take(&mut self.scratch);
        let requests = std::mem::take(&mut self.outbox);
        for req in &requests {
            reports.clear();
            match *req {
                Request::Submit(mut o, tif) => {
                    o.ts_ns = ts;
                    self.record_new(&o, tif);
                    if let Some(risk) = self.risk.as_mut() {
                        if let Err(reason) = risk.submit(&o, ts) {
                            self.risk_reject(&o, reason, out);
                            continue;
                        }
                    }
                    let (side, px) = if o.side == Side::Buy {
                        (Side::Sell, ask)
                    } else {
                        (Side::Buy, bid)
                    };
                    lp_quote(&mut self.engine, side, px, liq, ts, &mut reports, |e, r| {
                        e.submit(&o, tif, ts, r)
                    });
                }
                Request::Cancel(id) => self.engine.cancel(id, ts, &mut reports),
                Request::Replace {
                    client_order_id,
                    price_ticks,
                    qty_lots,
                } => {
                    let working = self.engine.order(client_order_id);
                    let risk = self.risk.as_mut();
                    if let Some(r) =
                        replace_refusal(risk, client_order_id, working, price_ticks, qty_lots, ts)
                    {
                        self.book_refusal(r, out);
                        continue;
                    }
                    let side = working.map(|o| o.side);
                    let (lp_side, px) = if side == Some(Side::Sell) {
                        (Side::Buy, bid)
                    } else {
                        (Side::Sell, ask)
                    };
                    lp_quote(
                        &mut self.engine,
                        lp_side,
                        px,
                        liq,
                        ts,
                        &mut reports,
                        |e, r| e.replace(client_order_id, price_ticks, qty_lots, ts, r),
                    );
                }
            }
            self.apply(&reports, out);
        }
        // Give the queue's allocation back; requests made while serving are kept.
        let mut requests = requests;
        requests.clear();
        requests.append(&mut self.outbox);
        self.outbox = requests;
        self.scratch = reports;
    }

    /// Ends the bar: books position, cash and equity at the close.
    pub fn close_bar(&mut self) {
        let position = self.position_lots as f64 * self.cfg.lot_size;
        self.res.position.push(position);
        self.res.cash.push(self.cash);
        self.res.equity.push(if self.position_lots != 0 {
            self.cash + position * self.bar.close
        } else {
            self.cash
        });
    }

    /// Runs a Rust strategy over a chunk of bars.
    pub fn run_chunk<S: Strategy>(
        &mut self,
        bars: &[Bar],
        strategy: &mut S,
    ) -> Result<(), BacktestError> {
        let mut out: Vec<SimReport> = Vec::with_capacity(16);
        for bar in bars {
            out.clear();
            self.open_bar(bar, &mut out)?;
            for r in &out {
                strategy.on_report(&mut Context { sim: self }, &r.report);
            }
            strategy.on_bar(&mut Context { sim: self }, bar);
            if !self.signals.fired().is_empty() {
                let fired = self.signals.fired().to_vec();
                strategy.on_signal(&mut Context { sim: self }, &fired);
            }
            // Requests from callbacks are served until the strategy stops sending any.
            while self.has_requests() {
                out.clear();
                self.process(&mut out);
                for r in &out {
                    strategy.on_report(&mut Context { sim: self }, &r.report);
                }
            }
            self.close_bar();
        }
        Ok(())
    }

    /// The result so far, with the trades (a position still open is valued at the last
    /// close). The simulation can go on.
    pub fn result(&self) -> Result<BarResult, BacktestError> {
        let n = self.res.equity.len();
        if n == 0 {
            return Err(BacktestError::Empty("bars"));
        }
        let mut res = self.res.clone();
        res.trades = exit_trades(&res.orders, n - 1, self.bar.close);
        Ok(res)
    }

    /// Consumes the simulation: its result without a copy.
    pub fn into_result(mut self) -> Result<BarResult, BacktestError> {
        let n = self.res.equity.len();
        if n == 0 {
            return Err(BacktestError::Empty("bars"));
        }
        self.res.trades = exit_trades(&self.res.orders, n - 1, self.bar.close);
        Ok(self.res)
    }

    fn record_new(&mut self, o: &OrderRequest, tif: TimeInForce) {
        let i = self.bar_index();
        self.working
            .insert(o.client_order_id, self.res.order_log.len());
        self.res.order_log.push(OrderRecord::opened(o, tif, i));
    }

    fn risk_reject(&mut self, o: &OrderRequest, reason: RejectReason, out: &mut Vec<SimReport>) {
        self.book_refusal(SimReport::risk_refusal(o, reason), out);
    }

    fn book_refusal(&mut self, r: SimReport, out: &mut Vec<SimReport>) {
        self.book_record(&r);
        self.res.reports.push(r);
        out.push(r);
    }

    /// Applies the strategy's reports among `reports` (fills to cash and position, the
    /// order log, the risk engine) and appends them to `out`.
    fn apply(&mut self, reports: &[ExecReport], out: &mut Vec<SimReport>) {
        let (tick, lot) = (self.cfg.tick_size, self.cfg.lot_size);
        for r in reports.iter().filter(|r| r.owner != LP_OWNER) {
            if r.is_fill() {
                let notional = r.price_ticks as f64 * tick * r.last_qty_lots as f64 * lot;
                if r.side == Side::Buy {
                    self.cash -= notional + r.fee_quote;
                    self.position_lots += r.last_qty_lots;
                } else {
                    self.cash += notional - r.fee_quote;
                    self.position_lots -= r.last_qty_lots;
                }
                self.res.orders.push(Order {
                    idx: self.bar_index(),
                    size: r.last_qty_lots as f64 * lot,
                    price: r.price_ticks as f64 * tick,
                    fees: r.fee_quote,
                    is_buy: r.side == Side::Buy,
                });
            }
            if let Some(risk) = self.risk.as_mut() {
                if !sync_risk(risk, r) {
                    self.res.risk_errors += 1;
                }
            }
            let s = SimReport {
                report: *r,
                risk: None,
            };
            self.book_record(&s);
            self.res.reports.push(s);
            out.push(s);
        }
    }

    fn book_record(&mut self, s: &SimReport) {
        let Some(&i) = self.working.get(&s.report.client_order_id) else {
            return;
        };
        let bar = self.bar_index();
        if self.res.order_log[i].apply(s, bar) {
            self.working.remove(&s.report.client_order_id);
        }
    }
}

/// What a Rust strategy may do from a callback: send, cancel and replace orders, read its
/// state. A view of the [`BarSim`].
pub struct Context<'a> {
    sim: &'a mut BarSim,
}

impl Context<'_> {
    pub fn bar_index(&self) -> usize {
        self.sim.bar_index()
    }
    pub fn cash(&self) -> f64 {
        self.sim.cash()
    }
    pub fn position_lots(&self) -> i64 {
        self.sim.position_lots()
    }
    /// Cash plus the position valued at the current close.
    pub fn equity(&self) -> f64 {
        self.sim.equity()
    }
    pub fn config(&self) -> &BarConfig {
        self.sim.config()
    }

    /// Sends an order; returns its client id.
    pub fn submit(
        &mut self,
        side: Side,
        order_type: OrderType,
        price_ticks: i64,
        qty_lots: i64,
        tif: TimeInForce,
    ) -> u64 {
        self.sim
            .submit(side, order_type, price_ticks, qty_lots, tif)
    }

    /// A market order.
    pub fn market(&mut self, side: Side, qty_lots: i64) -> u64 {
        self.submit(side, OrderType::Market, 0, qty_lots, TimeInForce::Ioc)
    }

    pub fn cancel(&mut self, client_order_id: u64) {
        self.sim.cancel(client_order_id);
    }

    pub fn replace(&mut self, client_order_id: u64, price_ticks: i64, qty_lots: i64) {
        self.sim.replace(client_order_id, price_ticks, qty_lots);
    }

    /// See [`BarSim::max_buy_lots`].
    pub fn max_buy_lots(&self) -> i64 {
        self.sim.max_buy_lots()
    }
}

/// A trading strategy driven by bars.
pub trait Strategy {
    /// Called once per bar, after the venue has the bar's quotes.
    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar);
    /// Called for each execution report of the strategy's orders.
    fn on_report(&mut self, _ctx: &mut Context<'_>, _report: &ExecReport) {}
    /// Called after `on_bar` with the signal runs that bar fired (one run per signal, see
    /// [`SignalEngine::on_trade`]).
    fn on_signal(&mut self, _ctx: &mut Context<'_>, _runs: &[Event]) {}
}

/// Runs `strategy` over `bars` (no risk engine).
pub fn run_bars<S: Strategy>(
    bars: &[Bar],
    cfg: &BarConfig,
    strategy: &mut S,
) -> Result<BarResult, BacktestError> {
    if bars.is_empty() {
        return Err(BacktestError::Empty("bars"));
    }
    let mut sim = BarSim::new(*cfg, None)?;
    sim.run_chunk(bars, strategy)?;
    sim.into_result()
}

/// Posts the liquidity provider's quote, runs `then` while it rests, withdraws it.
fn lp_quote(
    engine: &mut MatchingEngine,
    side: Side,
    price_ticks: i64,
    qty_lots: i64,
    ts: u64,
    out: &mut Vec<ExecReport>,
    then: impl FnOnce(&mut MatchingEngine, &mut Vec<ExecReport>),
) {
    let mut q = OrderRequest::limit(0, 0, side, price_ticks, qty_lots, LP_ID);
    q.strategy_id = LP_OWNER;
    engine.submit(&q, TimeInForce::Gtc, ts, out);
    then(engine, out);
    if engine.order(LP_ID).is_some() {
        engine.cancel(LP_ID, ts, out);
    }
}

/// The EMA(fast) / EMA(slow) crossover, long only and all in: buys with all cash when
/// the fast EMA crosses above the slow one, sells everything when it crosses below
/// (the rule of [`cross_signals`](super::vectorized::cross_signals)).
#[derive(Debug, Clone)]
pub struct EmaCross {
    fast: crate::ta::stream::Ema,
    slow: crate::ta::stream::Ema,
    prev: Option<(f64, f64)>,
}

impl EmaCross {
    pub fn new(fast: usize, slow: usize) -> Result<EmaCross, crate::ta::TaError> {
        Ok(EmaCross {
            fast: crate::ta::stream::Ema::new(fast)?,
            slow: crate::ta::stream::Ema::new(slow)?,
            prev: None,
        })
    }
}

impl Strategy for EmaCross {
    fn on_bar(&mut self, ctx: &mut Context<'_>, bar: &Bar) {
        use crate::ta::stream::Indicator;
        let (f1, s1) = (self.fast.update(bar.close), self.slow.update(bar.close));
        let prev = self.prev.replace((f1, s1));
        let Some((f0, s0)) = prev else {
            return;
        };
        if f0.is_nan() || s0.is_nan() || f1.is_nan() || s1.is_nan() {
            return;
        }
        if f1 > s1 && f0 <= s0 && ctx.position_lots() == 0 {
            let lots = ctx.max_buy_lots();
            if lots > 0 {
                ctx.market(Side::Buy, lots);
            }
        } else if f1 < s1 && f0 >= s0 && ctx.position_lots() > 0 {
            let lots = ctx.position_lots();
            ctx.market(Side::Sell, lots);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::{InstrumentSpec, RiskLimits};
    use crate::venue::Liquidity;

    fn cfg() -> BarConfig {
        BarConfig {
            init_cash: 10_000.0,
            tick_size: 0.5,
            lot_size: 0.01,
            taker_fee: 0.001,
            maker_fee: -0.0002,
            slippage: 0.0,
            liquidity_lots: 1_000_000,
            fill: BarFill::Close,
        }
    }

    fn bar(i: u64, close: f64) -> Bar {
        Bar {
            ts_ns: 1_000 + i * 60_000_000_000,
            open: close,
            high: close,
            low: close,
            close,
            volume: 1.0,
        }
    }

    fn kinds(out: &[SimReport]) -> Vec<(u64, ExecKind)> {
        out.iter()
            .map(|r| (r.report.client_order_id, r.report.kind))
            .collect()
    }

    #[test]
    fn a_resting_bid_fills_at_its_price_as_maker_when_a_later_close_reaches_it() {
        let mut sim = BarSim::new(cfg(), None).unwrap();
        let mut out = Vec::new();
        sim.open_bar(&bar(0, 100.0), &mut out).unwrap();
        // 2 lots at 99.0 (198 ticks): rests below the 100.0 quote.
        let id = sim.submit(Side::Buy, OrderType::Limit, 198, 200, TimeInForce::Gtc);
        sim.process(&mut out);
        assert_eq!(kinds(&out), vec![(id, ExecKind::New)]);
        assert_eq!(sim.open_orders().len(), 1);
        sim.close_bar();
        out.clear();
        sim.open_bar(&bar(1, 98.5), &mut out).unwrap();
        assert_eq!(kinds(&out), vec![(id, ExecKind::Filled)]);
        let f = out[0].report;
        assert_eq!(
            (f.price_ticks, f.last_qty_lots, f.liquidity),
            (198, 200, Liquidity::Maker)
        );
        // 2 BTC x 99.0 = 198 quote, maker rebate 0.02 % = 0.0396.
        assert!((sim.cash() - (10_000.0 - 198.0 + 0.0396)).abs() < 1e-9);
        assert_eq!(sim.position_lots(), 200);
        sim.close_bar();
        let res = sim.into_result().unwrap();
        let rec = res.order_log[0];
        assert_eq!(
            (rec.status, rec.filled_lots, rec.bar_updated),
            (ExecKind::Filled, 200, 1)
        );
        assert_eq!(rec.avg_price_ticks(), 198.0);
        assert_eq!(res.equity.len(), 2);
    }

    /// A bid at 99.0 and an ask at 101.0 rest after bar 0 (close 100); bar 1 closes at
    /// 100 again with the given low and high. Which of the two fill, per model.
    fn resting_fills(fill: BarFill, low: f64, high: f64) -> Vec<(u64, ExecKind, i64)> {
        let mut sim = BarSim::new(BarConfig { fill, ..cfg() }, None).unwrap();
        let mut out = Vec::new();
        sim.open_bar(&bar(0, 100.0), &mut out).unwrap();
        sim.submit(Side::Buy, OrderType::Limit, 198, 100, TimeInForce::Gtc);
        sim.submit(Side::Sell, OrderType::Limit, 202, 100, TimeInForce::Gtc);
        sim.process(&mut out);
        sim.close_bar();
        out.clear();
        let b = Bar {
            low,
            high,
            ..bar(1, 100.0)
        };
        sim.open_bar(&b, &mut out).unwrap();
        out.iter()
            .map(|r| {
                (
                    r.report.client_order_id,
                    r.report.kind,
                    r.report.price_ticks,
                )
            })
            .collect()
    }

    #[test]
    fn resting_orders_fill_on_the_bars_range_by_the_chosen_model() {
        let (buy, sell) = (1, 2);
        let both = |k| vec![(buy, k, 198), (sell, k, 202)];
        // The close (100) reaches neither order, whatever the range.
        assert_eq!(resting_fills(BarFill::Close, 98.0, 102.0), vec![]);
        // Touch: the low reaching 99.0 and the high reaching 101.0 fill both at their price.
        assert_eq!(
            resting_fills(BarFill::Touch, 99.0, 101.0),
            both(ExecKind::Filled)
        );
        assert_eq!(resting_fills(BarFill::Touch, 99.5, 100.5), vec![]);
        // Trade-through: touching is not enough, trading half a tick beyond is.
        assert_eq!(resting_fills(BarFill::TradeThrough, 99.0, 101.0), vec![]);
        assert_eq!(
            resting_fills(BarFill::TradeThrough, 98.5, 101.5),
            both(ExecKind::Filled)
        );
        // Off-grid extremes: 98.99 is below the bid, 101.01 above the ask.
        assert_eq!(
            resting_fills(BarFill::TradeThrough, 98.99, 101.01),
            both(ExecKind::Filled)
        );
        assert_eq!(resting_fills(BarFill::TradeThrough, 99.01, 100.99), vec![]);
        // A bar without a usable range falls back to the close.
        assert_eq!(resting_fills(BarFill::Touch, f64::NAN, 101.0), vec![]);
        assert_eq!(resting_fills(BarFill::Touch, 102.0, 98.0), vec![]);
    }

    #[test]
    fn chunks_give_the_same_result_as_one_run() {
        let bars: Vec<Bar> = (0..400)
            .map(|i| bar(i, 100.0 + 10.0 * ((i as f64) / 5.0).sin()))
            .collect();
        let whole = run_bars(&bars, &cfg(), &mut EmaCross::new(5, 20).unwrap()).unwrap();
        let mut sim = BarSim::new(cfg(), None).unwrap();
        let mut s = EmaCross::new(5, 20).unwrap();
        for chunk in bars.chunks(37) {
            sim.run_chunk(chunk, &mut s).unwrap();
        }
        let chunked = sim.into_result().unwrap();
        assert!(whole.trades.len() > 5);
        assert_eq!(whole, chunked);
    }

    /// A simulation with a risk engine (orders up to `max_qty_lots`) in the first bar.
    fn sim_with_risk(max_qty_lots: i64) -> (BarSim, Vec<SimReport>) {
        let mut limits = RiskLimits::permissive(1, 1_000);
        limits.instruments[0].max_qty_lots = max_qty_lots;
        let spec = InstrumentSpec::new(0, 0.5 * 0.01).unwrap();
        let risk = RiskEngine::new(vec![spec], limits, 10_000.0).unwrap();
        let mut sim = BarSim::new(cfg(), Some(risk)).unwrap();
        let mut out = Vec::new();
        sim.open_bar(&bar(0, 100.0), &mut out).unwrap();
        (sim, out)
    }

    #[test]
    fn the_risk_engine_refuses_an_order_above_its_limit_with_the_reason() {
        let (mut sim, mut out) = sim_with_risk(100);
        let big = sim.submit(Side::Buy, OrderType::Market, 0, 101, TimeInForce::Ioc);
        let ok = sim.submit(Side::Buy, OrderType::Market, 0, 100, TimeInForce::Ioc);
        sim.process(&mut out);
        assert_eq!(out[0].report.client_order_id, big);
        assert_eq!(out[0].report.kind, ExecKind::Rejected);
        assert_eq!(out[0].risk, Some(RejectReason::QtyAboveMax));
        assert_eq!(out[0].reason_code(), RejectReason::QtyAboveMax.code());
        assert_eq!(
            kinds(&out[1..]),
            vec![(ok, ExecKind::New), (ok, ExecKind::Filled)]
        );
        let risk = sim.risk().unwrap();
        assert_eq!(risk.position(0).unwrap().qty_lots, 100);
        assert_eq!(risk.open_order_count(), 0);
        sim.close_bar();
        let res = sim.into_result().unwrap();
        assert_eq!(res.risk_errors, 0);
        assert_eq!(
            res.order_log[0].reason_code,
            RejectReason::QtyAboveMax.code()
        );
    }

    #[test]
    fn the_kill_switch_cancels_every_working_order_and_halts_until_reset() {
        let (mut sim, mut out) = sim_with_risk(1_000);
        let low = sim.submit(Side::Buy, OrderType::Limit, 180, 10, TimeInForce::Gtc);
        let lower = sim.submit(Side::Buy, OrderType::Limit, 170, 10, TimeInForce::Gtc);
        sim.process(&mut out);
        assert_eq!(sim.open_orders().len(), 2);
        out.clear();

        assert_eq!(sim.kill_switch(), Some(2));
        let late = sim.submit(Side::Buy, OrderType::Limit, 160, 10, TimeInForce::Gtc);
        sim.process(&mut out);
        assert_eq!(
            kinds(&out),
            vec![
                (low, ExecKind::Cancelled),
                (lower, ExecKind::Cancelled),
                (late, ExecKind::Rejected)
            ]
        );
        assert_eq!(out[2].risk, Some(RejectReason::Halted));
        assert!(sim.open_orders().is_empty());
        assert_eq!(sim.risk().unwrap().open_order_count(), 0);
        let events = sim.take_risk_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, crate::model::EventKind::RiskState as u8);

        sim.reset_risk(false).unwrap().unwrap();
        assert_eq!(
            sim.risk().unwrap().state(),
            crate::risk::TradingState::Active
        );
        out.clear();
        let again = sim.submit(Side::Buy, OrderType::Limit, 160, 10, TimeInForce::Gtc);
        sim.process(&mut out);
        assert_eq!(kinds(&out), vec![(again, ExecKind::New)]);
        assert!(BarSim::new(cfg(), None).unwrap().kill_switch().is_none());
    }

    #[test]
    fn a_replace_passes_the_risk_engine_and_a_refused_one_leaves_the_order_working() {
        let (mut sim, mut out) = sim_with_risk(100);
        let id = sim.submit(Side::Buy, OrderType::Limit, 180, 50, TimeInForce::Gtc);
        sim.process(&mut out);
        out.clear();

        sim.replace(id, 182, 101);
        sim.process(&mut out);
        assert_eq!(kinds(&out), vec![(id, ExecKind::Rejected)]);
        assert_eq!(out[0].risk, Some(RejectReason::QtyAboveMax));
        assert!(!out[0].report.is_final());
        assert_eq!(out[0].report.leaves_qty_lots, 50);
        let [o] = sim.open_orders()[..] else {
            panic!("the order must still work")
        };
        assert_eq!((o.price_ticks, o.leaves_qty_lots), (180, 50));
        assert_eq!(
            sim.risk()
                .unwrap()
                .working_order(id)
                .unwrap()
                .remaining_lots,
            50
        );

        out.clear();
        sim.replace(id, 182, 100);
        sim.process(&mut out);
        assert_eq!(kinds(&out), vec![(id, ExecKind::Replaced)]);
        let w = *sim.risk().unwrap().working_order(id).unwrap();
        assert_eq!((w.price_ticks, w.remaining_lots), (182, 100));
        assert_eq!(sim.order_record(id).unwrap().status, ExecKind::Replaced);
    }

    #[test]
    fn signals_reach_the_strategy_after_on_bar_and_their_orders_fill_at_that_close() {
        use crate::signal::{Fusion, Op, Operand, Rule, Series, SignalSpec, Source};
        struct OnSignal {
            calls: Vec<(&'static str, usize)>,
        }
        impl Strategy for OnSignal {
            fn on_bar(&mut self, ctx: &mut Context<'_>, _bar: &Bar) {
                self.calls.push(("bar", ctx.bar_index()));
            }
            fn on_signal(&mut self, ctx: &mut Context<'_>, runs: &[Event]) {
                self.calls.push(("signal", ctx.bar_index()));
                assert_eq!(runs.last().map(|e| e.seq), Some(9));
                ctx.submit(Side::Buy, OrderType::Market, 0, 10, TimeInForce::Ioc);
            }
        }
        let mut sim = BarSim::new(cfg(), None).unwrap();
        let engine = SignalEngine::new(SignalSpec {
            signal_id: 9,
            rules: vec![Rule {
                left: Series {
                    source: Source::Close,
                    timeframe_ns: 60_000_000_000,
                },
                op: Op::Gt,
                right: Operand::Value(100.0),
                weight: 1.0,
            }],
            fusion: Fusion::All,
            side: Side::Buy,
            price_scale: 0.5,
        })
        .unwrap();
        assert_eq!(
            sim.add_signal(SignalEngine::new(engine.spec().clone()).unwrap()),
            Err(SignalError::UnknownBarTimeframe)
        );
        sim.set_bar_timeframe(60_000_000_000).unwrap();
        sim.add_signal(engine).unwrap();
        let bars: Vec<Bar> = [99.0, 101.0, 102.0, 98.0, 103.0]
            .iter()
            .enumerate()
            .map(|(i, c)| bar(i as u64, *c))
            .collect();
        let mut s = OnSignal { calls: vec![] };
        sim.run_chunk(&bars, &mut s).unwrap();
        // Rising edges at bars 1 and 4, each right after that bar's on_bar.
        assert_eq!(
            s.calls,
            vec![
                ("bar", 0),
                ("bar", 1),
                ("signal", 1),
                ("bar", 2),
                ("bar", 3),
                ("bar", 4),
                ("signal", 4)
            ]
        );
        assert_eq!(sim.signals_fired_count(), 2);
        let res = sim.into_result().unwrap();
        let fills: Vec<(usize, f64)> = res.orders.iter().map(|o| (o.idx, o.price)).collect();
        assert_eq!(fills, vec![(1, 101.0), (4, 103.0)]);
    }
}
