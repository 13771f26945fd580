//! Rebuilds Kraken v1 `book-1000` books for 10 pairs from a real capture (cryptofeed
//! `KRAKEN.ws.50.0`, 2021-04-17, see `data/README.md` at the repository root) and checks
//! every update against the checksum Kraken sent. The expected counts come from the data's
//! README, measured independently of this code.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use baconalgo_core::book::{CheckedOutcome, KrakenBookSync, SyncState};
use baconalgo_core::feed::{FeedError, KrakenDecoder, MessageKind};
use baconalgo_core::model::{Event, EventKind, Instrument, InstrumentTable, Side};

const FILE: &str = "KRAKEN.ws.50.0.gz";
const KRAKEN: u8 = 4;
const DEPTH: usize = 1000;

/// (pair, tick). Kraken v1 pads prices to a fixed width per pair (`"354.15000000"`), far
/// past the tick; the ticks here are the coarsest grids every price of the capture lies on
/// (Kraken's own tick sizes for these pairs), so the checksum can only match if the book
/// rewrites each level with the places it was sent with. Volumes have 8 places.
const PAIRS: [(&str, &str); 10] = [
    ("WAVES/EUR", "0.0001"),
    ("XMR/USD", "0.01"),
    ("KSM/XBT", "0.000001"),
    ("GRT/ETH", "0.0000001"),
    ("SC/EUR", "0.00001"),
    ("ETH/CHF", "0.01"),
    ("OCEAN/XBT", "0.00000001"),
    ("OMG/USD", "0.000001"),
    ("XBT/CHF", "0.1"),
    ("ADA/XBT", "0.00000001"),
];

fn table() -> Arc<InstrumentTable> {
    let mut t = InstrumentTable::new();
    for (pair, tick) in PAIRS {
        t.insert(Instrument::new(pair, KRAKEN, tick, "0.00000001").unwrap())
            .unwrap();
    }
    Arc::new(t)
}

fn syncs(table: &InstrumentTable, depth: usize) -> HashMap<u32, KrakenBookSync> {
    table
        .iter()
        .map(|(i, inst)| (i, KrakenBookSync::new(i, inst, depth)))
        .collect()
}

fn lines() -> Vec<String> {
    common::cryptofeed::received(FILE)
        .into_iter()
        .map(|(_, j)| j)
        .collect()
}

/// The capture decoded: (JSON, kind, events).
fn decoded(lines: &[String]) -> (Vec<(String, MessageKind, Vec<Event>)>, KrakenDecoder) {
    let mut d = KrakenDecoder::new(KRAKEN, table());
    let msgs = lines
        .iter()
        .map(|json| {
            let mut out = Vec::new();
            let r = d
                .decode(json.as_bytes(), 1, &mut out)
                .unwrap_or_else(|e| panic!("{e}: {json}"));
            (json.clone(), r.kind, out)
        })
        .collect();
    (msgs, d)
}

fn is_book(kind: MessageKind) -> bool {
    matches!(kind, MessageKind::DepthSnapshot | MessageKind::DepthDiff)
}

