//! The native matching engine: every order on the venue is in this book (backtests with
//! other simulated participants, tests, a local exchange). Price-time priority per
//! instrument, integer ticks, a preallocated order slab with intrusive FIFO queues per
//! price level.
//!
//! Semantics, in one place:
//! * **Limit (GTC)** trades against the best opposite levels while they cross its price
//!   (at the resting order's price), then rests the remainder at the back of its level.
//! * **Market** trades at any price, never rests; the remainder is cancelled
//!   (`IocRemainder`, or `NoLiquidity` when nothing traded).
//! * **IOC** is a limit that cancels its remainder instead of resting.
//! * **FOK** trades its whole quantity at once or is rejected with no effect on the book
//!   (orders that self-trade prevention would skip or that would stop it are not counted).
//! * **Post-only** rests without trading; rejected if it crosses on arrival.
//! * **Cancel** removes the remainder. **Replace** changes price and/or remaining
//!   quantity: it keeps its time priority only when the price is unchanged and the
//!   quantity does not grow; any other replace moves the order to the back of the queue
//!   at its (new) price and may trade on arrival like a new order (a post-only order that
//!   would cross is refused and left unchanged).
//! * **Self-trade prevention** applies when the taker and the maker have the same owner
//!   (`OrderRequest::strategy_id`): [`StpMode::CancelNewest`] cancels the taker's remainder,
//!   [`StpMode::CancelOldest`] cancels the resting order and keeps matching,
//!   [`StpMode::CancelBoth`] cancels both; [`StpMode::Off`] lets them trade.
//! * Reports per order: `New` (accepted), then for each trade the maker's report followed
//!   by the taker's (`PartiallyFilled` / `Filled`, sharing a trade id), then `Cancelled`
//!   for a remainder. Refusals are a single `Rejected` report with a [`VenueReason`].
//!
//! Nothing allocates per order once the slab, the id map and the level vectors have
//! reached their working size: the slab is preallocated to `capacity` and the caller
//! passes the report vector in.

use std::collections::HashMap;

use super::report::{ExecKind, ExecReport, Liquidity, VenueReason};
use crate::model::{OrderRequest, OrderType, Side, TimeInForce};

/// Self-trade prevention policy (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StpMode {
    /// Orders of the same owner trade with each other.
    Off,
    /// The incoming order's remainder is cancelled; the resting order stays.
    #[default]
    CancelNewest,
    /// The resting order is cancelled; the incoming order keeps matching.
    CancelOldest,
    /// Both are cancelled.
    CancelBoth,
}

/// Maker and taker fees in basis points of the notional; negative for a rebate.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FeeSchedule {
    pub maker_bps: f64,
    pub taker_bps: f64,
}

/// What the venue needs to know about an instrument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VenueInstrument {
    /// Quote-currency value of one lot at a price of one tick (tick size x lot size x
    /// contract multiplier): notional = price_ticks x qty_lots x this.
    pub quote_per_tick_lot: f64,
    pub fees: FeeSchedule,
}

impl VenueInstrument {
    /// Fee in quote currency of `qty_lots` at `price_ticks` on the given side of a trade.
    pub fn fee_quote(&self, price_ticks: i64, qty_lots: i64, liquidity: Liquidity) -> f64 {
        let bps = match liquidity {
            Liquidity::Maker => self.fees.maker_bps,
            Liquidity::Taker => self.fees.taker_bps,
            Liquidity::None => 0.0,
        };
        price_ticks as f64 * qty_lots as f64 * self.quote_per_tick_lot * bps * 1e-4
    }
}

/// Engine configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Indexed by `OrderRequest::instrument`.
    pub instruments: Vec<VenueInstrument>,
    pub stp: StpMode,
    /// Most orders resting at once (the slab size).
    pub capacity: usize,
}

/// A working order as the engine holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderView {
    pub client_order_id: u64,
    pub instrument: u32,
    pub side: Side,
    pub owner: u16,
    pub tif: TimeInForce,
    pub price_ticks: i64,
    pub leaves_qty_lots: i64,
    pub cum_qty_lots: i64,
}

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Slot {
    order: OrderView,
    prev: u32,
    next: u32,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    /// Sort key: the price for bids, `!price` for asks, so the best level is last.
    key: i64,
    head: u32,
    tail: u32,
    qty_lots: i64,
}

