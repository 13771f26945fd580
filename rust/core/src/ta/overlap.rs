//! Overlap studies (moving averages and bands): SMA, EMA, WMA, DEMA, TEMA, KAMA, BBANDS.
//!
//! SMA is a hand-written loop over the slice (the hottest kernel, and it needs no ring
//! buffer when the whole input is at hand); the others drive the streaming state in
//! [`super::stream`]. Either way the floating-point operations, and their order, are
//! TA-Lib's.

use super::chain::{run_core, Core};
use super::stream::{
    kama_step, Bbands, Dema, DemaCore, Ema, EmaCore, Indicator, Kama, T3Core, Tema, TemaCore,
    Trima, Wma, T3,
};
use super::volatility::running_variance;
use super::{
    check_len, check_period, fast_path, first_valid_row, run_real, warm_up, MaType, Real, TaError,
};

/// TA-Lib `SMA`. Lookback `period - 1`; `period` in 1..=100000.
pub fn sma_into<T: Real>(real: &[T], period: usize, out: &mut [f64]) -> Result<(), TaError> {
    check_period("timeperiod", period, 1)?;
    check_len("out", out.len(), real.len())?;
    let n = real.len();
    let b = first_valid_row(&[real], n);
    if n == 0 || n - b < period {
        out.fill(f64::NAN);
        return Ok(());
    }
    let first = b + period - 1;
    out[..first].fill(f64::NAN);
    let mut sum = 0.0;
    for x in &real[b..first] {
        sum += x.to_f64();
    }
    let p = period as f64;
    // TA-Lib keeps one running total: add the new value, emit, drop the trailing value.
    for (o, (x, old)) in out[first..]
        .iter_mut()
        .zip(real[first..].iter().zip(&real[b..]))
    {
        sum += x.to_f64();
        let total = sum;
        sum -= old.to_f64();
        *o = total / p;
    }
    Ok(())
}

/// Allocating form of [`sma_into`].
pub fn sma<T: Real>(real: &[T], period: usize) -> Result<Vec<f64>, TaError> {
    let mut out = vec![0.0; real.len()];
    sma_into(real, period, &mut out)?;
    Ok(out)
}

/// TA-Lib's SMA (`period >= 2`) over a series handed over a chunk at a time, as STOCH's
/// and STOCHRSI's smoothing sees it: the operations of [`sma_into`] (and of the streaming
/// SMA) in the same order, with the running total in a register and the divisions as one
/// vectorised pass per chunk, off the additions' loop.
pub(crate) struct SmaChunks {
    period: usize,
    divisor: f64,
    sum: f64,
    seen: usize,
    /// The last `period - 1` inputs (fewer at the start), then the chunk being averaged.
    work: Vec<f64>,
}

impl SmaChunks {
    pub(crate) fn new(period: usize) -> SmaChunks {
        SmaChunks {
            period,
            divisor: period as f64,
            sum: 0.0,
            seen: 0,
            work: Vec::new(),
        }
    }

    /// Feeds `xs` in order and pushes one mean to `out` per input from the `period`-th on.
    #[inline(always)]
    pub(crate) fn run(&mut self, xs: &[f64], out: &mut Vec<f64>) {
        let p = self.period;
        let carried = self.work.len();
        self.work.extend_from_slice(xs);
        let w = &self.work;
        let mut sum = self.sum;
        // The first `period - 1` inputs of the series only add to the total.
        let warm = (p - 1).saturating_sub(self.seen).min(xs.len());
        for x in &w[carried..carried + warm] {
            sum += x;
        }
        let from = carried + warm;
        if from < w.len() {
            // Here `from >= p - 1`: the window's trailing value is always in `w`.
            let base = out.len();
            out.resize(base + w.len() - from, 0.0);
            let ends = w[from..].iter().zip(&w[from + 1 - p..]);
            for (o, (x, old)) in out[base..].iter_mut().zip(ends) {
                sum += x;
                *o = sum;
                sum -= old;
            }
            for o in &mut out[base..] {
                *o /= self.divisor;
            }
        }
        self.sum = sum;
        self.seen += xs.len();
        let keep = (p - 1).min(self.work.len());
        let drop = self.work.len() - keep;
        self.work.drain(..drop);
    }
}

