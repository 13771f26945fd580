//! Binance spot and USD-M futures market-data decoder (JSON websocket streams and the REST
//! depth snapshot).
//!
//! Decimal fields are borrowed as `&str` straight out of the input buffer and parsed by
//! [`crate::model::fixed`], so no price ever passes through a float.
//!
//! How each message maps onto [`Event`]s (times are converted from ms to ns; every message
//! is one batch, its last event flagged [`flags::LAST_IN_BATCH`]):
//!
//! | message | events | `seq` | `aux` | `id` | other |
//! |---|---|---|---|---|---|
//! | `trade` | 1 `Trade` | `t` | 0 | `t` | `side` = aggressor (`m` true: buyer is maker, so Sell); `ts_event_ns` = `T` |
//! | `aggTrade` | 1 `Trade` | `l` (last trade id) | `f` (first trade id) | `a` | as `trade` |
//! | `bookTicker` | 2 `Quote`: bid (Buy), ask (Sell) | `u` | 0 | 0 | `ts_event_ns` = `T`/`E` on futures; spot sends no time, so the receive time |
//! | `depthUpdate` (diff) | 1 `BookDelta` per level, bids then asks | `u` | `U` | `pu` (futures; 0 on spot) | `ts_event_ns` = `T` if sent (futures) else `E`; an empty diff yields one `BookDelta` with `side` None so its ids still reach the synchroniser |
//! | partial depth / REST snapshot | `BookSnapshotBegin`, 1 `BookDelta` per level flagged `SNAPSHOT`, `BookSnapshotEnd` | `lastUpdateId` (futures `depthN` streams: `u`) | 0 | 0 | |
//! | `kline` | 4 `Bar`: open, high, low, close | bar close time (ns) | 0, 1, 2, 3 = open, high, low, close | trade count `n` | `ts_event_ns` = bar open time; `qty_lots` = base volume `v`; [`flags::FINAL`] once the bar is closed (`x`) |
//!
//! `aux` and `id` are bit-cast between `i64`/`u64`, so update ids survive the round trip
//! through [`crate::book::DiffIds::from_event`] exactly.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{flags, Bar, Event, EventKind, FixedError, Instrument, InstrumentTable, Side};

use super::{scan, DecodeCounters, Decoded, FeedError, MessageKind};

/// Which Binance market a decoder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinanceMarket {
    Spot,
    /// USDⓈ-M futures: depth diffs carry `pu`, and most messages carry `T`.
    UsdM,
}

impl BinanceMarket {
    pub fn venue_name(self) -> &'static str {
        match self {
            BinanceMarket::Spot => "binance-spot",
            BinanceMarket::UsdM => "binance-usdm",
        }
    }
}

// ---- wire shapes -------------------------------------------------------------------

#[derive(Deserialize)]
struct Combined<'a> {
    stream: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Just enough of an unwrapped message to tell what it is.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    stream: Option<&'a str>,
    #[serde(borrow, default)]
    e: Option<&'a str>,
    #[serde(rename = "lastUpdateId", default)]
    last_update_id: Option<u64>,
    #[serde(default)]
    u: Option<u64>,
    /// Present (even as `null`) in subscription replies.
    #[serde(default, deserialize_with = "present")]
    result: bool,
    /// Present in venue error replies.
    #[serde(default, deserialize_with = "present")]
    code: bool,
}

/// Marks a field as present whatever its value, `null` included.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

#[derive(Deserialize)]
struct TradeMsg<'a> {
    s: &'a str,
    t: u64,
    p: &'a str,
    q: &'a str,
    #[serde(rename = "T")]
    trade_time_ms: u64,
    m: bool,
}

#[derive(Deserialize)]
struct AggTradeMsg<'a> {
    s: &'a str,
    a: u64,
    p: &'a str,
    q: &'a str,
    f: u64,
    l: u64,
    #[serde(rename = "T")]
    trade_time_ms: u64,
    m: bool,
}

#[derive(Deserialize)]
struct BookTickerMsg<'a> {
    u: u64,
    s: &'a str,
    b: &'a str,
    #[serde(rename = "B")]
    bid_qty: &'a str,
    a: &'a str,
    #[serde(rename = "A")]
    ask_qty: &'a str,
    #[serde(rename = "E", default)]
    event_time_ms: Option<u64>,
    #[serde(rename = "T", default)]
    transact_time_ms: Option<u64>,
}

type Levels<'a> = Vec<[&'a str; 2]>;

#[derive(Deserialize)]
struct DepthUpdateMsg<'a> {
    #[serde(rename = "E")]
    event_time_ms: u64,
    #[serde(rename = "T", default)]
    transact_time_ms: Option<u64>,
    s: &'a str,
    #[serde(rename = "U")]
    first_update_id: u64,
    u: u64,
    #[serde(default)]
    pu: Option<u64>,
    #[serde(borrow)]
    b: Levels<'a>,
    #[serde(borrow)]
    a: Levels<'a>,
}

#[derive(Deserialize)]
struct DepthSnapshotMsg<'a> {
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
    #[serde(rename = "E", default)]
    event_time_ms: Option<u64>,
    #[serde(rename = "T", default)]
    transact_time_ms: Option<u64>,
    #[serde(borrow)]
    bids: Levels<'a>,
    #[serde(borrow)]
    asks: Levels<'a>,
}

#[derive(Deserialize)]
struct KlineMsg<'a> {
    s: &'a str,
    #[serde(borrow)]
    k: KlineBody<'a>,
}

#[derive(Deserialize)]
struct KlineBody<'a> {
    #[serde(rename = "t")]
    open_time_ms: u64,
    #[serde(rename = "T")]
    close_time_ms: u64,
    o: &'a str,
    h: &'a str,
    l: &'a str,
    c: &'a str,
    v: &'a str,
    n: u64,
    x: bool,
}

/// What a combined-stream name says about its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamKind {
    Trade,
    AggTrade,
    BookTicker,
    DepthDiff,
    PartialDepth,
    Kline,
    Other,
}

fn stream_kind(stream: &str) -> (&str, StreamKind) {
    let (symbol, rest) = stream.split_once('@').unwrap_or((stream, ""));
    let channel = rest.split('@').next().unwrap_or("");
    let kind = match channel {
        "trade" => StreamKind::Trade,
        "aggTrade" => StreamKind::AggTrade,
        "bookTicker" => StreamKind::BookTicker,
        "depth" => StreamKind::DepthDiff,
        c if c.starts_with("kline_") => StreamKind::Kline,
        c if c.len() > 5
            && c.starts_with("depth")
            && c[5..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            StreamKind::PartialDepth
        }
        _ => StreamKind::Other,
    };
    (symbol, kind)
}

#[inline]
fn ms_to_ns(ms: u64) -> u64 {
    ms.saturating_mul(1_000_000)
}

