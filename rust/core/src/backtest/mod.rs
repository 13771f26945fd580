//! Backtests: the vectorized portfolio simulation (vectorbt `from_signals` semantics, many
//! columns in parallel), the event-driven loop that runs a [`Strategy`] against the
//! venue's matching engine, and the performance [`metrics`].
//!
//! * [`vectorized`]: [`simulate`] (signals), [`simulate_targets`] (target positions),
//!   [`simulate_many`], [`ema_cross_sweep`], trades;
//! * [`event`]: [`run_bars`], the [`Strategy`] trait, the [`EmaCross`] example;
//! * [`market`]: [`run_market`], a [`MarketStrategy`] over L2 deltas and trades against
//!   the venue's [`MarketSim`](crate::venue::MarketSim) with latencies;
//! * [`paper`]: [`PaperSim`], a strategy account on live market data against the
//!   [`MarketSim`](crate::venue::MarketSim), with the risk engine in front;
//! * [`metrics`]: total return, CAGR, Sharpe, Sortino, drawdown, Calmar, trade statistics.

pub mod event;
pub mod market;
pub mod metrics;
pub mod orders;
pub mod paper;
pub mod vectorized;

pub use event::{
    run_bars, Bar, BarConfig, BarFill, BarResult, BarSim, Context, EmaCross, OrderRecord,
    SimReport, Strategy,
};
pub use market::{run_market, MarketContext, MarketResult, MarketStrategy, QuoteTouch};
pub use metrics::{compute as compute_metrics, Metrics};
pub use paper::{due, Due, LastTrade, PaperConfig, PaperCounters, PaperSim, Top};
pub use vectorized::{
    cross_signals, ema_cross_sweep, exit_trades, simulate, simulate_many, simulate_summary,
    simulate_targets, BacktestError, Column, Direction, Order, Portfolio, PortfolioConfig, Size,
    Summary, Trade,
};
