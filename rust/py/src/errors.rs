//! Python exception classes for the core's error enums, re-exported by `baconalgo.errors`.

use baconalgo_core::backtest::BacktestError as CoreBacktestError;
use baconalgo_core::bus::BusError as CoreBusError;
use baconalgo_core::risk::{LimitsError, RejectReason, RiskError as CoreRiskError};
use baconalgo_core::ta::TaError as CoreTaError;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

pyo3::create_exception!(
    baconalgo.errors,
    BaconAlgoError,
    PyException,
    "Base of every BaconAlgo error."
);
pyo3::create_exception!(
    baconalgo.errors,
    BusError,
    BaconAlgoError,
    "The message bus refused an operation."
);
pyo3::create_exception!(
    baconalgo.errors,
    BusFull,
    BusError,
    "The ring is full: the slowest consumer is a whole ring behind."
);
pyo3::create_exception!(
    baconalgo.errors,
    BusClosed,
    BusError,
    "The bus is closed (or, for a poller, closed and drained)."
);
pyo3::create_exception!(
    baconalgo.errors,
    FeedError,
    BaconAlgoError,
    "An exchange message was rejected (malformed, unknown symbol, off-grid price...)."
);

pyo3::create_exception!(
    baconalgo.errors,
    RiskError,
    BaconAlgoError,
    "The risk engine refused a call (unknown or duplicate working order, ...)."
);
pyo3::create_exception!(
    baconalgo.errors,
    RiskRejected,
    RiskError,
    "A pre-trade check refused an order. Attributes: `reason` (snake-case name), `code` \
     (the stable reject code), `message`, `client_order_id`."
);
pyo3::create_exception!(
    baconalgo.errors,
    ResetRefused,
    RiskError,
    "A breaker reset was refused while a breaker's condition still holds. Attribute: \
     `reasons`, the names of those breakers."
);

static RISK_INPUT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static RISK_LIMITS_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// A class deriving from both `bases`, made with `type(name, bases, namespace)` since a
/// `create_exception!` class has a single base.
fn make_class<'py>(
    py: Python<'py>,
    name: &str,
    bases: Bound<'py, PyTuple>,
    doc: &str,
) -> PyResult<Py<PyType>> {
    let ns = PyDict::new(py);
    ns.set_item("__module__", "baconalgo.errors")?;
    ns.set_item("__doc__", doc)?;
    let class = py.get_type::<PyType>().call1((name, bases, ns))?;
    Ok(class.cast_into::<PyType>()?.unbind())
}

