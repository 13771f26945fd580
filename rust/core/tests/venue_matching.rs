//! The native matching engine: every order type accepted, rejected and partially filled
//! on hand-worked books; price-time priority; cancel/replace priority rules; self-trade
//! prevention; fees; and a property test against a naive reference matcher (never a
//! crossed book, never more filled than ordered, maker and taker quantities equal, the
//! same fills and the same final book as the reference, the same reports on a rerun).

use baconalgo_core::model::{OrderRequest, OrderType, Side, TimeInForce};
use baconalgo_core::venue::{
    decode_exec_event, EngineConfig, ExecKind, ExecReport, FeeSchedule, Liquidity, MatchingEngine,
    StpMode, VenueInstrument, VenueReason,
};
use proptest::prelude::*;

fn engine(stp: StpMode, capacity: usize) -> MatchingEngine {
    MatchingEngine::new(EngineConfig {
        instruments: vec![VenueInstrument {
            quote_per_tick_lot: 0.01,
            fees: FeeSchedule {
                maker_bps: -1.0,
                taker_bps: 5.0,
            },
        }],
        stp,
        capacity,
    })
    .unwrap()
}

fn order(id: u64, owner: u16, side: Side, ty: OrderType, px: i64, qty: i64) -> OrderRequest {
    let mut o = OrderRequest::limit(0, 0, side, px, qty, id);
    o.order_type = ty;
    o.strategy_id = owner;
    o
}

fn lim(e: &mut MatchingEngine, id: u64, side: Side, px: i64, qty: i64) -> Vec<ExecReport> {
    let mut out = Vec::new();
    e.submit(
        &order(id, id as u16, side, OrderType::Limit, px, qty),
        TimeInForce::Gtc,
        0,
        &mut out,
    );
    out
}

fn kinds(r: &[ExecReport]) -> Vec<(u64, ExecKind, i64)> {
    r.iter()
        .map(|r| (r.client_order_id, r.kind, r.last_qty_lots))
        .collect()
}

#[test]
fn limit_rests_then_a_crossing_limit_partially_fills_at_the_makers_price() {
    let mut e = engine(StpMode::CancelNewest, 16);
    let r = lim(&mut e, 1, Side::Sell, 101, 5);
    assert_eq!(kinds(&r), vec![(1, ExecKind::New, 0)]);
    assert_eq!(e.best(0, Side::Sell), Some((101, 5)));
    // Buy 8 @ 103: trades 5 @ 101 (maker's price), rests 3 @ 103.
    let r = lim(&mut e, 2, Side::Buy, 103, 8);
    assert_eq!(
        kinds(&r),
        vec![
            (2, ExecKind::New, 0),
            (1, ExecKind::Filled, 5),
            (2, ExecKind::PartiallyFilled, 5)
        ]
    );
    assert_eq!((r[1].price_ticks, r[2].price_ticks), (101, 101));
    assert_eq!(
        (r[1].liquidity, r[2].liquidity),
        (Liquidity::Maker, Liquidity::Taker)
    );
    assert_eq!(r[1].trade_id, r[2].trade_id);
    assert_eq!((r[2].leaves_qty_lots, r[2].cum_qty_lots), (3, 5));
    assert_eq!(e.best(0, Side::Buy), Some((103, 3)));
    assert_eq!(e.best(0, Side::Sell), None);
    // Fees: 101 ticks x 5 lots x 0.01 = 5.05 quote; maker -1 bp, taker +5 bp.
    assert!((r[1].fee_quote - (-5.05e-4)).abs() < 1e-15);
    assert!((r[2].fee_quote - 5.05 * 5e-4).abs() < 1e-15);
}

#[test]
fn price_then_time_priority_decides_who_trades_first() {
    let mut e = engine(StpMode::CancelNewest, 16);
    lim(&mut e, 1, Side::Sell, 101, 4);
    lim(&mut e, 2, Side::Sell, 101, 4);
    lim(&mut e, 3, Side::Sell, 101, 4);
    lim(&mut e, 4, Side::Sell, 100, 5);
    assert_eq!(e.queue(0, Side::Sell, 101), vec![1, 2, 3]);
    let r = lim(&mut e, 9, Side::Buy, 101, 12);
    let fills: Vec<(u64, i64, i64)> = r
        .iter()
        .filter(|r| r.is_fill() && r.liquidity == Liquidity::Maker)
        .map(|r| (r.client_order_id, r.price_ticks, r.last_qty_lots))
        .collect();
    // Better price first, then arrival order at 101.
    assert_eq!(fills, vec![(4, 100, 5), (1, 101, 4), (2, 101, 3)]);
    assert_eq!(e.queue(0, Side::Sell, 101), vec![2, 3]);
    assert_eq!(e.depth(0, Side::Sell), vec![(101, 5)]);
    assert_eq!(e.order(2).unwrap().leaves_qty_lots, 1);
}

