//! The OKX `books` synchroniser: keeps one [`OrderBook`] in step with OKX v5 `books`
//! messages, checking sequence continuity and, while OKX still computes it, the CRC32
//! checksum of every message.
//!
//! Rules (OKX v5 docs; checksum checked on the real capture in `tests/okx_book_real.rs`):
//!
//! * A `snapshot` replaces the book (its `prevSeqId` is -1). An `update` applies each level
//!   in order: size 0 deletes, otherwise the size replaces the level's.
//! * Continuity: an update's `prevSeqId` must equal the previous message's `seqId`.
//!   A keep-alive has no levels and `seqId == prevSeqId`. After exchange maintenance a
//!   message may carry `seqId < prevSeqId`: it is valid and the stream continues from its
//!   `seqId`, so only `prevSeqId` is compared, never the order of `seqId`s.
//! * Checksum, when the message's `checksum` is non-zero: CRC32 (compared as the signed
//!   32-bit value's bits) of the top 25 bids and asks interleaved,
//!   `bid1px:bid1sz:ask1px:ask1sz:...`, a side's missing levels skipped, written exactly as
//!   on the wire. OKX sends 0 since 2026-06-23; then only the sequence ids guard the book.
//! * Any break (a gap or a checksum mismatch) discards the book and sets
//!   [`SyncState::NeedsResync`]: the caller resubscribes `books` to get a new snapshot.
//!   Updates are ignored until it arrives.
//!
//! The ids travel in the events as `feed::okx` writes them: `seq` = `seqId`, `aux` =
//! `prevSeqId`, `id` = the packed [`BookCheck`](crate::model::BookCheck).

use crate::model::{BookCheck, Event, EventKind, Instrument, Side};

use super::checked::{message_head, CheckedOutcome, CheckedStats, TextBook};
use super::order_book::OrderBook;
use super::sync::SyncState;

/// Keeps one OKX `books` [`OrderBook`] in step, verifying sequence ids and checksums.
#[derive(Debug, Clone)]
pub struct OkxBookSync {
    book: TextBook,
    state: SyncState,
    /// `seqId` of the last message, if the venue sent sequence ids.
    last_seq_id: Option<i64>,
    stats: CheckedStats,
}

impl OkxBookSync {
    /// A synchroniser for the instrument at `instrument` in the table, whose grids are used
    /// to write levels back in their wire form.
    pub fn new(instrument: u32, spec: &Instrument) -> OkxBookSync {
        OkxBookSync {
            book: TextBook::new(instrument, spec.tick, spec.lot),
            state: SyncState::AwaitingSnapshot,
            last_seq_id: None,
            stats: CheckedStats::default(),
        }
    }

    pub fn state(&self) -> SyncState {
        self.state
    }

    /// True when the caller must (re)subscribe to get a snapshot.
    pub fn needs_resync(&self) -> bool {
        self.state != SyncState::Synced
    }

    /// The book. Only meaningful while [`state`](Self::state) is `Synced`.
    pub fn book(&self) -> &OrderBook {
        &self.book.book
    }

    pub fn stats(&self) -> CheckedStats {
        self.stats
    }

    /// `seqId` of the last applied message, if the venue sends sequence ids.
    pub fn last_seq_id(&self) -> Option<i64> {
        self.last_seq_id
    }

    /// The string the last checksum was computed over.
    pub fn last_checksum_text(&self) -> &str {
        self.book.last_checksum_text()
    }

    /// Discards the book, e.g. after a reconnect.
    pub fn reset(&mut self) {
        self.book.clear();
        self.last_seq_id = None;
        self.state = SyncState::AwaitingSnapshot;
    }

