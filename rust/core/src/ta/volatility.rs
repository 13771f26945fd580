//! Volatility and dispersion: TRANGE, ATR, NATR (TA-Lib's volatility group) and STDDEV
//! (TA-Lib's statistic group, here because it measures dispersion).

use super::chain::{run_chain, same_bits, Chain};
use super::parallel::{rows_in_parallel, stretches};
use super::stream::{natr_value, stddev_value, true_range, var_rebuild};
#[cfg(doc)]
use super::stream::{Atr, Natr};
use super::{check_len, check_period, common_len, warm_up, Real, TaError};
use std::ops::Range;

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
    // ATR's smoothing forgets its start as DI's does (`super::chain`): the same run-ahead.
    run_chain(&chain, [&mut out[b + period + 1..]], 64 * period + 64);
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
///
/// A long series is split over rayon's pool at rows where the running variance re-anchors
/// (see [`var_split`]), with the same bits as one pass.
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
    stddev_rows(
        &real[b..],
        period,
        nbdev,
        &mut out[b..],
        stretches(real.len() - b),
    );
    Ok(())
}

/// [`stddev_into`] after the warm-up (`x` starts at the first valid row, `out[i]` is row
/// `i`), over at most `k` stretches.
fn stddev_rows<T: Real>(x: &[T], period: usize, nbdev: f64, out: &mut [f64], k: usize) {
    let value = move |var: f64| stddev_value(var, nbdev);
    let from = period - 1;
    let state = VarState::prime(x, period);
    let starts = var_starts(
        from,
        &state,
        period,
        x.len(),
        even_targets(from, x.len(), k),
    );
    if !starts.is_empty() {
        var_split_from(x, period, from, state, &starts, out, &value);
        return;
    }
    super::wide_path(
        #[inline(always)]
        || var_rows_into(x, period, state, from, &mut out[from..], value, |_| false),
    );
}

/// TA-Lib 0.8 VAR's running state between two rows: the shift, the shifted sums over the
/// window less its oldest value, and the rows left until the forced re-anchor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VarState {
    shift: f64,
    t1: f64,
    t2: f64,
    bars: usize,
}

impl VarState {
    /// The state before row `period - 1`: the sums of the first `period - 1` values,
    /// shifted by the first.
    #[inline(always)]
    pub(crate) fn prime<T: Real>(x: &[T], period: usize) -> VarState {
        let shift = x[0].to_f64();
        let (mut t1, mut t2) = (0.0, 0.0);
        for v in &x[..period - 1] {
            let d = v.to_f64() - shift;
            t1 += d;
            t2 += d * d;
        }
        VarState {
            shift,
            t1,
            t2,
            bars: 32 * period,
        }
    }

    /// A re-anchor at row `i`: the shift moves to the mean of the window `x[i + 1 -
    /// period..=i]` and the sums are rebuilt from it (see `VarCore`). Returns the window's
    /// variance and the state after the row, both functions of the window alone: this is
    /// what lets a stretch start at a row where the chain re-anchors.
    #[inline(always)]
    pub(crate) fn rebuild<T: Real>(x: &[T], period: usize, i: usize) -> (f64, VarState) {
        let inv = 1.0 / period as f64;
        let start = i + 1 - period;
        let window = &x[start..=i];
        let (shift, t1, t2, var) = var_rebuild(|| window.iter().map(|v| v.to_f64()), inv);
        let state = VarState {
            shift,
            t1,
            t2,
            bars: 32 * period,
        };
        (var, state)
    }

    /// The first row at or after `from` where the chain in this state (the state before
    /// row `from`) re-anchors unconditionally; later ones follow every `32 * period` rows.
    fn forced_row(&self, from: usize) -> usize {
        from + self.bars - 1
    }
}

/// Rows of VAR handled at a time: the variances wait in a buffer this long (in L1) before
/// they are turned into outputs in a separate pass, which vectorises (a square root costs
/// less than half of a scalar one) and keeps the divide/square-root unit free for the
/// running sums' loop.
const CHUNK: usize = 256;

