//! Overlap studies (moving averages and bands): SMA, EMA, WMA, DEMA, TEMA, KAMA, BBANDS.
//!
//! SMA is a hand-written loop over the slice (the hottest kernel, and it needs no ring
//! buffer when the whole input is at hand); the others drive the streaming state in
//! [`super::stream`]. Either way the floating-point operations, and their order, are
//! TA-Lib's.

use super::chain::{run_core, Core};
use super::parallel::stretches;
use super::stream::{
    kama_step, Bbands, Dema, DemaCore, Ema, EmaCore, Indicator, Kama, T3Core, Tema, TemaCore,
    Trima, Wma, T3,
};
use super::volatility::{
    even_targets, grid_starts, running_variance, var_split, var_starts, VarState,
};
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
/// A long series is split over rayon's pool at those re-seeds, with the same bits as one
/// pass.
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
    wma_windows(x, period, &mut out[b + period - 1..], stretches(x.len()));
    Ok(())
}

/// WMA of every window of `x` (`period >= 2`; `out[k]` is the window `x[k..k + period]`),
/// over at most `k` stretches. TA-Lib re-seeds both running sums from the window at every
/// `8 * period`-th window, unconditionally: the value there and the sums after it depend on
/// that window alone, so a stretch starting at such a window, re-seeded, has the bits of
/// the one pass.
fn wma_windows<T: Real>(x: &[T], period: usize, out: &mut [f64], k: usize) {
    let windows = out.len();
    let every = 8 * period;
    let starts = grid_starts(0, windows, every - 1, every, even_targets(0, windows, k));
    if starts.is_empty() {
        wma_first(x, period, out);
        return;
    }
    let (rest_first, mut rest) = out.split_at_mut(starts[0]);
    let mut chunks: Vec<(usize, &mut [f64])> = Vec::with_capacity(starts.len());
    for (s, &g) in starts.iter().enumerate() {
        let end = starts.get(s + 1).copied().unwrap_or(windows);
        let (head, tail) = rest.split_at_mut(end - g);
        chunks.push((g, head));
        rest = tail;
    }
    // The calling thread runs the first stretch itself (one pool thread to wake, not two).
    rayon::in_place_scope(|scope| {
        for (first, out) in chunks {
            scope.spawn(move |_| wma_reseeded(x, period, first, out));
        }
        wma_first(x, period, rest_first);
    });
}

/// WMA's sums between two windows: the running sum, the running weighted sum less it, and
/// the windows left until the re-seed.
#[derive(Clone, Copy)]
struct WmaState {
    sub: f64,
    sum: f64,
    bars: usize,
}

/// Windows `0..out.len()`, from the start of the series.
fn wma_first<T: Real>(x: &[T], period: usize, out: &mut [f64]) {
    let (mut sub, mut sum) = (0.0, 0.0);
    for (k, v) in x[..period - 1].iter().enumerate() {
        let v = v.to_f64();
        sub += v;
        sum += v * (k + 1) as f64;
    }
    let state = WmaState {
        sub,
        sum,
        bars: 8 * period,
    };
    // Nothing has left the first full window yet: its trailing value is 0.0.
    let (value, state) = wma_run(x, period, state, 0, None, &mut []);
    out[0] = value;
    wma_run(
        x,
        period,
        state,
        1,
        Some(&x[..out.len() - 1]),
        &mut out[1..],
    );
}

/// Windows `first..first + out.len()`, starting with a re-seed at window `first`.
fn wma_reseeded<T: Real>(x: &[T], period: usize, first: usize, out: &mut [f64]) {
    let divider = wma_divider(period);
    let (sub, sum) = wma_sums(&x[first..first + period]);
    out[0] = sum / divider;
    let state = WmaState {
        sub,
        sum: sum - sub,
        bars: 8 * period,
    };
    let trailing = &x[first..first + out.len() - 1];
    wma_run(x, period, state, first + 1, Some(trailing), &mut out[1..]);
}

/// WMA's divisor: the sum of the weights 1..=period.
#[inline(always)]
fn wma_divider(period: usize) -> f64 {
    period as f64 * ((period + 1) as f64) / 2.0
}

