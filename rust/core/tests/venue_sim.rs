//! Our orders against an external market (`venue::MarketSim`): taking liquidity from the
//! recorded book, queue position under the risk-averse and probabilistic models, fills by
//! trades at and through our price, latency of orders and the cancel race, and the same
//! fills for the same seed on a real Binance capture.

use std::io::Read;

use baconalgo_core::model::{Event, EventKind, OrderRequest, OrderType, Side, TimeInForce};
use baconalgo_core::venue::queue::QueueShape;
use baconalgo_core::venue::{
    ExecKind, ExecReport, FeeSchedule, LatencyModel, Liquidity, MarketSim, QueueModel, SimConfig,
    VenueInstrument, VenueReason,
};

fn sim(queue: QueueModel, latency: LatencyModel) -> MarketSim {
    MarketSim::new(SimConfig {
        instrument: 0,
        spec: VenueInstrument {
            quote_per_tick_lot: 0.01,
            fees: FeeSchedule {
                maker_bps: 0.0,
                taker_bps: 10.0,
            },
        },
        queue,
        latency,
    })
}

fn delta(ts: u64, side: Side, px: i64, qty: i64) -> Event {
    Event {
        ts_event_ns: ts,
        kind: EventKind::BookDelta as u8,
        side: side as u8,
        price_ticks: px,
        qty_lots: qty,
        ..Event::default()
    }
}

fn trade(ts: u64, aggressor: Side, px: i64, qty: i64) -> Event {
    Event {
        kind: EventKind::Trade as u8,
        ..delta(ts, aggressor, px, qty)
    }
}

fn book(s: &mut MarketSim, out: &mut Vec<ExecReport>) {
    for (px, q) in [(99, 10), (98, 20)] {
        s.on_market_event(&delta(1, Side::Buy, px, q), out);
    }
    for (px, q) in [(101, 5), (102, 7)] {
        s.on_market_event(&delta(1, Side::Sell, px, q), out);
    }
}

fn buy(id: u64, px: i64, qty: i64) -> OrderRequest {
    OrderRequest::limit(0, 0, Side::Buy, px, qty, id)
}

fn fills(r: &[ExecReport]) -> Vec<(u64, i64, i64)> {
    r.iter()
        .filter(|r| r.is_fill())
        .map(|r| (r.client_order_id, r.price_ticks, r.last_qty_lots))
        .collect()
}

#[test]
fn aggressive_order_takes_the_external_levels_and_pays_taker_fees() {
    let mut s = sim(QueueModel::RiskAverse, LatencyModel::zero());
    let mut out = Vec::new();
    book(&mut s, &mut out);
    s.submit(&buy(1, 102, 9), TimeInForce::Ioc, 5);
    s.advance_to(5, &mut out);
    assert_eq!(fills(&out), vec![(1, 101, 5), (1, 102, 4)]);
    assert!(out
        .iter()
        .filter(|r| r.is_fill())
        .all(|r| r.liquidity == Liquidity::Taker));
    // 101 x 5 x 0.01 = 5.05 quote at 10 bp.
    assert!((out[1].fee_quote - 5.05e-3).abs() < 1e-15);
    out.clear();
    // FOK for more than the book offers up to its price: rejected.
    s.submit(&buy(2, 101, 6), TimeInForce::Fok, 6);
    // Post-only at the ask: rejected.
    s.submit(&buy(3, 101, 1), TimeInForce::PostOnly, 6);
    s.advance_to(6, &mut out);
    let reasons: Vec<_> = out.iter().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        vec![
            Some(VenueReason::FokNotFillable),
            Some(VenueReason::PostOnlyWouldTake)
        ]
    );
}

#[test]
fn risk_averse_queue_fills_only_after_the_whole_queue_ahead_traded() {
    let mut s = sim(QueueModel::RiskAverse, LatencyModel::zero());
    let mut out = Vec::new();
    book(&mut s, &mut out);
    s.submit(&buy(1, 99, 4), TimeInForce::Gtc, 2);
    s.advance_to(2, &mut out);
    assert_eq!(s.queue_ahead(1), Some(10.0));
    // Cancels behind or ahead: the risk-averse model assumes behind.
    s.on_market_event(&delta(3, Side::Buy, 99, 14), &mut out);
    assert_eq!(s.queue_ahead(1), Some(10.0));
    // Sell trades at 99: 6 then 6 -> 2 lots reach us.
    s.on_market_event(&trade(4, Side::Sell, 99, 6), &mut out);
    assert_eq!(fills(&out), vec![]);
    s.on_market_event(&trade(5, Side::Sell, 99, 6), &mut out);
    assert_eq!(fills(&out), vec![(1, 99, 2)]);
    assert_eq!(out.last().unwrap().liquidity, Liquidity::Maker);
    // A sell through our price fills the rest.
    s.on_market_event(&trade(6, Side::Sell, 98, 1), &mut out);
    assert_eq!(fills(&out), vec![(1, 99, 2), (1, 99, 2)]);
    assert_eq!(out.last().unwrap().kind, ExecKind::Filled);
    assert_eq!(s.working().count(), 0);
}

