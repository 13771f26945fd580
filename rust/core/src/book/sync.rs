//! The Binance snapshot + diff synchroniser: buffers depth diffs until a REST snapshot
//! arrives, bridges the snapshot to the diff stream, then checks every diff's update ids
//! for continuity and declares a gap ("needs resync") the moment one is missing.
//!
//! Two rules, both checked on real recordings (see `tests/binance_book_real.rs`):
//!
//! * **Spot**: drop diffs with `u <= L` (L = snapshot `lastUpdateId`); the first applied
//!   diff has `U <= L+1 <= u`; each later diff has `U == previous u + 1`. The first kept
//!   diff often has `U == L+1` exactly, which the documentation's "L within [U, u]" would
//!   wrongly reject.
//! * **USD-M futures**: drop diffs with `u < L`; the first applied diff has `U <= L <= u`;
//!   each later diff has `pu == previous u` (futures ids are not contiguous across diffs,
//!   so `U == prev u + 1` would report false gaps).
//!
//! The ids travel in the diff's [`Event`]s as the feed decoder writes them:
//! `seq` = `u`, `aux` = `U`, `id` = `pu` (0 on spot). See [`DiffIds`].

use crate::model::{Event, EventKind};

use super::order_book::OrderBook;

/// Which continuity rule the venue's diff stream follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncRule {
    /// Binance spot: `U == previous u + 1`.
    Spot,
    /// Binance USD-M (and COIN-M) futures: `pu == previous u`.
    UsdM,
}

/// The update ids of one depth diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DiffIds {
    /// `U`: first update id in the diff.
    pub first_update_id: u64,
    /// `u`: final update id in the diff.
    pub last_update_id: u64,
    /// `pu`: final update id of the previous diff (futures only; 0 on spot).
    pub prev_last_update_id: u64,
}

impl DiffIds {
    /// Reads the ids from a diff's book-delta event (`seq` = u, `aux` = U, `id` = pu).
    pub fn from_event(event: &Event) -> DiffIds {
        DiffIds {
            first_update_id: event.aux as u64,
            last_update_id: event.seq,
            prev_last_update_id: event.id,
        }
    }
}

/// Where the synchroniser stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncState {
    /// No snapshot yet: diffs are buffered; fetch a REST snapshot.
    AwaitingSnapshot,
    /// The book is live and every diff so far was contiguous.
    Synced,
    /// A diff was missing (or the snapshot could not be bridged): the book was discarded,
    /// diffs are being buffered again, and the caller must fetch a new snapshot.
    NeedsResync,
}

/// What happened to one diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiffOutcome {
    /// Kept for replay after the next snapshot.
    Buffered,
    /// Applied to the live book.
    Applied,
    /// Older than the book: dropped, the book is unchanged.
    Stale,
    /// Not contiguous with the book: the book was discarded and a resync is needed.
    Gap,
    /// The batch held no book-delta event.
    NotADiff,
}

/// What happened to a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SnapshotOutcome {
    /// The book is live; `replayed` buffered diffs were applied on top of the snapshot.
    Synced { replayed: usize },
    /// The snapshot predates the oldest buffered diff (or a buffered diff is missing):
    /// it cannot be bridged; fetch a newer one. Buffered diffs are kept.
    TooOld,
    /// The batch had no `BookSnapshotEnd` event to take `lastUpdateId` from.
    NotASnapshot,
}

/// Running counts, for tests and monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub applied: u64,
    pub stale: u64,
    pub gaps: u64,
    pub snapshots: u64,
    /// Times the buffer exceeded its bound and was emptied (the next snapshot must be
    /// newer than the diffs that follow).
    pub buffer_overflows: u64,
}

/// Buffered diffs above this count are dropped wholesale rather than growing without bound
/// while no snapshot comes.
pub const DEFAULT_MAX_BUFFERED_DIFFS: usize = 10_000;

enum Verdict {
    Apply,
    Stale,
    Gap,
}

/// Keeps one [`OrderBook`] in step with a Binance depth stream.
#[derive(Debug, Clone)]
pub struct BinanceBookSync {
    rule: SyncRule,
    book: OrderBook,
    state: SyncState,
    /// Whether the next applied diff is the first after the snapshot (the bridging rule).
    first_after_snapshot: bool,
    buffer: Vec<Event>,
    /// Ids and the event range in `buffer` of each buffered diff.
    buffered: Vec<(DiffIds, usize, usize)>,
    max_buffered_diffs: usize,
    stats: SyncStats,
}

