//! The pre-trade risk engine: [`RiskEngine::check`] runs every order check without
//! allocating, and the lifecycle hooks keep what the checks read (working orders, our
//! resting prices, positions, reference prices, breakers) up to date.
//!
//! # Usage
//! ```text
//! engine.on_reference_price(i, px, ts)       market data (marks, band, exposure)
//! engine.submit(&order, now)?                check + register as working; or check()
//!                                            then on_order_accepted() before the next check
//! engine.on_fill(&fill)                      positions, PnL, drawdown / daily loss
//! engine.on_order_done(id) / on_order_rejected(id, now)
//! engine.on_clock(now)                       stale-data breaker, trading-day roll
//! engine.take_events()                       RiskState events to publish on the bus
//! ```
//!
//! # Worst-case accounting
//! Position and exposure limits count every working order as if it were filled, on its
//! own side: the long extreme of instrument `i` is `L = position + open buys`, the short
//! extreme `S = position - open sells`. Any sequence of fills of accepted orders keeps the
//! position within `[S, L]`, so a limit checked on `L` and `S` holds whatever fills. Gross
//! exposure is `sum max(|L|, |S|) x value`, net exposure is checked on both `sum L x value`
//! and `sum S x value`, with `value` = reference price x quote per tick-lot.
//!
//! An order is refused by a limit only when it makes that limit's figure both above the
//! limit and worse than before, so an order that reduces risk still goes through after a
//! price move or a lower limit left the book above it.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::model::{Event, Instrument, Side};

use super::breaker::{Breakers, ResetRefused};
use super::error::{finite, RiskError};
use super::kelly;
use super::limits::{LimitsError, RiskLimits, Throttle};
use super::order::{Fill, OrderRequest, OrderType, RejectReason};
use super::position::{PnlSummary, Position, PositionBook};
use super::state::{StateChange, TradingState};
use super::window::TimeWindow;

/// What the engine needs to know about an instrument besides its limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstrumentSpec {
    /// The venue that lists it; orders must name this venue.
    pub venue: u8,
    /// Quote currency per (one tick of price x one lot of quantity): tick size x lot size
    /// x contract multiplier.
    pub quote_per_tick_lot: f64,
}

impl InstrumentSpec {
    /// From a model [`Instrument`] and its contract multiplier (1 for spot and linear
    /// perpetuals quoted per unit).
    pub fn from_instrument(
        instrument: &Instrument,
        multiplier: f64,
    ) -> Result<InstrumentSpec, RiskError> {
        finite("multiplier", multiplier)?;
        let step = |s: crate::model::Step| s.mantissa() as f64 / 10f64.powi(i32::from(s.scale()));
        InstrumentSpec::new(
            instrument.venue,
            step(instrument.tick) * step(instrument.lot) * multiplier,
        )
    }

    pub fn new(venue: u8, quote_per_tick_lot: f64) -> Result<InstrumentSpec, RiskError> {
        finite("quote_per_tick_lot", quote_per_tick_lot)?;
        if quote_per_tick_lot <= 0.0 {
            return Err(RiskError::OutOfRange {
                field: "quote_per_tick_lot",
                value: quote_per_tick_lot.to_string(),
                rule: "must be greater than zero",
            });
        }
        Ok(InstrumentSpec {
            venue,
            quote_per_tick_lot,
        })
    }
}

/// A working order as the engine tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingOrder {
    pub client_order_id: u64,
    pub instrument: u32,
    pub side: Side,
    pub order_type: OrderType,
    pub price_ticks: i64,
    /// Not yet filled.
    pub remaining_lots: i64,
    pub strategy_id: u16,
    /// Sent reduce-only: a replace stays bound by it.
    pub reduce_only: bool,
}

/// Per-instrument figures the checks read, kept current by the hooks.
#[derive(Debug, Clone, Copy)]
struct InstrumentState {
    ref_price_ticks: i64,
    /// 0 until the first reference price.
    ref_ts_ns: u64,
    /// Reference price x quote per tick-lot: the quote value of one lot.
    value_per_lot: f64,
    open_buy_lots: i64,
    open_sell_lots: i64,
    /// Our highest resting buy and lowest resting sell (limit orders only).
    best_own_bid_ticks: i64,
    best_own_ask_ticks: i64,
    /// Cached exposure terms of this instrument (see module docs).
    gross_quote: f64,
    long_quote: f64,
    short_quote: f64,
}

