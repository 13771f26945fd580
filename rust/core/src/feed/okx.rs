//! OKX v5 public websocket decoder: `books` (snapshot and update actions), `trades`,
//! `tickers`, and the `event` replies (subscription acks as control, errors as
//! [`MessageKind::VenueError`]).
//!
//! Prices and sizes are OKX's decimal strings, parsed into ticks and lots with no float in
//! between (sizes of futures and swaps are in contracts, so their lot is one contract).
//! Each message is one batch, its last event flagged [`flags::LAST_IN_BATCH`]:
//!
//! | message | events | `seq` | `aux` | `id` | other |
//! |---|---|---|---|---|---|
//! | `books` snapshot | `BookSnapshotBegin`, 1 `BookDelta` per level flagged `SNAPSHOT` (bids then asks), `BookSnapshotEnd` | `seqId` | `prevSeqId` | [`BookCheck`]: `checksum`, sequence ids sent, the level's decimal places | `ts_event_ns` = `ts` |
//! | `books` update | 1 `BookDelta` per level, bids then asks (none: one `BookDelta` with `side` None, so the ids still reach the synchroniser) | `seqId` | `prevSeqId` | as above | size `"0"` deletes |
//! | `trades` | 1 `Trade` per trade | `tradeId` | 0 | `tradeId` | `side` = taker side |
//! | `tickers` | `Quote` bid (Buy), `Quote` ask (Sell); a side OKX leaves empty is skipped | 0 | 0 | 0 | |
//!
//! All events of a `books` message carry the same `seq`, `aux` and `id`, which is what
//! [`crate::book::OkxBookSync`] reads. Messages without `seqId`/`prevSeqId` (captures before
//! OKX added them) leave `seq` and `aux` 0 and say so in the [`BookCheck`]; a `checksum` of
//! 0 (OKX stopped computing them in 2026) is recorded as absent.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{decimal_places, flags, BookCheck, Event, EventKind, InstrumentTable, Side};

use super::wire::{self, StrFields};
use super::{DecodeCounters, Decoded, FeedError, MessageKind};

const VENUE: &str = "okx";

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    event: Option<&'a str>,
    #[serde(borrow, default)]
    arg: Option<Arg<'a>>,
    #[serde(borrow, default)]
    action: Option<&'a str>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Arg<'a> {
    channel: &'a str,
    #[serde(rename = "instId", default)]
    inst_id: Option<&'a str>,
}

#[derive(Deserialize)]
struct BookData<'a> {
    #[serde(borrow)]
    asks: Vec<StrFields<'a>>,
    #[serde(borrow)]
    bids: Vec<StrFields<'a>>,
    ts: &'a str,
    #[serde(default)]
    checksum: Option<i64>,
    #[serde(rename = "prevSeqId", default)]
    prev_seq_id: Option<i64>,
    #[serde(rename = "seqId", default)]
    seq_id: Option<i64>,
}

#[derive(Deserialize)]
struct TradeData<'a> {
    #[serde(rename = "instId")]
    inst_id: &'a str,
    #[serde(rename = "tradeId")]
    trade_id: &'a str,
    px: &'a str,
    sz: &'a str,
    side: &'a str,
    ts: &'a str,
}

#[derive(Deserialize)]
struct TickerData<'a> {
    #[serde(rename = "instId")]
    inst_id: &'a str,
    #[serde(rename = "bidPx")]
    bid_px: &'a str,
    #[serde(rename = "bidSz")]
    bid_sz: &'a str,
    #[serde(rename = "askPx")]
    ask_px: &'a str,
    #[serde(rename = "askSz")]
    ask_sz: &'a str,
    ts: &'a str,
}

/// Decodes OKX v5 public websocket messages into events.
#[derive(Debug, Clone)]
pub struct OkxDecoder {
    venue: u8,
    instruments: Arc<InstrumentTable>,
    counters: DecodeCounters,
}

