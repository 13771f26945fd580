//! Coinbase Advanced Trade market-data decoder (`wss://advanced-trade-ws.coinbase.com`):
//! `l2_data` (snapshot and update), `market_trades`, `ticker`, `heartbeats`, `subscriptions`
//! and error replies, plus the per-connection `sequence_num` gap check.
//!
//! Every message is an envelope `{channel, client_id, timestamp, sequence_num, events[]}`.
//! `sequence_num` counts every message of one connection, across all channels, with no
//! holes (measured by third parties; Coinbase's docs do not spell it out). A message whose
//! number is not the previous one + 1 means messages were lost: the decoder still decodes
//! it, records a [`SequenceGap`] and reports [`CoinbaseDecoder::needs_resubscribe`] until
//! the caller resubscribes (`level2` sends a new snapshot) and calls
//! [`CoinbaseDecoder::resubscribed`]. A new connection starts from whatever number comes
//! first.
//!
//! | message | events | `seq` | `aux` | `id` | other |
//! |---|---|---|---|---|---|
//! | `l2_data` snapshot | `BookSnapshotBegin`, 1 `BookDelta` per update flagged `SNAPSHOT`, `BookSnapshotEnd` | `sequence_num` | 0 | 0 | side `bid` Buy, `offer` Sell; `new_quantity` is absolute, `"0"` deletes; `ts_event_ns` = `event_time` |
//! | `l2_data` update | 1 `BookDelta` per update | `sequence_num` | 0 | 0 | as above |
//! | `market_trades` | 1 `Trade` per trade | `sequence_num` | 0 | `trade_id` | `side` = the venue's `side` field (BUY Buy, SELL Sell); whether it names the maker or the taker is disputed between clients |
//! | `ticker` | `Quote` bid (Buy) and ask (Sell) from `best_bid`/`best_bid_quantity`, `best_ask`/`best_ask_quantity`, where sent | `sequence_num` | 0 | 0 | `ts_event_ns` = envelope `timestamp` |
//!
//! Each `events[]` entry of an `l2_data` message becomes its own snapshot or update run;
//! the last event of the message is flagged [`flags::LAST_IN_BATCH`].

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::model::{flags, Event, EventKind, InstrumentTable, Side};

use super::wire;
use super::{DecodeCounters, Decoded, FeedError, MessageKind};

const VENUE: &str = "coinbase";

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    channel: Option<&'a str>,
    #[serde(borrow, default)]
    timestamp: Option<&'a str>,
    #[serde(default)]
    sequence_num: Option<u64>,
    #[serde(borrow, default)]
    events: Option<&'a RawValue>,
    /// Error replies: `{"type":"error","message":...}`.
    #[serde(borrow, default, rename = "type")]
    type_: Option<&'a str>,
}

#[derive(Deserialize)]
struct L2Event<'a> {
    #[serde(rename = "type")]
    type_: &'a str,
    product_id: &'a str,
    #[serde(borrow)]
    updates: Vec<L2Update<'a>>,
}

#[derive(Deserialize)]
struct L2Update<'a> {
    side: &'a str,
    #[serde(borrow, default)]
    event_time: Option<&'a str>,
    price_level: &'a str,
    new_quantity: &'a str,
}

#[derive(Deserialize)]
struct TradesEvent<'a> {
    #[serde(borrow)]
    trades: Vec<MarketTrade<'a>>,
}

#[derive(Deserialize)]
struct MarketTrade<'a> {
    trade_id: &'a str,
    product_id: &'a str,
    price: &'a str,
    size: &'a str,
    side: &'a str,
    time: &'a str,
}

#[derive(Deserialize)]
struct TickerEvent<'a> {
    #[serde(borrow)]
    tickers: Vec<Ticker<'a>>,
}

#[derive(Deserialize)]
struct Ticker<'a> {
    product_id: &'a str,
    #[serde(borrow, default)]
    best_bid: Option<&'a str>,
    #[serde(borrow, default)]
    best_bid_quantity: Option<&'a str>,
    #[serde(borrow, default)]
    best_ask: Option<&'a str>,
    #[serde(borrow, default)]
    best_ask_quantity: Option<&'a str>,
}

/// Messages were lost on the connection: `sequence_num` jumped from `expected - 1` to
/// `received`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SequenceGap {
    pub expected: u64,
    pub received: u64,
}