const NO_BID: i64 = i64::MIN;
const NO_ASK: i64 = i64::MAX;

impl InstrumentState {
    fn new() -> InstrumentState {
        InstrumentState {
            ref_price_ticks: 0,
            ref_ts_ns: 0,
            value_per_lot: 0.0,
            open_buy_lots: 0,
            open_sell_lots: 0,
            best_own_bid_ticks: NO_BID,
            best_own_ask_ticks: NO_ASK,
            gross_quote: 0.0,
            long_quote: 0.0,
            short_quote: 0.0,
        }
    }
}

/// Exposure terms (gross, long extreme, short extreme) of one instrument.
#[inline]
fn exposure_terms(long_lots: i128, short_lots: i128, value_per_lot: f64) -> (f64, f64, f64) {
    let l = long_lots as f64 * value_per_lot;
    let s = short_lots as f64 * value_per_lot;
    (l.abs().max(s.abs()), l, s)
}

/// The pre-trade risk engine of one account.
#[derive(Debug, Clone)]
pub struct RiskEngine {
    specs: Vec<InstrumentSpec>,
    limits: RiskLimits,
    inst: Vec<InstrumentState>,
    positions: PositionBook,
    starting_equity_quote: f64,
    breakers: Breakers,
    /// Working orders in a slab, found by client order id.
    orders: Vec<Option<WorkingOrder>>,
    free_slots: Vec<u32>,
    order_index: HashMap<u64, u32>,
    /// Finished client order ids, oldest first, to refuse their reuse.
    recent_ids: VecDeque<u64>,
    recent_set: HashSet<u64>,
    strategy_windows: Vec<TimeWindow>,
    venue_windows: Vec<TimeWindow>,
    /// Refusals per reason code.
    reject_counts: Vec<u64>,
    accepted_count: u64,
    /// Reference timestamps in a flat array for the stale-data breaker.
    ref_ts_ns: Vec<u64>,
}

impl RiskEngine {
    /// An engine for `specs.len()` instruments (instrument index = position in `specs`),
    /// starting with `starting_equity_quote` of capital.
    pub fn new(
        specs: Vec<InstrumentSpec>,
        limits: RiskLimits,
        starting_equity_quote: f64,
    ) -> Result<RiskEngine, RiskError> {
        finite("starting_equity_quote", starting_equity_quote)?;
        for s in &specs {
            InstrumentSpec::new(s.venue, s.quote_per_tick_lot)?;
        }
        let n = specs.len();
        let n_venues = specs
            .iter()
            .map(|s| s.venue as usize + 1)
            .max()
            .unwrap_or(0);
        let mut e = RiskEngine {
            positions: PositionBook::new(specs.iter().map(|s| s.quote_per_tick_lot).collect()),
            specs,
            inst: vec![InstrumentState::new(); n],
            starting_equity_quote,
            breakers: Breakers::new(limits.breakers, n, starting_equity_quote),
            limits: limits.clone(),
            orders: Vec::new(),
            free_slots: Vec::new(),
            order_index: HashMap::new(),
            recent_ids: VecDeque::new(),
            recent_set: HashSet::new(),
            strategy_windows: Vec::new(),
            venue_windows: vec![TimeWindow::new(1, 1); n_venues],
            reject_counts: vec![0; RejectReason::ALL.len() + 1],
            accepted_count: 0,
            ref_ts_ns: vec![0; n],
        };
        // Force the window rebuild on the first set_limits.
        e.limits.strategy_throttle = None;
        e.limits.venue_throttle = None;
        e.limits.strategy_count = 0;
        e.set_limits(limits)?;
        Ok(e)
    }

