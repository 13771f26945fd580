//! Momentum indicators: RSI, MACD, STOCH, STOCHRSI, ADX, PLUS_DI, MINUS_DI, CCI, MFI,
//! WILLR, ROC, MOM, AROON. Batch kernels drive the streaming state of
//! [`super::stream`], so batch and streaming agree bit for bit by construction.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{mpsc, Mutex};

use super::chain::{run_chain, run_core, same_bits, Chain, Core};
use super::extreme::{block_arg_extremes, window_extremes, window_extremes_in};
use super::overlap::SmaChunks;
use super::parallel::{rows_in_parallel, stretches};
use super::stream::{
    cci_value, fast_k, is_zero_scaled, mfi_value, roc_value, rsi_value, true_range, willr_value,
    Adx, AdxCore, Aroon, Cci, Indicator, MaCore, Macd, MinusDi, PlusDi, Stoch, StochRsi,
};
#[cfg(doc)]
use super::stream::{Mom, Roc, Rsi};
use super::volatility::alloc_hlc;
use super::{
    any_nan, check_len, check_period, common_len, first_valid_row, per_to_k, run_bars, warm_up,
    Bar, Cols, MaType, Real, TaError,
};

macro_rules! alloc_real {
    ($into:ident, $alloc:ident) => {
        #[doc = concat!("Allocating form of [`", stringify!($into), "`].")]
        pub fn $alloc<T: Real>(real: &[T], period: usize) -> Result<Vec<f64>, TaError> {
            let mut out = vec![0.0; real.len()];
            $into(real, period, &mut out)?;
            Ok(out)
        }
    };
}

/// TA-Lib `RSI` (Wilder smoothing, unstable period 0). Default 14, lookback `period`,
/// `period` in 2..=100000.
///
/// The slice form of [`Rsi`]: the same operations in the same order, without the per-step
/// warm-up and NaN-gate branches of the streaming state.
pub fn rsi_into<T: Real>(real: &[T], period: usize, out: &mut [f64]) -> Result<(), TaError> {
    check_period("timeperiod", period, 2)?;
    check_len("out", out.len(), real.len())?;
    let Some(b) = warm_up(&[real], period, out) else {
        return Ok(());
    };
    let x = &real[b..];
    let out = &mut out[b + period..];
    let sums = RsiSums::seed(&x[..=period], period);
    out[0] = rsi_value(sums.gain, sums.loss);
    let chain = RsiChain {
        x,
        period,
        inv: sums.inv,
        m: sums.m,
    };
    // Wilder's smoothing, as PLUS_DI's: the same run-ahead.
    run_chain(&chain, [&mut out[1..]], di_forget(period));
    Ok(())
}
alloc_real!(rsi_into, rsi);

/// RSI's running averages of gains and losses: TA-Lib's seed and steps, resumable, so a
/// long series can be handed on a stretch at a time with the bits of one pass.
#[derive(Clone, Copy)]
struct RsiSums {
    gain: f64,
    loss: f64,
    inv: f64,
    m: f64,
}

impl RsiSums {
    /// The averages over the first `period` changes of `x` (`period + 1` values).
    #[inline(always)]
    fn seed<T: Real>(x: &[T], period: usize) -> RsiSums {
        let inv = 1.0 / period as f64;
        let (mut gain, mut loss) = (0.0, 0.0);
        for w in x.windows(2) {
            let diff = w[1].to_f64() - w[0].to_f64();
            if diff < 0.0 {
                loss -= diff;
            } else {
                gain += diff;
            }
        }
        loss *= inv;
        gain *= inv;
        RsiSums {
            gain,
            loss,
            inv,
            m: (period - 1) as f64,
        }
    }

    /// One step per `cur[k]` (whose previous value is `prev[k]`), writing RSI to `out[k]`.
    #[inline(always)]
    fn run<T: Real>(&mut self, cur: &[T], prev: &[T], out: &mut [f64]) {
        // Locals, not fields: through `&mut self` the sums would go through memory.
        let RsiSums {
            mut gain,
            mut loss,
            inv,
            m,
        } = *self;
        for (o, (cur, prev)) in out.iter_mut().zip(cur.iter().zip(prev)) {
            (gain, loss) = rsi_step(gain, loss, cur.to_f64() - prev.to_f64(), m, inv);
            *o = rsi_value(gain, loss);
        }
        (self.gain, self.loss) = (gain, loss);
    }
}

/// One bar of TA-Lib's RSI averages: the change joins the gains or the losses, both decay.
#[inline(always)]
fn rsi_step(gain: f64, loss: f64, diff: f64, m: f64, inv: f64) -> (f64, f64) {
    // Branch-free, as in the streaming form (a branch on the sign of a price change
    // mispredicts half the time: measured twice as slow). The change or +0.0 is picked
    // with a bit mask: written as a select, LLVM sinks it below the subtraction and puts
    // a blend on the loop-carried chain.
    let down = (diff < 0.0) as u64;
    let to_loss = f64::from_bits(diff.to_bits() & down.wrapping_neg());
    let to_gain = f64::from_bits(diff.to_bits() & (down.wrapping_sub(1)));
    let mut loss = loss * m - to_loss;
    let mut gain = gain * m + to_gain;
    loss *= inv;
    gain *= inv;
    (gain, loss)
}

/// RSI as a [`Chain`] over a long series: row `r` is bar `period + 1 + r` of the valid
/// stretch and the state is the two averages, which forget a guessed start as Wilder's
/// smoothing does (the guess: TA-Lib's seed over the `period` changes before the row).
#[derive(Clone, Copy)]
struct RsiChain<'a, T> {
    x: &'a [T],
    period: usize,
    inv: f64,
    m: f64,
}

impl<T: Real> Chain<1> for RsiChain<'_, T> {
    type State = (f64, f64);

    #[inline(always)]
    fn seed(&self, row: usize) -> (f64, f64) {
        let s = RsiSums::seed(&self.x[row..=row + self.period], self.period);
        (s.gain, s.loss)
    }

    #[inline(always)]
    fn step(&self, (gain, loss): (f64, f64), row: usize) -> ((f64, f64), [f64; 1]) {
        let i = row + self.period + 1;
        let diff = self.x[i].to_f64() - self.x[i - 1].to_f64();
        let (gain, loss) = rsi_step(gain, loss, diff, self.m, self.inv);
        ((gain, loss), [rsi_value(gain, loss)])
    }

    #[inline(always)]
    fn same(a: &(f64, f64), b: &(f64, f64)) -> bool {
        same_bits([a.0, a.1], [b.0, b.1])
    }
}

/// `out[i] = f(x[i], x[i - period])` from the first valid row + `period` on ([`Mom`],
/// [`Roc`] on a slice: no ring buffer, and the loop vectorises).
fn lag_into<T: Real>(
    real: &[T],
    period: usize,
    out: &mut [f64],
    f: impl Fn(f64, f64) -> f64 + Sync,
) -> Result<(), TaError> {
    check_period("timeperiod", period, 1)?;
    check_len("out", out.len(), real.len())?;
    let Some(b) = warm_up(&[real], period, out) else {
        return Ok(());
    };
    let x = &real[b..];
    // Each row is its own two inputs: long series are cut over the cores.
    rows_in_parallel(&mut out[b + period..], |first, out| {
        let (cur, old) = (&x[period + first..], &x[first..]);
        for (o, (cur, old)) in out.iter_mut().zip(cur.iter().zip(old)) {
            *o = f(cur.to_f64(), old.to_f64());
        }
    });
    Ok(())
}

/// TA-Lib `MOM`: `x - x[period ago]`. Default 10, lookback `period`.
pub fn mom_into<T: Real>(real: &[T], period: usize, out: &mut [f64]) -> Result<(), TaError> {
    lag_into(real, period, out, |x, old| x - old)
}
alloc_real!(mom_into, mom);

/// TA-Lib `ROC`: `(x / x[period ago] - 1) * 100`, 0 when the old value is 0. Default 10,
/// lookback `period`.
pub fn roc_into<T: Real>(real: &[T], period: usize, out: &mut [f64]) -> Result<(), TaError> {
    lag_into(real, period, out, roc_value)
}
alloc_real!(roc_into, roc);

fn hlc_batch<T: Real, S>(
    state: S,
    high: &[T],
    low: &[T],
    close: &[T],
    out: &mut [f64],
) -> Result<(), TaError>
where
    S: Indicator<Input = Bar, Output = f64>,
{
    let n = common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("close", close.len()),
        ("out", out.len()),
    ])?;
    let cols = Cols {
        high,
        low,
        close,
        volume: &[],
    };
    run_bars(state, cols, n, |i, v| out[i] = v);
    Ok(())
}

