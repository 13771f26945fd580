//! Rebuilds OKX books from a real capture (cryptofeed `OKX.ws.1.0`, 2022-05-13, see
//! `data/README.md` at the repository root) and checks every `books` message against the
//! checksum OKX computed at the time. The expected counts come from the data's README,
//! measured independently of this code.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use baconalgo_core::book::{CheckedOutcome, OkxBookSync, SyncState};
use baconalgo_core::feed::{FeedError, MessageKind, OkxDecoder};
use baconalgo_core::model::{Event, EventKind, FixedError, Instrument, InstrumentTable, Side};

const FILE: &str = "OKX.ws.1.0.gz";
const OKX: u8 = 3;

/// (instId, tick, lot). Futures and swaps trade whole contracts; spot sizes have 8 places.
const INSTRUMENTS: [(&str, &str, &str); 3] = [
    ("BTC-USD-220527", "0.1", "1"),
    ("UNI-USD-SWAP", "0.001", "1"),
    ("BTC-USDT", "0.1", "0.00000001"),
];

fn table() -> Arc<InstrumentTable> {
    let mut t = InstrumentTable::new();
    for (sym, tick, lot) in INSTRUMENTS {
        t.insert(Instrument::new(sym, OKX, tick, lot).unwrap())
            .unwrap();
    }
    Arc::new(t)
}

fn syncs(table: &InstrumentTable) -> HashMap<u32, OkxBookSync> {
    table
        .iter()
        .map(|(i, inst)| (i, OkxBookSync::new(i, inst)))
        .collect()
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    snapshots: usize,
    updates: usize,
    tickers: usize,
    trades: usize,
    events: usize,
}

/// The capture's messages, decoded: (JSON, decoded kind, events).
fn decoded(lines: &[String]) -> (Vec<(String, MessageKind, Vec<Event>)>, OkxDecoder) {
    let mut d = OkxDecoder::new(OKX, table());
    let mut all = Vec::new();
    for json in lines {
        let mut out = Vec::new();
        let r = d
            .decode(json.as_bytes(), 1, &mut out)
            .unwrap_or_else(|e| panic!("{e}: {json}"));
        all.push((json.clone(), r.kind, out));
    }
    (all, d)
}

fn lines() -> Vec<String> {
    common::cryptofeed::received(FILE)
        .into_iter()
        .map(|(_, j)| j)
        .collect()
}

fn is_book(kind: MessageKind) -> bool {
    matches!(kind, MessageKind::DepthSnapshot | MessageKind::DepthDiff)
}

