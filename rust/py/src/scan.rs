//! `baconalgo._core.scan`: the universe scanner (parsing of names and filter text is in
//! `baconalgo.scan`; this takes the decoded request).

use baconalgo_core::scan::{
    runs, scan as core_scan, Filter, Indicator, Op, Operand, ScanRequest, Universe,
};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

fn indicator(kind: &str, period: usize, param: f64) -> PyResult<Indicator> {
    Ok(match kind {
        "CLOSE" => Indicator::Close,
        "SMA" => Indicator::Sma(period),
        "EMA" => Indicator::Ema(period),
        "WMA" => Indicator::Wma(period),
        "RSI" => Indicator::Rsi(period),
        "ROC" => Indicator::Roc(period),
        "MOM" => Indicator::Mom(period),
        "STDDEV" => Indicator::Stddev(period, param),
        "BBANDS_UPPER" => Indicator::BbandsUpper(period, param),
        "BBANDS_MIDDLE" => Indicator::BbandsMiddle(period),
        "BBANDS_LOWER" => Indicator::BbandsLower(period, param),
        "BBANDS_PERCENT_B" => Indicator::BbandsPercentB(period, param),
        "ATR" => Indicator::Atr(period),
        "NATR" => Indicator::Natr(period),
        "ADX" => Indicator::Adx(period),
        "CCI" => Indicator::Cci(period),
        "WILLR" => Indicator::Willr(period),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown scan indicator {other:?}"
            )))
        }
    })
}

/// A comparison operator as rules and filters write it (`<`, `<=`, `>`, `>=`).
pub(crate) fn comparison(text: &str) -> PyResult<Op> {
    Ok(match text {
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown comparison {other:?}"
            )))
        }
    })
}

/// Scans a column-major universe (row-major when `row_major`; ragged when `offsets` is given:
/// instrument `j` is `offsets[j]..offsets[j + 1]` of every column); returns (instrument indices, values of shape
/// (selected, indicators), how many passed the filters before `top`).
#[pyfunction]
#[pyo3(signature = (close, n_rows, high, low, indicators, filters, rank_by, descending, top, offsets=None, row_major=false))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn scan<'py>(
    py: Python<'py>,
    close: PyReadonlyArray1<'py, f64>,
    n_rows: usize,
    high: Option<PyReadonlyArray1<'py, f64>>,
    low: Option<PyReadonlyArray1<'py, f64>>,
    indicators: Vec<(String, usize, f64)>,
    filters: Vec<(usize, String, Option<usize>, f64)>,
    rank_by: Option<usize>,
    descending: bool,
    top: usize,
    offsets: Option<PyReadonlyArray1<'py, u64>>,
    row_major: bool,
) -> PyResult<(Bound<'py, PyArray1<u32>>, Bound<'py, PyArray2<f64>>, usize)> {
    let contiguous = |name: &str| PyValueError::new_err(format!("{name} must be contiguous"));
    let close = close.as_slice().map_err(|_| contiguous("close"))?;
    let high = match &high {
        Some(h) => Some(h.as_slice().map_err(|_| contiguous("high"))?),
        None => None,
    };
    let low = match &low {
        Some(l) => Some(l.as_slice().map_err(|_| contiguous("low"))?),
        None => None,
    };
    let offsets: Option<Vec<usize>> = match &offsets {
        Some(o) => Some(
            o.as_slice()
                .map_err(|_| contiguous("offsets"))?
                .iter()
                .map(|&v| v as usize)
                .collect(),
        ),
        None => None,
    };
    let request = ScanRequest {
        indicators: indicators
            .iter()
            .map(|(k, p, x)| indicator(k, *p, *x))
            .collect::<PyResult<_>>()?,
        filters: filters
            .iter()
            .map(|(left, o, right_ind, right_val)| {
                Ok(Filter {
                    left: *left,
                    op: comparison(o)?,
                    right: right_ind.map_or(Operand::Value(*right_val), Operand::Indicator),
                })
            })
            .collect::<PyResult<_>>()?,
        rank_by,
        descending,
        top,
    };
    let universe = Universe {
        n_rows,
        row_major,
        offsets: offsets.as_deref(),
        close,
        high,
        low,
    };
    let result = py
        .detach(|| core_scan(&universe, &request))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let k = request.indicators.len();
    let rows = result.instruments.len();
    let values = result
        .values
        .into_pyarray(py)
        .reshape([rows, k])
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((result.instruments.into_pyarray(py), values, result.passed))
}

/// The offsets of each instrument's run in a long table (int32 or int64 instruments, int64
/// times), or None when the rows are not sorted by instrument, then time.
#[pyfunction]
fn scan_runs<'py>(
    py: Python<'py>,
    instrument: &Bound<'py, PyAny>,
    ts: PyReadonlyArray1<'py, i64>,
) -> PyResult<Option<Bound<'py, PyArray1<u64>>>> {
    let contiguous = |name: &str| PyValueError::new_err(format!("{name} must be contiguous"));
    let ts = ts.as_slice().map_err(|_| contiguous("ts"))?;
    let offsets = if let Ok(a) = instrument.extract::<PyReadonlyArray1<'py, i64>>() {
        let k = a.as_slice().map_err(|_| contiguous("instrument"))?;
        py.detach(|| runs(k, ts))
    } else if let Ok(a) = instrument.extract::<PyReadonlyArray1<'py, i32>>() {
        let k = a.as_slice().map_err(|_| contiguous("instrument"))?;
        py.detach(|| runs(k, ts))
    } else {
        return Err(PyTypeError::new_err(
            "instrument must be a 1-D int32 or int64 array",
        ));
    };
    Ok(offsets.map(|o| {
        o.into_iter()
            .map(|v| v as u64)
            .collect::<Vec<_>>()
            .into_pyarray(py)
    }))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(scan, m)?)?;
    m.add_function(wrap_pyfunction!(scan_runs, m)?)
}
