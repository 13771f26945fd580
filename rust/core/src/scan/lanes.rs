//! Last values only, for [`LANES`] instruments at once, in one pass over their rows.
//!
//! Each recurrence ([`Step`]) is the one of a TA-Lib-exact 1-D kernel (the same operations in
//! the same order, so bit for bit the same last value) run on `LANES` columns side by side,
//! writing nothing but its state. The 1-D kernels are bound by the latency of one
//! loop-carried chain (RSI: a multiply, a subtract and a multiply per bar); `LANES`
//! independent chains keep the core busy instead, and the per-lane loops vectorise across
//! instruments.
//!
//! The group is read once, a tile of [`TILE`] rows at a time: the tile is brought into rows
//! of lanes (from columns, 8 x 8 blocks transposed in registers; from a row-major matrix,
//! copied, a group's row being eight adjacent values) and every recurrence advances over it
//! while it is in L1, so the memory stream and the arithmetic overlap instead of
//! alternating. (Software prefetching of the next group cost
//! more CPU time than it saved: each prefetch holds a line-fill buffer the demand loads need.)
//!
//! Preconditions (checked by the caller, which falls back to the 1-D kernels otherwise):
//! every column has the same length `n`, row 0 of every input is not NaN (so TA-Lib's start
//! row is 0 everywhere), and `n` is greater than the lookback of every step.

use crate::ta::per_to_k;
use crate::ta::stream::{natr_value, rsi_value, true_range, var_rebuild};

/// Instruments per group: eight chains hide most of the latency of these recurrences, and
/// eight doubles are one cache line. Sixteen computed no faster here and read 48
/// column streams at once instead of 24, more than the L2 streamer follows.
pub(crate) const LANES: usize = 8;

/// Row `i` holds bar `i` of each of the `LANES` instruments, so a row is one contiguous load.
pub(crate) type Lanes = [f64; LANES];

/// Rows per tile: 32 rows of three inputs are 6 KB, well inside L1 next to the states.
const TILE: usize = 32;

/// One recurrence over the group and its state so far.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    /// TA-Lib `SMA`: the running total added to and trimmed bar by bar, as the batch kernel
    /// does (a fresh sum would round differently).
    Sma { p: usize, sum: Lanes },
    /// TA-Lib `EMA`: the SMA seed's total over the first `p` rows, then the EMA itself.
    Ema { p: usize, acc: Lanes },
    /// TA-Lib `RSI` (see `ta::rsi_into`: the same masks, products and order).
    Rsi { p: usize, gain: Lanes, loss: Lanes },
    /// TA-Lib `ATR`: the seed's total of true ranges, then the smoothed value.
    Atr { p: usize, acc: Lanes },
    /// TA-Lib 0.8's running variance (`ta::volatility::running_variance`), re-anchoring
    /// exactly where the 1-D kernel does.
    Var(Var),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Var {
    p: usize,
    shift: Lanes,
    t1: Lanes,
    t2: Lanes,
    var: Lanes,
    /// The row where lane `l`'s re-anchoring counter reaches zero.
    due: [usize; LANES],
    next_due: usize,
}

impl Step {
    pub(crate) fn sma(p: usize) -> Step {
        Step::Sma {
            p,
            sum: [0.0; LANES],
        }
    }
    pub(crate) fn ema(p: usize) -> Step {
        Step::Ema {
            p,
            acc: [0.0; LANES],
        }
    }
    pub(crate) fn rsi(p: usize) -> Step {
        Step::Rsi {
            p,
            gain: [0.0; LANES],
            loss: [0.0; LANES],
        }
    }
    pub(crate) fn atr(p: usize) -> Step {
        Step::Atr {
            p,
            acc: [0.0; LANES],
        }
    }
    pub(crate) fn var(p: usize) -> Step {
        let due = p - 1 + 32 * p - 1;
        Step::Var(Var {
            p,
            shift: [0.0; LANES],
            t1: [0.0; LANES],
            t2: [0.0; LANES],
            var: [0.0; LANES],
            due: [due; LANES],
            next_due: due,
        })
    }

    /// The step's value at the last row once every row has been run: `close` holds the
    /// group's `n` close rows. For `Atr`, `normalise` gives NATR.
    pub(crate) fn last(&self, close: &[Lanes], normalise: bool) -> Lanes {
        let n = close.len();
        match *self {
            Step::Sma { p, sum } => std::array::from_fn(|l| (sum[l] + close[n - 1][l]) / p as f64),
            Step::Ema { p, acc } => {
                if p == 1 {
                    close[n - 1]
                } else {
                    acc
                }
            }
            Step::Rsi { gain, loss, .. } => std::array::from_fn(|l| rsi_value(gain[l], loss[l])),
            Step::Atr { p, acc } => {
                if normalise && p > 1 {
                    std::array::from_fn(|l| natr_value(acc[l], close[n - 1][l]))
                } else {
                    acc
                }
            }
            Step::Var(v) => v.var,
        }
    }
}

