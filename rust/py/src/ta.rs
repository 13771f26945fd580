//! Indicators for Python: `talib`-compatible functions (same names, parameter names,
//! defaults and output order) and streaming classes, over `baconalgo_core::ta`.
//!
//! Only conversion, validation and GIL release happen here:
//! * inputs are numpy arrays of float64 or float32 (a polars Series goes through its
//!   own `to_numpy()`); a strided 1-D array is copied once, as `talib` copies it; when a
//!   call mixes float32 and float64 inputs the float32 ones are widened (exactly);
//! * a 2-D Fortran-ordered `(bars, instruments)` array runs the same 1-D kernel on every
//!   column in parallel (`ta::matrix::par_columns`, rayon), returning Fortran-ordered
//!   outputs of the same shape; a C-ordered 2-D array is refused rather than transposed
//!   behind the caller's back;
//! * outputs are new float64 arrays, or the caller's own given as `out=` (one array, or a
//!   tuple of them for the multi-output functions); the kernel runs with the GIL released.

use baconalgo_core::ta::{self, matrix, stream, stream::Indicator, Bar, MaType, Real, TaError};
use numpy::{
    IxDyn, PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyTypeMethods};

use crate::errors::{ta_err, ta_err_msg};

// ---------------------------------------------------------------------------------------
// Inputs and outputs at the boundary
// ---------------------------------------------------------------------------------------

/// One input column's data: numpy's own buffer when contiguous, else a copy.
enum Data<'py> {
    F64(PyReadonlyArrayDyn<'py, f64>),
    /// Always contiguous (a strided float32 input is copied into `Owned`).
    F32(PyReadonlyArrayDyn<'py, f32>),
    Owned(Vec<f64>),
}

/// A 1-D series or a 2-D column-major matrix (one column per instrument).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Vector(usize),
    Matrix { n_rows: usize, n_cols: usize },
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Vector(n) => write!(f, "({n},)"),
            Shape::Matrix { n_rows, n_cols } => write!(f, "({n_rows}, {n_cols})"),
        }
    }
}

struct Input<'py> {
    name: &'static str,
    data: Data<'py>,
    shape: Shape,
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The argument as a numpy array: an ndarray as is, a polars Series through its
/// `to_numpy()` (polars is not imported here; a Series exists only if it is).
fn ndarray<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        return Ok(a.clone());
    }
    let module = obj.get_type().module().map(|m| m.to_string());
    if let Ok(module) = module {
        if module.starts_with("polars") {
            if let Ok(a) = obj.call_method0("to_numpy")?.cast_into::<PyUntypedArray>() {
                return Ok(a);
            }
        }
    }
    Err(PyTypeError::new_err(format!(
        "{name} must be a numpy array (float64 or float32) or a polars Series, got {}",
        type_name(obj)
    )))
}

fn input<'py>(obj: &Bound<'py, PyAny>, name: &'static str) -> PyResult<Input<'py>> {
    let arr = ndarray(obj, name)?;
    let shape = match arr.ndim() {
        1 => Shape::Vector(arr.shape()[0]),
        2 if arr.is_fortran_contiguous() => Shape::Matrix {
            n_rows: arr.shape()[0],
            n_cols: arr.shape()[1],
        },
        2 => {
            return Err(PyValueError::new_err(format!(
                "{name} is 2-D with shape {:?} but not Fortran-ordered: a 2-D input holds one \
                 instrument per column, contiguous in memory (numpy.asfortranarray({name}), \
                 or pass a C-ordered (instruments, bars) array transposed: x.T)",
                arr.shape()
            )))
        }
        d => {
            return Err(PyValueError::new_err(format!(
                "{name} must be 1-D (one series) or 2-D (bars x instruments), got {d}-D"
            )))
        }
    };
    let borrow_err = |e: numpy::BorrowError| PyValueError::new_err(format!("{name}: {e}"));
    let data = if let Ok(a) = arr.cast::<PyArrayDyn<f64>>() {
        let r = a.try_readonly().map_err(borrow_err)?;
        if r.as_slice().is_ok() {
            Data::F64(r)
        } else {
            Data::Owned(r.as_array().iter().copied().collect())
        }
    } else if let Ok(a) = arr.cast::<PyArrayDyn<f32>>() {
        let r = a.try_readonly().map_err(borrow_err)?;
        if r.as_slice().is_ok() {
            Data::F32(r)
        } else {
            Data::Owned(r.as_array().iter().map(|&v| v as f64).collect())
        }
    } else {
        return Err(PyTypeError::new_err(format!(
            "{name} must have dtype float64 or float32, got {}",
            arr.dtype()
        )));
    };
    Ok(Input { name, data, shape })
}

/// The inputs of one call as slices of one element type.
enum Slices<'a> {
    F64(Vec<&'a [f64]>),
    F32(Vec<&'a [f32]>),
}

/// Validated inputs and freshly allocated outputs of one call.
struct Call<'py> {
    inputs: Vec<Input<'py>>,
    shape: Shape,
    outputs: Vec<Bound<'py, PyArrayDyn<f64>>>,
}