impl BinanceBookSync {
    pub fn new(rule: SyncRule, instrument: u32) -> BinanceBookSync {
        BinanceBookSync {
            rule,
            book: OrderBook::new(instrument),
            state: SyncState::AwaitingSnapshot,
            first_after_snapshot: false,
            buffer: Vec::new(),
            buffered: Vec::new(),
            max_buffered_diffs: DEFAULT_MAX_BUFFERED_DIFFS,
            stats: SyncStats::default(),
        }
    }

    pub fn with_max_buffered_diffs(mut self, max: usize) -> BinanceBookSync {
        self.max_buffered_diffs = max.max(1);
        self
    }

    pub fn rule(&self) -> SyncRule {
        self.rule
    }

    pub fn state(&self) -> SyncState {
        self.state
    }

    /// True when the caller must fetch a REST snapshot (at start and after a gap).
    pub fn needs_snapshot(&self) -> bool {
        self.state != SyncState::Synced
    }

    /// The book. Only meaningful while [`state`](Self::state) is `Synced`.
    pub fn book(&self) -> &OrderBook {
        &self.book
    }

    pub fn stats(&self) -> SyncStats {
        self.stats
    }

    /// Update id the book is at (`u` of the last applied diff, or the snapshot's id).
    pub fn last_update_id(&self) -> u64 {
        self.book.last_seq()
    }

    /// Number of diffs waiting for a snapshot.
    pub fn buffered_diffs(&self) -> usize {
        self.buffered.len()
    }

    /// Feeds the events of one depth diff (one exchange message).
    pub fn on_diff(&mut self, events: &[Event]) -> DiffOutcome {
        let Some(head) = events.iter().find(|e| e.kind == EventKind::BookDelta as u8) else {
            return DiffOutcome::NotADiff;
        };
        let ids = DiffIds::from_event(head);
        if self.state != SyncState::Synced {
            self.buffer_diff(ids, events);
            return DiffOutcome::Buffered;
        }
        match self.verdict(ids) {
            Verdict::Apply => {
                self.apply(ids, events);
                DiffOutcome::Applied
            }
            Verdict::Stale => {
                self.stats.stale += 1;
                DiffOutcome::Stale
            }
            Verdict::Gap => {
                self.declare_gap();
                // The diff that exposed the gap may well follow the next snapshot: keep it.
                self.buffer_diff(ids, events);
                DiffOutcome::Gap
            }
        }
    }

    /// Feeds a snapshot batch (`BookSnapshotBegin`, levels, `BookSnapshotEnd` with
    /// `seq` = `lastUpdateId`) and replays the buffered diffs on top of it.
    pub fn on_snapshot(&mut self, events: &[Event]) -> SnapshotOutcome {
        self.on_snapshot_with(events, |_, _| {})
    }

    /// Like [`on_snapshot`](Self::on_snapshot), calling `after_each` with the book after
    /// every replayed diff (tests cross-check intermediate states this way).
    pub fn on_snapshot_with(
        &mut self,
        events: &[Event],
        mut after_each: impl FnMut(&OrderBook, DiffIds),
    ) -> SnapshotOutcome {
        let Some(end) = events
            .iter()
            .rev()
            .find(|e| e.kind == EventKind::BookSnapshotEnd as u8)
        else {
            return SnapshotOutcome::NotASnapshot;
        };
        let last_update_id = end.seq;
        // The first buffered diff that is not stale must bridge the snapshot; if not, the
        // snapshot is older than the buffer and a newer one is needed.
        let first_kept = self
            .buffered
            .iter()
            .find(|(ids, _, _)| !self.stale_before(ids, last_update_id));
        if let Some((ids, _, _)) = first_kept {
            if !self.bridges(ids, last_update_id) {
                self.state = SyncState::NeedsResync;
                return SnapshotOutcome::TooOld;
            }
        }
        self.book.apply_events(events);
        self.book.set_last_seq(last_update_id);
        self.stats.snapshots += 1;
        self.state = SyncState::Synced;
        self.first_after_snapshot = true;

        let buffered = std::mem::take(&mut self.buffered);
        let buffer = std::mem::take(&mut self.buffer);
        let mut replayed = 0;
        for (i, &(ids, start, stop)) in buffered.iter().enumerate() {
            match self.verdict(ids) {
                Verdict::Apply => {
                    self.apply(ids, &buffer[start..stop]);
                    after_each(&self.book, ids);
                    replayed += 1;
                }
                Verdict::Stale => self.stats.stale += 1,
                Verdict::Gap => {
                    // A buffered diff went missing: keep the rest for the next snapshot.
                    self.declare_gap();
                    for &(ids, start, stop) in &buffered[i..] {
                        self.buffer_diff(ids, &buffer[start..stop]);
                    }
                    return SnapshotOutcome::TooOld;
                }
            }
        }
        // Reuse the allocations.
        self.buffered = buffered;
        self.buffered.clear();
        self.buffer = buffer;
        self.buffer.clear();
        SnapshotOutcome::Synced { replayed }
    }

