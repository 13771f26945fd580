//! `baconalgo._core` risk bindings: the pre-trade engine (`RiskEngine`, `Order`,
//! `CheckResult`), limits read from the Python dataclasses of `baconalgo.risk`, and the
//! VaR/ES, backtest and Kelly functions over numpy arrays. Conversion and error mapping
//! only; the logic is `baconalgo_core::risk`.

use pyo3::prelude::*;

mod engine;
pub(crate) mod limits;
pub(crate) mod names;
mod stats;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    names::register(m)?;
    limits::register(m)?;
    engine::register(m)?;
    stats::register(m)
}
