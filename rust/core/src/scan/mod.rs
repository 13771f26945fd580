//! The scanner: indicators for every instrument of a universe at once, filters, ranking,
//! top N, split across cores.
//!
//! The universe is column-major like [`crate::ta::matrix`]: `n_rows` bars per instrument,
//! instrument `j` at `close[j * n_rows..(j + 1) * n_rows]` (numpy Fortran order for an
//! `(n_rows, n_instruments)` array), or row-major: bar `i` of instrument `j` at
//! `close[i * n_instruments + j]` (numpy's default C order, read as it is rather than
//! copied into columns), or ragged: instrument `j` at `close[offsets[j]..offsets[j + 1]]`
//! (a long table sorted by instrument, then time).
//!
//! Every value is the last value of the TA-Lib-exact 1-D kernel on the column, bit for bit.
//! Only the last value is computed: groups of [`lanes::LANES`] equal-length columns run the
//! kernels' recurrences side by side without writing any series ([`lanes`]); a column that
//! does not fit a group (NaN in its first row, another length, the tail of the universe)
//! runs the 1-D kernel itself.

mod lanes;

use rayon::prelude::*;
use thiserror::Error;

use crate::ta::stream::roc_value;
use crate::ta::{self, BbandsOut, MaType, TaError, MAX_PERIOD};
use lanes::{Lanes, Pass, Step, LANES};

/// An indicator whose latest value the scanner reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Indicator {
    Close,
    Sma(usize),
    Ema(usize),
    Wma(usize),
    Rsi(usize),
    Roc(usize),
    Mom(usize),
    Stddev(usize, f64),
    BbandsUpper(usize, f64),
    BbandsMiddle(usize),
    BbandsLower(usize, f64),
    /// Where the close sits in the bands: (close - lower) / (upper - lower).
    BbandsPercentB(usize, f64),
    Atr(usize),
    Natr(usize),
    Adx(usize),
    Cci(usize),
    Willr(usize),
}

impl Indicator {
    /// Whether [`lanes`] computes this indicator for a group of columns of `n` rows: a
    /// valid period (otherwise the 1-D kernel reports the error) and more rows than the
    /// lookback (otherwise the value is NaN, which the 1-D kernel also gives).
    fn in_lanes(self, n: usize) -> bool {
        let ok =
            |p: usize, min: usize, lookback: usize| (min..=MAX_PERIOD).contains(&p) && n > lookback;
        match self {
            Indicator::Close => n > 0,
            Indicator::Sma(p) | Indicator::Ema(p) => ok(p, 1, p.saturating_sub(1)),
            Indicator::Rsi(p) => ok(p, 2, p),
            Indicator::Roc(p) | Indicator::Mom(p) => ok(p, 1, p),
            Indicator::Stddev(p, _)
            | Indicator::BbandsUpper(p, _)
            | Indicator::BbandsMiddle(p)
            | Indicator::BbandsLower(p, _)
            | Indicator::BbandsPercentB(p, _) => ok(p, 2, p - 1),
            Indicator::Atr(p) | Indicator::Natr(p) => ok(p, 1, p),
            Indicator::Wma(_) | Indicator::Adx(_) | Indicator::Cci(_) | Indicator::Willr(_) => {
                false
            }
        }
    }

    fn needs_high_low(self) -> bool {
        matches!(
            self,
            Indicator::Atr(_)
                | Indicator::Natr(_)
                | Indicator::Adx(_)
                | Indicator::Cci(_)
                | Indicator::Willr(_)
        )
    }
}

/// Filters compare as signal rules do.
pub use crate::signal::Op;

/// The right-hand side of a filter: another requested indicator or a constant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operand {
    Indicator(usize),
    Value(f64),
}

/// `indicators[left] op right`; a NaN on either side fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Filter {
    pub left: usize,
    pub op: Op,
    pub right: Operand,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScanRequest {
    pub indicators: Vec<Indicator>,
    pub filters: Vec<Filter>,
    /// Index into `indicators` to sort by; `None` keeps instrument order.
    pub rank_by: Option<usize>,
    pub descending: bool,
    /// At most this many instruments in the result.
    pub top: usize,
}

pub struct Universe<'a> {
    /// Bars per instrument of a matrix universe; ignored when `offsets` is given.
    pub n_rows: usize,
    /// A matrix universe stored row by row (bar `i` of instrument `j` at
    /// `i * n_instruments + j`); ignored when `offsets` is given.
    pub row_major: bool,
    /// A ragged universe: instrument `j` is `offsets[j]..offsets[j + 1]` of every column
    /// (`offsets[0] == 0`, non-decreasing, last == the columns' length).
    pub offsets: Option<&'a [usize]>,
    pub close: &'a [f64],
    pub high: Option<&'a [f64]>,
    pub low: Option<&'a [f64]>,
}