/// TA-Lib `ADX`. Default 14, lookback `2 * period - 1`, `period` in 2..=100000.
///
/// What [`Adx`] computes bar by bar, on a long series a stretch per core
/// ([`super::chain`]): its three Wilder smoothings (DM+, DM-, TR) and the ADX's own forget
/// a guessed start, so a later stretch starts early from a fresh core.
pub fn adx_into<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
    out: &mut [f64],
) -> Result<(), TaError> {
    let lookback = Adx::new(period)?.lookback();
    let n = common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("close", close.len()),
        ("out", out.len()),
    ])?;
    // The stream's gate: NaN until the first bar without a NaN.
    let bar = |i: usize| (high[i].to_f64(), low[i].to_f64(), close[i].to_f64());
    let Some(b) = (0..n).find(|&i| {
        let (h, l, c) = bar(i);
        !(h.is_nan() || l.is_nan() || c.is_nan())
    }) else {
        out.fill(f64::NAN);
        return Ok(());
    };
    out[..b].fill(f64::NAN);
    // Wilder's smoothing took at most 37 `period` rows to forget a guess (see
    // `super::chain`); the DM sums' and then the ADX's own: every stretch of ADX(14)
    // arrived on its predecessor's bits from 48 `period` rows on, on 1,000,000 bars of a
    // random walk and of real bars. The rest is margin.
    let forget = lookback + 128 * period + 64;
    run_core(
        AdxCore::new(period),
        move |r| bar(b + r),
        &mut out[b..],
        forget,
    );
    Ok(())
}

/// Allocating form of [`adx_into`].
pub fn adx<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
) -> Result<Vec<f64>, TaError> {
    alloc_hlc(high, low, close, |o| adx_into(high, low, close, period, o))
}

impl Core for AdxCore {
    type Input = (f64, f64, f64);
    #[inline(always)]
    fn update(&mut self, (high, low, close): (f64, f64, f64)) -> Option<f64> {
        AdxCore::update(self, high, low, close)
    }
    fn same_state(&self, other: &AdxCore) -> bool {
        AdxCore::same_state(self, other)
    }
}
/// `x` where `keep`, else +0.0, without a branch.
#[inline(always)]
fn masked(x: f64, keep: bool) -> f64 {
    f64::from_bits(x.to_bits() & (keep as u64).wrapping_neg())
}

/// The slice form of [`PlusDi`] / [`MinusDi`] for `period >= 2`: TA-Lib's directional
/// movement and true range, summed over the first `period - 1` bars and then smoothed,
/// with the same operations in the same order. Which of +DM / -DM a bar has is decided
/// without a branch (it flips at random on market data); adding the +0.0 of a bar without
/// movement leaves the (never negative-zero) sums' bits unchanged, as the stream's skipped
/// addition does. Both smoothings forget their start, so a long series runs a stretch per
/// core ([`super::chain`]).
fn di_slice<T: Real, const PLUS: bool>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
    out: &mut [f64],
) -> Result<(), TaError> {
    common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("close", close.len()),
        ("out", out.len()),
    ])?;
    let Some(b) = warm_up(&[high, low, close], period, out) else {
        return Ok(());
    };
    let chain = DiChain::<T, PLUS> {
        h: &high[b..],
        l: &low[b..],
        c: &close[b..],
        period,
    };
    run_chain(&chain, [&mut out[b + period..]], di_forget(period));
    Ok(())
}

/// Rows a DI stretch runs ahead: Wilder's smoothing took at most 37 `period` rows to
/// forget a guess (see [`super::chain`]); the rest is margin.
fn di_forget(period: usize) -> usize {
    64 * period + 64
}

/// +DI or -DI as a [`Chain`]: row `r` is bar `period + r` of the valid stretch; the state
/// is the smoothed (DM, TR).
#[derive(Clone, Copy)]
struct DiChain<'a, T, const PLUS: bool> {
    h: &'a [T],
    l: &'a [T],
    c: &'a [T],
    period: usize,
}

impl<T: Real, const PLUS: bool> DiChain<'_, T, PLUS> {
    /// Bar `i`'s directional movement (this side's, or +0.0) and true range.
    #[inline(always)]
    fn bar(&self, i: usize) -> (f64, f64) {
        let (h, l, c) = (self.h, self.l, self.c);
        let (hi, lo) = (h[i].to_f64(), l[i].to_f64());
        let diff_p = hi - h[i - 1].to_f64();
        let diff_m = l[i - 1].to_f64() - lo;
        // `&`, not `&&`: no short-circuit branches.
        let minus = (diff_m > 0.0) & (diff_p < diff_m);
        let plus = !minus & (diff_p > 0.0) & (diff_p > diff_m);
        let dm = if PLUS {
            masked(diff_p, plus)
        } else {
            masked(diff_m, minus)
        };
        (dm, true_range(hi, lo, c[i - 1].to_f64()))
    }
}

impl<T: Real, const PLUS: bool> Chain<1> for DiChain<'_, T, PLUS> {
    type State = (f64, f64);

    /// TA-Lib's start: the sums over the `period - 1` bars before the row's bar.
    #[inline(always)]
    fn seed(&self, row: usize) -> (f64, f64) {
        let (mut dm, mut tr) = (0.0, 0.0);
        for i in row + 1..row + self.period {
            let (d, t) = self.bar(i);
            dm += d;
            tr += t;
        }
        (dm, tr)
    }

    #[inline(always)]
    fn step(&self, (dm, tr): (f64, f64), row: usize) -> ((f64, f64), [f64; 1]) {
        let p = self.period as f64;
        let (d, t) = self.bar(row + self.period);
        let mut dm = dm;
        dm -= dm / p;
        dm += d;
        let tr = tr - (tr / p) + t;
        let di = if tr > 0.0 { 100.0 * (dm / tr) } else { 0.0 };
        ((dm, tr), [di])
    }

    #[inline(always)]
    fn same(a: &(f64, f64), b: &(f64, f64)) -> bool {
        same_bits([a.0, a.1], [b.0, b.1])
    }
}

/// TA-Lib `PLUS_DI`. Default 14, lookback `period` (1 for period 1, which TA-Lib computes
/// as the bar's +DM / TR without smoothing or the x100).
pub fn plus_di_into<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
    out: &mut [f64],
) -> Result<(), TaError> {
    let state = PlusDi::new(period)?;
    if period >= 2 {
        return di_slice::<T, true>(high, low, close, period, out);
    }
    hlc_batch(state, high, low, close, out)
}

/// Allocating form of [`plus_di_into`].
pub fn plus_di<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
) -> Result<Vec<f64>, TaError> {
    alloc_hlc(high, low, close, |o| {
        plus_di_into(high, low, close, period, o)
    })
}

/// TA-Lib `MINUS_DI`. Default 14, lookback `period` (period 1 as for PLUS_DI).
pub fn minus_di_into<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
    out: &mut [f64],
) -> Result<(), TaError> {
    let state = MinusDi::new(period)?;
    if period >= 2 {
        return di_slice::<T, false>(high, low, close, period, out);
    }
    hlc_batch(state, high, low, close, out)
}

/// Allocating form of [`minus_di_into`].
pub fn minus_di<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
) -> Result<Vec<f64>, TaError> {
    alloc_hlc(high, low, close, |o| {
        minus_di_into(high, low, close, period, o)
    })
}
/// TA-Lib `CCI` (typical price, mean absolute deviation, 0.015 constant). Default 14,
/// lookback `period - 1`, `period` in 2..=100000. O(period) per element, as in TA-Lib:
/// the mean deviation has no running form.
///
/// The slice form of [`Cci`]: each bar's sums run over its window in the stream's ring
/// order, with the same operations; [`CCI_LANES`] bars at a time, each in its own vector
/// lane, so the sums' chains of additions overlap instead of following one another.
pub fn cci_into<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
    out: &mut [f64],
) -> Result<(), TaError> {
    Cci::new(period)?;
    common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("close", close.len()),
        ("out", out.len()),
    ])?;
    let Some(b) = warm_up(&[high, low, close], period - 1, out) else {
        return Ok(());
    };
    // The typical prices go into `out` first; bars are then done from the last down, so
    // a bar's value replaces its typical price only once no later window needs it.
    let x = &mut out[b..];
    let bars = high[b..].iter().zip(&low[b..]).zip(&close[b..]);
    for (o, ((h, l), c)) in x.iter_mut().zip(bars) {
        *o = (h.to_f64() + l.to_f64() + c.to_f64()) / 3.0;
    }
    // A group is at most `period + 1` bars wide: a lane's ring then differs from lane 0's
    // by at most one bar per slot.
    super::wide_path(
        #[inline(always)]
        || match period + 1 {
            w if w >= CCI_LANES => cci_groups::<CCI_LANES>(x, period),
            w if w >= 8 => cci_groups::<8>(x, period),
            w if w >= 4 => cci_groups::<4>(x, period),
            _ => cci_groups::<1>(x, period),
        },
    );
    x[..period - 1].fill(f64::NAN);
    Ok(())
}