/// TA-Lib's loop for windows `first..first + out.len()` from `state` (the sums after the
/// window before `first`), each window's predecessor's trailing value taken from
/// `trailing` (`None`: the single window `first` with trailing value 0.0, whose value is
/// returned instead of written). Returns the last value and the state after it.
#[inline(always)]
fn wma_run<T: Real>(
    x: &[T],
    period: usize,
    state: WmaState,
    first: usize,
    trailing: Option<&[T]>,
    out: &mut [f64],
) -> (f64, WmaState) {
    let p = period as f64;
    let divider = wma_divider(period);
    let WmaState {
        mut sub,
        mut sum,
        mut bars,
    } = state;
    // One step of TA-Lib's loop for the window `x[$k..$k + period]`, whose predecessor's
    // trailing value is `trailing`. A macro, not a closure: a closure borrowing the sums
    // made LLVM pack them into one vector register and shuffle it on every element.
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
    let mut value = f64::NAN;
    match trailing {
        None => value = step!(first, x[first + period - 1].to_f64(), 0.0),
        Some(trailing) => {
            let ends = x[first + period - 1..].iter().zip(trailing);
            for (k, (o, (v, trailing))) in out.iter_mut().zip(ends).enumerate() {
                *o = step!(first + k, v.to_f64(), trailing.to_f64());
            }
        }
    }
    (value, WmaState { sub, sum, bars })
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
        // Only the warm-up needs NaN: `bbands_sma` writes every later row.
        let warm = if x.len() < period { n } else { b + period - 1 };
        out.upper[..warm].fill(f64::NAN);
        out.middle[..warm].fill(f64::NAN);
        out.lower[..warm].fill(f64::NAN);
        if x.len() < period {
            return Ok(());
        }
        let outs = (
            &mut out.upper[b..],
            &mut out.middle[b..],
            &mut out.lower[b..],
        );
        bbands_sma(x, period, nbdevup, nbdevdn, stretches(x.len()), outs);
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

/// Upper, middle and lower band buffers.
type Bands<'a> = (&'a mut [f64], &'a mut [f64], &'a mut [f64]);

/// [`bbands_into`]'s SMA path, TA-Lib's fused one: the SMA's running total and the running
/// variance, the same operations as the streaming form. `x` starts at the first valid row
/// and has at least `period` rows; the outputs are indexed like it, and written from row
/// `period - 1` on.
///
/// A long series goes over `k` pool threads. The running total is one chain with no
/// re-anchor, which cannot be cut: the first thread runs the fused pass over a first
/// stretch, then the total alone over the rest, while the others split the rest of the
/// variance at its re-anchors (see [`var_split`]), leaving the deviation in `upper`; the
/// bands there follow from the two, in parallel.
fn bbands_sma<T: Real>(x: &[T], period: usize, up: f64, dn: f64, k: usize, outs: Bands<'_>) {
    let (upper, middle, lower) = outs;
    let n = x.len();
    let from = period - 1;
    let state = VarState::prime(x, period);
    let mut total = 0.0;
    for v in &x[..from] {
        total += v.to_f64();
    }
    let targets = bbands_targets(from, n, k);
    let starts = var_starts(from, &state, period, n, targets);
    let Some(&g) = starts.first() else {
        let outs = (&mut upper[from..], &mut middle[from..], &mut lower[from..]);
        bbands_fused(x, period, up, dn, state, total, from, outs);
        return;
    };
    let (lower, lower_rest) = lower.split_at_mut(g);
    let first = |upper: &mut [f64]| {
        let (middle, middle_rest) = middle.split_at_mut(g);
        let outs = (upper, &mut middle[from..], &mut lower[from..]);
        let (state, total) = bbands_fused(x, period, up, dn, state, total, from, outs);
        sma_middle(x, period, total, g, middle_rest);
        state
    };
    var_split(x, period, from, &starts, upper, &f64::sqrt, first);
    // From `g` on, `upper` holds the deviation: the bands, as the fused pass makes them,
    // a piece per thread, the calling thread's included.
    let rows = (&mut upper[g..], &middle[g..], lower_rest);
    let piece = rows.0.len().div_ceil(k);
    let pieces = rows
        .0
        .chunks_mut(piece)
        .zip(rows.1.chunks(piece))
        .zip(rows.2.chunks_mut(piece));
    rayon::in_place_scope(|scope| {
        let mut pieces = pieces;
        let mine = pieces.next();
        for ((upper, middle), lower) in pieces {
            scope.spawn(move |_| bands_from_deviation(upper, middle, lower, up, dn));
        }
        if let Some(((upper, middle), lower)) = mine {
            bands_from_deviation(upper, middle, lower, up, dn);
        }
    });
}