    /// Replaces the limits after validating them. Working orders and positions are kept;
    /// a throttle whose size changes starts with an empty window.
    pub fn set_limits(&mut self, limits: RiskLimits) -> Result<(), RiskError> {
        limits.validate()?;
        if limits.instruments.len() != self.specs.len() {
            return Err(LimitsError {
                field: "instruments".into(),
                value: limits.instruments.len().to_string(),
                rule: "must have one entry per instrument of the engine",
            }
            .into());
        }
        let window = |t: Option<Throttle>| match t {
            Some(t) => TimeWindow::new(t.max_orders, t.window_ns),
            None => TimeWindow::new(1, 1),
        };
        if limits.strategy_throttle != self.limits.strategy_throttle
            || limits.strategy_count != self.limits.strategy_count
        {
            self.strategy_windows =
                vec![window(limits.strategy_throttle); limits.strategy_count as usize];
        }
        if limits.venue_throttle != self.limits.venue_throttle {
            let n = self.venue_windows.len();
            self.venue_windows = vec![window(limits.venue_throttle); n];
        }
        let cap = limits.max_open_orders as usize;
        self.orders.reserve(cap.saturating_sub(self.orders.len()));
        self.order_index
            .reserve(cap.saturating_sub(self.order_index.len()));
        let mem = limits.duplicate_id_memory as usize;
        while self.recent_ids.len() > mem {
            if let Some(old) = self.recent_ids.pop_front() {
                self.recent_set.remove(&old);
            }
        }
        self.recent_ids
            .reserve(mem.saturating_sub(self.recent_ids.len()));
        self.recent_set
            .reserve(mem.saturating_sub(self.recent_set.len()));
        self.breakers.set_limits(limits.breakers);
        self.limits = limits;
        Ok(())
    }

    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    pub fn instrument_count(&self) -> usize {
        self.specs.len()
    }

    pub fn spec(&self, instrument: u32) -> Option<&InstrumentSpec> {
        self.specs.get(instrument as usize)
    }

    // ---------------------------------------------------------------- the checks

    /// Runs every pre-trade check on `order` at `now_ns`. On success the order is counted
    /// in the strategy and venue throttles (it is about to be sent); the caller then calls
    /// [`on_order_accepted`](Self::on_order_accepted) before the next check (or uses
    /// [`submit`](Self::submit), which does both). Allocates nothing.
    pub fn check(&mut self, order: &OrderRequest, now_ns: u64) -> Result<(), RejectReason> {
        let verdict = self.evaluate(order, now_ns, None);
        self.count(order, verdict, now_ns)
    }

    /// Runs the pre-trade checks on a replace of working order `client_order_id` to
    /// `price_ticks` (ignored for a market order) and `remaining_lots` still to fill, as
    /// if the replaced order were new and the old one gone: bands, sizes, notional,
    /// position and exposure with the new remaining quantity, reduce-only and trading
    /// state, self-trade, throttles (a replace is an order message). On success it counts
    /// like an order; the caller then sends the replace and keeps the engine in step with
    /// the venue's answer (`on_order_done` + `on_order_accepted` for `Replaced`). An
    /// order the engine does not know is let through: the venue answers it.
    pub fn check_replace(
        &mut self,
        client_order_id: u64,
        price_ticks: i64,
        remaining_lots: i64,
        now_ns: u64,
    ) -> Result<(), RejectReason> {
        let Some(w) = self.working_order(client_order_id).copied() else {
            return Ok(());
        };
        let o = OrderRequest {
            instrument: w.instrument,
            side: w.side,
            order_type: w.order_type,
            price_ticks: if w.order_type == OrderType::Limit {
                price_ticks
            } else {
                w.price_ticks
            },
            qty_lots: remaining_lots,
            client_order_id,
            strategy_id: w.strategy_id,
            venue: self.specs[w.instrument as usize].venue,
            reduce_only: w.reduce_only,
            ts_ns: now_ns,
        };
        let verdict = self.evaluate(&o, now_ns, Some(&w));
        self.count(&o, verdict, now_ns)
    }

    fn count(
        &mut self,
        order: &OrderRequest,
        verdict: Result<(), RejectReason>,
        now_ns: u64,
    ) -> Result<(), RejectReason> {
        match verdict {
            Ok(()) => {
                self.strategy_windows[order.strategy_id as usize].record(now_ns);
                self.venue_windows[order.venue as usize].record(now_ns);
                self.accepted_count += 1;
                Ok(())
            }
            Err(r) => {
                self.reject_counts[r.code() as usize] += 1;
                Err(r)
            }
        }
    }