impl OkxDecoder {
    /// A decoder stamping `venue` on its events and resolving `instId`s among that venue's
    /// instruments in `instruments`.
    pub fn new(venue: u8, instruments: Arc<InstrumentTable>) -> OkxDecoder {
        OkxDecoder {
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

    /// Decodes one websocket message and appends its events to `out`. On error nothing is
    /// appended.
    pub fn decode(
        &mut self,
        bytes: &[u8],
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let start = out.len();
        let result = self.decode_message(bytes, out);
        wire::finish(result, &mut self.counters, ts_recv_ns, start, out)
    }

    fn decode_message(&self, bytes: &[u8], out: &mut Vec<Event>) -> Result<Decoded, FeedError> {
        // OKX answers a text "ping" with a bare "pong", not JSON.
        if bytes.trim_ascii() == b"pong" {
            return Ok(control(MessageKind::Control));
        }
        let env: Envelope = wire::parse(VENUE, bytes)?;
        if let Some(event) = env.event {
            return Ok(control(if event == "error" {
                MessageKind::VenueError
            } else {
                MessageKind::Control
            }));
        }
        let (Some(arg), Some(data)) = (env.arg, env.data) else {
            return Err(wire::bad_field(VENUE, "neither `event` nor `arg` + `data`"));
        };
        let data = data.get();
        match arg.channel {
            "books" => {
                let inst_id = arg
                    .inst_id
                    .ok_or_else(|| wire::bad_field(VENUE, "`books` without `arg.instId`"))?;
                let mut books: Vec<BookData> = wire::parse_str(VENUE, data)?;
                let snapshot = match env.action {
                    Some("snapshot") => true,
                    Some("update") => false,
                    other => {
                        return Err(wire::bad_field(
                            VENUE,
                            format!("`books` action {other:?} is not snapshot or update"),
                        ))
                    }
                };
                match books.pop() {
                    Some(book) if books.is_empty() => self.book(inst_id, snapshot, &book, out),
                    _ => Err(wire::bad_field(VENUE, "`books` data must hold one book")),
                }
            }
            "trades" => {
                let trades: Vec<TradeData> = wire::parse_str(VENUE, data)?;
                self.trades(&trades, out)
            }
            "tickers" => {
                let tickers: Vec<TickerData> = wire::parse_str(VENUE, data)?;
                self.tickers(&tickers, out)
            }
            other => Err(wire::unsupported(VENUE, format!("channel {other:?}"))),
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

    fn book(
        &self,
        inst_id: &str,
        snapshot: bool,
        m: &BookData,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let (index, inst) = wire::instrument(VENUE, &self.instruments, self.venue, inst_id)?;
        let ts = wire::ms_text_to_ns(VENUE, "ts", m.ts)?;
        let checksum = match m.checksum {
            None | Some(0) => None,
            Some(c) => Some(i32::try_from(c).map_err(|_| {
                wire::bad_field(VENUE, format!("`checksum` {c} is not a 32-bit integer"))
            })? as u32),
        };
        let (seq, prev, has_seq_ids) = match (m.seq_id, m.prev_seq_id) {
            (Some(s), Some(p)) => (s as u64, p, true),
            _ => (0, 0, false),
        };
        let check = BookCheck {
            checksum,
            has_seq_ids,
            price_places: 0,
            qty_places: 0,
        };
        let template = Event {
            seq,
            aux: prev,
            id: check.to_id(),
            ..self.event(index, EventKind::BookDelta, ts)
        };
        let start = out.len();
        if snapshot {
            out.push(Event {
                kind: EventKind::BookSnapshotBegin as u8,
                ..template
            });
        }
        let level_flags = if snapshot { flags::SNAPSHOT } else { 0 };
        let mut levels = 0;
        for (side, list, px_field, sz_field) in [
            (Side::Buy, &m.bids, "bids.px", "bids.sz"),
            (Side::Sell, &m.asks, "asks.px", "asks.sz"),
        ] {
            for level in list {
                let (Some(px), Some(sz)) = (level.get(0), level.get(1)) else {
                    return Err(wire::bad_field(
                        VENUE,
                        "book level with fewer than 2 fields",
                    ));
                };
                out.push(Event {
                    price_ticks: wire::price(VENUE, inst, px_field, px)?,
                    qty_lots: wire::qty(VENUE, inst, sz_field, sz)?,
                    side: side as u8,
                    flags: level_flags,
                    id: BookCheck {
                        price_places: decimal_places(px),
                        qty_places: decimal_places(sz),
                        ..check
                    }
                    .to_id(),
                    ..template
                });
                levels += 1;
            }
        }
        if snapshot {
            out.push(Event {
                kind: EventKind::BookSnapshotEnd as u8,
                ..template
            });
        } else if levels == 0 {
            // A keep-alive: its ids must still reach the synchroniser.
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

    fn trades(&self, trades: &[TradeData], out: &mut Vec<Event>) -> Result<Decoded, FeedError> {
        let start = out.len();
        for t in trades {
            let (index, inst) = wire::instrument(VENUE, &self.instruments, self.venue, t.inst_id)?;
            let id: u64 = t
                .trade_id
                .parse()
                .map_err(|_| wire::bad_field(VENUE, format!("`tradeId` {:?}", t.trade_id)))?;
            let side = match t.side {
                "buy" => Side::Buy,
                "sell" => Side::Sell,
                other => return Err(wire::bad_field(VENUE, format!("trade `side` {other:?}"))),
            };
            out.push(Event {
                seq: id,
                id,
                price_ticks: wire::price(VENUE, inst, "px", t.px)?,
                qty_lots: wire::qty(VENUE, inst, "sz", t.sz)?,
                side: side as u8,
                ..self.event(
                    index,
                    EventKind::Trade,
                    wire::ms_text_to_ns(VENUE, "ts", t.ts)?,
                )
            });
        }
        wire::mark_last(&mut out[start..]);
        Ok(Decoded {
            kind: MessageKind::Trade,
            events: out.len() - start,
        })
    }

    fn tickers(&self, tickers: &[TickerData], out: &mut Vec<Event>) -> Result<Decoded, FeedError> {
        let start = out.len();
        for t in tickers {
            let (index, inst) = wire::instrument(VENUE, &self.instruments, self.venue, t.inst_id)?;
            let ts = wire::ms_text_to_ns(VENUE, "ts", t.ts)?;
            for (side, px, sz, px_field, sz_field) in [
                (Side::Buy, t.bid_px, t.bid_sz, "bidPx", "bidSz"),
                (Side::Sell, t.ask_px, t.ask_sz, "askPx", "askSz"),
            ] {
                // OKX leaves both fields empty when that side of the book is empty.
                if px.is_empty() && sz.is_empty() {
                    continue;
                }
                out.push(Event {
                    price_ticks: wire::price(VENUE, inst, px_field, px)?,
                    qty_lots: wire::qty(VENUE, inst, sz_field, sz)?,
                    side: side as u8,
                    ..self.event(index, EventKind::Quote, ts)
                });
            }
        }
        wire::mark_last(&mut out[start..]);
        Ok(Decoded {
            kind: MessageKind::BookTicker,
            events: out.len() - start,
        })
    }
}

fn control(kind: MessageKind) -> Decoded {
    Decoded { kind, events: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Instrument;

    const OKX: u8 = 3;

    fn decoder() -> OkxDecoder {
        let mut t = InstrumentTable::new();
        t.insert(Instrument::new("BTC-USDT", OKX, "0.1", "0.00000001").unwrap())
            .unwrap();
        OkxDecoder::new(OKX, Arc::new(t))
    }

    fn decode(d: &mut OkxDecoder, msg: &str) -> (Result<Decoded, FeedError>, Vec<Event>) {
        let mut out = Vec::new();
        let r = d.decode(msg.as_bytes(), 9, &mut out);
        (r, out)
    }

    #[test]
    fn books_update_carries_seq_ids_checksum_and_wire_places() {
        let mut d = decoder();
        let (r, out) = decode(
            &mut d,
            r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["30243.5","1.2112","0","4"]],"bids":[["30237.2","0","0","0"],["30236","0.40","0","1"]],"ts":"1652459225464","checksum":-914047754,"prevSeqId":123,"seqId":130}]}"#,
        );
        assert_eq!(
            r,
            Ok(Decoded {
                kind: MessageKind::DepthDiff,
                events: 3
            })
        );
        let sides: Vec<u8> = out.iter().map(|e| e.side).collect();
        assert_eq!(sides, vec![1, 1, 2]);
        assert_eq!((out[0].price_ticks, out[0].qty_lots), (302372, 0));
        assert_eq!((out[1].price_ticks, out[1].qty_lots), (302360, 40_000_000));
        assert_eq!((out[2].price_ticks, out[2].qty_lots), (302435, 121_120_000));
        assert!(out.iter().all(|e| e.seq == 130 && e.aux == 123));
        let c = BookCheck::from_id(out[1].id);
        assert_eq!(c.checksum, Some(-914_047_754i32 as u32));
        assert!(c.has_seq_ids);
        assert_eq!((c.price_places, c.qty_places), (0, 2));
        assert_eq!(out[0].ts_event_ns, 1_652_459_225_464_000_000);
        assert_eq!(out[2].flags, flags::LAST_IN_BATCH);
        assert!(out.iter().all(|e| e.ts_recv_ns == 9));
    }

    #[test]
    fn books_snapshot_is_bracketed_and_keep_alive_keeps_its_ids() {
        let mut d = decoder();
        let (r, out) = decode(
            &mut d,
            r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["2","1","0","1"]],"bids":[["1","1","0","1"]],"ts":"1","checksum":0,"prevSeqId":-1,"seqId":7}]}"#,
        );
        assert_eq!(r.map(|d| d.kind), Ok(MessageKind::DepthSnapshot));
        let kinds: Vec<u8> = out.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![4, 3, 3, 5]);
        assert_eq!(out[1].flags, flags::SNAPSHOT);
        assert_eq!(BookCheck::from_id(out[0].id).checksum, None);
        assert_eq!((out[0].seq, out[0].aux), (7, -1));
        let (r, out) = decode(
            &mut d,
            r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],"ts":"1","checksum":0,"prevSeqId":7,"seqId":7}]}"#,
        );
        assert_eq!(r.map(|d| d.events), Ok(1));
        assert_eq!((out[0].side, out[0].seq, out[0].aux), (0, 7, 7));
    }

    #[test]
    fn trades_tickers_and_events() {
        let mut d = decoder();
        let (r, out) = decode(
            &mut d,
            r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"7849","px":"30218.8","sz":"0.5","side":"sell","ts":"1652459199958"}]}"#,
        );
        assert_eq!(r.map(|d| d.kind), Ok(MessageKind::Trade));
        assert_eq!(
            (out[0].id, out[0].price_ticks, out[0].qty_lots, out[0].side),
            (7849, 302188, 50_000_000, Side::Sell as u8)
        );
        let (r, out) = decode(
            &mut d,
            r#"{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instType":"SPOT","instId":"BTC-USDT","last":"30218.8","lastSz":"1","askPx":"30220.1","askSz":"3","bidPx":"","bidSz":"","ts":"1652459223003"}]}"#,
        );
        assert_eq!(
            r,
            Ok(Decoded {
                kind: MessageKind::BookTicker,
                events: 1
            })
        );
        assert_eq!(
            (out[0].side, out[0].price_ticks),
            (Side::Sell as u8, 302201)
        );
        for (msg, kind) in [
            (
                r#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"}}"#,
                MessageKind::Control,
            ),
            (
                r#"{"event":"error","code":"60012","msg":"Invalid request"}"#,
                MessageKind::VenueError,
            ),
            ("pong", MessageKind::Control),
        ] {
            assert_eq!(decode(&mut d, msg).0.map(|d| d.kind), Ok(kind));
        }
        let c = d.counters();
        assert_eq!((c.decoded, c.control, c.venue_errors), (2, 2, 1));
    }

    #[test]
    fn malformed_messages_get_the_right_error_and_leave_the_output_untouched() {
        let mut d = decoder();
        let mut out = vec![Event::default()];
        type Check = fn(&FeedError) -> bool;
        let book = |body: &str| {
            format!(
                r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"update","data":[{body}]}}"#
            )
        };
        let cases: Vec<(String, Check)> = vec![
            (book(r#"{"asks":[["1","1"#), |e| {
                matches!(e, FeedError::MalformedJson { .. })
            }),
            (book(r#"{"asks":[],"bids":[],"ts":1}"#), |e| {
                matches!(e, FeedError::BadField { .. })
            }),
            (
                book(r#"{"asks":[["1","-1","0","1"]],"bids":[],"ts":"1"}"#),
                |e| {
                    matches!(
                        e,
                        FeedError::NegativeQuantity {
                            field: "asks.sz",
                            ..
                        }
                    )
                },
            ),
            (
                book(r#"{"asks":[["1.05","1","0","1"]],"bids":[],"ts":"1"}"#),
                |e| {
                    matches!(
                        e,
                        FeedError::BadDecimal {
                            field: "asks.px",
                            ..
                        }
                    )
                },
            ),
            (
                book(r#"{"asks":[],"bids":[],"ts":"1"}"#).replace("BTC-USDT", "ETH-USDT"),
                |e| matches!(e, FeedError::UnknownSymbol { symbol, .. } if symbol == "ETH-USDT"),
            ),
            (
                r#"{"arg":{"channel":"books5","instId":"BTC-USDT"},"data":[]}"#.into(),
                |e| matches!(e, FeedError::Unsupported { .. }),
            ),
        ];
        for (msg, check) in cases {
            let err = d.decode(msg.as_bytes(), 0, &mut out).expect_err(&msg);
            assert!(check(&err), "{msg}: {err}");
            assert!(err.to_string().starts_with("okx"), "{err}");
            assert_eq!(out.len(), 1, "{msg}");
        }
        assert_eq!(d.counters().rejected(), 6);
    }
}