/// CCI in place of the typical prices `x`, from the last bar down: the bars above the
/// last whole group of `L` one at a time, then whole groups.
#[inline(always)]
fn cci_groups<const L: usize>(x: &mut [f64], period: usize) {
    let mut top = x.len();
    while (top - (period - 1)) % L != 0 {
        top -= 1;
        x[top] = cci_lanes::<1>(x, top, period)[0];
    }
    while top > period - 1 {
        top -= L;
        let v = cci_lanes::<L>(x, top, period);
        x[top..top + L].copy_from_slice(&v);
    }
}

/// Allocating form of [`cci_into`].
pub fn cci<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
) -> Result<Vec<f64>, TaError> {
    alloc_hlc(high, low, close, |o| cci_into(high, low, close, period, o))
}

/// Bars a CCI group computes side by side.
const CCI_LANES: usize = 16;

/// CCI of bars `i..i + L` from the typical prices in `x` (indexed from the first valid
/// bar, which went into ring slot 0), as [`super::stream::CciCore`] computes each: the
/// window summed in ring-slot order, the mean, the mean absolute deviation in the same
/// order. Lane 0's ring holds bars `i - r..=i` in slots `0..=r`, then `i + 1 - p..i - r`;
/// lane `k`'s holds bar `j + p` where lane 0's holds `j` once `j + p <= i + k` (and never
/// `j + 2p`: `L <= p + 1`).
#[inline(always)]
fn cci_lanes<const L: usize>(x: &[f64], i: usize, period: usize) -> [f64; L] {
    const { assert!(L <= CCI_LANES) };
    debug_assert!(L <= period + 1);
    let p = period;
    let r = i % p;
    let last = i + L - 1;
    // Slot of bar `j` in lane 0: each lane's value, picked by bit masks (no branch, and
    // no per-lane compare): lanes `d..` take the later bar.
    let lanes = |j: usize| -> [f64; L] {
        let d = (j + p - i).min(L);
        let mask = &CCI_RAMP[CCI_LANES - d..][..L];
        let old = x[j].to_bits();
        let swap = old ^ x[(j + p).min(last)].to_bits();
        std::array::from_fn(|k| f64::from_bits(old ^ (swap & mask[k])))
    };
    let mut sum = [0.0; L];
    let mut add = |j: usize| {
        for (acc, v) in sum.iter_mut().zip(lanes(j)) {
            *acc += v;
        }
    };
    for j in i - r..=i {
        add(j);
    }
    for j in i + 1 - p..i - r {
        add(j);
    }
    let pf = p as f64;
    let avg = sum.map(|s| s / pf);
    let mut dev = [0.0; L];
    let mut add = |j: usize| {
        for ((acc, v), avg) in dev.iter_mut().zip(lanes(j)).zip(&avg) {
            *acc += (v - avg).abs();
        }
    };
    for j in i - r..=i {
        add(j);
    }
    for j in i + 1 - p..i - r {
        add(j);
    }
    std::array::from_fn(|k| cci_value(x[i + k], avg[k], dev[k] / pf))
}

/// Lane masks for [`cci_lanes`]: `CCI_RAMP[CCI_LANES - d..][k]` is all ones for `k >= d`.
static CCI_RAMP: [u64; 2 * CCI_LANES] = {
    let mut ramp = [0; 2 * CCI_LANES];
    let mut k = CCI_LANES;
    while k < 2 * CCI_LANES {
        ramp[k] = u64::MAX;
        k += 1;
    }
    ramp
};

#[cfg(test)]
mod cci_tests {
    use super::super::stream::{Cci, Indicator};
    use super::super::Bar;
    use super::{cci, CCI_LANES};

    /// The lane groups against the bar-at-a-time stream: periods below, at and above the
    /// group width, series whose length leaves every remainder of bars outside whole
    /// groups, NaNs before and after the start, flat stretches, float32 input.
    #[test]
    fn lane_groups_equal_the_stream() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut u = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = 700;
        let (mut h, mut l, mut c) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let mut x = 20.0;
        for i in 0..n {
            x += u() - 0.5;
            (c[i], h[i], l[i]) = (x, x + u(), x - u());
        }
        for i in 300..360 {
            (h[i], l[i], c[i]) = (7.0, 7.0, 7.0);
        }
        let mut with_nan = c.clone();
        with_nan[1] = f64::NAN;
        with_nan[500] = f64::NAN;
        let f = |x: &[f64]| x.iter().map(|&x| x as f32).collect::<Vec<_>>();
        let wide = |x: &[f64]| x.iter().map(|&x| x as f32 as f64).collect::<Vec<_>>();
        let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for close in [&c, &with_nan] {
            for len in (n - CCI_LANES..=n).chain([0, 1, 5, 40]) {
                let (h, l, close) = (&h[..len], &l[..len], &close[..len]);
                for p in [2, 3, 14, CCI_LANES - 1, CCI_LANES, CCI_LANES + 1, 37, 200] {
                    let batch = cci(h, l, close, p).unwrap();
                    let mut st = Cci::new(p).unwrap();
                    for (i, b) in batch.iter().enumerate() {
                        let want = st.update(Bar::new(0.0, h[i], l[i], close[i], 0.0));
                        assert_eq!(
                            b.to_bits(),
                            want.to_bits(),
                            "period {p}, len {len}, bar {i}"
                        );
                    }
                    let narrow = cci(&f(h), &f(l), &f(close), p).unwrap();
                    let widened = cci(&wide(h), &wide(l), &wide(close), p).unwrap();
                    assert_eq!(bits(&narrow), bits(&widened), "period {p}, len {len}");
                }
            }
        }
    }
}

/// TA-Lib `WILLR` (Williams %R, clamped to -100..0; 0 on a range flat relative to its
/// price level). Default 14, lookback `period - 1`, `period` in 2..=100000.
///
/// The batch kernel is TA-Lib 0.8's van Herk / Gil-Werman block scan: O(1) per bar
/// whatever the period, and it reproduces TA-Lib's batch results on NaN-containing input,
/// which differ from TA-Lib's own (and [`super::stream::Willr`]'s) bar-at-a-time form. On NaN-free input
/// both forms agree bit for bit. A long series (see `parallel::stretches`) is cut into
/// stretches of windows computed on rayon's threads, with the same bits.
pub fn willr_into<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
    out: &mut [f64],
) -> Result<(), TaError> {
    check_period("timeperiod", period, 2)?;
    let n = common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("close", close.len()),
        ("out", out.len()),
    ])?;
    let b = first_valid_row(&[high, low, close], n);
    if n == 0 || n - b < period {
        out.fill(f64::NAN);
        return Ok(());
    }
    out[..b + period - 1].fill(f64::NAN);
    let (h, l, c) = (&high[b..], &low[b..], &close[b..]);
    // %R of the windows ending in `ends` (relative to `b`) into `out` (their rows): each
    // window's value is its own, so stretches of windows can go to different threads.
    let stretch = |ends: Range<usize>, out: &mut [f64]| {
        let from = ends.start;
        super::widest_path(
            #[inline(always)]
            || {
                window_extremes_in(
                    h,
                    l,
                    period,
                    ends,
                    #[inline(always)]
                    |first, hh, ll| {
                        let (c, out) = (&c[first..], &mut out[first - from..][..hh.len()]);
                        for (o, ((c, hh), ll)) in out.iter_mut().zip(c.iter().zip(hh).zip(ll)) {
                            *o = willr_value(c.to_f64(), *hh, *ll);
                        }
                    },
                )
            },
        );
    };
    split_windows(
        period - 1..n - b,
        &mut [&mut out[b + period - 1..]],
        |ends, outs| stretch(ends, &mut *outs[0]),
    );
    Ok(())
}

/// Windows per stretch handed to another thread by [`split_windows`] at the least.
const MIN_STRETCH: usize = 1 << 14;

/// Runs `stretch(ends, outs)` over the windows ending in `ends`, cut into stretches over
/// rayon's pool when the series is long enough ([`stretches`]), else in one call on this
/// thread. `outs` are the output rows of those windows (each `ends.len()` long); each call
/// gets its stretch's rows of each. For kernels whose every window is computed on its
/// own, with bits that do not depend on where a stretch starts.
fn split_windows<const K: usize>(
    ends: Range<usize>,
    outs: &mut [&mut [f64]; K],
    stretch: impl Fn(Range<usize>, &mut [&mut [f64]; K]) + Sync,
) {
    let parts = stretches(ends.end).min(ends.len() / MIN_STRETCH).max(1);
    if parts == 1 {
        return stretch(ends, outs);
    }
    let outs = outs.each_mut().map(|o| &mut **o);
    let mut cut = blocks(ends.start, outs, ends.len().div_ceil(parts));
    let stretch = &stretch;
    rayon::in_place_scope(|s| {
        // The first stretch on this thread (see `on_two_threads`), the others on the pool.
        let first = cut.pop_front();
        for (from, mut o) in cut {
            s.spawn(move |_| stretch(from..from + o[0].len(), &mut o));
        }
        if let Some((from, mut o)) = first {
            stretch(from..from + o[0].len(), &mut o);
        }
    });
}