    /// [`check`](Self::check), and on success registers the order as working.
    pub fn submit(&mut self, order: &OrderRequest, now_ns: u64) -> Result<(), RejectReason> {
        self.check(order, now_ns)?;
        // check() has just verified everything on_order_accepted could refuse.
        self.on_order_accepted(order)
            .map_err(|_| RejectReason::DuplicateClientOrderId)
    }

    /// The checks, cheapest and most fundamental first. No state is changed. `replacing`:
    /// the working order `o` replaces, whose own quantity and slot no longer count.
    #[inline]
    fn evaluate(
        &self,
        o: &OrderRequest,
        now_ns: u64,
        replacing: Option<&WorkingOrder>,
    ) -> Result<(), RejectReason> {
        use RejectReason as R;
        let i = o.instrument as usize;
        let spec = self.specs.get(i).ok_or(R::UnknownInstrument)?;
        if o.venue != spec.venue {
            return Err(R::VenueMismatch);
        }
        if o.strategy_id >= self.limits.strategy_count {
            return Err(R::UnknownStrategy);
        }
        let lim = &self.limits.instruments[i];
        let buy = match o.side {
            Side::Buy => true,
            Side::Sell => false,
            Side::None => return Err(R::InvalidSide),
        };
        if o.qty_lots < lim.min_qty_lots {
            return Err(R::QtyBelowMin);
        }
        if o.qty_lots > lim.max_qty_lots {
            return Err(R::QtyAboveMax);
        }
        let is_limit = o.order_type == OrderType::Limit;
        if is_limit {
            if o.price_ticks <= 0 {
                return Err(R::PriceNotPositive);
            }
            if o.price_ticks < lim.min_price_ticks {
                return Err(R::PriceBelowMin);
            }
            if o.price_ticks > lim.max_price_ticks {
                return Err(R::PriceAboveMax);
            }
        }
        let state = self.breakers.state();
        if state == TradingState::Halted {
            return Err(R::Halted);
        }
        if replacing.is_none()
            && (self.order_index.contains_key(&o.client_order_id)
                || self.recent_set.contains(&o.client_order_id))
        {
            return Err(R::DuplicateClientOrderId);
        }

        let st = &self.inst[i];
        let pos = i128::from(self.positions.positions()[i].qty_lots);
        let qty = i128::from(o.qty_lots);
        let (mut open_buy, mut open_sell) =
            (i128::from(st.open_buy_lots), i128::from(st.open_sell_lots));
        if let Some(w) = replacing {
            match w.side {
                Side::Buy => open_buy -= i128::from(w.remaining_lots),
                _ => open_sell -= i128::from(w.remaining_lots),
            }
        }
        // Reduces without flipping, even if every working order on the same side fills.
        let reduces = if buy {
            pos < 0 && open_buy + qty <= -pos
        } else {
            pos > 0 && open_sell + qty <= pos
        };
        if o.reduce_only && !reduces {
            return Err(R::ReduceOnly);
        }
        if state == TradingState::Reducing && !reduces {
            return Err(R::ReducingState);
        }

        if st.ref_ts_ns == 0 {
            return Err(R::NoReferencePrice);
        }
        if now_ns.saturating_sub(st.ref_ts_ns) > self.limits.max_reference_age_ns {
            return Err(R::StaleReferencePrice);
        }
        let ref_px = st.ref_price_ticks;
        let px = if is_limit {
            let dist = (i128::from(o.price_ticks) - i128::from(ref_px)).unsigned_abs() as f64;
            if dist * 1e4 > lim.price_band_bps * ref_px as f64 {
                return Err(R::PriceBand);
            }
            o.price_ticks
        } else {
            ref_px
        };
        let notional = px as f64 * o.qty_lots as f64 * spec.quote_per_tick_lot;
        if !notional.is_finite() {
            return Err(R::NonFinite);
        }
        if notional < lim.min_notional_quote {
            return Err(R::NotionalBelowMin);
        }
        if notional > lim.max_notional_quote {
            return Err(R::NotionalAboveMax);
        }

        let (long_lots, short_lots) = if buy {
            (pos + open_buy + qty, pos - open_sell)
        } else {
            (pos + open_buy, pos - open_sell - qty)
        };
        let max_pos = i128::from(lim.max_position_lots);
        if (buy && long_lots > max_pos) || (!buy && short_lots < -max_pos) {
            return Err(R::PositionLimit);
        }

        let (g_new, l_new, s_new) = exposure_terms(long_lots, short_lots, st.value_per_lot);
        let (mut g0, mut l0, mut s0) = (0.0, 0.0, 0.0);
        let (mut g1, mut l1, mut s1) = (0.0, 0.0, 0.0);
        for (j, x) in self.inst.iter().enumerate() {
            g0 += x.gross_quote;
            l0 += x.long_quote;
            s0 += x.short_quote;
            if j == i {
                g1 += g_new;
                l1 += l_new;
                s1 += s_new;
            } else {
                g1 += x.gross_quote;
                l1 += x.long_quote;
                s1 += x.short_quote;
            }
        }
        if !(g1.is_finite() && l1.is_finite() && s1.is_finite()) {
            return Err(R::NonFinite);
        }
        if g1 > self.limits.max_gross_exposure_quote && g1 > g0 {
            return Err(R::GrossExposureLimit);
        }
        let max_net = self.limits.max_net_exposure_quote;
        if (l1 > max_net && l1 > l0) || (-s1 > max_net && s1 < s0) {
            return Err(R::NetExposureLimit);
        }

        let others_open = self.order_index.len() - usize::from(replacing.is_some());
        if others_open >= self.limits.max_open_orders as usize {
            return Err(R::OpenOrdersLimit);
        }
        if self.limits.self_trade_prevention {
            // A market order crosses any resting order of ours on the other side.
            let crosses = if buy {
                st.best_own_ask_ticks != NO_ASK
                    && (!is_limit || o.price_ticks >= st.best_own_ask_ticks)
            } else {
                st.best_own_bid_ticks != NO_BID
                    && (!is_limit || o.price_ticks <= st.best_own_bid_ticks)
            };
            if crosses {
                return Err(R::SelfTrade);
            }
        }
        if self.limits.strategy_throttle.is_some()
            && !self.strategy_windows[o.strategy_id as usize].allows(now_ns)
        {
            return Err(R::StrategyThrottle);
        }
        if self.limits.venue_throttle.is_some()
            && !self.venue_windows[o.venue as usize].allows(now_ns)
        {
            return Err(R::VenueThrottle);
        }
        Ok(())
    }

