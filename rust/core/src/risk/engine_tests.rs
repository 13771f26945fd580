//! Every pre-trade check with an order it accepts and one it refuses, the lifecycle hooks,
//! the breakers through the engine, and the property that no sequence of accepted orders
//! and fills leaves a position, exposure or open-order limit exceeded.

use super::*;
use crate::model::EventKind;
use crate::risk::limits::{InstrumentLimits, RateBreaker};
use crate::risk::state::StateReason;
use proptest::prelude::*;

const T0: u64 = 1_700_000_000_000_000_000;
const BTC: u32 = 0;
const ETH: u32 = 1;

/// BTC on venue 1: tick 0.1, lot 0.001 -> 0.0001 quote per tick-lot; reference 50_000.0
/// (500_000 ticks), so one lot is worth 50 quote. ETH on venue 2: 0.01 x 0.01 -> 0.0001,
/// reference 2_500.00 (250_000 ticks), one lot 25 quote.
fn engine_with(f: impl FnOnce(&mut RiskLimits)) -> RiskEngine {
    let mut limits = RiskLimits::permissive(2, 100);
    limits.instruments[0] = InstrumentLimits {
        min_price_ticks: 100_000,
        max_price_ticks: 1_000_000,
        min_qty_lots: 2,
        max_qty_lots: 40,
        min_notional_quote: 99.0,
        max_notional_quote: 1_500.0,
        max_position_lots: 60,
        price_band_bps: 200.0, // 2%: 490_000 ..= 510_000 around 500_000
    };
    limits.max_reference_age_ns = 1_000_000_000;
    f(&mut limits);
    let btc = Instrument::new("BTCUSDT", 1, "0.1", "0.001").unwrap();
    let eth = Instrument::new("ETHUSDT", 2, "0.01", "0.01").unwrap();
    let specs = vec![
        InstrumentSpec::from_instrument(&btc, 1.0).unwrap(),
        InstrumentSpec::from_instrument(&eth, 1.0).unwrap(),
    ];
    let mut e = RiskEngine::new(specs, limits, 100_000.0).unwrap();
    e.on_reference_price(BTC, 500_000, T0).unwrap();
    e.on_reference_price(ETH, 250_000, T0).unwrap();
    e
}

fn engine() -> RiskEngine {
    engine_with(|_| {})
}

fn buy(qty: i64, px: i64, id: u64) -> OrderRequest {
    OrderRequest::limit(BTC, 1, Side::Buy, px, qty, id)
}

fn sell(qty: i64, px: i64, id: u64) -> OrderRequest {
    OrderRequest::limit(BTC, 1, Side::Sell, px, qty, id)
}

fn fill(o: &OrderRequest, qty: i64) -> Fill {
    Fill {
        client_order_id: o.client_order_id,
        instrument: o.instrument,
        side: o.side,
        price_ticks: o.price_ticks,
        qty_lots: qty,
        fee_quote: 0.0,
        ts_ns: T0,
    }
}

/// `ok` passes and `bad` is refused with `reason`, on fresh engines built by `make`.
fn accepts_and_refuses(
    make: impl Fn() -> RiskEngine,
    ok: OrderRequest,
    bad: OrderRequest,
    reason: RejectReason,
) {
    assert_eq!(make().check(&ok, T0), Ok(()), "expected {ok:?} to pass");
    let mut e = make();
    assert_eq!(
        e.check(&bad, T0),
        Err(reason),
        "expected {bad:?} to be refused"
    );
    assert_eq!(e.reject_counts()[reason.code() as usize], 1);
}

#[test]
fn unknown_instrument_venue_strategy_and_side() {
    let ok = buy(10, 500_000, 1);
    accepts_and_refuses(
        engine,
        ok,
        OrderRequest {
            instrument: 7,
            ..ok
        },
        RejectReason::UnknownInstrument,
    );
    accepts_and_refuses(
        engine,
        ok,
        OrderRequest { venue: 2, ..ok },
        RejectReason::VenueMismatch,
    );
    accepts_and_refuses(
        engine,
        OrderRequest {
            strategy_id: 15,
            ..ok
        },
        OrderRequest {
            strategy_id: 16,
            ..ok
        },
        RejectReason::UnknownStrategy,
    );
    accepts_and_refuses(
        engine,
        ok,
        OrderRequest {
            side: Side::None,
            ..ok
        },
        RejectReason::InvalidSide,
    );
}

