//! Kraken spot websocket decoder, v1 (`wss://ws.kraken.com`) and v2
//! (`wss://ws.kraken.com/v2`), for books and trades, plus heartbeats, status and
//! subscription replies (control; errors as [`MessageKind::VenueError`]).
//!
//! v1 channel messages are arrays, `[channelID, payload..., channelName, pair]`: a book
//! snapshot payload is `{"as":[...],"bs":[...]}`, an update one or two objects
//! `{"a":[...]}` / `{"b":[...],"c":"<crc32>"}` processed in array order; a level is
//! `[price, volume, timestamp]` or, for a republished level, `[price, volume, timestamp,
//! "r"]`. v2 messages are objects (`{"channel":"book","type":"snapshot"|"update","data":
//! [{"symbol","bids":[{"price","qty"}],"asks":[...],"checksum","timestamp"}]}`) whose prices
//! and quantities are JSON *numbers*: they are read as the exact text sent (serde_json's
//! `RawValue`), never through a float, because trailing zeros are part of the checksum.
//!
//! | message | events | `seq` | `aux` | `id` | other |
//! |---|---|---|---|---|---|
//! | book snapshot | `BookSnapshotBegin`, 1 `BookDelta` per level flagged `SNAPSHOT` (asks then bids), `BookSnapshotEnd` | 0 | 0 | [`BookCheck`]: checksum (v2 only), the level's decimal places | `ts_event_ns` = level time (markers: latest level time, else receive time) |
//! | book update | 1 `BookDelta` per level in message order | 0 | 1 if republished (`r`), else 0 | as above | volume 0 deletes |
//! | trade | 1 `Trade` per trade | v2 `trade_id` (v1: 0) | 0 | v2 `trade_id` | `side` = taker side |
//!
//! All book events of a message carry the message's checksum, which is what
//! [`crate::book::KrakenBookSync`] reads. Kraken sends no sequence ids on these channels.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{decimal_places, flags, BookCheck, Event, EventKind, Instrument};
use crate::model::{InstrumentTable, Side};

use super::wire::{self, StrFields};
use super::{DecodeCounters, Decoded, FeedError, MessageKind};

const VENUE: &str = "kraken";

#[derive(Deserialize)]
struct Envelope<'a> {
    // v1 control
    #[serde(borrow, default)]
    event: Option<&'a str>,
    #[serde(borrow, default)]
    status: Option<&'a str>,
    // v2
    #[serde(borrow, default)]
    channel: Option<&'a str>,
    #[serde(borrow, default, rename = "type")]
    type_: Option<&'a str>,
    #[serde(borrow, default)]
    method: Option<&'a str>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct V1BookPart<'a> {
    #[serde(borrow, default, rename = "as")]
    snapshot_asks: Option<Vec<StrFields<'a>>>,
    #[serde(borrow, default, rename = "bs")]
    snapshot_bids: Option<Vec<StrFields<'a>>>,
    #[serde(borrow, default)]
    a: Option<Vec<StrFields<'a>>>,
    #[serde(borrow, default)]
    b: Option<Vec<StrFields<'a>>>,
    #[serde(borrow, default)]
    c: Option<&'a str>,
}

#[derive(Deserialize)]
struct V2Level<'a> {
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
}

#[derive(Deserialize)]
struct V2Book<'a> {
    symbol: &'a str,
    #[serde(borrow, default)]
    bids: Vec<V2Level<'a>>,
    #[serde(borrow, default)]
    asks: Vec<V2Level<'a>>,
    #[serde(default)]
    checksum: Option<u32>,
    #[serde(borrow, default)]
    timestamp: Option<&'a str>,
}

#[derive(Deserialize)]
struct V2Trade<'a> {
    symbol: &'a str,
    side: &'a str,
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
    trade_id: u64,
    timestamp: &'a str,
}

/// One level ready to become an event.
struct Level<'a> {
    side: Side,
    price: &'a str,
    qty: &'a str,
    ts_ns: Option<u64>,
    republished: bool,
}

