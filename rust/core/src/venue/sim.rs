//! Our orders against an external market: paper trading on live data and backtests on
//! recorded L2 books and trades. The external book is only observed; fills come from the
//! market data.
//!
//! Rules (one instrument per [`MarketSim`]):
//! * Orders, cancels and replaces reach the venue after the latency model's entry delay;
//!   reports are stamped with the venue time (`ts_event_ns`) and the time the strategy
//!   sees them (`ts_recv_ns`, plus the response delay). Actions and market events are
//!   processed in time order; an action due at the same time as a market event goes first.
//! * An arriving order that crosses the external book takes liquidity level by level at
//!   the book's prices, up to each level's quantity (taker fee). The external book is not
//!   depleted by our fills: our orders are assumed small against the market (the usual
//!   assumption of L2 simulators), so a second aggressive order sees the same levels until
//!   the next update.
//! * The rest of a limit GTC order rests with a queue position: the front is the whole
//!   external quantity at its price on arrival. Trades at our price consume the front,
//!   then fill us (maker fee); a trade *through* our price (a sell below our bid, a buy
//!   above our ask) fills our whole remainder at our price; an update that makes the
//!   opposite side cross our price fills it too (the market moved through us). Level
//!   changes at our price move the front by the [`QueueModel`].
//! * Post-only, IOC, FOK and market orders follow the native engine's rules
//!   ([`MatchingEngine`](super::MatchingEngine)); a cancel or replace that arrives after
//!   the order finished is rejected with `UnknownOrder` (the race real venues have).

use super::engine::{OrderView, VenueInstrument};
use super::latency::LatencyModel;
use super::queue::QueueModel;
use super::report::{ExecKind, ExecReport, Liquidity, VenueReason};
use crate::book::OrderBook;
use crate::model::{Event, EventKind, OrderRequest, OrderType, Side, TimeInForce};

/// Configuration of one simulated instrument.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub instrument: u32,
    pub spec: VenueInstrument,
    pub queue: QueueModel,
    pub latency: LatencyModel,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Submit(OrderRequest, TimeInForce),
    Cancel(u64),
    Replace(u64, i64, i64),
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    arrival_ns: u64,
    seq: u64,
    action: Action,
}

#[derive(Debug, Clone, Copy)]
struct Resting {
    view: OrderView,
    /// Lots ahead of us at our price.
    front: f64,
    /// Lots traded at our price since the level's last update (see `QueueModel`).
    traded: f64,
}

/// A simulated venue for our orders against external market data (see the module docs).
#[derive(Debug, Clone)]
pub struct MarketSim {
    config: SimConfig,
    book: OrderBook,
    resting: Vec<Resting>,
    pending: Vec<Pending>,
    action_seq: u64,
    report_seq: u64,
    trade_id: u64,
    now_ns: u64,
}

#[inline]
fn opposite(side: Side) -> Side {
    if side == Side::Buy {
        Side::Sell
    } else {
        Side::Buy
    }
}

impl MarketSim {
    pub fn new(config: SimConfig) -> MarketSim {
        let instrument = config.instrument;
        MarketSim {
            config,
            book: OrderBook::new(instrument),
            resting: Vec::with_capacity(64),
            pending: Vec::with_capacity(64),
            action_seq: 0,
            report_seq: 0,
            trade_id: 0,
            now_ns: 0,
        }
    }

    /// The external book as the venue sees it.
    pub fn book(&self) -> &OrderBook {
        &self.book
    }

