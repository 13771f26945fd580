//! Helpers the OKX, Kraken and Coinbase decoders share: JSON parsing with the error mapping
//! of [`FeedError`], decimal fields into ticks and lots, borrowed string arrays, and text
//! timestamps. (The Binance decoder predates this module and keeps its own copies.)

use std::fmt;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::model::{Event, FixedError, Instrument, InstrumentTable, Step};

use super::FeedError;

/// Parses JSON, telling a wrong shape (`BadField`) from broken JSON (`MalformedJson`).
pub(crate) fn parse<'a, T: Deserialize<'a>>(
    venue: &'static str,
    bytes: &'a [u8],
) -> Result<T, FeedError> {
    serde_json::from_slice(bytes).map_err(|e| json_error(venue, &e))
}

/// Parses a JSON fragment taken out of a message.
pub(crate) fn parse_str<'a, T: Deserialize<'a>>(
    venue: &'static str,
    text: &'a str,
) -> Result<T, FeedError> {
    serde_json::from_str(text).map_err(|e| json_error(venue, &e))
}

fn json_error(venue: &'static str, e: &serde_json::Error) -> FeedError {
    match e.classify() {
        serde_json::error::Category::Data => FeedError::BadField {
            venue,
            detail: e.to_string(),
        },
        _ => FeedError::MalformedJson {
            venue,
            detail: e.to_string(),
        },
    }
}

pub(crate) fn bad_field(venue: &'static str, detail: impl Into<String>) -> FeedError {
    FeedError::BadField {
        venue,
        detail: detail.into(),
    }
}

pub(crate) fn unsupported(venue: &'static str, detail: impl Into<String>) -> FeedError {
    FeedError::Unsupported {
        venue,
        detail: detail.into(),
    }
}

fn decimal_error(venue: &'static str, field: &'static str, text: &str, e: FixedError) -> FeedError {
    let value = text.to_owned();
    match e {
        FixedError::Negative => FeedError::NegativeQuantity {
            venue,
            field,
            value,
        },
        source => FeedError::BadDecimal {
            venue,
            field,
            value,
            source,
        },
    }
}

pub(crate) fn price(
    venue: &'static str,
    inst: &Instrument,
    field: &'static str,
    text: &str,
) -> Result<i64, FeedError> {
    inst.price_ticks(text)
        .map_err(|e| decimal_error(venue, field, text, e))
}

pub(crate) fn qty(
    venue: &'static str,
    inst: &Instrument,
    field: &'static str,
    text: &str,
) -> Result<i64, FeedError> {
    inst.qty_lots(text)
        .map_err(|e| decimal_error(venue, field, text, e))
}

/// The instrument of `symbol` on `venue`.
pub(crate) fn instrument<'t>(
    name: &'static str,
    table: &'t InstrumentTable,
    venue: u8,
    symbol: &str,
) -> Result<(u32, &'t Instrument), FeedError> {
    table
        .index_of(venue, symbol)
        .and_then(|i| Some((i, table.get(i)?)))
        .ok_or_else(|| FeedError::UnknownSymbol {
            venue: name,
            symbol: symbol.to_owned(),
        })
}

/// Milliseconds since the epoch written as a decimal string (OKX `ts`), in nanoseconds.
pub(crate) fn ms_text_to_ns(
    venue: &'static str,
    field: &'static str,
    text: &str,
) -> Result<u64, FeedError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_field(
            venue,
            format!("`{field}` is not a ms timestamp: {text:?}"),
        ));
    }
    text.parse::<u64>()
        .ok()
        .and_then(|ms| ms.checked_mul(1_000_000))
        .ok_or_else(|| bad_field(venue, format!("`{field}` out of range: {text:?}")))
}

/// Seconds since the epoch with a decimal fraction (Kraken v1 `"1618678133.365913"`), in
/// nanoseconds, by digit arithmetic.
pub(crate) fn secs_text_to_ns(
    venue: &'static str,
    field: &'static str,
    text: &str,
) -> Result<u64, FeedError> {
    // A nanosecond grid: finer digits would be off-grid, so cut them first.
    let cut = match text.split_once('.') {
        Some((_, frac)) if frac.len() > 9 => &text[..text.len() - (frac.len() - 9)],
        _ => text,
    };
    let ns = Step::new(1, 9)
        .and_then(|s| s.to_steps_unsigned(cut))
        .map_err(|e| {
            bad_field(
                venue,
                format!("`{field}` is not a time in seconds ({text:?}): {e}"),
            )
        })?;
    u64::try_from(ns).map_err(|_| bad_field(venue, format!("`{field}` out of range: {text:?}")))
}

/// An RFC 3339 timestamp in nanoseconds.
pub(crate) fn rfc3339_to_ns(
    venue: &'static str,
    field: &'static str,
    text: &str,
) -> Result<u64, FeedError> {
    crate::model::time::parse_rfc3339_ns(text).ok_or_else(|| {
        bad_field(
            venue,
            format!("`{field}` is not an RFC 3339 UTC time: {text:?}"),
        )
    })
}

/// A JSON array of 1 to [`StrFields::MAX`] strings, borrowed from the input without
/// allocating (`["30238.8","2","0","1"]`, `["354.15","5.0","1618678133.365913","r"]`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StrFields<'a> {
    fields: [&'a str; StrFields::MAX],
    len: usize,
}

impl<'a> StrFields<'a> {
    pub(crate) const MAX: usize = 8;

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, i: usize) -> Option<&'a str> {
        (i < self.len).then(|| self.fields[i])
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for StrFields<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = StrFields<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "an array of 1 to {} strings", StrFields::MAX)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = StrFields {
                    fields: [""; StrFields::MAX],
                    len: 0,
                };
                while let Some(s) = seq.next_element::<&'de str>()? {
                    if out.len == StrFields::MAX {
                        return Err(serde::de::Error::invalid_length(out.len + 1, &self));
                    }
                    out.fields[out.len] = s;
                    out.len += 1;
                }
                if out.len == 0 {
                    return Err(serde::de::Error::invalid_length(0, &self));
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// Stamps the receive time on a successful message's events, or removes a failed
/// message's partial output, so that an error never leaves anything behind.
pub(crate) fn finish(
    result: Result<super::Decoded, FeedError>,
    counters: &mut super::DecodeCounters,
    ts_recv_ns: u64,
    start: usize,
    out: &mut Vec<Event>,
) -> Result<super::Decoded, FeedError> {
    match &result {
        Ok(_) => out[start..]
            .iter_mut()
            .for_each(|e| e.ts_recv_ns = ts_recv_ns),
        Err(_) => out.truncate(start),
    }
    counters.record(&result);
    result
}

/// Flags the last event of a batch.
pub(crate) fn mark_last(out: &mut [Event]) {
    if let Some(last) = out.last_mut() {
        last.flags |= crate::model::flags::LAST_IN_BATCH;
    }
}
