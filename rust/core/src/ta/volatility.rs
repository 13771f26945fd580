//! Volatility and dispersion: TRANGE, ATR, NATR (TA-Lib's volatility group) and STDDEV
//! (TA-Lib's statistic group, here because it measures dispersion).

use super::stream::{Atr, Natr, Stddev, Trange};
use super::{common_len, run_bars, run_real, Cols, Real, TaError};

fn hlc_into<T: Real, S>(
    state: S,
    high: &[T],
    low: &[T],
    close: &[T],
    out: &mut [f64],
) -> Result<(), TaError>
where
    S: super::stream::Indicator<Input = super::Bar, Output = f64>,
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
    hlc_into(Trange::new(), high, low, close, out)
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
    hlc_into(Atr::new(period)?, high, low, close, out)
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
    hlc_into(Natr::new(period)?, high, low, close, out)
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
    run_real(Stddev::new(period, nbdev)?, real, out)
}

/// Allocating form of [`stddev_into`].
pub fn stddev<T: Real>(real: &[T], period: usize, nbdev: f64) -> Result<Vec<f64>, TaError> {
    let mut out = vec![0.0; real.len()];
    stddev_into(real, period, nbdev, &mut out)?;
    Ok(out)
}
