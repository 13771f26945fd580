//! Streaming (one value at a time) state for every indicator.
//!
//! Each public struct here implements [`Indicator`]: `update` takes the next input (an
//! `f64`, or a [`Bar`] for indicators of several prices) and returns the value the batch
//! kernel writes at the same position, bit for bit, NaN during the warm-up. The batch
//! kernels of the stateful indicators are themselves driven through these structs, and the
//! few hand-written batch loops perform the same floating-point operations in the same
//! order; a property test holds the two equal.
//!
//! The `*Core` types are the TA-Lib algorithms proper: they return `None` while warming up
//! and never skip NaNs. The public wrappers add the `talib` wrapper's rule of ignoring
//! leading rows that contain a NaN.

use super::extreme::Extreme;
use super::{check_period, per_to_k, Bar, MaType, TaError};

/// A streaming indicator.
pub trait Indicator {
    type Input: Copy;
    type Output: Copy;
    /// Feeds the next input and returns this step's output (NaN while warming up).
    fn update(&mut self, input: Self::Input) -> Self::Output;
    /// Forgets all inputs, as if newly constructed.
    fn reset(&mut self);
    /// Number of valid inputs consumed before the first non-NaN output (TA-Lib's lookback).
    fn lookback(&self) -> usize;
}

// ---------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------

/// Fixed-capacity ring of the most recent values.
#[derive(Debug, Clone)]
pub(crate) struct Ring {
    buf: Vec<f64>,
    pos: usize,
}

impl Ring {
    pub(crate) fn new(cap: usize) -> Ring {
        Ring {
            buf: vec![0.0; cap.max(1)],
            pos: 0,
        }
    }

    #[inline(always)]
    pub(crate) fn push(&mut self, x: f64) {
        self.buf[self.pos] = x;
        self.pos += 1;
        if self.pos == self.buf.len() {
            self.pos = 0;
        }
    }

    /// After at least `cap` pushes: the value pushed `cap - 1` pushes ago (the window's
    /// trailing element). Before that: whatever was pushed first into the slot, or 0.0.
    #[inline(always)]
    pub(crate) fn oldest(&self) -> f64 {
        self.buf[self.pos]
    }

    /// The window oldest first (after at least `cap` pushes).
    #[inline(always)]
    pub(crate) fn chrono(&self) -> impl Iterator<Item = f64> + '_ {
        self.buf[self.pos..]
            .iter()
            .chain(&self.buf[..self.pos])
            .copied()
    }

    /// The value pushed `k` pushes ago (`k = 0` is the latest), `k < cap`.
    #[inline(always)]
    pub(crate) fn ago(&self, k: usize) -> f64 {
        let cap = self.buf.len();
        self.buf[(self.pos + cap - 1 - k) % cap]
    }
}

/// TA-Lib `INT_SMA`: running total, added before and trimmed after each output.
#[derive(Debug, Clone)]
pub(crate) struct SmaCore {
    period: usize,
    /// `period` as a float, converted once (the conversion is not free on every step).
    divisor: f64,
    ring: Ring,
    count: usize,
    sum: f64,
}

impl SmaCore {
    pub(crate) fn new(period: usize) -> SmaCore {
        SmaCore {
            period,
            divisor: period as f64,
            ring: Ring::new(period),
            count: 0,
            sum: 0.0,
        }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        self.sum += x;
        self.ring.push(x);
        if self.count < self.period {
            self.count += 1;
            if self.count < self.period {
                return None;
            }
        }
        let total = self.sum;
        self.sum -= self.ring.oldest();
        Some(total / self.divisor)
    }
}

/// TA-Lib `INT_EMA` in its default compatibility mode: seeded with the SMA of the first
/// `period` values, then `prev + (x - prev) * k`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmaCore {
    period: usize,
    /// `TA_EMA` copies its input at period 1; MACD's internal signal EMA does not.
    copy_at_1: bool,
    k: f64,
    count: usize,
    sum: f64,
    prev: f64,
}

impl EmaCore {
    pub(crate) fn new(period: usize) -> EmaCore {
        EmaCore::with_k(period, per_to_k(period))
    }

    pub(crate) fn with_k(period: usize, k: f64) -> EmaCore {
        EmaCore {
            period,
            copy_at_1: true,
            k,
            count: 0,
            sum: 0.0,
            prev: 0.0,
        }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        if self.period == 1 && self.copy_at_1 {
            // TA-Lib copies the input at period 1 (the recursion would lose a -0.0).
            return Some(x);
        }
        if self.count < self.period {
            self.sum += x;
            self.count += 1;
            if self.count < self.period {
                return None;
            }
            self.prev = self.sum / self.period as f64;
            return Some(self.prev);
        }
        // TA-Lib's compiled library fuses this multiply-add (one rounding).
        self.prev = (x - self.prev).mul_add(self.k, self.prev);
        Some(self.prev)
    }
}

impl EmaCore {
    /// Whether `self` and `other` (of one period) compute alike from here on: the same
    /// count and the same bits in what later updates read (the warm-up sum only while
    /// warming up). For a run split over the cores ([`super::chain`]).
    pub(crate) fn same_state(&self, other: &EmaCore) -> bool {
        self.count == other.count
            && self.prev.to_bits() == other.prev.to_bits()
            && (self.count >= self.period || self.sum.to_bits() == other.sum.to_bits())
    }
}

impl DemaCore {
    /// [`EmaCore::same_state`] for both averages.
    pub(crate) fn same_state(&self, other: &DemaCore) -> bool {
        self.e1.same_state(&other.e1) && self.e2.same_state(&other.e2)
    }
}

impl TemaCore {
    /// [`EmaCore::same_state`] for the three averages.
    pub(crate) fn same_state(&self, other: &TemaCore) -> bool {
        self.e1.same_state(&other.e1)
            && self.e2.same_state(&other.e2)
            && self.e3.same_state(&other.e3)
    }
}

/// TA-Lib `WMA`: weights 1..=period, kept as a running weighted sum and a running sum.
#[derive(Debug, Clone)]
pub(crate) struct WmaCore {
    period: usize,
    divider: f64,
    ring: Ring,
    count: usize,
    sub: f64,
    sum: f64,
    trailing: f64,
    bars_since_reseed: usize,
}

impl WmaCore {
    pub(crate) fn new(period: usize) -> WmaCore {
        WmaCore {
            period,
            divider: (period as f64) * ((period + 1) as f64) / 2.0,
            ring: Ring::new(period),
            count: 0,
            sub: 0.0,
            sum: 0.0,
            trailing: 0.0,
            bars_since_reseed: 8 * period,
        }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        if self.period == 1 {
            // TA-Lib copies the input at period 1.
            return Some(x);
        }
        self.ring.push(x);
        if self.count + 1 < self.period {
            self.count += 1;
            self.sub += x;
            self.sum += x * self.count as f64;
            return None;
        }
        self.sub += x;
        self.sub -= self.trailing;
        self.sum += x * self.period as f64;
        // TA-Lib 0.8 rebuilds both running sums from the window every 8 * period bars so
        // rounding cannot accumulate (its issue #255); same order and weights as the
        // priming scan.
        self.bars_since_reseed -= 1;
        if self.bars_since_reseed == 0 {
            self.bars_since_reseed = 8 * self.period;
            self.sub = 0.0;
            self.sum = 0.0;
            for (w, v) in self.ring.chrono().enumerate() {
                self.sub += v;
                self.sum += v * (w + 1) as f64;
            }
        }
        self.trailing = self.ring.oldest();
        let out = self.sum / self.divider;
        self.sum -= self.sub;
        Some(out)
    }
}

/// TA-Lib `DEMA`: `2 * EMA - EMA(EMA)`, the inner EMA seeded on the outer one's output.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DemaCore {
    e1: EmaCore,
    e2: EmaCore,
}

impl DemaCore {
    pub(crate) fn new(period: usize) -> DemaCore {
        DemaCore {
            e1: EmaCore::new(period),
            e2: EmaCore::new(period),
        }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        if self.e1.period == 1 {
            return Some(x);
        }
        let a = self.e1.update(x)?;
        let b = self.e2.update(a)?;
        Some((2.0 * a) - b)
    }
}

/// TA-Lib `TEMA`: `3 * EMA - 3 * EMA(EMA) + EMA(EMA(EMA))`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TemaCore {
    e1: EmaCore,
    e2: EmaCore,
    e3: EmaCore,
}

impl TemaCore {
    pub(crate) fn new(period: usize) -> TemaCore {
        TemaCore {
            e1: EmaCore::new(period),
            e2: EmaCore::new(period),
            e3: EmaCore::new(period),
        }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        if self.e1.period == 1 {
            return Some(x);
        }
        let a = self.e1.update(x)?;
        let b = self.e2.update(a)?;
        let c = self.e3.update(b)?;
        Some(c + ((3.0 * a) - (3.0 * b)))
    }
}

/// TA-Lib `KAMA`: efficiency ratio over `period` one-bar changes, smoothing constant
/// between the 2- and 30-bar EMA factors, seeded with the previous bar's price. As in
/// TA-Lib 0.8: period 1 is a copy, and a run of `period` zero changes resets the sliding
/// sum of changes to exactly 0 (so rounding residue cannot masquerade as movement).
#[derive(Debug, Clone)]
pub(crate) struct KamaCore {
    period: usize,
    ring: Ring,
    count: usize,
    sum_roc1: f64,
    null_run: usize,
    kama: f64,
    trailing: f64,
}

const KAMA_CONST_MAX: f64 = 2.0 / (30.0 + 1.0);

