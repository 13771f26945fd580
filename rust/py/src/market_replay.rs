//! The L2 market replay for Python: `replay_l2` runs the core's event-driven backtest over
//! book deltas and trades (`backtest::run_market`) with the `QuoteTouch` schedule against
//! the simulated venue's queue and constant latency models, with the GIL released, and
//! returns what happened as counts.

use baconalgo_core::backtest::{run_market, QuoteTouch};
use baconalgo_core::venue::{
    FeeSchedule, LatencyModel, MarketSim, QueueModel, QueueShape, SimConfig, VenueInstrument,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::book::with_events;

/// `"risk_averse"`, `"log"` or `"power:<n>"` (hftbacktest's power probability queue).
fn queue_model(name: &str) -> PyResult<QueueModel> {
    let bad = || {
        PyValueError::new_err(format!(
            "queue must be 'risk_averse', 'log' or 'power:<n>' with n > 0, got {name:?}"
        ))
    };
    match name {
        "risk_averse" => Ok(QueueModel::RiskAverse),
        "log" => Ok(QueueModel::Probabilistic(QueueShape::Log)),
        _ => {
            let n: f64 = name
                .strip_prefix("power:")
                .and_then(|n| n.parse().ok())
                .filter(|n: &f64| n.is_finite() && *n > 0.0)
                .ok_or_else(bad)?;
            Ok(QueueModel::Probabilistic(QueueShape::Power(n)))
        }
    }
}

/// Replays `events` (EVENT_DTYPE, sorted by `ts_event_ns`) through the simulated venue
/// with the `QuoteTouch` schedule; returns a dict of counts and the final position.
#[pyfunction]
#[pyo3(signature = (
    events, *, interval_ns, qty_lots, max_position_lots, queue = "risk_averse",
    order_latency_ns = 0, response_latency_ns = 0, market_data_latency_ns = 0,
    quote_per_tick_lot = 1.0, maker_bps = 0.0, taker_bps = 0.0, instrument = 0,
))]
#[allow(clippy::too_many_arguments)] // keyword-only settings of one replay
fn replay_l2<'py>(
    py: Python<'py>,
    events: &Bound<'py, PyAny>,
    interval_ns: u64,
    qty_lots: i64,
    max_position_lots: i64,
    queue: &str,
    order_latency_ns: u64,
    response_latency_ns: u64,
    market_data_latency_ns: u64,
    quote_per_tick_lot: f64,
    maker_bps: f64,
    taker_bps: f64,
    instrument: u32,
) -> PyResult<Bound<'py, PyDict>> {
    if interval_ns == 0 || qty_lots <= 0 || max_position_lots < 0 {
        return Err(PyValueError::new_err(format!(
            "interval_ns and qty_lots must be positive and max_position_lots not negative, \
             got {interval_ns}, {qty_lots}, {max_position_lots}"
        )));
    }
    let config = SimConfig {
        instrument,
        spec: VenueInstrument {
            quote_per_tick_lot,
            fees: FeeSchedule {
                maker_bps,
                taker_bps,
            },
        },
        queue: queue_model(queue)?,
        latency: LatencyModel::Constant {
            order_ns: order_latency_ns,
            response_ns: response_latency_ns,
            market_data_ns: market_data_latency_ns,
        },
    };
    let res = with_events(py, events, |ev| {
        let mut sim = MarketSim::new(config);
        let mut strategy = QuoteTouch::new(interval_ns, qty_lots, max_position_lots);
        run_market(ev, &mut sim, instrument, &mut strategy)
    })?;
    let fills = res.reports.iter().filter(|r| r.is_fill());
    let d = PyDict::new(py);
    d.set_item("events_delivered", res.events_delivered)?;
    d.set_item("reports", res.reports.len())?;
    d.set_item("fills", fills.clone().count())?;
    d.set_item("filled_lots", fills.map(|r| r.last_qty_lots).sum::<i64>())?;
    d.set_item("position_lots", res.position_lots)?;
    d.set_item("fees_quote", res.fees_quote)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(replay_l2, m)?)
}