#[test]
fn quantity_and_price_bounds() {
    accepts_and_refuses(
        engine,
        buy(2, 500_000, 1),
        buy(1, 500_000, 1),
        RejectReason::QtyBelowMin,
    );
    accepts_and_refuses(
        engine,
        buy(2, 500_000, 1),
        buy(-5, 500_000, 1),
        RejectReason::QtyBelowMin,
    );
    accepts_and_refuses(
        engine,
        buy(30, 500_000, 1),
        buy(41, 500_000, 1),
        RejectReason::QtyAboveMax,
    );
    accepts_and_refuses(
        engine,
        buy(10, 500_000, 1),
        buy(10, 0, 1),
        RejectReason::PriceNotPositive,
    );
    accepts_and_refuses(
        engine,
        buy(10, 500_000, 1),
        buy(10, -3, 1),
        RejectReason::PriceNotPositive,
    );
    let wide = || engine_with(|l| l.instruments[0].price_band_bps = 1e6);
    accepts_and_refuses(
        wide,
        buy(10, 100_000, 1),
        buy(10, 99_999, 1),
        RejectReason::PriceBelowMin,
    );
    accepts_and_refuses(
        wide,
        buy(1, 1_000_000, 1).with_qty(2),
        buy(2, 1_000_001, 1),
        RejectReason::PriceAboveMax,
    );
}

trait WithQty {
    fn with_qty(self, q: i64) -> Self;
}
impl WithQty for OrderRequest {
    fn with_qty(self, q: i64) -> Self {
        OrderRequest {
            qty_lots: q,
            ..self
        }
    }
}

#[test]
fn notional_bounds_use_the_limit_price_or_the_reference_for_market_orders() {
    // One lot at 500_000 ticks is 50 quote: 2 lots at 495_000 = 99 (the minimum), 30 lots
    // at 500_000 = 1500 (the maximum).
    accepts_and_refuses(
        engine,
        buy(2, 495_000, 1),
        buy(2, 494_999, 1),
        RejectReason::NotionalBelowMin,
    );
    accepts_and_refuses(
        engine,
        buy(30, 500_000, 1),
        buy(30, 500_001, 1),
        RejectReason::NotionalAboveMax,
    );
    let m = OrderRequest::market(BTC, 1, Side::Buy, 30, 1);
    accepts_and_refuses(engine, m, m.with_qty(31), RejectReason::NotionalAboveMax);
}

#[test]
fn price_band_around_the_reference_price() {
    // 2% of 500_000 is 10_000 ticks either side.
    accepts_and_refuses(
        engine,
        buy(2, 510_000, 1),
        buy(2, 510_001, 1),
        RejectReason::PriceBand,
    );
    accepts_and_refuses(
        engine,
        sell(3, 490_000, 1),
        sell(3, 489_999, 1),
        RejectReason::PriceBand,
    );
}

#[test]
fn reference_price_must_exist_and_be_fresh() {
    let o = buy(10, 500_000, 1);
    let mut e = engine();
    assert_eq!(e.check(&o, T0 + 1_000_000_000), Ok(()));
    assert_eq!(
        e.check(&o, T0 + 1_000_000_001),
        Err(RejectReason::StaleReferencePrice)
    );
    let limits = RiskLimits::permissive(1, 10);
    let mut e = RiskEngine::new(vec![InstrumentSpec::new(0, 1.0).unwrap()], limits, 0.0).unwrap();
    let o = OrderRequest::limit(0, 0, Side::Buy, 100, 1, 1);
    assert_eq!(e.check(&o, T0), Err(RejectReason::NoReferencePrice));
    e.on_reference_price(0, 100, T0).unwrap();
    assert_eq!(e.check(&o, T0), Ok(()));
    assert!(e.on_reference_price(0, 0, T0).is_err());
}

