//! The scanner: indicators for every instrument of a universe at once, filters, ranking,
//! top N, split across cores.
//!
//! The universe is column-major like [`crate::ta::matrix`]: `n_rows` bars per instrument,
//! instrument `j` at `close[j * n_rows..(j + 1) * n_rows]` (numpy Fortran order for an
//! `(n_rows, n_instruments)` array). Each indicator is the TA-Lib-exact 1-D kernel run on
//! the column; the scanner keeps its last value.

use rayon::prelude::*;
use thiserror::Error;

use crate::ta::{self, BbandsOut, MaType, TaError};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

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
    pub n_rows: usize,
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
}

/// Per-thread scratch: one series per output the kernels write, and the last bands
/// computed for the current column, so upper, middle, lower and %B share one pass.
struct Scratch {
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    bands: Option<((usize, u64), [f64; 3])>,
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
    match f.op {
        Op::Lt => left < right,
        Op::Le => left <= right,
        Op::Gt => left > right,
        Op::Ge => left >= right,
    }
}

fn validate(u: &Universe<'_>, req: &ScanRequest) -> Result<usize, ScanError> {
    let len = u.close.len();
    if u.n_rows == 0 || len % u.n_rows != 0 {
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
    Ok(len / u.n_rows)
}

/// Computes every requested indicator for every instrument (in parallel), keeps those
/// passing every filter, sorts them by `rank_by` (NaN last) and returns the first `top`.
pub fn scan<'a>(u: &Universe<'a>, req: &ScanRequest) -> Result<ScanResult, ScanError> {
    let n_cols = validate(u, req)?;
    let n = u.n_rows;
    let k = req.indicators.len();
    let mut values = vec![f64::NAN; n_cols * k];
    if k > 0 {
        values.par_chunks_mut(k).enumerate().try_for_each_init(
            || Scratch {
                a: vec![0.0; n],
                b: vec![0.0; n],
                c: vec![0.0; n],
                bands: None,
            },
            |scratch, (j, row)| -> Result<(), TaError> {
                scratch.bands = None;
                let col = |s: &'a [f64]| &s[j * n..(j + 1) * n];
                let close = col(u.close);
                let high = u.high.map_or(&[][..], col);
                let low = u.low.map_or(&[][..], col);
                for (out, ind) in row.iter_mut().zip(&req.indicators) {
                    *out = latest(*ind, close, high, low, scratch)?;
                }
                Ok(())
            },
        )?;
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
}
