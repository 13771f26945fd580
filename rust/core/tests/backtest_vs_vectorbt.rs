//! The vectorized backtest against vectorbt itself: `tests/data/backtest_fixtures.txt.gz`,
//! written by `tests/data/make_backtest_fixtures.py` from vectorbt 1.2's
//! `Portfolio.from_signals` on EMA crossovers of the real BTC 1-minute bars (first 20,000)
//! and on hand-made edge cases, and `Portfolio.from_orders` with target positions. Every
//! order, every trade, sampled bars of equity, cash and position, and the statistics agree to 1e-9 relative (with an absolute floor of 1e-9 of
//! the initial cash for values that should be zero, where relative error is meaningless).
//! The event-driven loop is then checked to make the same trades on the same bars.

use std::io::Read;

use baconalgo_core::backtest::{
    self, cross_signals, metrics, run_bars, simulate, simulate_targets, Bar, BarConfig, Direction,
    EmaCross, PortfolioConfig, Size,
};

fn hex(tok: &str) -> f64 {
    f64::from_bits(u64::from_str_radix(tok, 16).expect("fixture hex"))
}

#[derive(Default)]
struct Case {
    name: String,
    direction: String,
    size: Option<f64>,
    fees: f64,
    slippage: f64,
    init_cash: f64,
    fast: usize,
    slow: usize,
    close: Vec<f64>,
    /// Target positions (vectorbt `from_orders`, `targetamount`) instead of signals.
    targets: Option<Vec<(usize, f64)>>,
    entries: Vec<usize>,
    exits: Vec<usize>,
    orders: Vec<Vec<String>>,
    trades: Vec<Vec<String>>,
    bars: Vec<Vec<String>>,
    stats: Vec<(String, f64)>,
}

fn load() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/backtest_fixtures.txt.gz"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("fixture file"))
        .read_to_string(&mut text)
        .expect("gunzip");
    let mut cases = Vec::new();
    let mut cur = Case::default();
    for line in text.lines() {
        let toks: Vec<&str> = line.split(' ').collect();
        let idx = |v: &[&str]| -> Vec<usize> {
            v.iter()
                .filter(|t| !t.is_empty())
                .map(|t| t.parse().unwrap())
                .collect()
        };
        match toks[0] {
            "case" => {
                cur = Case {
                    name: toks[1].into(),
                    direction: toks[3].into(),
                    size: (toks[4] != "inf" && toks[4] != "tgt").then(|| hex(toks[4])),
                    fees: hex(toks[5]),
                    slippage: hex(toks[6]),
                    init_cash: hex(toks[7]),
                    fast: toks[8].parse().unwrap(),
                    slow: toks[9].parse().unwrap(),
                    ..Case::default()
                };
            }
            "targets" => {
                cur.targets = Some(
                    toks[1..]
                        .iter()
                        .filter(|t| !t.is_empty())
                        .map(|t| {
                            let (i, v) = t.split_once(':').unwrap();
                            (i.parse().unwrap(), hex(v))
                        })
                        .collect(),
                )
            }
            "close" => cur.close = toks[1..].iter().map(|t| hex(t)).collect(),
            "entries" => cur.entries = idx(&toks[1..]),
            "exits" => cur.exits = idx(&toks[1..]),
            "order" => cur
                .orders
                .push(toks[1..].iter().map(|s| s.to_string()).collect()),
            "trade" => cur
                .trades
                .push(toks[1..].iter().map(|s| s.to_string()).collect()),
            "bar" => cur
                .bars
                .push(toks[1..].iter().map(|s| s.to_string()).collect()),
            "stats" => {
                cur.stats = toks[1..]
                    .iter()
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap();
                        (k.to_string(), hex(v))
                    })
                    .collect()
            }
            "end" => cases.push(std::mem::take(&mut cur)),
            _ => {}
        }
    }
    cases
}

fn btc_bars(n: usize) -> Vec<Bar> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/bars/btc_perp_1m_2022-01.csv.gz"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("bars"))
        .read_to_string(&mut text)
        .expect("gunzip bars");
    text.lines()
        .skip(1)
        .take(n)
        .enumerate()
        .map(|(i, l)| {
            let f: Vec<f64> = l.split(',').skip(1).map(|x| x.parse().unwrap()).collect();
            Bar {
                ts_ns: i as u64 * 60_000_000_000,
                open: f[0],
                high: f[1],
                low: f[2],
                close: f[3],
                volume: f[4],
            }
        })
        .collect()
}

#[track_caller]
fn close_to(what: &str, got: f64, want: f64, floor: f64) {
    if got.is_nan() && want.is_nan() || got == want {
        return;
    }
    let tol = 1e-9 * got.abs().max(want.abs()) + floor;
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:e}, vectorbt {want:e} (diff {:e})",
        (got - want).abs()
    );
}

