//! `RiskEngine::check` allocates nothing: counted by a global allocator over accepted and
//! refused orders, with throttles, self-trade prevention and breakers all on.

mod common;

use baconalgo_core::model::Side;
use baconalgo_core::risk::{
    InstrumentSpec, OrderRequest, RejectReason, RiskEngine, RiskLimits, Throttle,
};
use common::counting_alloc::{allocations_of, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn check_allocates_nothing_on_accept_or_reject() {
    let specs = vec![InstrumentSpec::new(0, 0.01).unwrap(); 4];
    let mut limits = RiskLimits::permissive(4, 1_000);
    limits.strategy_throttle = Some(Throttle {
        max_orders: 50,
        window_ns: 1_000_000,
    });
    limits.venue_throttle = Some(Throttle {
        max_orders: 80,
        window_ns: 1_000_000,
    });
    let mut e = RiskEngine::new(specs, limits, 1e6).unwrap();
    for i in 0..4 {
        e.on_reference_price(i, 10_000, 1).unwrap();
        e.submit(
            &OrderRequest::limit(i, 0, Side::Sell, 10_100, 5, 1_000 + u64::from(i)),
            1,
        )
        .unwrap();
    }
    let ((ok, refused), allocs) = allocations_of(|| {
        let (mut ok, mut refused) = (0, 0);
        for k in 0..20_000u64 {
            let side = if k % 2 == 0 { Side::Buy } else { Side::Sell };
            // Every third buy crosses our resting sell (self-trade); throttles refuse bursts.
            let px = if k % 6 == 0 { 10_100 } else { 10_000 };
            let o = OrderRequest {
                strategy_id: (k % 3) as u16,
                ..OrderRequest::limit(
                    (k % 4) as u32,
                    0,
                    side,
                    px,
                    1 + (k % 7) as i64,
                    1_000_000 + k,
                )
            };
            match e.check(&o, 2 + k * 1_000) {
                Ok(()) => ok += 1,
                Err(
                    RejectReason::SelfTrade
                    | RejectReason::StrategyThrottle
                    | RejectReason::VenueThrottle,
                ) => refused += 1,
                Err(other) => panic!("unexpected refusal {other:?}"),
            }
        }
        (ok, refused)
    });
    assert!(
        ok > 1_000 && refused > 1_000,
        "both paths exercised: {ok} accepted, {refused} refused"
    );
    assert_eq!(allocs, 0, "check() allocated");
}
