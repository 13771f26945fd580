//! `baconalgo._core` backtest bindings: the vectorized simulation and sweep over numpy
//! arrays, metrics, and `BarBroker`, the bar simulation a Python strategy drives (the
//! loop calls the strategy per bar), and `PaperBroker`, the paper-trading account a
//! Python strategy drives from live bus events. Conversion, error mapping and the Python calls
//! only; the logic is `baconalgo_core::backtest`.

use pyo3::prelude::*;

mod broker;
mod paper;
mod vectorized;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    vectorized::register(m)?;
    broker::register(m)?;
    paper::register(m)
}