/// The slice form of [`super::stream::Stddev`]'s variance (TA-Lib 0.8's `VAR`): the same
/// operations in the same order, without the ring buffer the streaming form needs. Calls
/// `emit(i, variance)` for each row `i` of `rows`, from `state` (the state before
/// `rows.start`); returns the state after them.
#[inline(always)]
pub(crate) fn running_variance<T: Real>(
    x: &[T],
    period: usize,
    mut state: VarState,
    rows: Range<usize>,
    mut emit: impl FnMut(usize, f64),
) -> VarState {
    let mut vars = [0.0; CHUNK];
    let mut lo = rows.start;
    while lo < rows.end {
        let vars = &mut vars[..(rows.end - lo).min(CHUNK)];
        // `emit` inside the loop: work on another chain (BBANDS' running total) overlaps
        // with the variance's.
        state = var_rows(
            x,
            period,
            state,
            lo,
            vars,
            |_| false,
            |k, var| emit(lo + k, var),
        )
        .0;
        lo += vars.len();
    }
    state
}

/// Rows `lo..lo + out.len()` of VAR from `state` (the state before row `lo`), each row's
/// variance into `out` and handed to `each(k, variance)` for row `lo + k`; after each
/// re-anchor, at row `i`, `stop(i)` is asked, and a `true` ends the run after that row.
/// Returns the state after the last row run and the row it stopped at.
#[inline(always)]
fn var_rows<T: Real>(
    x: &[T],
    period: usize,
    state: VarState,
    lo: usize,
    out: &mut [f64],
    mut stop: impl FnMut(usize) -> bool,
    mut each: impl FnMut(usize, f64),
) -> (VarState, Option<usize>) {
    let p = period;
    let inv = 1.0 / p as f64;
    let rows = out.len();
    // Each row's new value and the window's oldest, which departs after the row.
    let ends = x[lo..lo + rows]
        .iter()
        .zip(&x[lo + 1 - p..lo + 1 - p + rows]);
    let VarState {
        mut shift,
        mut t1,
        mut t2,
        mut bars,
    } = state;
    for (k, (o, (new, old))) in out.iter_mut().zip(ends).enumerate() {
        let d = new.to_f64() - shift;
        t1 += d;
        t2 += d * d;
        let mean = t1 * inv;
        let mut var = t2 * inv - mean * mean;
        let d = old.to_f64() - shift;
        t1 -= d;
        let departing = d * d;
        t2 -= departing;
        bars -= 1;
        // `|`, not `||`: the three tests cost less than two more branches.
        if (var < 0.000001 * (t2 * inv)) | (departing > 1000000.0 * t2) | (bars == 0) {
            // Re-anchor on the window mean and rebuild the sums (see `VarCore`).
            let i = lo + k;
            let after;
            (var, after) = VarState::rebuild(x, p, i);
            VarState {
                shift,
                t1,
                t2,
                bars,
            } = after;
            if stop(i) {
                *o = var;
                each(k, var);
                return (after, Some(i));
            }
        }
        *o = var;
        each(k, var);
    }
    let state = VarState {
        shift,
        t1,
        t2,
        bars,
    };
    (state, None)
}

/// [`var_rows`] for rows `lo..lo + out.len()` writing `value(variance)` to `out`, a
/// [`CHUNK`] at a time.
#[inline(always)]
fn var_rows_into<T: Real>(
    x: &[T],
    period: usize,
    mut state: VarState,
    lo: usize,
    out: &mut [f64],
    value: impl Fn(f64) -> f64,
    mut stop: impl FnMut(usize) -> bool,
) -> (VarState, Option<usize>) {
    for (c, chunk) in out.chunks_mut(CHUNK).enumerate() {
        let first = lo + c * CHUNK;
        let (after, stopped) = var_rows(x, period, state, first, chunk, &mut stop, |_, _| ());
        let done = stopped.map_or(chunk.len(), |i| i + 1 - first);
        for o in &mut chunk[..done] {
            *o = value(*o);
        }
        if stopped.is_some() {
            return (after, stopped);
        }
        state = after;
    }
    (state, None)
}

/// `k - 1` rows spreading `from..n` evenly over `k` stretches (none for `k <= 1`).
pub(crate) fn even_targets(from: usize, n: usize, k: usize) -> Vec<usize> {
    (1..k).map(|s| from + (n - from) * s / k).collect()
}