impl<'py> Call<'py> {
    fn new(
        py: Python<'py>,
        args: &[(&Bound<'py, PyAny>, &'static str)],
        n_out: usize,
    ) -> PyResult<Call<'py>> {
        let mut inputs = args
            .iter()
            .map(|(obj, name)| input(obj, name))
            .collect::<PyResult<Vec<_>>>()?;
        let shape = inputs[0].shape;
        for i in &inputs[1..] {
            if i.shape != shape {
                return Err(PyValueError::new_err(format!(
                    "{} has shape {}, expected {} (the shape of {})",
                    i.name, i.shape, shape, inputs[0].name
                )));
            }
        }
        // Mixed float32 / float64: widen the float32 inputs (exact) so one kernel runs.
        let all_f32 = inputs.iter().all(|i| matches!(i.data, Data::F32(_)));
        if !all_f32 {
            for i in inputs.iter_mut() {
                if let Data::F32(a) = &i.data {
                    let wide = a.as_slice().map(|s| s.iter().map(|&v| v as f64).collect());
                    i.data = Data::Owned(wide.map_err(|e| PyValueError::new_err(e.to_string()))?);
                }
            }
        }
        // Uninitialised, like `np.empty`: zero-filled memory would be fresh pages from the
        // OS on every call (a page fault per 4 KiB), which costs as much as a fast kernel.
        let outputs = (0..n_out)
            .map(|_| match shape {
                // SAFETY: every `ta` kernel writes every element of every output (NaN during
                // the warm-up; `rust/core/tests/ta_outputs_written.rs` checks it), and an
                // output is only returned to Python after its kernel returned `Ok`.
                Shape::Vector(n) => unsafe { PyArrayDyn::new(py, IxDyn(&[n]), false) },
                Shape::Matrix { n_rows, n_cols } => {
                    // SAFETY: as above; `par_columns` runs the kernel on every column.
                    unsafe { PyArrayDyn::new(py, IxDyn(&[n_rows, n_cols]), true) }
                }
            })
            .collect();
        Ok(Call {
            inputs,
            shape,
            outputs,
        })
    }

    /// Writes into the caller's arrays instead of fresh ones: `out` is a tuple (or list) of
    /// one float64 array per output, each of the inputs' shape, C-contiguous for a series
    /// and Fortran-ordered for a matrix, writable. Nothing is copied back; the same arrays
    /// are returned. (An array that is also an input, or given twice, fails the writable
    /// borrow with a `ValueError` before the kernel runs.)
    fn use_outputs(&mut self, out: Option<&Bound<'py, PyAny>>) -> PyResult<()> {
        let Some(out) = out else {
            return Ok(());
        };
        let n_out = self.outputs.len();
        // A one-output function takes its array alone (or in a one-element tuple).
        let items: Vec<Bound<'py, PyAny>> = if n_out == 1 && out.cast::<PyUntypedArray>().is_ok() {
            vec![out.clone()]
        } else {
            out.try_iter()
                .and_then(|it| it.collect::<PyResult<_>>())
                .map_err(|_| PyTypeError::new_err("out must be a tuple of numpy arrays"))?
        };
        if items.len() != n_out {
            return Err(PyValueError::new_err(format!(
                "out has {} arrays, this function has {n_out} outputs",
                items.len()
            )));
        }
        let dims: Vec<usize> = match self.shape {
            Shape::Vector(n) => vec![n],
            Shape::Matrix { n_rows, n_cols } => vec![n_rows, n_cols],
        };
        let mut outputs = Vec::with_capacity(n_out);
        for (k, item) in items.iter().enumerate() {
            let arr = item.cast::<PyArrayDyn<f64>>().map_err(|_| {
                PyTypeError::new_err(format!("out[{k}] must be a float64 numpy array"))
            })?;
            if arr.shape() != dims.as_slice() {
                return Err(PyValueError::new_err(format!(
                    "out[{k}] has shape {:?}, expected {:?} (the inputs' shape)",
                    arr.shape(),
                    dims
                )));
            }
            let ordered = match self.shape {
                Shape::Vector(_) => arr.is_c_contiguous(),
                Shape::Matrix { .. } => arr.is_fortran_contiguous(),
            };
            if !ordered {
                return Err(PyValueError::new_err(format!(
                    "out[{k}] must be {} like the inputs",
                    match self.shape {
                        Shape::Vector(_) => "contiguous",
                        Shape::Matrix { .. } => "Fortran-ordered",
                    }
                )));
            }
            outputs.push(arr.clone());
        }
        self.outputs = outputs;
        Ok(())
    }

    fn slices(&self) -> PyResult<Slices<'_>> {
        let not_contiguous = |e: numpy::AsSliceError| PyValueError::new_err(e.to_string());
        if self.inputs.iter().all(|i| matches!(i.data, Data::F32(_))) {
            let mut v = Vec::with_capacity(self.inputs.len());
            for i in &self.inputs {
                if let Data::F32(a) = &i.data {
                    v.push(a.as_slice().map_err(not_contiguous)?);
                }
            }
            return Ok(Slices::F32(v));
        }
        let mut v = Vec::with_capacity(self.inputs.len());
        for i in &self.inputs {
            v.push(match &i.data {
                Data::F64(a) => a.as_slice().map_err(not_contiguous)?,
                Data::Owned(o) => o.as_slice(),
                // Widened in `new` whenever the inputs are not all float32.
                Data::F32(_) => return Err(PyTypeError::new_err("mixed input dtypes")),
            });
        }
        Ok(Slices::F64(v))
    }

    /// One output array, or a tuple of them in `talib`'s order.
    fn result(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.outputs.len() == 1 {
            return Ok(self.outputs[0].clone().into_any());
        }
        Ok(PyTuple::new(py, self.outputs)?.into_any())
    }
}