    /// Discards the book and asks for a new snapshot, e.g. after a reconnect.
    pub fn reset(&mut self) {
        self.book.clear();
        self.buffer.clear();
        self.buffered.clear();
        self.state = SyncState::AwaitingSnapshot;
        self.first_after_snapshot = false;
    }

    fn stale_before(&self, ids: &DiffIds, snapshot_id: u64) -> bool {
        match self.rule {
            SyncRule::Spot => ids.last_update_id <= snapshot_id,
            // Futures keep the diff whose `u` equals the snapshot id: it is the bridge.
            SyncRule::UsdM => ids.last_update_id < snapshot_id,
        }
    }

    fn bridges(&self, ids: &DiffIds, snapshot_id: u64) -> bool {
        match self.rule {
            SyncRule::Spot => {
                ids.first_update_id <= snapshot_id.saturating_add(1)
                    && snapshot_id.saturating_add(1) <= ids.last_update_id
            }
            SyncRule::UsdM => {
                ids.first_update_id <= snapshot_id && snapshot_id <= ids.last_update_id
            }
        }
    }

    fn verdict(&self, ids: DiffIds) -> Verdict {
        let last = self.book.last_seq();
        if self.first_after_snapshot {
            if self.stale_before(&ids, last) {
                return Verdict::Stale;
            }
            return if self.bridges(&ids, last) {
                Verdict::Apply
            } else {
                Verdict::Gap
            };
        }
        // A diff the book already contains (a duplicate or a late straggler) changes nothing.
        if ids.last_update_id <= last {
            return Verdict::Stale;
        }
        let contiguous = match self.rule {
            SyncRule::Spot => ids.first_update_id == last.saturating_add(1),
            SyncRule::UsdM => ids.prev_last_update_id == last,
        };
        if contiguous {
            Verdict::Apply
        } else {
            Verdict::Gap
        }
    }

    fn apply(&mut self, ids: DiffIds, events: &[Event]) {
        self.book.apply_events(events);
        self.book.set_last_seq(ids.last_update_id);
        self.first_after_snapshot = false;
        self.stats.applied += 1;
    }

    fn declare_gap(&mut self) {
        self.stats.gaps += 1;
        self.book.clear();
        self.buffer.clear();
        self.buffered.clear();
        self.state = SyncState::NeedsResync;
        self.first_after_snapshot = false;
    }

