//! TA-Lib `MAMA`: Ehlers' MESA adaptive moving average and its following average FAMA.
//!
//! The price is smoothed by a 4-bar weighted average, a Hilbert transform of it gives the
//! in-phase and quadrature parts of the dominant cycle, and the rate of change of their
//! phase sets the smoothing factor between `slow_limit` and `fast_limit`. The state steps
//! one bar at a time in exactly TA-Lib 0.8's order of operations (its odd and even bars
//! keep separate transform buffers), so the batch kernel and the streaming form are the
//! same code. Lookback 32 (TA-Lib's, with its unstable period at the default 0).

use super::stream::Indicator;
use super::{check_len, first_valid_row, Real, TaError};

/// TA-Lib's defaults (what `TA_MA` uses for matype 7).
pub const DEFAULT_FAST_LIMIT: f64 = 0.5;
pub const DEFAULT_SLOW_LIMIT: f64 = 0.05;
/// Bars consumed before the first output.
pub const MAMA_LOOKBACK: usize = 32;

const A: f64 = 0.0962;
const B: f64 = 0.5769;

/// One of the four Hilbert transforms (detrender, Q1, jI, jQ) of one bar parity: a
/// 3-slot delay line plus the previous input and its weighted copy.
#[derive(Debug, Clone, Copy, Default)]
struct Hilbert {
    delay: [f64; 3],
    prev: f64,
    prev_input: f64,
}

impl Hilbert {
    #[inline(always)]
    fn step(&mut self, input: f64, idx: usize, adjusted_prev_period: f64) -> f64 {
        let weighted = A * input;
        let mut out = 0.0 - self.delay[idx];
        self.delay[idx] = weighted;
        out += weighted;
        out -= self.prev;
        self.prev = B * self.prev_input;
        out += self.prev;
        self.prev_input = input;
        out * adjusted_prev_period
    }
}

/// The transforms of one bar parity.
#[derive(Debug, Clone, Copy, Default)]
struct Parity {
    detrender: Hilbert,
    q1: Hilbert,
    ji: Hilbert,
    jq: Hilbert,
}

/// MAMA's state, stepped one valid input at a time.
#[derive(Debug, Clone)]
pub(crate) struct MamaCore {
    fast_limit: f64,
    slow_limit: f64,
    /// Valid inputs seen.
    count: usize,
    /// The last three inputs, oldest first (the 4-bar WMA's trailing value).
    last: [f64; 3],
    wma_sub: f64,
    wma_sum: f64,
    trailing: f64,
    hilbert_idx: usize,
    even: Parity,
    odd: Parity,
    i1_for_even_prev2: f64,
    i1_for_even_prev3: f64,
    i1_for_odd_prev2: f64,
    i1_for_odd_prev3: f64,
    prev_q2: f64,
    prev_i2: f64,
    re: f64,
    im: f64,
    period: f64,
    prev_phase: f64,
    mama: f64,
    fama: f64,
}

impl MamaCore {
    pub(crate) fn new(fast_limit: f64, slow_limit: f64) -> MamaCore {
        MamaCore {
            fast_limit,
            slow_limit,
            count: 0,
            last: [0.0; 3],
            wma_sub: 0.0,
            wma_sum: 0.0,
            trailing: 0.0,
            hilbert_idx: 0,
            even: Parity::default(),
            odd: Parity::default(),
            i1_for_even_prev2: 0.0,
            i1_for_even_prev3: 0.0,
            i1_for_odd_prev2: 0.0,
            i1_for_odd_prev3: 0.0,
            prev_q2: 0.0,
            prev_i2: 0.0,
            re: 0.0,
            im: 0.0,
            period: 0.0,
            prev_phase: 0.0,
            mama: 0.0,
            fama: 0.0,
        }
    }