/// The group's `n` rows of `LANES` instruments (high and low may be empty when no step
/// needs them).
pub(crate) struct Group<'a> {
    pub source: Source<'a>,
    pub n: usize,
}

/// Where the group's inputs are. (One per group, on the stack: the size of a variant
/// does not matter.)
#[allow(clippy::large_enum_variant)]
pub(crate) enum Source<'a> {
    /// `cols[l]` is lane `l`'s (close, high, low), each stored contiguously.
    Columns([[&'a [f64]; 3]; LANES]),
    /// Row-major matrices `width` instruments wide; the group is instruments
    /// `first..first + LANES`, so a row of the group is already `LANES` adjacent values.
    Rows {
        data: [&'a [f64]; 3],
        width: usize,
        first: usize,
    },
}

impl Source<'_> {
    /// Lane `l`'s (close, high, low) at row 0 (NaN where absent).
    pub(crate) fn first_row(&self, l: usize) -> [f64; 3] {
        let at = |s: &[f64], i: usize| s.get(i).copied().unwrap_or(f64::NAN);
        match self {
            Source::Columns(cols) => cols[l].map(|s| at(s, 0)),
            Source::Rows { data, first, .. } => data.map(|s| at(s, first + l)),
        }
    }

    /// Lane `l`'s number of rows.
    pub(crate) fn len(&self, l: usize) -> usize {
        match self {
            Source::Columns(cols) => cols[l][0].len(),
            Source::Rows { data, width, .. } => data[0].len() / width,
        }
    }

    /// Rows `from..to` of input `k` (0 close, 1 high, 2 low) into `rows`.
    #[inline(always)]
    fn load(
        &self,
        k: usize,
        from: usize,
        to: usize,
        rows: &mut [Lanes],
        block: unsafe fn(&[&[f64]; LANES], usize, &mut [Lanes]),
    ) {
        match self {
            Source::Columns(cols) => {
                let cols = std::array::from_fn(|l| cols[l][k]);
                transpose(&cols, from, to, rows, block);
            }
            Source::Rows { data, width, first } => {
                for (i, row) in (from..to).zip(&mut rows[from..to]) {
                    let at = i * width + first;
                    row.copy_from_slice(&data[k][at..at + LANES]);
                }
            }
        }
    }
}

/// Rows `from..to` of SMA (`to <= n`; the last row is added by [`Step::last`]).
#[inline(always)]
fn sma_rows(p: usize, sum: &mut Lanes, x: &[Lanes], from: usize, to: usize) {
    let mut s = *sum;
    let end = to.min(x.len() - 1);
    for row in &x[from.min(p - 1)..end.min(p - 1)] {
        for l in 0..LANES {
            s[l] += row[l];
        }
    }
    for i in from.max(p - 1)..end {
        for l in 0..LANES {
            s[l] += x[i][l];
            s[l] -= x[i + 1 - p][l];
        }
    }
    *sum = s;
}

#[inline(always)]
fn ema_rows(p: usize, acc: &mut Lanes, x: &[Lanes], from: usize, to: usize) {
    if p == 1 {
        return;
    }
    let mut a = *acc;
    for row in &x[from.min(p)..to.min(p)] {
        for l in 0..LANES {
            a[l] += row[l];
        }
    }
    if from < p && to >= p {
        a = std::array::from_fn(|l| a[l] / p as f64);
    }
    let k = per_to_k(p);
    for row in &x[from.max(p).min(to)..to] {
        for l in 0..LANES {
            a[l] = (row[l] - a[l]).mul_add(k, a[l]);
        }
    }
    *acc = a;
}

#[inline(always)]
fn rsi_rows(p: usize, gain: &mut Lanes, loss: &mut Lanes, x: &[Lanes], from: usize, to: usize) {
    let inv = 1.0 / p as f64;
    let m = (p - 1) as f64;
    let (mut g, mut lo) = (*gain, *loss);
    for i in from.clamp(1, p + 1)..to.min(p + 1) {
        for l in 0..LANES {
            let diff = x[i][l] - x[i - 1][l];
            if diff < 0.0 {
                lo[l] -= diff;
            } else {
                g[l] += diff;
            }
        }
    }
    if from <= p && to > p {
        for l in 0..LANES {
            lo[l] *= inv;
            g[l] *= inv;
        }
    }
    for i in from.max(p + 1)..to {
        for l in 0..LANES {
            let diff = x[i][l] - x[i - 1][l];
            let down = (diff < 0.0) as u64;
            let to_loss = f64::from_bits(diff.to_bits() & down.wrapping_neg());
            let to_gain = f64::from_bits(diff.to_bits() & (down.wrapping_sub(1)));
            lo[l] = lo[l] * m - to_loss;
            g[l] = g[l] * m + to_gain;
            lo[l] *= inv;
            g[l] *= inv;
        }
    }
    (*gain, *loss) = (g, lo);
}

#[inline(always)]
fn atr_rows(p: usize, acc: &mut Lanes, [c, h, lo]: [&[Lanes]; 3], from: usize, to: usize) {
    let mut a = *acc;
    for i in from.clamp(1, p + 1)..to.min(p + 1) {
        for l in 0..LANES {
            a[l] += true_range(h[i][l], lo[i][l], c[i - 1][l]);
        }
    }
    if from <= p && to > p {
        a = std::array::from_fn(|l| a[l] / p as f64);
    }
    let beta = (p - 1) as f64 / p as f64;
    let alpha = 1.0 - beta;
    for i in from.max(p + 1)..to {
        for l in 0..LANES {
            let tr = true_range(h[i][l], lo[i][l], c[i - 1][l]);
            a[l] = beta.mul_add(a[l], alpha * tr);
        }
    }
    *acc = a;
}

#[inline(always)]
fn var_rows(v: &mut Var, x: &[Lanes], from: usize, to: usize) {
    let p = v.p;
    let inv = 1.0 / p as f64;
    if from == 0 {
        v.shift = x[0];
    }
    let (shift, mut t1, mut t2, mut var) = (v.shift, v.t1, v.t2, v.var);
    for row in &x[from.min(p - 1)..to.min(p - 1)] {
        for l in 0..LANES {
            let d = row[l] - shift[l];
            t1[l] += d;
            t2[l] += d * d;
        }
    }
    let mut shift = shift;
    let mut departing = [0.0; LANES];
    for i in from.max(p - 1)..to {
        let start = i + 1 - p;
        // The common step for every lane first (branch-free, so it vectorises), then the
        // rare re-anchoring lane by lane.
        let mut off = [false; LANES];
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
            off[l] = (var[l] < 0.000001 * (t2[l] * inv)) | (departing[l] > 1000000.0 * t2[l]);
        }
        if off.iter().any(|o| *o) || i == v.next_due {
            for l in 0..LANES {
                if var[l] < 0.000001 * (t2[l] * inv)
                    || departing[l] > 1000000.0 * t2[l]
                    || i == v.due[l]
                {
                    v.due[l] = i + 32 * p;
                    (shift[l], t1[l], t2[l], var[l]) = reanchor(&x[start..=i], l, inv);
                }
            }
            v.next_due = v.due.iter().copied().min().unwrap_or(usize::MAX);
        }
    }
    (v.shift, v.t1, v.t2, v.var) = (shift, t1, t2, var);
}

/// Rows `from..to` of lane `l`'s column into `rows`, eight rows per `block` so that the
/// reads are whole cache lines and the block transposes in registers.
#[inline(always)]
fn transpose(
    cols: &[&[f64]; LANES],
    from: usize,
    to: usize,
    rows: &mut [Lanes],
    block: unsafe fn(&[&[f64]; LANES], usize, &mut [Lanes]),
) {
    let mut i = from;
    let fit = cols.iter().all(|c| c.len() >= to) && rows.len() >= to;
    while fit && i + 8 <= to {
        // SAFETY: every column and `rows` hold at least `i + 8` values (checked above);
        // the block functions are chosen with the CPU features they need (`detect`).
        unsafe { block(cols, i, &mut rows[i..i + 8]) };
        i += 8;
    }
    for (r, row) in rows[i..to].iter_mut().enumerate() {
        *row = std::array::from_fn(|l| cols[l][i + r]);
    }
}

/// Rows `i..i + 8` of the columns into `out[..8]`, one value at a time (the portable
/// form). Safe to call whenever the slices are that long.
#[inline(always)]
unsafe fn block_plain(cols: &[&[f64]; LANES], i: usize, out: &mut [Lanes]) {
    for (r, row) in out[..8].iter_mut().enumerate() {
        *row = std::array::from_fn(|l| cols[l][i + r]);
    }
}

/// The block with AVX2: 4 x 4 transposes (unpack, then swap 128-bit halves).
/// Needs AVX2, and `i + 8` values in every column and 8 rows in `out`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn block_avx2(cols: &[&[f64]; LANES], i: usize, out: &mut [Lanes]) {
    use std::arch::x86_64::*;
    for half in 0..2 {
        for lanes in 0..LANES / 4 {
            let r: [__m256d; 4] = std::array::from_fn(|c| {
                _mm256_loadu_pd(cols[lanes * 4 + c].as_ptr().add(i + half * 4))
            });
            let t0 = _mm256_unpacklo_pd(r[0], r[1]);
            let t1 = _mm256_unpackhi_pd(r[0], r[1]);
            let t2 = _mm256_unpacklo_pd(r[2], r[3]);
            let t3 = _mm256_unpackhi_pd(r[2], r[3]);
            let rows = [
                _mm256_permute2f128_pd::<0x20>(t0, t2),
                _mm256_permute2f128_pd::<0x20>(t1, t3),
                _mm256_permute2f128_pd::<0x31>(t0, t2),
                _mm256_permute2f128_pd::<0x31>(t1, t3),
            ];
            for (k, v) in rows.into_iter().enumerate() {
                _mm256_storeu_pd(out[half * 4 + k].as_mut_ptr().add(lanes * 4), v);
            }
        }
    }
}

