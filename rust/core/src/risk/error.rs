//! The risk domain's error type for everything except a pre-trade rejection (which is a
//! [`RejectReason`](super::RejectReason)): bad lifecycle calls, bad inputs, bad config.

use super::limits::LimitsError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RiskError {
    #[error("instrument {0} is not in the engine's table")]
    UnknownInstrument(u32),
    #[error("client order id {0} is not a working order")]
    UnknownOrder(u64),
    #[error("client order id {0} is already working")]
    DuplicateOrder(u64),
    #[error("`{field}` must be finite, got {value}")]
    NonFinite { field: &'static str, value: f64 },
    #[error("`{field}` = {value} is out of range: {rule}")]
    OutOfRange {
        field: &'static str,
        value: String,
        rule: &'static str,
    },
    #[error("`{field}` is empty or too short: at least {min} values needed")]
    TooShort { field: &'static str, min: usize },
    #[error("`{field}` has length {len}, expected {expected}")]
    LengthMismatch {
        field: &'static str,
        len: usize,
        expected: usize,
    },
    #[error("`{0}` is not positive definite")]
    NotPositiveDefinite(&'static str),
    #[error(transparent)]
    Limits(#[from] LimitsError),
}

/// `Ok(v)` when `v` is finite, else a [`RiskError::NonFinite`] naming `field`.
pub(crate) fn finite(field: &'static str, v: f64) -> Result<f64, RiskError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(RiskError::NonFinite { field, value: v })
    }
}

/// `Ok(())` when every value is finite, else the first offender.
pub(crate) fn all_finite(field: &'static str, v: &[f64]) -> Result<(), RiskError> {
    match v.iter().find(|x| !x.is_finite()) {
        Some(&x) => Err(RiskError::NonFinite { field, value: x }),
        None => Ok(()),
    }
}

pub(crate) fn out_of_range(
    field: &'static str,
    value: impl ToString,
    rule: &'static str,
) -> RiskError {
    RiskError::OutOfRange {
        field,
        value: value.to_string(),
        rule,
    }
}