// ---- decoder -----------------------------------------------------------------------

/// Decodes Binance JSON messages of one market into events.
#[derive(Debug, Clone)]
pub struct BinanceDecoder {
    market: BinanceMarket,
    venue: u8,
    instruments: Arc<InstrumentTable>,
    counters: DecodeCounters,
}

impl BinanceDecoder {
    /// A decoder for `market`, stamping `venue` on its events and resolving symbols among
    /// the instruments of that venue in `instruments`.
    pub fn new(market: BinanceMarket, venue: u8, instruments: Arc<InstrumentTable>) -> Self {
        BinanceDecoder {
            market,
            venue,
            instruments,
            counters: DecodeCounters::default(),
        }
    }

    pub fn market(&self) -> BinanceMarket {
        self.market
    }

    pub fn counters(&self) -> &DecodeCounters {
        &self.counters
    }

    pub fn instruments(&self) -> &Arc<InstrumentTable> {
        &self.instruments
    }

    /// Decodes one websocket message (raw or combined-stream wrapped) and appends its
    /// events to `out`. On error nothing is appended.
    pub fn decode(
        &mut self,
        bytes: &[u8],
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let start = out.len();
        let result = match self.decode_fast(bytes, ts_recv_ns, out) {
            Some(d) => Ok(d),
            None => self.decode_message(bytes, ts_recv_ns, out),
        };
        self.finish(result, ts_recv_ns, start, out)
    }

    /// [`decode`](Self::decode) on the general serde path alone, skipping the fast
    /// scanner: the reference the fast path is checked against (tests, fuzzing). Same
    /// events, errors and counters.
    pub fn decode_reference(
        &mut self,
        bytes: &[u8],
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let start = out.len();
        let result = self.decode_message(bytes, ts_recv_ns, out);
        self.finish(result, ts_recv_ns, start, out)
    }

    /// Decodes a REST depth snapshot (`GET /api/v3/depth`, `GET /fapi/v1/depth`), which
    /// names no symbol, for `symbol`.
    pub fn decode_depth_snapshot(
        &mut self,
        symbol: &str,
        bytes: &[u8],
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let start = out.len();
        let result = self
            .parse::<DepthSnapshotMsg>(bytes)
            .and_then(|m| self.snapshot(symbol, &m, ts_recv_ns, out));
        self.finish(result, ts_recv_ns, start, out)
    }

    fn finish(
        &mut self,
        result: Result<Decoded, FeedError>,
        ts_recv_ns: u64,
        start: usize,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        match &result {
            // Stamped here once rather than threaded through every message handler.
            Ok(_) => out[start..]
                .iter_mut()
                .for_each(|e| e.ts_recv_ns = ts_recv_ns),
            Err(_) => out.truncate(start),
        }
        self.counters.record(&result);
        result
    }

    fn decode_message(
        &self,
        bytes: &[u8],
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        // Combined-stream frames start this way; reading the wrapper directly skips a
        // second pass over the payload.
        if bytes.trim_ascii_start().starts_with(br#"{"stream":"#) {
            let wrapped: Combined = self.parse(bytes)?;
            return self.decode_combined(wrapped, ts_recv_ns, out);
        }
        let peek: Peek = self.parse(bytes)?;
        if peek.stream.is_some() {
            let wrapped: Combined = self.parse(bytes)?;
            return self.decode_combined(wrapped, ts_recv_ns, out);
        }
        let payload = bytes;
        match (peek.e, peek.last_update_id, peek.u) {
            (Some("trade"), ..) => self.trade(self.parse(payload)?, out),
            (Some("aggTrade"), ..) => self.agg_trade(self.parse(payload)?, out),
            (Some("bookTicker"), ..) => self.book_ticker(self.parse(payload)?, ts_recv_ns, out),
            (Some("depthUpdate"), ..) => self.depth_update(self.parse(payload)?, out),
            (Some("kline"), ..) => self.kline(self.parse(payload)?, out),
            (Some(other), ..) => Err(self.unsupported(format!("event type {other:?}"))),
            (None, Some(_), _) => Err(self.unsupported(
                "partial depth names no symbol: use decode_depth_snapshot or a combined stream"
                    .into(),
            )),
            // Spot bookTicker is the one payload with neither `e` nor `lastUpdateId`.
            (None, None, Some(_)) => self.book_ticker(self.parse(payload)?, ts_recv_ns, out),
            (None, None, None) if peek.result => Ok(Decoded {
                kind: MessageKind::Control,
                events: 0,
            }),
            // `{"code":..,"msg":..}`: the venue refused a request. Not a bad frame: the
            // same control kind as the other venues' error replies, counted apart.
            (None, None, None) if peek.code => Ok(Decoded::control(MessageKind::VenueError)),
            (None, None, None) => Err(self.unsupported("no event type".into())),
        }
    }

    fn decode_combined(
        &self,
        wrapped: Combined,
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let data = wrapped.data.get().as_bytes();
        let (symbol, kind) = stream_kind(wrapped.stream);
        match kind {
            StreamKind::Trade => self.trade(self.parse(data)?, out),
            StreamKind::AggTrade => self.agg_trade(self.parse(data)?, out),
            StreamKind::BookTicker => self.book_ticker(self.parse(data)?, ts_recv_ns, out),
            StreamKind::DepthDiff => self.depth_update(self.parse(data)?, out),
            StreamKind::Kline => self.kline(self.parse(data)?, out),
            StreamKind::PartialDepth => match self.market {
                BinanceMarket::Spot => self.snapshot(symbol, &self.parse(data)?, ts_recv_ns, out),
                // Futures partial depth has the diff's shape but holds the whole top of book.
                BinanceMarket::UsdM => self.futures_partial_depth(self.parse(data)?, out),
            },
            StreamKind::Other => Err(self.unsupported(format!("stream {:?}", wrapped.stream))),
        }
    }

    fn parse<'a, T: Deserialize<'a>>(&self, bytes: &'a [u8]) -> Result<T, FeedError> {
        serde_json::from_slice(bytes).map_err(|e| {
            let venue = self.market.venue_name();
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
        })
    }

    fn unsupported(&self, detail: String) -> FeedError {
        FeedError::Unsupported {
            venue: self.market.venue_name(),
            detail,
        }
    }

    fn instrument(&self, symbol: &str) -> Result<(u32, &Instrument), FeedError> {
        self.instruments
            .index_of(self.venue, symbol)
            .and_then(|i| Some((i, self.instruments.get(i)?)))
            .ok_or_else(|| FeedError::UnknownSymbol {
                venue: self.market.venue_name(),
                symbol: symbol.to_owned(),
            })
    }

    fn price(&self, inst: &Instrument, field: &'static str, text: &str) -> Result<i64, FeedError> {
        inst.price_ticks(text)
            .map_err(|e| self.decimal_error(field, text, e))
    }

