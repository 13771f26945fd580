//! Rough per-element timings of the batch kernels, for comparison with TA-Lib's C
//! (`python3 -c` timing of `talib` on the same sizes). Ignored by default; run with
//! `cargo test --release -p baconalgo-core --test ta_perf -- --ignored --nocapture`.

use std::hint::black_box;
use std::time::Instant;

use baconalgo_core::ta::{self, MaType};

fn walk(n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    // xorshift: deterministic, no dependency.
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut p = 100.0;
    let (mut h, mut l, mut c, mut v) = (vec![], vec![], vec![], vec![]);
    for _ in 0..n {
        p += next();
        c.push(p);
        h.push(p + next().abs());
        l.push(p - next().abs());
        v.push(1000.0 * (next() + 0.5));
    }
    (h, l, c, v)
}

fn time(name: &str, n: usize, mut f: impl FnMut()) {
    // Best of several runs: the machine is shared, the minimum is the least disturbed.
    f();
    let mut best = f64::INFINITY;
    for _ in 0..15 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_nanos() as f64);
    }
    let ns = best / n as f64;
    println!("{name:10} {ns:6.2} ns/element");
}

#[test]
#[ignore]
fn batch_kernel_timings() {
    let n = 1_000_000;
    let (h, l, c, v) = walk(n);
    let mut o1 = vec![0.0; n];
    let mut o2 = vec![0.0; n];
    let mut o3 = vec![0.0; n];
    time("SMA", n, || {
        ta::sma_into(black_box(&c), 30, &mut o1).unwrap()
    });
    time("EMA", n, || {
        ta::ema_into(black_box(&c), 30, &mut o1).unwrap()
    });
    time("WMA", n, || {
        ta::wma_into(black_box(&c), 30, &mut o1).unwrap()
    });
    time("KAMA", n, || {
        ta::kama_into(black_box(&c), 30, &mut o1).unwrap()
    });
    time("RSI", n, || {
        ta::rsi_into(black_box(&c), 14, &mut o1).unwrap()
    });
    time("STDDEV", n, || {
        ta::stddev_into(black_box(&c), 5, 1.0, &mut o1).unwrap()
    });
    time("BBANDS", n, || {
        ta::bbands_into(
            black_box(&c),
            20,
            2.0,
            2.0,
            MaType::Sma,
            ta::BbandsOut {
                upper: &mut o1,
                middle: &mut o2,
                lower: &mut o3,
            },
        )
        .unwrap()
    });
    time("MACD", n, || {
        ta::macd_into(black_box(&c), 12, 26, 9, &mut o1, &mut o2, &mut o3).unwrap()
    });
    time("ATR", n, || {
        ta::atr_into(&h, &l, black_box(&c), 14, &mut o1).unwrap()
    });
    time("ADX", n, || {
        ta::adx_into(&h, &l, black_box(&c), 14, &mut o1).unwrap()
    });
    time("CCI", n, || {
        ta::cci_into(&h, &l, black_box(&c), 14, &mut o1).unwrap()
    });
    time("WILLR", n, || {
        ta::willr_into(&h, &l, black_box(&c), 14, &mut o1).unwrap()
    });
    time("STOCH", n, || {
        ta::stoch_into(
            &h,
            &l,
            black_box(&c),
            5,
            3,
            MaType::Sma,
            3,
            MaType::Sma,
            &mut o1,
            &mut o2,
        )
        .unwrap()
    });
    time("STOCHRSI", n, || {
        ta::stochrsi_into(black_box(&c), 14, 5, 3, MaType::Sma, &mut o1, &mut o2).unwrap()
    });
    time("MFI", n, || {
        ta::mfi_into(&h, &l, black_box(&c), &v, 14, &mut o1).unwrap()
    });
    time("AROON", n, || {
        ta::aroon_into(&h, black_box(&l), 14, &mut o1, &mut o2).unwrap()
    });
    time("OBV", n, || {
        ta::obv_into(black_box(&c), &v, &mut o1).unwrap()
    });
}