#[test]
fn position_limit_counts_working_orders_as_filled() {
    let big = |stp| {
        engine_with(move |l| {
            l.instruments[0].max_notional_quote = 10_000.0;
            l.self_trade_prevention = stp;
        })
    };
    let mut e = big(true);
    let a = buy(25, 500_000, 1);
    e.submit(&a, T0).unwrap();
    e.on_fill(&fill(&a, 25)).unwrap();
    e.submit(&buy(25, 500_000, 2), T0).unwrap(); // 25 filled + 25 working
    assert_eq!(e.check(&buy(10, 500_000, 3), T0), Ok(())); // 60: at the limit
    assert_eq!(
        e.check(&buy(11, 500_000, 4), T0),
        Err(RejectReason::PositionLimit)
    );
    // Our bid at 500_000 is resting: a sell there would trade with it.
    assert_eq!(
        e.check(&sell(40, 500_000, 5), T0),
        Err(RejectReason::SelfTrade)
    );
    // Short side, no position: -40 - 20 = -60 is the limit.
    let mut e = big(false);
    e.submit(&sell(40, 500_000, 5), T0).unwrap();
    e.submit(&sell(20, 500_000, 6), T0).unwrap();
    assert_eq!(
        e.check(&sell(2, 500_000, 7), T0),
        Err(RejectReason::PositionLimit)
    );
    e.on_order_done(6).unwrap();
    assert_eq!(e.check(&sell(2, 500_000, 7), T0), Ok(()));
}

#[test]
fn gross_and_net_exposure_limits() {
    // BTC lot = 50 quote, ETH lot = 25 quote.
    let make = || {
        engine_with(|l| {
            l.max_gross_exposure_quote = 2_000.0;
            l.max_net_exposure_quote = 1_000.0;
            l.self_trade_prevention = false;
        })
    };
    let eth_buy = |q, id| OrderRequest::limit(ETH, 2, Side::Buy, 250_000, q, id);
    let eth_sell = |q, id| OrderRequest::limit(ETH, 2, Side::Sell, 250_000, q, id);
    // Net: 20 BTC lots long = 1000 quote exactly; one more BTC lot would be 1050.
    let mut e = make();
    let b = buy(20, 500_000, 1);
    e.submit(&b, T0).unwrap();
    assert_eq!(
        e.check(&buy(2, 500_000, 2), T0),
        Err(RejectReason::NetExposureLimit)
    );
    // Gross: long 20 BTC (1000) + short 40 ETH (1000) = 2000, net 0 on fills.
    let s = eth_sell(40, 3);
    assert_eq!(e.check(&s, T0), Ok(()));
    e.on_order_accepted(&s).unwrap();
    assert_eq!(e.worst_case_exposure_quote(), (2000.0, 1000.0, -1000.0));
    assert_eq!(
        e.check(&eth_sell(1, 4), T0),
        Err(RejectReason::GrossExposureLimit)
    );
    // Worst case: an ETH buy adds to the net long if the ETH sells are cancelled.
    assert_eq!(
        e.check(&eth_buy(1, 4), T0),
        Err(RejectReason::NetExposureLimit)
    );
    // Once filled, the book is long 20 BTC and short 40 ETH. A price move takes gross above
    // the limit (1000 + 40 x 30 = 2200); orders that lower it still pass, one that raises
    // it does not.
    e.on_fill(&fill(&b, 20)).unwrap();
    e.on_fill(&fill(&s, 40)).unwrap();
    e.on_reference_price(ETH, 300_000, T0).unwrap();
    assert_eq!(e.worst_case_exposure_quote().0, 2200.0);
    assert_eq!(e.check(&eth_buy(2, 5), T0), Ok(()));
    assert_eq!(e.check(&sell(2, 500_000, 6), T0), Ok(()));
    assert_eq!(
        e.check(&buy(2, 500_000, 7), T0),
        Err(RejectReason::GrossExposureLimit)
    );
}

#[test]
fn open_order_limit() {
    let make = || engine_with(|l| l.max_open_orders = 2);
    let mut e = make();
    e.submit(&buy(2, 500_000, 1), T0).unwrap();
    assert_eq!(e.check(&buy(2, 500_000, 2), T0), Ok(()));
    e.on_order_accepted(&buy(2, 500_000, 2)).unwrap();
    assert_eq!(
        e.check(&buy(2, 500_000, 3), T0),
        Err(RejectReason::OpenOrdersLimit)
    );
    e.on_order_done(1).unwrap();
    assert_eq!(e.check(&buy(2, 500_000, 3), T0), Ok(()));
    assert_eq!(e.open_order_count(), 1);
}