/// Decodes Coinbase Advanced Trade messages of one connection into events and watches the
/// connection's `sequence_num` for gaps.
#[derive(Debug, Clone)]
pub struct CoinbaseDecoder {
    venue: u8,
    instruments: Arc<InstrumentTable>,
    counters: DecodeCounters,
    last_sequence: Option<u64>,
    /// `sequence_num` of the message being decoded, committed only if it decodes.
    pending_sequence: Option<u64>,
    gap: Option<SequenceGap>,
    gaps: u64,
}

impl CoinbaseDecoder {
    /// A decoder stamping `venue` on its events and resolving product ids (`"BTC-USD"`)
    /// among that venue's instruments in `instruments`.
    pub fn new(venue: u8, instruments: Arc<InstrumentTable>) -> CoinbaseDecoder {
        CoinbaseDecoder {
            venue,
            instruments,
            counters: DecodeCounters::default(),
            last_sequence: None,
            pending_sequence: None,
            gap: None,
            gaps: 0,
        }
    }

    pub fn counters(&self) -> &DecodeCounters {
        &self.counters
    }

    pub fn instruments(&self) -> &Arc<InstrumentTable> {
        &self.instruments
    }

    /// True after a `sequence_num` gap until [`resubscribed`](Self::resubscribed): books
    /// built from this connection's `l2_data` are missing updates.
    pub fn needs_resubscribe(&self) -> bool {
        self.gap.is_some()
    }

    /// The first gap since the last resubscription, if any.
    pub fn gap(&self) -> Option<SequenceGap> {
        self.gap
    }

    /// Gaps seen since the decoder was created.
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// `sequence_num` of the last message.
    pub fn last_sequence(&self) -> Option<u64> {
        self.last_sequence
    }

    /// The caller resubscribed `level2` (a fresh snapshot follows): clears the gap.
    pub fn resubscribed(&mut self) {
        self.gap = None;
    }

    /// A new websocket connection: its `sequence_num` starts afresh.
    pub fn reconnected(&mut self) {
        self.gap = None;
        self.last_sequence = None;
    }