#[test]
fn market_order_walks_the_book_and_cancels_what_is_left() {
    let mut e = engine(StpMode::CancelNewest, 16);
    lim(&mut e, 1, Side::Buy, 99, 3);
    lim(&mut e, 2, Side::Buy, 98, 3);
    let mut out = Vec::new();
    e.submit(
        &order(5, 5, Side::Sell, OrderType::Market, 0, 10),
        TimeInForce::Ioc,
        0,
        &mut out,
    );
    assert_eq!(
        kinds(&out),
        vec![
            (5, ExecKind::New, 0),
            (1, ExecKind::Filled, 3),
            (5, ExecKind::PartiallyFilled, 3),
            (2, ExecKind::Filled, 3),
            (5, ExecKind::PartiallyFilled, 3),
            (5, ExecKind::Cancelled, 0),
        ]
    );
    assert_eq!(out[5].reason, Some(VenueReason::IocRemainder));
    assert_eq!(out[5].cum_qty_lots, 6);
    // Nothing left: a market order now finds no liquidity at all.
    out.clear();
    e.submit(
        &order(6, 6, Side::Sell, OrderType::Market, 0, 1),
        TimeInForce::Ioc,
        0,
        &mut out,
    );
    assert_eq!(out[1].reason, Some(VenueReason::NoLiquidity));
    assert_eq!(e.open_orders(), 0);
}

#[test]
fn ioc_trades_what_crosses_and_never_rests() {
    let mut e = engine(StpMode::CancelNewest, 16);
    lim(&mut e, 1, Side::Sell, 100, 2);
    lim(&mut e, 2, Side::Sell, 102, 2);
    let mut out = Vec::new();
    e.submit(
        &order(3, 3, Side::Buy, OrderType::Limit, 101, 5),
        TimeInForce::Ioc,
        0,
        &mut out,
    );
    assert_eq!(
        kinds(&out),
        vec![
            (3, ExecKind::New, 0),
            (1, ExecKind::Filled, 2),
            (3, ExecKind::PartiallyFilled, 2),
            (3, ExecKind::Cancelled, 0)
        ]
    );
    assert_eq!(e.best(0, Side::Buy), None);
    assert_eq!(e.best(0, Side::Sell), Some((102, 2)));
}

#[test]
fn fok_fills_completely_or_leaves_no_trace() {
    let mut e = engine(StpMode::CancelNewest, 16);
    lim(&mut e, 1, Side::Sell, 100, 2);
    lim(&mut e, 2, Side::Sell, 101, 2);
    let mut out = Vec::new();
    e.submit(
        &order(3, 3, Side::Buy, OrderType::Limit, 101, 5),
        TimeInForce::Fok,
        0,
        &mut out,
    );
    assert_eq!(kinds(&out), vec![(3, ExecKind::Rejected, 0)]);
    assert_eq!(out[0].reason, Some(VenueReason::FokNotFillable));
    assert_eq!(e.depth(0, Side::Sell), vec![(100, 2), (101, 2)]);
    out.clear();
    e.submit(
        &order(4, 4, Side::Buy, OrderType::Limit, 101, 4),
        TimeInForce::Fok,
        0,
        &mut out,
    );
    assert_eq!(out.last().unwrap().kind, ExecKind::Filled);
    assert_eq!(out.last().unwrap().cum_qty_lots, 4);
    assert!(e.depth(0, Side::Sell).is_empty());
}