/// Runs `here` on this thread and `there` on one of rayon's workers, and returns both
/// results. Unlike `rayon::join`, which from outside the pool moves both closures onto
/// workers and blocks, this thread does its share: one sleeping worker to wake, not two
/// (a wake-up is a noticeable part of a millisecond-long call).
fn on_two_threads<A, B: Send>(
    here: impl FnOnce() -> A,
    there: impl FnOnce() -> B + Send,
) -> (A, B) {
    let mut got = None;
    let a = rayon::in_place_scope(|s| {
        s.spawn(|_| got = Some(there()));
        here()
    });
    // The scope returns once the spawned closure has run (or re-raises its panic).
    (a, got.expect("the spawned half ran"))
}

/// Allocating form of [`willr_into`].
pub fn willr<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
) -> Result<Vec<f64>, TaError> {
    alloc_hlc(high, low, close, |o| {
        willr_into(high, low, close, period, o)
    })
}

/// TA-Lib `MFI`. Default 14, lookback `period`, `period` in 2..=100000. TA-Lib returns 0
/// when the total money flow of the window is below 1.
pub fn mfi_into<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    volume: &[T],
    period: usize,
    out: &mut [f64],
) -> Result<(), TaError> {
    common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("close", close.len()),
        ("volume", volume.len()),
        ("out", out.len()),
    ])?;
    check_period("timeperiod", period, 2)?;
    // The slice form of `Mfi`: the same operations in the same order, with the window's
    // flows in a local ring and no per-bar warm-up or NaN-gate branches. A chunk of bars
    // at a time: their flows in one vectorised pass (the typical price's division, and
    // which side a flow goes to without a branch: it flips at random on market data), the
    // running sums bar by bar, then the chunk's MFI values in another vectorised pass.
    let Some(b) = warm_up(&[high, low, close, volume], period, out) else {
        return Ok(());
    };
    let (h, l, c, v) = (&high[b..], &low[b..], &close[b..], &volume[b..]);
    let out = &mut out[b..];
    let n = h.len();
    let tp = |i: usize| (h[i].to_f64() + l[i].to_f64() + c[i].to_f64()) / 3.0;
    let mut ring = vec![(0.0, 0.0); period];
    const CHUNK: usize = 256;
    let (mut flow_p, mut flow_n) = ([0.0; CHUNK], [0.0; CHUNK]);
    let (mut sum_p, mut sum_n) = ([0.0; CHUNK], [0.0; CHUNK]);
    super::wide_path(
        #[inline(always)]
        || {
            // Locals, not captured variables: behind a reference LLVM keeps the running
            // sums in memory, a store and a load on their chain every bar.
            let (mut pos, mut neg, mut null_run) = (0.0, 0.0, 0usize);
            let mut prev_tp = tp(0);
            let mut slot = 0;
            let mut first = 1;
            while first < n {
                let len = CHUNK.min(n - first);
                let end = first + len;
                // The chunk's flows (see `money_flow`; at most one side is non-zero).
                let bars = h[first..end]
                    .iter()
                    .zip(&l[first..end])
                    .zip(c[first..end].iter().zip(&v[first..end]));
                for ((p, n), ((h, l), (c, v))) in flow_p.iter_mut().zip(&mut flow_n).zip(bars) {
                    let t = (h.to_f64() + l.to_f64() + c.to_f64()) / 3.0;
                    let diff = t - prev_tp;
                    let scale = t.abs() + prev_tp.abs();
                    let flow = if is_zero_scaled(diff, scale) {
                        0.0
                    } else {
                        t * v.to_f64()
                    };
                    let down = diff < 0.0;
                    (*p, *n) = (if down { 0.0 } else { flow }, if down { flow } else { 0.0 });
                    prev_tp = t;
                }
                // The running sums, in the stream's order.
                for k in 0..len {
                    let i = first + k;
                    if i > period {
                        let (p, n) = ring[slot];
                        pos -= p;
                        neg -= n;
                    }
                    let (p, n) = (flow_p[k], flow_n[k]);
                    ring[slot] = (p, n);
                    pos += p;
                    neg += n;
                    // No flow: both sides zero (a NaN flow is on one side).
                    let flat = (p == 0.0) & (n == 0.0);
                    null_run = if flat { null_run + 1 } else { 0 };
                    if null_run >= period {
                        // TA-Lib 0.8: `period` bars without flow reset both sums to exactly 0.
                        null_run = period;
                        pos = 0.0;
                        neg = 0.0;
                    }
                    slot += 1;
                    if slot == period {
                        slot = 0;
                    }
                    (sum_p[k], sum_n[k]) = (pos, neg);
                }
                // The chunk's values from bar `period` on.
                let skip = period.saturating_sub(first).min(len);
                let sums = sum_p[skip..len].iter().zip(&sum_n[skip..len]);
                for (o, (&p, &n)) in out[first + skip..end].iter_mut().zip(sums) {
                    *o = mfi_value(p, n);
                }
                first = end;
            }
        },
    );
    Ok(())
}

/// Allocating form of [`mfi_into`].
pub fn mfi<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    volume: &[T],
    period: usize,
) -> Result<Vec<f64>, TaError> {
    let mut out = vec![0.0; high.len()];
    mfi_into(high, low, close, volume, period, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod mfi_tests {
    use super::super::stream::{Indicator, Mfi};
    use super::super::Bar;
    use super::mfi;

    /// The batch kernel's chunks (flows, sums, values) against the bar-at-a-time stream,
    /// on series many chunks long: periods shorter and longer than a chunk, flat runs that
    /// reset the sums, zero volume, NaNs after the start, float32 input.
    #[test]
    fn chunked_mfi_equals_the_stream_on_long_series() {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut u = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = 3000;
        let (mut h, mut l, mut c, mut v) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let mut x = 50.0;
        for i in 0..n {
            x += u() - 0.5;
            (c[i], h[i], l[i], v[i]) = (x, x + u(), x - u(), (u() * 100.0).round());
        }
        for i in 700..1100 {
            (h[i], l[i], c[i]) = (50.0, 50.0, 50.0);
        }
        v[1500..1520].fill(0.0);
        let mut with_nan = c.clone();
        with_nan[0] = f64::NAN;
        with_nan[2200] = f64::NAN;
        for close in [&c, &with_nan] {
            for p in [2, 14, 255, 256, 257, 600] {
                let batch = mfi(&h, &l, close, &v, p).unwrap();
                let mut st = Mfi::new(p).unwrap();
                for (i, b) in batch.iter().enumerate() {
                    let want = st.update(Bar::new(0.0, h[i], l[i], close[i], v[i]));
                    assert_eq!(b.to_bits(), want.to_bits(), "period {p}, bar {i}");
                }
                let f = |x: &[f64]| x.iter().map(|&x| x as f32).collect::<Vec<_>>();
                let narrow = mfi(&f(&h), &f(&l), &f(close), &f(&v), p).unwrap();
                let wide = |x: &[f64]| x.iter().map(|&x| x as f32 as f64).collect::<Vec<_>>();
                let widened = mfi(&wide(&h), &wide(&l), &wide(close), &wide(&v), p).unwrap();
                let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&narrow), bits(&widened), "period {p}");
            }
        }
    }
}

/// TA-Lib `MACD` with fast/slow EMA alignment as in TA-Lib (both start at bar `slow - 1`).
/// Defaults 12, 26, 9; lookback `slow - 1 + signal - 1`. Writes (macd, signal, hist).
pub fn macd_into<T: Real>(
    real: &[T],
    fast: usize,
    slow: usize,
    signal: usize,
    out_macd: &mut [f64],
    out_signal: &mut [f64],
    out_hist: &mut [f64],
) -> Result<(), TaError> {
    let n = real.len();
    check_len("macd", out_macd.len(), n)?;
    check_len("macdsignal", out_signal.len(), n)?;
    check_len("macdhist", out_hist.len(), n)?;
    let lookback = Macd::new(fast, slow, signal)?.lookback();
    // The slice form of `Macd`: the same operations in the same order, without the
    // stream's ring buffer, warm-up counters and per-bar `Option`s.
    let (fast, slow) = if slow < fast {
        (slow, fast)
    } else {
        (fast, slow)
    };
    let Some(b) = warm_up(&[real], lookback, out_macd) else {
        out_signal.fill(f64::NAN);
        out_hist.fill(f64::NAN);
        return Ok(());
    };
    out_signal[..b + lookback].fill(f64::NAN);
    out_hist[..b + lookback].fill(f64::NAN);
    let chain = MacdChain {
        x: &real[b..],
        fast,
        slow,
        signal,
        k_fast: per_to_k(fast),
        k_slow: per_to_k(slow),
        k_signal: per_to_k(signal),
    };
    let first = b + lookback;
    let (slow_ema, fast_ema, sig) = chain.start(0);
    let macd = fast_ema - slow_ema;
    (out_macd[first], out_signal[first], out_hist[first]) = (macd, sig, macd - sig);
    let outs = [
        &mut out_macd[first + 1..],
        &mut out_signal[first + 1..],
        &mut out_hist[first + 1..],
    ];
    // The three averages forget their start (an EMA took at most 18 periods).
    run_chain(&chain, outs, 64 * (slow + signal) + 64);
    Ok(())
}