#[test]
fn strategy_and_venue_throttles_slide() {
    let mut e = engine_with(|l| {
        l.strategy_throttle = Some(Throttle {
            max_orders: 2,
            window_ns: 1_000,
        });
        l.venue_throttle = Some(Throttle {
            max_orders: 3,
            window_ns: 1_000,
        });
    });
    let o = |id, strat| OrderRequest {
        strategy_id: strat,
        ..buy(2, 500_000, id)
    };
    assert_eq!(e.check(&o(1, 0), T0), Ok(()));
    assert_eq!(e.check(&o(2, 0), T0 + 10), Ok(()));
    assert_eq!(
        e.check(&o(3, 0), T0 + 999),
        Err(RejectReason::StrategyThrottle)
    );
    assert_eq!(e.check(&o(3, 1), T0 + 999), Ok(())); // another strategy, same venue
    assert_eq!(
        e.check(&o(4, 2), T0 + 999),
        Err(RejectReason::VenueThrottle)
    );
    // ETH is on another venue.
    assert_eq!(
        e.check(
            &OrderRequest {
                strategy_id: 3,
                ..OrderRequest::limit(ETH, 2, Side::Buy, 250_000, 4, 5)
            },
            T0 + 999
        ),
        Ok(())
    );
    assert_eq!(e.check(&o(6, 0), T0 + 1_000), Ok(())); // the first order left the window
    assert_eq!(e.check(&o(7, 2), T0 + 1_010), Ok(()));
}

#[test]
fn self_trade_prevention_against_our_resting_orders() {
    let mut e = engine();
    e.submit(&sell(2, 502_000, 1), T0).unwrap();
    e.submit(&buy(2, 498_000, 2), T0).unwrap();
    assert_eq!(e.check(&buy(2, 501_999, 3), T0), Ok(()));
    assert_eq!(
        e.check(&buy(2, 502_000, 3), T0),
        Err(RejectReason::SelfTrade)
    );
    assert_eq!(e.check(&sell(2, 498_001, 3), T0), Ok(()));
    assert_eq!(
        e.check(&sell(2, 498_000, 3), T0),
        Err(RejectReason::SelfTrade)
    );
    let m = OrderRequest::market(BTC, 1, Side::Buy, 2, 3);
    assert_eq!(e.check(&m, T0), Err(RejectReason::SelfTrade));
    // The best resting ask is recomputed when it leaves.
    e.submit(&sell(2, 505_000, 4), T0).unwrap();
    e.on_order_done(1).unwrap();
    assert_eq!(e.check(&buy(2, 504_999, 5), T0), Ok(()));
    assert_eq!(
        e.check(&buy(2, 505_000, 5), T0),
        Err(RejectReason::SelfTrade)
    );
}

#[test]
fn reduce_only_and_reducing_state_never_grow_or_flip() {
    let mut e = engine();
    let a = buy(10, 500_000, 1);
    e.submit(&a, T0).unwrap();
    e.on_fill(&fill(&a, 10)).unwrap(); // long 10
    let ro = |q, id| OrderRequest {
        reduce_only: true,
        ..sell(q, 500_000, id)
    };
    accepts_and_refuses(
        || {
            let mut e = engine();
            e.on_fill(&fill(&buy(10, 500_000, 99), 10)).unwrap();
            e
        },
        ro(10, 2),
        ro(11, 2),
        RejectReason::ReduceOnly,
    );
    e.submit(&ro(6, 2), T0).unwrap();
    // 6 already working: 5 more could flip the position if both fill.
    assert_eq!(e.check(&ro(5, 3), T0), Err(RejectReason::ReduceOnly));
    assert_eq!(e.check(&ro(4, 3), T0), Ok(()));
    assert_eq!(
        e.check(
            &OrderRequest {
                reduce_only: true,
                ..buy(2, 500_000, 3)
            },
            T0
        ),
        Err(RejectReason::ReduceOnly)
    );
    e.set_state(TradingState::Reducing, T0);
    assert_eq!(e.check(&sell(4, 500_000, 3), T0), Ok(()));
    assert_eq!(
        e.check(&sell(5, 500_000, 3), T0),
        Err(RejectReason::ReducingState)
    );
    assert_eq!(
        e.check(&buy(2, 498_000, 3), T0),
        Err(RejectReason::ReducingState)
    );
    e.set_state(TradingState::Halted, T0);
    assert_eq!(e.check(&sell(4, 500_000, 3), T0), Err(RejectReason::Halted));
    e.set_state(TradingState::Active, T0);
    assert_eq!(e.check(&buy(2, 498_000, 3), T0), Ok(()));
}

