//! The matching engine allocates nothing per order once warm: resting, crossing (partial
//! and full fills at several levels), IOC/FOK/post-only, cancel, replace, self-trade
//! prevention and rejects, counted by a global allocator over thousands of orders. The
//! report vector is the caller's and reused, as the backtest loops and MarketSim do.

mod common;

use baconalgo_core::model::{OrderRequest, OrderType, Side, TimeInForce};
use baconalgo_core::venue::{
    EngineConfig, ExecReport, FeeSchedule, MatchingEngine, StpMode, VenueInstrument,
};
use common::counting_alloc::{allocations_of, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

const CAPACITY: usize = 4_096;

fn order(id: u64, owner: u16, side: Side, ty: OrderType, px: i64, qty: i64) -> OrderRequest {
    let mut o = OrderRequest::limit(0, 0, side, px, qty, id);
    o.order_type = ty;
    o.strategy_id = owner;
    o
}

/// One round of a busy market around 10_000 ticks: two makers quote a few levels, takers
/// cross with every time in force, makers replace and cancel, some orders are refused.
fn round(e: &mut MatchingEngine, k: u64, out: &mut Vec<ExecReport>) -> usize {
    let base = 1 + k * 16;
    let mut reports = 0;
    let mut send = |e: &mut MatchingEngine, o: OrderRequest, tif: TimeInForce| {
        out.clear();
        e.submit(&o, tif, k, out);
        reports += out.len();
    };
    for level in 0..4 {
        let (bid, ask) = (9_999 - level, 10_001 + level);
        send(
            e,
            order(base + level as u64, 1, Side::Buy, OrderType::Limit, bid, 3),
            TimeInForce::Gtc,
        );
        send(
            e,
            order(
                base + 4 + level as u64,
                2,
                Side::Sell,
                OrderType::Limit,
                ask,
                3,
            ),
            TimeInForce::Gtc,
        );
    }
    // Takers: a market sweep over two levels, an IOC partial, a FOK that cannot fill,
    // a post-only that would cross (refused), a self-trade against maker 2.
    send(
        e,
        order(base + 8, 3, Side::Buy, OrderType::Market, 0, 5),
        TimeInForce::Ioc,
    );
    send(
        e,
        order(base + 9, 3, Side::Sell, OrderType::Limit, 9_998, 4),
        TimeInForce::Ioc,
    );
    send(
        e,
        order(base + 10, 3, Side::Buy, OrderType::Limit, 10_002, 1_000),
        TimeInForce::Fok,
    );
    send(
        e,
        order(base + 11, 3, Side::Buy, OrderType::Limit, 10_003, 1),
        TimeInForce::PostOnly,
    );
    send(
        e,
        order(base + 12, 2, Side::Buy, OrderType::Limit, 10_004, 2),
        TimeInForce::Gtc,
    );
    send(
        e,
        order(base + 13, 3, Side::Sell, OrderType::Limit, 0, 1),
        TimeInForce::Gtc,
    );
    // Makers move and pull what is left, including ids that have already gone.
    for id in base..base + 8 {
        out.clear();
        e.replace(id, 10_000 + (id % 3) as i64, 2, k, out);
        reports += out.len();
        out.clear();
        e.cancel(id, k, out);
        reports += out.len();
    }
    reports
}

#[test]
fn submit_cancel_and_replace_allocate_nothing_once_warm() {
    let mut e = MatchingEngine::new(EngineConfig {
        instruments: vec![VenueInstrument {
            quote_per_tick_lot: 0.01,
            fees: FeeSchedule {
                maker_bps: -1.0,
                taker_bps: 5.0,
            },
        }],
        stp: StpMode::CancelNewest,
        capacity: CAPACITY,
    })
    .unwrap();
    let mut out = Vec::with_capacity(256);
    for k in 0..100 {
        round(&mut e, k, &mut out);
    }
    let (reports, allocs) = allocations_of(|| {
        (100..5_100)
            .map(|k| round(&mut e, k, &mut out))
            .sum::<usize>()
    });
    assert!(reports > 100_000, "the rounds did work: {reports} reports");
    assert_eq!(e.open_orders(), 0, "every round cleans up after itself");
    assert_eq!(allocs, 0, "the matching engine allocated");
}
