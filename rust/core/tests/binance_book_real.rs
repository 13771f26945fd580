//! Rebuilds Binance BTCUSDT books from real recordings (REST snapshot + depth diffs, see
//! `data/README.md` at the repository root) and checks them against the exchange's own bookTicker stream.
//! The expected counts come from the data's README, measured independently of this code.

mod common;

use std::collections::HashMap;

use baconalgo_core::book::{
    BinanceBookSync, DiffIds, DiffOutcome, OrderBook, SnapshotOutcome, SyncState,
};
use baconalgo_core::feed::{FeedError, MessageKind};
use baconalgo_core::model::{Event, FixedError, Side};

use common::{is_rest_snapshot, Market, SPOT, USDM};

/// Top of book as a bookTicker states it: (bid px, bid qty, ask px, ask qty).
type Top = (i64, i64, i64, i64);

fn book_top(book: &OrderBook) -> Option<Top> {
    let (b, a) = (book.best_bid()?, book.best_ask()?);
    Some((b.price_ticks, b.qty_lots, a.price_ticks, a.qty_lots))
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Replay {
    lines: usize,
    diffs: usize,
    book_tickers: usize,
    trades: usize,
    snapshots: usize,
    applied: u64,
    stale: u64,
    gaps: u64,
    /// bookTickers checked on arrival, their diff already applied.
    checked_after: usize,
    /// bookTickers checked when their diff was applied later.
    checked_before: usize,
    mismatches: Vec<(u64, Option<Top>, Top)>,
    crossed_after_diff: usize,
}

/// Replays a recording. `skip_diff` drops the n-th diff (0-based) as a lost message would;
/// the outcome of every diff is passed to `on_outcome`.
fn replay(
    m: Market,
    skip_diff: Option<usize>,
    mut on_outcome: impl FnMut(usize, DiffOutcome),
) -> (Replay, BinanceBookSync) {
    let (mut decoder, instrument) = m.decoder();
    let mut sync = BinanceBookSync::new(m.rule, instrument);
    let mut r = Replay::default();
    // bookTickers whose diff has not been applied yet, by `u`.
    let mut pending: HashMap<u64, Top> = HashMap::new();
    let mut out: Vec<Event> = Vec::new();
    let mut mismatches = Vec::new();
    let check = |book: &OrderBook, u: u64, want: Top, mismatches: &mut Vec<_>| {
        let got = book_top(book);
        if got != Some(want) {
            mismatches.push((u, got, want));
        }
    };

    for (ts, json) in m.lines() {
        r.lines += 1;
        out.clear();
        if is_rest_snapshot(&json) {
            decoder
                .decode_depth_snapshot("BTCUSDT", json.as_bytes(), ts, &mut out)
                .expect("snapshot decodes");
            r.snapshots += 1;
            let outcome = sync.on_snapshot_with(&out, |book, ids: DiffIds| {
                if let Some(want) = pending.remove(&ids.last_update_id) {
                    check(book, ids.last_update_id, want, &mut mismatches);
                    r.checked_before += 1;
                }
            });
            assert!(
                matches!(outcome, SnapshotOutcome::Synced { .. }),
                "{outcome:?}"
            );
            continue;
        }
        let decoded = decoder
            .decode(json.as_bytes(), ts, &mut out)
            .unwrap_or_else(|e| panic!("{e}: {json}"));
        match decoded.kind {
            MessageKind::DepthDiff => {
                let n = r.diffs;
                r.diffs += 1;
                if skip_diff == Some(n) {
                    continue;
                }
                let outcome = sync.on_diff(&out);
                on_outcome(n, outcome);
                if outcome == DiffOutcome::Applied {
                    let u = sync.last_update_id();
                    if sync.book().is_crossed() {
                        r.crossed_after_diff += 1;
                    }
                    if let Some(want) = pending.remove(&u) {
                        check(sync.book(), u, want, &mut mismatches);
                        r.checked_before += 1;
                    }
                    // Tickers older than the book can never be matched any more.
                    pending.retain(|&k, _| k > u);
                }
            }
            MessageKind::BookTicker => {
                r.book_tickers += 1;
                let (bid, ask) = (out[0], out[1]);
                assert_eq!((bid.side, ask.side), (Side::Buy as u8, Side::Sell as u8));
                let u = bid.seq;
                let top = (bid.price_ticks, bid.qty_lots, ask.price_ticks, ask.qty_lots);
                if sync.state() == SyncState::Synced
                    && u == sync.last_update_id()
                    && sync.stats().applied > 0
                {
                    check(sync.book(), u, top, &mut mismatches);
                    r.checked_after += 1;
                } else if sync.state() != SyncState::Synced || u > sync.last_update_id() {
                    pending.insert(u, top);
                }
            }
            MessageKind::Trade => r.trades += 1,
            other => panic!("unexpected {other:?}: {json}"),
        }
    }
    r.mismatches = mismatches;
    let st = sync.stats();
    (r.applied, r.stale, r.gaps) = (st.applied, st.stale, st.gaps);
    assert_eq!(decoder.counters().rejected(), 0);
    (r, sync)
}

#[test]
fn spot_book_rebuilt_from_snapshot_and_diffs_matches_every_book_ticker() {
    let (r, sync) = replay(SPOT, None, |_, _| {});
    assert_eq!(
        (r.lines, r.diffs, r.book_tickers, r.trades, r.snapshots),
        (41_249, 3_451, 28_040, 9_757, 1)
    );
    assert_eq!((r.applied, r.stale, r.gaps), (3_449, 2, 0));
    assert_eq!(sync.state(), SyncState::Synced);
    assert_eq!(r.mismatches, vec![]);
    assert_eq!((r.checked_before, r.checked_after), (564, 0));
    assert_eq!(r.crossed_after_diff, 0);
}

#[test]
fn usdm_book_rebuilt_with_the_pu_rule_matches_every_book_ticker() {
    let (r, sync) = replay(USDM, None, |_, _| {});
    assert_eq!(
        (r.lines, r.diffs, r.book_tickers, r.trades, r.snapshots),
        (93_954, 6_551, 66_089, 21_313, 1)
    );
    assert_eq!((r.applied, r.stale, r.gaps), (6_547, 4, 0));
    assert_eq!(sync.state(), SyncState::Synced);
    assert_eq!(r.mismatches, vec![]);
    assert_eq!((r.checked_after, r.checked_before), (126, 503));
    assert_eq!(r.crossed_after_diff, 0);
}

/// Index of the diff to lose: well after the snapshot, so the book is live.
const LOST_DIFF: usize = 1_000;

fn lost_diff_demands_resync(m: Market) {
    let mut outcomes = Vec::new();
    let (r, sync) = replay(m, Some(LOST_DIFF), |n, o| outcomes.push((n, o)));
    let after: Vec<_> = outcomes.iter().filter(|(n, _)| *n > LOST_DIFF).collect();
    assert_eq!(after[0], &(LOST_DIFF + 1, DiffOutcome::Gap));
    assert!(after[1..].iter().all(|(_, o)| *o == DiffOutcome::Buffered));
    assert_eq!(r.gaps, 1);
    assert_eq!(sync.state(), SyncState::NeedsResync);
    assert!(sync.needs_snapshot());
    assert!(sync.book().is_empty());
}

#[test]
fn spot_lost_diff_demands_resync() {
    lost_diff_demands_resync(SPOT);
}

#[test]
fn usdm_lost_diff_demands_resync() {
    lost_diff_demands_resync(USDM);
}

/// Diffs of a recording decoded, in order, for feeding a synchroniser by hand.
fn diffs_and_snapshot(m: Market) -> (Vec<Event>, Vec<Vec<Event>>, u32) {
    let (mut decoder, instrument) = m.decoder();
    let (mut snapshot, mut diffs) = (Vec::new(), Vec::new());
    for (ts, json) in m.lines() {
        let mut out = Vec::new();
        if is_rest_snapshot(&json) {
            decoder
                .decode_depth_snapshot("BTCUSDT", json.as_bytes(), ts, &mut out)
                .unwrap();
            snapshot = out;
        } else if decoder.decode(json.as_bytes(), ts, &mut out).unwrap().kind
            == MessageKind::DepthDiff
        {
            diffs.push(out);
        }
    }
    (snapshot, diffs, instrument)
}

#[test]
fn duplicated_diff_is_dropped_and_swapped_diffs_are_a_gap() {
    for m in [SPOT, USDM] {
        let (snapshot, diffs, instrument) = diffs_and_snapshot(m);
        let mut sync = BinanceBookSync::new(m.rule, instrument);
        for d in &diffs[..100] {
            sync.on_diff(d);
        }
        assert!(matches!(
            sync.on_snapshot(&snapshot),
            SnapshotOutcome::Synced { .. }
        ));
        for d in &diffs[100..200] {
            assert_eq!(sync.on_diff(d), DiffOutcome::Applied);
        }
        assert_eq!(sync.on_diff(&diffs[199]), DiffOutcome::Stale);
        assert_eq!(sync.state(), SyncState::Synced);
        assert_eq!(sync.on_diff(&diffs[201]), DiffOutcome::Gap);
        assert_eq!(sync.state(), SyncState::NeedsResync);
    }
}

/// The first depth diff line of a recording.
fn first_diff_line(m: Market) -> String {
    m.lines()
        .into_iter()
        .map(|(_, j)| j)
        .find(|j| j.contains("depthUpdate"))
        .unwrap()
}

#[test]
fn real_messages_made_malformed_get_the_matching_feed_error() {
    for m in [SPOT, USDM] {
        let (mut decoder, _) = m.decoder();
        let line = first_diff_line(m);
        let venue = m.market.venue_name();
        let mut out = Vec::new();

        let truncated = &line[..line.len() / 2];
        let err = decoder
            .decode(truncated.as_bytes(), 0, &mut out)
            .unwrap_err();
        assert!(
            matches!(err, FeedError::MalformedJson { venue: v, .. } if v == venue),
            "{err}"
        );

        // A string where the update id number should be.
        let u_at = line.find(r#""u":"#).unwrap() + 4;
        let mistyped = format!(
            r#"{}"oops"{}"#,
            &line[..u_at],
            &line[u_at..].trim_start_matches(|c: char| c.is_ascii_digit())
        );
        let err = decoder
            .decode(mistyped.as_bytes(), 0, &mut out)
            .unwrap_err();
        assert!(
            matches!(&err, FeedError::BadField { detail, .. } if detail.contains("invalid type: string \"oops\"")),
            "{err}"
        );

        // A negative quantity in the first bid level.
        let b_at = line.find(r#""b":[[""#).unwrap();
        let qty_at = b_at + line[b_at..].find(r#"",""#).unwrap() + 3;
        let negative = format!("{}-{}", &line[..qty_at], &line[qty_at..]);
        let err = decoder
            .decode(negative.as_bytes(), 0, &mut out)
            .unwrap_err();
        assert!(
            matches!(
                err,
                FeedError::NegativeQuantity {
                    field: "bids.qty",
                    ..
                }
            ),
            "{err}"
        );

        // A price off the tick grid.
        let px_at = b_at + 7;
        let off_grid = format!(
            "{}9{}",
            &line[..px_at],
            &line[px_at..].replacen('"', "1\"", 1)
        );
        let err = decoder
            .decode(off_grid.as_bytes(), 0, &mut out)
            .unwrap_err();
        assert!(
            matches!(
                err,
                FeedError::BadDecimal {
                    source: FixedError::OffGrid { .. },
                    ..
                }
            ),
            "{err}"
        );

        assert!(out.is_empty());
        let c = decoder.counters();
        assert_eq!(
            (
                c.malformed_json,
                c.bad_field,
                c.negative_quantity,
                c.bad_decimal
            ),
            (1, 1, 1, 1)
        );
        assert!(decoder.decode(line.as_bytes(), 0, &mut out).is_ok());
    }
}

#[test]
fn usdm_stream_breaks_the_spot_continuity_rule() {
    // Futures ids are not contiguous across diffs: checking them with the spot rule must
    // report a gap almost at once, which is why the pu rule exists.
    let (snapshot, diffs, instrument) = diffs_and_snapshot(USDM);
    let mut sync = BinanceBookSync::new(baconalgo_core::book::SyncRule::Spot, instrument);
    assert!(matches!(
        sync.on_snapshot(&snapshot),
        SnapshotOutcome::Synced { replayed: 0 }
    ));
    let outcomes: Vec<DiffOutcome> = diffs
        .iter()
        .map(|d| sync.on_diff(d))
        .take_while(|o| *o != DiffOutcome::Gap)
        .collect();
    assert!(outcomes.len() < diffs.len(), "no gap found");
    let applied = outcomes
        .iter()
        .filter(|o| **o == DiffOutcome::Applied)
        .count();
    assert!(applied <= 1, "{applied} diffs passed the spot rule");
    assert_eq!(sync.state(), SyncState::NeedsResync);
}