#[test]
fn duplicate_client_order_ids_are_refused_while_working_and_after() {
    let make = || {
        let mut e = engine();
        e.submit(&buy(2, 499_000, 1), T0).unwrap();
        e
    };
    accepts_and_refuses(
        make,
        buy(2, 499_000, 2),
        buy(2, 499_000, 1),
        RejectReason::DuplicateClientOrderId,
    );
    let mut e = engine_with(|l| l.duplicate_id_memory = 2);
    for id in 1..=3 {
        e.submit(&buy(2, 499_000, id), T0).unwrap();
        e.on_order_done(id).unwrap();
    }
    // Ids 2 and 3 are remembered, 1 has been forgotten.
    assert_eq!(
        e.check(&buy(2, 499_000, 3), T0),
        Err(RejectReason::DuplicateClientOrderId)
    );
    assert_eq!(e.check(&buy(2, 499_000, 1), T0), Ok(()));
    assert_eq!(e.on_order_done(42), Err(RiskError::UnknownOrder(42)));
}

#[test]
fn non_finite_values_are_refused_everywhere() {
    // A notional that overflows to infinity is a rejection, not an acceptance.
    let mut e = RiskEngine::new(
        vec![InstrumentSpec::new(0, 1e300).unwrap()],
        RiskLimits::permissive(1, i64::MAX),
        0.0,
    )
    .unwrap();
    e.on_reference_price(0, i64::MAX / 2, T0).unwrap();
    let o = OrderRequest::limit(0, 0, Side::Buy, i64::MAX / 2, i64::MAX / 4, 1);
    assert_eq!(e.check(&o, T0), Err(RejectReason::NonFinite));
    assert!(InstrumentSpec::new(0, f64::NAN).is_err());
    assert!(InstrumentSpec::new(0, f64::INFINITY).is_err());
    assert!(InstrumentSpec::new(0, -1.0).is_err());
    let limits = RiskLimits::permissive(1, 1);
    assert!(RiskEngine::new(
        vec![InstrumentSpec::new(0, 1.0).unwrap()],
        limits.clone(),
        f64::NAN
    )
    .is_err());
    let mut e = engine();
    let mut f = fill(&buy(2, 500_000, 1), 2);
    f.fee_quote = f64::NAN;
    assert!(matches!(
        e.on_fill(&f),
        Err(RiskError::NonFinite {
            field: "fee_quote",
            ..
        })
    ));
    f.fee_quote = f64::INFINITY;
    assert!(e.on_fill(&f).is_err());
    assert_eq!(
        e.position(BTC).unwrap().qty_lots,
        0,
        "a refused fill changes nothing"
    );
    let mut bad = e.limits().clone();
    bad.max_net_exposure_quote = f64::NAN;
    let err = e.set_limits(bad).unwrap_err();
    assert!(err.to_string().contains("max_net_exposure_quote"));
    assert!(e.kelly_qty_lots(BTC, Side::Buy, f64::NAN, None).is_err());
}

#[test]
fn set_limits_applies_at_run_time_and_checks_the_instrument_count() {
    let mut e = engine();
    assert_eq!(e.check(&buy(30, 500_000, 1), T0), Ok(()));
    let mut l = e.limits().clone();
    l.instruments[0].max_qty_lots = 20;
    e.set_limits(l.clone()).unwrap();
    assert_eq!(
        e.check(&buy(30, 500_000, 2), T0),
        Err(RejectReason::QtyAboveMax)
    );
    l.instruments.pop();
    assert!(
        matches!(e.set_limits(l), Err(RiskError::Limits(LimitsError { ref field, .. })) if field == "instruments")
    );
}

#[test]
fn fills_update_positions_pnl_and_finish_orders() {
    let mut e = engine();
    let a = buy(10, 500_000, 1);
    e.submit(&a, T0).unwrap();
    e.on_fill(&Fill {
        fee_quote: 0.5,
        ..fill(&a, 4)
    })
    .unwrap();
    assert_eq!(e.working_order(1).unwrap().remaining_lots, 6);
    assert_eq!(e.open_lots(BTC), Some((6, 0)));
    e.on_fill(&fill(&a, 6)).unwrap();
    assert_eq!(e.open_order_count(), 0, "a fully filled order is done");
    assert_eq!(e.position(BTC).unwrap().qty_lots, 10);
    // Mark 505_000: 10 lots x 5_000 ticks x 0.0001 = 5 quote unrealized.
    e.on_reference_price(BTC, 505_000, T0 + 1).unwrap();
    let p = e.pnl();
    assert!((p.unrealized_pnl_quote - 5.0).abs() < 1e-9);
    assert!((e.equity_quote() - (100_000.0 + 5.0 - 0.5)).abs() < 1e-9);
    // 10 lots x 505_000 x 0.0001 = 505
    assert!((p.gross_exposure_quote - 505.0).abs() < 1e-9);
}

