//! Python exception classes for the core's error enums, re-exported by `baconalgo.errors`.

use baconalgo_core::bus::BusError as CoreBusError;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;

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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("BaconAlgoError", py.get_type::<BaconAlgoError>())?;
    m.add("BusError", py.get_type::<BusError>())?;
    m.add("BusFull", py.get_type::<BusFull>())?;
    m.add("BusClosed", py.get_type::<BusClosed>())?;
    m.add("FeedError", py.get_type::<FeedError>())?;
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
