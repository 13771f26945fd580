//! Bars from trades (and time bars from quotes, [`build_quote_bars`]): time bars (1 s to 1 day, or any interval), tick, volume and dollar
//! bars, and resampling of bars to higher timeframes. One builder serves both the batch
//! functions and live use (`update` per trade, a closed bar out when one completes), so the
//! two cannot disagree.
//!
//! Time bars follow the convention of polars' `group_by_dynamic(every, closed="left",
//! label="left")`: a trade at `ts` belongs to the window starting at
//! `offset + floor((ts - offset) / every) * every`, and windows without trades produce no
//! bar. Tick, volume and dollar bars close on the trade that reaches the threshold, that
//! trade included.

mod builder;
mod quotes;

pub use builder::{
    build_bars, resample_bars, BarBuilder, BarSource, BarSpec, BarsError, InstrumentBars,
};
pub use quotes::{build_quote_bars, QuotePrice};