#[test]
fn breakers_through_the_engine_emit_risk_state_events() {
    let mut e = engine_with(|l| {
        l.breakers.max_drawdown_frac = Some(0.0001); // 10 quote on 100_000
        l.breakers.reject_rate = Some(RateBreaker {
            max_events: 1,
            window_ns: 1_000,
            action: TradingState::Halted,
        });
    });
    let a = buy(20, 500_000, 1);
    e.submit(&a, T0).unwrap();
    e.on_fill(&fill(&a, 20)).unwrap();
    // 20 lots x -11_000 ticks x 0.0001 = -22 quote: more than 10 below the peak.
    e.on_reference_price(BTC, 489_000, T0 + 5).unwrap();
    assert_eq!(e.state(), TradingState::Halted);
    let ev = e.take_events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].event_kind(), Some(EventKind::RiskState));
    assert_eq!(ev[0].aux, i64::from(StateReason::Drawdown.code()));
    assert_eq!(ev[0].qty_lots, TradingState::Halted as i64);
    assert_eq!(
        e.check(&sell(3, 489_000, 2), T0 + 6),
        Err(RejectReason::Halted)
    );
    assert!(e.reset(T0 + 7, false).is_err());
    e.reset(T0 + 7, true).unwrap();
    assert_eq!(e.state(), TradingState::Active);
    assert_eq!(e.take_events()[0].aux, i64::from(StateReason::Reset.code()));
    // Venue rejects.
    e.submit(&sell(3, 489_000, 2), T0 + 8).unwrap();
    e.submit(&sell(3, 489_000, 3), T0 + 8).unwrap();
    e.on_order_rejected(2, T0 + 9).unwrap();
    assert_eq!(e.state(), TradingState::Active);
    e.on_order_rejected(3, T0 + 10).unwrap();
    assert_eq!(e.state(), TradingState::Halted);
    assert_eq!(e.open_order_count(), 0);
}

#[test]
fn a_replace_is_checked_as_the_order_it_makes_without_the_one_it_replaces() {
    let mut e = engine_with(|l| {
        l.instruments[0].max_notional_quote = 10_000.0;
        l.max_open_orders = 2;
    });
    e.submit(&buy(30, 500_000, 1), T0).unwrap();
    e.submit(&buy(25, 499_000, 2), T0).unwrap();
    // 55 working of a 60 position limit: order 1 may grow by 5, not by 6.
    assert_eq!(e.check_replace(1, 500_000, 35, T0), Ok(()));
    assert_eq!(
        e.check_replace(1, 500_000, 36, T0),
        Err(RejectReason::PositionLimit)
    );
    // The same checks as a new order: size, band, notional.
    assert_eq!(
        e.check_replace(2, 499_000, 41, T0),
        Err(RejectReason::QtyAboveMax)
    );
    assert_eq!(
        e.check_replace(2, 520_000, 20, T0),
        Err(RejectReason::PriceBand)
    );
    assert_eq!(
        e.check_replace(2, 499_000, 1, T0),
        Err(RejectReason::QtyBelowMin)
    );
    // Neither its own id nor its own slot counts against it (two open orders, limit 2).
    assert_eq!(e.check_replace(2, 498_000, 25, T0), Ok(()));
    // Halted: nothing changes, replaces included.
    e.kill_switch(T0);
    assert_eq!(
        e.check_replace(2, 498_000, 10, T0),
        Err(RejectReason::Halted)
    );
    // An order the engine does not know goes to the venue, which answers it.
    assert_eq!(e.check_replace(99, 498_000, 10, T0), Ok(()));
}

#[test]
fn a_reduce_only_order_stays_reduce_only_when_replaced() {
    let mut e = engine_with(|l| l.instruments[0].max_notional_quote = 10_000.0);
    let long = buy(20, 500_000, 1);
    e.submit(&long, T0).unwrap();
    e.on_fill(&fill(&long, 20)).unwrap();
    let mut exit = sell(10, 500_000, 2);
    exit.reduce_only = true;
    e.submit(&exit, T0).unwrap();
    assert_eq!(e.check_replace(2, 500_000, 20, T0), Ok(()));
    assert_eq!(
        e.check_replace(2, 500_000, 21, T0),
        Err(RejectReason::ReduceOnly)
    );
}