#[test]
fn every_okx_books_message_matches_its_checksum_after_rebuild() {
    let (msgs, decoder) = decoded(&lines());
    let mut c = Counts::default();
    for (_, kind, _) in &msgs {
        match kind {
            MessageKind::DepthSnapshot => c.snapshots += 1,
            MessageKind::DepthDiff => c.updates += 1,
            MessageKind::BookTicker => c.tickers += 1,
            MessageKind::Trade => c.trades += 1,
            MessageKind::Control => c.events += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        c,
        Counts {
            snapshots: 3,
            updates: 287,
            tickers: 28,
            trades: 74,
            events: 18
        }
    );
    assert_eq!(decoder.counters().rejected(), 0);

    let table = table();
    let mut syncs = syncs(&table);
    let mut outcomes = Vec::new();
    for (json, kind, events) in msgs.iter().filter(|m| is_book(m.1)) {
        let sync = syncs.get_mut(&events[0].instrument).unwrap();
        let outcome = sync.on_message(events);
        let want = if *kind == MessageKind::DepthSnapshot {
            CheckedOutcome::Snapshot
        } else {
            CheckedOutcome::Applied
        };
        assert_eq!(outcome, want, "{json}");
        assert!(!sync.book().is_crossed());
        outcomes.push(outcome);
    }
    assert_eq!(outcomes.len(), 290);
    let mut per_instrument: Vec<(u64, u64)> = syncs
        .values()
        .map(|s| (s.stats().snapshots, s.stats().checksums_ok))
        .collect();
    per_instrument.sort();
    // Every books message of all three instruments carried a checksum, and all matched.
    let total: u64 = per_instrument.iter().map(|p| p.1).sum();
    assert_eq!(total, 290);
    assert!(per_instrument.iter().all(|p| p.0 == 1 && p.1 > 1));
    assert!(syncs
        .values()
        .all(|s| s.state() == SyncState::Synced && s.stats().checksum_mismatches == 0));
}

#[test]
fn a_changed_size_in_a_real_snapshot_is_a_checksum_mismatch() {
    let lines = lines();
    let snapshot = lines
        .iter()
        .find(|j| j.contains(r#""action":"snapshot""#) && j.contains("BTC-USDT"))
        .unwrap();
    // The first bid's size, `"0.059"` say, gets one more digit: still a valid size.
    let b_at = snapshot.find(r#""bids":[[""#).unwrap();
    let sz_at = b_at + snapshot[b_at..].find(r#"",""#).unwrap() + 3;
    let corrupted = format!("{}1{}", &snapshot[..sz_at], &snapshot[sz_at..]);
    let (msgs, _) = decoded(&[snapshot.clone(), corrupted]);
    let table = table();
    let mut s = OkxBookSync::new(msgs[0].2[0].instrument, table.get(2).unwrap());
    assert_eq!(s.on_message(&msgs[0].2), CheckedOutcome::Snapshot);
    assert!(matches!(
        s.on_message(&msgs[1].2),
        CheckedOutcome::ChecksumMismatch { .. }
    ));
    assert_eq!(s.state(), SyncState::NeedsResync);
    assert!(s.needs_resync());
    assert!(s.book().is_empty());
}

#[test]
fn every_update_with_one_top_level_size_changed_is_a_checksum_mismatch() {
    // For each real update that sets a level inside the top 25 of the rebuilt book, the
    // same update with that level's size one lot larger must fail its checksum.
    let (msgs, _) = decoded(&lines());
    let table = table();
    let mut syncs = syncs(&table);
    let mut corrupted_checked = 0;
    for (json, _, events) in msgs.iter().filter(|m| is_book(m.1)) {
        let sync = syncs.get_mut(&events[0].instrument).unwrap();
        let before = sync.clone();
        assert!(matches!(
            sync.on_message(events),
            CheckedOutcome::Snapshot | CheckedOutcome::Applied
        ));
        let top = |side: Side| -> Vec<i64> {
            sync.book().depth(side, 25).map(|l| l.price_ticks).collect()
        };
        let Some(i) = events.iter().position(|e| {
            e.kind == EventKind::BookDelta as u8
                && e.qty_lots > 0
                && e.flags == 0
                && e.side != Side::None as u8
                && top(if e.side == Side::Buy as u8 {
                    Side::Buy
                } else {
                    Side::Sell
                })
                .contains(&e.price_ticks)
        }) else {
            continue;
        };
        let mut bad = events.clone();
        bad[i].qty_lots += 1;
        let mut victim = before;
        assert!(
            matches!(
                victim.on_message(&bad),
                CheckedOutcome::ChecksumMismatch { .. }
            ),
            "{json}"
        );
        assert_eq!(victim.state(), SyncState::NeedsResync);
        corrupted_checked += 1;
    }
    // Most updates touch the top 25; the exact number is not the point, that it is large is.
    assert!(corrupted_checked > 200, "{corrupted_checked}");
}

/// The capture predates OKX's sequence ids; this adds them, numbering each instrument's
/// `books` messages 1000, 1001, ... with a snapshot's `prevSeqId` -1, as OKX documents.
fn with_seq_ids(lines: &[String]) -> Vec<String> {
    let mut next: HashMap<String, i64> = HashMap::new();
    lines
        .iter()
        .map(|j| {
            if !j.contains(r#""channel":"books""#) {
                return j.clone();
            }
            let inst = INSTRUMENTS
                .iter()
                .map(|i| i.0)
                .find(|i| j.contains(&format!(r#""instId":"{i}""#)))
                .unwrap();
            let seq = next.entry(inst.to_owned()).or_insert(1000);
            let prev = if j.contains(r#""action":"snapshot""#) {
                -1
            } else {
                *seq - 1
            };
            let ids = format!(r#""prevSeqId":{prev},"seqId":{seq},"checksum":"#);
            *seq += 1;
            j.replacen(r#""checksum":"#, &ids, 1)
        })
        .collect()
}

#[test]
fn a_lost_books_message_is_a_sequence_gap() {
    let lines = with_seq_ids(&lines());
    let (msgs, _) = decoded(&lines);
    let books: Vec<&Vec<Event>> = msgs.iter().filter(|m| is_book(m.1)).map(|m| &m.2).collect();
    // With the ids in place the replay is still clean...
    let table = table();
    let mut clean = syncs(&table);
    for events in &books {
        let s = clean.get_mut(&events[0].instrument).unwrap();
        assert!(matches!(
            s.on_message(events),
            CheckedOutcome::Snapshot | CheckedOutcome::Applied
        ));
    }
    assert!(clean.values().all(|s| s.stats().gaps == 0));
    // ...and losing the 100th books message is reported at the instrument's next message.
    const LOST: usize = 100;
    let lost_instrument = books[LOST][0].instrument;
    let lost_seq = books[LOST][0].seq as i64;
    let mut s = syncs(&table);
    let mut gap = None;
    for (n, events) in books.iter().enumerate() {
        if n == LOST {
            continue;
        }
        let sync = s.get_mut(&events[0].instrument).unwrap();
        match sync.on_message(events) {
            CheckedOutcome::Snapshot | CheckedOutcome::Applied => {}
            CheckedOutcome::Gap {
                expected_prev,
                prev,
            } => {
                assert!(gap.is_none());
                assert_eq!(events[0].instrument, lost_instrument);
                gap = Some((expected_prev, prev));
            }
            CheckedOutcome::AwaitingSnapshot => assert_eq!(events[0].instrument, lost_instrument),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(gap, Some((lost_seq - 1, lost_seq)));
    assert_eq!(s[&lost_instrument].state(), SyncState::NeedsResync);
    assert_eq!(
        s.values()
            .filter(|x| x.state() == SyncState::Synced)
            .count(),
        2
    );
}

#[test]
fn real_messages_made_malformed_get_the_matching_feed_error() {
    let lines = lines();
    let update = lines
        .iter()
        .find(|j| j.contains(r#""action":"update""#) && j.contains(r#""bids":[[""#))
        .unwrap();
    let mut d = OkxDecoder::new(OKX, table());
    let mut out = vec![Event::default()];
    let b_at = update.find(r#""bids":[[""#).unwrap();
    let sz_at = b_at + update[b_at..].find(r#"",""#).unwrap() + 3;
    type Check = fn(&FeedError) -> bool;
    let cases: Vec<(String, Check)> = vec![
        (update[..update.len() / 2].to_owned(), |e| {
            matches!(e, FeedError::MalformedJson { .. })
        }),
        (
            update.replacen(r#""ts":""#, r#""ts":["#, 1).replacen(
                r#"","checksum""#,
                r#"],"checksum""#,
                1,
            ),
            |e| matches!(e, FeedError::BadField { .. }),
        ),
        (format!("{}-{}", &update[..sz_at], &update[sz_at..]), |e| {
            matches!(
                e,
                FeedError::NegativeQuantity {
                    field: "bids.sz",
                    ..
                }
            )
        }),
        (
            format!("{}1.5{}", &update[..b_at + 10], &update[b_at + 10..]),
            |e| {
                matches!(
                    e,
                    FeedError::BadDecimal {
                        source: FixedError::Malformed { .. } | FixedError::OffGrid { .. },
                        ..
                    }
                )
            },
        ),
        (update.replace("BTC-USD", "ETH-USD"), |e| {
            matches!(e, FeedError::UnknownSymbol { .. })
        }),
    ];
    for (msg, check) in &cases {
        let err = d.decode(msg.as_bytes(), 0, &mut out).expect_err(msg);
        assert!(check(&err), "{err}: {msg}");
        assert_eq!(out.len(), 1);
    }
    assert_eq!(d.counters().rejected(), 5);
    assert!(d.decode(update.as_bytes(), 0, &mut out).is_ok());
}