/// Runs a 1-D kernel on a series, or on every column of a matrix in parallel.
fn run<T, F>(shape: Shape, ins: &[&[T]], outs: &mut [&mut [f64]], kernel: F) -> Result<(), TaError>
where
    T: Real,
    F: Fn(&[&[T]], &mut [&mut [f64]]) -> Result<(), TaError> + Sync,
{
    match shape {
        Shape::Vector(_) => kernel(ins, outs),
        Shape::Matrix { n_rows, .. } => {
            // Parameters are checked even when there is no column to run on.
            let no_ins: Vec<&[T]> = vec![&[]; ins.len()];
            let mut no_outs: Vec<&mut [f64]> = (0..outs.len()).map(|_| &mut [][..]).collect();
            kernel(&no_ins, &mut no_outs)?;
            matrix::par_columns(ins, outs, n_rows, kernel)
        }
    }
}

/// Validates the inputs, allocates the outputs, runs `|ins, outs| kernel` (generic over the
/// input element type) without the GIL and returns the output(s).
macro_rules! compute {
    ($py:expr, [$($arg:ident),+], $n_out:expr, |$ins:ident, $outs:ident| $body:expr) => {
        compute!($py, [$($arg),+], $n_out, out = None, |$ins, $outs| $body)
    };
    ($py:expr, [$($arg:ident),+], $n_out:expr, out = $out:expr, |$ins:ident, $outs:ident| $body:expr) => {{
        let py: Python<'_> = $py;
        let mut call = Call::new(py, &[$((&$arg, stringify!($arg))),+], $n_out)?;
        call.use_outputs($out)?;
        let result = {
            let mut guards = Vec::with_capacity(call.outputs.len());
            for o in &call.outputs {
                guards.push(o.try_readwrite().map_err(|e| PyValueError::new_err(e.to_string()))?);
            }
            let mut outs = Vec::with_capacity(guards.len());
            for g in guards.iter_mut() {
                outs.push(g.as_slice_mut().map_err(|e| PyValueError::new_err(e.to_string()))?);
            }
            let shape = call.shape;
            match call.slices()? {
                Slices::F64(ins) => py.detach(|| run(shape, &ins, &mut outs, |$ins, $outs| $body)),
                Slices::F32(ins) => py.detach(|| run(shape, &ins, &mut outs, |$ins, $outs| $body)),
            }
        };
        result.map_err(|e| ta_err(py, e))?;
        call.result(py)
    }};
}

/// A period as the core takes it; a negative one is refused naming the parameter.
fn period(py: Python<'_>, name: &str, value: i64) -> PyResult<usize> {
    usize::try_from(value).map_err(|_| {
        ta_err_msg(
            py,
            format!("parameter `{name}` = {value} is out of range (periods are positive)"),
        )
    })
}

/// TA-Lib's `matype` code.
fn matype(py: Python<'_>, name: &str, value: i64) -> PyResult<MaType> {
    let code = u32::try_from(value).unwrap_or(u32::MAX);
    MaType::from_code(code).map_err(|_| {
        ta_err_msg(
            py,
            format!(
                "parameter `{name}` = {value}: moving-average type not supported \
                 (supported: 0 SMA, 1 EMA, 2 WMA, 3 DEMA, 4 TEMA, 5 TRIMA, 6 KAMA, 7 MAMA, 8 T3)"
            ),
        )
    })
}

/// The kernel's output slices as a fixed-size array (the count is fixed by each caller).
fn outs_n<'a, 'b, const N: usize>(
    outs: &'a mut [&'b mut [f64]],
) -> Result<&'a mut [&'b mut [f64]; N], TaError> {
    let len = outs.len();
    outs.try_into().map_err(|_| TaError::LengthMismatch {
        name: "outputs",
        len,
        expected: N,
    })
}

// ---------------------------------------------------------------------------------------
// Batch functions
// ---------------------------------------------------------------------------------------

type Out<'py> = PyResult<Bound<'py, PyAny>>;

/// `NAME(real, timeperiod=default)`.
macro_rules! real_fn {
    ($(#[$m:meta])* $f:ident, $name:literal, $kernel:path, $default:tt) => {
        $(#[$m])*
        #[pyfunction(name = $name)]
        #[pyo3(signature = (real, timeperiod = $default, *, out = None))]
        fn $f<'py>(
            py: Python<'py>,
            real: Bound<'py, PyAny>,
            timeperiod: i64,
            out: Option<Bound<'py, PyAny>>,
        ) -> Out<'py> {
            let p = period(py, "timeperiod", timeperiod)?;
            compute!(py, [real], 1, out = out.as_ref(), |i, o| $kernel(i[0], p, &mut *o[0]))
        }
    };
}

/// `NAME(high, low, close, timeperiod=default)`.
macro_rules! hlc_fn {
    ($(#[$m:meta])* $f:ident, $name:literal, $kernel:path, $default:tt) => {
        $(#[$m])*
        #[pyfunction(name = $name)]
        #[pyo3(signature = (high, low, close, timeperiod = $default, *, out = None))]
        fn $f<'py>(
            py: Python<'py>,
            high: Bound<'py, PyAny>,
            low: Bound<'py, PyAny>,
            close: Bound<'py, PyAny>,
            timeperiod: i64,
            out: Option<Bound<'py, PyAny>>,
        ) -> Out<'py> {
            let p = period(py, "timeperiod", timeperiod)?;
            compute!(py, [high, low, close], 1, out = out.as_ref(), |i, o| {
                $kernel(i[0], i[1], i[2], p, &mut *o[0])
            })
        }
    };
}

real_fn!(/// Simple moving average.
    sma, "SMA", ta::sma_into, 30);
real_fn!(/// Exponential moving average (seeded with the SMA of the first `timeperiod` values).
    ema, "EMA", ta::ema_into, 30);
real_fn!(/// Linearly weighted moving average.
    wma, "WMA", ta::wma_into, 30);