    fn qty(&self, inst: &Instrument, field: &'static str, text: &str) -> Result<i64, FeedError> {
        inst.qty_lots(text)
            .map_err(|e| self.decimal_error(field, text, e))
    }

    fn decimal_error(&self, field: &'static str, text: &str, e: FixedError) -> FeedError {
        let venue = self.market.venue_name();
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

    fn event(&self, instrument: u32, kind: EventKind, ts_event_ns: u64) -> Event {
        Event {
            ts_event_ns,
            instrument,
            kind: kind as u8,
            venue: self.venue,
            ..Event::default()
        }
    }

    fn trade(&self, m: TradeMsg, out: &mut Vec<Event>) -> Result<Decoded, FeedError> {
        let (index, inst) = self.instrument(m.s)?;
        out.push(Event {
            seq: m.t,
            id: m.t,
            price_ticks: self.price(inst, "p", m.p)?,
            qty_lots: self.qty(inst, "q", m.q)?,
            side: aggressor(m.m) as u8,
            flags: flags::LAST_IN_BATCH,
            ..self.event(index, EventKind::Trade, ms_to_ns(m.trade_time_ms))
        });
        Ok(Decoded {
            kind: MessageKind::Trade,
            events: 1,
        })
    }

    fn agg_trade(&self, m: AggTradeMsg, out: &mut Vec<Event>) -> Result<Decoded, FeedError> {
        let (index, inst) = self.instrument(m.s)?;
        out.push(Event {
            seq: m.l,
            id: m.a,
            aux: m.f as i64,
            price_ticks: self.price(inst, "p", m.p)?,
            qty_lots: self.qty(inst, "q", m.q)?,
            side: aggressor(m.m) as u8,
            flags: flags::LAST_IN_BATCH,
            ..self.event(index, EventKind::Trade, ms_to_ns(m.trade_time_ms))
        });
        Ok(Decoded {
            kind: MessageKind::AggTrade,
            events: 1,
        })
    }

    fn book_ticker(
        &self,
        m: BookTickerMsg,
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let (index, inst) = self.instrument(m.s)?;
        let ts = m
            .transact_time_ms
            .or(m.event_time_ms)
            .map_or(ts_recv_ns, ms_to_ns);
        let bid = Event {
            seq: m.u,
            price_ticks: self.price(inst, "b", m.b)?,
            qty_lots: self.qty(inst, "B", m.bid_qty)?,
            side: Side::Buy as u8,
            ..self.event(index, EventKind::Quote, ts)
        };
        let ask = Event {
            price_ticks: self.price(inst, "a", m.a)?,
            qty_lots: self.qty(inst, "A", m.ask_qty)?,
            side: Side::Sell as u8,
            flags: flags::LAST_IN_BATCH,
            ..bid
        };
        out.extend_from_slice(&[bid, ask]);
        Ok(Decoded {
            kind: MessageKind::BookTicker,
            events: 2,
        })
    }

    fn push_levels(
        &self,
        inst: &Instrument,
        template: Event,
        bids: &[[&str; 2]],
        asks: &[[&str; 2]],
        out: &mut Vec<Event>,
    ) -> Result<(), FeedError> {
        for (side, levels, px_field, qty_field) in [
            (Side::Buy, bids, "bids.price", "bids.qty"),
            (Side::Sell, asks, "asks.price", "asks.qty"),
        ] {
            for [px, qty] in levels {
                out.push(Event {
                    price_ticks: self.price(inst, px_field, px)?,
                    qty_lots: self.qty(inst, qty_field, qty)?,
                    side: side as u8,
                    ..template
                });
            }
        }
        Ok(())
    }

    fn depth_update(&self, m: DepthUpdateMsg, out: &mut Vec<Event>) -> Result<Decoded, FeedError> {
        let (index, inst) = self.instrument(m.s)?;
        let start = out.len();
        let template = Event {
            seq: m.u,
            aux: m.first_update_id as i64,
            id: m.pu.unwrap_or(0),
            ..self.event(
                index,
                EventKind::BookDelta,
                ms_to_ns(m.transact_time_ms.unwrap_or(m.event_time_ms)),
            )
        };
        self.push_levels(inst, template, &m.b, &m.a, out)?;
        if out.len() == start {
            // Keep the ids of an empty diff on the bus: the next diff's continuity check
            // refers to this one's `u`.
            out.push(template);
        }
        mark_last(out);
        Ok(Decoded {
            kind: MessageKind::DepthDiff,
            events: out.len() - start,
        })
    }

    fn snapshot(
        &self,
        symbol: &str,
        m: &DepthSnapshotMsg,
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let (index, inst) = self.instrument(symbol)?;
        let ts = m
            .transact_time_ms
            .or(m.event_time_ms)
            .map_or(ts_recv_ns, ms_to_ns);
        self.push_snapshot(index, inst, m.last_update_id, ts, &m.bids, &m.asks, out)
    }

    fn futures_partial_depth(
        &self,
        m: DepthUpdateMsg,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let (index, inst) = self.instrument(m.s)?;
        let ts = ms_to_ns(m.transact_time_ms.unwrap_or(m.event_time_ms));
        self.push_snapshot(index, inst, m.u, ts, &m.b, &m.a, out)
    }

    #[allow(clippy::too_many_arguments)] // all of them describe the one snapshot
    fn push_snapshot(
        &self,
        index: u32,
        inst: &Instrument,
        last_update_id: u64,
        ts_event_ns: u64,
        bids: &[[&str; 2]],
        asks: &[[&str; 2]],
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let start = out.len();
        let mark = |kind| Event {
            seq: last_update_id,
            ..self.event(index, kind, ts_event_ns)
        };
        out.push(mark(EventKind::BookSnapshotBegin));
        let level = Event {
            flags: flags::SNAPSHOT,
            ..mark(EventKind::BookDelta)
        };
        self.push_levels(inst, level, bids, asks, out)?;
        out.push(Event {
            flags: flags::LAST_IN_BATCH,
            ..mark(EventKind::BookSnapshotEnd)
        });
        Ok(Decoded {
            kind: MessageKind::DepthSnapshot,
            events: out.len() - start,
        })
    }

    fn kline(&self, m: KlineMsg, out: &mut Vec<Event>) -> Result<Decoded, FeedError> {
        let (index, inst) = self.instrument(m.s)?;
        let k = &m.k;
        let bar = Bar {
            instrument: index,
            venue: self.venue,
            ts_open_ns: ms_to_ns(k.open_time_ms),
            ts_close_ns: ms_to_ns(k.close_time_ms),
            open_ticks: self.price(inst, "k.o", k.o)?,
            high_ticks: self.price(inst, "k.h", k.h)?,
            low_ticks: self.price(inst, "k.l", k.l)?,
            close_ticks: self.price(inst, "k.c", k.c)?,
            volume_lots: self.qty(inst, "k.v", k.v)?,
            trades: k.n,
            closed: k.x,
        };
        // `ts_recv_ns` is stamped on every event once decoding succeeds.
        out.extend_from_slice(&bar.to_events(0));
        Ok(Decoded {
            kind: MessageKind::Kline,
            events: 4,
        })
    }
}

// ---- fast path ---------------------------------------------------------------------
//
// The recorded streams are depth diffs, trades and bookTickers in Binance's compact
// JSON. For those the decoder reads the bytes once with a strict scanner (`scan::Cursor`)
// and writes events as it goes, with no intermediate `Vec` of levels. Whatever the
// scanner does not accept exactly (other kinds, whitespace, escapes, a missing or
// repeated field, a bad decimal, an unknown symbol) goes to the serde path, which is the
// reference: it decodes the message or names the error. `decode_reference` runs that path
// alone, so tests and the fuzz target can check that both agree on any input.

/// Keys of the fast shapes as [`scan::key_code`]s.
mod keys {
    use super::scan::key_code;
    pub const K_EVENT: u32 = key_code(b"e");
    pub const K_EVENT_TIME: u32 = key_code(b"E");
    pub const K_TRANSACT_TIME: u32 = key_code(b"T");
    pub const K_SYMBOL: u32 = key_code(b"s");
    pub const K_FIRST_ID: u32 = key_code(b"U");
    pub const K_LAST_ID: u32 = key_code(b"u");
    pub const K_PREV_ID: u32 = key_code(b"pu");
    pub const K_B: u32 = key_code(b"b");
    pub const K_A: u32 = key_code(b"a");
    pub const K_TRADE_ID: u32 = key_code(b"t");
    pub const K_PRICE: u32 = key_code(b"p");
    pub const K_QTY: u32 = key_code(b"q");
    pub const K_MAKER: u32 = key_code(b"m");
    pub const K_IGNORE: u32 = key_code(b"M");
    pub const K_BID_QTY: u32 = key_code(b"B");
    pub const K_ASK_QTY: u32 = key_code(b"A");
}
use keys::*;

/// Fields of a depth diff, one bit each, to refuse repeats and spot missing ones.
mod field {
    pub const E_TYPE: u16 = 1;
    pub const EVENT_TIME: u16 = 1 << 1;
    pub const TRANSACT_TIME: u16 = 1 << 2;
    pub const SYMBOL: u16 = 1 << 3;
    pub const FIRST_ID: u16 = 1 << 4;
    pub const LAST_ID: u16 = 1 << 5;
    pub const PREV_ID: u16 = 1 << 6;
    pub const BIDS: u16 = 1 << 7;
    pub const ASKS: u16 = 1 << 8;
    pub const ID: u16 = 1 << 9;
    pub const PRICE: u16 = 1 << 10;
    pub const QTY: u16 = 1 << 11;
    pub const MAKER: u16 = 1 << 12;
    pub const IGNORED: u16 = 1 << 13;
    pub const BID_QTY: u16 = 1 << 14;
    pub const ASK_QTY: u16 = 1 << 15;
}

/// Marks `bit` as seen; `None` if it already was (serde refuses a repeated field).
#[inline]
fn first_time(seen: &mut u16, bit: u16) -> Option<()> {
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

impl BinanceDecoder {
    /// Decodes `bytes` on the fast path, or returns `None` (with `out` as it was) for the
    /// serde path to handle.
    #[inline]
    fn decode_fast(&self, bytes: &[u8], ts_recv_ns: u64, out: &mut Vec<Event>) -> Option<Decoded> {
        let start = out.len();
        let mut c = scan::Cursor::new(bytes);
        let decoded = if c.lit(br#"{"stream":"#).is_some() {
            let stream = c.str()?;
            c.lit(br#","data":"#)?;
            let kind = stream_kind(stream).1;
            let d = self.fast_payload(&mut c, kind, ts_recv_ns, out);
            d.and_then(|d| c.byte(b'}').map(|_| d))
        } else if c.lit(br#"{"e":""#).is_some() {
            // A raw stream: the event type leads, as Binance writes it.
            let kind = match c.str()? {
                "depthUpdate" => StreamKind::DepthDiff,
                "trade" => StreamKind::Trade,
                "bookTicker" => StreamKind::BookTicker,
                _ => return None,
            };
            c = scan::Cursor::new(bytes);
            self.fast_payload(&mut c, kind, ts_recv_ns, out)
        } else {
            None
        };
        match decoded {
            Some(d) if c.at_end() => Some(d),
            _ => {
                out.truncate(start);
                None
            }
        }
    }

    #[inline]
    fn fast_payload(
        &self,
        c: &mut scan::Cursor<'_>,
        kind: StreamKind,
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Option<Decoded> {
        match kind {
            StreamKind::DepthDiff => self.fast_depth_update(c, out),
            StreamKind::Trade => self.fast_trade(c, out),
            StreamKind::BookTicker => self.fast_book_ticker(c, ts_recv_ns, out),
            _ => None,
        }
    }

    /// `[["price","qty"],...]` appended as `template` deltas of `side`.
    #[inline]
    fn fast_levels(
        &self,
        c: &mut scan::Cursor<'_>,
        inst: &Instrument,
        template: Event,
        out: &mut Vec<Event>,
    ) -> Option<()> {
        c.byte(b'[')?;
        if c.peek()? == b']' {
            c.next();
            return Some(());
        }
        loop {
            c.byte(b'[')?;
            let px = c.quoted()?;
            c.byte(b',')?;
            let qty = c.quoted()?;
            c.byte(b']')?;
            out.push(Event {
                price_ticks: inst.tick.to_steps_bytes(px).ok()?,
                qty_lots: inst.lot.to_steps_unsigned_bytes(qty).ok()?,
                ..template
            });
            match c.next()? {
                b',' => {}
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    fn fast_depth_update(&self, c: &mut scan::Cursor<'_>, out: &mut Vec<Event>) -> Option<Decoded> {
        use field::*;
        let start = out.len();
        let (mut seen, mut inst) = (0u16, None);
        let (mut event_ms, mut transact_ms, mut first, mut last, mut prev) = (0, None, 0, 0, None);
        let template =
            |index, event_ms, transact_ms: Option<u64>, first, last, prev: Option<u64>| Event {
                seq: last,
                aux: first as i64,
                id: prev.unwrap_or(0),
                ..self.event(
                    index,
                    EventKind::BookDelta,
                    ms_to_ns(transact_ms.unwrap_or(event_ms)),
                )
            };
        // The ids as they stood when the levels were written (Binance sends them first).
        let mut seen_at_levels = 0;
        c.byte(b'{')?;
        loop {
            match c.key()? {
                K_EVENT => {
                    first_time(&mut seen, E_TYPE)?;
                    c.lit(br#""depthUpdate""#)?;
                }
                K_EVENT_TIME => {
                    first_time(&mut seen, EVENT_TIME)?;
                    event_ms = c.u64()?;
                }
                K_TRANSACT_TIME => {
                    first_time(&mut seen, TRANSACT_TIME)?;
                    transact_ms = Some(c.u64()?);
                }
                K_SYMBOL => {
                    first_time(&mut seen, SYMBOL)?;
                    inst = Some(self.instrument(c.str()?).ok()?);
                }
                K_FIRST_ID => {
                    first_time(&mut seen, FIRST_ID)?;
                    first = c.u64()?;
                }
                K_LAST_ID => {
                    first_time(&mut seen, LAST_ID)?;
                    last = c.u64()?;
                }
                K_PREV_ID => {
                    first_time(&mut seen, PREV_ID)?;
                    prev = Some(c.u64()?);
                }
                // Bids before asks, as the serde path orders them.
                K_B => {
                    first_time(&mut seen, BIDS)?;
                    seen_at_levels = seen;
                    let (index, inst) = inst?;
                    let t = template(index, event_ms, transact_ms, first, last, prev);
                    let t = Event {
                        side: Side::Buy as u8,
                        ..t
                    };
                    self.fast_levels(c, inst, t, out)?;
                }
                K_A if seen & BIDS != 0 => {
                    first_time(&mut seen, ASKS)?;
                    let (index, inst) = inst?;
                    let t = template(index, event_ms, transact_ms, first, last, prev);
                    let t = Event {
                        side: Side::Sell as u8,
                        ..t
                    };
                    self.fast_levels(c, inst, t, out)?;
                }
                _ => return None,
            }
            if !c.more_members()? {
                break;
            }
        }
        let required = EVENT_TIME | SYMBOL | FIRST_ID | LAST_ID | BIDS | ASKS;
        if seen & required != required {
            return None;
        }
        let (index, _) = inst?;
        let template = template(index, event_ms, transact_ms, first, last, prev);
        if out.len() == start {
            out.push(template);
        } else if seen != seen_at_levels | ASKS {
            // A field of the template came after the levels: write it into them.
            for e in &mut out[start..] {
                *e = Event {
                    price_ticks: e.price_ticks,
                    qty_lots: e.qty_lots,
                    side: e.side,
                    ..template
                };
            }
        }
        mark_last(out);
        Some(Decoded {
            kind: MessageKind::DepthDiff,
            events: out.len() - start,
        })
    }

    fn fast_trade(&self, c: &mut scan::Cursor<'_>, out: &mut Vec<Event>) -> Option<Decoded> {
        use field::*;
        let mut seen = 0u16;
        let (mut symbol, mut px, mut qty) = ("", "", "");
        let (mut id, mut trade_ms, mut maker) = (0, 0, false);
        c.byte(b'{')?;
        loop {
            match c.key()? {
                K_EVENT => {
                    first_time(&mut seen, E_TYPE)?;
                    c.lit(br#""trade""#)?;
                }
                K_EVENT_TIME => {
                    first_time(&mut seen, EVENT_TIME)?;
                    c.u64()?;
                }
                K_SYMBOL => {
                    first_time(&mut seen, SYMBOL)?;
                    symbol = c.str()?;
                }
                K_TRADE_ID => {
                    first_time(&mut seen, ID)?;
                    id = c.u64()?;
                }
                K_PRICE => {
                    first_time(&mut seen, PRICE)?;
                    px = c.str()?;
                }
                K_QTY => {
                    first_time(&mut seen, QTY)?;
                    qty = c.str()?;
                }
                K_TRANSACT_TIME => {
                    first_time(&mut seen, TRANSACT_TIME)?;
                    trade_ms = c.u64()?;
                }
                K_MAKER => {
                    first_time(&mut seen, MAKER)?;
                    maker = c.bool()?;
                }
                // "Ignore" in Binance's documentation; the serde path skips it too.
                K_IGNORE => {
                    first_time(&mut seen, IGNORED)?;
                    c.bool()?;
                }
                _ => return None,
            }
            if !c.more_members()? {
                break;
            }
        }
        let required = SYMBOL | ID | PRICE | QTY | TRANSACT_TIME | MAKER;
        if seen & required != required {
            return None;
        }
        let (index, inst) = self.instrument(symbol).ok()?;
        out.push(Event {
            seq: id,
            id,
            price_ticks: inst.price_ticks(px).ok()?,
            qty_lots: inst.qty_lots(qty).ok()?,
            side: aggressor(maker) as u8,
            flags: flags::LAST_IN_BATCH,
            ..self.event(index, EventKind::Trade, ms_to_ns(trade_ms))
        });
        Some(Decoded {
            kind: MessageKind::Trade,
            events: 1,
        })
    }

    fn fast_book_ticker(
        &self,
        c: &mut scan::Cursor<'_>,
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Option<Decoded> {
        use field::*;
        let mut seen = 0u16;
        let mut text = [""; 5]; // symbol, bid, bid qty, ask, ask qty
        let (mut update_id, mut event_ms, mut transact_ms) = (0, None, None);
        c.byte(b'{')?;
        loop {
            let (bit, slot) = match c.key()? {
                K_EVENT => {
                    first_time(&mut seen, E_TYPE)?;
                    c.lit(br#""bookTicker""#)?;
                    (0, None)
                }
                K_LAST_ID => {
                    first_time(&mut seen, LAST_ID)?;
                    update_id = c.u64()?;
                    (0, None)
                }
                K_EVENT_TIME => {
                    first_time(&mut seen, EVENT_TIME)?;
                    event_ms = Some(c.u64()?);
                    (0, None)
                }
                K_TRANSACT_TIME => {
                    first_time(&mut seen, TRANSACT_TIME)?;
                    transact_ms = Some(c.u64()?);
                    (0, None)
                }
                K_SYMBOL => (SYMBOL, Some(0)),
                K_B => (BIDS, Some(1)),
                K_BID_QTY => (BID_QTY, Some(2)),
                K_A => (ASKS, Some(3)),
                K_ASK_QTY => (ASK_QTY, Some(4)),
                _ => return None,
            };
            if let Some(i) = slot {
                first_time(&mut seen, bit)?;
                text[i] = c.str()?;
            }
            if !c.more_members()? {
                break;
            }
        }
        let required = LAST_ID | SYMBOL | BIDS | BID_QTY | ASKS | ASK_QTY;
        if seen & required != required {
            return None;
        }
        let (index, inst) = self.instrument(text[0]).ok()?;
        let ts = transact_ms.or(event_ms).map_or(ts_recv_ns, ms_to_ns);
        let bid = Event {
            seq: update_id,
            price_ticks: inst.price_ticks(text[1]).ok()?,
            qty_lots: inst.qty_lots(text[2]).ok()?,
            side: Side::Buy as u8,
            ..self.event(index, EventKind::Quote, ts)
        };
        let ask = Event {
            price_ticks: inst.price_ticks(text[3]).ok()?,
            qty_lots: inst.qty_lots(text[4]).ok()?,
            side: Side::Sell as u8,
            flags: flags::LAST_IN_BATCH,
            ..bid
        };
        out.extend_from_slice(&[bid, ask]);
        Some(Decoded {
            kind: MessageKind::BookTicker,
            events: 2,
        })
    }
}

/// `m` = "buyer is the maker", so the aggressor sold.
fn aggressor(buyer_is_maker: bool) -> Side {
    if buyer_is_maker {
        Side::Sell
    } else {
        Side::Buy
    }
}

fn mark_last(out: &mut [Event]) {
    if let Some(last) = out.last_mut() {
        last.flags |= flags::LAST_IN_BATCH;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPOT: u8 = 1;
    const USDM: u8 = 2;

    fn table() -> Arc<InstrumentTable> {
        let mut t = InstrumentTable::new();
        t.insert(Instrument::new("BTCUSDT", SPOT, "0.01", "0.00001").unwrap())
            .unwrap();
        t.insert(Instrument::new("BTCUSDT", USDM, "0.10", "0.001").unwrap())
            .unwrap();
        Arc::new(t)
    }

    fn spot() -> BinanceDecoder {
        BinanceDecoder::new(BinanceMarket::Spot, SPOT, table())
    }

    fn usdm() -> BinanceDecoder {
        BinanceDecoder::new(BinanceMarket::UsdM, USDM, table())
    }

    fn decode(d: &mut BinanceDecoder, msg: &str) -> (Result<Decoded, FeedError>, Vec<Event>) {
        let mut out = Vec::new();
        let r = d.decode(msg.as_bytes(), 777, &mut out);
        (r, out)
    }

    #[test]
    fn spot_trade_becomes_one_trade_event_with_the_aggressor_side() {
        let mut d = spot();
        let (r, out) = decode(
            &mut d,
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}"#,
        );
        assert_eq!(
            r,
            Ok(Decoded {
                kind: MessageKind::Trade,
                events: 1
            })
        );
        let e = out[0];
        assert_eq!(
            (e.price_ticks, e.qty_lots, e.id, e.seq),
            (6183763, 2000, 3735683259, 3735683259)
        );
        assert_eq!(e.side, Side::Sell as u8);
        assert_eq!(e.ts_event_ns, 1_723_161_255_342_000_000);
        assert_eq!(e.ts_recv_ns, 777);
        assert_eq!(
            (e.kind, e.venue, e.instrument, e.flags),
            (EventKind::Trade as u8, SPOT, 0, flags::LAST_IN_BATCH)
        );
    }

    #[test]
    fn agg_trade_carries_its_trade_id_range() {
        let mut d = spot();
        let (r, out) = decode(
            &mut d,
            r#"{"e":"aggTrade","E":1,"s":"BTCUSDT","a":26129,"p":"0.01000000","q":"100.00000000","f":100,"l":105,"T":2,"m":false,"M":true}"#,
        );
        assert_eq!(r.map(|d| d.kind), Ok(MessageKind::AggTrade));
        let e = out[0];
        assert_eq!(
            (e.id, e.aux, e.seq, e.price_ticks, e.qty_lots),
            (26129, 100, 105, 1, 10_000_000)
        );
        assert_eq!(e.side, Side::Buy as u8);
    }

    #[test]
    fn book_ticker_becomes_bid_and_ask_quotes() {
        let mut d = spot();
        let (r, out) = decode(
            &mut d,
            r#"{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}"#,
        );
        assert_eq!(
            r,
            Ok(Decoded {
                kind: MessageKind::BookTicker,
                events: 2
            })
        );
        assert_eq!(
            (out[0].side, out[0].price_ticks, out[0].qty_lots, out[0].seq),
            (Side::Buy as u8, 6183763, 378826, 50093239212)
        );
        assert_eq!(
            (out[1].side, out[1].price_ticks, out[1].qty_lots),
            (Side::Sell as u8, 6183764, 154698)
        );
        assert_eq!((out[0].flags, out[1].flags), (0, flags::LAST_IN_BATCH));
        // Spot sends no time: the receive time stands in.
        assert_eq!(out[0].ts_event_ns, 777);
        // Raw (unwrapped) spot bookTicker has no `e` either.
        let (r, _) = decode(
            &mut d,
            r#"{"u":1,"s":"BTCUSDT","b":"1.00","B":"1","a":"2.00","A":"1"}"#,
        );
        assert_eq!(r.map(|d| d.kind), Ok(MessageKind::BookTicker));
        let mut f = usdm();
        let (_, out) = decode(
            &mut f,
            r#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256314}}"#,
        );
        assert_eq!(
            (out[0].price_ticks, out[0].qty_lots, out[1].price_ticks),
            (618002, 2507, 618003)
        );
        assert_eq!(out[0].ts_event_ns, 1_723_161_256_313_000_000);
        assert_eq!(out[0].instrument, 1);
    }

    #[test]
    fn spot_depth_diff_becomes_book_deltas_with_update_ids() {
        let mut d = spot();
        let (r, out) = decode(
            &mut d,
            r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT","U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000","0.32332000"],["61844.30000000","0.40163000"]]}}"#,
        );
        assert_eq!(
            r,
            Ok(Decoded {
                kind: MessageKind::DepthDiff,
                events: 3
            })
        );
        assert!(out.iter().all(|e| e.kind == EventKind::BookDelta as u8
            && e.seq == 50093239207
            && e.aux == 50093239203
            && e.id == 0));
        assert_eq!(
            (out[0].side, out[0].price_ticks, out[0].qty_lots),
            (Side::Buy as u8, 5565387, 0)
        );
        assert_eq!(
            (out[2].side, out[2].price_ticks, out[2].qty_lots),
            (Side::Sell as u8, 6184430, 40163)
        );
        let fl: Vec<u8> = out.iter().map(|e| e.flags).collect();
        assert_eq!(fl, vec![0, 0, flags::LAST_IN_BATCH]);
        assert_eq!(out[0].ts_event_ns, 1_723_161_255_308_000_000);
    }

    #[test]
    fn futures_depth_diff_carries_pu_in_id_and_empty_diffs_keep_their_ids() {
        let mut d = usdm();
        let (_, out) = decode(
            &mut d,
            r#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":1723161256299,"T":1723161256298,"s":"BTCUSDT","U":5123107832006,"u":5123107837557,"pu":5123107831937,"b":[["58710.20","0.014"]],"a":[]}}"#,
        );
        assert_eq!(out.len(), 1);
        let ids = crate::book::DiffIds::from_event(&out[0]);
        assert_eq!(
            (
                ids.first_update_id,
                ids.last_update_id,
                ids.prev_last_update_id
            ),
            (5123107832006, 5123107837557, 5123107831937)
        );
        assert_eq!((out[0].price_ticks, out[0].qty_lots), (587102, 14));
        assert_eq!(out[0].ts_event_ns, 1_723_161_256_298_000_000);
        let (r, out) = decode(
            &mut d,
            r#"{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":10,"u":12,"pu":9,"b":[],"a":[]}"#,
        );
        assert_eq!(
            r,
            Ok(Decoded {
                kind: MessageKind::DepthDiff,
                events: 1
            })
        );
        assert_eq!(
            (out[0].side, out[0].seq, out[0].id, out[0].flags),
            (Side::None as u8, 12, 9, flags::LAST_IN_BATCH)
        );
    }

    #[test]
    fn rest_snapshot_and_partial_depth_become_a_bracketed_snapshot() {
        let mut d = spot();
        let mut out = Vec::new();
        let r = d.decode_depth_snapshot(
            "BTCUSDT",
            br#"{"lastUpdateId":50093239218,"bids":[["61837.63000000","3.78826000"],["61837.62000000","0.61700000"]],"asks":[["61837.64000000","1.60520000"]]}"#,
            5,
            &mut out,
        );
        assert_eq!(
            r,
            Ok(Decoded {
                kind: MessageKind::DepthSnapshot,
                events: 5
            })
        );
        let kinds: Vec<u8> = out.iter().map(|e| e.kind).collect();
        let delta = EventKind::BookDelta as u8;
        assert_eq!(
            kinds,
            vec![
                EventKind::BookSnapshotBegin as u8,
                delta,
                delta,
                delta,
                EventKind::BookSnapshotEnd as u8
            ]
        );
        assert!(out
            .iter()
            .all(|e| e.seq == 50093239218 && e.ts_recv_ns == 5));
        assert!(out[1..4].iter().all(|e| e.flags == flags::SNAPSHOT));
        assert_eq!(out[4].flags, flags::LAST_IN_BATCH);
        let mut book = crate::book::OrderBook::new(0);
        book.apply_events(&out);
        assert_eq!(
            book.best_bid().map(|l| (l.price_ticks, l.qty_lots)),
            Some((6183763, 378826))
        );
        assert_eq!(book.last_seq(), 50093239218);
        // The partial-depth stream takes its symbol from the stream name.
        let (r, out) = decode(
            &mut d,
            r#"{"stream":"btcusdt@depth5@100ms","data":{"lastUpdateId":9,"bids":[["1.00","2"]],"asks":[]}}"#,
        );
        assert_eq!(r.map(|d| d.kind), Ok(MessageKind::DepthSnapshot));
        assert_eq!(out.len(), 3);
        // Unwrapped, it names no symbol.
        let (r, _) = decode(&mut d, r#"{"lastUpdateId":9,"bids":[],"asks":[]}"#);
        assert!(matches!(r, Err(FeedError::Unsupported { .. })));
    }

    #[test]
    fn a_venue_error_reply_is_the_venue_error_control_kind() {
        let mut d = spot();
        let (r, out) = decode(
            &mut d,
            r#"{"code":2,"msg":"Invalid request: unknown variant","id":7}"#,
        );
        assert_eq!(r, Ok(Decoded::control(MessageKind::VenueError)));
        assert!(out.is_empty());
        let (r, _) = decode(&mut d, r#"{"result":null,"id":1}"#);
        assert_eq!(r.map(|d| d.kind), Ok(MessageKind::Control));
        let c = d.counters();
        assert_eq!((c.venue_errors, c.control, c.unsupported), (1, 1, 0));
    }

    #[test]
    fn kline_becomes_four_bar_events() {
        let mut d = spot();
        let (r, out) = decode(
            &mut d,
            r#"{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1723161300100,"s":"BTCUSDT","k":{"t":1723161240000,"T":1723161299999,"s":"BTCUSDT","i":"1m","f":100,"L":200,"o":"61800.00000000","c":"61810.50000000","h":"61820.00000000","l":"61790.01000000","v":"12.34567000","n":101,"x":true,"q":"1000.0","V":"1.0","Q":"1.0","B":"0"}}}"#,
        );
        assert_eq!(
            r,
            Ok(Decoded {
                kind: MessageKind::Kline,
                events: 4
            })
        );
        let px: Vec<i64> = out.iter().map(|e| e.price_ticks).collect();
        assert_eq!(px, vec![6180000, 6182000, 6179001, 6181050]);
        let aux: Vec<i64> = out.iter().map(|e| e.aux).collect();
        assert_eq!(aux, vec![0, 1, 2, 3]);
        assert!(out
            .iter()
            .all(|e| e.qty_lots == 1234567 && e.id == 101 && e.flags & flags::FINAL != 0));
        assert_eq!(out[0].ts_event_ns, 1_723_161_240_000_000_000);
        assert_eq!(out[3].flags & flags::LAST_IN_BATCH, flags::LAST_IN_BATCH);
    }

    fn recording() -> Vec<Vec<u8>> {
        use std::io::Read;
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../data/binance/spot_btcusdt_20240808.gz"
        );
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
            .read_to_end(&mut raw)
            .unwrap();
        raw.split(|&b| b == b'\n')
            .filter_map(|l| Some(l[l.iter().position(|&b| b == b' ')? + 1..].to_vec()))
            .collect()
    }

    /// Decodes `msg` with the fast path and with the serde reference; both must agree.
    fn assert_paths_agree(msg: &[u8]) {
        let (mut fast, mut reference) = (spot(), spot());
        let (mut a, mut b) = (vec![Event::default()], vec![Event::default()]);
        let ra = fast.decode(msg, 9, &mut a);
        let rb = reference.decode_reference(msg, 9, &mut b);
        let text = String::from_utf8_lossy(msg);
        assert_eq!(ra, rb, "{text}");
        assert_eq!(a, b, "{text}");
        assert_eq!(fast.counters(), reference.counters(), "{text}");
    }

    #[test]
    fn fast_path_decodes_every_recorded_message_as_the_serde_path_does() {
        let msgs = recording();
        assert!(msgs.len() > 40_000);
        let mut d = spot();
        let mut left_to_serde = 0;
        for m in &msgs {
            assert_paths_agree(m);
            let fast = d.decode_fast(m, 0, &mut Vec::new()).is_some();
            let decodes = d.decode_reference(m, 0, &mut Vec::new()).is_ok();
            left_to_serde += usize::from(decodes && !fast);
        }
        // Every recorded message that decodes at all decodes on the fast path.
        assert_eq!(left_to_serde, 0);
    }

    #[test]
    fn fast_path_hands_every_variant_it_does_not_know_exactly_to_the_serde_path() {
        let variants: &[&str] = &[
            // raw streams, futures fields, reordered and repeated fields
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["100.00","1.0"]],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"T":3,"s":"BTCUSDT","U":1,"u":2,"pu":0,"b":[],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"a":[["100.00","1.0"]],"b":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"u":3,"b":[],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"U":1,"u":2,"b":[["1.00","1"]],"s":"BTCUSDT","a":[]}"#,
            r#"{"e":"depthUpdate","s":"BTCUSDT","b":[["1.00","1"]],"E":1,"U":1,"u":2,"a":[["2.00","1"]]}"#,
            r#"{"e":"depthUpdate","s":"BTCUSDT","E":1,"U":1,"u":2,"b":[["1.00","1"]],"a":[],"pu":1}"#,
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1.0\u0030","1"]],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1.00\"","1"]],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1.00","1","x"]],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1.00","1"]],"a":[]} "#,
            r#"{"e":"depthUpdate", "E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}x"#,
            r#"{"e":"depthUpdate","E":1.5,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}"#,
            r#"{"e":"depthUpdate","E":01,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"btcusdt","U":1,"u":2,"b":[["-1.00","1"]],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["1.00","-1"]],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"b":[],"a":[]}"#,
            r#"{"stream":"btcusdt@depth","data":{"E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}}"#,
            r#"{"stream":"btcusdt@depth","data":{"e":"x","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}}"#,
            r#"{"stream":"btcusdt@depth","data":{"E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]},"x":1}"#,
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1.00","q":"2","T":5,"m":false,"M":true}}"#,
            r#"{"e":"trade","s":"BTCUSDT","t":1,"p":"1.00","q":"2","T":5,"m":false,"X":"MARKET"}"#,
            r#"{"e":"trade","s":"BTCUSDT","t":1,"p":"1.00","q":"2","T":5,"m":null}"#,
            r#"{"e":"trade","s":"ETHUSDT","t":1,"p":"1.00","q":"2","T":5,"m":true}"#,
            r#"{"e":"trade","s":"BTCUSDT","t":1,"p":"1.001","q":"2","T":5,"m":true}"#,
            r#"{"e":"bookTicker","u":1,"s":"BTCUSDT","b":"1.00","B":"1","a":"2.00","A":"1","T":7,"E":8}"#,
            r#"{"u":1,"s":"BTCUSDT","b":"1.00","B":"1","a":"2.00","A":"1"}"#,
            r#"{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"1.00","B":"1","a":"2.00"}}"#,
            r#"{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"1.00","B":"1","B":"2","a":"2.00","A":"1"}}"#,
        ];
        for v in variants {
            assert_paths_agree(v.as_bytes());
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_and_serde_paths_agree_on_damaged_recorded_messages(
            pick in 0usize..1_000, cut in 0usize..4_000, at in 0usize..4_000,
            byte in proptest::arbitrary::any::<u8>(),
        ) {
            let msgs = sample_messages();
            let mut m = msgs[pick % msgs.len()].clone();
            let n = m.len();
            m[at % n] = byte;
            m.truncate(n - cut % n.min(64));
            assert_paths_agree(&m);
        }
    }

    /// A few recorded messages of each kind, read once.
    fn sample_messages() -> &'static [Vec<u8>] {
        static SAMPLE: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        SAMPLE.get_or_init(|| recording().into_iter().step_by(97).collect())
    }

    #[test]
    fn control_replies_produce_no_events() {
        let mut d = spot();
        let (r, out) = decode(&mut d, r#"{"result":null,"id":1}"#);
        assert_eq!(
            r,
            Ok(Decoded {
                kind: MessageKind::Control,
                events: 0
            })
        );
        assert!(out.is_empty());
        assert_eq!(d.counters().control, 1);
    }

    #[test]
    fn malformed_messages_get_the_right_error_and_leave_the_output_untouched() {
        let mut d = spot();
        let venue = "binance-spot";
        let mut out = vec![Event::default()];
        type Check = fn(&FeedError) -> bool;
        let cases: [(&str, Check); 9] = [
            (
                r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTC"#,
                |e| matches!(e, FeedError::MalformedJson { .. }),
            ),
            ("", |e| matches!(e, FeedError::MalformedJson { .. })),
            (
                r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":"abc","u":2,"b":[],"a":[]}"#,
                |e| matches!(e, FeedError::BadField { .. }),
            ),
            (
                r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":61837.63,"q":"1.0","T":1,"m":true}"#,
                |e| matches!(e, FeedError::BadField { .. }),
            ),
            (
                r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"q":"1.0","T":1,"m":true}"#,
                |e| matches!(e, FeedError::BadField { detail, .. } if detail.contains("missing field `p`")),
            ),
            (
                r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["100.00","-1.00000"]],"a":[]}"#,
                |e| {
                    matches!(
                        e,
                        FeedError::NegativeQuantity {
                            field: "bids.qty",
                            ..
                        }
                    )
                },
            ),
            (
                r#"{"e":"trade","E":1,"s":"ETHUSDT","t":1,"p":"1.00","q":"1.0","T":1,"m":true}"#,
                |e| matches!(e, FeedError::UnknownSymbol { symbol, .. } if symbol == "ETHUSDT"),
            ),
            (
                r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1.001","q":"1.0","T":1,"m":true}"#,
                |e| {
                    matches!(
                        e,
                        FeedError::BadDecimal {
                            source: FixedError::OffGrid { .. },
                            ..
                        }
                    )
                },
            ),
            (r#"{"e":"markPriceUpdate","E":1,"s":"BTCUSDT"}"#, |e| {
                matches!(e, FeedError::Unsupported { .. })
            }),
        ];
        for (msg, check) in cases {
            let r = d.decode(msg.as_bytes(), 0, &mut out);
            let err = r.expect_err(msg);
            assert!(check(&err), "{msg}: {err}");
            assert!(err.to_string().starts_with(venue), "{err}");
            assert_eq!(out.len(), 1, "{msg}");
        }
        // A diff whose second level is bad leaves no half-written diff behind.
        let r = d.decode(br#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[["100.00","1.0"],["x","1"]],"a":[]}"#, 0, &mut out);
        assert!(matches!(
            r,
            Err(FeedError::BadDecimal {
                field: "bids.price",
                ..
            })
        ));
        assert_eq!(out.len(), 1);
        let c = d.counters();
        assert_eq!(
            (
                c.malformed_json,
                c.bad_field,
                c.negative_quantity,
                c.unknown_symbol,
                c.bad_decimal,
                c.unsupported
            ),
            (2, 3, 1, 1, 2, 1)
        );
        assert_eq!((c.decoded, c.rejected()), (0, 10));
    }
}