macro_rules! ma_batch {
    ($(#[$m:meta])* $into:ident, $alloc:ident, $stream:ident) => {
        $(#[$m])*
        pub fn $into<T: Real>(real: &[T], period: usize, out: &mut [f64]) -> Result<(), TaError> {
            run_real($stream::new(period)?, real, out)
        }

        #[doc = concat!("Allocating form of [`", stringify!($into), "`].")]
        pub fn $alloc<T: Real>(real: &[T], period: usize) -> Result<Vec<f64>, TaError> {
            let mut out = vec![0.0; real.len()];
            $into(real, period, &mut out)?;
            Ok(out)
        }
    };
}

/// EMA, DEMA, TEMA and T3 as their streams compute them (the stream's gate: leading NaNs
/// give NaN, the core starts at the first valid row), on a long series a stretch per core
/// ([`super::chain`]): their EMAs forget a guessed start, so a later stretch starts
/// `forget` rows early from a fresh core.
fn chained_ma<T: Real, C: Core<Input = f64>>(
    core: C,
    real: &[T],
    out: &mut [f64],
    forget: usize,
) -> Result<(), TaError> {
    check_len("out", out.len(), real.len())?;
    let Some(b) = real.iter().position(|x| !x.to_f64().is_nan()) else {
        out.fill(f64::NAN);
        return Ok(());
    };
    out[..b].fill(f64::NAN);
    let x = &real[b..];
    run_core(core, |r| x[r].to_f64(), &mut out[b..], forget);
    Ok(())
}

/// Rows a stretch of chained EMAs of `period` runs ahead: the chain's warm-up
/// (`lookback`), then 64 `period` rows. On 1,000,000 bars of a random walk and of real
/// bars every stretch of EMA, DEMA, TEMA (period 30) and T3 (5 and 30) arrived on its
/// predecessor's bits from 24 `period` rows on (and only some of EMA's from 16); the rest
/// is margin, a few percent of a stretch.
fn ema_forget(period: usize, lookback: usize) -> usize {
    lookback + 64 * period + 64
}

macro_rules! chained_ma {
    ($(#[$m:meta])* $into:ident, $alloc:ident, $stream:ident, $core:ident) => {
        $(#[$m])*
        pub fn $into<T: Real>(real: &[T], period: usize, out: &mut [f64]) -> Result<(), TaError> {
            let lookback = $stream::new(period)?.lookback();
            let forget = ema_forget(period, lookback);
            chained_ma($core::new(period), real, out, forget)
        }

        #[doc = concat!("Allocating form of [`", stringify!($into), "`].")]
        pub fn $alloc<T: Real>(real: &[T], period: usize) -> Result<Vec<f64>, TaError> {
            let mut out = vec![0.0; real.len()];
            $into(real, period, &mut out)?;
            Ok(out)
        }
    };
}

impl Core for EmaCore {
    type Input = f64;
    #[inline(always)]
    fn update(&mut self, x: f64) -> Option<f64> {
        EmaCore::update(self, x)
    }
    fn same_state(&self, other: &EmaCore) -> bool {
        EmaCore::same_state(self, other)
    }
}

impl Core for DemaCore {
    type Input = f64;
    #[inline(always)]
    fn update(&mut self, x: f64) -> Option<f64> {
        DemaCore::update(self, x)
    }
    fn same_state(&self, other: &DemaCore) -> bool {
        DemaCore::same_state(self, other)
    }
}

impl Core for TemaCore {
    type Input = f64;
    #[inline(always)]
    fn update(&mut self, x: f64) -> Option<f64> {
        TemaCore::update(self, x)
    }
    fn same_state(&self, other: &TemaCore) -> bool {
        TemaCore::same_state(self, other)
    }
}

impl Core for T3Core {
    type Input = f64;
    #[inline(always)]
    fn update(&mut self, x: f64) -> Option<f64> {
        T3Core::update(self, x)
    }
    fn same_state(&self, other: &T3Core) -> bool {
        T3Core::same_state(self, other)
    }
}

chained_ma!(
    /// TA-Lib `EMA`: seeded with the SMA of the first `period` values, `k = 2 / (period + 1)`.
    /// Lookback `period - 1`; `period` in 1..=100000.
    ema_into, ema, Ema, EmaCore
);
/// TA-Lib `WMA` (linear weights 1..=period). Lookback `period - 1`; period 1 is a copy.
///
/// The slice form of [`Wma`]: the same running sums, re-seeded from the window every
/// `8 * period` bars as TA-Lib 0.8 does, without the ring buffer the streaming form needs.
pub fn wma_into<T: Real>(real: &[T], period: usize, out: &mut [f64]) -> Result<(), TaError> {
    check_period("timeperiod", period, 1)?;
    check_len("out", out.len(), real.len())?;
    if period == 1 {
        return run_real(Wma::new(period)?, real, out);
    }
    let Some(b) = warm_up(&[real], period - 1, out) else {
        return Ok(());
    };
    let x = &real[b..];
    let out = &mut out[b + period - 1..];
    let p = period as f64;
    let divider = p * ((period + 1) as f64) / 2.0;
    let (mut sub, mut sum) = (0.0, 0.0);
    for (k, v) in x[..period - 1].iter().enumerate() {
        let v = v.to_f64();
        sub += v;
        sum += v * (k + 1) as f64;
    }
    let mut bars = 8 * period;
    // One step of TA-Lib's loop for the window ending at `x[k + period - 1]`, whose
    // predecessor's trailing value is `trailing`. A macro, not a closure: a closure
    // borrowing the sums made LLVM pack them into one vector register and shuffle it on
    // every element.
    macro_rules! step {
        ($k:expr, $v:expr, $trailing:expr) => {{
            let v = $v;
            sub += v;
            sub -= $trailing;
            sum += v * p;
            bars -= 1;
            if bars == 0 {
                // TA-Lib 0.8 rebuilds both sums from the window every `8 * period` bars.
                bars = 8 * period;
                (sub, sum) = wma_sums(&x[$k..$k + period]);
            }
            let value = sum / divider;
            sum -= sub;
            value
        }};
    }
    // Nothing has left the first full window yet: its trailing value is 0.0.
    out[0] = step!(0, x[period - 1].to_f64(), 0.0);
    for (k, (o, (v, trailing))) in out[1..]
        .iter_mut()
        .zip(x[period..].iter().zip(x))
        .enumerate()
    {
        *o = step!(k + 1, v.to_f64(), trailing.to_f64());
    }
    Ok(())
}

/// WMA's running sums of a whole window, oldest first: Σ x and Σ (position + 1) × x.
#[cold]
#[inline(never)]
fn wma_sums<T: Real>(window: &[T]) -> (f64, f64) {
    let (mut sub, mut sum) = (0.0, 0.0);
    for (w, v) in window.iter().enumerate() {
        let v = v.to_f64();
        sub += v;
        sum += v * (w + 1) as f64;
    }
    (sub, sum)
}

/// Allocating form of [`wma_into`].
pub fn wma<T: Real>(real: &[T], period: usize) -> Result<Vec<f64>, TaError> {
    let mut out = vec![0.0; real.len()];
    wma_into(real, period, &mut out)?;
    Ok(out)
}
chained_ma!(
    /// TA-Lib `DEMA`: `2 EMA - EMA(EMA)`. Lookback `2 (period - 1)`.
    dema_into, dema, Dema, DemaCore
);
ma_batch!(
    /// TA-Lib `TRIMA` (triangular moving average: weights 1, 2, .., 2, 1). Lookback
    /// `period - 1`; `period` in 1..=100000 (1 is a copy).
    trima_into, trima, Trima
);

/// TA-Lib `T3` (Tillson): six chained EMAs weighted by the volume factor `vfactor`
/// (TA-Lib's default 0.7). Lookback `6 (period - 1)`; `period` in 1..=100000, `vfactor`
/// in 0..=1.
pub fn t3_into<T: Real>(
    real: &[T],
    period: usize,
    vfactor: f64,
    out: &mut [f64],
) -> Result<(), TaError> {
    let forget = ema_forget(period, T3::new(period, vfactor)?.lookback());
    chained_ma(T3Core::new(period, vfactor), real, out, forget)
}

/// Allocating form of [`t3_into`].
pub fn t3<T: Real>(real: &[T], period: usize, vfactor: f64) -> Result<Vec<f64>, TaError> {
    let mut out = vec![0.0; real.len()];
    t3_into(real, period, vfactor, &mut out)?;
    Ok(out)
}
chained_ma!(
    /// TA-Lib `TEMA`: `3 EMA - 3 EMA(EMA) + EMA(EMA(EMA))`. Lookback `3 (period - 1)`.
    tema_into, tema, Tema, TemaCore
);
/// TA-Lib `KAMA` (Kaufman adaptive MA, fast 2 / slow 30 fixed as in TA-Lib). Lookback
/// `period`; period 1 is a copy.
///
/// The slice form of [`Kama`]: the same operations in the same order, reading the window's
/// ends straight from the input instead of a ring buffer.
pub fn kama_into<T: Real>(real: &[T], period: usize, out: &mut [f64]) -> Result<(), TaError> {
    check_period("timeperiod", period, 1)?;
    check_len("out", out.len(), real.len())?;
    if period == 1 {
        return run_real(Kama::new(period)?, real, out);
    }
    let Some(b) = warm_up(&[real], period, out) else {
        return Ok(());
    };
    let x = &real[b..];
    let out = &mut out[b + period..];
    let v = |i: usize| x[i].to_f64();
    let (mut sum_roc1, mut null_run) = (0.0, 0usize);
    for k in 1..=period {
        let change = v(k - 1) - v(k);
        sum_roc1 += change.abs();
        null_run = if change == 0.0 { null_run + 1 } else { 0 };
    }
    let kama = kama_step(v(period - 1), v(period), v(period) - v(0), sum_roc1);
    out[0] = kama;
    fast_path(
        #[inline(always)]
        move || {
            let (mut kama, mut sum_roc1, mut null_run) = (kama, sum_roc1, null_run);
            let ends = x[period + 1..].iter().zip(&x[period..]);
            let trailing = x[1..].iter().zip(x);
            for (o, ((cur, prev), (old, older))) in out[1..].iter_mut().zip(ends.zip(trailing)) {
                let (cur, prev) = (cur.to_f64(), prev.to_f64());
                let (old, older) = (old.to_f64(), older.to_f64());
                let period_roc = cur - old;
                sum_roc1 -= (older - old).abs();
                sum_roc1 += (cur - prev).abs();
                null_run = if cur - prev == 0.0 { null_run + 1 } else { 0 };
                if null_run >= period {
                    // TA-Lib 0.8: `period` flat bars reset the sum of changes to exactly 0.
                    null_run = period;
                    sum_roc1 = 0.0;
                }
                kama = kama_step(kama, cur, period_roc, sum_roc1);
                *o = kama;
            }
        },
    );
    Ok(())
}

/// Allocating form of [`kama_into`].
pub fn kama<T: Real>(real: &[T], period: usize) -> Result<Vec<f64>, TaError> {
    let mut out = vec![0.0; real.len()];
    kama_into(real, period, &mut out)?;
    Ok(out)
}

/// Output buffers for [`bbands_into`].
pub struct BbandsOut<'a> {
    pub upper: &'a mut [f64],
    pub middle: &'a mut [f64],
    pub lower: &'a mut [f64],
}

/// TA-Lib `BBANDS`: middle band = `matype` MA (default SMA), upper/lower = middle ±
/// `nbdev` × population standard deviation over the same `period` (TA-Lib zeroes a
/// variance below 1e-8). Defaults 20, 2.0, 2.0, SMA. Lookback = the MA's lookback.
pub fn bbands_into<T: Real>(
    real: &[T],
    period: usize,
    nbdevup: f64,
    nbdevdn: f64,
    matype: MaType,
    out: BbandsOut<'_>,
) -> Result<(), TaError> {
    let n = real.len();
    check_len("upper", out.upper.len(), n)?;
    check_len("middle", out.middle.len(), n)?;
    check_len("lower", out.lower.len(), n)?;
    let state = Bbands::new(period, nbdevup, nbdevdn, matype)?;
    if matype == MaType::Sma {
        // TA-Lib's fused SMA path, on the slice: SMA running total and running variance
        // in one pass, the same operations as the streaming form.
        let b = first_valid_row(&[real], n).min(n);
        let x = &real[b..];
        // Only the warm-up needs NaN: `running_variance` writes every later row.
        let warm = if x.len() < period { n } else { b + period - 1 };
        out.upper[..warm].fill(f64::NAN);
        out.middle[..warm].fill(f64::NAN);
        out.lower[..warm].fill(f64::NAN);
        if x.len() < period {
            return Ok(());
        }
        let p = period as f64;
        let mut total = 0.0;
        for v in &x[..period - 1] {
            total += v.to_f64();
        }
        running_variance(x, period, |i, var| {
            total += x[i].to_f64();
            let middle = total / p;
            total -= x[i + 1 - period].to_f64();
            let bands = Bbands::bands(middle, var.sqrt(), nbdevup, nbdevdn);
            out.upper[b + i] = bands.upper;
            out.middle[b + i] = bands.middle;
            out.lower[b + i] = bands.lower;
        });
        return Ok(());
    }
    super::fast_path(
        #[inline(always)]
        move || {
            let mut state = state;
            for (i, x) in real.iter().enumerate() {
                let v = super::stream::Indicator::update(&mut state, x.to_f64());
                out.upper[i] = v.upper;
                out.middle[i] = v.middle;
                out.lower[i] = v.lower;
            }
        },
    );
    Ok(())
}

/// Allocating form of [`bbands_into`]: returns (upper, middle, lower) like `talib.BBANDS`.
#[allow(clippy::type_complexity)]
pub fn bbands<T: Real>(
    real: &[T],
    period: usize,
    nbdevup: f64,
    nbdevdn: f64,
    matype: MaType,
) -> Result<(Vec<f64>, Vec<f64>, Vec<f64>), TaError> {
    let n = real.len();
    let (mut u, mut m, mut l) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    bbands_into(
        real,
        period,
        nbdevup,
        nbdevdn,
        matype,
        BbandsOut {
            upper: &mut u,
            middle: &mut m,
            lower: &mut l,
        },
    )?;
    Ok((u, m, l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sma_fed_in_chunks_of_any_size_gives_sma_into_bits() {
        let mut state = 7u64;
        let x: Vec<f64> = (0..700)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e3
            })
            .collect();
        for period in [2, 3, 5, 30] {
            let want = sma(&x, period).unwrap();
            for chunk in [1, 2, 4, 29, 64, 1000] {
                let mut s = SmaChunks::new(period);
                let mut got = Vec::new();
                for c in x.chunks(chunk) {
                    s.run(c, &mut got);
                }
                assert_eq!(got.len(), x.len() - (period - 1));
                for (g, w) in got.iter().zip(&want[period - 1..]) {
                    assert_eq!(g.to_bits(), w.to_bits(), "period {period} chunk {chunk}");
                }
            }
        }
    }
}
