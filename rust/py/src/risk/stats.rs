//! VaR/ES, covariances, VaR backtests and Kelly over numpy arrays: shape, dtype and
//! contiguity checked at the edge (naming the argument), the work done with the GIL
//! released, results as floats, tuples or new arrays.

use baconalgo_core::risk::{kelly, var, LrTest, RiskError as CoreRiskError, VarEs};
use numpy::{
    Element, PyArray1, PyArray2, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::errors::risk_err;

/// `name` as a read-only array of `T` with `ndim` dimensions, C-contiguous.
fn array<'py, T: Element>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    ndim: usize,
    dtype: &str,
) -> PyResult<PyReadonlyArrayDyn<'py, T>> {
    let untyped = obj.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} must be a numpy array of {dtype}, got {}",
            obj.get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string())
        ))
    })?;
    if untyped.ndim() != ndim {
        return Err(PyValueError::new_err(format!(
            "{name} must be {ndim}-D, got shape {:?}",
            untyped.shape()
        )));
    }
    let typed = obj.cast::<PyArrayDyn<T>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} must have dtype {dtype}, got {}",
            untyped.dtype()
        ))
    })?;
    if !untyped.is_c_contiguous() {
        return Err(PyValueError::new_err(format!(
            "{name} must be C-contiguous (use numpy.ascontiguousarray)"
        )));
    }
    Ok(typed.readonly())
}

fn slice<'a, T: Element>(a: &'a PyReadonlyArrayDyn<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be C-contiguous")))
}

/// Runs `f` without the GIL and maps its error.
fn run<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, CoreRiskError> + Send,
) -> PyResult<T> {
    py.detach(f).map_err(|e| risk_err(py, e))
}

fn pair(v: VarEs) -> (f64, f64) {
    (v.var, v.es)
}

fn lr(t: LrTest) -> (f64, f64, u32) {
    (t.statistic, t.p_value, t.degrees_of_freedom)
}

macro_rules! f64_1d {
    ($obj:expr, $name:literal, $hold:ident, $s:ident) => {
        let $hold = array::<f64>($obj, $name, 1, "float64")?;
        let $s = slice(&$hold, $name)?;
    };
}

/// `(T, n)` float64 returns, their row-major data and `n`.
macro_rules! f64_2d {
    ($obj:expr, $name:literal, $hold:ident, $s:ident, $n:ident) => {
        let $hold = array::<f64>($obj, $name, 2, "float64")?;
        let $n = $hold.shape()[1];
        let $s = slice(&$hold, $name)?;
    };
}

/// Historical-simulation `(var, es)` as positive loss fractions.
#[pyfunction]
fn var_historical(
    py: Python<'_>,
    returns: &Bound<'_, PyAny>,
    confidence: f64,
) -> PyResult<(f64, f64)> {
    f64_1d!(returns, "returns", a, r);
    run(py, || var::historical(r, confidence)).map(pair)
}

/// Normal `(var, es)` from the sample mean and standard deviation (n - 1).
#[pyfunction]
fn var_parametric_normal(
    py: Python<'_>,
    returns: &Bound<'_, PyAny>,
    confidence: f64,
) -> PyResult<(f64, f64)> {
    f64_1d!(returns, "returns", a, r);
    run(py, || var::parametric_normal(r, confidence)).map(pair)
}

/// Normal `(var, es)` for a given mean and standard deviation.
#[pyfunction]
fn var_normal(py: Python<'_>, mean: f64, std: f64, confidence: f64) -> PyResult<(f64, f64)> {
    var::normal_var_es(mean, std, confidence)
        .map(pair)
        .map_err(|e| risk_err(py, e))
}

/// Cornish-Fisher `(var, es)` (skewness and excess kurtosis corrected).
#[pyfunction]
fn var_cornish_fisher(
    py: Python<'_>,
    returns: &Bound<'_, PyAny>,
    confidence: f64,
) -> PyResult<(f64, f64)> {
    f64_1d!(returns, "returns", a, r);
    run(py, || var::cornish_fisher(r, confidence)).map(pair)
}

/// Monte Carlo `(var, es)` of a normal from `n_paths` seeded draws.
#[pyfunction]
fn var_monte_carlo_normal(
    py: Python<'_>,
    mean: f64,
    std: f64,
    confidence: f64,
    n_paths: usize,
    seed: u64,
) -> PyResult<(f64, f64)> {
    run(py, || {
        var::monte_carlo_normal(mean, std, confidence, n_paths, seed)
    })
    .map(pair)
}

fn square<'py>(py: Python<'py>, v: Vec<f64>, n: usize) -> PyResult<Bound<'py, PyArray2<f64>>> {
    PyArray1::from_vec(py, v).reshape([n, n])
}