    /// Feeds the events of one `books` message (one decoded batch).
    pub fn on_message(&mut self, events: &[Event]) -> CheckedOutcome {
        let Some((head, is_snapshot)) = message_head(events, self.book.book.instrument()) else {
            return CheckedOutcome::NotABookMessage;
        };
        let check = BookCheck::from_id(head.id);
        let seq_id = head.seq as i64;
        let prev_seq_id = head.aux;
        let mut heartbeat = false;
        if is_snapshot {
            self.book.clear();
            // A snapshot starts the chain afresh, with or without ids.
            self.last_seq_id = None;
            self.stats.snapshots += 1;
        } else {
            if self.state != SyncState::Synced {
                self.stats.ignored += 1;
                return CheckedOutcome::AwaitingSnapshot;
            }
            if check.has_seq_ids {
                if let Some(expected_prev) = self.last_seq_id {
                    if prev_seq_id != expected_prev {
                        self.stats.gaps += 1;
                        self.fail();
                        return CheckedOutcome::Gap {
                            expected_prev,
                            prev: prev_seq_id,
                        };
                    }
                }
                heartbeat = seq_id == prev_seq_id && !has_levels(events);
            }
        }
        self.book.apply(events);
        if check.has_seq_ids {
            self.last_seq_id = Some(seq_id);
            self.book.book.set_last_seq(head.seq);
        }
        if let Some(venue) = check.checksum {
            let computed = self.book.okx_checksum();
            if computed != Some(venue) {
                self.stats.checksum_mismatches += 1;
                self.fail();
                return CheckedOutcome::ChecksumMismatch { venue, computed };
            }
            self.stats.checksums_ok += 1;
        }
        self.state = SyncState::Synced;
        if is_snapshot {
            CheckedOutcome::Snapshot
        } else if heartbeat {
            self.stats.heartbeats += 1;
            CheckedOutcome::Heartbeat
        } else {
            self.stats.applied += 1;
            CheckedOutcome::Applied
        }
    }

    fn fail(&mut self) {
        self.book.clear();
        self.last_seq_id = None;
        self.state = SyncState::NeedsResync;
    }
}