/// One KAMA step: the efficiency ratio of `period_roc` over the sum of one-bar changes
/// sets the smoothing constant between the 2- and 30-bar EMA factors.
#[inline(always)]
pub(crate) fn kama_step(kama: f64, x: f64, period_roc: f64, sum_roc1: f64) -> f64 {
    let const_diff = 2.0 / (2.0 + 1.0) - KAMA_CONST_MAX;
    let er = if sum_roc1 <= 0.0 || sum_roc1 <= period_roc {
        1.0
    } else {
        (period_roc / sum_roc1).abs()
    };
    // Both multiply-adds are fused in TA-Lib's compiled library.
    let mut sc = er.mul_add(const_diff, KAMA_CONST_MAX);
    sc *= sc;
    (x - kama).mul_add(sc, kama)
}

impl KamaCore {
    pub(crate) fn new(period: usize) -> KamaCore {
        KamaCore {
            period,
            ring: Ring::new(period + 1),
            count: 0,
            sum_roc1: 0.0,
            null_run: 0,
            kama: 0.0,
            trailing: 0.0,
        }
    }

    #[inline(always)]
    fn smooth(&mut self, x: f64, period_roc: f64) -> f64 {
        self.kama = kama_step(self.kama, x, period_roc, self.sum_roc1);
        self.kama
    }

    #[inline(always)]
    fn prime(&mut self, prev: f64, x: f64) {
        let change = prev - x;
        self.sum_roc1 += change.abs();
        self.null_run = if change == 0.0 { self.null_run + 1 } else { 0 };
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        if self.period == 1 {
            return Some(x);
        }
        let prev = self.ring.ago(0);
        self.ring.push(x);
        if self.count < self.period {
            if self.count >= 1 {
                self.prime(prev, x);
            }
            self.count += 1;
            return None;
        }
        if self.count == self.period {
            self.count += 1;
            self.prime(prev, x);
            self.kama = prev;
            let trailing = self.ring.oldest();
            self.trailing = trailing;
            return Some(self.smooth(x, x - trailing));
        }
        let trailing = self.ring.oldest();
        let period_roc = x - trailing;
        self.sum_roc1 -= (self.trailing - trailing).abs();
        self.sum_roc1 += (x - prev).abs();
        if x - prev == 0.0 {
            self.null_run += 1;
        } else {
            self.null_run = 0;
        }
        if self.null_run >= self.period {
            self.null_run = self.period;
            self.sum_roc1 = 0.0;
        }
        self.trailing = trailing;
        Some(self.smooth(x, period_roc))
    }
}

/// TA-Lib `TRIMA`: the triangular moving average (weights 1, 2, .., 2, 1), in TA-Lib's
/// incremental form: a weighted numerator kept with two running sums, the older half
/// (`sub`) and the newer half (`add`) of the window, updated with the values leaving the
/// window, crossing its middle and entering it. (An SMA of an SMA gives the same weights,
/// but different roundings: on a series that sits at 0, such as STOCH's %K, TA-Lib's
/// residue is what a 1e-9 relative comparison sees.) Lookback `period - 1`.
#[derive(Debug, Clone)]
pub(crate) struct TrimaCore {
    period: usize,
    /// `period >> 1`: the middle of the window is `half` bars back.
    half: usize,
    factor: f64,
    /// The last `period + 1` inputs, newest at `(pos + period) % (period + 1)`.
    window: Vec<f64>,
    pos: usize,
    count: usize,
    numerator: f64,
    sub: f64,
    add: f64,
}

impl TrimaCore {
    pub(crate) fn new(period: usize) -> TrimaCore {
        let half = period >> 1;
        let weights = if period % 2 == 1 {
            (half + 1) as f64 * (half + 1) as f64
        } else {
            half as f64 * (half + 1) as f64
        };
        TrimaCore {
            period,
            half,
            factor: 1.0 / weights,
            window: vec![0.0; period + 1],
            pos: 0,
            count: 0,
            numerator: 0.0,
            sub: 0.0,
            add: 0.0,
        }
    }

    /// The input `back` bars before the newest (0 is the newest), `back <= period`.
    #[inline(always)]
    fn back(&self, back: usize) -> f64 {
        let len = self.period + 1;
        self.window[(self.pos + len - 1 - back) % len]
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        let len = self.period + 1;
        self.window[self.pos] = x;
        self.pos = (self.pos + 1) % len;
        let (p, half) = (self.period, self.half);
        if self.count < p {
            self.count += 1;
            if self.count < p {
                return None;
            }
            // The first window: the older half from the middle back to the oldest, then
            // the newer half forward to the newest, as TA-Lib's two seeding loops.
            let middle = if p % 2 == 1 { half } else { half - 1 };
            for k in (0..=middle).rev() {
                self.sub += self.back(p - 1 - k);
                self.numerator += self.sub;
            }
            for k in middle + 1..p {
                self.add += self.back(p - 1 - k);
                self.numerator += self.add;
            }
            return Some(self.numerator * self.factor);
        }
        let (leaving, middle) = (self.back(p), self.back(half));
        self.numerator -= self.sub;
        self.sub -= leaving;
        self.sub += middle;
        if p % 2 == 1 {
            self.numerator += self.add;
            self.add -= middle;
        } else {
            self.add -= middle;
            self.numerator += self.add;
        }
        self.add += x;
        self.numerator += x;
        Some(self.numerator * self.factor)
    }
}

/// TA-Lib's default `vfactor` for `T3` (also what `MA` with matype 8 uses).
pub const T3_VFACTOR: f64 = 0.7;

/// One of T3's six EMAs, in TA-Lib's form: seeded with the mean of its first `period`
/// inputs, then `k * x + (1 - k) * e`.
#[derive(Debug, Clone, Copy)]
struct T3Ema {
    count: usize,
    sum: f64,
    e: f64,
}

/// TA-Lib `T3` (Tillson): six chained EMAs combined as `c1 e6 + c2 e5 + c3 e4 + c4 e3`
/// with coefficients from the volume factor. Lookback `6 (period - 1)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct T3Core {
    period: usize,
    k: f64,
    one_minus_k: f64,
    c: [f64; 4],
    e: [T3Ema; 6],
}

impl T3Core {
    pub(crate) fn new(period: usize, vfactor: f64) -> T3Core {
        let k = 2.0 / (period as f64 + 1.0);
        let v2 = vfactor * vfactor;
        let c1 = -(v2 * vfactor);
        let c2 = 3.0 * (v2 - c1);
        let c3 = -6.0 * v2 - 3.0 * (vfactor - c1);
        let c4 = 1.0 + 3.0 * vfactor - c1 + 3.0 * v2;
        let ema = T3Ema {
            count: 0,
            sum: 0.0,
            e: 0.0,
        };
        T3Core {
            period,
            k,
            one_minus_k: 1.0 - k,
            c: [c1, c2, c3, c4],
            e: [ema; 6],
        }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        if self.period == 1 {
            // TA-Lib copies the input at period 1 (a NaN then poisons nothing after it).
            return Some(x);
        }
        let mut v = x;
        for e in self.e.iter_mut() {
            if e.count < self.period {
                e.sum += v;
                e.count += 1;
                if e.count < self.period {
                    return None;
                }
                e.e = e.sum / self.period as f64;
            } else {
                e.e = (self.k * v) + (self.one_minus_k * e.e);
            }
            v = e.e;
        }
        let [c1, c2, c3, c4] = self.c;
        let e = &self.e;
        Some(c1 * e[5].e + c2 * e[4].e + c3 * e[3].e + c4 * e[2].e)
    }
}

impl T3Core {
    /// Whether `self` and `other` (of one period and volume factor) compute alike from here
    /// on: each average's count and value bits (its warm-up sum only while warming up).
    /// For a run split over the cores ([`super::chain`]).
    pub(crate) fn same_state(&self, other: &T3Core) -> bool {
        self.e.iter().zip(&other.e).all(|(a, b)| {
            a.count == b.count
                && a.e.to_bits() == b.e.to_bits()
                && (a.count >= self.period || a.sum.to_bits() == b.sum.to_bits())
        })
    }
}

/// TA-Lib `TA_MA`: dispatch on `matype`; a period of 1 is a plain copy for every type.
#[derive(Debug, Clone)]
pub(crate) enum MaCore {
    Copy,
    Sma(SmaCore),
    Ema(EmaCore),
    Wma(WmaCore),
    Dema(DemaCore),
    Tema(TemaCore),
    Kama(KamaCore),
    Trima(TrimaCore),
    T3(T3Core),
    /// Boxed: its state is ten times the other cores'.
    Mama(Box<super::mama::MamaCore>),
}

impl MaCore {
    pub(crate) fn new(matype: MaType, period: usize) -> MaCore {
        if period <= 1 {
            return MaCore::Copy;
        }
        match matype {
            MaType::Sma => MaCore::Sma(SmaCore::new(period)),
            MaType::Ema => MaCore::Ema(EmaCore::new(period)),
            MaType::Wma => MaCore::Wma(WmaCore::new(period)),
            MaType::Dema => MaCore::Dema(DemaCore::new(period)),
            MaType::Tema => MaCore::Tema(TemaCore::new(period)),
            MaType::Kama => MaCore::Kama(KamaCore::new(period)),
            MaType::Trima => MaCore::Trima(TrimaCore::new(period)),
            MaType::T3 => MaCore::T3(T3Core::new(period, T3_VFACTOR)),
            MaType::Mama => MaCore::Mama(Box::new(super::mama::MamaCore::new(
                super::mama::DEFAULT_FAST_LIMIT,
                super::mama::DEFAULT_SLOW_LIMIT,
            ))),
        }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        match self {
            MaCore::Copy => Some(x),
            MaCore::Sma(c) => c.update(x),
            MaCore::Ema(c) => c.update(x),
            MaCore::Wma(c) => c.update(x),
            MaCore::Dema(c) => c.update(x),
            MaCore::Tema(c) => c.update(x),
            MaCore::Kama(c) => c.update(x),
            MaCore::Trima(c) => c.update(x),
            MaCore::T3(c) => c.update(x),
            MaCore::Mama(c) => c.update(x).map(|(mama, _)| mama),
        }
    }