real_fn!(/// Double exponential moving average.
    dema, "DEMA", ta::dema_into, 30);
real_fn!(/// Triple exponential moving average.
    tema, "TEMA", ta::tema_into, 30);
real_fn!(/// Kaufman adaptive moving average.
    kama, "KAMA", ta::kama_into, 30);
real_fn!(/// Triangular moving average.
    trima, "TRIMA", ta::trima_into, 30);

/// Tillson's T3: six chained EMAs weighted by the volume factor `vfactor`.
#[pyfunction(name = "T3")]
#[pyo3(signature = (real, timeperiod = 5, vfactor = 0.7, *, out = None))]
fn t3<'py>(
    py: Python<'py>,
    real: Bound<'py, PyAny>,
    timeperiod: i64,
    vfactor: f64,
    out: Option<Bound<'py, PyAny>>,
) -> Out<'py> {
    let p = period(py, "timeperiod", timeperiod)?;
    compute!(py, [real], 1, out = out.as_ref(), |i, o| ta::t3_into(
        i[0], p, vfactor, &mut *o[0]
    ))
}
real_fn!(/// Relative strength index (Wilder).
    rsi, "RSI", ta::rsi_into, 14);
real_fn!(/// Momentum: `real - real[timeperiod ago]`.
    mom, "MOM", ta::mom_into, 10);
real_fn!(/// Rate of change: `(real / real[timeperiod ago] - 1) * 100`.
    roc, "ROC", ta::roc_into, 10);

hlc_fn!(/// Average true range (Wilder).
    atr, "ATR", ta::atr_into, 14);
hlc_fn!(/// Normalized average true range: ATR / close * 100.
    natr, "NATR", ta::natr_into, 14);
hlc_fn!(/// Average directional movement index.
    adx, "ADX", ta::adx_into, 14);
hlc_fn!(/// Plus directional indicator.
    plus_di, "PLUS_DI", ta::plus_di_into, 14);
hlc_fn!(/// Minus directional indicator.
    minus_di, "MINUS_DI", ta::minus_di_into, 14);
hlc_fn!(/// Commodity channel index.
    cci, "CCI", ta::cci_into, 14);
hlc_fn!(/// Williams' %R.
    willr, "WILLR", ta::willr_into, 14);

/// Population standard deviation times `nbdev`.
#[pyfunction(name = "STDDEV")]
#[pyo3(signature = (real, timeperiod = 5, nbdev = 1.0, *, out = None))]
fn stddev<'py>(
    py: Python<'py>,
    real: Bound<'py, PyAny>,
    timeperiod: i64,
    nbdev: f64,
    out: Option<Bound<'py, PyAny>>,
) -> Out<'py> {
    let p = period(py, "timeperiod", timeperiod)?;
    compute!(py, [real], 1, out = out.as_ref(), |i, o| ta::stddev_into(
        i[0], p, nbdev, &mut *o[0]
    ))
}

/// Bollinger bands: (upperband, middleband, lowerband).
#[pyfunction(name = "BBANDS")]
#[pyo3(signature = (real, timeperiod = 20, nbdevup = 2.0, nbdevdn = 2.0, matype = 0, *, out = None))]
#[allow(clippy::too_many_arguments)]
fn bbands<'py>(
    py: Python<'py>,
    real: Bound<'py, PyAny>,
    timeperiod: i64,
    nbdevup: f64,
    nbdevdn: f64,
    matype: i64,
    out: Option<Bound<'py, PyAny>>,
) -> Out<'py> {
    let p = period(py, "timeperiod", timeperiod)?;
    let ma = self::matype(py, "matype", matype)?;
    compute!(py, [real], 3, out = out.as_ref(), |i, o| {
        let [upper, middle, lower] = outs_n::<3>(o)?;
        let out = ta::BbandsOut {
            upper,
            middle,
            lower,
        };
        ta::bbands_into(i[0], p, nbdevup, nbdevdn, ma, out)
    })
}

/// Moving average convergence/divergence: (macd, macdsignal, macdhist).
#[pyfunction(name = "MACD")]
#[pyo3(signature = (real, fastperiod = 12, slowperiod = 26, signalperiod = 9, *, out = None))]
fn macd<'py>(
    py: Python<'py>,
    real: Bound<'py, PyAny>,
    fastperiod: i64,
    slowperiod: i64,
    signalperiod: i64,
    out: Option<Bound<'py, PyAny>>,
) -> Out<'py> {
    let fast = period(py, "fastperiod", fastperiod)?;
    let slow = period(py, "slowperiod", slowperiod)?;
    let signal = period(py, "signalperiod", signalperiod)?;
    compute!(py, [real], 3, out = out.as_ref(), |i, o| {
        let [m, s, h] = outs_n::<3>(o)?;
        ta::macd_into(i[0], fast, slow, signal, m, s, h)
    })
}

/// Stochastic oscillator: (slowk, slowd).
#[pyfunction(name = "STOCH")]
#[pyo3(signature = (high, low, close, fastk_period = 5, slowk_period = 3, slowk_matype = 0,
    slowd_period = 3, slowd_matype = 0, *, out = None))]