/// Where the stretches after the first start, for rows `from..n` of a chain that
/// re-anchors unconditionally at row `first` and every `every` rows after: for each
/// target, the nearest such row, kept if it lies after the previous one kept (or after
/// `from`) and before `n`. Empty: no split.
pub(crate) fn grid_starts(
    from: usize,
    n: usize,
    first: usize,
    every: usize,
    targets: impl IntoIterator<Item = usize>,
) -> Vec<usize> {
    let mut starts: Vec<usize> = Vec::new();
    for t in targets {
        let row = if t <= first {
            first
        } else {
            first + (t - first + every / 2) / every * every
        };
        if row > starts.last().copied().unwrap_or(from) && row < n {
            starts.push(row);
        }
    }
    starts
}

/// [`grid_starts`] on the forced-re-anchor rows of VAR's chain in `state` before row `from`.
pub(crate) fn var_starts(
    from: usize,
    state: &VarState,
    period: usize,
    n: usize,
    targets: impl IntoIterator<Item = usize>,
) -> Vec<usize> {
    grid_starts(from, n, state.forced_row(from), 32 * period, targets)
}

/// A stretch computed from a re-anchor at its first row: the state after its last row and
/// the rows where it re-anchored, its first included.
struct Speculated {
    state: VarState,
    reanchors: Vec<usize>,
}

/// Rows `from..x.len()` of VAR from the exact `state` before row `from`, written as
/// `value(variance)` to `out[i]` (`out` indexed like `x`), in stretches starting at `from`
/// and at each of `starts`, one per pool thread: [`var_split`] with the plain first
/// stretch.
pub(crate) fn var_split_from<T: Real, F: Fn(f64) -> f64 + Sync>(
    x: &[T],
    period: usize,
    from: usize,
    state: VarState,
    starts: &[usize],
    out: &mut [f64],
    value: &F,
) {
    let first = move |out: &mut [f64]| {
        super::wide_path(
            #[inline(always)]
            || var_rows_into(x, period, state, from, out, value, |_| false).0,
        )
    };
    var_split(x, period, from, starts, out, value, first);
}