    /// [`MaCore::update`] on every value of `xs` in order, pushing the outputs to `out`
    /// (an input still in the warm-up gives none): one dispatch on the type per slice
    /// instead of one per value.
    #[inline(always)]
    pub(crate) fn update_slice(&mut self, xs: &[f64], out: &mut Vec<f64>) {
        macro_rules! run {
            ($core:expr) => {
                for &x in xs {
                    if let Some(v) = $core.update(x) {
                        out.push(v);
                    }
                }
            };
        }
        match self {
            MaCore::Copy => out.extend_from_slice(xs),
            MaCore::Sma(c) => run!(c),
            MaCore::Ema(c) => {
                // On a local copy the running value stays in a register; through
                // `&mut self` it would go through memory on every step.
                let mut local = *c;
                run!(local);
                *c = local;
            }
            MaCore::Wma(c) => run!(c),
            MaCore::Dema(c) => run!(c),
            MaCore::Tema(c) => run!(c),
            MaCore::Kama(c) => run!(c),
            MaCore::Trima(c) => run!(c),
            MaCore::T3(c) => run!(c),
            MaCore::Mama(c) => {
                for &x in xs {
                    if let Some((mama, _)) = c.update(x) {
                        out.push(mama);
                    }
                }
            }
        }
    }
}

/// TA-Lib 0.8's `VAR` (population variance): running sums of deviations from a shift
/// near the window, so the subtraction never cancels two mean-squared-sized numbers. The
/// shift is re-anchored to the window mean (and the sums rebuilt with a two-pass scan)
/// when the variance falls below 1e-6 of the mean square it is extracted from, when a
/// departing value dwarfs the sum, or every 32 * period bars; a rebuilt variance below
/// 1e-12 of its mean square is taken as 0.
#[derive(Debug, Clone)]
pub(crate) struct VarCore {
    period: usize,
    inv: f64,
    ring: Ring,
    count: usize,
    shift: f64,
    t1: f64,
    t2: f64,
    bars_since_reseed: usize,
}

impl VarCore {
    pub(crate) fn new(period: usize) -> VarCore {
        VarCore {
            period,
            inv: 1.0 / period as f64,
            ring: Ring::new(period),
            count: 0,
            shift: 0.0,
            t1: 0.0,
            t2: 0.0,
            bars_since_reseed: 32 * period,
        }
    }

    #[inline(always)]
    fn add(&mut self, x: f64) {
        let d = x - self.shift;
        self.t1 += d;
        self.t2 += d * d;
    }

    /// Returns the variance of the window ending at `x`.
    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        self.ring.push(x);
        if self.count == 0 {
            self.shift = x;
        }
        if self.count + 1 < self.period {
            self.count += 1;
            self.add(x);
            return None;
        }
        self.count = self.period;
        self.add(x);
        let inv = self.inv;
        let mean = self.t1 * inv;
        let mut variance = self.t2 * inv - mean * mean;
        let d = self.ring.oldest() - self.shift;
        self.t1 -= d;
        let departing = d * d;
        self.t2 -= departing;
        self.bars_since_reseed -= 1;
        if variance < 0.000001 * (self.t2 * inv)
            || departing > 1000000.0 * self.t2
            || self.bars_since_reseed == 0
        {
            self.bars_since_reseed = 32 * self.period;
            let ring = &self.ring;
            (self.shift, self.t1, self.t2, variance) = var_rebuild(|| ring.chrono(), inv);
        }
        Some(variance)
    }
}

/// TA-Lib 0.8's re-anchoring of its running variance, on the window `values()` yields
/// oldest first (`inv` = 1 / its length): the new shift (the window's mean), the sums of
/// deviations from it with the oldest value already taken out (the state for the next
/// bar), and the window's variance (0 below 1e-12 of its mean square). One function for
/// the stream, the batch kernel and the scanner, so all three re-anchor with the same bits.
#[inline(always)]
pub(crate) fn var_rebuild<I: Iterator<Item = f64>>(
    values: impl Fn() -> I,
    inv: f64,
) -> (f64, f64, f64, f64) {
    let mut sum = 0.0;
    for v in values() {
        sum += v;
    }
    let shift = sum * inv;
    let (mut t1, mut t2) = (0.0, 0.0);
    let mut oldest = None;
    for v in values() {
        oldest.get_or_insert(v);
        let d = v - shift;
        t1 += d;
        t2 += d * d;
    }
    let mean = t1 * inv;
    let mut var = t2 * inv - mean * mean;
    if var < 0.000000000001 * (t2 * inv) {
        var = 0.0;
    }
    let d = oldest.unwrap_or(f64::NAN) - shift;
    (shift, t1 - d, t2 - d * d, var)
}

/// TA-Lib 0.8's `RSI`: Wilder averages of gains and losses, seeded with the mean of the
/// first `period` changes; each step is `avg = (avg * (period - 1) + change) * (1 / period)`
/// (TA-Lib 0.8 multiplies by the reciprocal), and a non-positive (or NaN) total reads 0.
#[derive(Debug, Clone)]
pub(crate) struct RsiCore {
    period: usize,
    inv: f64,
    count: usize,
    prev: f64,
    gain: f64,
    loss: f64,
}

impl RsiCore {
    pub(crate) fn new(period: usize) -> RsiCore {
        RsiCore {
            period,
            inv: 1.0 / period as f64,
            count: 0,
            prev: 0.0,
            gain: 0.0,
            loss: 0.0,
        }
    }

    #[inline(always)]
    fn value(&self) -> f64 {
        rsi_value(self.gain, self.loss)
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        if self.count == 0 {
            self.prev = x;
            self.count = 1;
            return None;
        }
        let diff = x - self.prev;
        self.prev = x;
        if self.count <= self.period {
            if diff < 0.0 {
                self.loss -= diff;
            } else {
                self.gain += diff;
            }
            self.count += 1;
            if self.count <= self.period {
                return None;
            }
            self.loss *= self.inv;
            self.gain *= self.inv;
            return Some(self.value());
        }
        let m = (self.period - 1) as f64;
        // Branch-free form of TA-Lib's `if diff < 0 { loss -= diff } else { gain += diff }`
        // (adding or subtracting 0.0 leaves a non-negative average's bits unchanged, and a
        // NaN change still goes to the gain): the sign of a price change is a coin flip.
        let down = diff < 0.0;
        self.loss = self.loss * m - if down { diff } else { 0.0 };
        self.gain = self.gain * m + if down { 0.0 } else { diff };
        self.loss *= self.inv;
        self.gain *= self.inv;
        Some(self.value())
    }
}

/// RSI from the average gain and loss; a non-positive (or NaN) total reads 0, as in TA-Lib.
#[inline(always)]
pub(crate) fn rsi_value(gain: f64, loss: f64) -> f64 {
    let total = gain + loss;
    if total > 0.0 {
        100.0 * (gain / total)
    } else {
        0.0
    }
}

/// TA-Lib's true range of one bar given the previous close (`TRUE_RANGE` macro / TRANGE).
#[inline(always)]
pub(crate) fn true_range(high: f64, low: f64, prev_close: f64) -> f64 {
    let mut greatest = high - low;
    let v2 = (prev_close - high).abs();
    if v2 > greatest {
        greatest = v2;
    }
    let v3 = (prev_close - low).abs();
    if v3 > greatest {
        greatest = v3;
    }
    greatest
}

#[derive(Debug, Clone)]
pub(crate) struct TrangeCore {
    prev_close: Option<f64>,
}

impl TrangeCore {
    pub(crate) fn new() -> TrangeCore {
        TrangeCore { prev_close: None }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let prev = self.prev_close.replace(close)?;
        Some(true_range(high, low, prev))
    }
}

/// TA-Lib 0.8's `ATR`: mean of the first `period` true ranges, then Wilder smoothing as
/// `beta * prev + alpha * tr` with `beta = (period - 1) / period`, `alpha = 1 - beta`,
/// fused as TA-Lib's compiled library fuses it (one rounding for `beta * prev + ...`).
/// Period 1 therefore reproduces the true range (and carries a NaN forward, as TA-Lib).
#[derive(Debug, Clone)]
pub(crate) struct AtrCore {
    pub(crate) period: usize,
    tr: TrangeCore,
    count: usize,
    sum: f64,
    prev: f64,
    alpha: f64,
    beta: f64,
}

impl AtrCore {
    pub(crate) fn new(period: usize) -> AtrCore {
        let beta = (period - 1) as f64 / period as f64;
        AtrCore {
            period,
            tr: TrangeCore::new(),
            count: 0,
            sum: 0.0,
            prev: 0.0,
            alpha: 1.0 - beta,
            beta,
        }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let tr = self.tr.update(high, low, close)?;
        if self.count < self.period {
            self.sum += tr;
            self.count += 1;
            if self.count < self.period {
                return None;
            }
            self.prev = self.sum / self.period as f64;
            return Some(self.prev);
        }
        self.prev = self.beta.mul_add(self.prev, self.alpha * tr);
        Some(self.prev)
    }
}