/// Decodes Kraken spot websocket messages (v1 and v2) into events.
#[derive(Debug, Clone)]
pub struct KrakenDecoder {
    venue: u8,
    instruments: Arc<InstrumentTable>,
    counters: DecodeCounters,
}

impl KrakenDecoder {
    /// A decoder stamping `venue` on its events and resolving pairs (`"XBT/USD"`) among that
    /// venue's instruments in `instruments`.
    pub fn new(venue: u8, instruments: Arc<InstrumentTable>) -> KrakenDecoder {
        KrakenDecoder {
            venue,
            instruments,
            counters: DecodeCounters::default(),
        }
    }

    pub fn counters(&self) -> &DecodeCounters {
        &self.counters
    }

    pub fn instruments(&self) -> &Arc<InstrumentTable> {
        &self.instruments
    }

    /// Decodes one websocket message (v1 or v2) and appends its events to `out`. On error
    /// nothing is appended.
    pub fn decode(
        &mut self,
        bytes: &[u8],
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let start = out.len();
        let result = self.decode_message(bytes, ts_recv_ns, out);
        wire::finish(result, &mut self.counters, ts_recv_ns, start, out)
    }

    fn decode_message(
        &self,
        bytes: &[u8],
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        if bytes.trim_ascii_start().starts_with(b"[") {
            let parts: Vec<&RawValue> = wire::parse(VENUE, bytes)?;
            return self.v1_channel(&parts, ts_recv_ns, out);
        }
        let env: Envelope = wire::parse(VENUE, bytes)?;
        if let Some(event) = env.event {
            return match event {
                "subscriptionStatus" if env.status == Some("error") => {
                    Ok(control(MessageKind::VenueError))
                }
                "error" => Ok(control(MessageKind::VenueError)),
                "heartbeat" | "systemStatus" | "subscriptionStatus" | "pong" => {
                    Ok(control(MessageKind::Control))
                }
                other => Err(wire::unsupported(VENUE, format!("event {other:?}"))),
            };
        }
        if env.method.is_some() {
            return Ok(control(if env.success == Some(false) {
                MessageKind::VenueError
            } else {
                MessageKind::Control
            }));
        }
        match env.channel {
            Some("heartbeat" | "status") => Ok(control(MessageKind::Control)),
            Some("book") => {
                let snapshot = match env.type_ {
                    Some("snapshot") => true,
                    Some("update") => false,
                    other => {
                        return Err(wire::bad_field(
                            VENUE,
                            format!("book `type` {other:?} is not snapshot or update"),
                        ))
                    }
                };
                let data = env
                    .data
                    .ok_or_else(|| wire::bad_field(VENUE, "book without `data`"))?;
                let mut books: Vec<V2Book> = wire::parse_str(VENUE, data.get())?;
                match books.pop() {
                    Some(book) if books.is_empty() => {
                        self.v2_book(snapshot, &book, ts_recv_ns, out)
                    }
                    _ => Err(wire::bad_field(VENUE, "book `data` must hold one book")),
                }
            }
            Some("trade") => {
                let data = env
                    .data
                    .ok_or_else(|| wire::bad_field(VENUE, "trade without `data`"))?;
                let trades: Vec<V2Trade> = wire::parse_str(VENUE, data.get())?;
                self.v2_trades(&trades, out)
            }
            Some(other) => Err(wire::unsupported(VENUE, format!("channel {other:?}"))),
            None => Err(wire::bad_field(VENUE, "no `event`, `method` or `channel`")),
        }
    }