/// The instruments that passed, best first, with every requested value.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanResult {
    /// Column index of each selected instrument.
    pub instruments: Vec<u32>,
    /// Row-major: `values[i * n_indicators + k]` is indicator `k` of `instruments[i]`.
    pub values: Vec<f64>,
    /// How many instruments passed the filters before `top` cut the list.
    pub passed: usize,
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum ScanError {
    #[error(transparent)]
    Ta(#[from] TaError),
    #[error("{name} has {len} values, expected {expected} (n_rows x instruments)")]
    Shape {
        name: &'static str,
        len: usize,
        expected: usize,
    },
    #[error("close has {len} values, not a multiple of n_rows = {n_rows}")]
    Rows { len: usize, n_rows: usize },
    #[error("indicator {0:?} needs high and low prices")]
    NeedsHighLow(Indicator),
    #[error("filter or rank refers to indicator #{index}, but only {count} are requested")]
    UnknownIndicator { index: usize, count: usize },
    #[error("filter constant must be finite, got {0}")]
    NonFiniteConstant(f64),
    #[error("offsets must start at 0, never decrease and end at {len} (the length of close); offset #{index} breaks that")]
    Offsets { index: usize, len: usize },
}

/// Per-thread scratch: one series per output the kernels write, and the last bands
/// computed for the current column, so upper, middle, lower and %B share one pass.
#[derive(Default)]
struct Scratch {
    /// A group's close, high and low as rows of lanes.
    rows: [Vec<Lanes>; 3],
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    bands: Option<((usize, u64), [f64; 3])>,
}

/// Rows of lanes a thread keeps between scans (3 MB for the three inputs); a longer
/// group's buffers are freed after it.
const KEPT_ROWS: usize = 1 << 14;

thread_local! {
    /// Kept per worker thread, so a scan allocates (and faults in) no buffers per group
    /// or per rayon split once the threads have run one.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => {
            let r = f(&mut s);
            if s.rows[0].capacity() > KEPT_ROWS || s.a.capacity() > KEPT_ROWS * LANES {
                *s = Scratch::default();
            }
            r
        }
        // Only if a scan ever ran inside another on one thread.
        Err(_) => f(&mut Scratch::default()),
    })
}

/// [`latest`] with the scratch sized for the column; `fresh` forgets the bands of the
/// previous call (which may have been another column).
fn column_latest(
    ind: Indicator,
    [close, high, low]: [&[f64]; 3],
    s: &mut Scratch,
    fresh: bool,
) -> Result<f64, TaError> {
    if fresh {
        s.bands = None;
    }
    for v in [&mut s.a, &mut s.b, &mut s.c] {
        v.resize(close.len(), 0.0);
    }
    latest(ind, close, high, low, s)
}

fn last(v: &[f64]) -> f64 {
    v.last().copied().unwrap_or(f64::NAN)
}

fn latest(
    ind: Indicator,
    close: &[f64],
    high: &[f64],
    low: &[f64],
    s: &mut Scratch,
) -> Result<f64, TaError> {
    let a = &mut s.a;
    Ok(match ind {
        Indicator::Close => last(close),
        Indicator::Sma(p) => ta::sma_into(close, p, a).map(|_| last(a))?,
        Indicator::Ema(p) => ta::ema_into(close, p, a).map(|_| last(a))?,
        Indicator::Wma(p) => ta::wma_into(close, p, a).map(|_| last(a))?,
        Indicator::Rsi(p) => ta::rsi_into(close, p, a).map(|_| last(a))?,
        Indicator::Roc(p) => ta::roc_into(close, p, a).map(|_| last(a))?,
        Indicator::Mom(p) => ta::mom_into(close, p, a).map(|_| last(a))?,
        Indicator::Stddev(p, k) => ta::stddev_into(close, p, k, a).map(|_| last(a))?,
        Indicator::Atr(p) => ta::atr_into(high, low, close, p, a).map(|_| last(a))?,
        Indicator::Natr(p) => ta::natr_into(high, low, close, p, a).map(|_| last(a))?,
        Indicator::Adx(p) => ta::adx_into(high, low, close, p, a).map(|_| last(a))?,
        Indicator::Cci(p) => ta::cci_into(high, low, close, p, a).map(|_| last(a))?,
        Indicator::Willr(p) => ta::willr_into(high, low, close, p, a).map(|_| last(a))?,
        Indicator::BbandsUpper(p, k) => bands_last(close, p, k, s)?[0],
        Indicator::BbandsMiddle(p) => bands_last(close, p, 2.0, s)?[1],
        Indicator::BbandsLower(p, k) => bands_last(close, p, k, s)?[2],
        Indicator::BbandsPercentB(p, k) => {
            let [upper, _, lower] = bands_last(close, p, k, s)?;
            (last(close) - lower) / (upper - lower)
        }
    })
}