#[derive(Debug, Clone, Default)]
struct Ladder {
    levels: Vec<Level>,
    is_ask: bool,
}

impl Ladder {
    #[inline]
    fn key(&self, price_ticks: i64) -> i64 {
        if self.is_ask {
            !price_ticks
        } else {
            price_ticks
        }
    }

    #[inline]
    fn find(&self, price_ticks: i64) -> Result<usize, usize> {
        let key = self.key(price_ticks);
        // Most activity is at the top of the book, which is the end of the vector.
        let n = self.levels.len();
        if n > 0 && self.levels[n - 1].key == key {
            return Ok(n - 1);
        }
        self.levels.binary_search_by_key(&key, |l| l.key)
    }

    #[inline]
    fn best_price(&self) -> Option<i64> {
        self.levels.last().map(|l| self.key(l.key))
    }
}

#[derive(Debug, Clone)]
struct Book {
    bids: Ladder,
    asks: Ladder,
}

impl Book {
    fn side(&mut self, side: Side) -> &mut Ladder {
        if side == Side::Buy {
            &mut self.bids
        } else {
            &mut self.asks
        }
    }

    fn side_ref(&self, side: Side) -> &Ladder {
        if side == Side::Buy {
            &self.bids
        } else {
            &self.asks
        }
    }
}

/// Whether a taker on `side` with `limit` (None = market) trades against `price`.
#[inline]
fn crosses(side: Side, limit: Option<i64>, price: i64) -> bool {
    match (side, limit) {
        (_, None) => true,
        (Side::Buy, Some(l)) => price <= l,
        (_, Some(l)) => price >= l,
    }
}

#[inline]
fn opposite(side: Side) -> Side {
    if side == Side::Buy {
        Side::Sell
    } else {
        Side::Buy
    }
}

/// The matching engine. See the module docs for the semantics.
#[derive(Debug, Clone)]
pub struct MatchingEngine {
    slots: Vec<Slot>,
    free: Vec<u32>,
    ids: HashMap<u64, u32>,
    books: Vec<Book>,
    instruments: Vec<VenueInstrument>,
    stp: StpMode,
    seq: u64,
    trade_id: u64,
}

/// The engine configuration is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineConfigError {
    #[error("capacity {0} must be between 1 and 2^32 - 2")]
    Capacity(usize),
    #[error("instrument {index}: quote_per_tick_lot {value} must be finite and positive")]
    Multiplier { index: usize, value: f64 },
    #[error("instrument {index}: fees must be finite")]
    Fees { index: usize },
}

impl MatchingEngine {
    pub fn new(config: EngineConfig) -> Result<MatchingEngine, EngineConfigError> {
        if config.capacity == 0 || config.capacity >= NIL as usize {
            return Err(EngineConfigError::Capacity(config.capacity));
        }
        for (index, i) in config.instruments.iter().enumerate() {
            if !(i.quote_per_tick_lot.is_finite() && i.quote_per_tick_lot > 0.0) {
                return Err(EngineConfigError::Multiplier {
                    index,
                    value: i.quote_per_tick_lot,
                });
            }
            if !(i.fees.maker_bps.is_finite() && i.fees.taker_bps.is_finite()) {
                return Err(EngineConfigError::Fees { index });
            }
        }
        let empty = Slot {
            order: OrderView {
                client_order_id: 0,
                instrument: 0,
                side: Side::None,
                owner: 0,
                tif: TimeInForce::Gtc,
                price_ticks: 0,
                leaves_qty_lots: 0,
                cum_qty_lots: 0,
            },
            prev: NIL,
            next: NIL,
        };
        let books = config
            .instruments
            .iter()
            .map(|_| Book {
                bids: Ladder {
                    levels: Vec::with_capacity(256),
                    is_ask: false,
                },
                asks: Ladder {
                    levels: Vec::with_capacity(256),
                    is_ask: true,
                },
            })
            .collect();
        Ok(MatchingEngine {
            slots: vec![empty; config.capacity],
            // Popped from the end: slot 0 is used first.
            free: (0..config.capacity as u32).rev().collect(),
            ids: HashMap::with_capacity(config.capacity),
            books,
            instruments: config.instruments,
            stp: config.stp,
            seq: 0,
            trade_id: 0,
        })
    }