    fn buffer_diff(&mut self, ids: DiffIds, events: &[Event]) {
        if self.buffered.len() >= self.max_buffered_diffs {
            self.buffer.clear();
            self.buffered.clear();
            self.stats.buffer_overflows += 1;
        }
        let start = self.buffer.len();
        self.buffer.extend_from_slice(events);
        self.buffered.push((ids, start, self.buffer.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{flags, Side};

    fn delta(ids: (u64, u64, u64), side: Side, p: i64, q: i64) -> Event {
        Event {
            kind: EventKind::BookDelta as u8,
            side: side as u8,
            price_ticks: p,
            qty_lots: q,
            aux: ids.0 as i64,
            seq: ids.1,
            id: ids.2,
            ..Default::default()
        }
    }

    fn snapshot(last_update_id: u64, bid: (i64, i64), ask: (i64, i64)) -> Vec<Event> {
        let mark = |kind: EventKind| Event {
            kind: kind as u8,
            seq: last_update_id,
            ..Default::default()
        };
        let lvl = |side: Side, (p, q): (i64, i64)| Event {
            flags: flags::SNAPSHOT,
            ..delta((0, last_update_id, 0), side, p, q)
        };
        vec![
            mark(EventKind::BookSnapshotBegin),
            lvl(Side::Buy, bid),
            lvl(Side::Sell, ask),
            Event {
                flags: flags::LAST_IN_BATCH,
                ..mark(EventKind::BookSnapshotEnd)
            },
        ]
    }

    #[test]
    fn spot_buffers_drops_stale_bridges_and_applies_in_order() {
        let mut s = BinanceBookSync::new(SyncRule::Spot, 0);
        assert_eq!(s.state(), SyncState::AwaitingSnapshot);
        assert_eq!(
            s.on_diff(&[delta((90, 99, 0), Side::Buy, 100, 1)]),
            DiffOutcome::Buffered
        );
        assert_eq!(
            s.on_diff(&[delta((100, 101, 0), Side::Buy, 100, 2)]),
            DiffOutcome::Buffered
        );
        assert_eq!(
            s.on_diff(&[delta((102, 104, 0), Side::Sell, 103, 4)]),
            DiffOutcome::Buffered
        );
        // L = 99: the first diff is stale; U=100 = L+1 bridges.
        assert_eq!(
            s.on_snapshot(&snapshot(99, (100, 5), (102, 5))),
            SnapshotOutcome::Synced { replayed: 2 }
        );
        assert_eq!(s.state(), SyncState::Synced);
        assert_eq!(s.book().qty_at(Side::Buy, 100), 2);
        assert_eq!(s.book().qty_at(Side::Sell, 103), 4);
        assert_eq!(
            s.on_diff(&[delta((105, 105, 0), Side::Sell, 102, 0)]),
            DiffOutcome::Applied
        );
        assert_eq!(s.book().best_ask().map(|l| l.price_ticks), Some(103));
        // A duplicate is harmless.
        assert_eq!(
            s.on_diff(&[delta((105, 105, 0), Side::Sell, 102, 9)]),
            DiffOutcome::Stale
        );
        assert_eq!(s.last_update_id(), 105);
        let st = s.stats();
        assert_eq!((st.applied, st.stale, st.gaps), (3, 2, 0));
    }

    #[test]
    fn spot_gap_discards_the_book_and_demands_a_snapshot() {
        let mut s = BinanceBookSync::new(SyncRule::Spot, 0);
        s.on_snapshot(&snapshot(10, (100, 5), (102, 5)));
        assert_eq!(
            s.on_diff(&[delta((11, 12, 0), Side::Buy, 101, 1)]),
            DiffOutcome::Applied
        );
        // 13 is missing.
        assert_eq!(
            s.on_diff(&[delta((14, 15, 0), Side::Buy, 101, 2)]),
            DiffOutcome::Gap
        );
        assert_eq!(s.state(), SyncState::NeedsResync);
        assert!(s.needs_snapshot());
        assert!(s.book().is_empty());
        assert_eq!(
            s.on_diff(&[delta((16, 17, 0), Side::Buy, 99, 1)]),
            DiffOutcome::Buffered
        );
        // A snapshot older than the first buffered diff cannot be bridged.
        assert_eq!(
            s.on_snapshot(&snapshot(12, (100, 5), (102, 5))),
            SnapshotOutcome::TooOld
        );
        assert_eq!(s.state(), SyncState::NeedsResync);
        assert_eq!(
            s.on_snapshot(&snapshot(15, (100, 5), (102, 5))),
            SnapshotOutcome::Synced { replayed: 1 }
        );
        assert_eq!(s.book().qty_at(Side::Buy, 99), 1);
        assert_eq!(s.stats().gaps, 1);
    }

    #[test]
    fn spot_first_diff_past_the_snapshot_is_a_gap() {
        let mut s = BinanceBookSync::new(SyncRule::Spot, 0);
        s.on_snapshot(&snapshot(10, (100, 5), (102, 5)));
        assert_eq!(
            s.on_diff(&[delta((12, 13, 0), Side::Buy, 101, 1)]),
            DiffOutcome::Gap
        );
    }

    #[test]
    fn futures_chain_on_pu_and_keep_the_diff_ending_at_the_snapshot() {
        let mut s = BinanceBookSync::new(SyncRule::UsdM, 0);
        s.on_diff(&[delta((1, 5, 0), Side::Buy, 100, 1)]);
        s.on_diff(&[delta((7, 20, 5), Side::Buy, 100, 2)]); // u == L: kept as the bridge
        s.on_diff(&[delta((25, 30, 20), Side::Buy, 100, 3)]);
        assert_eq!(
            s.on_snapshot(&snapshot(20, (100, 9), (102, 9))),
            SnapshotOutcome::Synced { replayed: 2 }
        );
        assert_eq!(s.book().qty_at(Side::Buy, 100), 3);
        // Ids are not contiguous on futures; only pu matters.
        assert_eq!(
            s.on_diff(&[delta((40, 41, 30), Side::Buy, 100, 4)]),
            DiffOutcome::Applied
        );
        assert_eq!(
            s.on_diff(&[delta((50, 51, 45), Side::Buy, 100, 5)]),
            DiffOutcome::Gap
        );
        assert_eq!(s.stats().stale, 1);
    }

    #[test]
    fn buffer_is_bounded() {
        let mut s = BinanceBookSync::new(SyncRule::Spot, 0).with_max_buffered_diffs(2);
        for u in 1..=3 {
            s.on_diff(&[delta((u, u, 0), Side::Buy, 100, 1)]);
        }
        assert_eq!(s.buffered_diffs(), 1);
        assert_eq!(s.stats().buffer_overflows, 1);
        assert_eq!(s.on_diff(&[]), DiffOutcome::NotADiff);
        assert_eq!(s.on_snapshot(&[]), SnapshotOutcome::NotASnapshot);
    }
}