/// The last (upper, middle, lower) band of the column, computed once per parameter set.
fn bands_last(
    close: &[f64],
    period: usize,
    nbdev: f64,
    s: &mut Scratch,
) -> Result<[f64; 3], TaError> {
    let key = (period, nbdev.to_bits());
    if let Some((k, v)) = s.bands {
        if k == key {
            return Ok(v);
        }
    }
    let out = BbandsOut {
        upper: &mut s.a,
        middle: &mut s.b,
        lower: &mut s.c,
    };
    ta::bbands_into(close, period, nbdev, nbdev, MaType::Sma, out)?;
    let v = [last(&s.a), last(&s.b), last(&s.c)];
    s.bands = Some((key, v));
    Ok(v)
}

fn passes(row: &[f64], f: &Filter) -> bool {
    let left = row[f.left];
    let right = match f.right {
        Operand::Indicator(k) => row[k],
        Operand::Value(v) => v,
    };
    f.op.holds(left, right)
}

fn validate(u: &Universe<'_>, req: &ScanRequest) -> Result<usize, ScanError> {
    let len = u.close.len();
    if let Some(off) = u.offsets {
        let bad = |index| ScanError::Offsets { index, len };
        if off.first() != Some(&0) {
            return Err(bad(0));
        }
        if let Some(i) = off.windows(2).position(|w| w[1] < w[0]) {
            return Err(bad(i + 1));
        }
        if off.last() != Some(&len) {
            return Err(bad(off.len() - 1));
        }
    } else if u.n_rows == 0 || len % u.n_rows != 0 {
        return Err(ScanError::Rows {
            len,
            n_rows: u.n_rows,
        });
    }
    for (name, side) in [("high", u.high), ("low", u.low)] {
        if let Some(s) = side.filter(|s| s.len() != len) {
            return Err(ScanError::Shape {
                name,
                len: s.len(),
                expected: len,
            });
        }
    }
    if let Some(ind) = req.indicators.iter().find(|i| i.needs_high_low()) {
        if u.high.is_none() || u.low.is_none() {
            return Err(ScanError::NeedsHighLow(*ind));
        }
    }
    let count = req.indicators.len();
    let refs = req.filters.iter().flat_map(|f| {
        let right = match f.right {
            Operand::Indicator(k) => Some(k),
            Operand::Value(_) => None,
        };
        [Some(f.left), right]
    });
    for index in refs.chain([req.rank_by]).flatten() {
        if index >= count {
            return Err(ScanError::UnknownIndicator { index, count });
        }
    }
    if let Some(v) = req.filters.iter().find_map(|f| match f.right {
        Operand::Value(v) if !v.is_finite() => Some(v),
        _ => None,
    }) {
        return Err(ScanError::NonFiniteConstant(v));
    }
    Ok(match u.offsets {
        Some(off) => off.len() - 1,
        None => len / u.n_rows,
    })
}

impl<'a> Universe<'a> {
    fn range(&self, j: usize) -> std::ops::Range<usize> {
        match self.offsets {
            Some(off) => off[j]..off[j + 1],
            None => j * self.n_rows..(j + 1) * self.n_rows,
        }
    }

    /// A row-major matrix's (data, instruments); `None` for columns stored contiguously.
    fn rows(&self) -> Option<usize> {
        (self.row_major && self.offsets.is_none()).then(|| self.close.len() / self.n_rows)
    }

    /// Instrument `j`'s (close, high, low); absent columns are empty. A row-major matrix's
    /// column is gathered into `buf`.
    fn column<'s>(&'s self, j: usize, buf: &'s mut [Vec<f64>; 3]) -> [&'s [f64]; 3] {
        if let Some(width) = self.rows() {
            let sides = [Some(self.close), self.high, self.low];
            for (b, side) in buf.iter_mut().zip(sides) {
                b.clear();
                if let Some(side) = side {
                    b.extend(side.iter().skip(j).step_by(width));
                }
            }
            let [c, h, l] = buf;
            return [&c[..], &h[..], &l[..]];
        }
        let r = self.range(j);
        let col = |s: Option<&'a [f64]>| s.map_or(&[][..], |s| &s[r.clone()]);
        [&self.close[r.clone()], col(self.high), col(self.low)]
    }
}

