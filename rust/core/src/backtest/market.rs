//! The event-driven backtest over market data (L2 book deltas and trades): a
//! [`MarketStrategy`] sees each event after the market-data latency, sends orders that
//! reach the venue ([`MarketSim`]) after the order latency, and sees its reports after the
//! response latency. One deterministic loop on a single timeline:
//!
//! * the venue applies market event `e` at `e.ts_event_ns` (after our actions due by then);
//! * the strategy receives `e` at `e.ts_event_ns + market-data delay` and each report at
//!   its `ts_recv_ns`, in time order (ties: the earlier scheduled first); strategy time
//!   never goes backwards, so a report whose receive time has already passed is delivered
//!   at once;
//! * what the strategy does in a callback is sent at the callback's time.
//!
//! The strategy keeps its own copy of the book, built only from the events it has
//! received, so it never sees the venue's present.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::book::OrderBook;
use crate::model::{Event, OrderRequest, OrderType, Side, TimeInForce};
use crate::venue::{ExecReport, MarketSim};

/// A strategy driven by market events.
pub trait MarketStrategy {
    /// A market event as the strategy receives it (its book already includes it).
    fn on_market(&mut self, ctx: &mut MarketContext<'_>, event: &Event);
    /// An execution report of one of the strategy's orders.
    fn on_report(&mut self, _ctx: &mut MarketContext<'_>, _report: &ExecReport) {}
}

/// What a strategy may do from a callback.
pub struct MarketContext<'a> {
    now_ns: u64,
    instrument: u32,
    position_lots: i64,
    sim: &'a mut MarketSim,
    book: &'a OrderBook,
    next_id: &'a mut u64,
}

impl MarketContext<'_> {
    /// Strategy time of the callback.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }
    /// Position from the fills received so far.
    pub fn position_lots(&self) -> i64 {
        self.position_lots
    }
    /// The book as the strategy has seen it (delayed by the market-data latency).
    pub fn book(&self) -> &OrderBook {
        self.book
    }

    /// Sends an order now; returns its client id.
    pub fn submit(
        &mut self,
        side: Side,
        order_type: OrderType,
        price_ticks: i64,
        qty_lots: i64,
        tif: TimeInForce,
    ) -> u64 {
        *self.next_id += 1;
        let mut o = OrderRequest::limit(
            self.instrument,
            0,
            side,
            price_ticks,
            qty_lots,
            *self.next_id,
        );
        o.order_type = order_type;
        o.ts_ns = self.now_ns;
        self.sim.submit(&o, tif, self.now_ns);
        *self.next_id
    }

    /// Sends a cancel now.
    pub fn cancel(&mut self, client_order_id: u64) {
        self.sim.cancel(client_order_id, self.now_ns);
    }

    /// Sends a replace (new price, new remaining quantity) now.
    pub fn replace(&mut self, client_order_id: u64, price_ticks: i64, leaves_lots: i64) {
        self.sim
            .replace(client_order_id, price_ticks, leaves_lots, self.now_ns);
    }
}

/// The output of a market-data backtest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MarketResult {
    /// Reports in the order the strategy received them.
    pub reports: Vec<ExecReport>,
    /// When the strategy received each report.
    pub received_ns: Vec<u64>,
    /// Position from the fills the strategy received.
    pub position_lots: i64,
    /// Fees of those fills in quote currency (negative for net rebates).
    pub fees_quote: f64,
    /// Market events delivered to the strategy.
    pub events_delivered: usize,
}

enum Delivery {
    Market(usize),
    Report(ExecReport),
}

/// The loop's state: the delivery queues (time, sequence, slot) and what they point to.
///
/// Market events reach the strategy in time order whenever the market-data delay does
/// not shrink from one event to the next (always, with a constant latency), so they wait
/// in a FIFO; only reports, and market events a random delay would reorder, go through
/// the heap. Deliveries leave in (time, sequence) order across both.
struct Runner<'e> {
    events: &'e [Event],
    instrument: u32,
    book: OrderBook,
    /// (time, sequence, event index), non-decreasing in time.
    market: VecDeque<(u64, u64, usize)>,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    items: Vec<Option<Delivery>>,
    free: Vec<usize>,
    seq: u64,
    out: Vec<ExecReport>,
    next_id: u64,
    now: u64,
    res: MarketResult,
}