#[test]
fn probabilistic_queue_advances_on_cancels_by_the_documented_formula() {
    let shape = QueueShape::Power(1.0);
    let mut s = sim(QueueModel::Probabilistic(shape), LatencyModel::zero());
    let mut out = Vec::new();
    book(&mut s, &mut out);
    s.submit(&buy(1, 99, 4), TimeInForce::Gtc, 2);
    s.advance_to(2, &mut out);
    // 30 more join behind us: front 10, back 30 (our own lots are not in the L2 book).
    s.on_market_event(&delta(3, Side::Buy, 99, 40), &mut out);
    // 10 cancelled: p = 30 / 40, front = 10 - 0.25 x 10 = 7.5.
    s.on_market_event(&delta(4, Side::Buy, 99, 30), &mut out);
    assert!((s.queue_ahead(1).unwrap() - 7.5).abs() < 1e-12);
    // Risk-averse on the same flow stays at 10.
    let mut r = sim(QueueModel::RiskAverse, LatencyModel::zero());
    let mut o2 = Vec::new();
    book(&mut r, &mut o2);
    r.submit(&buy(1, 99, 4), TimeInForce::Gtc, 2);
    for e in [delta(3, Side::Buy, 99, 40), delta(4, Side::Buy, 99, 30)] {
        r.on_market_event(&e, &mut o2);
    }
    assert_eq!(r.queue_ahead(1), Some(10.0));
    // A trade of 9: the probabilistic order fills 1 (whole lots), the risk-averse none.
    s.on_market_event(&trade(5, Side::Sell, 99, 9), &mut out);
    r.on_market_event(&trade(5, Side::Sell, 99, 9), &mut o2);
    assert_eq!(fills(&out), vec![(1, 99, 1)]);
    assert_eq!(fills(&o2), vec![]);
}

#[test]
fn book_moving_through_a_resting_order_fills_it_at_its_price() {
    let mut s = sim(QueueModel::RiskAverse, LatencyModel::zero());
    let mut out = Vec::new();
    book(&mut s, &mut out);
    s.submit(&buy(1, 100, 3), TimeInForce::Gtc, 2);
    s.advance_to(2, &mut out);
    assert_eq!(fills(&out), vec![]);
    // An ask appears at 100: the market trades through our bid.
    s.on_market_event(&delta(3, Side::Sell, 100, 2), &mut out);
    assert_eq!(fills(&out), vec![(1, 100, 3)]);
}

#[test]
fn orders_see_the_market_as_of_their_arrival_and_cancels_can_lose_the_race() {
    let lat = LatencyModel::Constant {
        order_ns: 100,
        response_ns: 40,
        market_data_ns: 7,
    };
    let mut s = sim(QueueModel::RiskAverse, lat);
    let mut out = Vec::new();
    book(&mut s, &mut out);
    // Sent at 10, arrives at 110; the ask at 101 is gone at 50.
    assert_eq!(s.submit(&buy(1, 101, 2), TimeInForce::Gtc, 10), 110);
    s.on_market_event(&delta(50, Side::Sell, 101, 0), &mut out);
    assert!(out.is_empty(), "nothing reaches the venue before 110");
    s.on_market_event(&delta(120, Side::Sell, 105, 1), &mut out);
    // At 110 the best ask is 102: the buy at 101 rests, no fill.
    assert_eq!(out[0].kind, ExecKind::New);
    assert_eq!((out[0].ts_event_ns, out[0].ts_recv_ns), (110, 150));
    assert_eq!(fills(&out), vec![]);
    // Cancel sent at 130 (arrives 230); a sell trades through at 200 first.
    s.cancel(1, 130);
    s.on_market_event(&trade(200, Side::Sell, 100, 5), &mut out);
    s.advance_to(300, &mut out);
    let tail: Vec<_> = out[1..].iter().map(|r| (r.kind, r.reason)).collect();
    assert_eq!(
        tail,
        vec![
            (ExecKind::Filled, None),
            (ExecKind::Rejected, Some(VenueReason::UnknownOrder))
        ]
    );
    assert_eq!(s.market_data_delay_ns(), 7);
}