/// `RiskInputError(RiskError, ValueError)`: a risk input is not finite, out of range, too
/// short or of the wrong length.
pub fn risk_input_error_type(py: Python<'_>) -> PyResult<Bound<'_, PyType>> {
    RISK_INPUT_ERROR
        .get_or_try_init(py, || {
            let bases = PyTuple::new(
                py,
                [py.get_type::<RiskError>(), py.get_type::<PyValueError>()],
            )?;
            make_class(
                py,
                "RiskInputError",
                bases,
                "A risk input is not finite, out of range, too short or of the wrong length.",
            )
        })
        .map(|t| t.bind(py).clone())
}

/// `RiskLimitsError(RiskInputError)`: invalid limits, with `field`, `value` and `rule`.
pub fn risk_limits_error_type(py: Python<'_>) -> PyResult<Bound<'_, PyType>> {
    RISK_LIMITS_ERROR
        .get_or_try_init(py, || {
            let bases = PyTuple::new(py, [risk_input_error_type(py)?])?;
            make_class(
                py,
                "RiskLimitsError",
                bases,
                "A risk limit is invalid. Attributes: `field` (the limits attribute path, e.g. \
                 `instruments[0].max_qty_lots`), `value` and `rule`.",
            )
        })
        .map(|t| t.bind(py).clone())
}

/// Either error: the one built, or the one hit while building it.
fn either(r: PyResult<PyErr>) -> PyErr {
    r.unwrap_or_else(|e| e)
}

/// A core limits error as `RiskLimitsError`, naming the field.
pub fn limits_err(py: Python<'_>, e: LimitsError) -> PyErr {
    either((|| {
        let err = PyErr::from_type(risk_limits_error_type(py)?, e.to_string());
        let value = err.value(py);
        value.setattr("field", &e.field)?;
        value.setattr("value", &e.value)?;
        value.setattr("rule", e.rule)?;
        Ok(err)
    })())
}

/// Maps a core risk error: bad inputs are `RiskInputError` (also a `ValueError`), bad
/// limits `RiskLimitsError`, lifecycle conflicts `RiskError`.
pub fn risk_err(py: Python<'_>, e: CoreRiskError) -> PyErr {
    let msg = e.to_string();
    match e {
        CoreRiskError::Limits(l) => limits_err(py, l),
        CoreRiskError::UnknownOrder(_) | CoreRiskError::DuplicateOrder(_) => {
            RiskError::new_err(msg)
        }
        CoreRiskError::UnknownInstrument(_)
        | CoreRiskError::NonFinite { .. }
        | CoreRiskError::OutOfRange { .. }
        | CoreRiskError::TooShort { .. }
        | CoreRiskError::LengthMismatch { .. }
        | CoreRiskError::NotPositiveDefinite(_) => match risk_input_error_type(py) {
            Ok(t) => PyErr::from_type(t, msg),
            Err(e) => e,
        },
    }
}

/// `RiskRejected` for an order the checks refused; `name` is the reason's snake-case name.
pub fn rejected_err(
    py: Python<'_>,
    reason: RejectReason,
    client_order_id: u64,
    name: &str,
) -> PyErr {
    either((|| {
        let err = RiskRejected::new_err(format!(
            "order {client_order_id} rejected: {} ({name}, code {})",
            reason.message(),
            reason.code()
        ));
        let value = err.value(py);
        value.setattr("reason", name)?;
        value.setattr("code", reason.code())?;
        value.setattr("message", reason.message())?;
        value.setattr("client_order_id", client_order_id)?;
        Ok(err)
    })())
}

/// `ResetRefused` naming the breakers whose condition still holds.
pub fn reset_refused_err(py: Python<'_>, names: Vec<&'static str>) -> PyErr {
    either((|| {
        let err = ResetRefused::new_err(format!(
            "reset refused: condition still holds for {}",
            names.join(", ")
        ));
        err.value(py).setattr("reasons", names)?;
        Ok(err)
    })())
}

/// `TaError(BaconAlgoError, ValueError)`: an indicator rejected its parameters. Two bases,
/// so `except ValueError` (what `talib` users catch) still works; `create_exception!`
/// takes one base, so the class is made once with `type()`.
static TA_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn ta_error_type(py: Python<'_>) -> PyResult<Bound<'_, PyType>> {
    value_error_type(
        py,
        &TA_ERROR,
        "TaError",
        "An indicator rejected a parameter (out of range, unsupported moving-average type); \
         the message names the parameter.",
    )
}

/// A `name(BaconAlgoError, ValueError)` class, made once into `cell`.
fn value_error_type<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
    doc: &str,
) -> PyResult<Bound<'py, PyType>> {
    cell.get_or_try_init(py, || {
        let bases = PyTuple::new(
            py,
            [
                py.get_type::<BaconAlgoError>(),
                py.get_type::<PyValueError>(),
            ],
        )?;
        make_class(py, name, bases, doc)
    })
    .map(|t| t.bind(py).clone())
}

/// Maps a core indicator error to `TaError`, keeping the core's message (which names the
/// parameter).
pub fn ta_err(py: Python<'_>, e: CoreTaError) -> PyErr {
    ta_err_msg(py, e.to_string())
}

/// A `TaError` with a message of the binding's own (e.g. a negative period).
pub fn ta_err_msg(py: Python<'_>, msg: String) -> PyErr {
    match ta_error_type(py) {
        Ok(ty) => PyErr::from_type(ty, msg),
        Err(e) => e,
    }
}

/// `BacktestError(BaconAlgoError, ValueError)`: backtest inputs or parameters are unusable
/// (the message names the field and the rule).
static BACKTEST_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn backtest_error_type(py: Python<'_>) -> PyResult<Bound<'_, PyType>> {
    value_error_type(
        py,
        &BACKTEST_ERROR,
        "BacktestError",
        "Backtest inputs or parameters are unusable; the message names the field.",
    )
}

/// Maps a core backtest error to `BacktestError`.
pub fn backtest_err(py: Python<'_>, e: CoreBacktestError) -> PyErr {
    match backtest_error_type(py) {
        Ok(ty) => PyErr::from_type(ty, e.to_string()),
        Err(e) => e,
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("BaconAlgoError", py.get_type::<BaconAlgoError>())?;
    m.add("BusError", py.get_type::<BusError>())?;
    m.add("BusFull", py.get_type::<BusFull>())?;
    m.add("BusClosed", py.get_type::<BusClosed>())?;
    m.add("FeedError", py.get_type::<FeedError>())?;
    m.add("RiskError", py.get_type::<RiskError>())?;
    m.add("RiskRejected", py.get_type::<RiskRejected>())?;
    m.add("ResetRefused", py.get_type::<ResetRefused>())?;
    m.add("RiskInputError", risk_input_error_type(py)?)?;
    m.add("RiskLimitsError", risk_limits_error_type(py)?)?;
    m.add("TaError", ta_error_type(py)?)?;
    m.add("BacktestError", backtest_error_type(py)?)?;
    Ok(())
}

/// Maps a core bus error to the Python exception a caller would expect.
pub fn bus_err(e: CoreBusError) -> PyErr {
    let msg = e.to_string();
    match e {
        CoreBusError::Full => BusFull::new_err(msg),
        CoreBusError::Closed => BusClosed::new_err(msg),
        CoreBusError::InvalidCapacity(_)
        | CoreBusError::DuplicateConsumer(_)
        | CoreBusError::UnknownConsumer(_)
        | CoreBusError::UnknownHandler(_)
        | CoreBusError::BatchTooLarge { .. } => PyValueError::new_err(msg),
        CoreBusError::NotAPoller(_) => PyTypeError::new_err(msg),
        CoreBusError::ProducerTaken | CoreBusError::Spawn { .. } => BusError::new_err(msg),
    }
}
