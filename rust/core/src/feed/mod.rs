//! Exchange message decoders (Binance, OKX, Kraken, Coinbase Advanced Trade): raw bytes
//! from a venue in, normalized [`Event`]s out, with
//! prices and quantities parsed straight from the wire's decimal strings into the
//! instrument's ticks and lots (see [`crate::model::fixed`]).
//!
//! A decoder never panics on what a venue sends: every malformed, mistyped or unexpected
//! message becomes a [`FeedError`] that names the venue and the reason, and is counted in
//! [`DecodeCounters`].
//!
//! [`Event`]: crate::model::Event

pub mod binance;
pub mod coinbase;
pub mod kraken;
pub mod okx;
mod scan;
mod wire;

use thiserror::Error;

use crate::model::FixedError;

pub use binance::{BinanceDecoder, BinanceMarket};
pub use coinbase::{CoinbaseDecoder, SequenceGap};
pub use kraken::KrakenDecoder;
pub use okx::OkxDecoder;
pub use scan::lines;

/// Why a message was rejected. `venue` is the decoder's venue name (`binance-spot`, ...).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FeedError {
    /// Not JSON, or cut short.
    #[error("{venue}: malformed JSON: {detail}")]
    MalformedJson { venue: &'static str, detail: String },
    /// Valid JSON without the expected shape: a field missing or of the wrong type.
    #[error("{venue}: missing or mistyped field: {detail}")]
    BadField { venue: &'static str, detail: String },
    /// A quantity below zero.
    #[error("{venue}: negative quantity in `{field}`: {value:?}")]
    NegativeQuantity {
        venue: &'static str,
        field: &'static str,
        value: String,
    },
    /// A price or quantity that is not a decimal on the instrument's grid.
    #[error("{venue}: bad decimal in `{field}` ({value:?}): {source}")]
    BadDecimal {
        venue: &'static str,
        field: &'static str,
        value: String,
        source: FixedError,
    },
    /// A symbol missing from the instrument table.
    #[error("{venue}: unknown symbol {symbol:?}")]
    UnknownSymbol { venue: &'static str, symbol: String },
    /// A message kind this decoder does not handle (or a venue error reply).
    #[error("{venue}: unsupported message: {detail}")]
    Unsupported { venue: &'static str, detail: String },
}

/// What kind of message was decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    Trade,
    AggTrade,
    BookTicker,
    DepthDiff,
    DepthSnapshot,
    Kline,
    /// A subscription reply or other control message: no events.
    Control,
    /// A venue's error reply to a request (OKX `"event":"error"`, Kraken subscription
    /// errors, Coinbase `"type":"error"`): no events; the caller decides what to retry.
    VenueError,
}

/// The result of decoding one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    pub kind: MessageKind,
    /// Number of events appended to the output.
    pub events: usize,
}

impl Decoded {
    /// A message that carries no events (a reply, a heartbeat, a venue error).
    pub fn control(kind: MessageKind) -> Decoded {
        Decoded { kind, events: 0 }
    }
}

/// Messages decoded and rejected, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeCounters {
    pub decoded: u64,
    pub control: u64,
    /// Venue error replies (decoded, no events).
    pub venue_errors: u64,
    pub malformed_json: u64,
    pub bad_field: u64,
    pub negative_quantity: u64,
    pub bad_decimal: u64,
    pub unknown_symbol: u64,
    pub unsupported: u64,
}

impl DecodeCounters {
    /// Total messages rejected for any reason.
    pub fn rejected(&self) -> u64 {
        self.malformed_json
            + self.bad_field
            + self.negative_quantity
            + self.bad_decimal
            + self.unknown_symbol
            + self.unsupported
    }

    pub fn record(&mut self, result: &Result<Decoded, FeedError>) {
        match result {
            Ok(d) if d.kind == MessageKind::Control => self.control += 1,
            Ok(d) if d.kind == MessageKind::VenueError => self.venue_errors += 1,
            Ok(_) => self.decoded += 1,
            Err(FeedError::MalformedJson { .. }) => self.malformed_json += 1,
            Err(FeedError::BadField { .. }) => self.bad_field += 1,
            Err(FeedError::NegativeQuantity { .. }) => self.negative_quantity += 1,
            Err(FeedError::BadDecimal { .. }) => self.bad_decimal += 1,
            Err(FeedError::UnknownSymbol { .. }) => self.unknown_symbol += 1,
            Err(FeedError::Unsupported { .. }) => self.unsupported += 1,
        }
    }
}