#[test]
fn post_only_rests_or_is_rejected_when_it_would_take() {
    let mut e = engine(StpMode::CancelNewest, 16);
    lim(&mut e, 1, Side::Sell, 100, 2);
    let mut out = Vec::new();
    e.submit(
        &order(2, 2, Side::Buy, OrderType::Limit, 100, 1),
        TimeInForce::PostOnly,
        0,
        &mut out,
    );
    assert_eq!(out[0].kind, ExecKind::Rejected);
    assert_eq!(out[0].reason, Some(VenueReason::PostOnlyWouldTake));
    out.clear();
    e.submit(
        &order(3, 3, Side::Buy, OrderType::Limit, 99, 1),
        TimeInForce::PostOnly,
        0,
        &mut out,
    );
    assert_eq!(kinds(&out), vec![(3, ExecKind::New, 0)]);
    assert_eq!(e.best(0, Side::Buy), Some((99, 1)));
    // A post-only replace into the ask is refused and the order keeps working.
    out.clear();
    e.replace(3, 100, 1, 0, &mut out);
    assert_eq!(out[0].kind, ExecKind::Rejected);
    assert_eq!(out[0].reason, Some(VenueReason::ReplaceRefused));
    assert!(!out[0].is_final());
    assert_eq!(e.order(3).unwrap().price_ticks, 99);
}

#[test]
fn invalid_orders_are_rejected_with_their_reason() {
    let mut e = engine(StpMode::CancelNewest, 1);
    let mut out = Vec::new();
    let cases = [
        (
            order(1, 1, Side::Buy, OrderType::Limit, 100, 0),
            VenueReason::InvalidQty,
        ),
        (
            order(2, 1, Side::Buy, OrderType::Limit, 0, 1),
            VenueReason::InvalidPrice,
        ),
        (
            order(3, 1, Side::None, OrderType::Limit, 100, 1),
            VenueReason::InvalidSide,
        ),
        (
            OrderRequest {
                instrument: 7,
                ..order(4, 1, Side::Buy, OrderType::Limit, 100, 1)
            },
            VenueReason::UnknownInstrument,
        ),
    ];
    for (o, why) in cases {
        out.clear();
        e.submit(&o, TimeInForce::Gtc, 0, &mut out);
        assert_eq!(
            (out.len(), out[0].kind, out[0].reason),
            (1, ExecKind::Rejected, Some(why))
        );
    }
    lim(&mut e, 5, Side::Buy, 100, 1);
    // The id is working: a second order with it is refused.
    let r = lim(&mut e, 5, Side::Buy, 99, 1);
    assert_eq!(r[0].reason, Some(VenueReason::DuplicateClientOrderId));
    // Capacity 1: the pool is full for another resting order.
    let r = lim(&mut e, 6, Side::Buy, 99, 1);
    assert_eq!(r[0].reason, Some(VenueReason::PoolFull));
    out.clear();
    e.cancel(77, 0, &mut out);
    assert_eq!(out[0].reason, Some(VenueReason::UnknownOrder));
}

#[test]
fn replace_keeps_priority_only_when_reducing_at_the_same_price() {
    let mut e = engine(StpMode::CancelNewest, 16);
    for id in 1..=3 {
        lim(&mut e, id, Side::Buy, 100, 5);
    }
    let mut out = Vec::new();
    // Reduce id 1 at the same price: still first.
    e.replace(1, 100, 2, 0, &mut out);
    assert_eq!(out[0].kind, ExecKind::Replaced);
    assert_eq!(e.queue(0, Side::Buy, 100), vec![1, 2, 3]);
    assert_eq!(e.best(0, Side::Buy), Some((100, 12)));
    // Increase id 2: to the back.
    e.replace(2, 100, 6, 0, &mut out);
    assert_eq!(e.queue(0, Side::Buy, 100), vec![1, 3, 2]);
    // Move id 1 away and back: loses priority too.
    e.replace(1, 99, 2, 0, &mut out);
    e.replace(1, 100, 2, 0, &mut out);
    assert_eq!(e.queue(0, Side::Buy, 100), vec![3, 2, 1]);
    assert_eq!(e.best(0, Side::Buy), Some((100, 13)));
    // A replace that crosses trades on arrival.
    lim(&mut e, 10, Side::Sell, 102, 4);
    out.clear();
    e.replace(3, 102, 5, 0, &mut out);
    assert_eq!(
        kinds(&out),
        vec![
            (3, ExecKind::Replaced, 0),
            (10, ExecKind::Filled, 4),
            (3, ExecKind::PartiallyFilled, 4)
        ]
    );
    assert_eq!(e.best(0, Side::Buy), Some((102, 1)));
    assert!(!e.is_crossed(0));
}