#[allow(clippy::too_many_arguments)]
fn stoch<'py>(
    py: Python<'py>,
    high: Bound<'py, PyAny>,
    low: Bound<'py, PyAny>,
    close: Bound<'py, PyAny>,
    fastk_period: i64,
    slowk_period: i64,
    slowk_matype: i64,
    slowd_period: i64,
    slowd_matype: i64,
    out: Option<Bound<'py, PyAny>>,
) -> Out<'py> {
    let fastk = period(py, "fastk_period", fastk_period)?;
    let slowk = period(py, "slowk_period", slowk_period)?;
    let slowk_ma = matype(py, "slowk_matype", slowk_matype)?;
    let slowd = period(py, "slowd_period", slowd_period)?;
    let slowd_ma = matype(py, "slowd_matype", slowd_matype)?;
    compute!(py, [high, low, close], 2, out = out.as_ref(), |i, o| {
        let [k, d] = outs_n::<2>(o)?;
        ta::stoch_into(
            i[0], i[1], i[2], fastk, slowk, slowk_ma, slowd, slowd_ma, k, d,
        )
    })
}

/// Stochastic RSI: (fastk, fastd).
#[pyfunction(name = "STOCHRSI")]
#[pyo3(signature = (real, timeperiod = 14, fastk_period = 5, fastd_period = 3, fastd_matype = 0,
    *, out = None))]
fn stochrsi<'py>(
    py: Python<'py>,
    real: Bound<'py, PyAny>,
    timeperiod: i64,
    fastk_period: i64,
    fastd_period: i64,
    fastd_matype: i64,
    out: Option<Bound<'py, PyAny>>,
) -> Out<'py> {
    let p = period(py, "timeperiod", timeperiod)?;
    let fastk = period(py, "fastk_period", fastk_period)?;
    let fastd = period(py, "fastd_period", fastd_period)?;
    let fastd_ma = matype(py, "fastd_matype", fastd_matype)?;
    compute!(py, [real], 2, out = out.as_ref(), |i, o| {
        let [k, d] = outs_n::<2>(o)?;
        ta::stochrsi_into(i[0], p, fastk, fastd, fastd_ma, k, d)
    })
}

/// Aroon: (aroondown, aroonup).
#[pyfunction(name = "AROON")]
#[pyo3(signature = (high, low, timeperiod = 14, *, out = None))]
fn aroon<'py>(
    py: Python<'py>,
    high: Bound<'py, PyAny>,
    low: Bound<'py, PyAny>,
    timeperiod: i64,
    out: Option<Bound<'py, PyAny>>,
) -> Out<'py> {
    let p = period(py, "timeperiod", timeperiod)?;
    compute!(py, [high, low], 2, out = out.as_ref(), |i, o| {
        let [down, up] = outs_n::<2>(o)?;
        ta::aroon_into(i[0], i[1], p, down, up)
    })
}

/// MESA adaptive moving average: (mama, fama).
#[pyfunction(name = "MAMA")]
#[pyo3(signature = (real, fastlimit = 0.5, slowlimit = 0.05, *, out = None))]
fn mama<'py>(
    py: Python<'py>,
    real: Bound<'py, PyAny>,
    fastlimit: f64,
    slowlimit: f64,
    out: Option<Bound<'py, PyAny>>,
) -> Out<'py> {
    compute!(py, [real], 2, out = out.as_ref(), |i, o| {
        let [m, f] = outs_n::<2>(o)?;
        ta::mama_into(i[0], fastlimit, slowlimit, m, f)
    })
}

/// True range.
#[pyfunction(name = "TRANGE")]
#[pyo3(signature = (high, low, close, *, out = None))]
fn trange<'py>(
    py: Python<'py>,
    high: Bound<'py, PyAny>,
    low: Bound<'py, PyAny>,
    close: Bound<'py, PyAny>,
    out: Option<Bound<'py, PyAny>>,
) -> Out<'py> {
    compute!(py, [high, low, close], 1, out = out.as_ref(), |i, o| {
        ta::trange_into(i[0], i[1], i[2], &mut *o[0])
    })
}

/// Money flow index.
#[pyfunction(name = "MFI")]
#[pyo3(signature = (high, low, close, volume, timeperiod = 14, *, out = None))]
#[allow(clippy::too_many_arguments)]
fn mfi<'py>(
    py: Python<'py>,
    high: Bound<'py, PyAny>,
    low: Bound<'py, PyAny>,
    close: Bound<'py, PyAny>,
    volume: Bound<'py, PyAny>,
    timeperiod: i64,
    out: Option<Bound<'py, PyAny>>,
) -> Out<'py> {
    let p = period(py, "timeperiod", timeperiod)?;
    compute!(
        py,
        [high, low, close, volume],
        1,
        out = out.as_ref(),
        |i, o| ta::mfi_into(i[0], i[1], i[2], i[3], p, &mut *o[0])
    )
}

/// On-balance volume (`real` is the close, as in `talib`).
#[pyfunction(name = "OBV")]
#[pyo3(signature = (real, volume, *, out = None))]
fn obv<'py>(
    py: Python<'py>,
    real: Bound<'py, PyAny>,
    volume: Bound<'py, PyAny>,
    out: Option<Bound<'py, PyAny>>,
) -> Out<'py> {
    compute!(py, [real, volume], 1, out = out.as_ref(), |i, o| {
        ta::obv_into(i[0], i[1], &mut *o[0])
    })
}