/// The whole pass, written once and compiled per instruction set: plain (any CPU) and AVX2 +
/// FMA (where `mul_add` is one instruction instead of a libm call and a row is two vector
/// registers). Every `run` is `unsafe` only because the wide one needs a CPU with those
/// features; the plain one has no precondition. (An AVX-512 pass, a row in one register,
/// took about 7% less CPU time here but needs Rust 1.89, above the workspace's MSRV.)
macro_rules! group_pass {
    ($block:path $(, #[$feature:meta])*) => {
        use super::{Group, Lanes, Step};

        /// Runs every step over all `g.n` rows of the group; `rows` receives the group's
        /// close, high and low as rows of lanes (high and low only when `hl`).
        #[inline]
        $(#[$feature])*
        pub(crate) unsafe fn run(g: &Group<'_>, hl: bool, steps: &mut [Step], rows: &mut [Vec<Lanes>; 3]) {
            let n = g.n;
            let inputs = if hl { 3 } else { 1 };
            for r in rows[..inputs].iter_mut() {
                r.resize(n, [0.0; super::LANES]);
            }
            let mut from = 0;
            while from < n {
                let to = (from + super::TILE).min(n);
                for (k, r) in rows[..inputs].iter_mut().enumerate() {
                    g.source.load(k, from, to, r, $block);
                }
                let [c, h, lo] = rows;
                let (c, h, lo) = (&c[..n], &h[..], &lo[..]);
                for s in steps.iter_mut() {
                    match s {
                        Step::Sma { p, sum } => super::sma_rows(*p, sum, c, from, to),
                        Step::Ema { p, acc } => super::ema_rows(*p, acc, c, from, to),
                        Step::Rsi { p, gain, loss } => super::rsi_rows(*p, gain, loss, c, from, to),
                        Step::Atr { p, acc } => super::atr_rows(*p, acc, [c, h, lo], from, to),
                        Step::Var(v) => super::var_rows(v, c, from, to),
                    }
                }
                from = to;
            }
        }
    };
}

pub(crate) mod plain {
    group_pass!(super::block_plain);
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    group_pass!(super::block_avx2, #[target_feature(enable = "avx2,fma")]);
}

/// The pass for the running CPU, chosen once per scan.
pub(crate) type Pass = unsafe fn(&Group<'_>, bool, &mut [Step], &mut [Vec<Lanes>; 3]);

pub(crate) fn detect() -> Pass {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") {
            return avx2::run;
        }
    }
    plain::run
}

/// Every pass this CPU can run, the portable one first.
#[cfg(test)]
pub(crate) fn available() -> Vec<Pass> {
    let mut passes: Vec<Pass> = vec![plain::run];
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") {
            passes.push(avx2::run);
        }
    }
    passes
}

/// The re-anchoring branch of `running_variance` for one lane's window: the new shift, the sums
/// with the window's oldest value already removed, and the window's variance.
#[cold]
#[inline(never)]
fn reanchor(window: &[Lanes], lane: usize, inv: f64) -> (f64, f64, f64, f64) {
    var_rebuild(|| window.iter().map(|row| row[lane]), inv)
}
