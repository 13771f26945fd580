//! Snake-case names of the reject reasons, state reasons and trading states, and the
//! tables Python checks its enums against.

use baconalgo_core::risk::{RejectReason, StateReason, TradingState};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `PositionLimit` -> `position_limit`.
pub(crate) fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

pub fn reject_name(r: RejectReason) -> String {
    snake(r.name())
}

pub fn state_reason_name(r: StateReason) -> &'static str {
    match r {
        StateReason::Manual => "manual",
        StateReason::Reset => "reset",
        StateReason::KillSwitch => "kill_switch",
        StateReason::Drawdown => "drawdown",
        StateReason::DailyLoss => "daily_loss",
        StateReason::Volatility => "volatility",
        StateReason::RejectRate => "reject_rate",
        StateReason::ErrorRate => "error_rate",
        StateReason::StaleData => "stale_data",
    }
}

pub fn trading_state(value: u8, what: &str) -> PyResult<TradingState> {
    TradingState::from_u8(value).ok_or_else(|| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "{what} must be 0 (active), 1 (reducing) or 2 (halted), got {value}"
        ))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let reasons = PyDict::new(py);
    for r in RejectReason::ALL {
        reasons.set_item(reject_name(*r), r.code())?;
    }
    m.add("REJECT_REASONS", reasons)?;
    let states = PyDict::new(py);
    for r in StateReason::ALL {
        states.set_item(state_reason_name(r), r.code())?;
    }
    m.add("STATE_REASONS", states)?;
    let trading = PyDict::new(py);
    for s in [
        TradingState::Active,
        TradingState::Reducing,
        TradingState::Halted,
    ] {
        trading.set_item(s.name(), s as u8)?;
    }
    m.add("TRADING_STATES", trading)?;
    Ok(())
}
