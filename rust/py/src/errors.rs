//! Python exception classes for the core's error enums, re-exported by `baconalgo.errors`.

use baconalgo_core::bus::BusError as CoreBusError;
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

/// `TaError(BaconAlgoError, ValueError)`: an indicator rejected its parameters. Two bases,
/// so `except ValueError` (what `talib` users catch) still works; `create_exception!`
/// takes one base, so the class is made once with `type()`.
static TA_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn ta_error_type(py: Python<'_>) -> PyResult<Bound<'_, PyType>> {
    TA_ERROR
        .get_or_try_init(py, || {
            let bases = PyTuple::new(
                py,
                [
                    py.get_type::<BaconAlgoError>(),
                    py.get_type::<PyValueError>(),
                ],
            )?;
            let namespace = PyDict::new(py);
            namespace.set_item("__module__", "baconalgo.errors")?;
            namespace.set_item(
                "__doc__",
                "An indicator rejected a parameter (out of range, unsupported moving-average \
                 type); the message names the parameter.",
            )?;
            let ty = py
                .get_type::<PyType>()
                .call1(("TaError", bases, namespace))?
                .cast_into::<PyType>()?;
            Ok::<_, PyErr>(ty.unbind())
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("BaconAlgoError", py.get_type::<BaconAlgoError>())?;
    m.add("BusError", py.get_type::<BusError>())?;
    m.add("BusFull", py.get_type::<BusFull>())?;
    m.add("BusClosed", py.get_type::<BusClosed>())?;
    m.add("FeedError", py.get_type::<FeedError>())?;
    m.add("TaError", ta_error_type(py)?)?;
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