#[test]
fn cancel_removes_the_order_and_its_level() {
    let mut e = engine(StpMode::CancelNewest, 16);
    lim(&mut e, 1, Side::Buy, 100, 5);
    lim(&mut e, 2, Side::Buy, 100, 5);
    let mut out = Vec::new();
    e.cancel(1, 0, &mut out);
    assert_eq!(
        (out[0].kind, out[0].reason, out[0].is_final()),
        (ExecKind::Cancelled, Some(VenueReason::UserCancel), true)
    );
    assert_eq!(e.best(0, Side::Buy), Some((100, 5)));
    e.cancel(2, 0, &mut out);
    assert_eq!(e.best(0, Side::Buy), None);
    assert_eq!(e.open_orders(), 0);
}

/// (client id, kind, reason) of each report.
type Outcome = Vec<(u64, ExecKind, Option<VenueReason>)>;

fn stp_run(mode: StpMode) -> (Outcome, Vec<(i64, i64)>) {
    let mut e = engine(mode, 16);
    let mut out = Vec::new();
    // Owner 7 rests 3 @ 100 behind nobody; owner 8 rests 3 @ 100 behind it.
    e.submit(
        &order(1, 7, Side::Sell, OrderType::Limit, 100, 3),
        TimeInForce::Gtc,
        0,
        &mut out,
    );
    e.submit(
        &order(2, 8, Side::Sell, OrderType::Limit, 100, 3),
        TimeInForce::Gtc,
        0,
        &mut out,
    );
    out.clear();
    // Owner 7 buys 5 @ 100: meets its own order first.
    e.submit(
        &order(3, 7, Side::Buy, OrderType::Limit, 100, 5),
        TimeInForce::Gtc,
        0,
        &mut out,
    );
    (
        out.iter()
            .map(|r| (r.client_order_id, r.kind, r.reason))
            .collect(),
        e.depth(0, Side::Sell),
    )
}

#[test]
fn self_trade_prevention_modes_cancel_newest_oldest_or_both() {
    use ExecKind::*;
    let stp = Some(VenueReason::SelfTradePrevention);
    let (r, asks) = stp_run(StpMode::CancelNewest);
    assert_eq!(r, vec![(3, New, None), (3, Cancelled, stp)]);
    assert_eq!(asks, vec![(100, 6)]);
    let (r, asks) = stp_run(StpMode::CancelOldest);
    assert_eq!(
        r,
        vec![
            (3, New, None),
            (1, Cancelled, stp),
            (2, Filled, None),
            (3, PartiallyFilled, None)
        ]
    );
    assert_eq!(asks, vec![]);
    let (r, asks) = stp_run(StpMode::CancelBoth);
    assert_eq!(
        r,
        vec![(3, New, None), (1, Cancelled, stp), (3, Cancelled, stp)]
    );
    assert_eq!(asks, vec![(100, 3)]);
    let (r, _) = stp_run(StpMode::Off);
    assert_eq!(r[1], (1, Filled, None));
}

#[test]
fn exec_reports_become_exec_report_events() {
    let mut e = engine(StpMode::CancelNewest, 16);
    lim(&mut e, 1, Side::Sell, 101, 5);
    let r = lim(&mut e, 2, Side::Buy, 101, 5);
    let ev = r[2].to_event(3);
    assert_eq!(
        (ev.id, ev.price_ticks, ev.qty_lots, ev.venue),
        (2, 101, 5, 3)
    );
    assert_eq!(
        decode_exec_event(&ev),
        Some((ExecKind::Filled, Liquidity::Taker, None))
    );
    assert_eq!(ev.flags, baconalgo_core::model::flags::FINAL);
    assert!(r.windows(2).all(|w| w[0].seq < w[1].seq));
}

// ---------------------------------------------------------------------------------------
// Property test against a naive reference matcher.

#[derive(Debug, Clone)]
enum Op {
    Submit {
        side: bool,
        kind: u8,
        px: i64,
        qty: i64,
        owner: u16,
    },
    Cancel(usize),
    Replace(usize, i64, i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), 0u8..5, 95i64..106, 1i64..10, 0u16..3).prop_map(|(side, kind, px, qty, owner)| Op::Submit { side, kind, px, qty, owner }),
        2 => any::<usize>().prop_map(Op::Cancel),
        2 => (any::<usize>(), 95i64..106, 1i64..10).prop_map(|(i, px, q)| Op::Replace(i, px, q)),
    ]
}

#[derive(Debug, Clone)]
struct RefOrder {
    id: u64,
    owner: u16,
    buy: bool,
    px: i64,
    leaves: i64,
    tif: TimeInForce,
    prio: u64,
}

