//! Momentum indicators: RSI, MACD, STOCH, STOCHRSI, ADX, PLUS_DI, MINUS_DI, CCI, MFI,
//! WILLR, ROC, MOM, AROON. Batch kernels drive the streaming state of
//! [`super::stream`], so batch and streaming agree bit for bit by construction.

use super::chain::{run_chain, run_core, same_bits, Chain, Core};
use super::extreme::{block_arg_extremes, window_extremes};
use super::overlap::SmaChunks;
use super::parallel::rows_in_parallel;
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
    let inv = 1.0 / period as f64;
    let m = (period - 1) as f64;
    let (mut gain, mut loss) = (0.0, 0.0);
    for w in x[..=period].windows(2) {
        let diff = w[1].to_f64() - w[0].to_f64();
        if diff < 0.0 {
            loss -= diff;
        } else {
            gain += diff;
        }
    }
    loss *= inv;
    gain *= inv;
    out[0] = rsi_value(gain, loss);
    for (o, (cur, prev)) in out[1..]
        .iter_mut()
        .zip(x[period + 1..].iter().zip(&x[period..]))
    {
        let diff = cur.to_f64() - prev.to_f64();
        // Branch-free, as in the streaming form (a branch on the sign of a price change
        // mispredicts half the time: measured twice as slow). The change or +0.0 is picked
        // with a bit mask: written as a select, LLVM sinks it below the subtraction and
        // puts a blend on the loop-carried chain.
        let down = (diff < 0.0) as u64;
        let to_loss = f64::from_bits(diff.to_bits() & down.wrapping_neg());
        let to_gain = f64::from_bits(diff.to_bits() & (down.wrapping_sub(1)));
        loss = loss * m - to_loss;
        gain = gain * m + to_gain;
        loss *= inv;
        gain *= inv;
        *o = rsi_value(gain, loss);
    }
    Ok(())
}
alloc_real!(rsi_into, rsi);

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
/// both forms agree bit for bit.
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
    let out = &mut out[b..];
    super::widest_path(
        #[inline(always)]
        || {
            window_extremes(
                h,
                l,
                period,
                #[inline(always)]
                |first, hh, ll| {
                    let (c, out) = (&c[first..], &mut out[first..first + hh.len()]);
                    for (o, ((c, hh), ll)) in out.iter_mut().zip(c.iter().zip(hh).zip(ll)) {
                        *o = willr_value(c.to_f64(), *hh, *ll);
                    }
                },
            )
        },
    );
    Ok(())
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
    // The three averages forget their start (an EMA took at most 18 periods), so a long
    // series runs a stretch per core.
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
/// `fastk - 1` + both MA lookbacks. Writes (slowk, slowd).
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
/// (fastk, fastd).
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
/// `period`, `period` in 2..=100000. Writes (aroondown, aroonup), `talib`'s order.
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
    let has_nan = |s: &[T]| s.iter().any(|v| v.to_f64().is_nan());
    if n > 0 && !(has_nan(&high[b..]) || has_nan(&low[b..])) {
        // NaN-free from the start on: the block scan finds the bars TA-Lib's candidate
        // tracking settles on, at O(1) per bar and without its rescans.
        let lookback = (b + period).min(n);
        out_down[..lookback].fill(f64::NAN);
        out_up[..lookback].fill(f64::NAN);
        let (h, l) = (&high[b..], &low[b..]);
        let factor = 100.0 / period as f64;
        let p = period as f64;
        block_arg_extremes(
            h.len(),
            period + 1,
            |i| h[i].to_f64(),
            |i| l[i].to_f64(),
            |today, hi_at, lo_at| {
                out_down[b + today] = factor * (p - (today - lo_at) as f64);
                out_up[b + today] = factor * (p - (today - hi_at) as f64);
            },
        );
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
