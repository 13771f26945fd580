//! The indicator domain's error type. Every public kernel returns `Result<_, TaError>`;
//! nothing a caller passes in can make an indicator panic.

/// Why an indicator call was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TaError {
    /// A period (or other integer parameter) outside TA-Lib's accepted range.
    #[error("parameter `{name}` = {value} is out of range [{min}, {max}]")]
    BadPeriod {
        name: &'static str,
        value: usize,
        min: usize,
        max: usize,
    },
    /// Two inputs (or an input and an output) that must have the same length do not.
    #[error("`{name}` has length {len}, expected {expected}")]
    LengthMismatch {
        name: &'static str,
        len: usize,
        expected: usize,
    },
    /// No TA-Lib moving-average type has this code.
    #[error("moving-average type {0} is not supported (supported: 0 SMA, 1 EMA, 2 WMA, 3 DEMA, 4 TEMA, 5 TRIMA, 6 KAMA, 7 MAMA, 8 T3)")]
    UnsupportedMaType(u32),
    /// A real-valued parameter outside TA-Lib's accepted range.
    #[error("parameter `{name}` = {value} is out of range {range}")]
    BadParameter {
        name: &'static str,
        value: f64,
        range: &'static str,
    },
    /// A 2-D call whose buffer length is not a whole number of columns.
    #[error("matrix `{name}` has {len} elements, not a multiple of n_rows = {n_rows}")]
    BadShape {
        name: &'static str,
        len: usize,
        n_rows: usize,
    },
}