/// Directional movement and true range with TA-Lib's accumulation: the first
/// `period - 1` bars are summed, later bars smoothed as `prev - prev / period + new`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DmCore {
    period: usize,
    count: usize,
    prev_high: f64,
    prev_low: f64,
    prev_close: f64,
    plus_dm: f64,
    minus_dm: f64,
    tr: f64,
}

/// One bar's raw movement: (+DM, -DM, TR), with at most one DM non-zero.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawDm {
    plus: Option<f64>,
    minus: Option<f64>,
    tr: f64,
}

impl DmCore {
    pub(crate) fn new(period: usize) -> DmCore {
        DmCore {
            period,
            count: 0,
            prev_high: 0.0,
            prev_low: 0.0,
            prev_close: 0.0,
            plus_dm: 0.0,
            minus_dm: 0.0,
            tr: 0.0,
        }
    }

    #[inline(always)]
    fn raw(&mut self, high: f64, low: f64, close: f64) -> RawDm {
        let diff_p = high - self.prev_high;
        self.prev_high = high;
        let diff_m = self.prev_low - low;
        self.prev_low = low;
        let (plus, minus) = if diff_m > 0.0 && diff_p < diff_m {
            (None, Some(diff_m))
        } else if diff_p > 0.0 && diff_p > diff_m {
            (Some(diff_p), None)
        } else {
            (None, None)
        };
        let tr = true_range(high, low, self.prev_close);
        self.prev_close = close;
        RawDm { plus, minus, tr }
    }

    /// Period-1 DI (TA-Lib skips smoothing and the x100): returns the raw bar.
    #[inline(always)]
    pub(crate) fn update_raw(&mut self, high: f64, low: f64, close: f64) -> Option<RawDm> {
        if self.count == 0 {
            self.count = 1;
            self.prev_high = high;
            self.prev_low = low;
            self.prev_close = close;
            return None;
        }
        Some(self.raw(high, low, close))
    }

    /// Returns the bar index (1-based count of bars after the first) once smoothing has
    /// started, i.e. from bar `period` on.
    #[inline(always)]
    pub(crate) fn update(&mut self, high: f64, low: f64, close: f64) -> Option<usize> {
        let raw = self.update_raw(high, low, close)?;
        let p = self.period as f64;
        if self.count < self.period {
            if let Some(d) = raw.plus {
                self.plus_dm += d;
            }
            if let Some(d) = raw.minus {
                self.minus_dm += d;
            }
            self.tr += raw.tr;
            self.count += 1;
            return None;
        }
        self.plus_dm -= self.plus_dm / p;
        if let Some(d) = raw.plus {
            self.plus_dm += d;
        }
        self.minus_dm -= self.minus_dm / p;
        if let Some(d) = raw.minus {
            self.minus_dm += d;
        }
        self.tr = self.tr - (self.tr / p) + raw.tr;
        let bar = self.count;
        self.count = self.count.saturating_add(1);
        Some(bar)
    }

    #[inline(always)]
    pub(crate) fn plus_di(&self) -> f64 {
        if self.tr > 0.0 {
            100.0 * (self.plus_dm / self.tr)
        } else {
            0.0
        }
    }

    #[inline(always)]
    pub(crate) fn minus_di(&self) -> f64 {
        if self.tr > 0.0 {
            100.0 * (self.minus_dm / self.tr)
        } else {
            0.0
        }
    }

    /// DX for ADX, `None` where TA-Lib skips the bar (zero TR or zero DI sum).
    #[inline(always)]
    pub(crate) fn dx(&self) -> Option<f64> {
        // Written as positive tests so that NaN (like zero) skips the bar, as in TA-Lib.
        if self.tr > 0.0 {
            let minus_di = 100.0 * (self.minus_dm / self.tr);
            let plus_di = 100.0 * (self.plus_dm / self.tr);
            let sum = minus_di + plus_di;
            if sum > 0.0 {
                return Some(100.0 * ((minus_di - plus_di).abs() / sum));
            }
        }
        None
    }
}

/// Period-1 DI as TA-Lib computes it: DM / TR for the bar, without the x100.
#[inline(always)]
fn di_period1(dm: Option<f64>, tr: f64) -> f64 {
    match dm {
        Some(d) if tr > 0.0 => d / tr,
        _ => 0.0,
    }
}

/// TA-Lib `ADX`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdxCore {
    period: usize,
    dm: DmCore,
    sum_dx: f64,
    adx: f64,
}

impl AdxCore {
    pub(crate) fn new(period: usize) -> AdxCore {
        AdxCore {
            period,
            dm: DmCore::new(period),
            sum_dx: 0.0,
            adx: 0.0,
        }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let bar = self.dm.update(high, low, close)?;
        let p = self.period;
        if bar < 2 * p {
            // Bars p..=2p-1 seed the first ADX with a plain mean of their DX.
            if let Some(dx) = self.dm.dx() {
                self.sum_dx += dx;
            }
            if bar < 2 * p - 1 {
                return None;
            }
            self.adx = self.sum_dx / p as f64;
            return Some(self.adx);
        }
        if let Some(dx) = self.dm.dx() {
            self.adx = ((self.adx * (p - 1) as f64) + dx) / p as f64;
        }
        Some(self.adx)
    }
}

impl AdxCore {
    /// Whether `self` and `other` (of one period) compute alike from here on: the bar count
    /// (only compared up to `2 period`, past which it decides nothing), the previous bar and
    /// the smoothed sums' bits (the DX sum only while seeding). For a run split over the
    /// cores ([`super::chain`]).
    pub(crate) fn same_state(&self, other: &AdxCore) -> bool {
        let horizon = 2 * self.period;
        let (a, b) = (&self.dm, &other.dm);
        let seeding = a.count < horizon;
        a.count.min(horizon) == b.count.min(horizon)
            && same_f64s(
                [
                    a.prev_high,
                    a.prev_low,
                    a.prev_close,
                    a.plus_dm,
                    a.minus_dm,
                    a.tr,
                ],
                [
                    b.prev_high,
                    b.prev_low,
                    b.prev_close,
                    b.plus_dm,
                    b.minus_dm,
                    b.tr,
                ],
            )
            && self.adx.to_bits() == other.adx.to_bits()
            && (!seeding || self.sum_dx.to_bits() == other.sum_dx.to_bits())
    }
}

