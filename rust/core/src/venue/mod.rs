//! The venue: where orders meet liquidity, for backtests and paper trading alike.
//!
//! * [`engine`]: [`MatchingEngine`], the native price-time-priority book of every order on
//!   the venue (limit, market, IOC, FOK, post-only, cancel, replace, self-trade
//!   prevention, maker/taker fees);
//! * [`sim`]: [`MarketSim`], our orders against an *external* market (recorded or live L2
//!   book and trades): fills driven by market data with a queue-position model and
//!   latencies for orders in and market data out;
//! * [`latency`] and [`queue`]: those two models;
//! * [`report`]: [`ExecReport`] and its conversion to the common [`Event`](crate::model::Event).
//!
//! Orders are the shared [`OrderRequest`](crate::model::OrderRequest) plus a
//! [`TimeInForce`](crate::model::TimeInForce).

pub mod engine;
pub mod latency;
pub mod queue;
pub mod report;
pub mod sim;

pub use engine::{
    EngineConfig, EngineConfigError, FeeSchedule, MatchingEngine, OrderView, StpMode,
    VenueInstrument,
};
pub use latency::LatencyModel;
pub use queue::{QueueModel, QueueShape};
pub use report::{decode_exec_event, ExecKind, ExecReport, Liquidity, VenueReason};
pub use sim::{MarketSim, SimConfig};
