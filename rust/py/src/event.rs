//! The common event as a numpy structured dtype, so batches cross as one memcpy.

use baconalgo_core::model::{Event, EventKind, EVENT_FIELDS, EVENT_SIZE};
use numpy::{Element, PyArrayDescr};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};

/// `Event` seen by numpy. `repr(transparent)`, so slices of the two are the same memory.
#[repr(transparent)]
#[derive(Clone, Copy, Default)]
pub struct PyEvent(pub Event);

static DTYPE: PyOnceLock<Py<PyArrayDescr>> = PyOnceLock::new();

fn build_dtype(py: Python<'_>) -> PyResult<Bound<'_, PyArrayDescr>> {
    let spec = PyDict::new(py);
    spec.set_item("names", PyList::new(py, EVENT_FIELDS.iter().map(|f| f.0))?)?;
    spec.set_item(
        "formats",
        PyList::new(py, EVENT_FIELDS.iter().map(|f| f.1))?,
    )?;
    spec.set_item(
        "offsets",
        PyList::new(py, EVENT_FIELDS.iter().map(|f| f.2))?,
    )?;
    spec.set_item("itemsize", EVENT_SIZE)?;
    spec.set_item("aligned", true)?;
    PyArrayDescr::new(py, &spec)
}

pub fn event_dtype(py: Python<'_>) -> PyResult<Bound<'_, PyArrayDescr>> {
    DTYPE
        .get_or_try_init(py, || build_dtype(py).map(Bound::unbind))
        .map(|d| d.bind(py).clone())
}

// SAFETY: PyEvent is plain old data (integers only, no pointers); its dtype describes
// exactly its `repr(C)` layout, checked by the core's layout test and by the Python tests.
unsafe impl Element for PyEvent {
    const IS_COPY: bool = true;

    fn get_dtype(py: Python<'_>) -> Bound<'_, PyArrayDescr> {
        // Building a dtype from a fixed, valid spec cannot fail short of numpy itself
        // being broken, in which case the import of this module already failed.
        event_dtype(py).expect("numpy rejected the event dtype spec")
    }

    fn clone_ref(&self, _py: Python<'_>) -> Self {
        *self
    }
}

pub fn as_events(slice: &[PyEvent]) -> &[Event] {
    // SAFETY: `PyEvent` is `repr(transparent)` over `Event`.
    unsafe { std::slice::from_raw_parts(slice.as_ptr().cast::<Event>(), slice.len()) }
}

pub fn as_events_mut(slice: &mut [PyEvent]) -> &mut [Event] {
    // SAFETY: `PyEvent` is `repr(transparent)` over `Event`.
    unsafe { std::slice::from_raw_parts_mut(slice.as_mut_ptr().cast::<Event>(), slice.len()) }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("EVENT_DTYPE", event_dtype(py)?)?;
    let kinds = PyDict::new(py);
    for k in EventKind::ALL {
        kinds.set_item(k.name(), k as u8)?;
    }
    m.add("EVENT_KINDS", kinds)?;
    Ok(())
}