/// What [`lanes`] runs for one indicator on a group of `n` rows: the steps it reads,
/// as (kind, period) keys; nothing for the values read off the last rows.
fn lane_steps(ind: Indicator) -> ([Option<(StepKind, usize)>; 2], bool) {
    use StepKind::*;
    let steps = match ind {
        Indicator::Sma(p) => [Some((Sma, p)), None],
        Indicator::Ema(p) => [Some((Ema, p)), None],
        Indicator::Rsi(p) => [Some((Rsi, p)), None],
        Indicator::Atr(p) | Indicator::Natr(p) => [Some((Atr, p)), None],
        Indicator::Stddev(p, _)
        | Indicator::BbandsUpper(p, _)
        | Indicator::BbandsMiddle(p)
        | Indicator::BbandsLower(p, _)
        | Indicator::BbandsPercentB(p, _) => [Some((Sma, p)), Some((Var, p))],
        _ => [None, None],
    };
    (steps, matches!(ind, Indicator::Atr(_) | Indicator::Natr(_)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepKind {
    Sma,
    Ema,
    Rsi,
    Atr,
    Var,
}

impl StepKind {
    fn make(self, p: usize) -> Step {
        match self {
            StepKind::Sma => Step::sma(p),
            StepKind::Ema => Step::ema(p),
            StepKind::Rsi => Step::rsi(p),
            StepKind::Atr => Step::atr(p),
            StepKind::Var => Step::var(p),
        }
    }
}

/// The values of the group of columns `first..first + LANES`, written row by row into
/// `rows` (`LANES * k` values): indicators [`lanes`] handles for the whole group in one
/// pass over its rows, the rest per column. `false` when the group does not fit [`lanes`]
/// at all.
fn scan_group<'a>(
    pass: Pass,
    u: &Universe<'a>,
    req: &ScanRequest,
    first: usize,
    rows: &mut [f64],
    s: &mut Scratch,
) -> Result<bool, TaError> {
    let k = req.indicators.len();
    let needs_hl = req.indicators.iter().any(|i| i.needs_high_low());
    let (source, n) = match u.rows() {
        Some(width) => {
            let data = [u.close, u.high.unwrap_or(&[]), u.low.unwrap_or(&[])];
            (lanes::Source::Rows { data, width, first }, u.n_rows)
        }
        None => {
            let cols: [[&[f64]; 3]; LANES] = std::array::from_fn(|l| {
                let r = u.range(first + l);
                let col = |s: Option<&'a [f64]>| s.map_or(&[][..], |s| &s[r.clone()]);
                [&u.close[r.clone()], col(u.high), col(u.low)]
            });
            (lanes::Source::Columns(cols), cols[0][0].len())
        }
    };
    let fits = n > 0
        && (0..LANES).all(|l| {
            let [c, h, lo] = source.first_row(l);
            source.len(l) == n && !c.is_nan() && (!needs_hl || (!h.is_nan() && !lo.is_nan()))
        });
    if !fits {
        return Ok(false);
    }
    // Each distinct recurrence runs once: the bands and STDDEV of one period share their
    // SMA and variance.
    let mut keys: Vec<(StepKind, usize)> = Vec::new();
    let mut hl = false;
    for ind in req.indicators.iter().filter(|i| i.in_lanes(n)) {
        let (steps, uses_hl) = lane_steps(*ind);
        hl |= uses_hl;
        for key in steps.into_iter().flatten() {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let mut steps: Vec<Step> = keys.iter().map(|(kind, p)| kind.make(*p)).collect();
    let group = lanes::Group { source, n };
    // Taken out of the scratch for the call (the per-column fallback borrows the rest).
    let mut block = std::mem::take(&mut s.rows);
    // SAFETY: `detect` returns a wide pass only when the CPU has its features; the group
    // fits the pass's preconditions (checked above and by `in_lanes`).
    unsafe { pass(&group, hl, &mut steps, &mut block) };
    let close = &block[0][..n];
    let step =
        |kind: StepKind, p: usize| &steps[keys.iter().position(|q| *q == (kind, p)).unwrap_or(0)];
    let mut gather = Default::default();
    for (at, ind) in req.indicators.iter().enumerate() {
        if !ind.in_lanes(n) {
            for l in 0..LANES {
                let col = u.column(first + l, &mut gather);
                rows[l * k + at] = column_latest(*ind, col, s, true)?;
            }
            continue;
        }
        let bands = |p: usize, nb: f64, pick: fn(ta::stream::BbandsOutput, f64) -> f64| {
            let mid = step(StepKind::Sma, p).last(close, false);
            let v = step(StepKind::Var, p).last(close, false);
            let out: Lanes = std::array::from_fn(|l| {
                let sd = v[l].sqrt();
                pick(ta::stream::Bbands::bands(mid[l], sd, nb, nb), sd * nb)
            });
            out
        };
        let last = close[n - 1];
        let values: Lanes = match *ind {
            Indicator::Close => last,
            Indicator::Sma(p) => step(StepKind::Sma, p).last(close, false),
            Indicator::Ema(p) => step(StepKind::Ema, p).last(close, false),
            Indicator::Rsi(p) => step(StepKind::Rsi, p).last(close, false),
            Indicator::Atr(p) => step(StepKind::Atr, p).last(close, false),
            Indicator::Natr(p) => step(StepKind::Atr, p).last(close, true),
            Indicator::Roc(p) => std::array::from_fn(|l| roc_value(last[l], close[n - 1 - p][l])),
            Indicator::Mom(p) => std::array::from_fn(|l| last[l] - close[n - 1 - p][l]),
            // STDDEV is `sqrt(var) * nbdev`, the same product the bands form when
            // nbdevup == nbdevdn.
            Indicator::Stddev(p, nb) => bands(p, nb, |_, sd| sd),
            Indicator::BbandsUpper(p, nb) => bands(p, nb, |b, _| b.upper),
            Indicator::BbandsMiddle(p) => bands(p, 2.0, |b, _| b.middle),
            Indicator::BbandsLower(p, nb) => bands(p, nb, |b, _| b.lower),
            Indicator::BbandsPercentB(p, nb) => {
                let upper = bands(p, nb, |b, _| b.upper);
                let lower = bands(p, nb, |b, _| b.lower);
                std::array::from_fn(|l| (last[l] - lower[l]) / (upper[l] - lower[l]))
            }
            Indicator::Wma(_) | Indicator::Adx(_) | Indicator::Cci(_) | Indicator::Willr(_) => {
                unreachable!("in_lanes is false for these")
            }
        };
        for (l, v) in values.into_iter().enumerate() {
            rows[l * k + at] = v;
        }
    }
    s.rows = block;
    Ok(true)
}

/// Where each instrument's run starts in a long table (`instrument`, `ts` per row), plus
/// the table's length: the offsets of a ragged [`Universe`]. `None` when the table is not
/// sorted by instrument, then time (equal times are kept as they are), so the caller sorts
/// it first. One pass, so a sorted table costs a read of its two key columns.
pub fn runs<K: Copy + PartialOrd, T: Copy + PartialOrd>(
    instrument: &[K],
    ts: &[T],
) -> Option<Vec<usize>> {
    if instrument.len() != ts.len() {
        return None;
    }
    let mut offsets = vec![0];
    for i in 1..instrument.len() {
        let (k0, k1) = (instrument[i - 1], instrument[i]);
        if k1 == k0 {
            if ts[i] < ts[i - 1] || ts[i].partial_cmp(&ts[i - 1]).is_none() {
                return None;
            }
        } else if k1 > k0 {
            offsets.push(i);
        } else {
            return None;
        }
    }
    if !instrument.is_empty() {
        offsets.push(instrument.len());
    }
    Some(offsets)
}

/// Computes every requested indicator for every instrument (in parallel), keeps those
/// passing every filter, sorts them by `rank_by` (NaN last) and returns the first `top`.
pub fn scan<'a>(u: &Universe<'a>, req: &ScanRequest) -> Result<ScanResult, ScanError> {
    scan_with(lanes::detect(), u, req)
}

/// [`scan`] with the group pass given (the tests run every pass the CPU has).
fn scan_with<'a>(pass: Pass, u: &Universe<'a>, req: &ScanRequest) -> Result<ScanResult, ScanError> {
    let n_cols = validate(u, req)?;
    let k = req.indicators.len();
    let mut values = vec![f64::NAN; n_cols * k];
    if k > 0 {
        values
            .par_chunks_mut(k * LANES)
            .enumerate()
            .try_for_each(|(g, rows)| {
                with_scratch(|scratch| -> Result<(), TaError> {
                    let first = g * LANES;
                    if rows.len() == k * LANES && scan_group(pass, u, req, first, rows, scratch)? {
                        return Ok(());
                    }
                    let mut gather = Default::default();
                    for (l, row) in rows.chunks_mut(k).enumerate() {
                        let col = u.column(first + l, &mut gather);
                        scratch.bands = None;
                        for (out, ind) in row.iter_mut().zip(&req.indicators) {
                            *out = column_latest(*ind, col, scratch, false)?;
                        }
                    }
                    Ok(())
                })
            })?;
    }
    let mut chosen: Vec<u32> = (0..n_cols as u32)
        .filter(|&j| {
            let row = &values[j as usize * k..(j as usize + 1) * k];
            req.filters.iter().all(|f| passes(row, f))
        })
        .collect();
    let passed = chosen.len();
    if let Some(r) = req.rank_by {
        let key = |j: &u32| values[*j as usize * k + r];
        chosen.sort_by(|a, b| {
            let (x, y) = (key(a), key(b));
            match (x.is_nan(), y.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if req.descending => y.total_cmp(&x),
                _ => x.total_cmp(&y),
            }
            .then(a.cmp(b))
        });
    }
    chosen.truncate(req.top);
    let selected = chosen
        .iter()
        .flat_map(|j| {
            values[*j as usize * k..(*j as usize + 1) * k]
                .iter()
                .copied()
        })
        .collect();
    Ok(ScanResult {
        instruments: chosen,
        values: selected,
        passed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn universe(cols: &[Vec<f64>]) -> (usize, Vec<f64>) {
        (cols[0].len(), cols.concat())
    }

    #[test]
    fn filters_rank_and_cut_like_a_by_hand_computation() {
        // Three instruments, 30 bars: falling, rising, flat-then-jump.
        let falling: Vec<f64> = (0..30).map(|i| 100.0 - i as f64).collect();
        let rising: Vec<f64> = (0..30).map(|i| 50.0 + i as f64).collect();
        let jump: Vec<f64> = (0..30).map(|i| if i < 29 { 10.0 } else { 20.0 }).collect();
        let (n_rows, close) = universe(&[falling.clone(), rising.clone(), jump]);
        let u = Universe {
            offsets: None,
            row_major: false,
            n_rows,
            close: &close,
            high: None,
            low: None,
        };
        let req = ScanRequest {
            indicators: vec![Indicator::Rsi(14), Indicator::Close, Indicator::Sma(5)],
            filters: vec![Filter {
                left: 1,
                op: Op::Gt,
                right: Operand::Indicator(2),
            }],
            rank_by: Some(0),
            descending: true,
            top: 5,
        };
        let r = scan(&u, &req).unwrap();
        // Close above its SMA(5): the rising one and the jump, not the falling one.
        assert_eq!(r.passed, 2);
        assert_eq!(r.instruments.len(), 2);
        assert!(!r.instruments.contains(&0));
        let rsi_rising = *ta::rsi(&rising, 14).unwrap().last().unwrap();
        let row = r.instruments.iter().position(|&j| j == 1).unwrap();
        assert_eq!(r.values[row * 3], rsi_rising);
        assert_eq!(r.values[row * 3 + 1], 79.0);
        // Ranked by RSI, descending: RSI values are non-increasing down the list.
        let rsis: Vec<f64> = (0..r.instruments.len()).map(|i| r.values[i * 3]).collect();
        assert!(rsis.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn bad_requests_are_errors() {
        let close = vec![1.0; 10];
        let u = Universe {
            offsets: None,
            row_major: false,
            n_rows: 3,
            close: &close,
            high: None,
            low: None,
        };
        let req = ScanRequest {
            indicators: vec![Indicator::Close],
            filters: vec![],
            rank_by: None,
            descending: false,
            top: 1,
        };
        assert!(matches!(scan(&u, &req), Err(ScanError::Rows { .. })));
        let u = Universe {
            offsets: None,
            row_major: false,
            n_rows: 5,
            close: &close,
            high: None,
            low: None,
        };
        let atr = ScanRequest {
            indicators: vec![Indicator::Atr(3)],
            ..req.clone()
        };
        assert!(matches!(scan(&u, &atr), Err(ScanError::NeedsHighLow(_))));
        let bad_rank = ScanRequest {
            rank_by: Some(4),
            ..req.clone()
        };
        assert!(matches!(
            scan(&u, &bad_rank),
            Err(ScanError::UnknownIndicator { index: 4, count: 1 })
        ));
        let nan = ScanRequest {
            filters: vec![Filter {
                left: 0,
                op: Op::Lt,
                right: Operand::Value(f64::NAN),
            }],
            ..req.clone()
        };
        assert!(matches!(
            scan(&u, &nan),
            Err(ScanError::NonFiniteConstant(_))
        ));
        let bad_period = ScanRequest {
            indicators: vec![Indicator::Rsi(0)],
            ..req
        };
        assert!(matches!(scan(&u, &bad_period), Err(ScanError::Ta(_))));
    }

    #[test]
    fn runs_cut_a_sorted_table_and_refuse_any_other() {
        let inst = [3, 3, 3, 5, 7, 7];
        let ts = [1, 2, 2, 0, 4, 9];
        assert_eq!(runs(&inst, &ts), Some(vec![0, 3, 4, 6]));
        // Time going back inside a run, instruments out of order, lengths apart.
        assert_eq!(runs(&inst, &[1, 2, 1, 0, 4, 9]), None);
        assert_eq!(runs(&[3, 5, 3], &[0, 0, 0]), None);
        assert_eq!(runs(&inst, &ts[..5]), None);
        assert_eq!(runs::<i64, i64>(&[], &[]), Some(vec![0]));
        // A NaN time breaks the order.
        assert_eq!(runs(&[1, 1], &[0.0, f64::NAN]), None);
    }

    /// Random walks with high/low around them; a xorshift, so the test needs no crate.
    fn walks(n_rows: usize, n_cols: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let (mut c, mut h, mut l) = (vec![], vec![], vec![]);
        for _ in 0..n_cols {
            let mut x = 100.0;
            for _ in 0..n_rows {
                x += next();
                let spread = next().abs();
                c.push(x);
                h.push(x + spread);
                l.push(x - spread);
            }
        }
        (c, h, l)
    }

    fn every_indicator() -> Vec<Indicator> {
        use Indicator::*;
        vec![
            Close,
            Sma(1),
            Sma(20),
            Ema(1),
            Ema(50),
            Wma(10),
            Rsi(2),
            Rsi(14),
            Roc(10),
            Mom(10),
            Stddev(5, 1.5),
            BbandsUpper(20, 2.0),
            BbandsMiddle(20),
            BbandsLower(20, 2.0),
            BbandsPercentB(20, 2.0),
            BbandsUpper(7, 1.0),
            Atr(1),
            Atr(14),
            Natr(1),
            Natr(14),
            Adx(14),
            Cci(14),
            Willr(14),
            Sma(500),
            Rsi(499),
        ]
    }

    /// The last value of the 1-D kernel, as the Python user would compute it.
    fn one_d_last(ind: Indicator, c: &[f64], h: &[f64], l: &[f64]) -> f64 {
        let last = |v: Vec<f64>| *v.last().unwrap();
        let bands = |p, k| ta::bbands(c, p, k, k, MaType::Sma).unwrap();
        match ind {
            Indicator::Close => *c.last().unwrap(),
            Indicator::Sma(p) => last(ta::sma(c, p).unwrap()),
            Indicator::Ema(p) => last(ta::ema(c, p).unwrap()),
            Indicator::Wma(p) => last(ta::wma(c, p).unwrap()),
            Indicator::Rsi(p) => last(ta::rsi(c, p).unwrap()),
            Indicator::Roc(p) => last(ta::roc(c, p).unwrap()),
            Indicator::Mom(p) => last(ta::mom(c, p).unwrap()),
            Indicator::Stddev(p, k) => last(ta::stddev(c, p, k).unwrap()),
            Indicator::BbandsUpper(p, k) => last(bands(p, k).0),
            Indicator::BbandsMiddle(p) => last(bands(p, 2.0).1),
            Indicator::BbandsLower(p, k) => last(bands(p, k).2),
            Indicator::BbandsPercentB(p, k) => {
                let (u, _, lo) = bands(p, k);
                let (u, lo) = (last(u), last(lo));
                (c.last().unwrap() - lo) / (u - lo)
            }
            Indicator::Atr(p) => last(ta::atr(h, l, c, p).unwrap()),
            Indicator::Natr(p) => last(ta::natr(h, l, c, p).unwrap()),
            Indicator::Adx(p) => last(ta::adx(h, l, c, p).unwrap()),
            Indicator::Cci(p) => last(ta::cci(h, l, c, p).unwrap()),
            Indicator::Willr(p) => last(ta::willr(h, l, c, p).unwrap()),
        }
    }

    fn all_of(indicators: Vec<Indicator>, n_cols: usize) -> ScanRequest {
        ScanRequest {
            indicators,
            filters: vec![],
            rank_by: None,
            descending: false,
            top: n_cols,
        }
    }

    #[test]
    fn grouped_last_values_equal_the_1d_kernels_bit_for_bit() {
        // Two full groups and a tail: column 3 starts with NaN (its group runs column by
        // column); in the second group column L + 1 has a NaN later on (which TA-Lib's
        // arithmetic carries) and column L + 9 a NaN high.
        let lanes = LANES;
        let (n_rows, n_cols) = (500, 2 * lanes + 5);
        let (mut c, mut h, l) = walks(n_rows, n_cols, 7);
        c[3 * n_rows] = f64::NAN;
        c[(lanes + 1) * n_rows + 300] = f64::NAN;
        h[(lanes + 9) * n_rows + 480] = f64::NAN;
        // A flat stretch and a spike make lanes 5 and 6 of the second group re-anchor their
        // variances on their own (TA-Lib 0.8's cancellation guards), apart from the bar
        // counter.
        c[(lanes + 5) * n_rows + 200..(lanes + 5) * n_rows + 260].fill(123.0);
        c[(lanes + 6) * n_rows + 250] = 1e9;
        let u = Universe {
            n_rows,
            offsets: None,
            row_major: false,
            close: &c,
            high: Some(&h),
            low: Some(&l),
        };
        let inds = every_indicator();
        // The same matrices stored row by row (numpy's C order).
        let by_rows = |x: &[f64]| -> Vec<f64> {
            (0..n_rows * n_cols)
                .map(|a| x[(a % n_cols) * n_rows + a / n_cols])
                .collect()
        };
        let (rc, rh, rl) = (by_rows(&c), by_rows(&h), by_rows(&l));
        let rows = Universe {
            row_major: true,
            close: &rc,
            high: Some(&rh),
            low: Some(&rl),
            ..u
        };
        for pass in lanes::available() {
            for u in [&u, &rows] {
                let r = scan_with(pass, u, &all_of(inds.clone(), n_cols)).unwrap();
                assert_eq!(r.instruments, (0..n_cols as u32).collect::<Vec<_>>());
                check_against_1d(&r, &inds, n_rows, [&c, &h, &l]);
            }
        }
    }

    fn check_against_1d(r: &ScanResult, inds: &[Indicator], n_rows: usize, [c, h, l]: [&[f64]; 3]) {
        for j in 0..r.instruments.len() {
            let col = |s: &[f64]| s[j * n_rows..(j + 1) * n_rows].to_vec();
            let (cj, hj, lj) = (col(c), col(h), col(l));
            for (k, ind) in inds.iter().enumerate() {
                let want = one_d_last(*ind, &cj, &hj, &lj);
                let got = r.values[j * inds.len() + k];
                assert!(
                    want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()),
                    "column {j} {ind:?}: scan {got} vs 1-D {want}"
                );
            }
        }
    }

    #[test]
    fn ragged_universe_equals_the_matrix_and_the_1d_kernels() {
        let (n_rows, n_cols) = (300, 19);
        let (c, h, l) = walks(n_rows, n_cols, 11);
        let offsets: Vec<usize> = (0..=n_cols).map(|j| j * n_rows).collect();
        let inds = every_indicator();
        let matrix = Universe {
            n_rows,
            offsets: None,
            row_major: false,
            close: &c,
            high: Some(&h),
            low: Some(&l),
        };
        let ragged = Universe {
            n_rows: 0,
            offsets: Some(&offsets),
            ..matrix
        };
        let req = all_of(inds.clone(), n_cols);
        let bits = |r: ScanResult| {
            let v: Vec<u64> = r.values.iter().map(|v| v.to_bits()).collect();
            (r.instruments, v, r.passed)
        };
        assert_eq!(
            bits(scan(&matrix, &req).unwrap()),
            bits(scan(&ragged, &req).unwrap())
        );
        // Uneven lengths: every instrument loses a different number of leading bars.
        let mut offs = vec![0];
        let (mut cr, mut hr, mut lr) = (vec![], vec![], vec![]);
        for j in 0..n_cols {
            let r = j * n_rows + j * 7..(j + 1) * n_rows;
            cr.extend_from_slice(&c[r.clone()]);
            hr.extend_from_slice(&h[r.clone()]);
            lr.extend_from_slice(&l[r]);
            offs.push(cr.len());
        }
        let uneven = Universe {
            n_rows: 0,
            // Ignored with offsets: a ragged universe is always stored instrument by instrument.
            row_major: true,
            offsets: Some(&offs),
            close: &cr,
            high: Some(&hr),
            low: Some(&lr),
        };
        let r = scan(&uneven, &req).unwrap();
        for j in 0..n_cols {
            let s = offs[j]..offs[j + 1];
            for (k, ind) in inds.iter().enumerate() {
                let want = one_d_last(*ind, &cr[s.clone()], &hr[s.clone()], &lr[s.clone()]);
                let got = r.values[j * inds.len() + k];
                assert!(want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()));
            }
        }
        let bad = [0, 5, 3, cr.len()];
        let u = Universe {
            offsets: Some(&bad),
            ..uneven
        };
        assert!(matches!(
            scan(&u, &req),
            Err(ScanError::Offsets { index: 2, .. })
        ));
    }
}