/// MACD as a [`Chain`]: row `r` is bar `lookback + 1 + r` of the valid stretch; the state
/// is (slow EMA, fast EMA, signal).
#[derive(Clone, Copy)]
struct MacdChain<'a, T> {
    x: &'a [T],
    fast: usize,
    slow: usize,
    signal: usize,
    k_fast: f64,
    k_slow: f64,
    k_signal: f64,
}

impl<T: Real> MacdChain<'_, T> {
    /// TA-Lib's start on the bars from `s` on: the state after bar `s + lookback`.
    fn start(&self, s: usize) -> (f64, f64, f64) {
        let (fast, slow, signal) = (self.fast, self.slow, self.signal);
        let v = |i: usize| self.x[s + i].to_f64();
        // Both averages start at bar `slow - 1`, each seeded with the mean of its own period.
        let mut slow_ema = 0.0;
        for i in 0..slow {
            slow_ema += v(i);
        }
        slow_ema /= slow as f64;
        let mut fast_ema = 0.0;
        for i in slow - fast..slow {
            fast_ema += v(i);
        }
        fast_ema /= fast as f64;
        // The signal line is seeded with the mean of the first `signal` MACD values.
        let mut signal_sum = 0.0;
        signal_sum += fast_ema - slow_ema;
        for i in slow..slow + signal - 1 {
            slow_ema = (v(i) - slow_ema).mul_add(self.k_slow, slow_ema);
            fast_ema = (v(i) - fast_ema).mul_add(self.k_fast, fast_ema);
            signal_sum += fast_ema - slow_ema;
        }
        (slow_ema, fast_ema, signal_sum / signal as f64)
    }
}

impl<T: Real> Chain<3> for MacdChain<'_, T> {
    type State = (f64, f64, f64);

    #[inline(always)]
    fn seed(&self, row: usize) -> (f64, f64, f64) {
        self.start(row)
    }

    #[inline(always)]
    fn step(
        &self,
        (slow_ema, fast_ema, sig): (f64, f64, f64),
        row: usize,
    ) -> ((f64, f64, f64), [f64; 3]) {
        let x = self.x[row + self.slow + self.signal - 1].to_f64();
        let slow_ema = (x - slow_ema).mul_add(self.k_slow, slow_ema);
        let fast_ema = (x - fast_ema).mul_add(self.k_fast, fast_ema);
        let macd = fast_ema - slow_ema;
        let sig = (macd - sig).mul_add(self.k_signal, sig);
        ((slow_ema, fast_ema, sig), [macd, sig, macd - sig])
    }

    #[inline(always)]
    fn same(a: &(f64, f64, f64), b: &(f64, f64, f64)) -> bool {
        same_bits([a.0, a.1, a.2], [b.0, b.1, b.2])
    }
}

/// Allocating form of [`macd_into`]: (macd, macdsignal, macdhist) like `talib.MACD`.
#[allow(clippy::type_complexity)]
pub fn macd<T: Real>(
    real: &[T],
    fast: usize,
    slow: usize,
    signal: usize,
) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>), TaError> {
    let n = real.len();
    let (mut a, mut b, mut c) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    macd_into(real, fast, slow, signal, &mut a, &mut b, &mut c)?;
    Ok((a, b, c))
}

/// A moving average fed a chunk at a time: the slice SMA for TA-Lib's default `matype`,
/// the streaming state for the others.
enum Smoother {
    Sma(SmaChunks),
    Other(MaCore),
}

impl Smoother {
    fn new(matype: MaType, period: usize) -> Smoother {
        if matype == MaType::Sma && period >= 2 {
            Smoother::Sma(SmaChunks::new(period))
        } else {
            Smoother::Other(MaCore::new(matype, period))
        }
    }

    #[inline(always)]
    fn run(&mut self, xs: &[f64], out: &mut Vec<f64>) {
        match self {
            Smoother::Sma(s) => s.run(xs, out),
            Smoother::Other(m) => m.update_slice(xs, out),
        }
    }
}

/// %K of one chunk of windows into `fast` (one vectorised pass): `close[k]` against
/// `highest[k]` and `lowest[k]`. Returns whether one of those closes is NaN.
#[inline(always)]
fn fast_k_chunk<T: Real>(
    close: &[T],
    highest: &[f64],
    lowest: &[f64],
    fast: &mut Vec<f64>,
) -> bool {
    fast.resize(highest.len(), 0.0);
    fast_k_into(close, highest, lowest, fast)
}

/// [`fast_k_chunk`] into a slice as long as `highest`.
#[inline(always)]
fn fast_k_into<T: Real>(close: &[T], highest: &[f64], lowest: &[f64], fast: &mut [f64]) -> bool {
    let mut nan = false;
    let inputs = close.iter().zip(highest.iter().zip(lowest));
    for (o, (c, (hh, ll))) in fast.iter_mut().zip(inputs) {
        let c = c.to_f64();
        nan |= c.is_nan();
        *o = fast_k(c, *hh, *ll);
    }
    nan
}

/// Writes one chunk's two smoothed outputs: the chunk covers `len` rows from `first`; once
/// an average is warm each input yields one value, so `values[1]` (the later, shorter one)
/// fills the chunk's tail, `values[0]` is aligned to it by its own tail, and the rows
/// before are still in the warm-up (NaN).
#[inline(always)]
fn write_tail(outs: [&mut [f64]; 2], first: usize, len: usize, values: [&[f64]; 2]) {
    let valid = values[1].len();
    let (warm, last) = (first + len - valid, first + len);
    for (out, v) in outs.into_iter().zip(values) {
        out[first..warm].fill(f64::NAN);
        out[warm..last].copy_from_slice(&v[v.len() - valid..]);
    }
}