    fn v1_channel(
        &self,
        parts: &[&RawValue],
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let n = parts.len();
        if n < 4 {
            return Err(wire::bad_field(
                VENUE,
                format!("channel message with {n} elements (expected at least 4)"),
            ));
        }
        let channel: &str = wire::parse_str(VENUE, parts[n - 2].get())?;
        let pair: &str = wire::parse_str(VENUE, parts[n - 1].get())?;
        let payload = &parts[1..n - 2];
        if channel.starts_with("book") {
            let mut book_parts = Vec::with_capacity(payload.len());
            for p in payload {
                book_parts.push(wire::parse_str::<V1BookPart>(VENUE, p.get())?);
            }
            self.v1_book(pair, &book_parts, ts_recv_ns, out)
        } else if channel == "trade" {
            let [trades] = payload else {
                return Err(wire::bad_field(
                    VENUE,
                    "trade message without one trade list",
                ));
            };
            let trades: Vec<StrFields> = wire::parse_str(VENUE, trades.get())?;
            self.v1_trades(pair, &trades, out)
        } else {
            Err(wire::unsupported(VENUE, format!("channel {channel:?}")))
        }
    }

    fn v1_book(
        &self,
        pair: &str,
        parts: &[V1BookPart],
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let snapshot = parts
            .iter()
            .any(|p| p.snapshot_asks.is_some() || p.snapshot_bids.is_some());
        let mut checksum = None;
        let mut levels = Vec::new();
        for p in parts {
            if let Some(c) = p.c {
                checksum = Some(c.parse::<u32>().map_err(|_| {
                    wire::bad_field(VENUE, format!("checksum `c` {c:?} is not a u32"))
                })?);
            }
            for (side, list, field) in [
                (Side::Sell, &p.snapshot_asks, "as"),
                (Side::Buy, &p.snapshot_bids, "bs"),
                (Side::Sell, &p.a, "a"),
                (Side::Buy, &p.b, "b"),
            ] {
                for l in list.iter().flatten() {
                    levels.push(v1_level(side, l, field)?);
                }
            }
        }
        self.book_events(pair, snapshot, checksum, &levels, ts_recv_ns, out)
    }

    fn v2_book(
        &self,
        snapshot: bool,
        m: &V2Book,
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let ts = m
            .timestamp
            .map(|t| wire::rfc3339_to_ns(VENUE, "timestamp", t))
            .transpose()?;
        let mut levels = Vec::with_capacity(m.bids.len() + m.asks.len());
        for (side, list, px_field, qty_field) in [
            (Side::Buy, &m.bids, "bids.price", "bids.qty"),
            (Side::Sell, &m.asks, "asks.price", "asks.qty"),
        ] {
            for l in list {
                levels.push(Level {
                    side,
                    price: number_text(l.price, px_field)?,
                    qty: number_text(l.qty, qty_field)?,
                    ts_ns: ts,
                    republished: false,
                });
            }
        }
        self.book_events(m.symbol, snapshot, m.checksum, &levels, ts_recv_ns, out)
    }

    fn book_events(
        &self,
        pair: &str,
        snapshot: bool,
        checksum: Option<u32>,
        levels: &[Level],
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let (index, inst) = wire::instrument(VENUE, &self.instruments, self.venue, pair)?;
        let check = BookCheck {
            checksum,
            ..BookCheck::default()
        };
        let latest = levels.iter().filter_map(|l| l.ts_ns).max();
        let template = Event {
            id: check.to_id(),
            ts_event_ns: latest.unwrap_or(ts_recv_ns),
            instrument: index,
            kind: EventKind::BookDelta as u8,
            venue: self.venue,
            ..Event::default()
        };
        let start = out.len();
        if snapshot {
            out.push(Event {
                kind: EventKind::BookSnapshotBegin as u8,
                ..template
            });
        }
        for l in levels {
            out.push(self.level_event(inst, template, snapshot, l)?);
        }
        if snapshot {
            out.push(Event {
                kind: EventKind::BookSnapshotEnd as u8,
                ..template
            });
        } else if levels.is_empty() {
            out.push(template);
        }
        wire::mark_last(&mut out[start..]);
        Ok(Decoded {
            kind: if snapshot {
                MessageKind::DepthSnapshot
            } else {
                MessageKind::DepthDiff
            },
            events: out.len() - start,
        })
    }