/// Whether `a` and `b` hold the same bits (NaNs included).
fn same_f64s<const N: usize>(a: [f64; N], b: [f64; N]) -> bool {
    a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// The fast %K line shared by STOCH, STOCHF and STOCHRSI: where the close sits in the
/// `period`-bar high-low range, with TA-Lib's extreme tracking.
#[derive(Debug, Clone)]
pub(crate) struct FastKCore {
    period: usize,
    today: usize,
    highs: Ring,
    lows: Ring,
    hi: Extreme,
    lo: Extreme,
}

impl FastKCore {
    pub(crate) fn new(period: usize) -> FastKCore {
        FastKCore {
            period,
            today: 0,
            highs: Ring::new(period),
            lows: Ring::new(period),
            hi: Extreme::new(true, false, period),
            lo: Extreme::new(false, false, period),
        }
    }

    /// Returns (highest, lowest) of the window once it is full.
    #[inline(always)]
    pub(crate) fn update(&mut self, high: f64, low: f64) -> Option<(f64, f64)> {
        let today = self.today;
        self.today += 1;
        self.highs.push(high);
        self.lows.push(low);
        self.hi.push(today, high);
        self.lo.push(today, low);
        if today + 1 < self.period {
            return None;
        }
        let trailing = today + 1 - self.period;
        let (_, lowest) = self.lo.step(today, trailing, low, self.lows.oldest());
        let (_, highest) = self.hi.step(today, trailing, high, self.highs.oldest());
        Some((highest, lowest))
    }
}

/// TA-Lib 0.8's `TA_IS_ZERO_SCALED`: |v| within 1e-14 of the operands' magnitude.
#[inline(always)]
pub(crate) fn is_zero_scaled(v: f64, scale: f64) -> bool {
    v.abs() <= 1e-14 * scale
}

/// TA-Lib's fast %K from the range; a range flat relative to its own level gives 0.
#[inline(always)]
pub(crate) fn fast_k(close: f64, highest: f64, lowest: f64) -> f64 {
    let range = highest - lowest;
    if !is_zero_scaled(range, highest.abs() + lowest.abs()) {
        ((close - lowest) / range) * 100.0
    } else {
        0.0
    }
}

/// Williams %R from a window's extremes as TA-Lib computes it, clamped to [-100, 0]; a flat range gives 0.
#[inline(always)]
pub(crate) fn willr_value(close: f64, highest: f64, lowest: f64) -> f64 {
    let range = highest - lowest;
    if !is_zero_scaled(range, highest.abs() + lowest.abs()) {
        (((highest - close) / range) * (-100.0)).clamp(-100.0, 0.0)
    } else {
        0.0
    }
}

#[derive(Debug, Clone)]
pub(crate) struct StochCore {
    fast: FastKCore,
    slow_k: MaCore,
    slow_d: MaCore,
}

impl StochCore {
    pub(crate) fn new(
        fastk: usize,
        slowk: usize,
        slowk_ma: MaType,
        slowd: usize,
        slowd_ma: MaType,
    ) -> StochCore {
        StochCore {
            fast: FastKCore::new(fastk),
            slow_k: MaCore::new(slowk_ma, slowk),
            slow_d: MaCore::new(slowd_ma, slowd),
        }
    }

    /// Returns (slow %K, slow %D).
    #[inline(always)]
    pub(crate) fn update(&mut self, high: f64, low: f64, close: f64) -> Option<(f64, f64)> {
        let (hh, ll) = self.fast.update(high, low)?;
        let k = self.slow_k.update(fast_k(close, hh, ll))?;
        let d = self.slow_d.update(k)?;
        Some((k, d))
    }
}

/// TA-Lib `STOCHF`: fast %K and its moving average.
#[derive(Debug, Clone)]
pub(crate) struct StochFCore {
    fast: FastKCore,
    fast_d: MaCore,
}

impl StochFCore {
    pub(crate) fn new(fastk: usize, fastd: usize, fastd_ma: MaType) -> StochFCore {
        StochFCore {
            fast: FastKCore::new(fastk),
            fast_d: MaCore::new(fastd_ma, fastd),
        }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, high: f64, low: f64, close: f64) -> Option<(f64, f64)> {
        let (hh, ll) = self.fast.update(high, low)?;
        let k = fast_k(close, hh, ll);
        let d = self.fast_d.update(k)?;
        Some((k, d))
    }
}

/// TA-Lib `CCI`: typical price against its mean, scaled by the mean absolute deviation.
/// The sums run over TA-Lib's circular buffer in slot order, as TA-Lib does, so the
/// rounding (and hence near-zero results) matches.
#[derive(Debug, Clone)]
pub(crate) struct CciCore {
    period: usize,
    buf: Vec<f64>,
    idx: usize,
    count: usize,
}

impl CciCore {
    pub(crate) fn new(period: usize) -> CciCore {
        CciCore {
            period,
            buf: vec![0.0; period],
            idx: 0,
            count: 0,
        }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let tp = (high + low + close) / 3.0;
        self.buf[self.idx] = tp;
        self.idx += 1;
        if self.idx == self.period {
            self.idx = 0;
        }
        if self.count + 1 < self.period {
            self.count += 1;
            return None;
        }
        let p = self.period as f64;
        let mut avg = 0.0;
        for &v in &self.buf {
            avg += v;
        }
        avg /= p;
        let mut dev = 0.0;
        for &v in &self.buf {
            dev += (v - avg).abs();
        }
        dev /= p;
        Some(cci_value(tp, avg, dev))
    }
}

/// CCI from the bar's typical price and its window's mean and mean absolute deviation.
#[inline(always)]
pub(crate) fn cci_value(tp: f64, avg: f64, dev: f64) -> f64 {
    let t = tp - avg;
    // TA-Lib 0.8: both flatness tests are relative to the window's price level.
    let scale = avg.abs();
    if !is_zero_scaled(t, scale) && !is_zero_scaled(dev, scale) {
        t / (0.015 * dev)
    } else {
        0.0
    }
}

/// MFI from the window's positive and negative money flow (TA-Lib 0.8's clamping; an empty
/// window reads 0).
#[inline(always)]
pub(crate) fn mfi_value(pos: f64, neg: f64) -> f64 {
    let total = pos + neg;
    let pos = if pos < 0.0 {
        0.0
    } else if pos > total {
        total
    } else {
        pos
    };
    if total <= 0.0 {
        0.0
    } else {
        100.0 * (pos / total)
    }
}

/// One bar's money flow, as (positive, negative, flow): the typical price times the volume,
/// on the side of the typical price's change; none when the change is flat relative to
/// the prices.
#[inline(always)]
pub(crate) fn money_flow(tp: f64, prev_tp: f64, volume: f64) -> (f64, f64, f64) {
    let diff = tp - prev_tp;
    let scale = tp.abs() + prev_tp.abs();
    let flow = if is_zero_scaled(diff, scale) {
        0.0
    } else {
        tp * volume
    };
    if diff < 0.0 {
        (0.0, flow, flow)
    } else {
        (flow, 0.0, flow)
    }
}

/// TA-Lib 0.8's `MFI`: positive and negative money flow summed over a circular buffer. A
/// typical-price change flat relative to the prices is no movement; a run of `period`
/// empty bars resets the sums to exactly 0; an empty window reads 0.
#[derive(Debug, Clone)]
pub(crate) struct MfiCore {
    period: usize,
    flows: Vec<(f64, f64)>,
    idx: usize,
    count: usize,
    null_run: usize,
    prev_tp: f64,
    pos: f64,
    neg: f64,
}

impl MfiCore {
    pub(crate) fn new(period: usize) -> MfiCore {
        MfiCore {
            period,
            flows: vec![(0.0, 0.0); period],
            idx: 0,
            count: 0,
            null_run: 0,
            prev_tp: 0.0,
            pos: 0.0,
            neg: 0.0,
        }
    }

    #[inline(always)]
    fn value(&self) -> f64 {
        mfi_value(self.pos, self.neg)
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, high: f64, low: f64, close: f64, volume: f64) -> Option<f64> {
        let tp = (high + low + close) / 3.0;
        if self.count == 0 {
            self.prev_tp = tp;
            self.count = 1;
            return None;
        }
        let filling = self.count <= self.period;
        if !filling {
            let (p, n) = self.flows[self.idx];
            self.pos -= p;
            self.neg -= n;
        }
        let (pos, neg, flow) = money_flow(tp, self.prev_tp, volume);
        self.prev_tp = tp;
        self.flows[self.idx] = (pos, neg);
        self.pos += pos;
        self.neg += neg;
        self.null_run = if flow == 0.0 { self.null_run + 1 } else { 0 };
        if self.null_run >= self.period {
            self.null_run = self.period;
            self.pos = 0.0;
            self.neg = 0.0;
        }
        self.idx += 1;
        if self.idx == self.period {
            self.idx = 0;
        }
        if filling {
            self.count += 1;
            if self.count <= self.period {
                return None;
            }
        }
        Some(self.value())
    }
}

/// Value `period` steps back, for MOM and ROC.
#[derive(Debug, Clone)]
pub(crate) struct LagCore {
    period: usize,
    ring: Ring,
    count: usize,
}

impl LagCore {
    pub(crate) fn new(period: usize) -> LagCore {
        LagCore {
            period,
            ring: Ring::new(period),
            count: 0,
        }
    }

    /// Returns (x, x `period` steps ago).
    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<(f64, f64)> {
        let old = self.ring.oldest();
        self.ring.push(x);
        if self.count < self.period {
            self.count += 1;
            return None;
        }
        Some((x, old))
    }
}

#[inline(always)]
pub(crate) fn roc_value(x: f64, old: f64) -> f64 {
    if old != 0.0 {
        ((x / old) - 1.0) * 100.0
    } else {
        0.0
    }
}

/// TA-Lib `AROON`: bars since the highest high / lowest low over `period + 1` bars; ties
/// go to the latest bar.
#[derive(Debug, Clone)]
pub(crate) struct AroonCore {
    period: usize,
    today: usize,
    highs: Ring,
    lows: Ring,
    hi: Extreme,
    lo: Extreme,
}

impl AroonCore {
    pub(crate) fn new(period: usize) -> AroonCore {
        AroonCore {
            period,
            today: 0,
            highs: Ring::new(period + 1),
            lows: Ring::new(period + 1),
            hi: Extreme::new(true, true, period + 1),
            lo: Extreme::new(false, true, period + 1),
        }
    }

    /// Returns (aroon down, aroon up).
    #[inline(always)]
    pub(crate) fn update(&mut self, high: f64, low: f64) -> Option<(f64, f64)> {
        let today = self.today;
        self.today += 1;
        self.highs.push(high);
        self.lows.push(low);
        self.hi.push(today, high);
        self.lo.push(today, low);
        if today < self.period {
            return None;
        }
        let trailing = today - self.period;
        let (lo_idx, _) = self.lo.step(today, trailing, low, self.lows.oldest());
        let (hi_idx, _) = self.hi.step(today, trailing, high, self.highs.oldest());
        let factor = 100.0 / self.period as f64;
        let p = self.period as f64;
        let down = factor * (p - (today - lo_idx) as f64);
        let up = factor * (p - (today - hi_idx) as f64);
        Some((down, up))
    }
}

/// TA-Lib `MACD`. The slow EMA is seeded at bar `slow - 1`; the fast EMA starts at the same
/// bar, seeded with the mean of the `fast` values ending there (TA-Lib's alignment).
#[derive(Debug, Clone)]
pub(crate) struct MacdCore {
    fast: usize,
    ring: Ring,
    slow_ema: EmaCore,
    k_fast: f64,
    fast_prev: Option<f64>,
    signal: EmaCore,
}

impl MacdCore {
    pub(crate) fn new(fast: usize, slow: usize, signal: usize) -> MacdCore {
        let (fast, slow) = if slow < fast {
            (slow, fast)
        } else {
            (fast, slow)
        };
        MacdCore {
            fast,
            ring: Ring::new(fast),
            slow_ema: EmaCore::new(slow),
            k_fast: per_to_k(fast),
            fast_prev: None,
            signal: EmaCore {
                copy_at_1: false,
                ..EmaCore::new(signal)
            },
        }
    }

    /// Returns (macd, signal, histogram).
    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<(f64, f64, f64)> {
        self.ring.push(x);
        let slow = self.slow_ema.update(x)?;
        let fast = match self.fast_prev {
            Some(prev) => (x - prev).mul_add(self.k_fast, prev),
            None => {
                let mut sum = 0.0;
                for k in (0..self.fast).rev() {
                    sum += self.ring.ago(k);
                }
                sum / self.fast as f64
            }
        };
        self.fast_prev = Some(fast);
        let macd = fast - slow;
        let signal = self.signal.update(macd)?;
        Some((macd, signal, macd - signal))
    }
}

// ---------------------------------------------------------------------------------------
// Public streaming indicators
// ---------------------------------------------------------------------------------------

/// The `talib` wrapper ignores leading rows with a NaN in any input; so do the streams.
#[derive(Debug, Clone, Default)]
struct Gate {
    started: bool,
}

impl Gate {
    #[inline(always)]
    fn open(&mut self, any_nan: bool) -> bool {
        if !self.started {
            if any_nan {
                return false;
            }
            self.started = true;
        }
        true
    }
}

macro_rules! real_stream {
    ($(#[$m:meta])* $name:ident, $core:ident, $lookback:expr, |$p:ident| $min:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone)]
        pub struct $name {
            core: $core,
            initial: $core,
            gate: Gate,
            period: usize,
        }

        impl $name {
            pub fn new(period: usize) -> Result<$name, TaError> {
                check_period("timeperiod", period, $min)?;
                let core = $core::new(period);
                Ok($name { initial: core.clone(), core, gate: Gate::default(), period })
            }
        }

        impl Indicator for $name {
            type Input = f64;
            type Output = f64;

            #[inline(always)]
            fn update(&mut self, x: f64) -> f64 {
                if !self.gate.open(x.is_nan()) {
                    return f64::NAN;
                }
                self.core.update(x).unwrap_or(f64::NAN)
            }

            fn reset(&mut self) {
                self.core.clone_from(&self.initial);
                self.gate = Gate::default();
            }

            fn lookback(&self) -> usize {
                let $p = self.period;
                $lookback
            }
        }
    };
}

real_stream!(
    /// Streaming SMA (TA-Lib `SMA`).
    Sma, SmaCore, p - 1, |p| 1
);
real_stream!(
    /// Streaming EMA (TA-Lib `EMA`).
    Ema, EmaCore, p - 1, |p| 1
);
real_stream!(
    /// Streaming WMA (TA-Lib `WMA`).
    Wma, WmaCore, p - 1, |p| 1
);
real_stream!(
    /// Streaming DEMA (TA-Lib `DEMA`).
    Dema, DemaCore, 2 * (p - 1), |p| 1
);
real_stream!(
    /// Streaming TEMA (TA-Lib `TEMA`).
    Tema, TemaCore, 3 * (p - 1), |p| 1
);
real_stream!(
    /// Streaming KAMA (TA-Lib `KAMA`; period 1 is a copy, lookback 0).
    Kama, KamaCore, if p == 1 { 0 } else { p }, |p| 1
);
real_stream!(
    /// Streaming TRIMA (TA-Lib `TRIMA`).
    Trima, TrimaCore, p - 1, |p| 1
);

/// Streaming T3 (TA-Lib `T3`, Tillson's six-EMA average with volume factor `vfactor`).
#[derive(Debug, Clone)]
pub struct T3 {
    core: T3Core,
    initial: T3Core,
    gate: Gate,
    period: usize,
}

impl T3 {
    /// `period` in 1..=100000, `vfactor` in 0..=1 (TA-Lib's ranges; its default is 0.7).
    pub fn new(period: usize, vfactor: f64) -> Result<T3, TaError> {
        check_period("timeperiod", period, 1)?;
        if !(0.0..=1.0).contains(&vfactor) {
            return Err(TaError::BadParameter {
                name: "vfactor",
                value: vfactor,
                range: "0..=1",
            });
        }
        let core = T3Core::new(period, vfactor);
        Ok(T3 {
            initial: core,
            core,
            gate: Gate::default(),
            period,
        })
    }
}

impl Indicator for T3 {
    type Input = f64;
    type Output = f64;

    #[inline(always)]
    fn update(&mut self, x: f64) -> f64 {
        if !self.gate.open(x.is_nan()) {
            return f64::NAN;
        }
        self.core.update(x).unwrap_or(f64::NAN)
    }

    fn reset(&mut self) {
        self.core.clone_from(&self.initial);
        self.gate = Gate::default();
    }

    fn lookback(&self) -> usize {
        6 * (self.period - 1)
    }
}

real_stream!(
    /// Streaming RSI (TA-Lib `RSI`).
    Rsi, RsiCore, p, |p| 2
);

/// Streaming STDDEV (TA-Lib `STDDEV`, population, times `nbdev`).
#[derive(Debug, Clone)]
pub struct Stddev {
    core: VarCore,
    initial: VarCore,
    gate: Gate,
    period: usize,
    nbdev: f64,
}

impl Stddev {
    pub fn new(period: usize, nbdev: f64) -> Result<Stddev, TaError> {
        check_period("timeperiod", period, 2)?;
        let core = VarCore::new(period);
        Ok(Stddev {
            initial: core.clone(),
            core,
            gate: Gate::default(),
            period,
            nbdev,
        })
    }
}

/// TA-Lib 0.8's STDDEV step: the variance is already floored at 0, so no dead zone here.
#[inline(always)]
pub(crate) fn stddev_value(var: f64, nbdev: f64) -> f64 {
    var.sqrt() * nbdev
}

impl Indicator for Stddev {
    type Input = f64;
    type Output = f64;

    #[inline(always)]
    fn update(&mut self, x: f64) -> f64 {
        if !self.gate.open(x.is_nan()) {
            return f64::NAN;
        }
        match self.core.update(x) {
            Some(var) => stddev_value(var, self.nbdev),
            None => f64::NAN,
        }
    }

    fn reset(&mut self) {
        self.core.clone_from(&self.initial);
        self.gate = Gate::default();
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}

/// Bollinger Bands output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BbandsOutput {
    pub upper: f64,
    pub middle: f64,
    pub lower: f64,
}

impl BbandsOutput {
    const NAN: BbandsOutput = BbandsOutput {
        upper: f64::NAN,
        middle: f64::NAN,
        lower: f64::NAN,
    };
}

/// The middle band of BBANDS: SMA uses TA-Lib's fused SMA path, other types `TA_MA`.
#[derive(Debug, Clone)]
enum Middle {
    Sma(SmaCore),
    Ma(MaCore),
}

/// Streaming BBANDS (TA-Lib `BBANDS`): middle band `matype` MA, bands at `nbdevup` /
/// `nbdevdn` population standard deviations of the same window.
#[derive(Debug, Clone)]
pub struct Bbands {
    var: VarCore,
    middle: Middle,
    /// Inputs to skip before the variance starts: TA-Lib computes the deviation from the
    /// middle band's first output bar, so its shift anchors there.
    var_skip: usize,
    seen: usize,
    initial: (VarCore, Middle),
    gate: Gate,
    lookback: usize,
    nbdevup: f64,
    nbdevdn: f64,
}

impl Bbands {
    pub fn new(
        period: usize,
        nbdevup: f64,
        nbdevdn: f64,
        matype: MaType,
    ) -> Result<Bbands, TaError> {
        check_period("timeperiod", period, 2)?;
        let var = VarCore::new(period);
        let middle = match matype {
            MaType::Sma => Middle::Sma(SmaCore::new(period)),
            other => Middle::Ma(MaCore::new(other, period)),
        };
        // MAMA's lookback (32) can be shorter than the deviation's window: the bands then
        // start with the deviation, as TA-Lib's do.
        let lookback = matype.lookback(period).max(period - 1);
        Ok(Bbands {
            initial: (var.clone(), middle.clone()),
            var,
            middle,
            var_skip: lookback - (period - 1),
            seen: 0,
            gate: Gate::default(),
            lookback,
            nbdevup,
            nbdevdn,
        })
    }

    #[inline(always)]
    pub(crate) fn bands(middle: f64, sd: f64, up: f64, dn: f64) -> BbandsOutput {
        // TA-Lib shares one product when both multipliers are equal; otherwise its compiled
        // library fuses the upper band's multiply-add.
        if up == dn {
            let t = sd * up;
            BbandsOutput {
                upper: middle + t,
                middle,
                lower: middle - t,
            }
        } else {
            BbandsOutput {
                upper: sd.mul_add(up, middle),
                middle,
                lower: middle - sd * dn,
            }
        }
    }
}

impl Indicator for Bbands {
    type Input = f64;
    type Output = BbandsOutput;

    #[inline(always)]
    fn update(&mut self, x: f64) -> BbandsOutput {
        if !self.gate.open(x.is_nan()) {
            return BbandsOutput::NAN;
        }
        let middle = match &mut self.middle {
            Middle::Sma(c) => c.update(x),
            Middle::Ma(c) => c.update(x),
        };
        let var = if self.seen >= self.var_skip {
            self.var.update(x)
        } else {
            self.seen += 1;
            None
        };
        match (middle, var) {
            (Some(m), Some(v)) => Bbands::bands(m, v.sqrt(), self.nbdevup, self.nbdevdn),
            _ => BbandsOutput::NAN,
        }
    }

    fn reset(&mut self) {
        self.var.clone_from(&self.initial.0);
        self.middle.clone_from(&self.initial.1);
        self.seen = 0;
        self.gate = Gate::default();
    }

    fn lookback(&self) -> usize {
        self.lookback
    }
}

/// MACD output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacdOutput {
    pub macd: f64,
    pub signal: f64,
    pub hist: f64,
}

/// Streaming MACD (TA-Lib `MACD`; `fast` and `slow` are swapped if `slow < fast`).
#[derive(Debug, Clone)]
pub struct Macd {
    core: MacdCore,
    initial: MacdCore,
    gate: Gate,
    lookback: usize,
}

impl Macd {
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Macd, TaError> {
        check_period("fastperiod", fast, 2)?;
        check_period("slowperiod", slow, 2)?;
        check_period("signalperiod", signal, 1)?;
        let core = MacdCore::new(fast, slow, signal);
        Ok(Macd {
            initial: core.clone(),
            core,
            gate: Gate::default(),
            lookback: fast.max(slow) - 1 + signal - 1,
        })
    }
}

impl Indicator for Macd {
    type Input = f64;
    type Output = MacdOutput;

    #[inline(always)]
    fn update(&mut self, x: f64) -> MacdOutput {
        let nan = MacdOutput {
            macd: f64::NAN,
            signal: f64::NAN,
            hist: f64::NAN,
        };
        if !self.gate.open(x.is_nan()) {
            return nan;
        }
        match self.core.update(x) {
            Some((macd, signal, hist)) => MacdOutput { macd, signal, hist },
            None => nan,
        }
    }

    fn reset(&mut self) {
        self.core.clone_from(&self.initial);
        self.gate = Gate::default();
    }

    fn lookback(&self) -> usize {
        self.lookback
    }
}

/// Streaming MOM (TA-Lib `MOM`): `x - x[period ago]`.
#[derive(Debug, Clone)]
pub struct Mom {
    core: LagCore,
    initial: LagCore,
    gate: Gate,
    period: usize,
}

/// Streaming ROC (TA-Lib `ROC`): `(x / x[period ago] - 1) * 100`, 0 when dividing by 0.
#[derive(Debug, Clone)]
pub struct Roc {
    core: LagCore,
    initial: LagCore,
    gate: Gate,
    period: usize,
}

macro_rules! lag_stream {
    ($name:ident, |$x:ident, $old:ident| $value:expr) => {
        impl $name {
            pub fn new(period: usize) -> Result<$name, TaError> {
                check_period("timeperiod", period, 1)?;
                let core = LagCore::new(period);
                Ok($name {
                    initial: core.clone(),
                    core,
                    gate: Gate::default(),
                    period,
                })
            }
        }

        impl Indicator for $name {
            type Input = f64;
            type Output = f64;

            #[inline(always)]
            fn update(&mut self, x: f64) -> f64 {
                if !self.gate.open(x.is_nan()) {
                    return f64::NAN;
                }
                match self.core.update(x) {
                    Some(($x, $old)) => $value,
                    None => f64::NAN,
                }
            }

            fn reset(&mut self) {
                self.core.clone_from(&self.initial);
                self.gate = Gate::default();
            }

            fn lookback(&self) -> usize {
                self.period
            }
        }
    };
}

lag_stream!(Mom, |x, old| x - old);
lag_stream!(Roc, |x, old| roc_value(x, old));

/// Streaming indicator over bars whose core takes (high, low, close) and returns one value.
macro_rules! hlc_stream {
    ($(#[$m:meta])* $name:ident, $core:ident, $min:expr, |$p:ident| $lookback:expr,
     |$c:ident, $bar:ident| $call:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone)]
        pub struct $name {
            core: $core,
            initial: $core,
            gate: Gate,
            period: usize,
        }

        impl $name {
            pub fn new(period: usize) -> Result<$name, TaError> {
                check_period("timeperiod", period, $min)?;
                let core = $core::new(period);
                Ok($name { initial: core.clone(), core, gate: Gate::default(), period })
            }
        }

        impl Indicator for $name {
            type Input = Bar;
            type Output = f64;

            #[inline(always)]
            fn update(&mut self, $bar: Bar) -> f64 {
                if !self.gate.open($bar.high.is_nan() || $bar.low.is_nan() || $bar.close.is_nan()) {
                    return f64::NAN;
                }
                let $c = &mut self.core;
                $call.unwrap_or(f64::NAN)
            }

            fn reset(&mut self) {
                self.core.clone_from(&self.initial);
                self.gate = Gate::default();
            }

            fn lookback(&self) -> usize {
                let $p = self.period;
                $lookback
            }
        }
    };
}

