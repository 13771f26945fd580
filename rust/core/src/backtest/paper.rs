//! Paper trading: one strategy account on a [`MarketSim`] fed by live market data (the
//! bus), every order through an optional [`RiskEngine`]. The driver (the Python binding)
//! hands it each event with [`PaperSim::on_event`], calls the strategy callbacks the
//! returned [`Due`] names, and serves what they sent with [`PaperSim::process`].
//!
//! Rules:
//! * The venue sees book deltas, book snapshots and trades of the configured instrument at
//!   their exchange time; that time is the session clock (`now_ns`). Quotes (bookTicker)
//!   only reach the strategy: spot bookTicker carries no exchange time, and the venue
//!   fills against the L2 book and the trades, as [`MarketSim`] documents.
//! * Orders go out at the clock's time and reach the venue after the latency model's entry
//!   delay; their reports reach the strategy at their `ts_recv_ns` (the response delay),
//!   i.e. with the first event at or after it. Cash, position, fees and realized PnL
//!   change when a fill report reaches the strategy, so the strategy's view and the
//!   account agree.
//! * PnL is by average cost: a fill that reduces the position realizes
//!   `(price - average cost) x qty`; unrealized PnL values the rest at the mark (mid of
//!   the venue's book, else the last trade). `equity - init_cash = realized + unrealized
//!   - fees` holds after every fill.
//! * Signals added with [`PaperSim::add_signal`] see every trade of the instrument, right
//!   after the venue and the bars: a trade that makes one fire returns [`due::SIGNAL`], and
//!   the runs are in [`PaperSim::signals_fired`] until the next event.
//! * Nothing depends on wall-clock time or chance (recorded latencies draw from a seeded
//!   generator): the same events in the same order give the same fills.

use std::collections::HashMap;

use super::event::{OrderRecord, SimReport};
use super::orders::{all_in_lots, halt_and_list, replace_refusal, sync_risk};
use super::vectorized::BacktestError;
use crate::bars::{BarBuilder, BarSpec};
use crate::model::{flags, Bar, Event, EventKind, OrderRequest, OrderType, Side, TimeInForce};
use crate::risk::{RejectReason, ResetRefused, RiskEngine};
use crate::signal::{SignalEngine, SignalError, SignalSet};
use crate::venue::{ExecKind, ExecReport, MarketSim, OrderView, SimConfig};

/// Account and instrument of one paper session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaperConfig {
    pub init_cash: f64,
    pub tick_size: f64,
    pub lot_size: f64,
    /// Time bars for `on_bar` (None: no bars).
    pub bar_every_ns: Option<u64>,
}

/// Which strategy callbacks an event calls for (bits).
pub mod due {
    pub const TRADE: u8 = 1;
    pub const QUOTE: u8 = 2;
    pub const BOOK: u8 = 4;
    pub const BAR: u8 = 8;
    pub const SIGNAL: u8 = 16;
}

/// The callbacks [`PaperSim::on_event`] says are due, as [`due`] bits.
pub type Due = u8;

/// Best bid and ask with their quantities, in ticks and lots (0 when a side is empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Top {
    pub ts_ns: u64,
    pub bid_ticks: i64,
    pub bid_lots: i64,
    pub ask_ticks: i64,
    pub ask_lots: i64,
}

/// The latest market trade the strategy saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LastTrade {
    pub ts_ns: u64,
    pub price_ticks: i64,
    pub qty_lots: i64,
    pub side: u8,
    pub trade_id: u64,
}

/// Counters of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PaperCounters {
    /// Events of the instrument processed.
    pub events: u64,
    pub trades: u64,
    /// Quote messages (a bid and an ask event each).
    pub quotes: u64,
    /// Book messages (a diff or a snapshot) applied to the venue's book.
    pub book_updates: u64,
    /// Book deltas dropped because no snapshot had built the book yet.
    pub deltas_before_book: u64,
    pub bars: u64,
    /// Signals fired (one per run).
    pub signals: u64,
    pub orders: u64,
    pub fills: u64,
    pub rejects: u64,
    pub cancels: u64,
    /// Risk-engine bookkeeping calls that failed (counted, never hidden).
    pub risk_errors: u64,
}

#[derive(Debug, Clone, Copy)]
enum Request {
    Submit(OrderRequest, TimeInForce),
    Cancel(u64),
    Replace(u64, i64, i64),
}