#[test]
fn kill_switch_halts_and_lists_working_orders() {
    let mut e = engine();
    e.submit(&buy(2, 499_000, 11), T0).unwrap();
    e.submit(&sell(2, 501_000, 12), T0).unwrap();
    e.submit(&buy(2, 499_000, 13), T0).unwrap();
    e.on_order_done(13).unwrap();
    let mut ids = e.kill_switch(T0 + 1);
    ids.sort_unstable();
    assert_eq!(ids, vec![11, 12]);
    assert_eq!(e.state(), TradingState::Halted);
    assert_eq!(
        e.check(&buy(2, 499_000, 14), T0 + 2),
        Err(RejectReason::Halted)
    );
    assert_eq!(e.take_state_changes()[0].reason, StateReason::KillSwitch);
    e.reset(T0 + 3, false).unwrap();
    assert_eq!(e.check(&buy(2, 499_000, 14), T0 + 3), Ok(()));
}

#[test]
fn stale_data_breaker_through_on_clock() {
    let mut e = engine_with(|l| l.breakers.stale_data_ns = Some(5_000));
    e.on_clock(T0 + 5_000);
    assert_eq!(e.state(), TradingState::Active);
    e.on_clock(T0 + 5_001);
    assert_eq!(e.state(), TradingState::Halted);
    assert!(e.reset(T0 + 5_002, false).is_err());
    e.on_reference_price(BTC, 500_000, T0 + 5_002).unwrap();
    e.on_reference_price(ETH, 250_000, T0 + 5_002).unwrap();
    e.reset(T0 + 5_003, false).unwrap();
    assert_eq!(e.state(), TradingState::Active);
}

#[test]
fn kelly_sizing_stays_within_the_engine_limits() {
    let e = engine();
    // 1% of 100_000 = 1000 quote at 50 per lot = 20 lots.
    assert_eq!(e.kelly_qty_lots(BTC, Side::Buy, 0.01, None).unwrap(), 20);
    // 10% would be 200 lots: capped by max notional 1500 / 50 = 30.
    assert_eq!(e.kelly_qty_lots(BTC, Side::Buy, 0.10, None).unwrap(), 30);
    // Tiny fractions below min_qty_lots give 0.
    assert_eq!(e.kelly_qty_lots(BTC, Side::Buy, 0.00001, None).unwrap(), 0);
    let q = e
        .kelly_qty_lots(BTC, Side::Sell, 0.10, Some(500_000))
        .unwrap();
    let mut e2 = engine();
    assert_eq!(e2.check(&sell(q, 500_000, 1), T0), Ok(()));
}

// ------------------------------------------------------------------ property

