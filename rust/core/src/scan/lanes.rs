//! Last values only, for [`LANES`] instruments at once.
//!
//! Each function runs the recurrence of one TA-Lib-exact 1-D kernel (the same operations in
//! the same order, so bit for bit the same last value) on `LANES` columns side by side and
//! writes nothing but the last value. The 1-D kernels are bound by the latency of one
//! loop-carried chain (RSI: a multiply, a subtract and a multiply per bar); `LANES`
//! independent chains keep the core busy instead, and the per-lane loops vectorise across
//! instruments when the CPU has AVX2.
//!
//! Preconditions (checked by the caller, which falls back to the 1-D kernels otherwise):
//! every column has the same length `n`, row 0 of every input is not NaN (so TA-Lib's start
//! row is 0 everywhere), and `n` is greater than the indicator's lookback.

/// Instruments per group: eight chains hide the latency of any of these recurrences.
pub(crate) const LANES: usize = 8;

/// A group's column, transposed: row `i` holds bar `i` of each of the `LANES` instruments,
/// so one row is one vector load.
pub(crate) type Cols<'a> = &'a [Lanes];
pub(crate) type Lanes = [f64; LANES];

/// The kernels, written once and compiled twice: plain (any x86-64 or other CPU) and with
/// AVX2 + FMA ([`wide`]), where `mul_add` is one instruction instead of a libm call and the
/// per-lane loops become vector instructions. Every function is `unsafe` only because the
/// wide ones need a CPU with those features; the plain ones have no precondition.
macro_rules! lane_kernels {
    ($(#[$feature:meta])*) => {
        use super::{trim, Cols, Lanes, LANES};
        use crate::ta::per_to_k;
        use crate::ta::stream::{natr_value, roc_value, rsi_value, true_range};

        /// TA-Lib `SMA` at the last row: the running total is added to and trimmed bar by bar, as
        /// the batch kernel does, not summed afresh (that would round differently).
        #[inline]
        $(#[$feature])*
        pub(crate) unsafe fn sma_last(x: Cols<'_>, n: usize, p: usize) -> Lanes {
            let x = trim(x, n);
            let mut sum = [0.0; LANES];
            for i in 0..p - 1 {
                for l in 0..LANES {
                    sum[l] += x[i][l];
                }
            }
            for i in p - 1..n - 1 {
                for l in 0..LANES {
                    sum[l] += x[i][l];
                    sum[l] -= x[i + 1 - p][l];
                }
            }
            let pf = p as f64;
            std::array::from_fn(|l| (sum[l] + x[n - 1][l]) / pf)
        }

        /// TA-Lib `EMA` at the last row: SMA seed over the first `p` values, then the fused step.
        #[inline]
        $(#[$feature])*
        pub(crate) unsafe fn ema_last(x: Cols<'_>, n: usize, p: usize) -> Lanes {
            let x = trim(x, n);
            if p == 1 {
                return std::array::from_fn(|l| x[n - 1][l]);
            }
            let k = per_to_k(p);
            let mut sum = [0.0; LANES];
            for i in 0..p {
                for l in 0..LANES {
                    sum[l] += x[i][l];
                }
            }
            let mut prev: Lanes = std::array::from_fn(|l| sum[l] / p as f64);
            for i in p..n {
                for l in 0..LANES {
                    prev[l] = (x[i][l] - prev[l]).mul_add(k, prev[l]);
                }
            }
            prev
        }

        /// TA-Lib `RSI` at the last row (see `ta::rsi_into`: the same masks, products and order).
        #[inline]
        $(#[$feature])*
        pub(crate) unsafe fn rsi_last(x: Cols<'_>, n: usize, p: usize) -> Lanes {
            let x = trim(x, n);
            let inv = 1.0 / p as f64;
            let m = (p - 1) as f64;
            let (mut gain, mut loss) = ([0.0; LANES], [0.0; LANES]);
            for i in 1..=p {
                for l in 0..LANES {
                    let diff = x[i][l] - x[i - 1][l];
                    if diff < 0.0 {
                        loss[l] -= diff;
                    } else {
                        gain[l] += diff;
                    }
                }
            }
            for l in 0..LANES {
                loss[l] *= inv;
                gain[l] *= inv;
            }
            for i in p + 1..n {
                for l in 0..LANES {
                    let diff = x[i][l] - x[i - 1][l];
                    let down = (diff < 0.0) as u64;
                    let to_loss = f64::from_bits(diff.to_bits() & down.wrapping_neg());
                    let to_gain = f64::from_bits(diff.to_bits() & (down.wrapping_sub(1)));
                    loss[l] = loss[l] * m - to_loss;
                    gain[l] = gain[l] * m + to_gain;
                    loss[l] *= inv;
                    gain[l] *= inv;
                }
            }
            std::array::from_fn(|l| rsi_value(gain[l], loss[l]))
        }

        /// TA-Lib `ATR` (or `NATR` when `normalise`) at the last row (see `ta::atr_into`).
        #[inline]
        $(#[$feature])*
        pub(crate) unsafe fn atr_last(
            h: Cols<'_>,
            lo: Cols<'_>,
            c: Cols<'_>,
            n: usize,
            p: usize,
            normalise: bool,
        ) -> Lanes {
            let h = trim(h, n);
            let lo = trim(lo, n);
            let c = trim(c, n);
            let mut sum = [0.0; LANES];
            for i in 1..=p {
                for l in 0..LANES {
                    sum[l] += true_range(h[i][l], lo[i][l], c[i - 1][l]);
                }
            }
            let mut prev: Lanes = std::array::from_fn(|l| sum[l] / p as f64);
            let beta = (p - 1) as f64 / p as f64;
            let alpha = 1.0 - beta;
            for i in p + 1..n {
                for l in 0..LANES {
                    let tr = true_range(h[i][l], lo[i][l], c[i - 1][l]);
                    prev[l] = beta.mul_add(prev[l], alpha * tr);
                }
            }
            if normalise && p > 1 {
                std::array::from_fn(|l| natr_value(prev[l], c[n - 1][l]))
            } else {
                prev
            }
        }

        /// TA-Lib 0.8's running variance (`ta::volatility::running_variance`) at the last row,
        /// re-anchoring exactly where the 1-D kernel does.
        #[inline]
        $(#[$feature])*
        pub(crate) unsafe fn var_last(x: Cols<'_>, n: usize, p: usize) -> Lanes {
            let x = trim(x, n);
            let inv = 1.0 / p as f64;
            let mut shift: Lanes = std::array::from_fn(|l| x[0][l]);
            let (mut t1, mut t2) = ([0.0; LANES], [0.0; LANES]);
            for j in 0..p - 1 {
                for l in 0..LANES {
                    let d = x[j][l] - shift[l];
                    t1[l] += d;
                    t2[l] += d * d;
                }
            }
            // TA-Lib's bar counter runs the same for every lane until a lane re-anchors;
            // `due[l]` is the row where lane `l`'s counter reaches zero.
            let mut due = [p - 1 + 32 * p - 1; LANES];
            let mut next_due = p - 1 + 32 * p - 1;
            let mut var = [0.0; LANES];
            let mut departing = [0.0; LANES];
            for i in p - 1..n {
                let start = i + 1 - p;
                // The common step for every lane first (branch-free, so it vectorises),
                // then the rare re-anchoring lane by lane.
                let mut hit = false;
                for l in 0..LANES {
                    let d = x[i][l] - shift[l];
                    t1[l] += d;
                    t2[l] += d * d;
                    let mean = t1[l] * inv;
                    var[l] = t2[l] * inv - mean * mean;
                    let d = x[start][l] - shift[l];
                    t1[l] -= d;
                    departing[l] = d * d;
                    t2[l] -= departing[l];
                    hit |= (var[l] < 0.000001 * (t2[l] * inv))
                        | (departing[l] > 1000000.0 * t2[l]);
                }
                if hit || i == next_due {
                    for l in 0..LANES {
                        if var[l] < 0.000001 * (t2[l] * inv)
                            || departing[l] > 1000000.0 * t2[l]
                            || i == due[l]
                        {
                            due[l] = i + 32 * p;
                            (shift[l], t1[l], t2[l], var[l]) =
                                super::reanchor(&x[start..=i], l, inv);
                        }
                    }
                    next_due = due.iter().copied().min().unwrap_or(usize::MAX);
                }
            }
            var
        }

        /// TA-Lib `ROC` / `MOM` at the last row: no recurrence, one pair of values.
        #[inline]
        $(#[$feature])*
        pub(crate) unsafe fn lag_last(x: Cols<'_>, n: usize, p: usize, roc: bool) -> Lanes {
            let x = trim(x, n);
            std::array::from_fn(|l| {
                let (cur, old) = (x[n - 1][l], x[n - 1 - p][l]);
                if roc {
                    roc_value(cur, old)
                } else {
                    cur - old
                }
            })
        }
    };
}

/// The columns cut to exactly `n` values, so the compiler knows every `i < n` is in bounds
/// and the per-lane loops carry no bounds checks.
#[inline(always)]
fn trim(x: Cols<'_>, n: usize) -> Cols<'_> {
    &x[..n]
}

pub(crate) mod plain {
    lane_kernels!();
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod wide {
    lane_kernels!(#[target_feature(enable = "avx2,fma")]);
}

/// One set of kernels, chosen once per scan for the running CPU.
#[derive(Clone, Copy)]
pub(crate) struct Kernels {
    pub sma_last: unsafe fn(Cols<'_>, usize, usize) -> Lanes,
    pub ema_last: unsafe fn(Cols<'_>, usize, usize) -> Lanes,
    pub rsi_last: unsafe fn(Cols<'_>, usize, usize) -> Lanes,
    pub atr_last: unsafe fn(Cols<'_>, Cols<'_>, Cols<'_>, usize, usize, bool) -> Lanes,
    pub var_last: unsafe fn(Cols<'_>, usize, usize) -> Lanes,
    pub lag_last: unsafe fn(Cols<'_>, usize, usize, bool) -> Lanes,
}

impl Kernels {
    pub(crate) fn detect() -> Kernels {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Kernels {
                    sma_last: wide::sma_last,
                    ema_last: wide::ema_last,
                    rsi_last: wide::rsi_last,
                    atr_last: wide::atr_last,
                    var_last: wide::var_last,
                    lag_last: wide::lag_last,
                };
            }
        }
        Kernels {
            sma_last: plain::sma_last,
            ema_last: plain::ema_last,
            rsi_last: plain::rsi_last,
            atr_last: plain::atr_last,
            var_last: plain::var_last,
            lag_last: plain::lag_last,
        }
    }
}

/// The re-anchoring branch of `running_variance` for one lane's window: the new shift, the sums
/// with the window's oldest value already removed, and the window's variance.
#[cold]
#[inline(never)]
fn reanchor(window: &[Lanes], lane: usize, inv: f64) -> (f64, f64, f64, f64) {
    let mut sum = 0.0;
    for row in window {
        sum += row[lane];
    }
    let shift = sum * inv;
    let (mut t1, mut t2) = (0.0, 0.0);
    for row in window {
        let d = row[lane] - shift;
        t1 += d;
        t2 += d * d;
    }
    let mean = t1 * inv;
    let mut var = t2 * inv - mean * mean;
    if var < 0.000000000001 * (t2 * inv) {
        var = 0.0;
    }
    let d = window[0][lane] - shift;
    (shift, t1 - d, t2 - d * d, var)
}
