//! Signals: rules over streaming indicators on several timeframes at once, fused into one
//! signal by all / any / votes / weights, evaluated in Rust as trades arrive.
//!
//! Each rule compares an indicator on a timeframe with another or with a constant, e.g.
//! `RSI(14) on 5 m < 30` and `close on 1 h > EMA(200) on 1 h`. Trades build one time bar
//! per timeframe ([`crate::bars`]); when bars close, the indicators of their timeframe take
//! the bar, then every rule is evaluated on the latest values (NaN compares false). The
//! signal fires on the evaluation where the fused condition becomes true (a rising edge),
//! as a run of events (see [`SignalEngine::on_trade`]).
//!
//! Bars can feed it too ([`SignalEngine::on_bar`], for bar backtests): bars of the data's
//! timeframe build the rule timeframes that are whole multiples of it. [`SignalSet`] is the
//! signals of one runner (a bar backtest, a paper session) fed the same input.

mod engine;

pub use engine::{
    Fusion, Op, Operand, Rule, Series, SignalEngine, SignalError, SignalSet, SignalSpec, Source,
    SUMMARY_AUX,
};