/// The bands of rows whose deviation is in `upper` and middle band in `middle`, as the
/// fused pass makes them.
fn bands_from_deviation(upper: &mut [f64], middle: &[f64], lower: &mut [f64], up: f64, dn: f64) {
    super::wide_path(
        #[inline(always)]
        || {
            let rows = upper.iter_mut().zip(middle).zip(lower.iter_mut());
            if up == dn {
                // The same test `Bbands::bands` makes, out of the loop: it vectorises.
                for ((u, m), l) in rows {
                    let bands = Bbands::bands(*m, *u, up, up);
                    *u = bands.upper;
                    *l = bands.lower;
                }
            } else {
                for ((u, m), l) in rows {
                    let bands = Bbands::bands(*m, *u, up, dn);
                    *u = bands.upper;
                    *l = bands.lower;
                }
            }
        },
    )
}

/// Cost of a row, relative to one of the running variance alone: of the fused pass, and of
/// the running total alone (a chain of two dependent additions, 1.0 ns a row here, against
/// 2.25 ns for the variance and 2.85 ns for the fused pass).
const FUSED_COST: f64 = 1.27;
const SMA_COST: f64 = 0.46;

/// Where BBANDS' stretches should start for rows `from..n` over `k` threads: the first
/// thread runs the fused pass up to the first start, then the running total alone to the
/// end, and the variance after the first start is shared evenly by the others.
fn bbands_targets(from: usize, n: usize, k: usize) -> Vec<usize> {
    if k < 2 {
        return Vec::new();
    }
    let rows = (n - from) as f64;
    let others = 1.0 / (k - 1) as f64;
    let fused = (rows * (others - SMA_COST) / (FUSED_COST - SMA_COST + others)).max(0.0);
    let g = from + fused as usize;
    (0..k - 1).map(|s| g + (n - g) * s / (k - 1)).collect()
}

/// The fused pass for rows `from..from + outs.0.len()` from the variance's `state` and
/// the running `total` before row `from` (the outputs' first element is row `from`);
/// returns both after the last row.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn bbands_fused<T: Real>(
    x: &[T],
    period: usize,
    up: f64,
    dn: f64,
    state: VarState,
    mut total: f64,
    from: usize,
    outs: Bands<'_>,
) -> (VarState, f64) {
    let (upper, middle, lower) = outs;
    let p = period as f64;
    let rows = from..from + upper.len();
    let state = running_variance(x, period, state, rows, |i, var| {
        total += x[i].to_f64();
        let m = total / p;
        total -= x[i + 1 - period].to_f64();
        let bands = Bbands::bands(m, var.sqrt(), up, dn);
        upper[i - from] = bands.upper;
        middle[i - from] = bands.middle;
        lower[i - from] = bands.lower;
    });
    (state, total)
}