    /// Refusals so far, indexed by [`RejectReason::code`].
    pub fn reject_counts(&self) -> &[u64] {
        &self.reject_counts
    }

    /// Orders that passed [`check`](Self::check) so far.
    pub fn accepted_count(&self) -> u64 {
        self.accepted_count
    }

    // ---------------------------------------------------------------- order lifecycle

    /// Registers an order that passed the checks and went out: it now counts towards open
    /// orders, worst-case position and exposure, and (limit orders) self-trade prevention.
    pub fn on_order_accepted(&mut self, o: &OrderRequest) -> Result<(), RiskError> {
        let i = o.instrument as usize;
        if i >= self.specs.len() {
            return Err(RiskError::UnknownInstrument(o.instrument));
        }
        if o.qty_lots <= 0 || o.side == Side::None {
            return Err(RiskError::OutOfRange {
                field: "qty_lots/side",
                value: format!("{} {:?}", o.qty_lots, o.side),
                rule: "a working order has a positive quantity and a buy or sell side",
            });
        }
        if self.order_index.contains_key(&o.client_order_id) {
            return Err(RiskError::DuplicateOrder(o.client_order_id));
        }
        let w = WorkingOrder {
            client_order_id: o.client_order_id,
            instrument: o.instrument,
            side: o.side,
            order_type: o.order_type,
            price_ticks: o.price_ticks,
            remaining_lots: o.qty_lots,
            strategy_id: o.strategy_id,
            reduce_only: o.reduce_only,
        };
        let slot = match self.free_slots.pop() {
            Some(s) => {
                self.orders[s as usize] = Some(w);
                s
            }
            None => {
                self.orders.push(Some(w));
                (self.orders.len() - 1) as u32
            }
        };
        self.order_index.insert(o.client_order_id, slot);
        let st = &mut self.inst[i];
        if o.side == Side::Buy {
            st.open_buy_lots = st.open_buy_lots.saturating_add(o.qty_lots);
            if o.order_type == OrderType::Limit {
                st.best_own_bid_ticks = st.best_own_bid_ticks.max(o.price_ticks);
            }
        } else {
            st.open_sell_lots = st.open_sell_lots.saturating_add(o.qty_lots);
            if o.order_type == OrderType::Limit {
                st.best_own_ask_ticks = st.best_own_ask_ticks.min(o.price_ticks);
            }
        }
        self.refresh_exposure(i);
        Ok(())
    }