/// TA-Lib `STOCH`: fast %K over `fastk` bars, slow %K = MA(`slowk`, `slowk_ma`) of it,
/// slow %D = MA(`slowd`, `slowd_ma`) of slow %K. Defaults 5, 3 SMA, 3 SMA; lookback
/// `fastk - 1` + both MA lookbacks. Writes (slowk, slowd). On a long series %K of the
/// later rows is computed on a second thread while this one runs the averages, which
/// stay one chain in TA-Lib's order: the same bits.
#[allow(clippy::too_many_arguments)]
pub fn stoch_into<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    fastk: usize,
    slowk: usize,
    slowk_ma: MaType,
    slowd: usize,
    slowd_ma: MaType,
    out_slowk: &mut [f64],
    out_slowd: &mut [f64],
) -> Result<(), TaError> {
    let n = common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("close", close.len()),
        ("slowk", out_slowk.len()),
        ("slowd", out_slowd.len()),
    ])?;
    let state = Stoch::new(fastk, slowk, slowk_ma, slowd, slowd_ma)?;
    // Optimistically the block scan, which on NaN-free input finds the same extremes as
    // the streaming tracker (what TA-Lib's own batch STOCH uses) at O(1) per bar; the scan
    // and the %K pass tell whether a NaN was read, and then the tracker redoes it all.
    let lead = (fastk - 1).min(n);
    out_slowk[..lead].fill(f64::NAN);
    out_slowd[..lead].fill(f64::NAN);
    let mut k_ma = Smoother::new(slowk_ma, slowk);
    let mut d_ma = Smoother::new(slowd_ma, slowd);
    let (mut fast, mut ks, mut ds) = (Vec::new(), Vec::new(), Vec::new());
    let mut close_nan = any_nan(&close[..lead]);
    if stretches(n) > 1 && n - lead >= 2 * PIPE_BLOCK {
        // Long series: this thread takes blocks of rows from the front, computing %K and
        // both averages (sequential chains); another takes blocks from the back, computing
        // only their %K (into the slow-K rows, as scratch), which the chains then run over
        // here once they get there.
        let fast_k_block = |from: usize, k: &mut [f64]| {
            let mut nan = false;
            let scan_nan = super::wide_path(
                #[inline(always)]
                || {
                    window_extremes_in(
                        high,
                        low,
                        fastk,
                        from..from + k.len(),
                        #[inline(always)]
                        |first, hh, ll| {
                            let rows = first - from..first - from + hh.len();
                            nan |= fast_k_into(&close[first..], hh, ll, &mut k[rows]);
                        },
                    )
                },
            );
            nan | scan_nan
        };
        let mut averages = |[k, d]: [&mut [f64]; 2]| {
            for first in (0..k.len()).step_by(CHUNK_ROWS) {
                let rows = first..(first + CHUNK_ROWS).min(k.len());
                ks.clear();
                k_ma.run(&k[rows.clone()], &mut ks);
                ds.clear();
                d_ma.run(&ks, &mut ds);
                write_tail([&mut k[..], &mut d[..]], first, rows.len(), [&ks, &ds]);
            }
        };
        let blocks = Mutex::new(blocks(
            lead,
            [&mut out_slowk[lead..], &mut out_slowd[lead..]],
            PIPE_BLOCK,
        ));
        let take = |front: bool| {
            let mut queue = blocks.lock().unwrap_or_else(|e| e.into_inner());
            if front {
                queue.pop_front()
            } else {
                queue.pop_back()
            }
        };
        let (front_nan, (back, back_nan)) = on_two_threads(
            || {
                let mut nan = false;
                while let Some((from, [k, d])) = take(true) {
                    nan |= fast_k_block(from, k);
                    averages([k, d]);
                }
                nan
            },
            || {
                let (mut done, mut nan) = (Vec::new(), false);
                while let Some((from, [k, d])) = take(false) {
                    nan |= fast_k_block(from, k);
                    done.push([k, d]);
                }
                (done, nan)
            },
        );
        // The back blocks, last taken first: in row order.
        for block in back.into_iter().rev() {
            averages(block);
        }
        if !(front_nan || back_nan || close_nan) {
            return Ok(());
        }
        return stoch_stream(state, high, low, close, n, out_slowk, out_slowd);
    }
    let scan_nan = super::wide_path(
        #[inline(always)]
        || {
            window_extremes(
                high,
                low,
                fastk,
                #[inline(always)]
                |first, hh, ll| {
                    // %K of the whole chunk (a vectorised pass), then each average over the
                    // chunk in turn; an average yields one value per input once warm, so a
                    // chunk's outputs fill its tail.
                    close_nan |= fast_k_chunk(&close[first..], hh, ll, &mut fast);
                    ks.clear();
                    k_ma.run(&fast, &mut ks);
                    ds.clear();
                    d_ma.run(&ks, &mut ds);
                    write_tail(
                        [&mut out_slowk[..], &mut out_slowd[..]],
                        first,
                        hh.len(),
                        [&ks, &ds],
                    );
                },
            )
        },
    );
    if !(scan_nan || close_nan) {
        return Ok(());
    }
    stoch_stream(state, high, low, close, n, out_slowk, out_slowd)
}

/// STOCH through the streaming state, for input with NaNs.
fn stoch_stream<T: Real>(
    state: Stoch,
    high: &[T],
    low: &[T],
    close: &[T],
    n: usize,
    out_slowk: &mut [f64],
    out_slowd: &mut [f64],
) -> Result<(), TaError> {
    let cols = Cols {
        high,
        low,
        close,
        volume: &[],
    };
    run_bars(state, cols, n, |i, v| {
        out_slowk[i] = v.slowk;
        out_slowd[i] = v.slowd;
    });
    Ok(())
}

/// Rows per block of the two-thread STOCH and STOCHRSI: about the work of a tenth of a
/// millisecond, whose buffers stay in L2.
const PIPE_BLOCK: usize = 1 << 15;

/// Rows per pass of a chain over a block (its buffers stay in L1).
const CHUNK_ROWS: usize = 1024;

/// Cuts the rows of `outs` (all of one length), the first of which is row `first`, into
/// blocks of `size` rows, in order: (row of the block's first row, its rows of each output).
fn blocks<const K: usize>(
    first: usize,
    outs: [&mut [f64]; K],
    size: usize,
) -> VecDeque<(usize, [&mut [f64]; K])> {
    let (mut rests, mut from) = (outs, first);
    let mut cut = VecDeque::new();
    while !rests[0].is_empty() {
        let take = size.min(rests[0].len());
        let block = rests.each_mut().map(|r| {
            let (head, rest) = std::mem::take(r).split_at_mut(take);
            *r = rest;
            head
        });
        cut.push_back((from, block));
        from += take;
    }
    cut
}

/// Two stages over the blocks of `outs` ([`blocks`] from row `first`), on two of rayon's
/// threads: for each block in order, `first_stage(from, rows)` then `second_stage(from,
/// rows)`. The second stage of a block runs on the other thread as soon as its first stage
/// is done, concurrently with the first stage of the next blocks; each stage sees its
/// blocks in order.
fn pipeline<const K: usize>(
    first: usize,
    outs: [&mut [f64]; K],
    mut first_stage: impl FnMut(usize, &mut [&mut [f64]; K]) + Send,
    mut second_stage: impl FnMut(usize, [&mut [f64]; K]) + Send,
) {
    let (tx, rx) = mpsc::channel::<(usize, [&mut [f64]; K])>();
    let produce = move || {
        for (from, mut block) in blocks(first, outs, PIPE_BLOCK) {
            first_stage(from, &mut block);
            // The receiver lives until every block is in: sending cannot fail.
            let _ = tx.send((from, block));
        }
    };
    // The producer runs on this thread, the consumer waits for blocks on a worker (the
    // channel is unbounded, so the producer never waits for it).
    let consume = move || {
        for (from, block) in rx {
            second_stage(from, block);
        }
    };
    on_two_threads(produce, consume);
}

/// Allocating form of [`stoch_into`]: (slowk, slowd) like `talib.STOCH`.
#[allow(clippy::too_many_arguments)]
pub fn stoch<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    fastk: usize,
    slowk: usize,
    slowk_ma: MaType,
    slowd: usize,
    slowd_ma: MaType,
) -> Result<(Vec<f64>, Vec<f64>), TaError> {
    common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("close", close.len()),
    ])?;
    let n = high.len();
    let (mut k, mut d) = (vec![0.0; n], vec![0.0; n]);
    stoch_into(
        high, low, close, fastk, slowk, slowk_ma, slowd, slowd_ma, &mut k, &mut d,
    )?;
    Ok((k, d))
}

/// TA-Lib `STOCHRSI`: STOCHF(`fastk`, `fastd`, `fastd_ma`) applied to RSI(`period`).
/// Defaults 14, 5, 3, SMA; lookback `period + fastk - 1 + MA lookback`. Writes
/// (fastk, fastd). On a long series RSI runs on one thread and the rest behind it on
/// another, each chain in TA-Lib's order: the same bits.
pub fn stochrsi_into<T: Real>(
    real: &[T],
    period: usize,
    fastk: usize,
    fastd: usize,
    fastd_ma: MaType,
    out_fastk: &mut [f64],
    out_fastd: &mut [f64],
) -> Result<(), TaError> {
    let n = real.len();
    check_len("fastk", out_fastk.len(), n)?;
    check_len("fastd", out_fastd.len(), n)?;
    let state = StochRsi::new(period, fastk, fastd, fastd_ma)?;
    // The first valid row, when the series is long enough to split.
    let split_from = (stretches(n) > 1)
        .then(|| first_valid_row(&[real], n))
        .filter(|&b| n - b > period && n - b - period >= 2 * PIPE_BLOCK);
    if let Some(b) = split_from {
        // Long series: RSI (a sequential chain) on one thread, the %K windows and the %D
        // average (another chain) behind it on another, a block at a time.
        let first = b + period;
        out_fastk[..first].fill(f64::NAN);
        out_fastd[..first].fill(f64::NAN);
        let x = &real[b..];
        let mut sums = RsiSums::seed(&x[..=period], period);
        let mut tail = StochRsiTail::new(fastk, fastd, fastd_ma);
        pipeline(
            first,
            [&mut out_fastk[first..], &mut out_fastd[first..]],
            |from, [_, d]| {
                // RSI of the block's rows into the %D rows, as scratch for the next stage.
                let (mut row, mut d) = (from - b, &mut d[..]);
                if from == first {
                    d[0] = rsi_value(sums.gain, sums.loss);
                    (row, d) = (row + 1, &mut d[1..]);
                }
                sums.run(&x[row..row + d.len()], &x[row - 1..], d);
            },
            |from, [k, d]| tail.run(from, k, d),
        );
        if !tail.saw_nan {
            return Ok(());
        }
        return stochrsi_stream(state, real, out_fastk, out_fastd);
    }
    // RSI over the slice first, then the fast %K window over it by the block scan (O(1) per
    // bar instead of the streaming extreme tracker). The scan equals TA-Lib's tracking on
    // NaN-free values, and RSI has none once it has started; checked anyway.
    let mut rsi = vec![0.0; n];
    rsi_into(real, period, &mut rsi)?;
    let start = rsi.iter().position(|v| !v.is_nan()).unwrap_or(n);
    let r = &rsi[start..];
    if !super::wide_path(
        #[inline(always)]
        || any_nan(r),
    ) {
        let lead = (start + fastk - 1).min(n);
        out_fastk[..lead].fill(f64::NAN);
        out_fastd[..lead].fill(f64::NAN);
        let (out_fastk, out_fastd) = (&mut out_fastk[start..], &mut out_fastd[start..]);
        let mut d_ma = Smoother::new(fastd_ma, fastd);
        let (mut fast, mut ds) = (Vec::new(), Vec::new());
        super::wide_path(
            #[inline(always)]
            || {
                window_extremes(
                    r,
                    r,
                    fastk,
                    #[inline(always)]
                    |first, hh, ll| {
                        // As in `stoch_into`.
                        fast_k_chunk(&r[first..], hh, ll, &mut fast);
                        ds.clear();
                        d_ma.run(&fast, &mut ds);
                        write_tail(
                            [&mut out_fastk[..], &mut out_fastd[..]],
                            first,
                            hh.len(),
                            [&fast, &ds],
                        );
                    },
                )
            },
        );
        return Ok(());
    }
    stochrsi_stream(state, real, out_fastk, out_fastd)
}

