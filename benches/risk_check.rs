//! Latency of `RiskEngine::check` with every check switched on, over 1M orders: p50 / p99 /
//! p99.9 and a histogram, plus the mean from one batch timing (no per-call clock reads).
//!
//! `cargo bench -p baconalgo-core --bench risk_check`. The book: 16 instruments on 4
//! venues with fresh reference prices, positions and 256 working orders (so the duplicate,
//! self-trade, position and exposure checks all have something to read), strategy and
//! venue throttles, every breaker configured. Orders pass every check, so each call runs
//! the whole list. Per-call timings include one `Instant::now()` pair (about 20-40 ns on
//! this kind of machine); the batch mean does not.

use std::hint::black_box;
use std::time::Instant;

use baconalgo_core::model::Side;
use baconalgo_core::risk::{
    Fill, InstrumentLimits, InstrumentSpec, OrderRequest, RateBreaker, RiskEngine, RiskLimits,
    Throttle, TradingState, VolatilityHalt,
};

const N_INSTRUMENTS: u32 = 16;
const ORDERS: usize = 1_000_000;
const WARMUP: usize = 50_000;
const T0: u64 = 1_700_000_000_000_000_000;
const REF_TICKS: i64 = 1_000_000;
/// Simulated time between orders: 2 us, i.e. 500k orders/s through the throttles.
const STEP_NS: u64 = 2_000;

fn build() -> RiskEngine {
    let specs: Vec<InstrumentSpec> = (0..N_INSTRUMENTS)
        .map(|i| InstrumentSpec::new((i % 4) as u8, 1e-5).unwrap())
        .collect();
    let mut l = RiskLimits::permissive(N_INSTRUMENTS as usize, 0);
    for x in &mut l.instruments {
        *x = InstrumentLimits {
            min_price_ticks: 1,
            max_price_ticks: 10 * REF_TICKS,
            min_qty_lots: 1,
            max_qty_lots: 1_000,
            min_notional_quote: 1.0,
            max_notional_quote: 1e6,
            max_position_lots: 1_000_000,
            price_band_bps: 500.0,
        };
    }
    l.max_gross_exposure_quote = 1e12;
    l.max_net_exposure_quote = 1e12;
    l.max_open_orders = 10_000;
    l.strategy_count = 8;
    l.strategy_throttle = Some(Throttle {
        max_orders: 1_000,
        window_ns: 1_000_000,
    });
    l.venue_throttle = Some(Throttle {
        max_orders: 2_000,
        window_ns: 1_000_000,
    });
    l.max_reference_age_ns = 60_000_000_000;
    l.self_trade_prevention = true;
    l.duplicate_id_memory = 100_000;
    l.breakers.max_drawdown_frac = Some(0.5);
    l.breakers.max_daily_loss_quote = Some(1e9);
    l.breakers.volatility = Some(VolatilityHalt {
        max_move_frac: 0.5,
        window_ns: 1_000_000_000,
        action: TradingState::Halted,
    });
    l.breakers.reject_rate = Some(RateBreaker {
        max_events: 100,
        window_ns: 1_000_000_000,
        action: TradingState::Halted,
    });
    l.breakers.error_rate = Some(RateBreaker {
        max_events: 100,
        window_ns: 1_000_000_000,
        action: TradingState::Halted,
    });
    l.breakers.stale_data_ns = Some(60_000_000_000);
    let mut e = RiskEngine::new(specs, l, 1e9).unwrap();
    for i in 0..N_INSTRUMENTS {
        e.on_reference_price(i, REF_TICKS, T0).unwrap();
    }
    // Positions and resting orders on both sides, away from the prices the bench uses.
    for k in 0..256u32 {
        let id = (1u64 << 40) + u64::from(k);
        let i = k % N_INSTRUMENTS;
        let buy = k % 2 == 0;
        let o = OrderRequest {
            strategy_id: (k % 8) as u16,
            ..OrderRequest::limit(
                i,
                (i % 4) as u8,
                if buy { Side::Buy } else { Side::Sell },
                if buy {
                    REF_TICKS - 20_000
                } else {
                    REF_TICKS + 20_000
                },
                10,
                id,
            )
        };
        e.submit(&o, T0).unwrap();
        if k % 4 == 0 {
            e.on_fill(&Fill {
                client_order_id: id,
                instrument: i,
                side: o.side,
                price_ticks: o.price_ticks,
                qty_lots: 5,
                fee_quote: 0.01,
                ts_ns: T0,
            })
            .unwrap();
        }
    }
    e
}