    /// The order is finished (cancelled, expired or fully filled): it stops counting and
    /// its id is remembered to refuse reuse.
    pub fn on_order_done(&mut self, client_order_id: u64) -> Result<(), RiskError> {
        let slot = self
            .order_index
            .remove(&client_order_id)
            .ok_or(RiskError::UnknownOrder(client_order_id))?;
        let Some(w) = self.orders[slot as usize].take() else {
            return Err(RiskError::UnknownOrder(client_order_id));
        };
        self.free_slots.push(slot);
        self.release(&w, w.remaining_lots);
        let i = w.instrument as usize;
        if w.order_type == OrderType::Limit {
            let st = &self.inst[i];
            let was_best = match w.side {
                Side::Buy => st.best_own_bid_ticks == w.price_ticks,
                _ => st.best_own_ask_ticks == w.price_ticks,
            };
            if was_best {
                self.recompute_best(w.instrument, w.side);
            }
        }
        self.refresh_exposure(i);
        self.remember_id(client_order_id);
        Ok(())
    }

    /// A venue rejected the order: it is done, and counts towards the reject-rate breaker.
    pub fn on_order_rejected(
        &mut self,
        client_order_id: u64,
        now_ns: u64,
    ) -> Result<(), RiskError> {
        let r = self.on_order_done(client_order_id);
        self.breakers.on_venue_reject(now_ns);
        r
    }

    /// An error talking to a venue: counts towards the error-rate breaker.
    pub fn on_error(&mut self, now_ns: u64) {
        self.breakers.on_error(now_ns);
    }

    /// A fill: updates the position, PnL and the order's remaining quantity (an order
    /// filled completely is done). A fill of an unknown order (placed outside this engine)
    /// still moves the position.
    pub fn on_fill(&mut self, f: &Fill) -> Result<(), RiskError> {
        let fee = finite("fee_quote", f.fee_quote)?;
        let i = f.instrument as usize;
        if i >= self.specs.len() {
            return Err(RiskError::UnknownInstrument(f.instrument));
        }
        if f.qty_lots <= 0 || f.side == Side::None {
            return Err(RiskError::OutOfRange {
                field: "qty_lots/side",
                value: format!("{} {:?}", f.qty_lots, f.side),
                rule: "a fill has a positive quantity and a buy or sell side",
            });
        }
        if f.price_ticks <= 0 {
            return Err(RiskError::OutOfRange {
                field: "price_ticks",
                value: f.price_ticks.to_string(),
                rule: "a fill price must be positive",
            });
        }
        let mut done = false;
        if let Some(&slot) = self.order_index.get(&f.client_order_id) {
            if let Some(w) = self.orders[slot as usize].as_mut() {
                if w.instrument == f.instrument && w.side == f.side {
                    let take = f.qty_lots.min(w.remaining_lots);
                    w.remaining_lots -= take;
                    done = w.remaining_lots == 0;
                    let w = *w;
                    self.release(&w, take);
                }
            }
        }
        self.positions
            .apply_fill(f.instrument, f.side, f.qty_lots, f.price_ticks, fee);
        self.refresh_exposure(i);
        if done {
            self.on_order_done(f.client_order_id)?;
        }
        let equity = self.equity_quote();
        self.breakers.on_equity(equity, f.ts_ns);
        Ok(())
    }

