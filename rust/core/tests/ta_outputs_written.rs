//! Every `*_into` kernel (and its 2-D form) writes every element of every output buffer,
//! whatever the input: the Python bindings hand out uninitialised numpy arrays to be filled,
//! so an element a kernel skipped would leak old memory. Outputs start as a sentinel that
//! no kernel can produce on these inputs; none may survive.

use baconalgo_core::ta::{self, matrix, MaType};
use proptest::prelude::*;

const SENTINEL: f64 = 1.234_567_890_123e300;

fn written(name: &str, outs: &[Vec<f64>]) {
    for (k, o) in outs.iter().enumerate() {
        if let Some(i) = o.iter().position(|v| v.to_bits() == SENTINEL.to_bits()) {
            panic!(
                "{name}: output {k} element {i} of {} never written",
                o.len()
            );
        }
    }
}

/// Runs `f` on `n_out` sentinel-filled buffers of length `n`; the parameters may be
/// rejected (then nothing is checked: the bindings drop the buffers).
fn check(name: &str, n: usize, n_out: usize, f: impl FnOnce(&mut [Vec<f64>]) -> bool) {
    let mut outs = vec![vec![SENTINEL; n]; n_out];
    if f(&mut outs) {
        written(name, &outs);
    }
}

fn all_kernels(h: &[f64], l: &[f64], c: &[f64], v: &[f64], p: usize, ma: MaType) {
    let n = c.len();
    let keys: Vec<i64> = (0..n as i64).map(|i| i / 7).collect();
    macro_rules! one {
        ($name:literal, $call:expr) => {
            check($name, n, 1, |o| $call(&mut o[0]).is_ok())
        };
    }
    one!("sma", |o: &mut [f64]| ta::sma_into(c, p, o));
    one!("ema", |o: &mut [f64]| ta::ema_into(c, p, o));
    one!("wma", |o: &mut [f64]| ta::wma_into(c, p, o));
    one!("dema", |o: &mut [f64]| ta::dema_into(c, p, o));
    one!("tema", |o: &mut [f64]| ta::tema_into(c, p, o));
    one!("kama", |o: &mut [f64]| ta::kama_into(c, p, o));
    one!("rsi", |o: &mut [f64]| ta::rsi_into(c, p, o));
    one!("mom", |o: &mut [f64]| ta::mom_into(c, p, o));
    one!("roc", |o: &mut [f64]| ta::roc_into(c, p, o));
    one!("stddev", |o: &mut [f64]| ta::stddev_into(c, p, 1.5, o));
    one!("trange", |o: &mut [f64]| ta::trange_into(h, l, c, o));
    one!("atr", |o: &mut [f64]| ta::atr_into(h, l, c, p, o));
    one!("natr", |o: &mut [f64]| ta::natr_into(h, l, c, p, o));
    one!("adx", |o: &mut [f64]| ta::adx_into(h, l, c, p, o));
    one!("plus_di", |o: &mut [f64]| ta::plus_di_into(h, l, c, p, o));
    one!("minus_di", |o: &mut [f64]| ta::minus_di_into(h, l, c, p, o));
    one!("cci", |o: &mut [f64]| ta::cci_into(h, l, c, p, o));
    one!("willr", |o: &mut [f64]| ta::willr_into(h, l, c, p, o));
    one!("mfi", |o: &mut [f64]| ta::mfi_into(h, l, c, v, p, o));
    one!("obv", |o: &mut [f64]| ta::obv_into(c, v, o));
    one!("vwap_session", |o: &mut [f64]| ta::vwap_session_into(
        h, l, c, v, &keys, o
    ));
    one!("vwap_rolling", |o: &mut [f64]| ta::vwap_rolling_into(
        h, l, c, v, p, o
    ));
    check("bbands", n, 3, |o| {
        let [u, m, lo] = o else { return false };
        let out = ta::BbandsOut {
            upper: u,
            middle: m,
            lower: lo,
        };
        ta::bbands_into(c, p, 2.0, 1.5, ma, out).is_ok()
    });
    check("macd", n, 3, |o| {
        let [a, b, d] = o else { return false };
        ta::macd_into(c, p, p + 3, p.max(2) - 1, a, b, d).is_ok()
    });
    check("stoch", n, 2, |o| {
        let [k, d] = o else { return false };
        ta::stoch_into(h, l, c, p, 3, ma, 2, MaType::Sma, k, d).is_ok()
    });
    check("stochrsi", n, 2, |o| {
        let [k, d] = o else { return false };
        ta::stochrsi_into(c, p, 3, 2, ma, k, d).is_ok()
    });
    check("aroon", n, 2, |o| {
        let [d, u] = o else { return false };
        ta::aroon_into(h, l, p, d, u).is_ok()
    });
}

fn series() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(
        prop_oneof![
            8 => -100.0f64..100.0,
            1 => Just(f64::NAN),
            1 => Just(0.0),
        ],
        0..90,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_kernel_writes_every_output_element(
        c in series(),
        p in 1usize..12,
        m in prop::sample::select(vec![0u32, 1, 2, 3, 4, 6]),
    ) {
        let ma = MaType::from_code(m).unwrap();
        let h: Vec<f64> = c.iter().map(|x| x + 1.0).collect();
        let l: Vec<f64> = c.iter().map(|x| x - 1.0).collect();
        let v: Vec<f64> = c.iter().map(|x| x.abs() * 10.0).collect();
        all_kernels(&h, &l, &c, &v, p, ma);
    }

    #[test]
    fn every_2d_kernel_writes_every_output_element(
        c in series(),
        n_rows in 1usize..12,
        p in 1usize..6,
    ) {
        let n = c.len() / n_rows * n_rows;
        let c = &c[..n];
        let h: Vec<f64> = c.iter().map(|x| x + 1.0).collect();
        let l: Vec<f64> = c.iter().map(|x| x - 1.0).collect();
        check("rsi_2d", n, 1, |o| matrix::rsi_2d(c, n_rows, p, &mut o[0]).is_ok());
        check("atr_2d", n, 1, |o| matrix::atr_2d(&h, &l, c, n_rows, p, &mut o[0]).is_ok());
        check("bbands_2d", n, 3, |o| {
            let [u, m, lo] = o else { return false };
            matrix::bbands_2d(c, n_rows, p, 2.0, 2.0, MaType::Sma, u, m, lo).is_ok()
        });
    }
}