/// Session keys for VWAP: given as int64, or computed from timestamps.
fn session_keys<'py>(
    py: Python<'py>,
    session: Option<Bound<'py, PyAny>>,
    timestamps: Option<Bound<'py, PyAny>>,
    session_ns: i64,
    offset_ns: i64,
) -> PyResult<Vec<i64>> {
    let int64 = |obj: &Bound<'py, PyAny>, name: &str| -> PyResult<Bound<'py, PyArray1<i64>>> {
        let mut arr = ndarray(obj, name)?;
        if arr.dtype().kind() == b'M' {
            // datetime64 of any unit: as int64 nanoseconds since the epoch.
            arr = arr
                .call_method1("astype", ("datetime64[ns]",))?
                .call_method1("view", ("int64",))?
                .cast_into::<PyUntypedArray>()?;
        }
        if arr.ndim() != 1 {
            return Err(PyValueError::new_err(format!(
                "{name} must be 1-D (one key per bar, shared by every column), got shape {:?}",
                arr.shape()
            )));
        }
        let dtype = arr.dtype();
        arr.cast_into::<PyArray1<i64>>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{name} must have dtype int64 (or datetime64 for timestamps), got {dtype}"
            ))
        })
    };
    match (session, timestamps) {
        (Some(s), None) => Ok(int64(&s, "session")?.to_vec()?),
        (None, Some(t)) => {
            let session_ns = u64::try_from(session_ns).map_err(|_| {
                PyValueError::new_err(format!("session_ns must be >= 0, got {session_ns}"))
            })?;
            let offset_ns = u64::try_from(offset_ns).map_err(|_| {
                PyValueError::new_err(format!("offset_ns must be >= 0, got {offset_ns}"))
            })?;
            let ts = int64(&t, "timestamps")?.to_vec()?;
            py.detach(|| {
                ts.iter()
                    .map(|&t| u64::try_from(t).map(|t| ta::session_key(t, session_ns, offset_ns)))
                    .collect::<Result<Vec<i64>, _>>()
            })
            .map_err(|_| PyValueError::new_err("timestamps must be >= 0 (ns since the epoch)"))
        }
        (Some(_), Some(_)) => Err(PyValueError::new_err(
            "pass either session (keys) or timestamps, not both",
        )),
        (None, None) => Err(PyValueError::new_err(
            "VWAP needs session keys (session=) or timestamps (timestamps=); \
             for a rolling window use VWAP_ROLLING",
        )),
    }
}

/// Session VWAP: Σ(typical price × volume) / Σ volume, restarting whenever the session
/// key changes. Keys come from `session` (int64, one per bar) or from `timestamps`
/// (int64 ns or datetime64) cut into `session_ns`-long sessions (default one UTC day)
/// starting at `offset_ns`.
#[pyfunction(name = "VWAP")]
#[pyo3(signature = (high, low, close, volume, session = None, timestamps = None,
    session_ns = 86_400_000_000_000, offset_ns = 0))]
#[allow(clippy::too_many_arguments)]
fn vwap<'py>(
    py: Python<'py>,
    high: Bound<'py, PyAny>,
    low: Bound<'py, PyAny>,
    close: Bound<'py, PyAny>,
    volume: Bound<'py, PyAny>,
    session: Option<Bound<'py, PyAny>>,
    timestamps: Option<Bound<'py, PyAny>>,
    session_ns: i64,
    offset_ns: i64,
) -> Out<'py> {
    let keys = session_keys(py, session, timestamps, session_ns, offset_ns)?;
    let n_rows = match input(&high, "high")?.shape {
        Shape::Vector(n) => n,
        Shape::Matrix { n_rows, .. } => n_rows,
    };
    if keys.len() != n_rows {
        return Err(PyValueError::new_err(format!(
            "session keys have length {}, expected {n_rows} (one per bar)",
            keys.len()
        )));
    }
    let keys = keys.as_slice();
    compute!(py, [high, low, close, volume], 1, |i, o| {
        // `run` first calls the kernel on empty columns to check parameters.
        let keys = if i[0].is_empty() { &[][..] } else { keys };
        ta::vwap_session_into(i[0], i[1], i[2], i[3], keys, &mut *o[0])
    })
}

/// Rolling VWAP over the last `timeperiod` bars.
#[pyfunction(name = "VWAP_ROLLING")]
#[pyo3(signature = (high, low, close, volume, timeperiod))]
fn vwap_rolling<'py>(
    py: Python<'py>,
    high: Bound<'py, PyAny>,
    low: Bound<'py, PyAny>,
    close: Bound<'py, PyAny>,
    volume: Bound<'py, PyAny>,
    timeperiod: i64,
) -> Out<'py> {
    let p = period(py, "timeperiod", timeperiod)?;
    compute!(py, [high, low, close, volume], 1, |i, o| {
        ta::vwap_rolling_into(i[0], i[1], i[2], i[3], p, &mut *o[0])
    })
}

// ---------------------------------------------------------------------------------------
// Streaming classes
// ---------------------------------------------------------------------------------------

fn core<T>(py: Python<'_>, r: Result<T, TaError>) -> PyResult<T> {
    r.map_err(|e| ta_err(py, e))
}