/// A strategy account trading on live market data against [`MarketSim`] (module docs).
#[derive(Debug)]
pub struct PaperSim {
    cfg: PaperConfig,
    signals: SignalSet,
    instrument: u32,
    sim: MarketSim,
    risk: Option<RiskEngine>,
    bars: Option<BarBuilder>,
    now_ns: u64,
    next_id: u64,
    cash: f64,
    position_lots: i64,
    /// Average cost of the open position, in ticks.
    avg_ticks: f64,
    realized: f64,
    fees: f64,
    quote: Top,
    last_trade: LastTrade,
    last_bar: Option<Bar>,
    /// Inside a snapshot (between its begin and end events).
    in_snapshot: bool,
    /// A snapshot has built the venue's book: deltas before the first one would make a
    /// partial book (only the levels that changed), so they are not applied.
    book_ready: bool,
    outbox: Vec<Request>,
    /// Reports made by the venue, not yet received (ascending `ts_recv_ns`, then made).
    inbox: Vec<ExecReport>,
    scratch: Vec<ExecReport>,
    working: HashMap<u64, usize>,
    order_log: Vec<OrderRecord>,
    /// Every fill received, in order (the session's trade record).
    fills: Vec<ExecReport>,
    reject_counts: HashMap<u16, u64>,
    counters: PaperCounters,
}

fn bad(field: &'static str, value: f64, rule: &'static str) -> BacktestError {
    BacktestError::OutOfRange { field, value, rule }
}

