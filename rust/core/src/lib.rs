//! BaconAlgo's core: pure Rust, no Python. One module per domain; the PyO3 bindings in
//! `rust/py` only convert types, map errors and release the GIL.

pub mod bars;
pub mod book;
pub mod bus;
pub mod cpu;
pub mod feed;
pub mod model;
pub mod risk;
pub mod scan;
pub mod signal;
pub mod ta;
