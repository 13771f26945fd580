//! The row-wise kernels (MOM, ROC, TRANGE) cut long series over the cores; every row must
//! hold the bits of the plain one-row formula, wherever the cuts fall, with NaNs and f32.

use baconalgo_core::ta;

fn walk(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    let mut p = 100.0;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            p += ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0;
            p
        })
        .collect()
}

fn same_bits(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{what} row {i}: {g} != {w}"
        );
    }
}

// Longer than two stretches' threshold, odd, with leading NaNs and NaNs inside.
const N: usize = 300_001;

fn with_nans(mut x: Vec<f64>) -> Vec<f64> {
    x[0] = f64::NAN;
    x[1] = f64::NAN;
    for i in [N / 2 - 1, N / 2, N / 2 + 3, N - 2] {
        x[i] = f64::NAN;
    }
    x
}

#[test]
fn mom_and_roc_equal_the_row_formula_on_long_series() {
    let x = with_nans(walk(N, 1));
    for period in [1, 10, 4097] {
        let b = 2;
        let mut mom = vec![f64::NAN; N];
        let mut roc = vec![f64::NAN; N];
        for i in b + period..N {
            mom[i] = x[i] - x[i - period];
            roc[i] = if x[i - period] != 0.0 {
                (x[i] / x[i - period] - 1.0) * 100.0
            } else {
                0.0
            };
        }
        same_bits(&ta::mom(&x, period).unwrap(), &mom, "MOM");
        same_bits(&ta::roc(&x, period).unwrap(), &roc, "ROC");
        let x32: Vec<f32> = x.iter().map(|v| *v as f32).collect();
        let mut want = vec![f64::NAN; N];
        for i in b + period..N {
            want[i] = x32[i] as f64 - x32[i - period] as f64;
        }
        same_bits(&ta::mom(&x32, period).unwrap(), &want, "MOM f32");
    }
}

#[test]
fn trange_equals_the_row_formula_on_long_series() {
    let close = with_nans(walk(N, 2));
    let spread = walk(N, 3);
    let high: Vec<f64> = close
        .iter()
        .zip(&spread)
        .map(|(c, s)| c + s.abs() * 0.01)
        .collect();
    let low: Vec<f64> = close
        .iter()
        .zip(&spread)
        .map(|(c, s)| c - s.abs() * 0.02)
        .collect();
    let mut want = vec![f64::NAN; N];
    for i in 3..N {
        let (h, l, pc) = (high[i], low[i], close[i - 1]);
        let mut tr = h - l;
        let up = (pc - h).abs();
        if up > tr {
            tr = up;
        }
        let down = (pc - l).abs();
        if down > tr {
            tr = down;
        }
        want[i] = tr;
    }
    same_bits(&ta::trange(&high, &low, &close).unwrap(), &want, "TRANGE");
}