/// Binance USD-M BTCUSDT depth diffs and trades from the recorded capture, as events.
fn binance_events() -> Vec<Event> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/binance/usdm_btcusdt_20240808.gz"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("capture"))
        .read_to_string(&mut text)
        .expect("gunzip");
    let mut evs = Vec::new();
    // Prices in 0.1 ticks, quantities in 0.001 lots, parsed without floats.
    let ticks = |s: &str, places: usize| -> i64 {
        let (i, f) = s.split_once('.').unwrap_or((s, ""));
        let mut f: String = f.chars().take(places).collect();
        while f.len() < places {
            f.push('0');
        }
        format!("{i}{f}").parse().unwrap()
    };
    for line in text.lines() {
        let Some((_, json)) = line.split_once(' ') else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        let Some(d) = v.get("data") else { continue };
        let ts = d["E"].as_u64().unwrap_or(0) * 1_000_000;
        match d["e"].as_str() {
            Some("depthUpdate") => {
                for (key, side) in [("b", Side::Buy), ("a", Side::Sell)] {
                    for l in d[key].as_array().unwrap() {
                        let px = ticks(l[0].as_str().unwrap(), 1);
                        let q = ticks(l[1].as_str().unwrap(), 3);
                        evs.push(delta(ts, side, px, q));
                    }
                }
            }
            Some("trade") => {
                // `m`: the buyer is the maker, so the seller is the aggressor.
                let aggressor = if d["m"].as_bool().unwrap() {
                    Side::Sell
                } else {
                    Side::Buy
                };
                let px = ticks(d["p"].as_str().unwrap(), 1);
                let q = ticks(d["q"].as_str().unwrap(), 3);
                evs.push(trade(ts, aggressor, px, q));
            }
            _ => {}
        }
    }
    evs
}

fn replay(events: &[Event], queue: QueueModel, seed: u64) -> Vec<ExecReport> {
    let lat =
        LatencyModel::recorded(vec![200_000, 900_000, 3_000_000], vec![1_000_000], seed).unwrap();
    let mut s = sim(queue, lat);
    let mut out = Vec::new();
    let mut id = 0;
    for (k, e) in events.iter().enumerate() {
        s.on_market_event(e, &mut out);
        // Every 500 events, join the best bid and the best ask with 5 lots each.
        if k % 500 == 499 {
            if let (Some(b), Some(a)) = (s.book().best_bid(), s.book().best_ask()) {
                for (side, px) in [(Side::Buy, b.price_ticks), (Side::Sell, a.price_ticks)] {
                    id += 1;
                    let mut o = OrderRequest::limit(0, 0, side, px, 5, id);
                    o.order_type = OrderType::Limit;
                    s.submit(&o, TimeInForce::Gtc, e.ts_event_ns);
                }
            }
        }
    }
    out
}

#[test]
fn recorded_market_replay_fills_deterministically_and_risk_averse_fills_least() {
    let events = binance_events();
    assert!(events.len() > 20_000, "{} events", events.len());
    let a = replay(&events, QueueModel::RiskAverse, 7);
    let b = replay(&events, QueueModel::RiskAverse, 7);
    assert_eq!(a, b, "same seed, same reports");
    let filled = |r: &[ExecReport]| -> i64 {
        r.iter()
            .filter(|r| r.is_fill())
            .map(|r| r.last_qty_lots)
            .sum()
    };
    let p = replay(
        &events,
        QueueModel::Probabilistic(QueueShape::Power(2.0)),
        7,
    );
    let (fa, fp) = (filled(&a), filled(&p));
    assert!(
        fa > 0,
        "passive orders at the touch do get filled on real data"
    );
    assert!(fp >= fa, "probabilistic {fp} < risk-averse {fa}");
    // Never more than ordered per order.
    for r in a.iter().chain(&p) {
        assert!(r.cum_qty_lots <= 5);
    }
}

// ---------------------------------------------------------------------------------------
// The event-driven loop over market data (`backtest::run_market`).

use baconalgo_core::backtest::{run_market, MarketContext, MarketStrategy};

/// Buys 2 lots at market on the first trade it sees.
struct BuyOnFirstTrade {
    seen_at: Option<u64>,
}