    /// Number of working (resting) orders.
    pub fn open_orders(&self) -> usize {
        self.ids.len()
    }

    /// The working order with this client id.
    pub fn order(&self, client_order_id: u64) -> Option<OrderView> {
        self.ids
            .get(&client_order_id)
            .map(|&i| self.slots[i as usize].order)
    }

    /// Best (price, total quantity) of one side.
    pub fn best(&self, instrument: u32, side: Side) -> Option<(i64, i64)> {
        let ladder = self.books.get(instrument as usize)?.side_ref(side);
        ladder
            .levels
            .last()
            .map(|l| (ladder.key(l.key), l.qty_lots))
    }

    /// Levels (price, total quantity) of one side, best first.
    pub fn depth(&self, instrument: u32, side: Side) -> Vec<(i64, i64)> {
        match self.books.get(instrument as usize) {
            None => Vec::new(),
            Some(b) => {
                let ladder = b.side_ref(side);
                ladder
                    .levels
                    .iter()
                    .rev()
                    .map(|l| (ladder.key(l.key), l.qty_lots))
                    .collect()
            }
        }
    }

    /// Client ids resting at one price, in time priority.
    pub fn queue(&self, instrument: u32, side: Side, price_ticks: i64) -> Vec<u64> {
        let mut ids = Vec::new();
        if let Some(b) = self.books.get(instrument as usize) {
            let ladder = b.side_ref(side);
            if let Ok(li) = ladder.find(price_ticks) {
                let mut i = ladder.levels[li].head;
                while i != NIL {
                    ids.push(self.slots[i as usize].order.client_order_id);
                    i = self.slots[i as usize].next;
                }
            }
        }
        ids
    }