/// Whether a message carries any level (an empty update is one `Side::None` marker event).
fn has_levels(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| e.kind == EventKind::BookDelta as u8 && e.side != Side::None as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::flags;

    fn spec() -> Instrument {
        Instrument::new("BTC-USDT", 3, "0.1", "0.00000001").unwrap()
    }

    /// One level as the OKX decoder writes it.
    fn level(side: Side, px: &str, sz: &str, seq: (i64, i64), checksum: Option<i32>) -> Event {
        let s = spec();
        Event {
            kind: EventKind::BookDelta as u8,
            side: side as u8,
            price_ticks: s.price_ticks(px).unwrap(),
            qty_lots: s.qty_lots(sz).unwrap(),
            seq: seq.0 as u64,
            aux: seq.1,
            id: BookCheck {
                checksum: checksum.map(|c| c as u32),
                has_seq_ids: true,
                price_places: crate::model::decimal_places(px),
                qty_places: crate::model::decimal_places(sz),
            }
            .to_id(),
            ..Event::default()
        }
    }

    fn snapshot(levels: Vec<Event>) -> Vec<Event> {
        let mark = |kind: EventKind| Event {
            kind: kind as u8,
            ..levels[0]
        };
        let mut v = vec![mark(EventKind::BookSnapshotBegin)];
        v.extend(levels.iter().map(|l| Event {
            flags: flags::SNAPSHOT,
            ..*l
        }));
        v.push(mark(EventKind::BookSnapshotEnd));
        v
    }

    #[test]
    fn okx_documentation_checksum_vectors() {
        // OKX docs: bids 3366.1/7, 3366/6; asks 3366.8/9, 3368/8 -> -1881014294, and
        // bids 3366.1/7; asks 3366.8/9, 3368/8, 3372/8 -> 831078360.
        let mut s = OkxBookSync::new(0, &spec());
        let snap = snapshot(vec![
            level(Side::Buy, "3366.1", "7", (10, -1), Some(-1_881_014_294)),
            level(Side::Buy, "3366", "6", (10, -1), Some(-1_881_014_294)),
            level(Side::Sell, "3366.8", "9", (10, -1), Some(-1_881_014_294)),
            level(Side::Sell, "3368", "8", (10, -1), Some(-1_881_014_294)),
        ]);
        assert_eq!(s.on_message(&snap), CheckedOutcome::Snapshot);
        assert_eq!(s.last_checksum_text(), "3366.1:7:3366.8:9:3366:6:3368:8");
        let update = [
            level(Side::Buy, "3366", "0", (11, 10), Some(831_078_360)),
            level(Side::Sell, "3372", "8", (11, 10), Some(831_078_360)),
        ];
        assert_eq!(s.on_message(&update), CheckedOutcome::Applied);
        assert_eq!(s.last_checksum_text(), "3366.1:7:3366.8:9:3368:8:3372:8");
        assert_eq!(s.stats().checksums_ok, 2);
    }

    #[test]
    fn sequence_rules_heartbeat_maintenance_reset_and_gap() {
        let mut s = OkxBookSync::new(0, &spec());
        let upd = |seq, prev| vec![level(Side::Buy, "100", "1", (seq, prev), None)];
        // Updates before a snapshot are ignored.
        assert_eq!(s.on_message(&upd(5, 4)), CheckedOutcome::AwaitingSnapshot);
        let snap = snapshot(vec![level(Side::Buy, "99", "1", (10, -1), None)]);
        assert_eq!(s.on_message(&snap), CheckedOutcome::Snapshot);
        assert_eq!(s.on_message(&upd(12, 10)), CheckedOutcome::Applied);
        // Keep-alive: no levels, seqId == prevSeqId.
        let keep_alive = [Event {
            side: Side::None as u8,
            price_ticks: 0,
            qty_lots: 0,
            ..level(Side::Buy, "0", "0", (12, 12), None)
        }];
        assert_eq!(s.on_message(&keep_alive), CheckedOutcome::Heartbeat);
        // Maintenance reset: seqId below prevSeqId is valid, the stream continues from it.
        assert_eq!(s.on_message(&upd(3, 12)), CheckedOutcome::Applied);
        assert_eq!(s.on_message(&upd(4, 3)), CheckedOutcome::Applied);
        assert_eq!(s.last_seq_id(), Some(4));
        // A lost message.
        assert_eq!(
            s.on_message(&upd(9, 7)),
            CheckedOutcome::Gap {
                expected_prev: 4,
                prev: 7
            }
        );
        assert_eq!(s.state(), SyncState::NeedsResync);
        assert!(s.book().is_empty());
        assert_eq!(s.on_message(&upd(10, 9)), CheckedOutcome::AwaitingSnapshot);
        assert_eq!(s.on_message(&snap), CheckedOutcome::Snapshot);
        assert_eq!(s.state(), SyncState::Synced);
        // Another instrument's message is not this book's.
        let other = [Event {
            instrument: 1,
            ..upd(11, 10)[0]
        }];
        assert_eq!(s.on_message(&other), CheckedOutcome::NotABookMessage);
        assert_eq!(s.last_seq_id(), Some(10));
        let st = s.stats();
        assert_eq!(
            (st.gaps, st.heartbeats, st.ignored, st.applied),
            (1, 1, 2, 3)
        );
    }

    #[test]
    fn checksum_mismatch_discards_the_book() {
        let mut s = OkxBookSync::new(0, &spec());
        // "3366.1:7" has a different CRC than the doc vector expects.
        let snap = snapshot(vec![level(
            Side::Buy,
            "3366.1",
            "7",
            (1, -1),
            Some(-1_881_014_294),
        )]);
        assert!(matches!(
            s.on_message(&snap),
            CheckedOutcome::ChecksumMismatch {
                computed: Some(_),
                ..
            }
        ));
        assert_eq!(s.state(), SyncState::NeedsResync);
        assert!(s.book().is_empty());
        assert_eq!(s.on_message(&[]), CheckedOutcome::NotABookMessage);
    }
}