impl MarketStrategy for BuyOnFirstTrade {
    fn on_market(&mut self, ctx: &mut MarketContext<'_>, e: &Event) {
        if e.kind == EventKind::Trade as u8 && self.seen_at.is_none() {
            self.seen_at = Some(ctx.now_ns());
            ctx.submit(Side::Buy, OrderType::Market, 0, 2, TimeInForce::Ioc);
        }
    }
}

#[test]
fn strategy_sees_data_late_and_its_order_meets_the_book_of_its_arrival() {
    let lat = LatencyModel::Constant {
        order_ns: 10,
        response_ns: 3,
        market_data_ns: 5,
    };
    let mut s = sim(QueueModel::RiskAverse, lat);
    let events = [
        delta(0, Side::Sell, 101, 5),
        delta(0, Side::Buy, 99, 5),
        trade(100, Side::Buy, 101, 1),
        // The 101 ask goes and 103 appears before our order arrives (at 115).
        delta(112, Side::Sell, 101, 0),
        delta(112, Side::Sell, 103, 5),
        delta(200, Side::Buy, 99, 6),
    ];
    let mut strat = BuyOnFirstTrade { seen_at: None };
    let res = run_market(&events, &mut s, 0, &mut strat);
    assert_eq!(
        strat.seen_at,
        Some(105),
        "trade at 100 + 5 ns of market-data latency"
    );
    let fills: Vec<_> = res.reports.iter().filter(|r| r.is_fill()).collect();
    assert_eq!(fills.len(), 1);
    assert_eq!((fills[0].price_ticks, fills[0].last_qty_lots), (103, 2));
    assert_eq!((fills[0].ts_event_ns, fills[0].ts_recv_ns), (115, 118));
    assert_eq!(res.position_lots, 2);
    assert_eq!(res.events_delivered, events.len());
}

/// Joins the best bid with 5 lots whenever flat with nothing working, sells at market
/// when filled.
struct JoinBid {
    working: Option<u64>,
    events: usize,
}

impl MarketStrategy for JoinBid {
    fn on_market(&mut self, ctx: &mut MarketContext<'_>, _e: &Event) {
        self.events += 1;
        if self.working.is_none() && ctx.position_lots() == 0 && self.events % 200 == 0 {
            if let Some(b) = ctx.book().best_bid() {
                let id = ctx.submit(
                    Side::Buy,
                    OrderType::Limit,
                    b.price_ticks,
                    5,
                    TimeInForce::Gtc,
                );
                self.working = Some(id);
            }
        }
    }

    fn on_report(&mut self, ctx: &mut MarketContext<'_>, r: &ExecReport) {
        if Some(r.client_order_id) == self.working && r.is_final() {
            self.working = None;
            if r.cum_qty_lots > 0 {
                ctx.submit(
                    Side::Sell,
                    OrderType::Market,
                    0,
                    r.cum_qty_lots,
                    TimeInForce::Ioc,
                );
            }
        }
    }
}

#[test]
fn market_replay_with_recorded_latencies_is_deterministic_and_causal() {
    let events = binance_events();
    let run = |seed| {
        let lat = LatencyModel::recorded(
            vec![300_000, 1_000_000, 5_000_000],
            vec![200_000, 2_000_000],
            seed,
        )
        .unwrap();
        let mut s = sim(QueueModel::Probabilistic(QueueShape::Power(2.0)), lat);
        let mut strat = JoinBid {
            working: None,
            events: 0,
        };
        run_market(&events, &mut s, 0, &mut strat)
    };
    let a = run(11);
    assert_eq!(a, run(11), "same seed, same run");
    let buys: i64 = a
        .reports
        .iter()
        .filter(|r| r.is_fill() && r.side == Side::Buy)
        .map(|r| r.last_qty_lots)
        .sum();
    let sells: i64 = a
        .reports
        .iter()
        .filter(|r| r.is_fill() && r.side == Side::Sell)
        .map(|r| r.last_qty_lots)
        .sum();
    assert!(buys > 0, "some passive bids were filled");
    assert_eq!(a.position_lots, buys - sells);
    // Strategy time never goes backwards, and no report is seen before it was sent back.
    assert!(a.received_ns.windows(2).all(|w| w[0] <= w[1]));
    for (r, &t) in a.reports.iter().zip(&a.received_ns) {
        assert!(t >= r.ts_recv_ns && r.ts_recv_ns >= r.ts_event_ns);
    }
    assert_ne!(
        a.reports,
        run(12).reports,
        "other latency draws, other fills"
    );
}