fn order(k: usize) -> OrderRequest {
    let i = (k as u32 * 7) % N_INSTRUMENTS;
    let buy = k % 2 == 0;
    OrderRequest {
        strategy_id: (k % 8) as u16,
        ..OrderRequest::limit(
            i,
            (i % 4) as u8,
            if buy { Side::Buy } else { Side::Sell },
            REF_TICKS
                + if buy {
                    -(k as i64 % 100)
                } else {
                    k as i64 % 100
                },
            1 + (k as i64 % 50),
            k as u64 + 1,
        )
    }
}

fn main() {
    let mut e = build();
    let orders: Vec<OrderRequest> = (0..ORDERS + WARMUP).map(order).collect();
    let mut lat = Vec::with_capacity(ORDERS);
    let mut rejected = 0usize;
    for (k, o) in orders.iter().enumerate() {
        let now = T0 + k as u64 * STEP_NS;
        let t = Instant::now();
        let r = black_box(e.check(black_box(o), now));
        let dt = t.elapsed().as_nanos() as u64;
        rejected += usize::from(r.is_err());
        if k >= WARMUP {
            lat.push(dt);
        }
    }
    assert_eq!(
        rejected,
        0,
        "the bench orders must pass every check: {:?}",
        e.reject_counts()
    );

    // Batch mean on a fresh engine: no clock reads inside the loop.
    let mut e = build();
    let t = Instant::now();
    for (k, o) in orders.iter().enumerate() {
        black_box(e.check(black_box(o), T0 + k as u64 * STEP_NS)).ok();
    }
    let mean_ns = t.elapsed().as_nanos() as f64 / orders.len() as f64;

    lat.sort_unstable();
    let at = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize];
    println!("risk check, all checks on, {N_INSTRUMENTS} instruments, 256 working orders, {ORDERS} orders");
    println!(
        "  per call (incl. clock): p50 {} ns  p90 {} ns  p99 {} ns  p99.9 {} ns  max {} ns",
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        lat[lat.len() - 1]
    );
    println!("  batch mean (no clock):  {mean_ns:.1} ns/check");
    let bounds = [25u64, 50, 100, 200, 500, 1_000, 10_000, u64::MAX];
    let mut lo = 0;
    for b in bounds {
        let n = lat.partition_point(|&x| x < b) - lat.partition_point(|&x| x < lo);
        let label = if b == u64::MAX {
            format!(">= {lo} ns")
        } else {
            format!("[{lo}, {b}) ns")
        };
        println!(
            "  {label:>18}: {n:>8} {:>7.3}%",
            100.0 * n as f64 / lat.len() as f64
        );
        lo = b;
    }

    // The order lifecycle around a check: submit (check + register) then done.
    let mut e = build();
    let t = Instant::now();
    for (k, o) in orders.iter().take(ORDERS).enumerate() {
        let o = OrderRequest {
            client_order_id: o.client_order_id + (1 << 50),
            ..*o
        };
        if e.submit(&o, T0 + k as u64 * STEP_NS).is_ok() {
            e.on_order_done(o.client_order_id).ok();
        }
    }
    println!(
        "  submit + on_order_done: {:.1} ns/order (mean)",
        t.elapsed().as_nanos() as f64 / ORDERS as f64
    );
}
