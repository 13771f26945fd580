//! Volatility and dispersion: TRANGE, ATR, NATR (TA-Lib's volatility group) and STDDEV
//! (TA-Lib's statistic group, here because it measures dispersion).

use super::chain::{run_serial, same_bits, Chain};
use super::parallel::rows_in_parallel;
use super::stream::{natr_value, stddev_value, true_range};
#[cfg(doc)]
use super::stream::{Atr, Natr};
use super::{check_len, check_period, common_len, warm_up, Real, TaError};

/// Allocating driver for one-output HLC kernels.
pub(crate) fn alloc_hlc<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    f: impl FnOnce(&mut [f64]) -> Result<(), TaError>,
) -> Result<Vec<f64>, TaError> {
    common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("close", close.len()),
    ])?;
    let mut out = vec![0.0; high.len()];
    f(&mut out)?;
    Ok(out)
}

/// TA-Lib `TRANGE`: max(high - low, |prev close - high|, |prev close - low|). Lookback 1.
pub fn trange_into<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    out: &mut [f64],
) -> Result<(), TaError> {
    common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("close", close.len()),
        ("out", out.len()),
    ])?;
    let Some(b) = warm_up(&[high, low, close], 1, out) else {
        return Ok(());
    };
    // Each row is its own high, low and previous close: long series are cut over the cores.
    rows_in_parallel(&mut out[b + 1..], |first, out| {
        let (h, l, c) = (
            &high[b + 1 + first..],
            &low[b + 1 + first..],
            &close[b + first..],
        );
        for (o, ((h, l), prev)) in out.iter_mut().zip(h.iter().zip(l).zip(c)) {
            *o = true_range(h.to_f64(), l.to_f64(), prev.to_f64());
        }
    });
    Ok(())
}

/// Allocating form of [`trange_into`].
pub fn trange<T: Real>(high: &[T], low: &[T], close: &[T]) -> Result<Vec<f64>, TaError> {
    alloc_hlc(high, low, close, |o| trange_into(high, low, close, o))
}

/// TA-Lib `ATR`: SMA of the first `period` true ranges, then Wilder smoothing. Lookback
/// `period`; `period` in 1..=100000 (1 is TRANGE).
pub fn atr_into<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
    out: &mut [f64],
) -> Result<(), TaError> {
    atr_slice(high, low, close, period, out, |atr, _| atr)
}

/// The slice form of [`Atr`] / [`Natr`]: the same operations in the same order, with no
/// per-bar warm-up or NaN-gate branch; `finish(atr, close)` makes the output.
fn atr_slice<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
    out: &mut [f64],
    finish: impl Fn(f64, f64) -> f64 + Sync + Copy,
) -> Result<(), TaError> {
    check_period("timeperiod", period, 1)?;
    common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("close", close.len()),
        ("out", out.len()),
    ])?;
    let Some(b) = warm_up(&[high, low, close], period, out) else {
        return Ok(());
    };
    let chain = AtrChain {
        h: &high[b..],
        l: &low[b..],
        c: &close[b..],
        period,
        beta: (period - 1) as f64 / period as f64,
        finish,
    };
    let prev = chain.seed(0);
    out[b + period] = (chain.finish)(prev, chain.c[period].to_f64());
    // One pass: ATR's smoothing forgets its start as DI's does (`super::chain`), but
    // run a stretch per core it measured no faster from Python (1.1-1.5x TA-Lib's time
    // against 1.0-1.05x in one pass, on this shared two-core machine): it moves 40 bytes
    // a bar for a few operations, and a pool worker's wake-up is a large part of its 1.4 ms.
    run_serial(&chain, [&mut out[b + period + 1..]]);
    Ok(())
}

/// ATR (and what `finish` makes of it) as a [`Chain`]: row `r` is bar `period + 1 + r` of
/// the valid stretch; the state is the ATR before it.
#[derive(Clone, Copy)]
struct AtrChain<'a, T, F> {
    h: &'a [T],
    l: &'a [T],
    c: &'a [T],
    period: usize,
    beta: f64,
    finish: F,
}

impl<T: Real, F> AtrChain<'_, T, F> {
    #[inline(always)]
    fn tr(&self, i: usize) -> f64 {
        true_range(
            self.h[i].to_f64(),
            self.l[i].to_f64(),
            self.c[i - 1].to_f64(),
        )
    }
}

impl<T: Real, F: Fn(f64, f64) -> f64 + Sync + Copy> Chain<1> for AtrChain<'_, T, F> {
    type State = f64;

    /// TA-Lib's start: the mean of the `period` true ranges up to the row's previous bar.
    #[inline(always)]
    fn seed(&self, row: usize) -> f64 {
        let mut sum = 0.0;
        for i in row + 1..=row + self.period {
            sum += self.tr(i);
        }
        sum / self.period as f64
    }

    #[inline(always)]
    fn step(&self, prev: f64, row: usize) -> (f64, [f64; 1]) {
        let i = row + self.period + 1;
        let alpha = 1.0 - self.beta;
        let atr = self.beta.mul_add(prev, alpha * self.tr(i));
        (atr, [(self.finish)(atr, self.c[i].to_f64())])
    }

    #[inline(always)]
    fn same(a: &f64, b: &f64) -> bool {
        same_bits([*a], [*b])
    }
}