#[test]
fn every_kraken_update_matches_its_checksum_at_the_subscribed_depth() {
    let lines = lines();
    let (msgs, decoder) = decoded(&lines);
    let count = |k: MessageKind| msgs.iter().filter(|m| m.1 == k).count();
    assert_eq!(count(MessageKind::DepthSnapshot), 10);
    assert_eq!(count(MessageKind::DepthDiff), 4_269);
    let heartbeats = lines
        .iter()
        .filter(|j| j.contains(r#""heartbeat""#))
        .count();
    assert_eq!(heartbeats, 31);
    // 31 heartbeats + 1 systemStatus + 10 subscriptionStatus.
    assert_eq!(count(MessageKind::Control), 31 + 11);
    assert_eq!(msgs.len(), 4_279 + 31 + 11);
    assert_eq!(decoder.counters().rejected(), 0);

    let table = table();
    let mut syncs = syncs(&table, DEPTH);
    for (json, kind, events) in msgs.iter().filter(|m| is_book(m.1)) {
        let sync = syncs.get_mut(&events[0].instrument).unwrap();
        let want = if *kind == MessageKind::DepthSnapshot {
            CheckedOutcome::Snapshot
        } else {
            CheckedOutcome::Applied
        };
        assert_eq!(sync.on_message(events), want, "{json}");
        assert!(!sync.book().is_crossed(), "{json}");
    }
    let ok: u64 = syncs.values().map(|s| s.stats().checksums_ok).sum();
    assert_eq!(ok, 4_269);
    assert!(syncs.values().all(|s| s.state() == SyncState::Synced
        && s.stats().snapshots == 1
        && s.stats().applied > 0
        && s.stats().checksum_mismatches == 0));
    // No side ever reached the subscribed depth in this capture (README: at most 853).
    assert!(syncs
        .values()
        .all(|s| s.book().len(Side::Buy) < DEPTH && s.book().len(Side::Sell) < DEPTH));
}

#[test]
fn truncating_to_the_wrong_depth_breaks_the_checksum() {
    // The depth is part of the rule: a book kept at 10 levels loses levels Kraken still
    // holds at 1000, and the checksum catches it on every pair.
    let (msgs, _) = decoded(&lines());
    let table = table();
    let mut syncs = syncs(&table, 10);
    for (_, _, events) in msgs.iter().filter(|m| is_book(m.1)) {
        syncs
            .get_mut(&events[0].instrument)
            .unwrap()
            .on_message(events);
    }
    assert!(syncs
        .values()
        .all(|s| s.stats().checksum_mismatches >= 1 && s.state() == SyncState::NeedsResync));
}

#[test]
fn every_update_with_one_top_level_volume_changed_is_a_checksum_mismatch() {
    let (msgs, _) = decoded(&lines());
    let table = table();
    let mut syncs = syncs(&table, DEPTH);
    let mut corrupted_checked = 0;
    for (json, kind, events) in msgs.iter().filter(|m| is_book(m.1)) {
        let sync = syncs.get_mut(&events[0].instrument).unwrap();
        let before = sync.clone();
        sync.on_message(events);
        if *kind != MessageKind::DepthDiff {
            continue;
        }
        let top = |side: Side| -> Vec<i64> {
            sync.book().depth(side, 10).map(|l| l.price_ticks).collect()
        };
        // The last level of the message for its price: an earlier one may be overwritten.
        let Some(i) = events.iter().rposition(|e| {
            e.kind == EventKind::BookDelta as u8
                && e.qty_lots > 0
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
        assert!(victim.book().is_empty());
        corrupted_checked += 1;
    }
    assert!(corrupted_checked > 1_000, "{corrupted_checked}");
}

#[test]
fn a_changed_volume_in_a_real_message_is_detected_and_the_stream_waits_for_a_snapshot() {
    let lines = lines();
    let (msgs, _) = decoded(&lines);
    // XMR/USD: snapshot, then its updates; the first update's volume gets a digit more.
    let xmr: Vec<&(String, MessageKind, Vec<Event>)> = msgs
        .iter()
        .filter(|m| is_book(m.1) && m.0.ends_with(r#""XMR/USD"]"#))
        .collect();
    let first_update = &xmr[1].0;
    let vol_at = first_update.find(r#"",""#).unwrap() + 3;
    let corrupted = format!("{}1{}", &first_update[..vol_at], &first_update[vol_at..]);
    let (bad, _) = decoded(&[corrupted]);
    let table = table();
    let index = table.index_of(KRAKEN, "XMR/USD").unwrap();
    let mut s = KrakenBookSync::new(index, table.get(index).unwrap(), DEPTH);
    assert_eq!(s.on_message(&xmr[0].2), CheckedOutcome::Snapshot);
    assert!(matches!(
        s.on_message(&bad[0].2),
        CheckedOutcome::ChecksumMismatch { .. }
    ));
    assert!(s.needs_resync());
    assert_eq!(s.on_message(&xmr[2].2), CheckedOutcome::AwaitingSnapshot);
    assert_eq!(s.on_message(&xmr[0].2), CheckedOutcome::Snapshot);
    assert_eq!(s.state(), SyncState::Synced);
}

#[test]
fn real_messages_made_malformed_get_the_matching_feed_error() {
    let lines = lines();
    let update = lines
        .iter()
        .find(|j| j.starts_with('[') && j.contains(r#"{"b":[[""#))
        .unwrap();
    let mut d = KrakenDecoder::new(KRAKEN, table());
    let mut out = vec![Event::default()];
    let vol_at = update.find(r#"",""#).unwrap() + 3;
    type Check = fn(&FeedError) -> bool;
    let cases: Vec<(String, Check)> = vec![
        (update[..update.len() / 2].to_owned(), |e| {
            matches!(e, FeedError::MalformedJson { .. })
        }),
        (update.replacen(r#"{"b":[[""#, r#"{"b":[[1,""#, 1), |e| {
            matches!(e, FeedError::BadField { .. })
        }),
        (
            format!("{}-{}", &update[..vol_at], &update[vol_at..]),
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
        (update.replacen("/", "-", 1), |e| {
            matches!(e, FeedError::UnknownSymbol { .. })
        }),
    ];
    for (msg, check) in &cases {
        let err = d.decode(msg.as_bytes(), 0, &mut out).expect_err(msg);
        assert!(check(&err), "{err}: {msg}");
        assert_eq!(out.len(), 1);
    }
    assert_eq!(d.counters().rejected(), 4);
    assert!(d.decode(update.as_bytes(), 0, &mut out).is_ok());
}