    /// Decodes one websocket message and appends its events to `out`. On error nothing is
    /// appended and the sequence state is unchanged.
    pub fn decode(
        &mut self,
        bytes: &[u8],
        ts_recv_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Decoded, FeedError> {
        let start = out.len();
        let result = self.decode_message(bytes, out);
        let result = wire::finish(result, &mut self.counters, ts_recv_ns, start, out);
        if let (Ok(_), Some(seq)) = (&result, self.pending_sequence.take()) {
            self.track(seq);
        }
        result
    }

    fn track(&mut self, seq: u64) {
        if let Some(last) = self.last_sequence {
            let expected = last.wrapping_add(1);
            if seq != expected {
                self.gaps += 1;
                self.gap.get_or_insert(SequenceGap {
                    expected,
                    received: seq,
                });
            }
        }
        self.last_sequence = Some(seq);
    }

    fn decode_message(&mut self, bytes: &[u8], out: &mut Vec<Event>) -> Result<Decoded, FeedError> {
        let env: Envelope = wire::parse(VENUE, bytes)?;
        if env.type_ == Some("error") && env.channel.is_none() {
            return Ok(control(MessageKind::VenueError));
        }
        let channel = env
            .channel
            .ok_or_else(|| wire::bad_field(VENUE, "missing field `channel`"))?;
        let seq = env
            .sequence_num
            .ok_or_else(|| wire::bad_field(VENUE, "missing field `sequence_num`"))?;
        let ts = env
            .timestamp
            .map(|t| wire::rfc3339_to_ns(VENUE, "timestamp", t))
            .transpose()?
            .unwrap_or(0);
        let events = env
            .events
            .ok_or_else(|| wire::bad_field(VENUE, "missing field `events`"))?
            .get();
        // Control messages have no events to carry the number; remember it here.
        self.pending_sequence = Some(seq);
        let start = out.len();
        let kind = match channel {
            "l2_data" => {
                let evs: Vec<L2Event> = wire::parse_str(VENUE, events)?;
                let mut kind = MessageKind::DepthDiff;
                for ev in &evs {
                    if self.l2(ev, seq, ts, out)? {
                        kind = MessageKind::DepthSnapshot;
                    }
                }
                kind
            }
            "market_trades" => {
                let evs: Vec<TradesEvent> = wire::parse_str(VENUE, events)?;
                for ev in &evs {
                    self.trades(&ev.trades, seq, out)?;
                }
                MessageKind::Trade
            }
            "ticker" | "ticker_batch" => {
                let evs: Vec<TickerEvent> = wire::parse_str(VENUE, events)?;
                for ev in &evs {
                    self.tickers(&ev.tickers, seq, ts, out)?;
                }
                MessageKind::BookTicker
            }
            "heartbeats" | "subscriptions" | "status" => MessageKind::Control,
            other => return Err(wire::unsupported(VENUE, format!("channel {other:?}"))),
        };
        wire::mark_last(&mut out[start..]);
        Ok(Decoded {
            kind,
            events: out.len() - start,
        })
    }

    fn event(&self, instrument: u32, kind: EventKind, seq: u64, ts_event_ns: u64) -> Event {
        Event {
            ts_event_ns,
            seq,
            instrument,
            kind: kind as u8,
            venue: self.venue,
            ..Event::default()
        }
    }

    /// Appends one `l2_data` event; true if it was a snapshot.
    fn l2(&self, ev: &L2Event, seq: u64, ts: u64, out: &mut Vec<Event>) -> Result<bool, FeedError> {
        let (index, inst) = wire::instrument(VENUE, &self.instruments, self.venue, ev.product_id)?;
        let snapshot = match ev.type_ {
            "snapshot" => true,
            "update" => false,
            other => {
                return Err(wire::bad_field(
                    VENUE,
                    format!("l2_data event type {other:?} is not snapshot or update"),
                ))
            }
        };
        let mark = |kind| self.event(index, kind, seq, ts);
        if snapshot {
            out.push(mark(EventKind::BookSnapshotBegin));
        }
        for u in &ev.updates {
            let side = match u.side {
                "bid" => Side::Buy,
                "offer" => Side::Sell,
                other => return Err(wire::bad_field(VENUE, format!("l2 side {other:?}"))),
            };
            let ts_event = u
                .event_time
                .map(|t| wire::rfc3339_to_ns(VENUE, "event_time", t))
                .transpose()?
                .unwrap_or(ts);
            out.push(Event {
                price_ticks: wire::price(VENUE, inst, "price_level", u.price_level)?,
                qty_lots: wire::qty(VENUE, inst, "new_quantity", u.new_quantity)?,
                side: side as u8,
                flags: if snapshot { flags::SNAPSHOT } else { 0 },
                ..self.event(index, EventKind::BookDelta, seq, ts_event)
            });
        }
        if snapshot {
            out.push(mark(EventKind::BookSnapshotEnd));
        }
        Ok(snapshot)
    }

    fn trades(
        &self,
        trades: &[MarketTrade],
        seq: u64,
        out: &mut Vec<Event>,
    ) -> Result<(), FeedError> {
        for t in trades {
            let (index, inst) =
                wire::instrument(VENUE, &self.instruments, self.venue, t.product_id)?;
            let id: u64 = t
                .trade_id
                .parse()
                .map_err(|_| wire::bad_field(VENUE, format!("`trade_id` {:?}", t.trade_id)))?;
            let side = match t.side {
                "BUY" => Side::Buy,
                "SELL" => Side::Sell,
                other => return Err(wire::bad_field(VENUE, format!("trade side {other:?}"))),
            };
            out.push(Event {
                id,
                price_ticks: wire::price(VENUE, inst, "price", t.price)?,
                qty_lots: wire::qty(VENUE, inst, "size", t.size)?,
                side: side as u8,
                ..self.event(
                    index,
                    EventKind::Trade,
                    seq,
                    wire::rfc3339_to_ns(VENUE, "time", t.time)?,
                )
            });
        }
        Ok(())
    }

    fn tickers(
        &self,
        tickers: &[Ticker],
        seq: u64,
        ts: u64,
        out: &mut Vec<Event>,
    ) -> Result<(), FeedError> {
        for t in tickers {
            let (index, inst) =
                wire::instrument(VENUE, &self.instruments, self.venue, t.product_id)?;
            for (side, px, qty) in [
                (Side::Buy, t.best_bid, t.best_bid_quantity),
                (Side::Sell, t.best_ask, t.best_ask_quantity),
            ] {
                let (Some(px), Some(qty)) = (px, qty) else {
                    continue;
                };
                out.push(Event {
                    price_ticks: wire::price(VENUE, inst, "best price", px)?,
                    qty_lots: wire::qty(VENUE, inst, "best quantity", qty)?,
                    side: side as u8,
                    ..self.event(index, EventKind::Quote, seq, ts)
                });
            }
        }
        Ok(())
    }
}

fn control(kind: MessageKind) -> Decoded {
    Decoded { kind, events: 0 }
}

/// The messages below are written from Coinbase's documented Advanced Trade format
/// (PROTOCOLS.md section 3, docs.cdp.coinbase.com channel pages); no real recording of this
/// protocol exists in the project's data, so these tests prove the decoder against the
/// documentation, not against captured traffic.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Instrument;