hlc_stream!(
    /// Streaming ATR (TA-Lib `ATR`; period 1 is TRANGE).
    Atr, AtrCore, 1, |p| p, |c, b| c.update(b.high, b.low, b.close)
);
hlc_stream!(
    /// Streaming NATR (TA-Lib `NATR`: ATR / close * 100; period 1 is TRANGE, unnormalised,
    /// as in TA-Lib).
    Natr, AtrCore, 1, |p| p, |c, b| c.update(b.high, b.low, b.close).map(|atr| {
        if c.period <= 1 {
            atr
        } else {
            natr_value(atr, b.close)
        }
    })
);
hlc_stream!(
    /// Streaming ADX (TA-Lib `ADX`).
    Adx, AdxCore, 2, |p| 2 * p - 1, |c, b| c.update(b.high, b.low, b.close)
);
hlc_stream!(
    /// Streaming +DI (TA-Lib `PLUS_DI`; period 1 is +DM/TR of the bar without x100).
    PlusDi, DmCore, 1, |p| p, |c, b| plus_di_step(c, b)
);
hlc_stream!(
    /// Streaming -DI (TA-Lib `MINUS_DI`; period 1 is -DM/TR of the bar without x100).
    MinusDi, DmCore, 1, |p| p, |c, b| minus_di_step(c, b)
);
hlc_stream!(
    /// Streaming CCI (TA-Lib `CCI`).
    Cci, CciCore, 2, |p| p - 1, |c, b| c.update(b.high, b.low, b.close)
);
hlc_stream!(
    /// Streaming Williams %R (TA-Lib `WILLR`).
    Willr, FastKCore, 2, |p| p - 1,
    |c, b| c.update(b.high, b.low).map(|(hh, ll)| willr_value(b.close, hh, ll))
);

