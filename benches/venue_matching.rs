//! Throughput of the native matching engine (`venue::MatchingEngine`) on a seeded order
//! flow: 1M requests, about 55 % limit orders within 20 ticks of the mid (some cross),
//! 25 % cancels of working orders, 10 % IOC, 5 % market, 5 % replaces; five owners with
//! cancel-newest self-trade prevention. Reports go to one reused vector. Prints requests
//! per second (best and median of 7 runs) and the fills made.
//!
//! `cargo bench -p baconalgo-core --bench venue_matching`.

use std::hint::black_box;
use std::time::Instant;

use baconalgo_core::model::{OrderRequest, OrderType, Side, TimeInForce};
use baconalgo_core::venue::{
    EngineConfig, ExecReport, FeeSchedule, MatchingEngine, StpMode, VenueInstrument,
};

const REQUESTS: usize = 1_000_000;

#[derive(Clone, Copy)]
enum Req {
    Submit(OrderRequest, TimeInForce),
    Cancel(u64),
    Replace(u64, i64, i64),
}

fn flow() -> Vec<Req> {
    // splitmix64: a fixed, dependency-free stream.
    let mut s = 0x1234_5678_u64;
    let mut rnd = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut reqs = Vec::with_capacity(REQUESTS);
    let mut next_id = 0u64;
    let mid = 100_000i64;
    for _ in 0..REQUESTS {
        let k = rnd() % 100;
        let side = if rnd() % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let off = (rnd() % 20) as i64 - 4;
        // Buys below the mid, sells above, with some overlap so orders cross.
        let px = if side == Side::Buy {
            mid - off
        } else {
            mid + off
        };
        let qty = 1 + (rnd() % 10) as i64;
        let owner = (rnd() % 5) as u16;
        let recent = |r: u64| next_id.saturating_sub(r % 2_000).max(1);
        let req = if k < 55 || next_id == 0 {
            next_id += 1;
            let mut o = OrderRequest::limit(0, 0, side, px, qty, next_id);
            o.strategy_id = owner;
            Req::Submit(o, TimeInForce::Gtc)
        } else if k < 80 {
            Req::Cancel(recent(rnd()))
        } else if k < 90 {
            next_id += 1;
            let mut o = OrderRequest::limit(0, 0, side, px, qty, next_id);
            o.strategy_id = owner;
            Req::Submit(o, TimeInForce::Ioc)
        } else if k < 95 {
            next_id += 1;
            let mut o = OrderRequest::limit(0, 0, side, 0, qty, next_id);
            o.order_type = OrderType::Market;
            o.strategy_id = owner;
            Req::Submit(o, TimeInForce::Ioc)
        } else {
            Req::Replace(recent(rnd()), px, qty)
        };
        reqs.push(req);
    }
    reqs
}

fn run(reqs: &[Req]) -> (f64, usize, usize) {
    let mut e = MatchingEngine::new(EngineConfig {
        instruments: vec![VenueInstrument {
            quote_per_tick_lot: 1e-5,
            fees: FeeSchedule {
                maker_bps: -0.5,
                taker_bps: 4.0,
            },
        }],
        stp: StpMode::CancelNewest,
        capacity: 1 << 20,
    })
    .expect("config");
    let mut out: Vec<ExecReport> = Vec::with_capacity(4096);
    let mut fills = 0usize;
    let t = Instant::now();
    for (i, r) in reqs.iter().enumerate() {
        let ts = i as u64;
        match *r {
            Req::Submit(o, tif) => e.submit(&o, tif, ts, &mut out),
            Req::Cancel(id) => e.cancel(id, ts, &mut out),
            Req::Replace(id, px, q) => e.replace(id, px, q, ts, &mut out),
        }
        fills += out.iter().filter(|r| r.is_fill()).count();
        out.clear();
    }
    let secs = t.elapsed().as_secs_f64();
    black_box(&e);
    (secs, fills / 2, e.open_orders())
}

fn main() {
    let reqs = flow();
    run(&reqs); // warm-up
    let mut rates: Vec<f64> = Vec::new();
    let mut last = (0, 0);
    for _ in 0..7 {
        let (secs, trades, open) = run(&reqs);
        rates.push(REQUESTS as f64 / secs);
        last = (trades, open);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "matching engine: {} requests, {} trades, {} resting at the end",
        REQUESTS, last.0, last.1
    );
    println!(
        "  best {:.2} M requests/s, median {:.2} M requests/s ({:.0} ns/request median)",
        rates[6] / 1e6,
        rates[3] / 1e6,
        1e9 / rates[3]
    );
}