/// Rows `from..x.len()` of VAR written as `value(variance)` to `out[i]` (`out` indexed
/// like `x`), in stretches starting at `from` and at each of `starts`, one per pool thread.
/// `first(out[from..starts[0]])` runs the first stretch from the exact state before row
/// `from` (writing whatever it likes there) and returns the exact state after it.
///
/// Every other stretch starts speculatively with a re-anchor at its first row `g`, which
/// the chain would do there unprompted: the starts lie on its forced-re-anchor grid. A
/// re-anchor's output and the state after it are functions of the window alone, so the
/// stretch is exact if the chain does re-anchor at `g`. It does not if a conditional
/// re-anchor (a variance collapsing against its mean square: a flat stretch; a departing
/// value dwarfing the sum: a spike) moved the grid. Then the chain is carried on from `g`
/// over the stretch, overwriting it, until it re-anchors at a row where the speculation
/// did too, after which the two agree; if that takes long, the rest of the series is split
/// afresh from the exact state reached. NaN never shifts the grid: comparisons with it are
/// false, and the counter runs regardless.
pub(crate) fn var_split<T: Real, F: Fn(f64) -> f64 + Sync>(
    x: &[T],
    period: usize,
    from: usize,
    starts: &[usize],
    out: &mut [f64],
    value: &F,
    first: impl FnOnce(&mut [f64]) -> VarState + Send,
) {
    let n = x.len();
    let p = period;
    let bounds: Vec<usize> = std::iter::once(from)
        .chain(starts.iter().copied())
        .chain(std::iter::once(n))
        .collect();
    let mut chunks: Vec<(Range<usize>, &mut [f64])> = Vec::with_capacity(starts.len() + 1);
    let mut rest = &mut out[from..n];
    for w in bounds.windows(2) {
        let (head, tail) = rest.split_at_mut(w[1] - w[0]);
        chunks.push((w[0]..w[1], head));
        rest = tail;
    }
    let (head, tail) = chunks.split_at_mut(1);
    let out0 = &mut *head[0].1;
    // The calling thread runs the first stretch itself (one pool thread to wake, not two).
    let mut speculated: Vec<Option<Speculated>> = tail.iter().map(|_| None).collect();
    let after_first = rayon::in_place_scope(|scope| {
        for ((rows, out), slot) in tail.iter_mut().zip(&mut speculated) {
            let rows = rows.clone();
            scope.spawn(move |_| {
                let spec = super::wide_path(
                    #[inline(always)]
                    || speculate(x, p, rows, out, value),
                );
                *slot = Some(spec);
            });
        }
        first(out0)
    });
    // A panicking stretch would have ended the scope with its panic: all are here.
    let speculated: Vec<Speculated> = speculated.into_iter().flatten().collect();
    // Each stretch after the first starts where the chain's exact state is now known.
    let mut state = after_first;
    for (s, spec) in speculated.iter().enumerate() {
        let end = bounds[s + 2];
        let mut pos = bounds[s + 1];
        loop {
            // Repair sequentially for a while: a phase shifted by a flat stretch usually
            // meets the speculation again at the next flat stretch.
            let limit = ((n - pos) / 8).max(64 * p);
            let stop = end.min(pos + limit);
            let (after, synced) = super::wide_path(
                #[inline(always)]
                || {
                    var_rows_into(x, p, state, pos, &mut out[pos..stop], value, |i| {
                        spec.reanchors.binary_search(&i).is_ok()
                    })
                },
            );
            #[cfg(test)]
            tests::note_repair(synced.map_or(stop, |r| r + 1) - pos, 0);
            if synced.is_some() {
                state = spec.state;
                break;
            }
            state = after;
            pos = stop;
            if pos == end {
                break;
            }
            let again = var_starts(pos, &state, p, n, even_targets(pos, n, stretches(n - pos)));
            if !again.is_empty() {
                #[cfg(test)]
                tests::note_repair(0, 1);
                var_split_from(x, p, pos, state, &again, out, value);
                return;
            }
        }
    }
}

/// A stretch of VAR rows `rows` started with a re-anchor at its first row, written as
/// `value(variance)` to `out` (`out[0]` is row `rows.start`).
#[inline(always)]
fn speculate<T: Real>(
    x: &[T],
    period: usize,
    rows: Range<usize>,
    out: &mut [f64],
    value: &impl Fn(f64) -> f64,
) -> Speculated {
    let g = rows.start;
    let (var, state) = VarState::rebuild(x, period, g);
    out[0] = value(var);
    let mut reanchors = vec![g];
    let (state, _) = var_rows_into(x, period, state, g + 1, &mut out[1..], value, |i| {
        reanchors.push(i);
        false
    });
    Speculated { state, reanchors }
}

