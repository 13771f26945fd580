//! Reads `baconalgo.risk.RiskLimits` (and the instrument specs) from any Python object
//! with the same attribute names as the core structs, naming the attribute path of a
//! missing or mistyped value. Values are then validated by the core, whose errors become
//! `RiskLimitsError` with the same path in `field`.

use baconalgo_core::risk::{
    BreakerLimits, InstrumentLimits, InstrumentSpec, RateBreaker, RiskLimits, Throttle,
    VolatilityHalt,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::names::trading_state;
use crate::errors::{limits_err, risk_err};

/// Attribute `name` of `obj`, converted; errors name `path.name`.
fn field<'py, T>(obj: &Bound<'py, PyAny>, path: &str, name: &str) -> PyResult<T>
where
    T: for<'a> FromPyObject<'a, 'py>,
    for<'a> <T as FromPyObject<'a, 'py>>::Error: Into<PyErr>,
{
    let full = if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    };
    let value = obj
        .getattr(name)
        .map_err(|_| PyTypeError::new_err(format!("risk limits: `{full}` is missing")))?;
    value.extract::<T>().map_err(|e| {
        let e: PyErr = e.into();
        PyTypeError::new_err(format!(
            "risk limits: `{full}` has the wrong type: {}",
            e.value(obj.py())
        ))
    })
}

/// Attribute `name`, or `None` when it is `None`.
fn optional<'py>(
    obj: &Bound<'py, PyAny>,
    path: &str,
    name: &str,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let v = obj.getattr(name).map_err(|_| {
        PyTypeError::new_err(format!(
            "risk limits: `{path}{}{name}` is missing",
            dot(path)
        ))
    })?;
    Ok(if v.is_none() { None } else { Some(v) })
}

fn dot(path: &str) -> &'static str {
    if path.is_empty() {
        ""
    } else {
        "."
    }
}

fn state(
    obj: &Bound<'_, PyAny>,
    path: &str,
    name: &str,
) -> PyResult<baconalgo_core::risk::TradingState> {
    let v: u8 = field(obj, path, name)?;
    trading_state(v, &format!("{path}{}{name}", dot(path)))
}

fn instrument_limits(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<InstrumentLimits> {
    Ok(InstrumentLimits {
        min_price_ticks: field(obj, path, "min_price_ticks")?,
        max_price_ticks: field(obj, path, "max_price_ticks")?,
        min_qty_lots: field(obj, path, "min_qty_lots")?,
        max_qty_lots: field(obj, path, "max_qty_lots")?,
        min_notional_quote: field(obj, path, "min_notional_quote")?,
        max_notional_quote: field(obj, path, "max_notional_quote")?,
        max_position_lots: field(obj, path, "max_position_lots")?,
        price_band_bps: field(obj, path, "price_band_bps")?,
    })
}

fn throttle(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<Throttle>> {
    optional(obj, "", name)?
        .map(|t| {
            Ok(Throttle {
                max_orders: field(&t, name, "max_orders")?,
                window_ns: field(&t, name, "window_ns")?,
            })
        })
        .transpose()
}

fn rate(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<RateBreaker>> {
    let path = format!("breakers.{name}");
    optional(obj, "breakers", name)?
        .map(|r| {
            Ok(RateBreaker {
                max_events: field(&r, &path, "max_events")?,
                window_ns: field(&r, &path, "window_ns")?,
                action: state(&r, &path, "action")?,
            })
        })
        .transpose()
}

fn breakers(obj: &Bound<'_, PyAny>) -> PyResult<BreakerLimits> {
    let p = "breakers";
    let volatility = optional(obj, p, "volatility")?
        .map(|v| {
            let vp = "breakers.volatility";
            Ok::<_, PyErr>(VolatilityHalt {
                max_move_frac: field(&v, vp, "max_move_frac")?,
                window_ns: field(&v, vp, "window_ns")?,
                action: state(&v, vp, "action")?,
            })
        })
        .transpose()?;
    Ok(BreakerLimits {
        max_drawdown_frac: field(obj, p, "max_drawdown_frac")?,
        drawdown_action: state(obj, p, "drawdown_action")?,
        max_daily_loss_quote: field(obj, p, "max_daily_loss_quote")?,
        daily_loss_action: state(obj, p, "daily_loss_action")?,
        day_start_offset_ns: field(obj, p, "day_start_offset_ns")?,
        volatility,
        reject_rate: rate(obj, "reject_rate")?,
        error_rate: rate(obj, "error_rate")?,
        stale_data_ns: field(obj, p, "stale_data_ns")?,
        stale_data_action: state(obj, p, "stale_data_action")?,
    })
}

/// Reads a `RiskLimits` object; does not validate (the engine and `validate_limits` do).
pub fn extract_limits(obj: &Bound<'_, PyAny>) -> PyResult<RiskLimits> {
    let list = obj
        .getattr("instruments")
        .map_err(|_| PyTypeError::new_err("risk limits: `instruments` is missing"))?;
    let mut instruments = Vec::new();
    for (i, item) in list
        .try_iter()
        .map_err(|_| PyTypeError::new_err("risk limits: `instruments` must be a sequence"))?
        .enumerate()
    {
        instruments.push(instrument_limits(&item?, &format!("instruments[{i}]"))?);
    }
    Ok(RiskLimits {
        instruments,
        max_gross_exposure_quote: field(obj, "", "max_gross_exposure_quote")?,
        max_net_exposure_quote: field(obj, "", "max_net_exposure_quote")?,
        max_open_orders: field(obj, "", "max_open_orders")?,
        strategy_count: field(obj, "", "strategy_count")?,
        strategy_throttle: throttle(obj, "strategy_throttle")?,
        venue_throttle: throttle(obj, "venue_throttle")?,
        max_reference_age_ns: field(obj, "", "max_reference_age_ns")?,
        self_trade_prevention: field(obj, "", "self_trade_prevention")?,
        duplicate_id_memory: field(obj, "", "duplicate_id_memory")?,
        breakers: {
            let b = obj
                .getattr("breakers")
                .map_err(|_| PyTypeError::new_err("risk limits: `breakers` is missing"))?;
            breakers(&b)?
        },
    })
}

/// Reads the instrument specs (`venue`, `quote_per_tick_lot` attributes).
pub fn extract_specs(obj: &Bound<'_, PyAny>) -> PyResult<Vec<InstrumentSpec>> {
    let py = obj.py();
    let mut out = Vec::new();
    for (i, item) in obj
        .try_iter()
        .map_err(|_| PyTypeError::new_err("instruments must be a sequence of InstrumentSpec"))?
        .enumerate()
    {
        let item = item?;
        let path = format!("instruments[{i}]");
        let venue: u8 = field(&item, &path, "venue")?;
        let q: f64 = field(&item, &path, "quote_per_tick_lot")?;
        out.push(InstrumentSpec::new(venue, q).map_err(|e| {
            let e = risk_err(py, e);
            PyErr::from_type(e.get_type(py), format!("{path}: {}", e.value(py)))
        })?);
    }
    Ok(out)
}

/// Validates limits with the core's rules; raises `RiskLimitsError` naming the field.
#[pyfunction]
fn validate_limits(py: Python<'_>, limits: &Bound<'_, PyAny>) -> PyResult<()> {
    extract_limits(limits)?
        .validate()
        .map_err(|e| limits_err(py, e))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(validate_limits, m)?)
}