/// Sample covariance (n - 1) of `(T, n)` returns.
#[pyfunction]
fn covariance_sample<'py>(
    py: Python<'py>,
    returns: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    f64_2d!(returns, "returns", a, r, n);
    let c = run(py, || var::sample_covariance(r, n))?;
    square(py, c, n)
}

/// EWMA (RiskMetrics, zero-mean) covariance of `(T, n)` returns with decay `lam`.
#[pyfunction]
fn covariance_ewma<'py>(
    py: Python<'py>,
    returns: &Bound<'py, PyAny>,
    lam: f64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    f64_2d!(returns, "returns", a, r, n);
    let c = run(py, || var::ewma_covariance(r, n, lam))?;
    square(py, c, n)
}

/// Column means of `(T, n)` returns.
#[pyfunction]
fn column_means<'py>(
    py: Python<'py>,
    returns: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    f64_2d!(returns, "returns", a, r, n);
    let m = run(py, || var::column_means(r, n))?;
    Ok(PyArray1::from_vec(py, m))
}

/// `returns @ weights` per period.
#[pyfunction]
fn portfolio_returns<'py>(
    py: Python<'py>,
    returns: &Bound<'py, PyAny>,
    weights: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    f64_2d!(returns, "returns", a, r, n);
    f64_1d!(weights, "weights", b, w);
    let p = run(py, || var::portfolio_returns(r, n, w))?;
    Ok(PyArray1::from_vec(py, p))
}

/// Normal portfolio `(var, es)`: mean `w.means`, std `sqrt(w' cov w)`.
#[pyfunction]
fn portfolio_var_parametric(
    py: Python<'_>,
    means: &Bound<'_, PyAny>,
    cov: &Bound<'_, PyAny>,
    weights: &Bound<'_, PyAny>,
    confidence: f64,
) -> PyResult<(f64, f64)> {
    f64_1d!(means, "means", a, m);
    f64_2d!(cov, "cov", b, c, _n);
    f64_1d!(weights, "weights", d, w);
    run(py, || var::portfolio_parametric(m, c, w, confidence)).map(pair)
}

/// Monte Carlo portfolio `(var, es)` from correlated normal scenarios (Cholesky of `cov`).
#[pyfunction]
fn portfolio_var_monte_carlo(
    py: Python<'_>,
    means: &Bound<'_, PyAny>,
    cov: &Bound<'_, PyAny>,
    weights: &Bound<'_, PyAny>,
    confidence: f64,
    n_paths: usize,
    seed: u64,
) -> PyResult<(f64, f64)> {
    f64_1d!(means, "means", a, m);
    f64_2d!(cov, "cov", b, c, _n);
    f64_1d!(weights, "weights", d, w);
    run(py, || {
        var::portfolio_monte_carlo(m, c, w, confidence, n_paths, seed)
    })
    .map(pair)
}

/// Historical VaR forecast of each period from the `window` returns before it (NaN for
/// the first `window`).
#[pyfunction]
fn rolling_var_historical<'py>(
    py: Python<'py>,
    returns: &Bound<'py, PyAny>,
    window: usize,
    confidence: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    f64_1d!(returns, "returns", a, r);
    let v = run(py, || var::rolling_historical_var(r, window, confidence))?;
    Ok(PyArray1::from_vec(py, v))
}

/// Boolean exceptions `returns < -var`, skipping periods whose forecast is NaN.
#[pyfunction]
fn var_exceptions<'py>(
    py: Python<'py>,
    returns: &Bound<'py, PyAny>,
    var: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    f64_1d!(returns, "returns", a, r);
    f64_1d!(var, "var", b, v);
    let e = run(py, || var::exceptions(r, v))?;
    Ok(PyArray1::from_vec(py, e))
}

/// Kupiec's proportion-of-failures test: `(statistic, p_value, dof)`.
#[pyfunction]
fn kupiec_pof(
    py: Python<'_>,
    exceptions: &Bound<'_, PyAny>,
    confidence: f64,
) -> PyResult<(f64, f64, u32)> {
    let a = array::<bool>(exceptions, "exceptions", 1, "bool")?;
    let e = slice(&a, "exceptions")?;
    run(py, || var::kupiec_pof(e, confidence)).map(lr)
}

/// Christoffersen's independence test: `(statistic, p_value, dof)`.
#[pyfunction]
fn christoffersen_independence(
    py: Python<'_>,
    exceptions: &Bound<'_, PyAny>,
) -> PyResult<(f64, f64, u32)> {
    let a = array::<bool>(exceptions, "exceptions", 1, "bool")?;
    let e = slice(&a, "exceptions")?;
    run(py, || var::christoffersen_independence(e)).map(lr)
}