/// The simplest matcher that can be right: a flat list, searched in full every time.
#[derive(Debug, Clone)]
struct Reference {
    orders: Vec<RefOrder>,
    prio: u64,
    stp: StpMode,
    fills: Vec<(u64, u64, i64, i64)>,
}

impl Reference {
    fn best_against(&self, buy: bool) -> Option<usize> {
        (0..self.orders.len())
            .filter(|&i| self.orders[i].buy != buy)
            .min_by_key(|&i| {
                let o = &self.orders[i];
                (if o.buy { -o.px } else { o.px }, o.prio)
            })
    }

    fn crosses(buy: bool, limit: Option<i64>, px: i64) -> bool {
        match limit {
            None => true,
            Some(l) => {
                if buy {
                    px <= l
                } else {
                    px >= l
                }
            }
        }
    }

    /// Matches; returns leaves after matching and whether STP cancelled the taker.
    fn take(&mut self, t: &mut RefOrder, limit: Option<i64>) -> bool {
        while t.leaves > 0 {
            let Some(i) = self.best_against(t.buy) else {
                return false;
            };
            if !Self::crosses(t.buy, limit, self.orders[i].px) {
                return false;
            }
            if self.stp != StpMode::Off && self.orders[i].owner == t.owner {
                match self.stp {
                    StpMode::CancelOldest => {
                        self.orders.remove(i);
                        continue;
                    }
                    StpMode::CancelBoth => {
                        self.orders.remove(i);
                        return true;
                    }
                    _ => return true,
                }
            }
            let q = t.leaves.min(self.orders[i].leaves);
            self.fills
                .push((self.orders[i].id, t.id, self.orders[i].px, q));
            t.leaves -= q;
            self.orders[i].leaves -= q;
            if self.orders[i].leaves == 0 {
                self.orders.remove(i);
            }
        }
        false
    }

    fn rest(&mut self, mut t: RefOrder) {
        self.prio += 1;
        t.prio = self.prio;
        self.orders.push(t);
    }

    fn submit(&mut self, mut t: RefOrder, market: bool) {
        let limit = (!market).then_some(t.px);
        if t.tif == TimeInForce::PostOnly {
            if let Some(i) = self.best_against(t.buy) {
                if Self::crosses(t.buy, limit, self.orders[i].px) {
                    return;
                }
            }
        }
        if t.tif == TimeInForce::Fok {
            let mut trial = self.clone();
            let mut tt = t.clone();
            trial.take(&mut tt, limit);
            if tt.leaves == 0 {
                *self = trial;
            }
            return;
        }
        let stp = self.take(&mut t, limit);
        if t.leaves > 0 && !stp && !market && t.tif != TimeInForce::Ioc {
            self.rest(t);
        }
    }

    fn replace(&mut self, id: u64, px: i64, leaves: i64) {
        let Some(i) = self.orders.iter().position(|o| o.id == id) else {
            return;
        };
        let o = self.orders[i].clone();
        if o.tif == TimeInForce::PostOnly {
            if let Some(b) = self.best_against(o.buy) {
                if Self::crosses(o.buy, Some(px), self.orders[b].px) {
                    return;
                }
            }
        }
        if px == o.px && leaves <= o.leaves {
            self.orders[i].leaves = leaves;
            return;
        }
        self.orders.remove(i);
        let mut t = RefOrder { px, leaves, ..o };
        let stp = self.take(&mut t, Some(px));
        if t.leaves > 0 && !stp {
            self.rest(t);
        }
    }

    fn depth(&self, buy: bool) -> Vec<(i64, i64)> {
        let mut levels: std::collections::BTreeMap<i64, i64> = Default::default();
        for o in self.orders.iter().filter(|o| o.buy == buy) {
            *levels.entry(o.px).or_default() += o.leaves;
        }
        let mut v: Vec<(i64, i64)> = levels.into_iter().collect();
        if buy {
            v.reverse();
        }
        v
    }
}