    const COINBASE: u8 = 5;

    fn decoder() -> CoinbaseDecoder {
        let mut t = InstrumentTable::new();
        t.insert(Instrument::new("BTC-USD", COINBASE, "0.01", "0.00000001").unwrap())
            .unwrap();
        CoinbaseDecoder::new(COINBASE, Arc::new(t))
    }

    fn l2(seq: u64, kind: &str, updates: &str) -> String {
        format!(
            r#"{{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":{seq},"events":[{{"type":"{kind}","product_id":"BTC-USD","updates":[{updates}]}}]}}"#
        )
    }

    const BID: &str = r#"{"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":"21921.73","new_quantity":"0.06317902"}"#;
    const OFFER: &str = r#"{"side":"offer","event_time":"1970-01-01T00:00:00Z","price_level":"21921.74","new_quantity":"0"}"#;

    fn decode(d: &mut CoinbaseDecoder, msg: &str) -> (Result<Decoded, FeedError>, Vec<Event>) {
        let mut out = Vec::new();
        let r = d.decode(msg.as_bytes(), 3, &mut out);
        (r, out)
    }

    #[test]
    fn l2_snapshot_and_update_become_book_events() {
        let mut d = decoder();
        let (r, out) = decode(&mut d, &l2(0, "snapshot", &format!("{BID},{OFFER}")));
        assert_eq!(
            r,
            Ok(Decoded {
                kind: MessageKind::DepthSnapshot,
                events: 4
            })
        );
        let kinds: Vec<u8> = out.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![4, 3, 3, 5]);
        assert_eq!(
            (out[1].side, out[1].price_ticks, out[1].qty_lots),
            (Side::Buy as u8, 2192173, 6_317_902)
        );
        assert_eq!((out[2].side, out[2].qty_lots), (Side::Sell as u8, 0));
        assert_eq!(out[0].ts_event_ns, 1_675_974_770_714_964_855);
        assert_eq!(out[3].flags, flags::LAST_IN_BATCH);
        let mut book = crate::book::OrderBook::new(0);
        book.apply_events(&out);
        assert_eq!(book.best_bid().map(|l| l.price_ticks), Some(2192173));
        assert_eq!(book.best_ask(), None);
        let (r, out) = decode(&mut d, &l2(1, "update", OFFER));
        assert_eq!(r.map(|d| d.kind), Ok(MessageKind::DepthDiff));
        assert_eq!((out.len(), out[0].seq), (1, 1));
        assert!(!d.needs_resubscribe());
    }

    #[test]
    fn trades_ticker_heartbeats_and_subscriptions() {
        let mut d = decoder();
        let (r, out) = decode(
            &mut d,
            r#"{"channel":"market_trades","client_id":"","timestamp":"2023-02-09T20:19:35.39625135Z","sequence_num":0,"events":[{"type":"snapshot","trades":[{"trade_id":"000000000","product_id":"BTC-USD","price":"1260.01","size":"0.3","side":"BUY","time":"2019-08-14T20:42:27.265Z"}]}]}"#,
        );
        assert_eq!(r.map(|d| d.kind), Ok(MessageKind::Trade));
        assert_eq!(
            (out[0].id, out[0].price_ticks, out[0].qty_lots, out[0].side),
            (0, 126001, 30_000_000, Side::Buy as u8)
        );
        let (r, out) = decode(
            &mut d,
            r#"{"channel":"ticker","client_id":"","timestamp":"2023-02-09T20:30:37.167359596Z","sequence_num":1,"events":[{"type":"snapshot","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"21932.98","volume_24_h":"16038.28770938","low_24_h":"21835.29","high_24_h":"23011.18","low_52_w":"15460","high_52_w":"48240","price_percent_chg_24_h":"-4.15775596190603","best_bid":"21931.98","best_bid_quantity":"8000.21","best_ask":"21933.98","best_ask_quantity":"8038.07770938"}]}]}"#,
        );
        assert_eq!(r.map(|d| d.events), Ok(2));
        assert_eq!((out[0].price_ticks, out[1].price_ticks), (2193198, 2193398));
        for (seq, msg) in [
            (
                2,
                r#"{"channel":"heartbeats","client_id":"","timestamp":"2023-06-23T20:31:26.122969572Z","sequence_num":2,"events":[{"current_time":"2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105","heartbeat_counter":"3049"}]}"#,
            ),
            (
                3,
                r#"{"channel":"subscriptions","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":3,"events":[{"subscriptions":{"level2":["BTC-USD"]}}]}"#,
            ),
        ] {
            assert_eq!(
                decode(&mut d, msg).0.map(|d| d.kind),
                Ok(MessageKind::Control)
            );
            assert_eq!(d.last_sequence(), Some(seq));
        }
        assert_eq!(
            decode(
                &mut d,
                r#"{"type":"error","message":"failure to subscribe"}"#
            )
            .0
            .map(|d| d.kind),
            Ok(MessageKind::VenueError)
        );
        assert!(!d.needs_resubscribe());
    }

    #[test]
    fn sequence_gap_demands_a_resubscription_until_acknowledged() {
        let mut d = decoder();
        decode(&mut d, &l2(0, "snapshot", BID)).0.unwrap();
        decode(&mut d, &l2(1, "update", BID)).0.unwrap();
        // Message 2 is lost.
        let (r, _) = decode(&mut d, &l2(3, "update", BID));
        assert!(r.is_ok());
        assert!(d.needs_resubscribe());
        assert_eq!(
            d.gap(),
            Some(SequenceGap {
                expected: 2,
                received: 3
            })
        );
        // It stays visible until the caller resubscribes; later gaps are counted.
        decode(&mut d, &l2(4, "update", BID)).0.unwrap();
        decode(&mut d, &l2(4, "update", BID)).0.unwrap();
        assert_eq!((d.gaps(), d.gap().map(|g| g.received)), (2, Some(3)));
        d.resubscribed();
        assert!(!d.needs_resubscribe());
        decode(&mut d, &l2(5, "snapshot", BID)).0.unwrap();
        assert!(!d.needs_resubscribe());
        // A new connection may start anywhere.
        d.reconnected();
        decode(&mut d, &l2(0, "snapshot", BID)).0.unwrap();
        assert!(!d.needs_resubscribe());
    }

    #[test]
    fn malformed_messages_get_the_right_error_and_leave_the_output_untouched() {
        let mut d = decoder();
        let mut out = vec![Event::default()];
        type Check = fn(&FeedError) -> bool;
        let neg = OFFER.replace(r#""0""#, r#""-1""#);
        let cases: Vec<(String, Check)> = vec![
            (l2(0, "update", BID)[..60].to_owned(), |e| {
                matches!(e, FeedError::MalformedJson { .. })
            }),
            (
                l2(0, "update", BID).replace(r#""sequence_num":0"#, r#""sequence_num":"0""#),
                |e| matches!(e, FeedError::BadField { .. }),
            ),
            (l2(0, "update", &neg), |e| {
                matches!(
                    e,
                    FeedError::NegativeQuantity {
                        field: "new_quantity",
                        ..
                    }
                )
            }),
            (
                l2(0, "update", BID).replace("BTC-USD", "ETH-USD"),
                |e| matches!(e, FeedError::UnknownSymbol { symbol, .. } if symbol == "ETH-USD"),
            ),
            (l2(0, "update", &BID.replace("bid", "ask")), |e| {
                matches!(e, FeedError::BadField { .. })
            }),
            (l2(0, "update", BID).replace("l2_data", "candles"), |e| {
                matches!(e, FeedError::Unsupported { .. })
            }),
        ];
        for (msg, check) in cases {
            let err = d.decode(msg.as_bytes(), 0, &mut out).expect_err(&msg);
            assert!(check(&err), "{msg}: {err}");
            assert!(err.to_string().starts_with("coinbase"), "{err}");
            assert_eq!(out.len(), 1, "{msg}");
        }
        // Rejected messages do not move the sequence.
        assert_eq!(d.last_sequence(), None);
        assert_eq!(d.counters().rejected(), 6);
    }
}