/// A streaming class: `Name(params...)`, `.update(inputs...) -> output`, `.reset()`,
/// `.lookback`. Registered in `_core` as `<Name>Stream`, shown as
/// `baconalgo.ta.stream.<Name>`.
macro_rules! stream_class {
    (
        $(#[$m:meta])* $ty:ident, $name:literal, $inner:ty,
        new($py:ident $(, $arg:ident: $aty:ty $(= $def:tt)?)*) => $ctor:expr,
        update($($x:ident),+) -> $out:ty => |$s:ident| $upd:expr
    ) => {
        $(#[$m])*
        #[pyclass(module = "baconalgo.ta.stream", name = $name)]
        pub struct $ty {
            inner: $inner,
        }

        #[pymethods]
        impl $ty {
            #[new]
            #[pyo3(signature = ($($arg $(= $def)?),*))]
            fn new($py: Python<'_> $(, $arg: $aty)*) -> PyResult<Self> {
                Ok($ty { inner: $ctor })
            }

            /// Feeds the next input; returns the value the batch function gives at the same
            /// position (NaN while warming up).
            fn update(&mut self, $($x: f64),+) -> $out {
                let $s = &mut self.inner;
                $upd
            }

            /// Forgets every input, as if newly constructed.
            fn reset(&mut self) {
                self.inner.reset()
            }

            /// Valid inputs consumed before the first value (TA-Lib's lookback).
            #[getter]
            fn lookback(&self) -> usize {
                self.inner.lookback()
            }
        }
    };
}

macro_rules! real_stream {
    ($ty:ident, $name:literal, $inner:ident, $default:tt) => {
        stream_class!(
            $ty, $name, stream::$inner,
            new(py, timeperiod: i64 = $default) =>
                core(py, stream::$inner::new(period(py, "timeperiod", timeperiod)?))?,
            update(real) -> f64 => |s| s.update(real)
        );
    };
}

macro_rules! hlc_stream {
    ($ty:ident, $name:literal, $inner:ident, $default:tt) => {
        stream_class!(
            $ty, $name, stream::$inner,
            new(py, timeperiod: i64 = $default) =>
                core(py, stream::$inner::new(period(py, "timeperiod", timeperiod)?))?,
            update(high, low, close) -> f64 =>
                |s| s.update(Bar::new(0.0, high, low, close, 0.0))
        );
    };
}

real_stream!(SmaStream, "SMA", Sma, 30);
real_stream!(EmaStream, "EMA", Ema, 30);
real_stream!(WmaStream, "WMA", Wma, 30);
real_stream!(DemaStream, "DEMA", Dema, 30);
real_stream!(TemaStream, "TEMA", Tema, 30);
real_stream!(KamaStream, "KAMA", Kama, 30);
real_stream!(TrimaStream, "TRIMA", Trima, 30);
stream_class!(
    T3Stream, "T3", stream::T3,
    new(py, timeperiod: i64 = 5, vfactor: f64 = 0.7) =>
        core(py, stream::T3::new(period(py, "timeperiod", timeperiod)?, vfactor))?,
    update(real) -> f64 => |s| s.update(real)
);
real_stream!(RsiStream, "RSI", Rsi, 14);
real_stream!(MomStream, "MOM", Mom, 10);
real_stream!(RocStream, "ROC", Roc, 10);
hlc_stream!(AtrStream, "ATR", Atr, 14);
hlc_stream!(NatrStream, "NATR", Natr, 14);
hlc_stream!(AdxStream, "ADX", Adx, 14);
hlc_stream!(PlusDiStream, "PLUS_DI", PlusDi, 14);
hlc_stream!(MinusDiStream, "MINUS_DI", MinusDi, 14);
hlc_stream!(CciStream, "CCI", Cci, 14);
hlc_stream!(WillrStream, "WILLR", Willr, 14);

stream_class!(
    StddevStream, "STDDEV", stream::Stddev,
    new(py, timeperiod: i64 = 5, nbdev: f64 = 1.0) =>
        core(py, stream::Stddev::new(period(py, "timeperiod", timeperiod)?, nbdev))?,
    update(real) -> f64 => |s| s.update(real)
);
stream_class!(
    BbandsStream, "BBANDS", stream::Bbands,
    new(py, timeperiod: i64 = 20, nbdevup: f64 = 2.0, nbdevdn: f64 = 2.0, matype: i64 = 0) =>
        core(py, stream::Bbands::new(
            period(py, "timeperiod", timeperiod)?,
            nbdevup,
            nbdevdn,
            self::matype(py, "matype", matype)?,
        ))?,
    update(real) -> (f64, f64, f64) => |s| {
        let v = s.update(real);
        (v.upper, v.middle, v.lower)
    }
);
stream_class!(
    MacdStream, "MACD", stream::Macd,
    new(py, fastperiod: i64 = 12, slowperiod: i64 = 26, signalperiod: i64 = 9) =>
        core(py, stream::Macd::new(
            period(py, "fastperiod", fastperiod)?,
            period(py, "slowperiod", slowperiod)?,
            period(py, "signalperiod", signalperiod)?,
        ))?,
    update(real) -> (f64, f64, f64) => |s| {
        let v = s.update(real);
        (v.macd, v.signal, v.hist)
    }
);
stream_class!(
    StochStream, "STOCH", stream::Stoch,
    new(py, fastk_period: i64 = 5, slowk_period: i64 = 3, slowk_matype: i64 = 0,
        slowd_period: i64 = 3, slowd_matype: i64 = 0) =>
        core(py, stream::Stoch::new(
            period(py, "fastk_period", fastk_period)?,
            period(py, "slowk_period", slowk_period)?,
            matype(py, "slowk_matype", slowk_matype)?,
            period(py, "slowd_period", slowd_period)?,
            matype(py, "slowd_matype", slowd_matype)?,
        ))?,
    update(high, low, close) -> (f64, f64) => |s| {
        let v = s.update(Bar::new(0.0, high, low, close, 0.0));
        (v.slowk, v.slowd)
    }
);
stream_class!(
    StochRsiStream, "STOCHRSI", stream::StochRsi,
    new(py, timeperiod: i64 = 14, fastk_period: i64 = 5, fastd_period: i64 = 3,
        fastd_matype: i64 = 0) =>
        core(py, stream::StochRsi::new(
            period(py, "timeperiod", timeperiod)?,
            period(py, "fastk_period", fastk_period)?,
            period(py, "fastd_period", fastd_period)?,
            matype(py, "fastd_matype", fastd_matype)?,
        ))?,
    update(real) -> (f64, f64) => |s| {
        let v = s.update(real);
        (v.fastk, v.fastd)
    }
);
stream_class!(
    AroonStream, "AROON", stream::Aroon,
    new(py, timeperiod: i64 = 14) =>
        core(py, stream::Aroon::new(period(py, "timeperiod", timeperiod)?))?,
    update(high, low) -> (f64, f64) => |s| {
        let v = s.update(Bar::new(0.0, high, low, 0.0, 0.0));
        (v.down, v.up)
    }
);
stream_class!(
    MamaStream, "MAMA", ta::Mama,
    new(py, fastlimit: f64 = 0.5, slowlimit: f64 = 0.05) =>
        core(py, ta::Mama::new(fastlimit, slowlimit))?,
    update(real) -> (f64, f64) => |s| {
        let v = s.update(real);
        (v.mama, v.fama)
    }
);
stream_class!(
    TrangeStream, "TRANGE", stream::Trange,
    new(_py) => stream::Trange::new(),
    update(high, low, close) -> f64 => |s| s.update(Bar::new(0.0, high, low, close, 0.0))
);
stream_class!(
    MfiStream, "MFI", stream::Mfi,
    new(py, timeperiod: i64 = 14) =>
        core(py, stream::Mfi::new(period(py, "timeperiod", timeperiod)?))?,
    update(high, low, close, volume) -> f64 =>
        |s| s.update(Bar::new(0.0, high, low, close, volume))
);
stream_class!(
    ObvStream, "OBV", stream::Obv,
    new(_py) => stream::Obv::new(),
    update(real, volume) -> f64 => |s| s.update(Bar::new(0.0, 0.0, 0.0, real, volume))
);
stream_class!(
    VwapRollingStream, "VWAP_ROLLING", stream::VwapRolling,
    new(py, timeperiod: i64) =>
        core(py, stream::VwapRolling::new(period(py, "timeperiod", timeperiod)?))?,
    update(high, low, close, volume) -> f64 =>
        |s| s.update(Bar::new(0.0, high, low, close, volume))
);

/// Streaming session VWAP: `.update(high, low, close, volume, session)`, where `session` is
/// the bar's integer session key (a new key starts a new session).
#[pyclass(module = "baconalgo.ta.stream", name = "VWAP")]
pub struct VwapStream {
    inner: stream::VwapSession,
}

#[pymethods]
impl VwapStream {
    #[new]
    fn new() -> Self {
        VwapStream {
            inner: stream::VwapSession::new(),
        }
    }

    /// Feeds the next bar and its session key; returns the session's VWAP so far.
    fn update(&mut self, high: f64, low: f64, close: f64, volume: f64, session: i64) -> f64 {
        self.inner
            .update_session(Bar::new(0.0, high, low, close, volume), session)
    }

    /// Forgets every input, as if newly constructed.
    fn reset(&mut self) {
        self.inner.reset()
    }

    /// Always 0: every valid bar has a value.
    #[getter]
    fn lookback(&self) -> usize {
        self.inner.lookback()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    for f in [
        wrap_pyfunction!(sma, m)?,
        wrap_pyfunction!(ema, m)?,
        wrap_pyfunction!(wma, m)?,
        wrap_pyfunction!(dema, m)?,
        wrap_pyfunction!(tema, m)?,
        wrap_pyfunction!(kama, m)?,
        wrap_pyfunction!(trima, m)?,
        wrap_pyfunction!(t3, m)?,
        wrap_pyfunction!(bbands, m)?,
        wrap_pyfunction!(stddev, m)?,
        wrap_pyfunction!(rsi, m)?,
        wrap_pyfunction!(macd, m)?,
        wrap_pyfunction!(stoch, m)?,
        wrap_pyfunction!(stochrsi, m)?,
        wrap_pyfunction!(adx, m)?,
        wrap_pyfunction!(plus_di, m)?,
        wrap_pyfunction!(minus_di, m)?,
        wrap_pyfunction!(cci, m)?,
        wrap_pyfunction!(mfi, m)?,
        wrap_pyfunction!(willr, m)?,
        wrap_pyfunction!(roc, m)?,
        wrap_pyfunction!(mom, m)?,
        wrap_pyfunction!(aroon, m)?,
        wrap_pyfunction!(trange, m)?,
        wrap_pyfunction!(atr, m)?,
        wrap_pyfunction!(natr, m)?,
        wrap_pyfunction!(obv, m)?,
        wrap_pyfunction!(vwap, m)?,
        wrap_pyfunction!(vwap_rolling, m)?,
        wrap_pyfunction!(mama, m)?,
    ] {
        m.add_function(f)?;
    }
    // Streaming classes sit next to the functions of the same name, so `_core` holds them
    // as `<NAME>Stream`; `baconalgo.ta.stream` re-exports them under their own names.
    macro_rules! add_streams {
        ($($ty:ident),+) => {
            $(
                let ty = py.get_type::<$ty>();
                m.add(format!("{}Stream", ty.name()?), ty)?;
            )+
        };
    }
    add_streams!(
        SmaStream,
        EmaStream,
        WmaStream,
        DemaStream,
        TemaStream,
        KamaStream,
        TrimaStream,
        T3Stream,
        BbandsStream,
        StddevStream,
        RsiStream,
        MacdStream,
        StochStream,
        StochRsiStream,
        AdxStream,
        PlusDiStream,
        MinusDiStream,
        CciStream,
        MfiStream,
        WillrStream,
        RocStream,
        MomStream,
        AroonStream,
        TrangeStream,
        AtrStream,
        NatrStream,
        ObvStream,
        VwapStream,
        VwapRollingStream,
        MamaStream
    );
    Ok(())
}