/// Where the next delivery waits.
enum Next {
    Market,
    Heap,
}

impl Runner<'_> {
    fn schedule(&mut self, at: u64, d: Delivery) {
        self.seq += 1;
        if let Delivery::Market(i) = d {
            if self.market.back().is_none_or(|&(last, _, _)| last <= at) {
                self.market.push_back((at, self.seq, i));
                return;
            }
        }
        // Slots are reused so a long replay does not grow the vector without bound.
        let slot = match self.free.pop() {
            Some(s) => {
                self.items[s] = Some(d);
                s
            }
            None => {
                self.items.push(Some(d));
                self.items.len() - 1
            }
        };
        self.queue.push(Reverse((at, self.seq, slot)));
    }

    /// The earliest waiting delivery: its time and queue.
    #[inline]
    fn peek(&self) -> Option<(u64, Next)> {
        let m = self.market.front().map(|&(at, seq, _)| (at, seq));
        let h = self.queue.peek().map(|&Reverse((at, seq, _))| (at, seq));
        match (m, h) {
            (Some(m), Some(h)) if h < m => Some((h.0, Next::Heap)),
            (Some(m), _) => Some((m.0, Next::Market)),
            (None, Some(h)) => Some((h.0, Next::Heap)),
            (None, None) => None,
        }
    }

    fn schedule_reports(&mut self) {
        for k in 0..self.out.len() {
            let r = self.out[k];
            self.schedule(r.ts_recv_ns, Delivery::Report(r));
        }
        self.out.clear();
    }

    /// Delivers everything due by `until` (everything when `None`).
    fn drain<S: MarketStrategy>(
        &mut self,
        until: Option<u64>,
        sim: &mut MarketSim,
        strategy: &mut S,
    ) {
        while let Some((at, _)) = self.peek() {
            if until.is_some_and(|u| at > u) {
                break;
            }
            // The venue catches up to the delivery time first: reports it makes on the
            // way are scheduled and may come before this delivery.
            sim.advance_to(at, &mut self.out);
            self.schedule_reports();
            let (at, item) = match self.peek() {
                Some((_, Next::Market)) => match self.market.pop_front() {
                    Some((at, _, i)) => (at, Some(Delivery::Market(i))),
                    None => break,
                },
                Some((_, Next::Heap)) => match self.queue.pop() {
                    Some(Reverse((at, _, slot))) => {
                        self.free.push(slot);
                        (at, self.items[slot].take())
                    }
                    None => break,
                },
                None => break,
            };
            self.now = self.now.max(at);
            let Some(item) = item else {
                continue;
            };
            match item {
                Delivery::Market(i) => {
                    let e = &self.events[i];
                    self.res.events_delivered += 1;
                    self.book.apply_events(std::slice::from_ref(e));
                    let mut ctx = MarketContext {
                        now_ns: self.now,
                        instrument: self.instrument,
                        position_lots: self.res.position_lots,
                        sim,
                        book: &self.book,
                        next_id: &mut self.next_id,
                    };
                    strategy.on_market(&mut ctx, e);
                }
                Delivery::Report(r) => {
                    if r.is_fill() {
                        self.res.position_lots += if r.side == Side::Buy {
                            r.last_qty_lots
                        } else {
                            -r.last_qty_lots
                        };
                        self.res.fees_quote += r.fee_quote;
                    }
                    self.res.reports.push(r);
                    self.res.received_ns.push(self.now);
                    let mut ctx = MarketContext {
                        now_ns: self.now,
                        instrument: self.instrument,
                        position_lots: self.res.position_lots,
                        sim,
                        book: &self.book,
                        next_id: &mut self.next_id,
                    };
                    strategy.on_report(&mut ctx, &r);
                }
            }
        }
    }
}