    /// Our working orders at the venue.
    pub fn working(&self) -> impl Iterator<Item = &OrderView> + '_ {
        self.resting.iter().map(|r| &r.view)
    }

    /// Lots ahead of a working order at its price, per the queue model.
    pub fn queue_ahead(&self, client_order_id: u64) -> Option<f64> {
        self.resting
            .iter()
            .find(|r| r.view.client_order_id == client_order_id)
            .map(|r| r.front)
    }

    /// Delay before a market event reaches the strategy (drawn from the latency model).
    pub fn market_data_delay_ns(&mut self) -> u64 {
        self.config.latency.market_data_ns()
    }

    fn schedule(&mut self, ts_ns: u64, action: Action) -> u64 {
        let arrival_ns = ts_ns.saturating_add(self.config.latency.order_entry_ns());
        self.action_seq += 1;
        let p = Pending {
            arrival_ns,
            seq: self.action_seq,
            action,
        };
        // Sorted by (arrival, seq): random latencies may reorder actions, equal arrivals
        // keep the order they were sent in.
        let at = self
            .pending
            .partition_point(|q| (q.arrival_ns, q.seq) <= (p.arrival_ns, p.seq));
        self.pending.insert(at, p);
        arrival_ns
    }

    /// Sends an order at strategy time `ts_ns`; returns when it reaches the venue.
    pub fn submit(&mut self, req: &OrderRequest, tif: TimeInForce, ts_ns: u64) -> u64 {
        self.schedule(ts_ns, Action::Submit(*req, tif))
    }

    /// Sends a cancel at strategy time `ts_ns`.
    pub fn cancel(&mut self, client_order_id: u64, ts_ns: u64) -> u64 {
        self.schedule(ts_ns, Action::Cancel(client_order_id))
    }

    /// Sends a replace (new price, new remaining quantity) at strategy time `ts_ns`.
    pub fn replace(
        &mut self,
        client_order_id: u64,
        new_price_ticks: i64,
        new_leaves_lots: i64,
        ts_ns: u64,
    ) -> u64 {
        self.schedule(
            ts_ns,
            Action::Replace(client_order_id, new_price_ticks, new_leaves_lots),
        )
    }

    /// Processes every action that reaches the venue at or before `ts_ns`.
    pub fn advance_to(&mut self, ts_ns: u64, out: &mut Vec<ExecReport>) {
        let due = self.pending.partition_point(|p| p.arrival_ns <= ts_ns);
        if due == 0 {
            self.now_ns = self.now_ns.max(ts_ns);
            return;
        }
        // Drained in place: the vector keeps its capacity.
        for k in 0..due {
            let p = self.pending[k];
            self.now_ns = self.now_ns.max(p.arrival_ns);
            match p.action {
                Action::Submit(req, tif) => self.arrive(&req, tif, out),
                Action::Cancel(id) => self.arrive_cancel(id, out),
                Action::Replace(id, px, q) => self.arrive_replace(id, px, q, out),
            }
        }
        self.pending.drain(..due);
        self.now_ns = self.now_ns.max(ts_ns);
    }

    /// Applies one market event (at its exchange time), after the actions due by then.
    /// Events of other instruments are ignored.
    pub fn on_market_event(&mut self, e: &Event, out: &mut Vec<ExecReport>) {
        if e.instrument != self.config.instrument {
            return;
        }
        self.advance_to(e.ts_event_ns, out);
        let side = match e.side {
            1 => Side::Buy,
            2 => Side::Sell,
            _ => Side::None,
        };
        match EventKind::from_u8(e.kind) {
            Some(EventKind::BookSnapshotBegin) => self.book.clear(),
            // A snapshot's levels arrive one at a time: judge crossings on the whole book.
            Some(EventKind::BookSnapshotEnd) => self.fill_crossed(out),
            Some(EventKind::BookDelta)
                if e.flags & crate::model::flags::SNAPSHOT != 0
                    && side != Side::None
                    && e.qty_lots >= 0 =>
            {
                self.book.apply_delta(side, e.price_ticks, e.qty_lots);
            }
            Some(EventKind::BookDelta) if e.flags & crate::model::flags::SNAPSHOT != 0 => {}
            Some(EventKind::BookDelta) => {
                if side == Side::None || e.qty_lots < 0 {
                    return;
                }
                let prev = self.book.qty_at(side, e.price_ticks);
                self.book.apply_delta(side, e.price_ticks, e.qty_lots);
                let model = self.config.queue;
                for r in self.resting.iter_mut() {
                    if r.view.side == side && r.view.price_ticks == e.price_ticks {
                        r.front = model.on_level_change(
                            r.front,
                            prev as f64,
                            e.qty_lots as f64,
                            r.traded,
                        );
                        r.traded = 0.0;
                    }
                }
                self.fill_crossed(out);
            }
            Some(EventKind::Trade) => {
                if side == Side::None || e.qty_lots <= 0 {
                    return;
                }
                self.on_trade(side, e.price_ticks, e.qty_lots, out);
            }
            _ => {}
        }
    }

    fn on_trade(&mut self, aggressor: Side, price: i64, qty: i64, out: &mut Vec<ExecReport>) {
        let model = self.config.queue;
        let mut i = 0;
        while i < self.resting.len() {
            let r = self.resting[i];
            // Only resting orders on the passive side of this trade can be hit.
            if r.view.side == aggressor {
                i += 1;
                continue;
            }
            let through = match r.view.side {
                Side::Buy => price < r.view.price_ticks,
                _ => price > r.view.price_ticks,
            };
            let fill = if through {
                r.view.leaves_qty_lots
            } else if price == r.view.price_ticks {
                let (front, reach) = model.on_trade(r.front, qty as f64);
                self.resting[i].front = front;
                self.resting[i].traded += qty as f64;
                (reach.floor() as i64).min(r.view.leaves_qty_lots)
            } else {
                0
            };
            if fill > 0 {
                let px = r.view.price_ticks;
                if self.fill_resting(i, px, fill, out) {
                    continue;
                }
            }
            i += 1;
        }
    }

    /// Fills resting orders the external opposite side now crosses.
    fn fill_crossed(&mut self, out: &mut Vec<ExecReport>) {
        let bid = self.book.best_bid().map(|l| l.price_ticks);
        let ask = self.book.best_ask().map(|l| l.price_ticks);
        let mut i = 0;
        while i < self.resting.len() {
            let r = self.resting[i];
            let crossed = match r.view.side {
                Side::Buy => ask.is_some_and(|a| a <= r.view.price_ticks),
                _ => bid.is_some_and(|b| b >= r.view.price_ticks),
            };
            if crossed {
                let (px, q) = (r.view.price_ticks, r.view.leaves_qty_lots);
                if self.fill_resting(i, px, q, out) {
                    continue;
                }
            }
            i += 1;
        }
    }

    /// Fills `qty` of resting order `i` as maker; returns whether it was removed.
    fn fill_resting(&mut self, i: usize, price: i64, qty: i64, out: &mut Vec<ExecReport>) -> bool {
        let v = &mut self.resting[i].view;
        v.leaves_qty_lots -= qty;
        v.cum_qty_lots += qty;
        let view = *v;
        let kind = if view.leaves_qty_lots == 0 {
            ExecKind::Filled
        } else {
            ExecKind::PartiallyFilled
        };
        self.trade_id += 1;
        let fee = self.config.spec.fee_quote(price, qty, Liquidity::Maker);
        let tid = self.trade_id;
        self.report(
            out,
            kind,
            &view,
            price,
            qty,
            fee,
            Liquidity::Maker,
            None,
            tid,
        );
        if view.leaves_qty_lots == 0 {
            // `remove`, not `swap_remove`: arrival order decides report order.
            self.resting.remove(i);
            return true;
        }
        false
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &mut self,
        out: &mut Vec<ExecReport>,
        kind: ExecKind,
        o: &OrderView,
        price_ticks: i64,
        last_qty_lots: i64,
        fee_quote: f64,
        liquidity: Liquidity,
        reason: Option<VenueReason>,
        trade_id: u64,
    ) {
        self.report_seq += 1;
        let recv = self
            .now_ns
            .saturating_add(self.config.latency.response_ns());
        out.push(ExecReport {
            kind,
            client_order_id: o.client_order_id,
            instrument: o.instrument,
            side: o.side,
            owner: o.owner,
            price_ticks,
            last_qty_lots,
            leaves_qty_lots: o.leaves_qty_lots,
            cum_qty_lots: o.cum_qty_lots,
            fee_quote,
            liquidity,
            reason,
            trade_id,
            ts_event_ns: self.now_ns,
            ts_recv_ns: recv,
            seq: self.report_seq,
        });
    }

    fn simple(
        &mut self,
        out: &mut Vec<ExecReport>,
        kind: ExecKind,
        o: &OrderView,
        reason: Option<VenueReason>,
    ) {
        self.report(
            out,
            kind,
            o,
            o.price_ticks,
            0,
            0.0,
            Liquidity::None,
            reason,
            0,
        );
    }

    /// Quantity the external opposite side offers at prices `limit` crosses.
    fn available(&self, side: Side, limit: Option<i64>) -> i64 {
        self.book
            .depth(opposite(side), usize::MAX)
            .take_while(|l| crosses(side, limit, l.price_ticks))
            .fold(0i64, |a, l| a.saturating_add(l.qty_lots))
    }

    fn arrive(&mut self, req: &OrderRequest, tif: TimeInForce, out: &mut Vec<ExecReport>) {
        let is_market = req.order_type == OrderType::Market;
        let mut o = OrderView {
            client_order_id: req.client_order_id,
            instrument: req.instrument,
            side: req.side,
            owner: req.strategy_id,
            tif,
            price_ticks: if is_market { 0 } else { req.price_ticks },
            leaves_qty_lots: req.qty_lots,
            cum_qty_lots: 0,
        };
        let limit = (!is_market).then_some(o.price_ticks);
        let best_opp = match o.side {
            Side::Buy => self.book.best_ask(),
            _ => self.book.best_bid(),
        }
        .map(|l| l.price_ticks);
        let refusal = if req.instrument != self.config.instrument {
            Some(VenueReason::UnknownInstrument)
        } else if req.side == Side::None {
            Some(VenueReason::InvalidSide)
        } else if req.qty_lots <= 0 {
            Some(VenueReason::InvalidQty)
        } else if !is_market && req.price_ticks <= 0 {
            Some(VenueReason::InvalidPrice)
        } else if self
            .resting
            .iter()
            .any(|r| r.view.client_order_id == req.client_order_id)
        {
            Some(VenueReason::DuplicateClientOrderId)
        } else if tif == TimeInForce::PostOnly
            && (is_market || best_opp.is_some_and(|p| crosses(o.side, limit, p)))
        {
            Some(VenueReason::PostOnlyWouldTake)
        } else if tif == TimeInForce::Fok && self.available(o.side, limit) < req.qty_lots {
            Some(VenueReason::FokNotFillable)
        } else {
            None
        };
        if let Some(r) = refusal {
            let rejected = OrderView {
                leaves_qty_lots: 0,
                ..o
            };
            return self.simple(out, ExecKind::Rejected, &rejected, Some(r));
        }
        self.simple(out, ExecKind::New, &o, None);
        self.take(&mut o, limit, out);
        self.finish(o, is_market, out);
    }

    /// Takes external liquidity for an arriving (or re-priced) order.
    fn take(&mut self, o: &mut OrderView, limit: Option<i64>, out: &mut Vec<ExecReport>) {
        let opp = opposite(o.side);
        let mut k = 0;
        while o.leaves_qty_lots > 0 {
            let Some(level) = self.book.depth(opp, k + 1).nth(k) else {
                break;
            };
            if !crosses(o.side, limit, level.price_ticks) {
                break;
            }
            let q = o.leaves_qty_lots.min(level.qty_lots);
            o.leaves_qty_lots -= q;
            o.cum_qty_lots += q;
            let kind = if o.leaves_qty_lots == 0 {
                ExecKind::Filled
            } else {
                ExecKind::PartiallyFilled
            };
            self.trade_id += 1;
            let fee = self
                .config
                .spec
                .fee_quote(level.price_ticks, q, Liquidity::Taker);
            let (view, tid) = (*o, self.trade_id);
            self.report(
                out,
                kind,
                &view,
                level.price_ticks,
                q,
                fee,
                Liquidity::Taker,
                None,
                tid,
            );
            k += 1;
        }
    }

    /// Rests or cancels what is left of an order after it took liquidity.
    fn finish(&mut self, o: OrderView, is_market: bool, out: &mut Vec<ExecReport>) {
        if o.leaves_qty_lots == 0 {
            return;
        }
        if !is_market && matches!(o.tif, TimeInForce::Gtc | TimeInForce::PostOnly) {
            let front = self.book.qty_at(o.side, o.price_ticks) as f64;
            self.resting.push(Resting {
                view: o,
                front,
                traded: 0.0,
            });
        } else {
            let reason = if is_market && o.cum_qty_lots == 0 {
                VenueReason::NoLiquidity
            } else {
                VenueReason::IocRemainder
            };
            let done = OrderView {
                leaves_qty_lots: 0,
                ..o
            };
            self.simple(out, ExecKind::Cancelled, &done, Some(reason));
        }
    }

    fn unknown(&mut self, id: u64, out: &mut Vec<ExecReport>) {
        let o = OrderView {
            client_order_id: id,
            instrument: self.config.instrument,
            side: Side::None,
            owner: 0,
            tif: TimeInForce::Gtc,
            price_ticks: 0,
            leaves_qty_lots: 0,
            cum_qty_lots: 0,
        };
        self.simple(out, ExecKind::Rejected, &o, Some(VenueReason::UnknownOrder));
    }

    fn arrive_cancel(&mut self, id: u64, out: &mut Vec<ExecReport>) {
        let Some(i) = self
            .resting
            .iter()
            .position(|r| r.view.client_order_id == id)
        else {
            return self.unknown(id, out);
        };
        let r = self.resting.remove(i);
        let done = OrderView {
            leaves_qty_lots: 0,
            ..r.view
        };
        self.simple(
            out,
            ExecKind::Cancelled,
            &done,
            Some(VenueReason::UserCancel),
        );
    }

    fn arrive_replace(&mut self, id: u64, px: i64, leaves: i64, out: &mut Vec<ExecReport>) {
        let Some(i) = self
            .resting
            .iter()
            .position(|r| r.view.client_order_id == id)
        else {
            return self.unknown(id, out);
        };
        let r = self.resting[i];
        let crosses_now = match r.view.side {
            Side::Buy => self.book.best_ask(),
            _ => self.book.best_bid(),
        }
        .is_some_and(|l| crosses(r.view.side, Some(px), l.price_ticks));
        let refusal = if leaves <= 0 {
            Some(VenueReason::InvalidQty)
        } else if px <= 0 {
            Some(VenueReason::InvalidPrice)
        } else if r.view.tif == TimeInForce::PostOnly && crosses_now {
            Some(VenueReason::ReplaceRefused)
        } else {
            None
        };
        if let Some(reason) = refusal {
            let v = r.view;
            return self.simple(out, ExecKind::Rejected, &v, Some(reason));
        }
        if px == r.view.price_ticks && leaves <= r.view.leaves_qty_lots {
            // Same price, not larger: the queue position is kept.
            self.resting[i].view.leaves_qty_lots = leaves;
            let v = self.resting[i].view;
            return self.simple(out, ExecKind::Replaced, &v, None);
        }
        self.resting.remove(i);
        let mut o = OrderView {
            price_ticks: px,
            leaves_qty_lots: leaves,
            ..r.view
        };
        self.simple(out, ExecKind::Replaced, &o, None);
        self.take(&mut o, Some(px), out);
        self.finish(o, false, out);
    }
}

#[inline]
fn crosses(side: Side, limit: Option<i64>, price: i64) -> bool {
    match (side, limit) {
        (_, None) => true,
        (Side::Buy, Some(l)) => price <= l,
        (_, Some(l)) => price >= l,
    }
}