fn mask(n: usize, idx: &[usize]) -> Vec<bool> {
    let mut m = vec![false; n];
    for &i in idx {
        m[i] = true;
    }
    m
}

#[test]
fn vectorized_backtest_equals_vectorbt_from_signals() {
    let cases = load();
    assert_eq!(cases.len(), 17, "fixture cases");
    let btc: Vec<f64> = btc_bars(20_000).iter().map(|b| b.close).collect();
    let (mut n_orders, mut n_trades) = (0, 0);
    for c in &cases {
        let close = if c.close.is_empty() {
            btc.clone()
        } else {
            c.close.clone()
        };
        let n = close.len();
        let (entries, exits) = if c.targets.is_some() {
            (vec![false; n], vec![false; n])
        } else if c.fast > 0 {
            // Our signals from our TA-Lib-exact EMAs must be vectorbt's inputs exactly.
            let fast = baconalgo_core::ta::ema(&close, c.fast).unwrap();
            let slow = baconalgo_core::ta::ema(&close, c.slow).unwrap();
            let (mut en, mut ex) = (vec![false; n], vec![false; n]);
            cross_signals(&fast, &slow, &mut en, &mut ex);
            assert_eq!(en, mask(n, &c.entries), "{}: entries", c.name);
            assert_eq!(ex, mask(n, &c.exits), "{}: exits", c.name);
            (en, ex)
        } else {
            (mask(n, &c.entries), mask(n, &c.exits))
        };
        let cfg = PortfolioConfig {
            init_cash: c.init_cash,
            size: c.size.map_or(Size::AllIn, Size::Fixed),
            fees: c.fees,
            slippage: c.slippage,
            direction: if c.direction == "both" {
                Direction::Both
            } else {
                Direction::LongOnly
            },
        };
        let pf = match &c.targets {
            Some(t) => {
                let mut targets = vec![f64::NAN; n];
                for &(i, v) in t {
                    targets[i] = v;
                }
                simulate_targets(&close, &targets, &cfg).unwrap()
            }
            None => simulate(&close, &entries, &exits, &cfg).unwrap(),
        };
        let floor = 1e-9 * c.init_cash;
        let name = &c.name;
        assert_eq!(pf.orders.len(), c.orders.len(), "{name}: order count");
        for (k, (o, w)) in pf.orders.iter().zip(&c.orders).enumerate() {
            assert_eq!(
                o.idx,
                w[0].parse::<usize>().unwrap(),
                "{name} order {k} idx"
            );
            close_to(&format!("{name} order {k} size"), o.size, hex(&w[1]), 0.0);
            close_to(&format!("{name} order {k} price"), o.price, hex(&w[2]), 0.0);
            close_to(&format!("{name} order {k} fees"), o.fees, hex(&w[3]), floor);
            assert_eq!(o.is_buy, w[4] == "1", "{name} order {k} side");
        }
        assert_eq!(pf.trades.len(), c.trades.len(), "{name}: trade count");
        for (k, (t, w)) in pf.trades.iter().zip(&c.trades).enumerate() {
            let what = |f: &str| format!("{name} trade {k} {f}");
            assert_eq!(
                t.entry_idx,
                w[0].parse::<usize>().unwrap(),
                "{}",
                what("entry")
            );
            assert_eq!(
                t.exit_idx,
                w[1].parse::<usize>().unwrap(),
                "{}",
                what("exit")
            );
            close_to(&what("size"), t.size, hex(&w[2]), 0.0);
            close_to(&what("entry price"), t.entry_price, hex(&w[3]), 0.0);
            close_to(&what("exit price"), t.exit_price, hex(&w[4]), 0.0);
            close_to(&what("entry fees"), t.entry_fees, hex(&w[5]), floor);
            close_to(&what("exit fees"), t.exit_fees, hex(&w[6]), floor);
            close_to(&what("pnl"), t.pnl, hex(&w[7]), floor);
            assert_eq!(t.is_long, w[8] == "1", "{}", what("direction"));
            assert_eq!(t.is_open, w[9] == "1", "{}", what("status"));
        }
        for w in &c.bars {
            let i: usize = w[0].parse().unwrap();
            close_to(
                &format!("{name} equity[{i}]"),
                pf.equity[i],
                hex(&w[1]),
                floor,
            );
            close_to(&format!("{name} cash[{i}]"), pf.cash[i], hex(&w[2]), floor);
            close_to(
                &format!("{name} position[{i}]"),
                pf.position[i],
                hex(&w[3]),
                1e-12,
            );
        }
        // Statistics: 1-minute bars, vectorbt's 365-day year.
        let m = metrics::compute(&pf, 525_600.0);
        for (k, want) in &c.stats {
            let got = match k.as_str() {
                "total_return" => m.total_return,
                "annualized_return" => m.cagr,
                "sharpe" => m.sharpe,
                "sortino" => m.sortino,
                // vectorbt reports drawdowns as negative fractions.
                "max_drawdown" => -m.max_drawdown,
                "calmar" => m.calmar,
                "win_rate" => m.win_rate,
                "profit_factor" => m.profit_factor,
                "closed_trades" => m.closed_trades as f64,
                other => panic!("unknown stat {other}"),
            };
            close_to(&format!("{name} {k}"), got, *want, 1e-12);
        }
        n_orders += pf.orders.len();
        n_trades += pf.trades.len();
    }
    // The fixture is not trivially empty: thousands of orders and trades were compared.
    assert!(
        n_orders > 4000 && n_trades > 4000,
        "{n_orders} orders, {n_trades} trades"
    );
}