    /// A new reference (mark) price: used by the band, notional of market orders,
    /// exposure, unrealized PnL, and the volatility, drawdown and daily-loss breakers.
    pub fn on_reference_price(
        &mut self,
        instrument: u32,
        price_ticks: i64,
        ts_ns: u64,
    ) -> Result<(), RiskError> {
        let i = instrument as usize;
        let Some(spec) = self.specs.get(i) else {
            return Err(RiskError::UnknownInstrument(instrument));
        };
        if price_ticks <= 0 {
            return Err(RiskError::OutOfRange {
                field: "price_ticks",
                value: price_ticks.to_string(),
                rule: "a reference price must be positive",
            });
        }
        let st = &mut self.inst[i];
        st.ref_price_ticks = price_ticks;
        // Never 0 once priced: 0 means "no reference price".
        st.ref_ts_ns = ts_ns.max(1);
        st.value_per_lot = price_ticks as f64 * spec.quote_per_tick_lot;
        self.ref_ts_ns[i] = st.ref_ts_ns;
        self.refresh_exposure(i);
        self.positions.set_mark(instrument, price_ticks);
        self.breakers.on_price(instrument, price_ticks, ts_ns);
        let equity = self.equity_quote();
        self.breakers.on_equity(equity, ts_ns);
        Ok(())
    }

    /// Time passes: the stale-data breaker and the trading-day boundary.
    pub fn on_clock(&mut self, now_ns: u64) {
        self.breakers.on_clock(&self.ref_ts_ns, now_ns);
    }

    fn release(&mut self, w: &WorkingOrder, lots: i64) {
        let st = &mut self.inst[w.instrument as usize];
        match w.side {
            Side::Buy => st.open_buy_lots -= lots,
            _ => st.open_sell_lots -= lots,
        }
    }

    fn recompute_best(&mut self, instrument: u32, side: Side) {
        let mut best = if side == Side::Buy { NO_BID } else { NO_ASK };
        for w in self.orders.iter().flatten() {
            if w.instrument == instrument && w.side == side && w.order_type == OrderType::Limit {
                best = if side == Side::Buy {
                    best.max(w.price_ticks)
                } else {
                    best.min(w.price_ticks)
                };
            }
        }
        let st = &mut self.inst[instrument as usize];
        if side == Side::Buy {
            st.best_own_bid_ticks = best;
        } else {
            st.best_own_ask_ticks = best;
        }
    }

    fn refresh_exposure(&mut self, i: usize) {
        let pos = i128::from(self.positions.positions()[i].qty_lots);
        let st = &mut self.inst[i];
        let (g, l, s) = exposure_terms(
            pos + i128::from(st.open_buy_lots),
            pos - i128::from(st.open_sell_lots),
            st.value_per_lot,
        );
        st.gross_quote = g;
        st.long_quote = l;
        st.short_quote = s;
    }

    fn remember_id(&mut self, id: u64) {
        let mem = self.limits.duplicate_id_memory as usize;
        if mem == 0 {
            return;
        }
        if self.recent_ids.len() >= mem {
            if let Some(old) = self.recent_ids.pop_front() {
                self.recent_set.remove(&old);
            }
        }
        self.recent_ids.push_back(id);
        self.recent_set.insert(id);
    }

    // ---------------------------------------------------------------- state and breakers

    pub fn state(&self) -> TradingState {
        self.breakers.state()
    }

    pub fn breakers(&self) -> &Breakers {
        &self.breakers
    }

    /// The operator's trading state (breakers can only make it stricter).
    pub fn set_state(&mut self, state: TradingState, now_ns: u64) {
        self.breakers.set_state(state, now_ns);
    }

    /// Halts trading and returns the client order ids still working, for the caller to
    /// cancel (it then reports each with [`on_order_done`](Self::on_order_done)).
    pub fn kill_switch(&mut self, now_ns: u64) -> Vec<u64> {
        self.breakers.kill(now_ns);
        self.working_order_ids()
    }

    /// Back to ACTIVE: see [`breaker`](super::breaker) for when this is refused and what
    /// `rebase_peak` does.
    pub fn reset(&mut self, now_ns: u64, rebase_peak: bool) -> Result<(), ResetRefused> {
        self.breakers.reset(&self.ref_ts_ns, now_ns, rebase_peak)
    }

    /// Drains the state changes since the last call.
    pub fn take_state_changes(&mut self) -> Vec<StateChange> {
        self.breakers.take_changes()
    }