    fn level_event(
        &self,
        inst: &Instrument,
        template: Event,
        snapshot: bool,
        l: &Level,
    ) -> Result<Event, FeedError> {
        let (px_field, qty_field) = match l.side {
            Side::Buy => ("bids.price", "bids.qty"),
            _ => ("asks.price", "asks.qty"),
        };
        Ok(Event {
            price_ticks: wire::price(VENUE, inst, px_field, l.price)?,
            qty_lots: wire::qty(VENUE, inst, qty_field, l.qty)?,
            side: l.side as u8,
            aux: i64::from(l.republished),
            ts_event_ns: l.ts_ns.unwrap_or(template.ts_event_ns),
            flags: if snapshot { flags::SNAPSHOT } else { 0 },
            id: BookCheck {
                price_places: decimal_places(l.price),
                qty_places: decimal_places(l.qty),
                ..BookCheck::from_id(template.id)
            }
            .to_id(),
            ..template
        })
    }

    fn v1_trades(
        &self,
        pair: &str,
        trades: &[StrFields],
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let (index, inst) = wire::instrument(VENUE, &self.instruments, self.venue, pair)?;
        let start = out.len();
        for t in trades {
            // [price, volume, time, side "b"/"s", order type, misc]
            let (Some(px), Some(vol), Some(time), Some(side)) =
                (t.get(0), t.get(1), t.get(2), t.get(3))
            else {
                return Err(wire::bad_field(VENUE, "trade with fewer than 4 fields"));
            };
            let side = match side {
                "b" => Side::Buy,
                "s" => Side::Sell,
                other => return Err(wire::bad_field(VENUE, format!("trade side {other:?}"))),
            };
            out.push(Event {
                ts_event_ns: wire::secs_text_to_ns(VENUE, "time", time)?,
                price_ticks: wire::price(VENUE, inst, "price", px)?,
                qty_lots: wire::qty(VENUE, inst, "volume", vol)?,
                side: side as u8,
                instrument: index,
                kind: EventKind::Trade as u8,
                venue: self.venue,
                ..Event::default()
            });
        }
        wire::mark_last(&mut out[start..]);
        Ok(Decoded {
            kind: MessageKind::Trade,
            events: out.len() - start,
        })
    }

    fn v2_trades(&self, trades: &[V2Trade], out: &mut Vec<Event>) -> Result<Decoded, FeedError> {
        let start = out.len();
        for t in trades {
            let (index, inst) = wire::instrument(VENUE, &self.instruments, self.venue, t.symbol)?;
            let side = match t.side {
                "buy" => Side::Buy,
                "sell" => Side::Sell,
                other => return Err(wire::bad_field(VENUE, format!("trade side {other:?}"))),
            };
            out.push(Event {
                ts_event_ns: wire::rfc3339_to_ns(VENUE, "timestamp", t.timestamp)?,
                seq: t.trade_id,
                id: t.trade_id,
                price_ticks: wire::price(VENUE, inst, "price", number_text(t.price, "price")?)?,
                qty_lots: wire::qty(VENUE, inst, "qty", number_text(t.qty, "qty")?)?,
                side: side as u8,
                instrument: index,
                kind: EventKind::Trade as u8,
                venue: self.venue,
                ..Event::default()
            });
        }
        wire::mark_last(&mut out[start..]);
        Ok(Decoded {
            kind: MessageKind::Trade,
            events: out.len() - start,
        })
    }
}

fn v1_level<'a>(
    side: Side,
    l: &StrFields<'a>,
    field: &'static str,
) -> Result<Level<'a>, FeedError> {
    let (Some(price), Some(qty), Some(time)) = (l.get(0), l.get(1), l.get(2)) else {
        return Err(wire::bad_field(
            VENUE,
            format!("`{field}` level with fewer than 3 fields"),
        ));
    };
    let republished = match (l.len(), l.get(3)) {
        (3, _) => false,
        (4, Some("r")) => true,
        _ => {
            return Err(wire::bad_field(
                VENUE,
                format!("`{field}` level has unexpected fields past the timestamp"),
            ))
        }
    };
    Ok(Level {
        side,
        price,
        qty,
        ts_ns: Some(wire::secs_text_to_ns(VENUE, "level time", time)?),
        republished,
    })
}