#[inline(always)]
pub(crate) fn natr_value(atr: f64, close: f64) -> f64 {
    if close != 0.0 {
        (atr / close) * 100.0
    } else {
        0.0
    }
}

#[inline(always)]
fn plus_di_step(c: &mut DmCore, b: Bar) -> Option<f64> {
    if c.period <= 1 {
        return c
            .update_raw(b.high, b.low, b.close)
            .map(|r| di_period1(r.plus, r.tr));
    }
    c.update(b.high, b.low, b.close).map(|_| c.plus_di())
}

#[inline(always)]
fn minus_di_step(c: &mut DmCore, b: Bar) -> Option<f64> {
    if c.period <= 1 {
        return c
            .update_raw(b.high, b.low, b.close)
            .map(|r| di_period1(r.minus, r.tr));
    }
    c.update(b.high, b.low, b.close).map(|_| c.minus_di())
}

/// Streaming TRANGE (TA-Lib `TRANGE`).
#[derive(Debug, Clone)]
pub struct Trange {
    core: TrangeCore,
    gate: Gate,
}

impl Trange {
    pub fn new() -> Trange {
        Trange {
            core: TrangeCore::new(),
            gate: Gate::default(),
        }
    }
}

impl Default for Trange {
    fn default() -> Trange {
        Trange::new()
    }
}

impl Indicator for Trange {
    type Input = Bar;
    type Output = f64;

    #[inline(always)]
    fn update(&mut self, b: Bar) -> f64 {
        if !self
            .gate
            .open(b.high.is_nan() || b.low.is_nan() || b.close.is_nan())
        {
            return f64::NAN;
        }
        self.core.update(b.high, b.low, b.close).unwrap_or(f64::NAN)
    }

    fn reset(&mut self) {
        *self = Trange::new();
    }

    fn lookback(&self) -> usize {
        1
    }
}

/// Streaming MFI (TA-Lib `MFI`).
#[derive(Debug, Clone)]
pub struct Mfi {
    core: MfiCore,
    initial: MfiCore,
    gate: Gate,
    period: usize,
}

impl Mfi {
    pub fn new(period: usize) -> Result<Mfi, TaError> {
        check_period("timeperiod", period, 2)?;
        let core = MfiCore::new(period);
        Ok(Mfi {
            initial: core.clone(),
            core,
            gate: Gate::default(),
            period,
        })
    }
}

impl Indicator for Mfi {
    type Input = Bar;
    type Output = f64;

    #[inline(always)]
    fn update(&mut self, b: Bar) -> f64 {
        let any_nan = b.high.is_nan() || b.low.is_nan() || b.close.is_nan() || b.volume.is_nan();
        if !self.gate.open(any_nan) {
            return f64::NAN;
        }
        self.core
            .update(b.high, b.low, b.close, b.volume)
            .unwrap_or(f64::NAN)
    }

    fn reset(&mut self) {
        self.core.clone_from(&self.initial);
        self.gate = Gate::default();
    }

    fn lookback(&self) -> usize {
        self.period
    }
}

/// Streaming OBV (TA-Lib `OBV`): starts at the first bar's volume.
#[derive(Debug, Clone, Default)]
pub struct Obv {
    prev: Option<(f64, f64)>,
    gate: Gate,
}

impl Obv {
    pub fn new() -> Obv {
        Obv::default()
    }

    #[inline(always)]
    pub(crate) fn step(prev: &mut Option<(f64, f64)>, close: f64, volume: f64) -> f64 {
        let (mut obv, prev_close) = prev.unwrap_or((volume, close));
        if close > prev_close {
            obv += volume;
        } else if close < prev_close {
            obv -= volume;
        }
        *prev = Some((obv, close));
        obv
    }
}

impl Indicator for Obv {
    type Input = Bar;
    type Output = f64;