fn run_flow(ops: &[Op], stp: StpMode) -> (Vec<ExecReport>, MatchingEngine, Reference) {
    let mut e = engine(stp, 64);
    let mut r = Reference {
        orders: Vec::new(),
        prio: 0,
        stp,
        fills: Vec::new(),
    };
    let mut all = Vec::new();
    let mut out = Vec::new();
    let mut next_id = 0u64;
    let mut qty_of = std::collections::HashMap::new();
    for op in ops {
        out.clear();
        match *op {
            Op::Submit {
                side,
                kind,
                px,
                qty,
                owner,
            } => {
                next_id += 1;
                let (ty, tif) = match kind {
                    0 => (OrderType::Limit, TimeInForce::Gtc),
                    1 => (OrderType::Limit, TimeInForce::Ioc),
                    2 => (OrderType::Limit, TimeInForce::Fok),
                    3 => (OrderType::Limit, TimeInForce::PostOnly),
                    _ => (OrderType::Market, TimeInForce::Ioc),
                };
                let s = if side { Side::Buy } else { Side::Sell };
                e.submit(&order(next_id, owner, s, ty, px, qty), tif, 0, &mut out);
                // The engine's pool (64) is never the limit in these flows.
                r.submit(
                    RefOrder {
                        id: next_id,
                        owner,
                        buy: side,
                        px,
                        leaves: qty,
                        tif,
                        prio: 0,
                    },
                    ty == OrderType::Market,
                );
                qty_of.insert(next_id, qty);
            }
            Op::Cancel(pick) => {
                if next_id > 0 {
                    let id = pick as u64 % next_id + 1;
                    e.cancel(id, 0, &mut out);
                    r.orders.retain(|o| o.id != id);
                }
            }
            Op::Replace(pick, px, q) => {
                if next_id > 0 {
                    let id = pick as u64 % next_id + 1;
                    e.replace(id, px, q, 0, &mut out);
                    r.replace(id, px, q);
                    // A replace may raise the order's total: track the largest total.
                    if let Some(o) = e.order(id) {
                        let tot = o.leaves_qty_lots + o.cum_qty_lots;
                        let m = qty_of.entry(id).or_insert(tot);
                        *m = (*m).max(tot);
                    }
                }
            }
        }
        assert!(!e.is_crossed(0), "crossed book after {op:?}");
        // Never more filled than ordered (the order's largest total after replaces).
        for rep in out.iter().filter(|r| r.is_fill()) {
            let total = qty_of.get(&rep.client_order_id).copied().unwrap_or(0);
            let total = total.max(rep.cum_qty_lots + rep.leaves_qty_lots);
            assert!(rep.cum_qty_lots <= total && rep.last_qty_lots > 0);
        }
        all.extend_from_slice(&out);
    }
    (all, e, r)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_flows_match_the_reference_and_conserve_quantity(
        ops in proptest::collection::vec(op(), 1..120),
        mode in 0u8..4,
    ) {
        let stp = [StpMode::Off, StpMode::CancelNewest, StpMode::CancelOldest, StpMode::CancelBoth][mode as usize];
        let (reports, e, r) = run_flow(&ops, stp);
        // Maker and taker sides of every trade: same trade id, price and quantity.
        let makers: Vec<_> = reports.iter().filter(|r| r.is_fill() && r.liquidity == Liquidity::Maker).collect();
        let takers: Vec<_> = reports.iter().filter(|r| r.is_fill() && r.liquidity == Liquidity::Taker).collect();
        prop_assert_eq!(makers.len(), takers.len());
        for (m, t) in makers.iter().zip(&takers) {
            prop_assert_eq!((m.trade_id, m.price_ticks, m.last_qty_lots), (t.trade_id, t.price_ticks, t.last_qty_lots));
            prop_assert_ne!(m.side, t.side);
        }
        let fills: Vec<(u64, u64, i64, i64)> = makers.iter().zip(&takers)
            .map(|(m, t)| (m.client_order_id, t.client_order_id, m.price_ticks, m.last_qty_lots)).collect();
        prop_assert_eq!(&fills, &r.fills);
        prop_assert_eq!(e.depth(0, Side::Buy), r.depth(true));
        prop_assert_eq!(e.depth(0, Side::Sell), r.depth(false));
        // Same queues, order by order.
        for px in 95..106 {
            for (side, buy) in [(Side::Buy, true), (Side::Sell, false)] {
                let mut want: Vec<&RefOrder> = r.orders.iter().filter(|o| o.buy == buy && o.px == px).collect();
                want.sort_by_key(|o| o.prio);
                let want: Vec<u64> = want.iter().map(|o| o.id).collect();
                prop_assert_eq!(e.queue(0, side, px), want);
            }
        }
        // Determinism: the same flow gives the same reports, bit for bit.
        let (again, _, _) = run_flow(&ops, stp);
        prop_assert_eq!(reports, again);
    }
}