/// TA-Lib's SMA as BBANDS fuses it, for rows `from..` into `middle` (`middle[0]` is row
/// `from`), from the running `total` before row `from`: the same additions and division.
fn sma_middle<T: Real>(x: &[T], period: usize, mut total: f64, from: usize, middle: &mut [f64]) {
    let p = period as f64;
    let ends = x[from..].iter().zip(&x[from + 1 - period..]);
    for (m, (v, old)) in middle.iter_mut().zip(ends) {
        total += v.to_f64();
        *m = total / p;
        total -= old.to_f64();
    }
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
    use super::super::parallel::MIN_SPLIT_ROWS;
    use super::super::stream::Indicator;
    use super::super::volatility::tests::{repairs_during, walk};
    use super::*;

    fn assert_bits(got: &[f64], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{what}: row {i}: {g} vs {w}");
        }
    }

    /// The streaming WMA: an implementation of its own, bit for bit the one-pass kernel's.
    fn streamed_wma(x: &[f64], period: usize) -> Vec<f64> {
        let mut s = Wma::new(period).unwrap();
        x.iter().map(|&v| s.update(v)).collect()
    }

    #[test]
    fn split_wma_has_the_one_pass_bits() {
        let mut x = walk(MIN_SPLIT_ROWS + 5, 23);
        // A NaN poisons the sums until the re-seed after it leaves the window.
        x[30_001] = f64::NAN;
        for period in [2, 3, 30, 1000, 9000] {
            let want = streamed_wma(&x, period);
            for k in [1, 2, 3, 8] {
                let mut out = vec![f64::NAN; x.len()];
                wma_windows(&x, period, &mut out[period - 1..], k);
                assert_bits(&out, &want, &format!("period {period}, {k} stretches"));
            }
        }
    }

    #[test]
    fn public_wma_splits_a_long_series_with_the_same_bits() {
        let mut x = walk(3 * MIN_SPLIT_ROWS, 29);
        x[..4].fill(f64::NAN);
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let widened: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
        for period in [2, 30] {
            assert_bits(&wma(&x, period).unwrap(), &streamed_wma(&x, period), "f64");
            assert_bits(
                &wma(&x32, period).unwrap(),
                &streamed_wma(&widened, period),
                "f32",
            );
        }
    }

    /// BBANDS through the streaming form: (upper, middle, lower).
    fn streamed_bbands(x: &[f64], period: usize, up: f64, dn: f64, ma: MaType) -> [Vec<f64>; 3] {
        let mut s = Bbands::new(period, up, dn, ma).unwrap();
        let mut out = [Vec::new(), Vec::new(), Vec::new()];
        for &v in x {
            let b = s.update(v);
            out[0].push(b.upper);
            out[1].push(b.middle);
            out[2].push(b.lower);
        }
        out
    }

    fn assert_bands(got: &(Vec<f64>, Vec<f64>, Vec<f64>), want: &[Vec<f64>; 3], what: &str) {
        assert_bits(&got.0, &want[0], &format!("{what}: upper"));
        assert_bits(&got.1, &want[1], &format!("{what}: middle"));
        assert_bits(&got.2, &want[2], &format!("{what}: lower"));
    }

    #[test]
    fn split_bbands_have_the_one_pass_bits() {
        let n = MIN_SPLIT_ROWS + 7;
        let mut x = walk(n, 31);
        x[..3].fill(f64::NAN);
        x[20_000] = f64::NAN;
        // A flat stretch and a spike in the first stretch shift the deviation's phase; a
        // flat stretch later lets the chains meet again.
        let level = x[9_000];
        x[9_000..9_100].fill(level);
        x[12_345] = 1e12;
        let level = x[50_000];
        x[50_000..50_100].fill(level);
        for period in [2, 5, 20, 400] {
            for (up, dn) in [(2.0, 2.0), (1.5, 2.5)] {
                let want = streamed_bbands(&x, period, up, dn, MaType::Sma);
                let what = format!("period {period}, nbdev {up}/{dn}");
                assert_bands(
                    &bbands(&x, period, up, dn, MaType::Sma).unwrap(),
                    &want,
                    &what,
                );
                for k in [2, 3, 5] {
                    let (mut u, mut m, mut l) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
                    let b = 3;
                    for o in [&mut u, &mut m, &mut l] {
                        o[..b + period - 1].fill(f64::NAN);
                    }
                    let outs = (&mut u[b..], &mut m[b..], &mut l[b..]);
                    let repairs = repairs_during(|| bbands_sma(&x[b..], period, up, dn, k, outs));
                    assert_bands(&(u, m, l), &want, &format!("{what}, {k} stretches"));
                    if period == 5 {
                        assert!(repairs.0 > k, "the phase shift was repaired: {repairs:?}");
                    }
                }
            }
        }
        // Other middle bands keep their own path.
        for ma in [MaType::Ema, MaType::Wma] {
            let want = streamed_bbands(&x, 20, 2.0, 2.0, ma);
            assert_bands(
                &bbands(&x, 20, 2.0, 2.0, ma).unwrap(),
                &want,
                &format!("{ma:?}"),
            );
        }
    }

    #[test]
    fn bbands_of_f32_split_with_the_same_bits() {
        let x: Vec<f32> = walk(2 * MIN_SPLIT_ROWS, 37)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let widened: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let want = streamed_bbands(&widened, 20, 2.0, 2.0, MaType::Sma);
        assert_bands(
            &bbands(&x, 20, 2.0, 2.0, MaType::Sma).unwrap(),
            &want,
            "f32",
        );
    }

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