#[derive(Debug, Clone)]
enum Op {
    Submit {
        inst: bool,
        buy: bool,
        market: bool,
        qty: i64,
        offset: i64,
        reduce: bool,
    },
    Fill {
        pick: usize,
        frac: u8,
    },
    Cancel {
        pick: usize,
    },
    Replace {
        pick: usize,
        qty: i64,
        offset: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), any::<bool>(), any::<bool>(), 1i64..30, -300i64..300, any::<bool>())
            .prop_map(|(inst, buy, market, qty, offset, reduce)| Op::Submit { inst, buy, market, qty, offset, reduce }),
        3 => (any::<usize>(), 1u8..=4).prop_map(|(pick, frac)| Op::Fill { pick, frac }),
        1 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        2 => (any::<usize>(), 1i64..60, -300i64..300).prop_map(|(pick, qty, offset)| Op::Replace { pick, qty, offset }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn no_sequence_of_accepted_orders_and_fills_exceeds_a_limit(ops in proptest::collection::vec(op(), 1..120)) {
        let mut e = engine_with(|l| {
            l.instruments[0] = InstrumentLimits::permissive(45);
            l.instruments[1] = InstrumentLimits::permissive(70);
            l.max_gross_exposure_quote = 3_000.0;
            l.max_net_exposure_quote = 1_800.0;
            l.max_open_orders = 5;
        });
        let refs = [500_000i64, 250_000];
        let value = [50.0f64, 25.0]; // quote per lot at the reference prices
        let max_pos = [45i64, 70];
        // The test's own book of working orders: (order, remaining).
        let mut working: Vec<(OrderRequest, i64)> = Vec::new();
        let mut pos = [0i64; 2];
        let mut next_id = 1u64;
        // One order that must pass, so that no case is vacuous.
        let first = buy(5, 500_000, 1_000_000);
        prop_assert_eq!(e.submit(&first, T0), Ok(()));
        working.push((first, 5));
        let mut accepted = 1;
        for op in ops {
            match op {
                Op::Submit { inst, buy, market, qty, offset, reduce } => {
                    let i = usize::from(inst);
                    let side = if buy { Side::Buy } else { Side::Sell };
                    let o = OrderRequest {
                        instrument: i as u32,
                        side,
                        order_type: if market { OrderType::Market } else { OrderType::Limit },
                        price_ticks: if market { 0 } else { refs[i] + offset },
                        qty_lots: qty,
                        client_order_id: next_id,
                        strategy_id: 0,
                        venue: if i == 0 { 1 } else { 2 },
                        reduce_only: reduce,
                        ts_ns: T0,
                    };
                    next_id += 1;
                    if e.submit(&o, T0).is_ok() {
                        accepted += 1;
                        working.push((o, qty));
                    }
                }
                Op::Fill { pick, frac } => {
                    if working.is_empty() { continue; }
                    let k = pick % working.len();
                    let (o, rem) = working[k];
                    let q = (rem * i64::from(frac) / 4).max(1);
                    let px = if o.order_type == OrderType::Market { refs[o.instrument as usize] } else { o.price_ticks };
                    e.on_fill(&Fill { price_ticks: px, ..fill(&o, q) }).unwrap();
                    pos[o.instrument as usize] += if o.side == Side::Buy { q } else { -q };
                    if q == rem { working.remove(k); } else { working[k].1 -= q; }
                }
                Op::Cancel { pick } => {
                    if working.is_empty() { continue; }
                    let k = pick % working.len();
                    e.on_order_done(working.remove(k).0.client_order_id).unwrap();
                }
                Op::Replace { pick, qty, offset } => {
                    if working.is_empty() { continue; }
                    let k = pick % working.len();
                    let (o, _) = working[k];
                    let px = if o.order_type == OrderType::Market { o.price_ticks } else { refs[o.instrument as usize] + offset };
                    if e.check_replace(o.client_order_id, px, qty, T0).is_ok() {
                        // What the venue's `Replaced` report makes the sims do.
                        let n = OrderRequest { price_ticks: px, qty_lots: qty, ..o };
                        e.on_order_done(o.client_order_id).unwrap();
                        e.on_order_accepted(&n).unwrap();
                        working[k] = (n, qty);
                    }
                }
            }
            // Independent recomputation from the test's own book.
            prop_assert_eq!(e.open_order_count(), working.len());
            prop_assert!(working.len() <= 5);
            let mut long = [0i64; 2];
            let mut short = [0i64; 2];
            for i in 0..2 {
                long[i] = pos[i];
                short[i] = pos[i];
                prop_assert_eq!(e.position(i as u32).unwrap().qty_lots, pos[i]);
            }
            for (o, rem) in &working {
                let i = o.instrument as usize;
                if o.side == Side::Buy { long[i] += rem } else { short[i] -= rem }
            }
            let tol = 1.0 + 1e-12;
            let (mut gross, mut net_long, mut net_short, mut gross_now, mut net_now) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for i in 0..2 {
                prop_assert!(long[i] <= max_pos[i] && short[i] >= -max_pos[i], "position {i}: {} ..= {}", short[i], long[i]);
                gross += (long[i].abs().max(short[i].abs())) as f64 * value[i];
                net_long += long[i] as f64 * value[i];
                net_short += short[i] as f64 * value[i];
                gross_now += pos[i].abs() as f64 * value[i];
                net_now += pos[i] as f64 * value[i];
            }
            prop_assert!(gross <= 3_000.0 * tol, "worst-case gross {gross}");
            prop_assert!(net_long <= 1_800.0 * tol && -net_short <= 1_800.0 * tol, "worst-case net {net_long} {net_short}");
            prop_assert!(gross_now <= 3_000.0 * tol && net_now.abs() <= 1_800.0 * tol);
        }
        prop_assert!(accepted > 0);
    }
}