/// Runs `strategy` over `events` (sorted by `ts_event_ns`) against `sim`. Actions the
/// strategy sends in its last callbacks still reach the venue; their reports are in the
/// result, received at their `ts_recv_ns`, without a callback.
pub fn run_market<S: MarketStrategy>(
    events: &[Event],
    sim: &mut MarketSim,
    instrument: u32,
    strategy: &mut S,
) -> MarketResult {
    let mut r = Runner {
        events,
        instrument,
        book: OrderBook::new(instrument),
        market: VecDeque::new(),
        queue: BinaryHeap::new(),
        items: Vec::new(),
        free: Vec::new(),
        seq: 0,
        out: Vec::with_capacity(64),
        next_id: 0,
        now: 0,
        res: MarketResult::default(),
    };
    for (i, e) in events.iter().enumerate() {
        let t = e.ts_event_ns;
        r.drain(Some(t), sim, strategy);
        sim.on_market_event(e, &mut r.out);
        r.schedule_reports();
        let at = t.saturating_add(sim.market_data_delay_ns());
        r.schedule(at, Delivery::Market(i));
    }
    r.drain(None, sim, strategy);
    sim.advance_to(u64::MAX, &mut r.out);
    for rep in r.out.drain(..) {
        r.res.reports.push(rep);
        r.res.received_ns.push(rep.ts_recv_ns.max(r.now));
    }
    r.res
}

/// A fixed quoting schedule, the strategy of the L2 replay benchmark (the same schedule
/// is written for hftbacktest in `benches/l2_vs_hftbacktest.py`): on a grid of
/// `interval_ns` of strategy time it cancels its working orders and quotes `qty_lots`
/// post-only at the best bid and the best ask of the book it has seen, leaving out the
/// side that would take the position past `max_position_lots`.
#[derive(Debug, Clone)]
pub struct QuoteTouch {
    interval_ns: u64,
    qty_lots: i64,
    max_position_lots: i64,
    next_ns: u64,
    /// Orders sent and not yet reported final, in sending order.
    working: Vec<u64>,
}

impl QuoteTouch {
    /// `interval_ns` must be positive (a zero interval is taken as 1 ns).
    pub fn new(interval_ns: u64, qty_lots: i64, max_position_lots: i64) -> QuoteTouch {
        QuoteTouch {
            interval_ns: interval_ns.max(1),
            qty_lots,
            max_position_lots,
            next_ns: 0,
            working: Vec::with_capacity(8),
        }
    }
}

impl MarketStrategy for QuoteTouch {
    fn on_market(&mut self, ctx: &mut MarketContext<'_>, _event: &Event) {
        let now = ctx.now_ns();
        if now < self.next_ns {
            return;
        }
        // The next point of the grid, as a fixed-step clock (hftbacktest's `elapse`) has.
        self.next_ns = (now / self.interval_ns + 1).saturating_mul(self.interval_ns);
        for id in self.working.drain(..) {
            ctx.cancel(id);
        }
        let pos = ctx.position_lots();
        let (bid, ask) = (ctx.book().best_bid(), ctx.book().best_ask());
        if let Some(b) = bid.filter(|_| pos + self.qty_lots <= self.max_position_lots) {
            let id = ctx.submit(
                Side::Buy,
                OrderType::Limit,
                b.price_ticks,
                self.qty_lots,
                TimeInForce::PostOnly,
            );
            self.working.push(id);
        }
        if let Some(a) = ask.filter(|_| pos - self.qty_lots >= -self.max_position_lots) {
            let id = ctx.submit(
                Side::Sell,
                OrderType::Limit,
                a.price_ticks,
                self.qty_lots,
                TimeInForce::PostOnly,
            );
            self.working.push(id);
        }
    }

    fn on_report(&mut self, _ctx: &mut MarketContext<'_>, report: &ExecReport) {
        if report.is_final() {
            self.working.retain(|&id| id != report.client_order_id);
        }
    }
}