/// Allocating form of [`stddev_into`].
pub fn stddev<T: Real>(real: &[T], period: usize, nbdev: f64) -> Result<Vec<f64>, TaError> {
    let mut out = vec![0.0; real.len()];
    stddev_into(real, period, nbdev, &mut out)?;
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::parallel::MIN_SPLIT_ROWS;
    use super::super::stream::{Indicator, Stddev};
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Rows this thread re-ran after speculations, and how often it split the rest of
        /// a series afresh (the repairs run on the calling thread).
        static REPAIRS: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    }

    pub(crate) fn note_repair(rows: usize, splits: usize) {
        REPAIRS.with(|c| {
            let (r, s) = c.get();
            c.set((r + rows, s + splits));
        });
    }

    /// Rows re-run and fresh splits during `f`, on this thread.
    pub(crate) fn repairs_during(f: impl FnOnce()) -> (usize, usize) {
        REPAIRS.with(|c| c.set((0, 0)));
        f();
        REPAIRS.with(|c| c.get())
    }

    /// A random walk from 100 with unit-ish steps (a fixed LCG, so the test is the same
    /// everywhere).
    pub(crate) fn walk(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut level = 100.0;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                level += (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                level
            })
            .collect()
    }

    /// The rows where the one-pass chain re-anchors, from its first output row on.
    fn reanchor_rows<T: Real>(x: &[T], period: usize) -> Vec<usize> {
        let mut rows = Vec::new();
        let state = VarState::prime(x, period);
        let mut vars = vec![0.0; x.len() + 1 - period];
        let stop = |i| {
            rows.push(i);
            false
        };
        var_rows(x, period, state, period - 1, &mut vars, stop, |_, _| ());
        rows
    }

    /// The streaming STDDEV over the series: an implementation of its own, bit for bit the
    /// one-pass kernel's (the stream == batch tests).
    fn streamed(x: &[f64], period: usize, nbdev: f64) -> Vec<f64> {
        let mut s = Stddev::new(period, nbdev).unwrap();
        x.iter().map(|&v| s.update(v)).collect()
    }

    fn assert_bits(got: &[f64], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{what}: row {i}: {g} vs {w}");
        }
    }

    /// STDDEV rows split at `starts` (which must be on the first chain's forced grid), NaN
    /// before the first output.
    fn split_at(x: &[f64], period: usize, starts: &[usize]) -> Vec<f64> {
        let mut out = vec![f64::NAN; x.len()];
        let value = |var: f64| stddev_value(var, 1.5);
        let from = period - 1;
        let state = VarState::prime(x, period);
        var_split_from(x, period, from, state, starts, &mut out, &value);
        out
    }

    /// The forced-re-anchor row of the first chain nearest to `row`.
    fn grid_row(period: usize, row: usize) -> usize {
        grid_starts(period - 1, usize::MAX, 33 * period - 2, 32 * period, [row])[0]
    }

    #[test]
    fn split_stddev_has_the_one_pass_bits_on_a_walk() {
        for period in [2, 3, 5, 20, 257, 1000] {
            let x = walk(MIN_SPLIT_ROWS + 3, period as u64);
            let want = streamed(&x, period, 1.5);
            for k in [1, 2, 3, 4, 7] {
                let mut out = vec![0.0; x.len()];
                out[..period - 1].fill(f64::NAN);
                let (repaired, _) = repairs_during(|| stddev_rows(&x, period, 1.5, &mut out, k));
                assert_bits(&out, &want, &format!("period {period}, {k} stretches"));
                if period >= 5 {
                    // No conditional re-anchor on this walk (period 2 has many): every
                    // speculation holds at its first row.
                    let state = VarState::prime(&x, period);
                    let targets = even_targets(period - 1, x.len(), k);
                    let starts = var_starts(period - 1, &state, period, x.len(), targets);
                    assert_eq!(repaired, starts.len(), "period {period}, {k} stretches");
                }
            }
        }
    }

    #[test]
    fn public_stddev_splits_a_long_series_with_the_same_bits() {
        // Leading NaN, a NaN inside, and a series just above the split threshold.
        let mut x = walk(MIN_SPLIT_ROWS + 1000, 11);
        x[..7].fill(f64::NAN);
        x[40_000] = f64::NAN;
        for period in [2, 5, 30] {
            assert_bits(
                &stddev(&x, period, 2.0).unwrap(),
                &streamed(&x, period, 2.0),
                &format!("period {period}"),
            );
        }
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let widened: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
        assert_bits(
            &stddev(&x32, 5, 2.0).unwrap(),
            &streamed(&widened, 5, 2.0),
            "f32",
        );
    }

    #[test]
    fn a_flat_stretch_before_the_split_shifts_the_phase_and_is_repaired() {
        let period = 5;
        let n = 20_000;
        let g = grid_row(period, n / 2);
        let mut x = walk(n, 3);
        // A flat window well before `g`: its variance collapses against the mean square
        // from the old shift, so the chain re-anchors there, off the forced grid.
        let flat = g - 1000;
        let level = x[flat];
        x[flat..flat + 2 * period].fill(level);
        let rows = reanchor_rows(&x, period);
        assert!(rows.iter().any(|&r| r > flat && r < flat + 2 * period));
        assert!(!rows.contains(&g), "the phase must have moved");
        let want = streamed(&x, period, 1.5);
        // Never meets the speculation again: the whole second stretch is re-run.
        let (repaired, _) =
            repairs_during(|| assert_bits(&split_at(&x, period, &[g]), &want, "no meeting"));
        assert_eq!(repaired, n - g);
        // A second flat stretch after `g` re-anchors both chains at the same row: the
        // repair stops there.
        let flat2 = g + 3000;
        let level = x[flat2];
        x[flat2..flat2 + 2 * period].fill(level);
        let want = streamed(&x, period, 1.5);
        let (repaired, splits) =
            repairs_during(|| assert_bits(&split_at(&x, period, &[g]), &want, "meeting"));
        assert!(
            repaired > 3000 && repaired < 3000 + 2 * period,
            "{repaired}"
        );
        assert_eq!(splits, 0);
    }

    #[test]
    fn a_spike_leaving_the_window_before_the_split_shifts_the_phase_and_is_repaired() {
        for period in [2, 7, 64] {
            let n = 200 * 32 * period;
            let g = grid_row(period, n / 2);
            let mut x = walk(n, 5);
            // A huge value: when it leaves the window, its square dwarfs what remains.
            x[g - 777] = 1e12;
            let rows = reanchor_rows(&x, period);
            assert!(rows.contains(&(g - 777 + period - 1)), "period {period}");
            assert!(!rows.contains(&g), "period {period}");
            // The same spike after `g`: both chains re-anchor as it leaves.
            x[g + 5 * period + 1] = -1e12;
            let want = streamed(&x, period, 1.5);
            let (repaired, _) =
                repairs_during(|| assert_bits(&split_at(&x, period, &[g]), &want, "spike"));
            assert_eq!(repaired, 6 * period + 1, "period {period}");
        }
    }

    #[test]
    fn a_long_repair_splits_the_rest_afresh() {
        let period = 8;
        let n = 4 * MIN_SPLIT_ROWS;
        let g = grid_row(period, n / 4);
        let mut x = walk(n, 9);
        x[g - 100] = 1e15;
        let rows = reanchor_rows(&x, period);
        assert!(!rows.contains(&g));
        let want = streamed(&x, period, 1.5);
        let (repaired, splits) =
            repairs_during(|| assert_bits(&split_at(&x, period, &[g]), &want, "re-split"));
        if stretches(n) > 1 {
            assert_eq!(splits, 1);
            assert!(repaired < n - g, "{repaired}");
        }
    }

    #[test]
    fn nan_before_at_and_after_the_split_keeps_the_bits() {
        let period = 6;
        let n = 30_000;
        let g = grid_row(period, n / 2);
        for nan_at in [
            100,
            g - 3 * 32 * period,
            g - period,
            g - 1,
            g,
            g + 1,
            g + 2 * period,
            n - 1,
        ] {
            let mut x = walk(n, 13);
            x[nan_at] = f64::NAN;
            // NaN compares false, so it shifts nothing: the speculation holds.
            assert!(reanchor_rows(&x, period).contains(&g));
            let want = streamed(&x, period, 1.5);
            let got = split_at(&x, period, &[g]);
            assert_bits(&got, &want, &format!("NaN at {nan_at}"));
            assert!(got[nan_at].is_nan());
        }
    }

    #[test]
    fn f32_input_splits_with_the_same_bits() {
        let x: Vec<f32> = walk(3 * MIN_SPLIT_ROWS / 2, 17)
            .iter()
            .map(|&v| v as f32)
            .collect();
        for period in [2, 9] {
            let mut one = vec![f64::NAN; x.len()];
            let mut two = vec![f64::NAN; x.len()];
            stddev_rows(&x, period, 1.0, &mut one, 1);
            stddev_rows(&x, period, 1.0, &mut two, 3);
            assert_bits(&two, &one, &format!("period {period}"));
        }
    }

    #[test]
    fn periods_too_long_for_the_grid_do_not_split() {
        let x = walk(MIN_SPLIT_ROWS + 1, 19);
        // 32 * period rows after the first output there is no forced re-anchor left.
        let period = x.len() / 32;
        let mut out = vec![f64::NAN; x.len()];
        let repairs = repairs_during(|| stddev_rows(&x, period, 1.0, &mut out, 2));
        assert_eq!(repairs, (0, 0));
        assert_bits(&out, &streamed(&x, period, 1.0), "long period");
    }
}