/// The exact text of a JSON number (v2 prices and quantities). A string or anything else is
/// a mistyped field; exponents are left for the decimal parser to reject.
fn number_text<'a>(raw: &'a RawValue, field: &'static str) -> Result<&'a str, FeedError> {
    let text = raw.get();
    match text.bytes().next() {
        Some(b'-' | b'0'..=b'9') => Ok(text),
        _ => Err(wire::bad_field(
            VENUE,
            format!("`{field}` must be a JSON number, got {text}"),
        )),
    }
}

fn control(kind: MessageKind) -> Decoded {
    Decoded { kind, events: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KRAKEN: u8 = 4;

    fn decoder() -> KrakenDecoder {
        let mut t = InstrumentTable::new();
        t.insert(Instrument::new("XMR/USD", KRAKEN, "0.00000001", "0.00000001").unwrap())
            .unwrap();
        t.insert(Instrument::new("ETH/USD", KRAKEN, "0.01", "0.00000001").unwrap())
            .unwrap();
        KrakenDecoder::new(KRAKEN, Arc::new(t))
    }

    fn decode(d: &mut KrakenDecoder, msg: &str) -> (Result<Decoded, FeedError>, Vec<Event>) {
        let mut out = Vec::new();
        let r = d.decode(msg.as_bytes(), 5, &mut out);
        (r, out)
    }

    #[test]
    fn v1_update_with_ask_and_bid_objects_keeps_array_order_and_checksum() {
        let mut d = decoder();
        let (r, out) = decode(
            &mut d,
            r#"[992,{"a":[["354.20000000","1.00000000","1618678133.365913","r"]]},{"b":[["354.15000000","0.00000000","1618678133.366461"]],"c":"2583817756"},"book-1000","XMR/USD"]"#,
        );
        assert_eq!(
            r,
            Ok(Decoded {
                kind: MessageKind::DepthDiff,
                events: 2
            })
        );
        assert_eq!((out[0].side, out[0].aux), (Side::Sell as u8, 1));
        assert_eq!(
            (out[1].side, out[1].qty_lots, out[1].aux),
            (Side::Buy as u8, 0, 0)
        );
        assert_eq!(out[0].price_ticks, 35_420_000_000);
        assert_eq!(out[0].ts_event_ns, 1_618_678_133_365_913_000);
        let c = BookCheck::from_id(out[1].id);
        assert_eq!(
            (c.checksum, c.price_places, c.qty_places),
            (Some(2_583_817_756), 8, 8)
        );
        assert_eq!(BookCheck::from_id(out[0].id).checksum, Some(2_583_817_756));
        assert_eq!(out[1].flags, flags::LAST_IN_BATCH);
    }

    #[test]
    fn v2_numbers_keep_their_exact_text() {
        let mut d = decoder();
        let (r, out) = decode(
            &mut d,
            r#"{"channel":"book","type":"snapshot","data":[{"symbol":"ETH/USD","bids":[{"price":1797.07,"qty":4.21870000}],"asks":[{"price":1797.29,"qty":0.50000000}],"checksum":2606672715}]}"#,
        );
        assert_eq!(r.map(|d| d.kind), Ok(MessageKind::DepthSnapshot));
        assert_eq!(out.len(), 4);
        assert_eq!((out[1].price_ticks, out[1].qty_lots), (179707, 421_870_000));
        let c = BookCheck::from_id(out[1].id);
        assert_eq!(
            (c.checksum, c.price_places, c.qty_places),
            (Some(2_606_672_715), 2, 8)
        );
        // A quoted number is a mistyped field; an exponent is not an exact decimal.
        let (r, _) = decode(
            &mut d,
            r#"{"channel":"book","type":"update","data":[{"symbol":"ETH/USD","bids":[{"price":"1797.07","qty":1.0}],"asks":[],"checksum":1}]}"#,
        );
        assert!(matches!(r, Err(FeedError::BadField { .. })), "{r:?}");
        let (r, _) = decode(
            &mut d,
            r#"{"channel":"book","type":"update","data":[{"symbol":"ETH/USD","bids":[{"price":1.797e3,"qty":1.0}],"asks":[],"checksum":1}]}"#,
        );
        assert!(matches!(r, Err(FeedError::BadDecimal { .. })), "{r:?}");
    }

    #[test]
    fn trades_and_control_messages() {
        let mut d = decoder();
        let (r, out) = decode(
            &mut d,
            r#"{"channel":"trade","type":"update","data":[{"symbol":"ETH/USD","side":"sell","price":1797.5,"qty":0.25,"ord_type":"market","trade_id":4665906,"timestamp":"2023-09-25T07:49:37.708706Z"}]}"#,
        );
        assert_eq!(r.map(|d| d.kind), Ok(MessageKind::Trade));
        assert_eq!(
            (out[0].id, out[0].price_ticks, out[0].qty_lots, out[0].side),
            (4665906, 179750, 25_000_000, Side::Sell as u8)
        );
        let (r, out) = decode(
            &mut d,
            r#"[0,[["354.20000000","0.10000000","1618678133.365913","b","l",""]],"trade","XMR/USD"]"#,
        );
        assert_eq!(r.map(|d| d.events), Ok(1));
        assert_eq!(out[0].side, Side::Buy as u8);
        for (msg, kind) in [
            (r#"{"event":"heartbeat"}"#, MessageKind::Control),
            (
                r#"{"connectionID":1,"event":"systemStatus","status":"online","version":"1.8.3"}"#,
                MessageKind::Control,
            ),
            (
                r#"{"event":"subscriptionStatus","status":"error","errorMessage":"Currency pair not supported"}"#,
                MessageKind::VenueError,
            ),
            (r#"{"channel":"heartbeat"}"#, MessageKind::Control),
            (
                r#"{"method":"subscribe","success":false,"error":"Currency pair not supported"}"#,
                MessageKind::VenueError,
            ),
        ] {
            assert_eq!(decode(&mut d, msg).0.map(|d| d.kind), Ok(kind), "{msg}");
        }
    }

    #[test]
    fn malformed_messages_get_the_right_error_and_leave_the_output_untouched() {
        let mut d = decoder();
        let mut out = vec![Event::default()];
        type Check = fn(&FeedError) -> bool;
        let cases: [(&str, Check); 6] = [
            (r#"[992,{"b":[["354.15000000","5.0"#, |e| {
                matches!(e, FeedError::MalformedJson { .. })
            }),
            (
                r#"[992,{"b":[["354.15000000",5.0,"1.0"]],"c":"1"},"book-1000","XMR/USD"]"#,
                |e| matches!(e, FeedError::BadField { .. }),
            ),
            (
                r#"[992,{"b":[["354.15000000","-5.0","1.0"]],"c":"1"},"book-1000","XMR/USD"]"#,
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
                r#"[992,{"b":[["354.15","5.0","1.0"]],"c":"1"},"book-1000","DOGE/USD"]"#,
                |e| matches!(e, FeedError::UnknownSymbol { symbol, .. } if symbol == "DOGE/USD"),
            ),
            (
                r#"[992,{"b":[["354.15","5.0","1.0","x"]],"c":"1"},"book-1000","XMR/USD"]"#,
                |e| matches!(e, FeedError::BadField { .. }),
            ),
            (r#"[992,{},"spread","XMR/USD"]"#, |e| {
                matches!(e, FeedError::Unsupported { .. })
            }),
        ];
        for (msg, check) in cases {
            let err = d.decode(msg.as_bytes(), 0, &mut out).expect_err(msg);
            assert!(check(&err), "{msg}: {err}");
            assert!(err.to_string().starts_with("kraken"), "{err}");
            assert_eq!(out.len(), 1, "{msg}");
        }
        assert_eq!(d.counters().rejected(), 6);
    }
}
