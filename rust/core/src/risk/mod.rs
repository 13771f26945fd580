//! Risk: pre-trade order checks, the trading state and circuit breakers, positions and
//! PnL, VaR/ES with backtests, and Kelly sizing.
//!
//! * [`order`]: [`OrderRequest`], [`Fill`] and the stable [`RejectReason`] codes;
//! * [`limits`]: [`RiskLimits`] and its validation;
//! * [`engine`]: [`RiskEngine`], the allocation-free `check` and the lifecycle hooks;
//! * [`position`]: average price, realized/unrealized PnL, fees, exposure;
//! * [`breaker`] and [`state`]: ACTIVE / REDUCING / HALTED, breakers, kill switch, the
//!   `RiskState` events;
//! * [`var`] and [`kelly`]: statistics on return series, independent of the engine;
//! * [`stats`]: the special functions and the seeded generator they use.
//!
//! Everything takes plain structs and slices and returns `Result`s, so the Python bindings
//! only convert.

pub mod breaker;
pub mod engine;
pub mod error;
pub mod kelly;
pub mod limits;
pub mod order;
pub mod position;
pub mod state;
pub mod stats;
pub mod var;
mod window;

pub use breaker::{Breakers, ResetRefused};
pub use engine::{InstrumentSpec, RiskEngine, WorkingOrder};
pub use error::RiskError;
pub use limits::{
    BreakerLimits, InstrumentLimits, LimitsError, RateBreaker, RiskLimits, Throttle, VolatilityHalt,
};
pub use order::{Fill, OrderRequest, OrderType, RejectReason};
pub use position::{PnlSummary, Position, PositionBook};
pub use state::{StateChange, StateReason, TradingState};
pub use var::{LrTest, VarEs};
pub use window::TimeWindow;