/// Christoffersen's conditional coverage (Kupiec + independence, 2 dof).
#[pyfunction]
fn christoffersen_conditional_coverage(
    py: Python<'_>,
    exceptions: &Bound<'_, PyAny>,
    confidence: f64,
) -> PyResult<(f64, f64, u32)> {
    let a = array::<bool>(exceptions, "exceptions", 1, "bool")?;
    let e = slice(&a, "exceptions")?;
    run(py, || {
        var::christoffersen_conditional_coverage(e, confidence)
    })
    .map(lr)
}

/// Kelly fraction of a bet won with probability `p` paying `b` per unit staked.
#[pyfunction]
fn kelly_discrete(py: Python<'_>, p: f64, b: f64) -> PyResult<f64> {
    kelly::discrete(p, b).map_err(|e| risk_err(py, e))
}

/// Kelly leverage `mu / variance` of a continuous asset.
#[pyfunction]
fn kelly_continuous(py: Python<'_>, mu: f64, variance: f64) -> PyResult<f64> {
    kelly::continuous(mu, variance).map_err(|e| risk_err(py, e))
}

/// Multi-asset Kelly weights `cov^-1 means`.
#[pyfunction]
fn kelly_multi_asset<'py>(
    py: Python<'py>,
    means: &Bound<'py, PyAny>,
    cov: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    f64_1d!(means, "means", a, m);
    f64_2d!(cov, "cov", b, c, _n);
    let w = run(py, || kelly::multi_asset(m, c))?;
    Ok(PyArray1::from_vec(py, w))
}

/// `f * fraction` clamped to `[-cap, cap]`.
#[pyfunction]
fn kelly_fractional(py: Python<'_>, f: f64, fraction: f64, cap: f64) -> PyResult<f64> {
    kelly::fractional_capped(f, fraction, cap).map_err(|e| risk_err(py, e))
}

/// Weights times `fraction`, scaled down together so `sum |w| <= max_gross`.
#[pyfunction]
fn kelly_fractional_weights<'py>(
    py: Python<'py>,
    weights: &Bound<'py, PyAny>,
    fraction: f64,
    max_gross: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    f64_1d!(weights, "weights", a, w);
    let out = run(py, || {
        kelly::fractional_capped_weights(w, fraction, max_gross)
    })?;
    Ok(PyArray1::from_vec(py, out))
}

/// Whole lots worth `|fraction| * equity_quote` at `price_ticks`, at most `max_lots`.
#[pyfunction]
fn kelly_size_lots(
    py: Python<'_>,
    fraction: f64,
    equity_quote: f64,
    price_ticks: i64,
    quote_per_tick_lot: f64,
    max_lots: i64,
) -> PyResult<i64> {
    kelly::size_in_lots(
        fraction,
        equity_quote,
        price_ticks,
        quote_per_tick_lot,
        max_lots,
    )
    .map_err(|e| risk_err(py, e))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(var_historical, m)?)?;
    m.add_function(wrap_pyfunction!(var_parametric_normal, m)?)?;
    m.add_function(wrap_pyfunction!(var_normal, m)?)?;
    m.add_function(wrap_pyfunction!(var_cornish_fisher, m)?)?;
    m.add_function(wrap_pyfunction!(var_monte_carlo_normal, m)?)?;
    m.add_function(wrap_pyfunction!(covariance_sample, m)?)?;
    m.add_function(wrap_pyfunction!(covariance_ewma, m)?)?;
    m.add_function(wrap_pyfunction!(column_means, m)?)?;
    m.add_function(wrap_pyfunction!(portfolio_returns, m)?)?;
    m.add_function(wrap_pyfunction!(portfolio_var_parametric, m)?)?;
    m.add_function(wrap_pyfunction!(portfolio_var_monte_carlo, m)?)?;
    m.add_function(wrap_pyfunction!(rolling_var_historical, m)?)?;
    m.add_function(wrap_pyfunction!(var_exceptions, m)?)?;
    m.add_function(wrap_pyfunction!(kupiec_pof, m)?)?;
    m.add_function(wrap_pyfunction!(christoffersen_independence, m)?)?;
    m.add_function(wrap_pyfunction!(christoffersen_conditional_coverage, m)?)?;
    m.add_function(wrap_pyfunction!(kelly_discrete, m)?)?;
    m.add_function(wrap_pyfunction!(kelly_continuous, m)?)?;
    m.add_function(wrap_pyfunction!(kelly_multi_asset, m)?)?;
    m.add_function(wrap_pyfunction!(kelly_fractional, m)?)?;
    m.add_function(wrap_pyfunction!(kelly_fractional_weights, m)?)?;
    m.add_function(wrap_pyfunction!(kelly_size_lots, m)?)
}