    /// Whether the resting book of `instrument` is crossed (best bid >= best ask); never
    /// true after any call returns.
    pub fn is_crossed(&self, instrument: u32) -> bool {
        match (
            self.best(instrument, Side::Buy),
            self.best(instrument, Side::Sell),
        ) {
            (Some((b, _)), Some((a, _))) => b >= a,
            _ => false,
        }
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
        ts_ns: u64,
    ) {
        self.seq += 1;
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
            ts_event_ns: ts_ns,
            ts_recv_ns: ts_ns,
            seq: self.seq,
        });
    }

    fn reject(&mut self, out: &mut Vec<ExecReport>, o: &OrderView, reason: VenueReason, ts: u64) {
        let o = OrderView {
            leaves_qty_lots: 0,
            ..*o
        };
        self.report(
            out,
            ExecKind::Rejected,
            &o,
            o.price_ticks,
            0,
            0.0,
            Liquidity::None,
            Some(reason),
            0,
            ts,
        );
    }

    /// Submits an order at venue time `ts_ns`; its reports are appended to `out`.
    pub fn submit(
        &mut self,
        req: &OrderRequest,
        tif: TimeInForce,
        ts_ns: u64,
        out: &mut Vec<ExecReport>,
    ) {
        let is_market = req.order_type == OrderType::Market;
        let o = OrderView {
            client_order_id: req.client_order_id,
            instrument: req.instrument,
            side: req.side,
            owner: req.strategy_id,
            tif,
            price_ticks: if is_market { 0 } else { req.price_ticks },
            leaves_qty_lots: req.qty_lots,
            cum_qty_lots: 0,
        };
        let refusal = if req.instrument as usize >= self.books.len() {
            Some(VenueReason::UnknownInstrument)
        } else if req.side == Side::None {
            Some(VenueReason::InvalidSide)
        } else if req.qty_lots <= 0 {
            Some(VenueReason::InvalidQty)
        } else if !is_market && req.price_ticks <= 0 {
            Some(VenueReason::InvalidPrice)
        } else if self.ids.contains_key(&req.client_order_id) {
            Some(VenueReason::DuplicateClientOrderId)
        } else if is_market && tif == TimeInForce::PostOnly {
            Some(VenueReason::PostOnlyWouldTake)
        } else {
            None
        };
        if let Some(r) = refusal {
            return self.reject(out, &o, r, ts_ns);
        }
        let limit = (!is_market).then_some(o.price_ticks);
        let rests = !is_market && matches!(tif, TimeInForce::Gtc | TimeInForce::PostOnly);
        // Checked before trading so that a refused order leaves no trace.
        if rests && self.free.is_empty() {
            return self.reject(out, &o, VenueReason::PoolFull, ts_ns);
        }
        let best_opp = self.books[o.instrument as usize]
            .side_ref(opposite(o.side))
            .best_price();
        if tif == TimeInForce::PostOnly && best_opp.is_some_and(|p| crosses(o.side, limit, p)) {
            return self.reject(out, &o, VenueReason::PostOnlyWouldTake, ts_ns);
        }
        if tif == TimeInForce::Fok && !self.fok_fillable(&o, limit) {
            return self.reject(out, &o, VenueReason::FokNotFillable, ts_ns);
        }
        self.report(
            out,
            ExecKind::New,
            &o,
            o.price_ticks,
            0,
            0.0,
            Liquidity::None,
            None,
            0,
            ts_ns,
        );
        self.execute(o, is_market, None, ts_ns, out);
    }

    /// Whether a FOK order can be filled in full now (see the module docs on STP).
    fn fok_fillable(&self, o: &OrderView, limit: Option<i64>) -> bool {
        let ladder = self.books[o.instrument as usize].side_ref(opposite(o.side));
        let mut avail: i64 = 0;
        for level in ladder.levels.iter().rev() {
            if !crosses(o.side, limit, ladder.key(level.key)) {
                break;
            }
            let mut i = level.head;
            while i != NIL {
                let m = &self.slots[i as usize];
                if self.stp != StpMode::Off && m.order.owner == o.owner {
                    match self.stp {
                        StpMode::CancelOldest => {
                            i = m.next;
                            continue;
                        }
                        _ => return false,
                    }
                }
                avail = avail.saturating_add(m.order.leaves_qty_lots);
                if avail >= o.leaves_qty_lots {
                    return true;
                }
                i = m.next;
            }
        }
        false
    }

    /// Matches `t` against the book, then rests or cancels its remainder. `slot` is the
    /// order's slab index when it is already allocated (a replace), unlinked from its level.
    fn execute(
        &mut self,
        mut t: OrderView,
        is_market: bool,
        slot: Option<u32>,
        ts: u64,
        out: &mut Vec<ExecReport>,
    ) {
        let inst = t.instrument as usize;
        let limit = (!is_market).then_some(t.price_ticks);
        let opp = opposite(t.side);
        let spec = self.instruments[inst];
        let mut stp_cancel = false;
        while t.leaves_qty_lots > 0 {
            let ladder = self.books[inst].side(opp);
            let Some(level) = ladder.levels.last().copied() else {
                break;
            };
            let price = ladder.key(level.key);
            if !crosses(t.side, limit, price) {
                break;
            }
            let mi = level.head;
            let maker = self.slots[mi as usize].order;
            if self.stp != StpMode::Off && maker.owner == t.owner {
                if matches!(self.stp, StpMode::CancelOldest | StpMode::CancelBoth) {
                    self.unlink(mi);
                    let cancelled = self.free_slot(mi);
                    let done = OrderView {
                        leaves_qty_lots: 0,
                        ..cancelled
                    };
                    self.report(
                        out,
                        ExecKind::Cancelled,
                        &done,
                        done.price_ticks,
                        0,
                        0.0,
                        Liquidity::None,
                        Some(VenueReason::SelfTradePrevention),
                        0,
                        ts,
                    );
                }
                if matches!(self.stp, StpMode::CancelNewest | StpMode::CancelBoth) {
                    stp_cancel = true;
                    break;
                }
                continue;
            }
            let q = t.leaves_qty_lots.min(maker.leaves_qty_lots);
            self.trade_id += 1;
            let trade_id = self.trade_id;
            // Maker side.
            let maker_done = q == maker.leaves_qty_lots;
            if maker_done {
                self.unlink(mi);
                self.free_slot(mi);
            } else {
                let ladder = self.books[inst].side(opp);
                if let Some(l) = ladder.levels.last_mut() {
                    l.qty_lots -= q;
                }
                self.slots[mi as usize].order.leaves_qty_lots -= q;
                self.slots[mi as usize].order.cum_qty_lots += q;
            }
            let m = OrderView {
                leaves_qty_lots: maker.leaves_qty_lots - q,
                cum_qty_lots: maker.cum_qty_lots + q,
                ..maker
            };
            let mkind = if maker_done {
                ExecKind::Filled
            } else {
                ExecKind::PartiallyFilled
            };
            let mfee = spec.fee_quote(price, q, Liquidity::Maker);
            self.report(
                out,
                mkind,
                &m,
                price,
                q,
                mfee,
                Liquidity::Maker,
                None,
                trade_id,
                ts,
            );
            // Taker side.
            t.leaves_qty_lots -= q;
            t.cum_qty_lots += q;
            let tkind = if t.leaves_qty_lots == 0 {
                ExecKind::Filled
            } else {
                ExecKind::PartiallyFilled
            };
            let tfee = spec.fee_quote(price, q, Liquidity::Taker);
            self.report(
                out,
                tkind,
                &t,
                price,
                q,
                tfee,
                Liquidity::Taker,
                None,
                trade_id,
                ts,
            );
        }
        let rests = !is_market && matches!(t.tif, TimeInForce::Gtc | TimeInForce::PostOnly);
        if t.leaves_qty_lots > 0 && rests && !stp_cancel {
            let idx = match slot {
                Some(i) => i,
                None => match self.free.pop() {
                    Some(i) => i,
                    // Unreachable: submit checked for a free slot before trading.
                    None => {
                        return self.cancel_remainder(t, VenueReason::PoolFull, ts, out);
                    }
                },
            };
            self.slots[idx as usize].order = t;
            self.ids.insert(t.client_order_id, idx);
            self.link(idx);
            return;
        }
        if let Some(i) = slot {
            self.free_slot(i);
        }
        if t.leaves_qty_lots > 0 {
            let reason = if stp_cancel {
                VenueReason::SelfTradePrevention
            } else if is_market && t.cum_qty_lots == 0 {
                VenueReason::NoLiquidity
            } else {
                VenueReason::IocRemainder
            };
            self.cancel_remainder(t, reason, ts, out);
        }
    }

    fn cancel_remainder(
        &mut self,
        t: OrderView,
        reason: VenueReason,
        ts: u64,
        out: &mut Vec<ExecReport>,
    ) {
        let done = OrderView {
            leaves_qty_lots: 0,
            ..t
        };
        self.report(
            out,
            ExecKind::Cancelled,
            &done,
            t.price_ticks,
            0,
            0.0,
            Liquidity::None,
            Some(reason),
            0,
            ts,
        );
    }

    /// Appends slot `idx` at the back of its price level.
    fn link(&mut self, idx: u32) {
        let o = self.slots[idx as usize].order;
        let ladder = self.books[o.instrument as usize].side(o.side);
        let li = match ladder.find(o.price_ticks) {
            Ok(li) => li,
            Err(at) => {
                let key = ladder.key(o.price_ticks);
                ladder.levels.insert(
                    at,
                    Level {
                        key,
                        head: NIL,
                        tail: NIL,
                        qty_lots: 0,
                    },
                );
                at
            }
        };
        let level = &mut ladder.levels[li];
        let tail = level.tail;
        level.qty_lots += o.leaves_qty_lots;
        if tail == NIL {
            level.head = idx;
        }
        level.tail = idx;
        let s = &mut self.slots[idx as usize];
        s.prev = tail;
        s.next = NIL;
        if tail != NIL {
            self.slots[tail as usize].next = idx;
        }
    }

    /// Removes slot `idx` from its price level (dropping the level when it empties); the
    /// slot stays allocated.
    fn unlink(&mut self, idx: u32) {
        let s = self.slots[idx as usize];
        let o = s.order;
        if s.prev != NIL {
            self.slots[s.prev as usize].next = s.next;
        }
        if s.next != NIL {
            self.slots[s.next as usize].prev = s.prev;
        }
        let ladder = self.books[o.instrument as usize].side(o.side);
        if let Ok(li) = ladder.find(o.price_ticks) {
            let level = &mut ladder.levels[li];
            if level.head == idx {
                level.head = s.next;
            }
            if level.tail == idx {
                level.tail = s.prev;
            }
            level.qty_lots -= o.leaves_qty_lots;
            if level.head == NIL {
                ladder.levels.remove(li);
            }
        }
        let s = &mut self.slots[idx as usize];
        s.prev = NIL;
        s.next = NIL;
    }

    /// Returns slot `idx` to the free list and forgets its client id.
    fn free_slot(&mut self, idx: u32) -> OrderView {
        let o = self.slots[idx as usize].order;
        if self.ids.get(&o.client_order_id) == Some(&idx) {
            self.ids.remove(&o.client_order_id);
        }
        self.free.push(idx);
        o
    }

    fn unknown(&mut self, client_order_id: u64, ts: u64, out: &mut Vec<ExecReport>) {
        let o = OrderView {
            client_order_id,
            instrument: 0,
            side: Side::None,
            owner: 0,
            tif: TimeInForce::Gtc,
            price_ticks: 0,
            leaves_qty_lots: 0,
            cum_qty_lots: 0,
        };
        self.reject(out, &o, VenueReason::UnknownOrder, ts);
    }

    /// Cancels a working order.
    pub fn cancel(&mut self, client_order_id: u64, ts_ns: u64, out: &mut Vec<ExecReport>) {
        let Some(&idx) = self.ids.get(&client_order_id) else {
            return self.unknown(client_order_id, ts_ns, out);
        };
        self.unlink(idx);
        let o = self.free_slot(idx);
        self.cancel_remainder(o, VenueReason::UserCancel, ts_ns, out);
    }

    /// Replaces a working order's price and remaining quantity (`new_leaves_lots`, what
    /// should still rest; the filled part is unchanged). Priority is kept only for a
    /// same-price reduction; otherwise the order goes to the back of its new level and
    /// may trade on arrival.
    pub fn replace(
        &mut self,
        client_order_id: u64,
        new_price_ticks: i64,
        new_leaves_lots: i64,
        ts_ns: u64,
        out: &mut Vec<ExecReport>,
    ) {
        let Some(&idx) = self.ids.get(&client_order_id) else {
            return self.unknown(client_order_id, ts_ns, out);
        };
        let o = self.slots[idx as usize].order;
        let refusal = if new_leaves_lots <= 0 {
            Some(VenueReason::InvalidQty)
        } else if new_price_ticks <= 0 {
            Some(VenueReason::InvalidPrice)
        } else if o.tif == TimeInForce::PostOnly
            && self.books[o.instrument as usize]
                .side_ref(opposite(o.side))
                .best_price()
                .is_some_and(|p| crosses(o.side, Some(new_price_ticks), p))
        {
            Some(VenueReason::ReplaceRefused)
        } else {
            None
        };
        if let Some(r) = refusal {
            // The order keeps working: the report carries its live leaves quantity.
            return self.report(
                out,
                ExecKind::Rejected,
                &o,
                o.price_ticks,
                0,
                0.0,
                Liquidity::None,
                Some(r),
                0,
                ts_ns,
            );
        }
        if new_price_ticks == o.price_ticks && new_leaves_lots <= o.leaves_qty_lots {
            let cut = o.leaves_qty_lots - new_leaves_lots;
            let ladder = self.books[o.instrument as usize].side(o.side);
            if let Ok(li) = ladder.find(o.price_ticks) {
                ladder.levels[li].qty_lots -= cut;
            }
            self.slots[idx as usize].order.leaves_qty_lots = new_leaves_lots;
            let n = self.slots[idx as usize].order;
            return self.report(
                out,
                ExecKind::Replaced,
                &n,
                n.price_ticks,
                0,
                0.0,
                Liquidity::None,
                None,
                0,
                ts_ns,
            );
        }
        self.unlink(idx);
        let n = OrderView {
            price_ticks: new_price_ticks,
            leaves_qty_lots: new_leaves_lots,
            ..o
        };
        // The id stays registered while the order re-enters, so that a fill report and
        // the slot agree; execute re-links or frees it.
        self.report(
            out,
            ExecKind::Replaced,
            &n,
            n.price_ticks,
            0,
            0.0,
            Liquidity::None,
            None,
            0,
            ts_ns,
        );
        self.execute(n, false, Some(idx), ts_ns, out);
    }
}
