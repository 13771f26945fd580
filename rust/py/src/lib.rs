//! PyO3 bindings of `baconalgo-core`: type conversion, error mapping and GIL release only.
//! Logic belongs in the core crate.

use pyo3::prelude::*;

mod backtest;
mod bars;
mod book;
mod bus;
mod errors;
mod event;
mod feed;
mod risk;
mod scan;
mod signal;
mod system;
mod ta;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    event::register(m)?;
    system::register(m)?;
    scan::register(m)?;
    signal::register(m)?;
    bus::register(m)?;
    bars::register(m)?;
    feed::register(m)?;
    ta::register(m)?;
    book::register(m)?;
    risk::register(m)?;
    backtest::register(m)?;
    Ok(())
}
