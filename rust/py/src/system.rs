//! What the running machine offers: CPU features detected at run time.

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `{feature: present}` for every SIMD extension the kernels can use.
#[pyfunction]
fn cpu_features(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for f in baconalgo_core::cpu::cpu_features() {
        out.set_item(f.name, f.present)?;
    }
    Ok(out)
}

#[pyfunction]
fn now_ns() -> u64 {
    baconalgo_core::model::time::now_ns()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cpu_features, m)?)?;
    m.add_function(wrap_pyfunction!(now_ns, m)?)?;
    Ok(())
}