    /// Drains the state changes since the last call as bus events.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.breakers
            .take_changes()
            .iter()
            .map(StateChange::to_event)
            .collect()
    }

    // ---------------------------------------------------------------- read-outs

    pub fn position(&self, instrument: u32) -> Option<&Position> {
        self.positions.get(instrument)
    }

    pub fn positions(&self) -> &PositionBook {
        &self.positions
    }

    /// Book-wide PnL and exposure at the reference prices.
    pub fn pnl(&self) -> PnlSummary {
        self.positions.summary()
    }

    /// Starting equity + realized + unrealized PnL - fees.
    pub fn equity_quote(&self) -> f64 {
        self.starting_equity_quote + self.positions.summary().total_pnl_quote()
    }

    pub fn reference_price(&self, instrument: u32) -> Option<(i64, u64)> {
        self.inst
            .get(instrument as usize)
            .filter(|s| s.ref_ts_ns != 0)
            .map(|s| (s.ref_price_ticks, s.ref_ts_ns))
    }

    pub fn open_order_count(&self) -> usize {
        self.order_index.len()
    }

    pub fn working_order(&self, client_order_id: u64) -> Option<&WorkingOrder> {
        let slot = *self.order_index.get(&client_order_id)?;
        self.orders.get(slot as usize)?.as_ref()
    }

    /// Client order ids of every working order, in slot order.
    pub fn working_order_ids(&self) -> Vec<u64> {
        self.orders
            .iter()
            .flatten()
            .map(|w| w.client_order_id)
            .collect()
    }

    /// Working lots on (buy, sell) side of an instrument.
    pub fn open_lots(&self, instrument: u32) -> Option<(i64, i64)> {
        self.inst
            .get(instrument as usize)
            .map(|s| (s.open_buy_lots, s.open_sell_lots))
    }

    /// Worst-case (gross, net long, net short) exposure with every working order filled.
    pub fn worst_case_exposure_quote(&self) -> (f64, f64, f64) {
        self.inst.iter().fold((0.0, 0.0, 0.0), |a, x| {
            (a.0 + x.gross_quote, a.1 + x.long_quote, a.2 + x.short_quote)
        })
    }

    /// The largest order (in lots) for a Kelly `fraction` of current equity at
    /// `price_ticks` (the reference price when `None`) that the position, order-size and
    /// notional limits allow; see [`kelly::size_in_lots`]. Exposure limits and throttles
    /// are left to [`check`](Self::check).
    pub fn kelly_qty_lots(
        &self,
        instrument: u32,
        side: Side,
        fraction: f64,
        price_ticks: Option<i64>,
    ) -> Result<i64, RiskError> {
        let i = instrument as usize;
        let spec = self
            .specs
            .get(i)
            .ok_or(RiskError::UnknownInstrument(instrument))?;
        let lim = &self.limits.instruments[i];
        let st = &self.inst[i];
        let px = match price_ticks {
            Some(p) => p,
            None if st.ref_ts_ns != 0 => st.ref_price_ticks,
            None => {
                return Err(RiskError::OutOfRange {
                    field: "price_ticks",
                    value: "None".into(),
                    rule: "no reference price yet: pass a price",
                })
            }
        };
        let pos = i128::from(self.positions.positions()[i].qty_lots);
        let headroom = match side {
            Side::Buy => i128::from(lim.max_position_lots) - (pos + i128::from(st.open_buy_lots)),
            Side::Sell => i128::from(lim.max_position_lots) + (pos - i128::from(st.open_sell_lots)),
            Side::None => 0,
        };
        let max_by_notional =
            (lim.max_notional_quote / (px as f64 * spec.quote_per_tick_lot)).floor();
        let cap = headroom.clamp(0, i128::from(lim.max_qty_lots)).min(
            if max_by_notional.is_finite() && max_by_notional >= 0.0 {
                max_by_notional as i128
            } else {
                0
            },
        ) as i64;
        let lots = kelly::size_in_lots(
            fraction,
            self.equity_quote(),
            px,
            spec.quote_per_tick_lot,
            cap,
        )?;
        Ok(if lots < lim.min_qty_lots { 0 } else { lots })
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