/// STOCHRSI through the streaming state, for an RSI with NaNs.
fn stochrsi_stream<T: Real>(
    state: StochRsi,
    real: &[T],
    out_fastk: &mut [f64],
    out_fastd: &mut [f64],
) -> Result<(), TaError> {
    super::fast_path(
        #[inline(always)]
        move || {
            let mut state = state;
            for (i, x) in real.iter().enumerate() {
                let v = state.update(x.to_f64());
                out_fastk[i] = v.fastk;
                out_fastd[i] = v.fastd;
            }
        },
    );
    Ok(())
}

/// The part of [`stochrsi_into`] after RSI, fed RSI a block of rows at a time: what the
/// one-pass kernel computes over `r` (the RSI from its first non-NaN value on), with the
/// same windows, the same block alignment (from that first value) and the same averages.
struct StochRsiTail {
    fastk: usize,
    d_ma: Smoother,
    /// Series row of the first non-NaN RSI, once seen.
    start: Option<usize>,
    /// RSI of the rows from `origin` to the last row fed: the last windows' values, from a
    /// row a multiple of `fastk` after `start` (the block scan's alignment).
    work: Vec<f64>,
    origin: usize,
    fast: Vec<f64>,
    ds: Vec<f64>,
    /// Whether the RSI held a NaN after its start (the one-pass kernel's fallback case).
    saw_nan: bool,
}

impl StochRsiTail {
    fn new(fastk: usize, fastd: usize, fastd_ma: MaType) -> StochRsiTail {
        StochRsiTail {
            fastk,
            d_ma: Smoother::new(fastd_ma, fastd),
            start: None,
            work: Vec::new(),
            origin: 0,
            fast: Vec::new(),
            ds: Vec::new(),
            saw_nan: false,
        }
    }

    /// Rows `from..from + k.len()`: their RSI is in `d` on entry; writes their %K to `k`
    /// and their %D to `d`.
    fn run(&mut self, from: usize, k: &mut [f64], d: &mut [f64]) {
        let len = k.len();
        let mut skip = 0;
        if self.start.is_none() {
            match d.iter().position(|v| !v.is_nan()) {
                Some(j) => {
                    self.start = Some(from + j);
                    self.origin = from + j;
                    skip = j;
                }
                None => {
                    k.fill(f64::NAN);
                    d.fill(f64::NAN);
                    return;
                }
            }
        }
        let Some(start) = self.start else {
            return;
        };
        self.work.extend_from_slice(&d[skip..]);
        // Rows before the first window's end: the warm-up.
        let lead = (start + self.fastk - 1).clamp(from, from + len);
        k[..lead - from].fill(f64::NAN);
        d[..lead - from].fill(f64::NAN);
        let (origin, end) = (self.origin, from + len);
        let (fast, ds, d_ma) = (&mut self.fast, &mut self.ds, &mut self.d_ma);
        let work = &self.work;
        let mut nan = false;
        let scan_nan = super::wide_path(
            #[inline(always)]
            || {
                window_extremes_in(
                    work,
                    work,
                    self.fastk,
                    lead - origin..end - origin,
                    #[inline(always)]
                    |first, hh, ll| {
                        // As in `stochrsi_into`.
                        nan |= fast_k_chunk(&work[first..], hh, ll, fast);
                        ds.clear();
                        d_ma.run(fast, ds);
                        let row = origin + first - from;
                        write_tail([&mut k[..], &mut d[..]], row, hh.len(), [fast, ds]);
                    },
                )
            },
        );
        self.saw_nan |= nan | scan_nan;
        // Keep what the next windows read, from a row aligned as the scan's blocks are.
        let keep_from = (end + 1).saturating_sub(self.fastk).max(start);
        let aligned = start + (keep_from - start) / self.fastk * self.fastk;
        self.work.drain(..aligned - origin);
        self.origin = aligned;
    }
}

/// Allocating form of [`stochrsi_into`]: (fastk, fastd) like `talib.STOCHRSI`.
pub fn stochrsi<T: Real>(
    real: &[T],
    period: usize,
    fastk: usize,
    fastd: usize,
    fastd_ma: MaType,
) -> Result<(Vec<f64>, Vec<f64>), TaError> {
    let n = real.len();
    let (mut k, mut d) = (vec![0.0; n], vec![0.0; n]);
    stochrsi_into(real, period, fastk, fastd, fastd_ma, &mut k, &mut d)?;
    Ok((k, d))
}

/// TA-Lib `AROON` over `period + 1` bars, ties to the latest bar. Default 14, lookback
/// `period`, `period` in 2..=100000. Writes (aroondown, aroonup), `talib`'s order. A
/// long NaN-free series is cut into stretches computed on rayon's threads, same bits.
pub fn aroon_into<T: Real>(
    high: &[T],
    low: &[T],
    period: usize,
    out_down: &mut [f64],
    out_up: &mut [f64],
) -> Result<(), TaError> {
    let n = common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("aroondown", out_down.len()),
        ("aroonup", out_up.len()),
    ])?;
    let state = Aroon::new(period)?;
    let b = first_valid_row(&[high, low], n);
    if n > 0 && !(any_nan(&high[b..]) || any_nan(&low[b..])) {
        // NaN-free from the start on: the block scan finds the bars TA-Lib's candidate
        // tracking settles on, at O(1) per bar and without its rescans.
        let lookback = (b + period).min(n);
        out_down[..lookback].fill(f64::NAN);
        out_up[..lookback].fill(f64::NAN);
        let (h, l) = (&high[b..], &low[b..]);
        let factor = 100.0 / period as f64;
        let p = period as f64;
        let w = period + 1;
        if h.len() < w {
            return Ok(());
        }
        // The windows ending in `ends` (relative to `b`) into their rows `outs`. The bar a
        // window settles on is its latest highest (lowest), whichever order the scan
        // compares in, so a stretch is scanned on its own (blocks from its first window).
        let stretch = |ends: Range<usize>, outs: &mut [&mut [f64]; 2]| {
            let (from, start) = (ends.start, ends.start + 1 - w);
            let [down, up] = outs;
            block_arg_extremes(
                ends.end - start,
                w,
                |i| h[start + i].to_f64(),
                |i| l[start + i].to_f64(),
                |today, hi_at, lo_at| {
                    let row = start + today - from;
                    down[row] = factor * (p - (today - lo_at) as f64);
                    up[row] = factor * (p - (today - hi_at) as f64);
                },
            );
        };
        let outs = &mut [&mut out_down[b + period..], &mut out_up[b + period..]];
        split_windows(period..h.len(), outs, stretch);
        return Ok(());
    }
    let cols = Cols {
        high,
        low,
        close: &[],
        volume: &[],
    };
    run_bars(state, cols, n, |i, v| {
        out_down[i] = v.down;
        out_up[i] = v.up;
    });
    Ok(())
}

/// Allocating form of [`aroon_into`]: (aroondown, aroonup).
pub fn aroon<T: Real>(
    high: &[T],
    low: &[T],
    period: usize,
) -> Result<(Vec<f64>, Vec<f64>), TaError> {
    common_len(&[("high", high.len()), ("low", low.len())])?;
    let n = high.len();
    let (mut d, mut u) = (vec![0.0; n], vec![0.0; n]);
    aroon_into(high, low, period, &mut d, &mut u)?;
    Ok((d, u))
}

#[cfg(test)]
mod split_tests {
    //! The two-thread paths of WILLR, AROON, STOCH and STOCHRSI against the one-thread
    //! kernels (what a call from inside rayon's pool runs) on series long enough to split,
    //! with NaNs, signed zeros and flat stretches where the stretches and blocks meet.
    use super::*;
    use crate::ta::parallel::MIN_SPLIT_ROWS;

