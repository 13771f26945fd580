//! The vectorized backtest at scale: the EMA(fast)/EMA(slow) crossover on 525,600
//! one-minute bars (a year) for 1,000 parameter pairs, split across the cores with rayon
//! (`backtest::ema_cross_sweep`: per column two TA-Lib EMAs, the cross signals and the
//! vectorbt-semantics simulation, keeping summaries). The price series chains the real
//! BTC 1-minute returns of `data/bars` end to end until it is a year long. Also times one
//! column alone. Prints bar-columns per second (best of 3).
//!
//! `cargo bench -p baconalgo-core --bench backtest_sweep`.

use std::io::Read;
use std::time::Instant;

use baconalgo_core::backtest::{ema_cross_sweep, PortfolioConfig};

const BARS: usize = 525_600;

fn year_of_closes() -> Vec<f64> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/bars/btc_perp_1m_2022-01.csv.gz"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("bars"))
        .read_to_string(&mut text)
        .expect("gunzip");
    let real: Vec<f64> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(4).and_then(|x| x.parse().ok()))
        .collect();
    let mut out = Vec::with_capacity(BARS);
    out.push(real[0]);
    let mut k = 1;
    while out.len() < BARS {
        let r = real[k] / real[k - 1];
        out.push(out[out.len() - 1] * r);
        k = if k + 1 < real.len() { k + 1 } else { 1 };
    }
    out
}

fn main() {
    let close = year_of_closes();
    // 1,000 pairs: fast 2..=41 x slow in 25 steps above it.
    let pairs: Vec<(usize, usize)> = (2..42)
        .flat_map(|f| (1..=25).map(move |k| (f, f + 8 * k)))
        .collect();
    assert_eq!(pairs.len(), 1_000);
    let cfg = PortfolioConfig {
        init_cash: 10_000.0,
        fees: 0.001,
        slippage: 0.0005,
        ..PortfolioConfig::default()
    };
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let one = ema_cross_sweep(&close, &pairs[..1], &cfg).expect("sweep");
    let single = t.elapsed().as_secs_f64();
    let mut best = f64::INFINITY;
    let mut trades = 0usize;
    for _ in 0..3 {
        let t = Instant::now();
        let sums = ema_cross_sweep(&close, &pairs, &cfg).expect("sweep");
        best = best.min(t.elapsed().as_secs_f64());
        trades = sums.iter().map(|s| s.closed_trades).sum();
    }
    let cells = (BARS * pairs.len()) as f64;
    println!(
        "vectorized backtest: {BARS} bars x {} pairs on {threads} threads",
        pairs.len()
    );
    println!(
        "  one column: {:.1} ms ({:.0} M bars/s); all: best {:.2} s = {:.0} M bar-columns/s, {trades} closed trades",
        single * 1e3,
        BARS as f64 / single / 1e6,
        best,
        cells / best / 1e6
    );
    std::hint::black_box(one);
}