/// Allocating form of [`atr_into`].
pub fn atr<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
) -> Result<Vec<f64>, TaError> {
    alloc_hlc(high, low, close, |o| atr_into(high, low, close, period, o))
}

/// TA-Lib `NATR`: ATR / close × 100 (0 where |close| < 1e-8). Period 1 returns TRANGE
/// unnormalised, as TA-Lib does. Lookback `period`.
pub fn natr_into<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
    out: &mut [f64],
) -> Result<(), TaError> {
    if period <= 1 {
        // TA-Lib's NATR at period 1 is the true range, unnormalised.
        return atr_slice(high, low, close, period, out, |atr, _| atr);
    }
    atr_slice(high, low, close, period, out, natr_value)
}

/// Allocating form of [`natr_into`].
pub fn natr<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    period: usize,
) -> Result<Vec<f64>, TaError> {
    alloc_hlc(high, low, close, |o| natr_into(high, low, close, period, o))
}

/// TA-Lib `STDDEV`: population standard deviation × `nbdev`, from TA-Lib 0.8's
/// cancellation-free running variance (see [`super::stream::Stddev`]). Defaults 5, 1.0.
/// Lookback `period - 1`; `period` in 2..=100000.
pub fn stddev_into<T: Real>(
    real: &[T],
    period: usize,
    nbdev: f64,
    out: &mut [f64],
) -> Result<(), TaError> {
    check_period("timeperiod", period, 2)?;
    check_len("out", out.len(), real.len())?;
    let Some(b) = warm_up(&[real], period - 1, out) else {
        return Ok(());
    };
    let x = &real[b..];
    let out = &mut out[b..];
    // The square roots wait in a small buffer and are taken a chunk at a time: vectorised
    // they cost less than half of one scalar root each, and off the running sums' loop
    // they no longer compete with it for the divide/square-root unit.
    const CHUNK: usize = 256;
    let mut vars = [0.0; CHUNK];
    let (mut first, mut filled) = (period - 1, 0);
    let mut flush = |first: usize, vars: &[f64]| {
        for (o, var) in out[first..first + vars.len()].iter_mut().zip(vars) {
            *o = stddev_value(*var, nbdev);
        }
    };
    super::wide_path(
        #[inline(always)]
        || {
            running_variance(x, period, |_, var| {
                vars[filled] = var;
                filled += 1;
                if filled == CHUNK {
                    flush(first, &vars);
                    first += CHUNK;
                    filled = 0;
                }
            });
            flush(first, &vars[..filled]);
        },
    );
    Ok(())
}

/// The slice form of [`super::stream::Stddev`]'s variance (TA-Lib 0.8's `VAR`): the same
/// operations in the same order, without the ring buffer the streaming form needs.
/// Calls `emit(i, variance)` for `i` in `period - 1..x.len()`.
#[inline(always)]
pub(crate) fn running_variance<T: Real>(x: &[T], period: usize, mut emit: impl FnMut(usize, f64)) {
    let n = x.len();
    if period == 0 || n < period {
        return;
    }
    let p = period;
    let inv = 1.0 / p as f64;
    let v = |i: usize| x[i].to_f64();
    let mut shift = v(0);
    let (mut t1, mut t2) = (0.0, 0.0);
    for j in 0..p - 1 {
        let d = v(j) - shift;
        t1 += d;
        t2 += d * d;
    }
    let mut bars = 32 * p;
    for i in p - 1..n {
        let d = v(i) - shift;
        t1 += d;
        t2 += d * d;
        let mean = t1 * inv;
        let mut var = t2 * inv - mean * mean;
        let start = i + 1 - p;
        let d = v(start) - shift;
        t1 -= d;
        let departing = d * d;
        t2 -= departing;
        bars -= 1;
        if var < 0.000001 * (t2 * inv) || departing > 1000000.0 * t2 || bars == 0 {
            // Re-anchor on the window mean and rebuild the sums (see `VarCore`).
            bars = 32 * p;
            let mut sum = 0.0;
            for j in start..=i {
                sum += v(j);
            }
            shift = sum * inv;
            t1 = 0.0;
            t2 = 0.0;
            for j in start..=i {
                let d = v(j) - shift;
                t1 += d;
                t2 += d * d;
            }
            let mean = t1 * inv;
            var = t2 * inv - mean * mean;
            if var < 0.000000000001 * (t2 * inv) {
                var = 0.0;
            }
            let d = v(start) - shift;
            t1 -= d;
            t2 -= d * d;
        }
        emit(i, var);
    }
}

/// Allocating form of [`stddev_into`].
pub fn stddev<T: Real>(real: &[T], period: usize, nbdev: f64) -> Result<Vec<f64>, TaError> {
    let mut out = vec![0.0; real.len()];
    stddev_into(real, period, nbdev, &mut out)?;
    Ok(out)
}