    #[inline(always)]
    fn update(&mut self, b: Bar) -> f64 {
        if !self.gate.open(b.close.is_nan() || b.volume.is_nan()) {
            return f64::NAN;
        }
        Obv::step(&mut self.prev, b.close, b.volume)
    }

    fn reset(&mut self) {
        *self = Obv::default();
    }

    fn lookback(&self) -> usize {
        0
    }
}

/// STOCH output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StochOutput {
    pub slowk: f64,
    pub slowd: f64,
}

/// Streaming STOCH (TA-Lib `STOCH`).
#[derive(Debug, Clone)]
pub struct Stoch {
    core: StochCore,
    initial: StochCore,
    gate: Gate,
    lookback: usize,
}

impl Stoch {
    pub fn new(
        fastk: usize,
        slowk: usize,
        slowk_ma: MaType,
        slowd: usize,
        slowd_ma: MaType,
    ) -> Result<Stoch, TaError> {
        check_period("fastk_period", fastk, 1)?;
        check_period("slowk_period", slowk, 1)?;
        check_period("slowd_period", slowd, 1)?;
        let core = StochCore::new(fastk, slowk, slowk_ma, slowd, slowd_ma);
        Ok(Stoch {
            initial: core.clone(),
            core,
            gate: Gate::default(),
            lookback: fastk - 1 + slowk_ma.lookback(slowk) + slowd_ma.lookback(slowd),
        })
    }
}

impl Indicator for Stoch {
    type Input = Bar;
    type Output = StochOutput;

    #[inline(always)]
    fn update(&mut self, b: Bar) -> StochOutput {
        let nan = StochOutput {
            slowk: f64::NAN,
            slowd: f64::NAN,
        };
        if !self
            .gate
            .open(b.high.is_nan() || b.low.is_nan() || b.close.is_nan())
        {
            return nan;
        }
        match self.core.update(b.high, b.low, b.close) {
            Some((slowk, slowd)) => StochOutput { slowk, slowd },
            None => nan,
        }
    }

    fn reset(&mut self) {
        self.core.clone_from(&self.initial);
        self.gate = Gate::default();
    }

    fn lookback(&self) -> usize {
        self.lookback
    }
}

/// STOCHRSI output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StochRsiOutput {
    pub fastk: f64,
    pub fastd: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct StochRsiCore {
    rsi: RsiCore,
    stochf: StochFCore,
}

impl StochRsiCore {
    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<(f64, f64)> {
        let r = self.rsi.update(x)?;
        self.stochf.update(r, r, r)
    }
}

/// Streaming STOCHRSI (TA-Lib `STOCHRSI`: STOCHF applied to RSI).
#[derive(Debug, Clone)]
pub struct StochRsi {
    core: StochRsiCore,
    initial: StochRsiCore,
    gate: Gate,
    lookback: usize,
}

impl StochRsi {
    pub fn new(
        period: usize,
        fastk: usize,
        fastd: usize,
        fastd_ma: MaType,
    ) -> Result<StochRsi, TaError> {
        check_period("timeperiod", period, 2)?;
        check_period("fastk_period", fastk, 1)?;
        check_period("fastd_period", fastd, 1)?;
        let core = StochRsiCore {
            rsi: RsiCore::new(period),
            stochf: StochFCore::new(fastk, fastd, fastd_ma),
        };
        Ok(StochRsi {
            initial: core.clone(),
            core,
            gate: Gate::default(),
            lookback: period + fastk - 1 + fastd_ma.lookback(fastd),
        })
    }
}

impl Indicator for StochRsi {
    type Input = f64;
    type Output = StochRsiOutput;

    #[inline(always)]
    fn update(&mut self, x: f64) -> StochRsiOutput {
        let nan = StochRsiOutput {
            fastk: f64::NAN,
            fastd: f64::NAN,
        };
        if !self.gate.open(x.is_nan()) {
            return nan;
        }
        match self.core.update(x) {
            Some((fastk, fastd)) => StochRsiOutput { fastk, fastd },
            None => nan,
        }
    }

    fn reset(&mut self) {
        self.core.clone_from(&self.initial);
        self.gate = Gate::default();
    }

    fn lookback(&self) -> usize {
        self.lookback
    }
}

/// AROON output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AroonOutput {
    pub down: f64,
    pub up: f64,
}

/// Streaming AROON (TA-Lib `AROON`; inputs high and low).
#[derive(Debug, Clone)]
pub struct Aroon {
    core: AroonCore,
    initial: AroonCore,
    gate: Gate,
    period: usize,
}

impl Aroon {
    pub fn new(period: usize) -> Result<Aroon, TaError> {
        check_period("timeperiod", period, 2)?;
        let core = AroonCore::new(period);
        Ok(Aroon {
            initial: core.clone(),
            core,
            gate: Gate::default(),
            period,
        })
    }
}

impl Indicator for Aroon {
    type Input = Bar;
    type Output = AroonOutput;

    #[inline(always)]
    fn update(&mut self, b: Bar) -> AroonOutput {
        let nan = AroonOutput {
            down: f64::NAN,
            up: f64::NAN,
        };
        if !self.gate.open(b.high.is_nan() || b.low.is_nan()) {
            return nan;
        }
        match self.core.update(b.high, b.low) {
            Some((down, up)) => AroonOutput { down, up },
            None => nan,
        }
    }

    fn reset(&mut self) {
        self.core.clone_from(&self.initial);
        self.gate = Gate::default();
    }

    fn lookback(&self) -> usize {
        self.period
    }
}

/// Typical price used by VWAP (and CCI/MFI): (high + low + close) / 3.
#[inline(always)]
fn typical(b: &Bar) -> f64 {
    (b.high + b.low + b.close) / 3.0
}

/// Streaming session VWAP: Σ(typical × volume) / Σ volume since the session began.
///
/// Not a TA-Lib function; the definition is this crate's: the typical price is
/// (high + low + close) / 3; a bar whose session key differs from the previous bar's starts
/// a new session; a bar with a NaN in high, low, close or volume is skipped (NaN output,
/// state unchanged); the output is NaN while the session has seen no volume.
#[derive(Debug, Clone, Default)]
pub struct VwapSession {
    session: Option<i64>,
    pv: f64,
    v: f64,
}

impl VwapSession {
    pub fn new() -> VwapSession {
        VwapSession::default()
    }

    /// Feeds one bar with its session key (e.g. the UTC day, see
    /// [`super::volume::session_key`]).
    #[inline(always)]
    pub fn update_session(&mut self, b: Bar, session: i64) -> f64 {
        if b.high.is_nan() || b.low.is_nan() || b.close.is_nan() || b.volume.is_nan() {
            return f64::NAN;
        }
        if self.session != Some(session) {
            self.session = Some(session);
            self.pv = 0.0;
            self.v = 0.0;
        }
        self.pv += typical(&b) * b.volume;
        self.v += b.volume;
        if self.v != 0.0 {
            self.pv / self.v
        } else {
            f64::NAN
        }
    }
}

impl Indicator for VwapSession {
    /// (bar, session key)
    type Input = (Bar, i64);
    type Output = f64;

    #[inline(always)]
    fn update(&mut self, (b, session): (Bar, i64)) -> f64 {
        self.update_session(b, session)
    }

    fn reset(&mut self) {
        *self = VwapSession::default();
    }

    fn lookback(&self) -> usize {
        0
    }
}

/// Streaming rolling VWAP: Σ(typical × volume) / Σ volume over the last `period` valid
/// bars (running sums). Not a TA-Lib function; NaN-containing bars are skipped (NaN
/// output, not counted), the first value comes at the `period`-th valid bar (lookback
/// `period - 1`), and the output is NaN when every volume in the window is zero.
#[derive(Debug, Clone)]
pub struct VwapRolling {
    period: usize,
    pv_ring: Ring,
    v_ring: Ring,
    count: usize,
    nonzero: usize,
    pv: f64,
    v: f64,
}

impl VwapRolling {
    pub fn new(period: usize) -> Result<VwapRolling, TaError> {
        check_period("timeperiod", period, 1)?;
        Ok(VwapRolling {
            period,
            pv_ring: Ring::new(period),
            v_ring: Ring::new(period),
            count: 0,
            nonzero: 0,
            pv: 0.0,
            v: 0.0,
        })
    }
}

impl Indicator for VwapRolling {
    type Input = Bar;
    type Output = f64;

    #[inline(always)]
    fn update(&mut self, b: Bar) -> f64 {
        if b.high.is_nan() || b.low.is_nan() || b.close.is_nan() || b.volume.is_nan() {
            return f64::NAN;
        }
        if self.count == self.period {
            let old_v = self.v_ring.oldest();
            self.pv -= self.pv_ring.oldest();
            self.v -= old_v;
            if old_v != 0.0 {
                self.nonzero -= 1;
            }
        } else {
            self.count += 1;
        }
        let pv = typical(&b) * b.volume;
        self.pv_ring.push(pv);
        self.v_ring.push(b.volume);
        self.pv += pv;
        self.v += b.volume;
        if b.volume != 0.0 {
            self.nonzero += 1;
        }
        // The count of non-zero volumes, not the float sum, decides "no volume": running
        // sums can leave rounding residue after large volumes leave the window.
        if self.count < self.period || self.nonzero == 0 {
            f64::NAN
        } else {
            self.pv / self.v
        }
    }

    fn reset(&mut self) {
        if let Ok(fresh) = VwapRolling::new(self.period) {
            *self = fresh;
        }
    }

    fn lookback(&self) -> usize {
        self.period - 1
    }
}