    /// Row counts that split, neither a multiple of a block nor of a period.
    const LENS: [usize; 2] = [2 * MIN_SPLIT_ROWS + 4321, 5 * PIPE_BLOCK + 17];

    /// `f` as the one-thread kernels compute it: on a pool worker no kernel splits.
    fn one_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
        pool.expect("a one-thread pool").install(f)
    }

    /// Checks that a call from this thread splits a series of `n` rows.
    fn splits(n: usize) {
        // A pool of two even on a one-core machine (an error means it is already built).
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build_global();
        assert!(stretches(n) > 1, "{n} rows do not split");
    }

    fn same_bits(got: &[f64], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
            assert!(same, "{what}: row {i}: {g:?} != {w:?}");
        }
    }

    /// Bars of a seeded random walk around zero on a tick grid: equal values, flat
    /// stretches and zeros are common.
    fn bars(n: usize, seed: u64) -> [Vec<f64>; 3] {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % 9
        };
        let mut price = 0.0;
        let (mut high, mut low, mut close) = (vec![], vec![], vec![]);
        for i in 0..n {
            if (i / 5000) % 7 != 3 {
                // Every seventh stretch of 5000 bars is flat.
                price += next() as f64 * 0.25 - 1.0;
            }
            close.push(price);
            high.push(price + (next() % 3) as f64 * 0.25);
            low.push(price - (next() % 3) as f64 * 0.25);
        }
        [high, low, close]
    }

    /// Rows where the stretches or blocks of a split meet, for windows from row `first`.
    fn seams(n: usize, first: usize) -> Vec<usize> {
        let mut at = vec![first + (n - first).div_ceil(2)];
        at.extend((1..5).map(|k| first + k * PIPE_BLOCK));
        at.retain(|&r| r < n);
        at
    }

    /// Marks rows around each seam with `v` (NaN, -0.0, +0.0) in `x`.
    fn mark(x: &mut [f64], seams: &[usize], offsets: &[isize], v: f64) {
        for &s in seams {
            for &o in offsets {
                let r = s as isize + o;
                if (0..x.len() as isize).contains(&r) {
                    x[r as usize] = v;
                }
            }
        }
    }

    /// The series each kernel is checked on: plain, with signed zeros at the seams (the
    /// block scan's order decides those windows), with NaNs at the seams, with a NaN lead.
    fn variants(n: usize, first: usize, seed: u64) -> Vec<(&'static str, [Vec<f64>; 3])> {
        let plain = bars(n, seed);
        let at = seams(n, first);
        let mut zeros = plain.clone();
        for x in zeros.iter_mut() {
            mark(x, &at, &[-3, -1, 2], -0.0);
            mark(x, &at, &[-2, 0, 1], 0.0);
        }
        let mut nans = plain.clone();
        mark(&mut nans[0], &at, &[-1, 0], f64::NAN);
        mark(&mut nans[1], &at, &[1, 7], f64::NAN);
        mark(&mut nans[2], &at, &[-4], f64::NAN);
        let mut lead = plain.clone();
        for x in lead.iter_mut() {
            x[..37].fill(f64::NAN);
        }
        vec![
            ("plain", plain),
            ("zeros", zeros),
            ("nans", nans),
            ("lead", lead),
        ]
    }

    fn f32s(x: &[f64]) -> Vec<f32> {
        x.iter().map(|&v| v as f32).collect()
    }

    #[test]
    fn willr_split_gives_the_one_thread_bits() {
        for n in LENS {
            splits(n);
            for period in [2, 14, 129, 1000] {
                for (name, [h, l, c]) in variants(n, period - 1, period as u64) {
                    let what = format!("WILLR n={n} period={period} {name}");
                    let want = one_thread(|| willr(&h, &l, &c, period).unwrap());
                    same_bits(&willr(&h, &l, &c, period).unwrap(), &want, &what);
                    let (h, l, c) = (f32s(&h), f32s(&l), f32s(&c));
                    let want = one_thread(|| willr(&h, &l, &c, period).unwrap());
                    same_bits(&willr(&h, &l, &c, period).unwrap(), &want, &what);
                }
            }
        }
    }

    #[test]
    fn columns_of_a_matrix_run_unsplit_on_pool_workers() {
        let n = LENS[0];
        splits(n);
        let cols: Vec<[Vec<f64>; 3]> = (0..3).map(|j| bars(n, 40 + j)).collect();
        let col = |k: usize| cols.iter().flat_map(|c| c[k].clone()).collect::<Vec<f64>>();
        let (h, l, c) = (col(0), col(1), col(2));
        let mut out = vec![0.0; 3 * n];
        crate::ta::matrix::par_columns(&[&h, &l, &c], &mut [&mut out], n, |i, o| {
            assert_eq!(stretches(n), 1, "a column would split again");
            willr_into(i[0], i[1], i[2], 14, &mut *o[0])
        })
        .unwrap();
        for (j, [h, l, c]) in cols.iter().enumerate() {
            let want = willr(h, l, c, 14).unwrap();
            same_bits(&out[j * n..(j + 1) * n], &want, &format!("column {j}"));
        }
    }

    #[test]
    fn aroon_split_gives_the_one_thread_bits() {
        for n in LENS {
            splits(n);
            for period in [2, 14, 25, 300] {
                for (name, [h, l, _]) in variants(n, period, period as u64) {
                    let what = format!("AROON n={n} period={period} {name}");
                    let want = one_thread(|| aroon(&h, &l, period).unwrap());
                    let got = aroon(&h, &l, period).unwrap();
                    same_bits(&got.0, &want.0, &what);
                    same_bits(&got.1, &want.1, &what);
                    let (h, l) = (f32s(&h), f32s(&l));
                    let want = one_thread(|| aroon(&h, &l, period).unwrap());
                    let got = aroon(&h, &l, period).unwrap();
                    same_bits(&got.0, &want.0, &what);
                    same_bits(&got.1, &want.1, &what);
                }
            }
        }
    }

    #[test]
    fn stoch_pipeline_gives_the_one_thread_bits() {
        use MaType::*;
        let params = [
            (5, 3, Sma, 3, Sma),
            (14, 1, Sma, 1, Sma),
            (1, 2, Sma, 2, Sma),
            (5, 3, Ema, 4, Wma),
            (9, 3, Dema, 3, Kama),
            (5, 3, Trima, 4, T3),
            (300, 5, Sma, 7, Sma),
        ];
        for n in LENS {
            splits(n);
            for (fk, sk, skm, sd, sdm) in params {
                for (name, [h, l, c]) in variants(n, fk - 1, fk as u64) {
                    let what = format!("STOCH n={n} {fk} {sk} {skm:?} {sd} {sdm:?} {name}");
                    let run = |h: &[f64], l: &[f64], c: &[f64]| {
                        stoch(h, l, c, fk, sk, skm, sd, sdm).unwrap()
                    };
                    let want = one_thread(|| run(&h, &l, &c));
                    let got = run(&h, &l, &c);
                    same_bits(&got.0, &want.0, &what);
                    same_bits(&got.1, &want.1, &what);
                    let (h, l, c) = (f32s(&h), f32s(&l), f32s(&c));
                    let run = || stoch(&h, &l, &c, fk, sk, skm, sd, sdm).unwrap();
                    let want = one_thread(run);
                    let got = run();
                    same_bits(&got.0, &want.0, &what);
                    same_bits(&got.1, &want.1, &what);
                }
            }
        }
    }

    #[test]
    fn stochrsi_pipeline_gives_the_one_thread_bits() {
        use MaType::*;
        let params = [
            (14, 5, 3, Sma),
            (9, 3, 3, Ema),
            (9, 5, 4, Trima),
            (9, 5, 3, T3),
            (2, 1, 1, Sma),
            (30, 200, 5, Sma),
        ];
        for n in LENS {
            splits(n);
            for (p, fk, fd, fdm) in params {
                for (name, [_, _, mut c]) in variants(n, p + fk - 1, p as u64) {
                    if name == "zeros" {
                        // An infinity: RSI turns NaN there (the stream's case).
                        c[n / 2 + 3] = f64::INFINITY;
                    }
                    let what = format!("STOCHRSI n={n} {p} {fk} {fd} {fdm:?} {name}");
                    let want = one_thread(|| stochrsi(&c, p, fk, fd, fdm).unwrap());
                    let got = stochrsi(&c, p, fk, fd, fdm).unwrap();
                    same_bits(&got.0, &want.0, &what);
                    same_bits(&got.1, &want.1, &what);
                    let c = f32s(&c);
                    let want = one_thread(|| stochrsi(&c, p, fk, fd, fdm).unwrap());
                    let got = stochrsi(&c, p, fk, fd, fdm).unwrap();
                    same_bits(&got.0, &want.0, &what);
                    same_bits(&got.1, &want.1, &what);
                }
            }
        }
    }
}