impl PaperSim {
    pub fn new(
        cfg: PaperConfig,
        venue: SimConfig,
        risk: Option<RiskEngine>,
    ) -> Result<PaperSim, BacktestError> {
        for (f, v) in [
            ("init_cash", cfg.init_cash),
            ("tick_size", cfg.tick_size),
            ("lot_size", cfg.lot_size),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(bad(f, v, "finite and > 0"));
            }
        }
        if let Some(r) = &risk {
            if (r.instrument_count() as u64) <= venue.instrument as u64 {
                return Err(bad(
                    "risk instruments",
                    r.instrument_count() as f64,
                    "the risk engine knows the traded instrument",
                ));
            }
        }
        let instrument = venue.instrument;
        let bars = match cfg.bar_every_ns {
            None => None,
            Some(every_ns) => Some(
                BarBuilder::new(
                    BarSpec::Time {
                        every_ns,
                        offset_ns: 0,
                    },
                    instrument,
                    0,
                )
                .map_err(|_| bad("bar interval", every_ns as f64, "> 0"))?,
            ),
        };
        Ok(PaperSim {
            cfg,
            signals: SignalSet::new(),
            instrument,
            sim: MarketSim::new(venue),
            risk,
            bars,
            now_ns: 0,
            next_id: 0,
            cash: cfg.init_cash,
            position_lots: 0,
            avg_ticks: 0.0,
            realized: 0.0,
            fees: 0.0,
            quote: Top::default(),
            last_trade: LastTrade::default(),
            last_bar: None,
            in_snapshot: false,
            book_ready: false,
            outbox: Vec::with_capacity(16),
            inbox: Vec::with_capacity(64),
            scratch: Vec::with_capacity(64),
            working: HashMap::new(),
            order_log: Vec::new(),
            fills: Vec::new(),
            reject_counts: HashMap::new(),
            counters: PaperCounters::default(),
        })
    }

    pub fn config(&self) -> &PaperConfig {
        &self.cfg
    }
    pub fn instrument(&self) -> u32 {
        self.instrument
    }
    /// Session clock: the exchange time of the latest book or trade event.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }
    pub fn cash(&self) -> f64 {
        self.cash
    }
    pub fn position_lots(&self) -> i64 {
        self.position_lots
    }
    /// Average cost of the open position in ticks (0 when flat).
    pub fn avg_price_ticks(&self) -> f64 {
        self.avg_ticks
    }
    pub fn realized_pnl(&self) -> f64 {
        self.realized
    }
    pub fn fees(&self) -> f64 {
        self.fees
    }
    pub fn counters(&self) -> PaperCounters {
        self.counters
    }
    pub fn risk(&self) -> Option<&RiskEngine> {
        self.risk.as_ref()
    }
    /// Rejected orders per reason code ([`SimReport::reason_code`]).
    pub fn reject_counts(&self) -> &HashMap<u16, u64> {
        &self.reject_counts
    }
    /// Every order sent, in submission order.
    pub fn order_log(&self) -> &[OrderRecord] {
        &self.order_log
    }
    /// Every fill the strategy received, in order. Other reports are counted
    /// ([`reject_counts`](Self::reject_counts), [`counters`](Self::counters)) and go to the
    /// strategy, but are not kept: a live session runs for days.
    pub fn fills(&self) -> &[ExecReport] {
        &self.fills
    }
    /// The latest bookTicker-style quote (strategy's `on_quote`).
    pub fn quote(&self) -> Top {
        self.quote
    }
    pub fn last_trade(&self) -> LastTrade {
        self.last_trade
    }
    /// The bar closed by the latest event (strategy's `on_bar`).
    pub fn last_bar(&self) -> Option<Bar> {
        self.last_bar
    }
    /// The top of the venue's book: what orders trade against now.
    pub fn top(&self) -> Top {
        let b = self.sim.book();
        let (bid, ask) = (b.best_bid(), b.best_ask());
        Top {
            ts_ns: self.now_ns,
            bid_ticks: bid.map_or(0, |l| l.price_ticks),
            bid_lots: bid.map_or(0, |l| l.qty_lots),
            ask_ticks: ask.map_or(0, |l| l.price_ticks),
            ask_lots: ask.map_or(0, |l| l.qty_lots),
        }
    }
    /// The price positions are valued at, in ticks: the venue book's mid, else the last
    /// trade (0 before either).
    pub fn mark_ticks(&self) -> f64 {
        match self.sim.book().mid_ticks() {
            Some(m) => m,
            None => self.last_trade.price_ticks as f64,
        }
    }
    pub fn unrealized_pnl(&self) -> f64 {
        if self.position_lots == 0 {
            return 0.0;
        }
        (self.mark_ticks() - self.avg_ticks)
            * self.cfg.tick_size
            * self.position_lots as f64
            * self.cfg.lot_size
    }
    /// Cash plus the position at the mark.
    pub fn equity(&self) -> f64 {
        self.cash
            + self.position_lots as f64 * self.cfg.lot_size * self.mark_ticks() * self.cfg.tick_size
    }
    /// Our working orders at the venue, oldest first.
    pub fn open_orders(&self) -> Vec<OrderView> {
        let mut v: Vec<(usize, OrderView)> = self
            .sim
            .working()
            .filter_map(|o| self.working.get(&o.client_order_id).map(|&i| (i, *o)))
            .collect();
        v.sort_unstable_by_key(|(i, _)| *i);
        v.into_iter().map(|(_, o)| o).collect()
    }
    /// Lots ahead of a working order at its price (the queue model's estimate).
    pub fn queue_ahead(&self, client_order_id: u64) -> Option<f64> {
        self.sim.queue_ahead(client_order_id)
    }
    /// The lots cash buys at the venue's best ask, at the taker fee `taker_fee`, floored.
    pub fn max_buy_lots(&self, taker_fee: f64) -> i64 {
        let ask = self.top().ask_ticks as f64 * self.cfg.tick_size;
        all_in_lots(self.cash, taker_fee, ask, self.cfg.lot_size)
    }

    /// Queues an order (sent by [`process`](Self::process)); returns its client id.
    pub fn submit(
        &mut self,
        side: Side,
        order_type: OrderType,
        price_ticks: i64,
        qty_lots: i64,
        tif: TimeInForce,
    ) -> u64 {
        self.next_id += 1;
        let mut req = OrderRequest::limit(
            self.instrument,
            0,
            side,
            price_ticks,
            qty_lots,
            self.next_id,
        );
        req.order_type = order_type;
        self.outbox.push(Request::Submit(req, tif));
        self.next_id
    }

    pub fn cancel(&mut self, client_order_id: u64) {
        self.outbox.push(Request::Cancel(client_order_id));
    }

    pub fn replace(&mut self, client_order_id: u64, price_ticks: i64, qty_lots: i64) {
        self.outbox
            .push(Request::Replace(client_order_id, price_ticks, qty_lots));
    }

    pub fn has_requests(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// The kill switch: the risk engine halts trading (only a reset brings it back) and
    /// every working order gets a cancel, sent with the next requests. Returns the
    /// number of cancels queued; `None` without a risk engine (nothing would refuse the
    /// orders sent after it).
    pub fn kill_switch(&mut self) -> Option<usize> {
        let now = self.now_ns;
        let open = self.open_orders();
        let ids = halt_and_list(self.risk.as_mut(), now, &open)?;
        self.outbox.extend(ids.map(Request::Cancel));
        Some(open.len())
    }

    /// The risk engine's way back to ACTIVE (see [`RiskEngine::reset`]); `None` without one.
    pub fn reset_risk(&mut self, rebase_peak: bool) -> Option<Result<(), ResetRefused>> {
        let now = self.now_ns;
        self.risk.as_mut().map(|r| r.reset(now, rebase_peak))
    }

    /// Drains the risk engine's trading-state changes as bus events (empty without one).
    pub fn take_risk_events(&mut self) -> Vec<Event> {
        self.risk
            .as_mut()
            .map_or_else(Vec::new, RiskEngine::take_events)
    }

    /// Evaluates `engine` on every trade of the instrument from now on.
    pub fn add_signal(&mut self, engine: SignalEngine) -> Result<(), SignalError> {
        self.signals.add(engine)
    }

    /// The signal runs the latest event fired (see [`SignalEngine::on_trade`] for a run).
    pub fn signals_fired(&self) -> &[crate::model::Event] {
        self.signals.fired()
    }

    /// Applies one market event; appends the reports the strategy receives now to `out`
    /// and returns the callbacks due (call them after dispatching `out`).
    pub fn on_event(&mut self, e: &Event, out: &mut Vec<SimReport>) -> Due {
        if e.instrument != self.instrument {
            return 0;
        }
        let Some(kind) = EventKind::from_u8(e.kind) else {
            return 0;
        };
        self.counters.events += 1;
        if !self.signals.fired().is_empty() {
            // Runs belong to the event that fired them.
            self.signals.clear_fired();
        }
        let mut due = 0;
        match kind {
            EventKind::Quote => {
                if e.side == Side::Buy as u8 {
                    self.quote.bid_ticks = e.price_ticks;
                    self.quote.bid_lots = e.qty_lots;
                } else if e.side == Side::Sell as u8 {
                    self.quote.ask_ticks = e.price_ticks;
                    self.quote.ask_lots = e.qty_lots;
                }
                self.quote.ts_ns = e.ts_event_ns;
                if e.flags & flags::LAST_IN_BATCH != 0 {
                    self.counters.quotes += 1;
                    due |= due::QUOTE;
                }
                // Quotes do not move the venue clock; reports already due are delivered.
                self.deliver(out);
                return due;
            }
            EventKind::BookDelta | EventKind::BookSnapshotBegin | EventKind::BookSnapshotEnd => {
                self.advance_clock(e.ts_event_ns);
                if kind == EventKind::BookSnapshotBegin {
                    self.in_snapshot = true;
                }
                if !(self.book_ready || self.in_snapshot) {
                    self.counters.deltas_before_book += 1;
                    self.deliver(out);
                    return 0;
                }
                self.feed_venue(e);
                let message_done = match kind {
                    EventKind::BookSnapshotEnd => {
                        self.in_snapshot = false;
                        self.book_ready = true;
                        true
                    }
                    EventKind::BookDelta => {
                        !self.in_snapshot && e.flags & flags::LAST_IN_BATCH != 0
                    }
                    _ => false,
                };
                if message_done {
                    self.counters.book_updates += 1;
                    due |= due::BOOK;
                }
            }
            EventKind::Trade => {
                self.advance_clock(e.ts_event_ns);
                self.feed_venue(e);
                self.counters.trades += 1;
                self.last_trade = LastTrade {
                    ts_ns: e.ts_event_ns,
                    price_ticks: e.price_ticks,
                    qty_lots: e.qty_lots,
                    side: e.side,
                    trade_id: e.id,
                };
                if let Some(risk) = self.risk.as_mut() {
                    if risk
                        .on_reference_price(self.instrument, e.price_ticks, e.ts_event_ns)
                        .is_err()
                    {
                        self.counters.risk_errors += 1;
                    }
                }
                due |= due::TRADE;
                if let Some(b) = self.bars.as_mut() {
                    if let Some(bar) = b.update(e.ts_event_ns, e.price_ticks, e.qty_lots) {
                        self.last_bar = Some(bar);
                        self.counters.bars += 1;
                        due |= due::BAR;
                    }
                }
                if !self.signals.is_empty()
                    && self.signals.on_trade(
                        self.instrument,
                        e.venue,
                        e.ts_event_ns,
                        e.price_ticks,
                        e.qty_lots,
                    )
                {
                    self.counters.signals = self.signals.fired_count();
                    due |= due::SIGNAL;
                }
            }
            _ => return 0,
        }
        self.deliver(out);
        due
    }

    fn advance_clock(&mut self, ts_ns: u64) {
        self.now_ns = self.now_ns.max(ts_ns);
        if let Some(risk) = self.risk.as_mut() {
            risk.on_clock(self.now_ns);
        }
    }

    fn feed_venue(&mut self, e: &Event) {
        let mut made = std::mem::take(&mut self.scratch);
        made.clear();
        self.sim.on_market_event(e, &mut made);
        self.post(&made);
        self.scratch = made;
    }

    /// Queues reports made by the venue for delivery at their receive time.
    fn post(&mut self, made: &[ExecReport]) {
        for r in made {
            let at = self.inbox.partition_point(|q| q.ts_recv_ns <= r.ts_recv_ns);
            self.inbox.insert(at, *r);
        }
    }

    /// Delivers the reports received by now: to the account, the order log, the risk
    /// engine and `out`.
    fn deliver(&mut self, out: &mut Vec<SimReport>) {
        let n = self.inbox.partition_point(|r| r.ts_recv_ns <= self.now_ns);
        for k in 0..n {
            let r = self.inbox[k];
            self.receive(&r, out);
        }
        self.inbox.drain(..n);
    }

    /// Sends the queued requests at the clock's time and delivers what comes back by now.
    pub fn process(&mut self, out: &mut Vec<SimReport>) {
        let now = self.now_ns;
        let requests = std::mem::take(&mut self.outbox);
        for req in &requests {
            match *req {
                Request::Submit(mut o, tif) => {
                    o.ts_ns = now;
                    self.counters.orders += 1;
                    self.record_new(&o, tif);
                    if let Some(risk) = self.risk.as_mut() {
                        if let Err(reason) = risk.submit(&o, now) {
                            self.risk_reject(&o, reason, out);
                            continue;
                        }
                    }
                    self.sim.submit(&o, tif, now);
                }
                Request::Cancel(id) => {
                    self.sim.cancel(id, now);
                }
                Request::Replace(id, px, q) => {
                    let at_venue = self
                        .sim
                        .working()
                        .find(|o| o.client_order_id == id)
                        .copied();
                    if let Some(r) = replace_refusal(self.risk.as_mut(), id, at_venue, px, q, now) {
                        self.book_report(r, out);
                        continue;
                    }
                    self.sim.replace(id, px, q, now);
                }
            }
        }
        let mut requests = requests;
        requests.clear();
        requests.append(&mut self.outbox);
        self.outbox = requests;
        let mut made = std::mem::take(&mut self.scratch);
        made.clear();
        self.sim.advance_to(now, &mut made);
        self.post(&made);
        self.scratch = made;
        self.deliver(out);
    }

    fn record_new(&mut self, o: &OrderRequest, tif: TimeInForce) {
        self.working.insert(o.client_order_id, self.order_log.len());
        self.order_log
            .push(OrderRecord::opened(o, tif, self.counters.events as usize));
    }

    fn risk_reject(&mut self, o: &OrderRequest, reason: RejectReason, out: &mut Vec<SimReport>) {
        self.book_report(SimReport::risk_refusal(o, reason), out);
    }

    fn receive(&mut self, r: &ExecReport, out: &mut Vec<SimReport>) {
        if r.is_fill() {
            self.apply_fill(r);
        }
        if let Some(risk) = self.risk.as_mut() {
            if !sync_risk(risk, r) {
                self.counters.risk_errors += 1;
            }
        }
        self.book_report(
            SimReport {
                report: *r,
                risk: None,
            },
            out,
        );
    }

    fn apply_fill(&mut self, r: &ExecReport) {
        let (tick, lot) = (self.cfg.tick_size, self.cfg.lot_size);
        let qty = r.last_qty_lots;
        let px = r.price_ticks as f64;
        let notional = px * tick * qty as f64 * lot;
        let signed = if r.side == Side::Buy { qty } else { -qty };
        if r.side == Side::Buy {
            self.cash -= notional + r.fee_quote;
        } else {
            self.cash += notional - r.fee_quote;
        }
        self.fees += r.fee_quote;
        let pos = self.position_lots;
        if pos == 0 || (pos > 0) == (signed > 0) {
            let held = pos.unsigned_abs() as f64;
            self.avg_ticks = (self.avg_ticks * held + px * qty as f64) / (held + qty as f64);
        } else {
            let closing = pos.unsigned_abs().min(qty as u64) as f64;
            let dir = if pos > 0 { 1.0 } else { -1.0 };
            self.realized += (px - self.avg_ticks) * tick * closing * lot * dir;
            if qty as u64 > pos.unsigned_abs() {
                // Flipped: the new position's cost is this fill's price.
                self.avg_ticks = px;
            }
        }
        self.position_lots = pos + signed;
        if self.position_lots == 0 {
            self.avg_ticks = 0.0;
        }
        self.counters.fills += 1;
    }

    fn book_report(&mut self, s: SimReport, out: &mut Vec<SimReport>) {
        let r = &s.report;
        match r.kind {
            ExecKind::Rejected => {
                self.counters.rejects += 1;
                *self.reject_counts.entry(s.reason_code()).or_insert(0) += 1;
            }
            ExecKind::Cancelled => self.counters.cancels += 1,
            _ => {}
        }
        if let Some(&i) = self.working.get(&r.client_order_id) {
            if self.order_log[i].apply(&s, self.counters.events as usize) {
                self.working.remove(&r.client_order_id);
            }
        }
        if r.is_fill() {
            self.fills.push(*r);
        }
        out.push(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::{InstrumentSpec, RiskLimits};
    use crate::venue::{FeeSchedule, LatencyModel, Liquidity, QueueModel, VenueInstrument};

    const TICK: f64 = 0.5;
    const LOT: f64 = 0.01;

    fn venue(order_ns: u64, response_ns: u64) -> SimConfig {
        SimConfig {
            instrument: 0,
            spec: VenueInstrument {
                quote_per_tick_lot: TICK * LOT,
                fees: FeeSchedule {
                    maker_bps: 1.0,
                    taker_bps: 5.0,
                },
            },
            queue: QueueModel::RiskAverse,
            latency: LatencyModel::Constant {
                order_ns,
                response_ns,
                market_data_ns: 0,
            },
        }
    }

    fn cfg() -> PaperConfig {
        PaperConfig {
            init_cash: 10_000.0,
            tick_size: TICK,
            lot_size: LOT,
            bar_every_ns: Some(1_000),
        }
    }

    fn ev(kind: EventKind, ts: u64, side: Side, px: i64, qty: i64, fl: u8) -> Event {
        Event {
            ts_event_ns: ts,
            ts_recv_ns: ts,
            price_ticks: px,
            qty_lots: qty,
            kind: kind as u8,
            side: side as u8,
            flags: fl,
            ..Event::default()
        }
    }

    #[test]
    fn deltas_before_the_first_snapshot_do_not_build_a_partial_book() {
        let mut p = PaperSim::new(cfg(), venue(0, 0), None).unwrap();
        let mut out = Vec::new();
        let due = p.on_event(
            &ev(EventKind::BookDelta, 50, Side::Buy, 190, 4, 1),
            &mut out,
        );
        assert_eq!((due, p.top().bid_ticks), (0, 0));
        assert_eq!(p.counters().deltas_before_book, 1);
        snapshot(&mut p, 100, &mut out);
        assert_eq!((p.top().bid_ticks, p.top().ask_ticks), (200, 202));
        let due = p.on_event(
            &ev(EventKind::BookDelta, 150, Side::Buy, 201, 4, 1),
            &mut out,
        );
        assert_eq!((due, p.top().bid_ticks), (due::BOOK, 201));
    }

    /// Book 200 x 5 lots / 202 x 7 lots, as a snapshot at `ts`.
    fn snapshot(p: &mut PaperSim, ts: u64, out: &mut Vec<SimReport>) {
        let s = flags::SNAPSHOT;
        for e in [
            ev(EventKind::BookSnapshotBegin, ts, Side::None, 0, 0, s),
            ev(EventKind::BookDelta, ts, Side::Buy, 200, 5, s),
            ev(EventKind::BookDelta, ts, Side::Sell, 202, 7, s),
            ev(
                EventKind::BookSnapshotEnd,
                ts,
                Side::None,
                0,
                0,
                s | flags::LAST_IN_BATCH,
            ),
        ] {
            p.on_event(&e, out);
        }
    }

    fn pnl_identity_holds(p: &PaperSim) {
        let lhs = p.equity() - p.config().init_cash;
        let rhs = p.realized_pnl() + p.unrealized_pnl() - p.fees();
        assert!((lhs - rhs).abs() < 1e-9, "{lhs} vs {rhs}");
    }

    #[test]
    fn a_resting_bid_fills_only_once_trades_at_its_price_pass_the_queue_ahead() {
        let mut p = PaperSim::new(cfg(), venue(0, 0), None).unwrap();
        let mut out = Vec::new();
        snapshot(&mut p, 100, &mut out);
        assert_eq!(p.top().bid_ticks, 200);
        let id = p.submit(Side::Buy, OrderType::Limit, 200, 3, TimeInForce::PostOnly);
        p.process(&mut out);
        assert_eq!(out.last().unwrap().report.kind, ExecKind::New);
        assert_eq!(p.queue_ahead(id), Some(5.0));
        out.clear();
        // 4 lots sold at 200: still 1 lot ahead of us.
        let due = p.on_event(&ev(EventKind::Trade, 200, Side::Sell, 200, 4, 1), &mut out);
        assert!(out.is_empty());
        assert_eq!(due & due::TRADE, due::TRADE);
        // 3 more: 1 to the queue, 2 to us.
        p.on_event(&ev(EventKind::Trade, 300, Side::Sell, 200, 3, 1), &mut out);
        assert_eq!(out.len(), 1);
        let f = out[0].report;
        assert_eq!(
            (f.kind, f.price_ticks, f.last_qty_lots, f.liquidity),
            (ExecKind::PartiallyFilled, 200, 2, Liquidity::Maker)
        );
        assert_eq!(p.position_lots(), 2);
        // 2 lots x 0.01 x 100.0 = 2.0 quote, maker fee 1 bp = 0.0002.
        assert!((p.cash() - (10_000.0 - 2.0 - 0.0002)).abs() < 1e-9);
        assert_eq!(p.avg_price_ticks(), 200.0);
        pnl_identity_holds(&p);
        // A sell through our price fills the rest.
        out.clear();
        p.on_event(&ev(EventKind::Trade, 400, Side::Sell, 199, 1, 1), &mut out);
        assert_eq!(out[0].report.kind, ExecKind::Filled);
        assert_eq!(out[0].report.last_qty_lots, 1);
        assert_eq!(p.position_lots(), 3);
        assert!(p.open_orders().is_empty());
        // Sell 3 at the bid (taker): realized (200 - 200) x 3 = 0, fees 5 bp.
        out.clear();
        p.submit(Side::Sell, OrderType::Market, 0, 3, TimeInForce::Ioc);
        p.process(&mut out);
        assert_eq!(p.position_lots(), 0);
        assert!(p.realized_pnl().abs() < 1e-12);
        pnl_identity_holds(&p);
        assert_eq!(p.counters().fills, 3);
        let rec = p.order_log()[0];
        assert_eq!((rec.status, rec.filled_lots), (ExecKind::Filled, 3));
    }

    #[test]
    fn realized_pnl_is_by_average_cost_and_survives_a_flip() {
        let mut p = PaperSim::new(cfg(), venue(0, 0), None).unwrap();
        let mut out = Vec::new();
        snapshot(&mut p, 100, &mut out);
        // Buy 4 at the ask (202).
        p.submit(Side::Buy, OrderType::Market, 0, 4, TimeInForce::Ioc);
        p.process(&mut out);
        assert_eq!((p.position_lots(), p.avg_price_ticks()), (4, 202.0));
        // The market moves up: bid 210.
        p.on_event(
            &ev(EventKind::BookDelta, 200, Side::Sell, 212, 9, 0),
            &mut out,
        );
        p.on_event(
            &ev(EventKind::BookDelta, 200, Side::Buy, 210, 9, 1),
            &mut out,
        );
        pnl_identity_holds(&p);
        // Sell 6 at 210: 4 close (+8 ticks each), 2 open short at 210.
        p.submit(Side::Sell, OrderType::Market, 0, 6, TimeInForce::Ioc);
        p.process(&mut out);
        assert_eq!((p.position_lots(), p.avg_price_ticks()), (-2, 210.0));
        // 8 ticks x 0.5 x 4 lots x 0.01 = 0.16.
        assert!((p.realized_pnl() - 0.16).abs() < 1e-12);
        pnl_identity_holds(&p);
    }

    #[test]
    fn latency_delays_the_order_and_its_report() {
        let mut p = PaperSim::new(cfg(), venue(50, 30), None).unwrap();
        let mut out = Vec::new();
        snapshot(&mut p, 100, &mut out);
        p.submit(Side::Buy, OrderType::Market, 0, 1, TimeInForce::Ioc);
        p.process(&mut out);
        assert!(out.is_empty(), "still on its way to the venue");
        // The ask moves to 204 at 120; the order arrives at 150 and pays 204.
        p.on_event(
            &ev(EventKind::BookDelta, 120, Side::Sell, 202, 0, 0),
            &mut out,
        );
        p.on_event(
            &ev(EventKind::BookDelta, 120, Side::Sell, 204, 3, 1),
            &mut out,
        );
        p.on_event(&ev(EventKind::Trade, 160, Side::Buy, 204, 1, 1), &mut out);
        assert!(out.is_empty(), "made at 150, received at 180");
        assert_eq!(p.position_lots(), 0);
        p.on_event(&ev(EventKind::Trade, 180, Side::Buy, 204, 1, 1), &mut out);
        let fill = out.iter().find(|r| r.report.is_fill()).unwrap().report;
        assert_eq!(
            (fill.price_ticks, fill.ts_event_ns, fill.ts_recv_ns),
            (204, 150, 180)
        );
        assert_eq!(p.position_lots(), 1);
    }

    #[test]
    fn a_risk_refusal_is_a_rejected_report_with_the_reason() {
        let mut limits = RiskLimits::permissive(1, 1_000);
        limits.instruments[0].max_qty_lots = 2;
        let spec = InstrumentSpec::new(0, TICK * LOT).unwrap();
        let risk = RiskEngine::new(vec![spec], limits, 10_000.0).unwrap();
        let mut p = PaperSim::new(cfg(), venue(0, 0), Some(risk)).unwrap();
        let mut out = Vec::new();
        snapshot(&mut p, 100, &mut out);
        p.on_event(&ev(EventKind::Trade, 110, Side::Buy, 202, 1, 1), &mut out);
        let big = p.submit(Side::Buy, OrderType::Market, 0, 3, TimeInForce::Ioc);
        p.process(&mut out);
        let r = out[0];
        assert_eq!(
            (r.report.client_order_id, r.report.kind),
            (big, ExecKind::Rejected)
        );
        assert_eq!(r.risk, Some(RejectReason::QtyAboveMax));
        assert_eq!(p.reject_counts()[&RejectReason::QtyAboveMax.code()], 1);
        assert_eq!(p.counters().risk_errors, 0);
        assert_eq!(
            p.order_log()[0].reason_code,
            RejectReason::QtyAboveMax.code()
        );
    }

    #[test]
    fn trades_close_time_bars() {
        let mut p = PaperSim::new(cfg(), venue(0, 0), None).unwrap();
        let mut out = Vec::new();
        let mut bars = 0;
        for (ts, px) in [
            (10, 200),
            (500, 204),
            (999, 201),
            (1_000, 205),
            (2_500, 206),
        ] {
            let due = p.on_event(&ev(EventKind::Trade, ts, Side::Buy, px, 1, 1), &mut out);
            if due & due::BAR != 0 {
                bars += 1;
            }
        }
        assert_eq!(bars, 2);
        let b = p.last_bar().unwrap();
        assert_eq!(
            (b.ts_open_ns, b.open_ticks, b.close_ticks),
            (1_000, 205, 205)
        );
    }

    #[test]
    fn a_trade_that_fires_a_signal_says_so_and_the_next_event_forgets_it() {
        use crate::signal::{Fusion, Op, Operand, Rule, Series, SignalSpec, Source};
        let mut p = PaperSim::new(cfg(), venue(0, 0), None).unwrap();
        let spec = SignalSpec {
            signal_id: 4,
            rules: vec![Rule {
                left: Series {
                    source: Source::Close,
                    timeframe_ns: 1_000,
                },
                op: Op::Gt,
                right: Operand::Value(100.0),
                weight: 1.0,
            }],
            fusion: Fusion::All,
            side: Side::Sell,
            price_scale: TICK,
        };
        p.add_signal(SignalEngine::new(spec.clone()).unwrap())
            .unwrap();
        assert_eq!(
            p.add_signal(SignalEngine::new(spec).unwrap()),
            Err(SignalError::DuplicateId(4))
        );
        let mut out = vec![];
        // 202 ticks of 0.5 = 101 > 100: the window [0, 1000) closes with the next trade.
        let d = p.on_event(&ev(EventKind::Trade, 10, Side::Buy, 202, 1, 0), &mut out);
        assert_eq!(d & due::SIGNAL, 0);
        let d = p.on_event(&ev(EventKind::Trade, 1_500, Side::Buy, 190, 1, 0), &mut out);
        assert_eq!(d & (due::SIGNAL | due::TRADE), due::SIGNAL | due::TRADE);
        let fired = p.signals_fired();
        assert_eq!(fired.len(), 2);
        assert_eq!((fired[1].seq, fired[1].ts_event_ns), (4, 1_000));
        assert_eq!(fired[1].price_ticks, 190);
        assert_eq!(f64::from_bits(fired[0].id), 101.0);
        let d = p.on_event(&ev(EventKind::Trade, 1_600, Side::Buy, 190, 1, 0), &mut out);
        assert_eq!(d & due::SIGNAL, 0);
        assert!(p.signals_fired().is_empty());
        assert_eq!(p.counters().signals, 1);
    }
}
