//! Volume indicators: OBV (TA-Lib) and VWAP (session-reset and rolling; not in TA-Lib,
//! definitions documented on [`super::stream::VwapSession`] and
//! [`super::stream::VwapRolling`]).

use super::stream::{Obv, VwapRolling, VwapSession};
use super::{common_len, first_valid_row, run_bars, Cols, Real, TaError};

/// TA-Lib `OBV`: starts at the first bar's volume, adds the volume on an up close,
/// subtracts it on a down close. Lookback 0.
///
/// When no row has both inputs non-NaN, `talib` runs TA-Lib on the last row alone (so the
/// last output is that row's volume); this kernel does the same, the streaming [`Obv`]
/// cannot know a row is the last and outputs NaN there.
pub fn obv_into<T: Real>(close: &[T], volume: &[T], out: &mut [f64]) -> Result<(), TaError> {
    let n = common_len(&[
        ("close", close.len()),
        ("volume", volume.len()),
        ("out", out.len()),
    ])?;
    if n == 0 {
        return Ok(());
    }
    let b = first_valid_row(&[close, volume], n);
    if b == n - 1 && (close[b].to_f64().is_nan() || volume[b].to_f64().is_nan()) {
        out.fill(f64::NAN);
        let mut prev = None;
        out[b] = Obv::step(&mut prev, close[b].to_f64(), volume[b].to_f64());
        return Ok(());
    }
    // The slice form of `Obv`: no NaN gate per bar, and the up/down/flat choice without a
    // branch (`obv - (-v)` is `obv + v` bit for bit; `obv - 0.0` is `obv`).
    out[..b].fill(f64::NAN);
    let mut obv = volume[b].to_f64();
    let mut prev = close[b].to_f64();
    out[b] = obv;
    for (o, (c, v)) in out[b + 1..]
        .iter_mut()
        .zip(close[b + 1..].iter().zip(&volume[b + 1..]))
    {
        let (c, v) = (c.to_f64(), v.to_f64());
        // -v on an up close, v on a down close, +0.0 otherwise, by bit masks: written as
        // a select LLVM makes it a branch, mispredicted on half of market bars.
        let (up, down) = ((c > prev) as u64, (c < prev) as u64);
        let magnitude = v.to_bits() & (up | down).wrapping_neg();
        let step = f64::from_bits(magnitude ^ (up << 63));
        obv -= step;
        prev = c;
        *o = obv;
    }
    Ok(())
}

/// Allocating form of [`obv_into`].
pub fn obv<T: Real>(close: &[T], volume: &[T]) -> Result<Vec<f64>, TaError> {
    common_len(&[("close", close.len()), ("volume", volume.len())])?;
    let mut out = vec![0.0; close.len()];
    obv_into(close, volume, &mut out)?;
    Ok(out)
}

/// Session key for [`vwap_session_into`]: the index of the `session_ns`-long period (e.g.
/// one UTC day, `86_400_000_000_000`) containing `ts_ns - offset_ns`, so a session that
/// opens at 13:30 UTC uses `offset_ns` = 13.5 h. `session_ns` of 0 puts everything in one
/// session.
pub fn session_key(ts_ns: u64, session_ns: u64, offset_ns: u64) -> i64 {
    if session_ns == 0 {
        return 0;
    }
    let shifted = ts_ns as i128 - offset_ns as i128;
    shifted.div_euclid(session_ns as i128) as i64
}

/// Session VWAP: cumulative Σ(typical × volume) / Σ volume, reset whenever `session`
/// changes from one row to the next. See [`VwapSession`] for the exact definition.
pub fn vwap_session_into<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    volume: &[T],
    session: &[i64],
    out: &mut [f64],
) -> Result<(), TaError> {
    let n = common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("close", close.len()),
        ("volume", volume.len()),
        ("session", session.len()),
        ("out", out.len()),
    ])?;
    let cols = Cols {
        high,
        low,
        close,
        volume,
    };
    let mut state = VwapSession::new();
    for i in 0..n {
        out[i] = state.update_session(cols.bar(i), session[i]);
    }
    Ok(())
}

/// Allocating form of [`vwap_session_into`].
pub fn vwap_session<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    volume: &[T],
    session: &[i64],
) -> Result<Vec<f64>, TaError> {
    let mut out = vec![0.0; high.len()];
    vwap_session_into(high, low, close, volume, session, &mut out)?;
    Ok(out)
}

/// Rolling VWAP over the last `period` bars. See [`VwapRolling`] for the definition.
pub fn vwap_rolling_into<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    volume: &[T],
    period: usize,
    out: &mut [f64],
) -> Result<(), TaError> {
    let n = common_len(&[
        ("high", high.len()),
        ("low", low.len()),
        ("close", close.len()),
        ("volume", volume.len()),
        ("out", out.len()),
    ])?;
    let cols = Cols {
        high,
        low,
        close,
        volume,
    };
    let state = VwapRolling::new(period)?;
    run_bars(state, cols, n, |i, v| out[i] = v);
    Ok(())
}

/// Allocating form of [`vwap_rolling_into`].
pub fn vwap_rolling<T: Real>(
    high: &[T],
    low: &[T],
    close: &[T],
    volume: &[T],
    period: usize,
) -> Result<Vec<f64>, TaError> {
    let mut out = vec![0.0; high.len()];
    vwap_rolling_into(high, low, close, volume, period, &mut out)?;
    Ok(out)
}