    /// Feeds the next input; `(mama, fama)` once [`MAMA_LOOKBACK`] inputs have passed.
    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<(f64, f64)> {
        let n = self.count;
        self.count += 1;
        let oldest = self.last[0];
        self.last = [self.last[1], self.last[2], x];
        // TA-Lib's 4-bar WMA seed: weights 1, 2, 3 for the first three inputs.
        if n < 3 {
            self.wma_sub += x;
            self.wma_sum += x * (n + 1) as f64;
            return None;
        }
        let adjusted_prev_period = 0.075 * self.period + 0.54;
        self.wma_sub += x;
        self.wma_sub -= self.trailing;
        self.wma_sum += x * 4.0;
        self.trailing = oldest;
        let smoothed = self.wma_sum * 0.1;
        self.wma_sum -= self.wma_sub;
        if n < 12 {
            return None;
        }

        let rad2deg = 180.0 / (4.0 * 1f64.atan());
        let idx = self.hilbert_idx;
        let (q1, q2, i2, phase);
        if n % 2 == 0 {
            let p = &mut self.even;
            let detrender = p.detrender.step(smoothed, idx, adjusted_prev_period);
            q1 = p.q1.step(detrender, idx, adjusted_prev_period);
            let ji = p.ji.step(self.i1_for_even_prev3, idx, adjusted_prev_period);
            let jq = p.jq.step(q1, idx, adjusted_prev_period);
            self.hilbert_idx = if idx == 2 { 0 } else { idx + 1 };
            q2 = 0.2 * (q1 + ji) + 0.8 * self.prev_q2;
            i2 = 0.2 * (self.i1_for_even_prev3 - jq) + 0.8 * self.prev_i2;
            self.i1_for_odd_prev3 = self.i1_for_odd_prev2;
            self.i1_for_odd_prev2 = detrender;
            phase = if self.i1_for_even_prev3 != 0.0 {
                (q1 / self.i1_for_even_prev3).atan() * rad2deg
            } else {
                0.0
            };
        } else {
            let p = &mut self.odd;
            let detrender = p.detrender.step(smoothed, idx, adjusted_prev_period);
            q1 = p.q1.step(detrender, idx, adjusted_prev_period);
            let ji = p.ji.step(self.i1_for_odd_prev3, idx, adjusted_prev_period);
            let jq = p.jq.step(q1, idx, adjusted_prev_period);
            q2 = 0.2 * (q1 + ji) + 0.8 * self.prev_q2;
            i2 = 0.2 * (self.i1_for_odd_prev3 - jq) + 0.8 * self.prev_i2;
            self.i1_for_even_prev3 = self.i1_for_even_prev2;
            self.i1_for_even_prev2 = detrender;
            phase = if self.i1_for_odd_prev3 != 0.0 {
                (q1 / self.i1_for_odd_prev3).atan() * rad2deg
            } else {
                0.0
            };
        }

        let mut delta_phase = self.prev_phase - phase;
        self.prev_phase = phase;
        if delta_phase < 1.0 {
            delta_phase = 1.0;
        }
        let mut alpha = self.fast_limit;
        if delta_phase > 1.0 {
            alpha = self.fast_limit / delta_phase;
            if alpha < self.slow_limit {
                alpha = self.slow_limit;
            }
        }
        self.mama = alpha * x + (1.0 - alpha) * self.mama;
        alpha *= 0.5;
        self.fama = alpha * self.mama + (1.0 - alpha) * self.fama;
        let out = (n >= MAMA_LOOKBACK).then_some((self.mama, self.fama));

        // The dominant cycle's period, for the next bar.
        self.re = 0.2 * (i2 * self.prev_i2 + q2 * self.prev_q2) + 0.8 * self.re;
        self.im = 0.2 * (i2 * self.prev_q2 - q2 * self.prev_i2) + 0.8 * self.im;
        self.prev_q2 = q2;
        self.prev_i2 = i2;
        let previous = self.period;
        if self.im != 0.0 && self.re != 0.0 {
            self.period = 360.0 / ((self.im / self.re).atan() * rad2deg);
        }
        let upper = 1.5 * previous;
        if self.period > upper {
            self.period = upper;
        }
        let lower = 0.67 * previous;
        if self.period < lower {
            self.period = lower;
        }
        self.period = self.period.clamp(6.0, 50.0);
        self.period = 0.2 * self.period + 0.8 * previous;
        out
    }
}

/// TA-Lib's range for both limits.
fn check_limit(name: &'static str, value: f64) -> Result<f64, TaError> {
    if (0.01..=0.99).contains(&value) {
        Ok(value)
    } else {
        Err(TaError::BadParameter {
            name,
            value,
            range: "[0.01, 0.99]",
        })
    }
}

/// One step's outputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MamaOutput {
    pub mama: f64,
    pub fama: f64,
}

/// Streaming MAMA (TA-Lib `MAMA`): leading NaN inputs are skipped, as `talib` does.
#[derive(Debug, Clone)]
pub struct Mama {
    core: MamaCore,
    initial: MamaCore,
    started: bool,
}

impl Mama {
    /// `fast_limit` and `slow_limit` in 0.01..=0.99 (TA-Lib defaults 0.5 and 0.05).
    pub fn new(fast_limit: f64, slow_limit: f64) -> Result<Mama, TaError> {
        let core = MamaCore::new(
            check_limit("fastlimit", fast_limit)?,
            check_limit("slowlimit", slow_limit)?,
        );
        Ok(Mama {
            initial: core.clone(),
            core,
            started: false,
        })
    }
}

impl Indicator for Mama {
    type Input = f64;
    type Output = MamaOutput;

    #[inline(always)]
    fn update(&mut self, x: f64) -> MamaOutput {
        let nan = MamaOutput {
            mama: f64::NAN,
            fama: f64::NAN,
        };
        if !self.started {
            if x.is_nan() {
                return nan;
            }
            self.started = true;
        }
        match self.core.update(x) {
            Some((mama, fama)) => MamaOutput { mama, fama },
            None => nan,
        }
    }

    fn reset(&mut self) {
        self.core.clone_from(&self.initial);
        self.started = false;
    }

    fn lookback(&self) -> usize {
        MAMA_LOOKBACK
    }
}

/// TA-Lib `MAMA` into `mama` and `fama` (NaN for the first valid row + 32 rows).
pub fn mama_into<T: Real>(
    real: &[T],
    fast_limit: f64,
    slow_limit: f64,
    mama: &mut [f64],
    fama: &mut [f64],
) -> Result<(), TaError> {
    let n = real.len();
    check_len("mama", mama.len(), n)?;
    check_len("fama", fama.len(), n)?;
    let mut state = Mama::new(fast_limit, slow_limit)?;
    let b = first_valid_row(&[real], n).min(n);
    mama[..b].fill(f64::NAN);
    fama[..b].fill(f64::NAN);
    for i in b..n {
        let v = state.update(real[i].to_f64());
        mama[i] = v.mama;
        fama[i] = v.fama;
    }
    Ok(())
}

/// Allocating form of [`mama_into`]: `(mama, fama)`.
pub fn mama<T: Real>(
    real: &[T],
    fast_limit: f64,
    slow_limit: f64,
) -> Result<(Vec<f64>, Vec<f64>), TaError> {
    let (mut m, mut f) = (vec![0.0; real.len()], vec![0.0; real.len()]);
    mama_into(real, fast_limit, slow_limit, &mut m, &mut f)?;
    Ok((m, f))
}
