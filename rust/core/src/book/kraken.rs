//! The Kraken spot book synchroniser (WebSocket v1 `book-N` and v2 `book`): keeps one
//! [`OrderBook`] at the subscribed depth and verifies Kraken's CRC32 after every message.
//!
//! Rules (Kraken "Book checksum" guides; checked on the real capture in
//! `tests/kraken_book_real.rs`):
//!
//! * A snapshot replaces the book. An update applies its levels in the order sent (v1
//!   messages may hold an `a` and a `b` object: array order, never timestamp order); volume
//!   0 deletes. A v1 level flagged `r` (republished: a level re-sent because it moved back
//!   inside the subscribed depth) is applied like any other.
//! * After all levels of a message, the book is truncated to the subscribed depth: Kraken
//!   stops tracking levels past it, and its checksum is over that truncated book.
//! * Checksum: unsigned CRC32 of the top 10 asks (ascending) then the top 10 bids
//!   (descending), each level's price then volume as sent, with `.` removed and leading
//!   zeros stripped. v1 sends it on updates (`c`), v2 on snapshots and updates.
//! * A mismatch discards the book and sets [`SyncState::NeedsResync`]: resubscribe.

use crate::model::{BookCheck, Event, Instrument};

use super::checked::{message_head, CheckedOutcome, CheckedStats, TextBook};
use super::order_book::OrderBook;
use super::sync::SyncState;

/// Keeps one Kraken [`OrderBook`] in step at the subscribed depth, verifying checksums.
#[derive(Debug, Clone)]
pub struct KrakenBookSync {
    book: TextBook,
    depth: usize,
    state: SyncState,
    stats: CheckedStats,
}

impl KrakenBookSync {
    /// A synchroniser for a book subscribed at `depth` levels (10, 25, 100, 500 or 1000).
    pub fn new(instrument: u32, spec: &Instrument, depth: usize) -> KrakenBookSync {
        KrakenBookSync {
            book: TextBook::new(instrument, spec.tick, spec.lot),
            depth,
            state: SyncState::AwaitingSnapshot,
            stats: CheckedStats::default(),
        }
    }

    pub fn depth(&self) -> usize {
        self.depth
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

    /// The string the last checksum was computed over.
    pub fn last_checksum_text(&self) -> &str {
        self.book.last_checksum_text()
    }

    /// Discards the book, e.g. after a reconnect.
    pub fn reset(&mut self) {
        self.book.clear();
        self.state = SyncState::AwaitingSnapshot;
    }

    /// Feeds the events of one book message (one decoded batch).
    pub fn on_message(&mut self, events: &[Event]) -> CheckedOutcome {
        let Some((head, is_snapshot)) = message_head(events, self.book.book.instrument()) else {
            return CheckedOutcome::NotABookMessage;
        };
        if is_snapshot {
            self.book.clear();
            self.stats.snapshots += 1;
        } else if self.state != SyncState::Synced {
            self.stats.ignored += 1;
            return CheckedOutcome::AwaitingSnapshot;
        }
        self.book.apply(events);
        self.book.truncate(self.depth);
        if let Some(venue) = BookCheck::from_id(head.id).checksum {
            let computed = self.book.kraken_checksum();
            if computed != Some(venue) {
                self.stats.checksum_mismatches += 1;
                self.book.clear();
                self.state = SyncState::NeedsResync;
                return CheckedOutcome::ChecksumMismatch { venue, computed };
            }
            self.stats.checksums_ok += 1;
        }
        self.state = SyncState::Synced;
        if is_snapshot {
            CheckedOutcome::Snapshot
        } else {
            self.stats.applied += 1;
            CheckedOutcome::Applied
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{decimal_places, flags, EventKind, Side};

    fn spec() -> Instrument {
        Instrument::new("XBT/USD", 4, "0.00001", "0.00000001").unwrap()
    }

    fn level(side: Side, px: &str, qty: &str, checksum: Option<u32>, fl: u8) -> Event {
        let s = spec();
        Event {
            kind: EventKind::BookDelta as u8,
            side: side as u8,
            price_ticks: s.price_ticks(px).unwrap(),
            qty_lots: s.qty_lots(qty).unwrap(),
            flags: fl,
            id: BookCheck {
                checksum,
                has_seq_ids: false,
                price_places: decimal_places(px),
                qty_places: decimal_places(qty),
            }
            .to_id(),
            ..Event::default()
        }
    }

    /// A book shaped like Kraken's documented v1 example: asks 0.05005..0.05050, bids
    /// 0.05000..0.04955, every volume 0.00000500. Its checksum, 2726735196, was computed with
    /// Python's `zlib.crc32` over the string the documented rule builds
    /// (`"5005500" "5010500" ...`), independently of this code.
    fn doc_book(checksum: Option<u32>) -> Vec<Event> {
        // As the decoder writes it: every event of the message carries its checksum.
        let mark = |kind: EventKind| Event {
            kind: kind as u8,
            ..level(Side::None, "0", "0", checksum, 0)
        };
        let mut v = vec![mark(EventKind::BookSnapshotBegin)];
        for i in 0..10 {
            let ask = format!("0.{:05}", 5005 + 5 * i);
            let bid = format!("0.{:05}", 5000 - 5 * i);
            v.push(level(
                Side::Sell,
                &ask,
                "0.00000500",
                checksum,
                flags::SNAPSHOT,
            ));
            v.push(level(
                Side::Buy,
                &bid,
                "0.00000500",
                checksum,
                flags::SNAPSHOT,
            ));
        }
        v.push(mark(EventKind::BookSnapshotEnd));
        v
    }

    #[test]
    fn checksum_of_a_documentation_shaped_book() {
        let mut s = KrakenBookSync::new(0, &spec(), 10);
        assert_eq!(
            s.on_message(&doc_book(Some(2_726_735_196))),
            CheckedOutcome::Snapshot
        );
        assert!(
            s.last_checksum_text().starts_with("5005500"),
            "{}",
            s.last_checksum_text()
        );
        assert_eq!(s.stats().checksums_ok, 1);
        // The same book with one volume changed no longer matches.
        let mut book = doc_book(Some(2_726_735_196));
        book[3].qty_lots += 1;
        assert!(matches!(
            s.on_message(&book),
            CheckedOutcome::ChecksumMismatch { .. }
        ));
        assert_eq!(s.state(), SyncState::NeedsResync);
        assert!(s.book().is_empty());
    }

    #[test]
    fn book_is_truncated_to_the_subscribed_depth_after_each_message() {
        let mut s = KrakenBookSync::new(0, &spec(), 10);
        s.on_message(&doc_book(None));
        // A better bid pushes the worst one out of a depth-10 book.
        let update = [level(Side::Buy, "0.05001", "0.00000100", None, 0)];
        assert_eq!(s.on_message(&update), CheckedOutcome::Applied);
        assert_eq!(s.book().len(Side::Buy), 10);
        assert_eq!(s.book().qty_at(Side::Buy, 4950), 0);
        // Updates before a snapshot are ignored.
        let mut fresh = KrakenBookSync::new(0, &spec(), 10);
        assert_eq!(fresh.on_message(&update), CheckedOutcome::AwaitingSnapshot);
    }
}