#[test]
fn summary_sweep_equals_full_simulation() {
    let close: Vec<f64> = btc_bars(20_000).iter().map(|b| b.close).collect();
    let cfg = PortfolioConfig {
        init_cash: 10_000.0,
        fees: 0.001,
        slippage: 0.0005,
        ..PortfolioConfig::default()
    };
    let pairs = [(10, 50), (5, 20), (20, 100)];
    let sums = backtest::ema_cross_sweep(&close, &pairs, &cfg).unwrap();
    for (s, &(f, sl)) in sums.iter().zip(&pairs) {
        let fast = baconalgo_core::ta::ema(&close, f).unwrap();
        let slow = baconalgo_core::ta::ema(&close, sl).unwrap();
        let (mut en, mut ex) = (vec![false; close.len()], vec![false; close.len()]);
        cross_signals(&fast, &slow, &mut en, &mut ex);
        let pf = simulate(&close, &en, &ex, &cfg).unwrap();
        assert_eq!(s.final_equity, *pf.equity.last().unwrap());
        assert_eq!(s.orders, pf.orders.len());
        assert_eq!(
            s.closed_trades,
            pf.trades.iter().filter(|t| !t.is_open).count()
        );
        let fees: f64 = pf.orders.iter().map(|o| o.fees).sum();
        assert_eq!(s.fees_paid, fees);
        let mdd = metrics::max_drawdown(&metrics::returns(&pf.equity, cfg.init_cash));
        assert!((s.max_drawdown - mdd).abs() < 1e-12);
    }
}

#[test]
fn event_driven_ema_cross_makes_the_vectorized_trades() {
    let bars = btc_bars(20_000);
    let close: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let fees = 0.001;
    let cfg = PortfolioConfig {
        init_cash: 10_000.0,
        fees,
        slippage: 0.0,
        ..PortfolioConfig::default()
    };
    let fast = baconalgo_core::ta::ema(&close, 10).unwrap();
    let slow = baconalgo_core::ta::ema(&close, 50).unwrap();
    let (mut en, mut ex) = (vec![false; close.len()], vec![false; close.len()]);
    cross_signals(&fast, &slow, &mut en, &mut ex);
    let vec_pf = simulate(&close, &en, &ex, &cfg).unwrap();

    let bar_cfg = BarConfig {
        init_cash: 10_000.0,
        // Closes are on a 0.25 grid; 0.01 holds them exactly as integer ticks.
        tick_size: 0.01,
        lot_size: 1e-8,
        taker_fee: fees,
        maker_fee: 0.0,
        slippage: 0.0,
        liquidity_lots: 1_000_000_000_000,
        fill: Default::default(),
    };
    let mut strategy = EmaCross::new(10, 50).unwrap();
    let ev = run_bars(&bars, &bar_cfg, &mut strategy).unwrap();
    assert!(vec_pf.trades.len() > 300);
    assert_eq!(ev.trades.len(), vec_pf.trades.len());
    for (a, b) in ev.trades.iter().zip(&vec_pf.trades) {
        assert_eq!((a.entry_idx, a.exit_idx), (b.entry_idx, b.exit_idx));
        assert_eq!((a.is_long, a.is_open), (b.is_long, b.is_open));
        // ticks x tick size is the close up to one rounding.
        assert!((a.entry_price - b.entry_price).abs() <= 1e-12 * b.entry_price);
        assert!((a.exit_price - b.exit_price).abs() <= 1e-12 * b.exit_price);
        // The venue trades whole lots (1e-8 BTC): sizes differ by less than one lot.
        assert!(
            (a.size - b.size).abs() <= 1e-8 + 1e-9 * b.size,
            "{a:?} {b:?}"
        );
    }
    let (e, v) = (*ev.equity.last().unwrap(), *vec_pf.equity.last().unwrap());
    assert!((e - v).abs() <= 1e-6 * v, "event {e} vs vectorized {v}");
    // Deterministic: a second run gives identical reports.
    let mut again = EmaCross::new(10, 50).unwrap();
    let ev2 = run_bars(&bars, &bar_cfg, &mut again).unwrap();
    assert_eq!(ev2.reports, ev.reports);
}
