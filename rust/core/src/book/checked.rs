//! What the checksummed-book synchronisers ([`OkxBookSync`](super::OkxBookSync),
//! [`KrakenBookSync`](super::KrakenBookSync)) share: a book that remembers how each level
//! was written on the wire, the outcome and statistics types, and the two venues' CRC32
//! string rules.
//!
//! Both venues checksum the *text* of the top levels, so the book keeps, next to each
//! level's integer price and size, the number of decimal places the venue wrote them with
//! ([`BookCheck`]) and rewrites them exactly. Rewriting with the instrument's precision
//! would not do: OKX trims trailing zeros (`"0.4"`) and Kraken v1 pads prices far past the
//! tick (`"354.15000000"` on a 0.01 grid).

use std::collections::HashMap;

use crate::model::{BookCheck, Event, EventKind, Side, Step};

use super::order_book::{Level, OrderBook};

/// What happened to one book message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckedOutcome {
    /// A snapshot replaced the book (its checksum, if sent, matched).
    Snapshot,
    /// An update was applied (its checksum, if sent, matched).
    Applied,
    /// A keep-alive that changed nothing (OKX: no levels and `seqId == prevSeqId`).
    Heartbeat,
    /// An update while no valid book exists (before the first snapshot or after a failure):
    /// ignored until the snapshot a resubscription brings.
    AwaitingSnapshot,
    /// The message does not follow the previous one (`prevSeqId` is not the last `seqId`):
    /// the book was discarded; resubscribe.
    Gap { expected_prev: i64, prev: i64 },
    /// The book after this message does not have the venue's checksum: the book was
    /// discarded; resubscribe. `computed` is `None` if the book could not be written in the
    /// wire's text form at all.
    ChecksumMismatch { venue: u32, computed: Option<u32> },
    /// The batch held no book event.
    NotABookMessage,
}

/// Running counts, for tests and monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckedStats {
    pub snapshots: u64,
    pub applied: u64,
    pub heartbeats: u64,
    /// Messages whose checksum was computed and matched.
    pub checksums_ok: u64,
    pub checksum_mismatches: u64,
    pub gaps: u64,
    /// Updates ignored while awaiting a snapshot.
    pub ignored: u64,
}

/// An [`OrderBook`] plus the wire text form (decimal places) of every level.
#[derive(Debug, Clone)]
pub(crate) struct TextBook {
    pub(crate) book: OrderBook,
    tick: Step,
    lot: Step,
    /// (price places, size places) by price, for bids and asks.
    places: [HashMap<i64, (u8, u8)>; 2],
    /// Reused buffers: the checksum string and one level's text.
    scratch: String,
    level_text: String,
}

fn side_index(side: Side) -> Option<usize> {
    match side {
        Side::Buy => Some(0),
        Side::Sell => Some(1),
        Side::None => None,
    }
}

impl TextBook {
    pub(crate) fn new(instrument: u32, tick: Step, lot: Step) -> TextBook {
        TextBook {
            book: OrderBook::new(instrument),
            tick,
            lot,
            places: [HashMap::new(), HashMap::new()],
            scratch: String::new(),
            level_text: String::new(),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.book.clear();
        self.places.iter_mut().for_each(HashMap::clear);
    }

    /// Applies the book deltas of one message in order; other events are skipped.
    pub(crate) fn apply(&mut self, events: &[Event]) {
        for e in events {
            if e.kind != EventKind::BookDelta as u8 || e.instrument != self.book.instrument() {
                continue;
            }
            let side = match e.side {
                s if s == Side::Buy as u8 => Side::Buy,
                s if s == Side::Sell as u8 => Side::Sell,
                _ => continue,
            };
            if e.qty_lots < 0 {
                continue;
            }
            self.book.apply_delta(side, e.price_ticks, e.qty_lots);
            let Some(i) = side_index(side) else { continue };
            if e.qty_lots == 0 {
                self.places[i].remove(&e.price_ticks);
            } else {
                let c = BookCheck::from_id(e.id);
                self.places[i].insert(e.price_ticks, (c.price_places, c.qty_places));
            }
        }
    }

    /// Keeps the best `depth` levels per side (and forgets the text of the rest).
    pub(crate) fn truncate(&mut self, depth: usize) {
        for side in [Side::Buy, Side::Sell] {
            if self.book.len(side) <= depth {
                continue;
            }
            let Some(i) = side_index(side) else { continue };
            let dropped: Vec<i64> = self
                .book
                .depth(side, usize::MAX)
                .skip(depth)
                .map(|l| l.price_ticks)
                .collect();
            for p in dropped {
                self.places[i].remove(&p);
            }
        }
        self.book.truncate(depth);
    }

    /// Appends a level's price and size as the venue wrote them, separated by `sep`.
    fn write_level(&self, out: &mut String, side: Side, level: Level, sep: &str) -> Option<()> {
        let i = side_index(side)?;
        let &(pp, qp) = self.places[i].get(&level.price_ticks)?;
        self.tick
            .write_steps_with_digits(level.price_ticks, pp, out)
            .ok()?;
        out.push_str(sep);
        self.lot
            .write_steps_with_digits(level.qty_lots, qp, out)
            .ok()
    }

    /// OKX: CRC32 of `bid:ask` pairs of the top 25 levels interleaved,
    /// `bid1px:bid1sz:ask1px:ask1sz:...`, a side's missing levels skipped.
    pub(crate) fn okx_checksum(&mut self) -> Option<u32> {
        const DEPTH: usize = 25;
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        let mut bids = self.book.depth(Side::Buy, DEPTH);
        let mut asks = self.book.depth(Side::Sell, DEPTH);
        let mut ok = Some(());
        loop {
            let (b, a) = (bids.next(), asks.next());
            if b.is_none() && a.is_none() {
                break;
            }
            for (side, level) in [(Side::Buy, b), (Side::Sell, a)] {
                if let Some(level) = level {
                    if !s.is_empty() {
                        s.push(':');
                    }
                    ok = ok.and(self.write_level(&mut s, side, level, ":"));
                }
            }
        }
        let crc = ok.map(|_| crc32fast::hash(s.as_bytes()));
        self.scratch = s;
        crc
    }

    /// Kraken: CRC32 of the top 10 asks (best first) then the top 10 bids (best first),
    /// each level's price then size with `.` removed and leading zeros stripped.
    pub(crate) fn kraken_checksum(&mut self) -> Option<u32> {
        const DEPTH: usize = 10;
        let mut s = std::mem::take(&mut self.scratch);
        let mut level_text = std::mem::take(&mut self.level_text);
        s.clear();
        let mut ok = Some(());
        for side in [Side::Sell, Side::Buy] {
            for level in self.book.depth(side, DEPTH) {
                level_text.clear();
                ok = ok.and(self.write_level(&mut level_text, side, level, " "));
                for part in level_text.split(' ') {
                    let mut started = false;
                    for c in part.chars().filter(|&c| c != '.') {
                        started |= c != '0';
                        if started {
                            s.push(c);
                        }
                    }
                }
            }
        }
        let crc = ok.map(|_| crc32fast::hash(s.as_bytes()));
        self.scratch = s;
        self.level_text = level_text;
        crc
    }

    /// The string the last checksum was computed over (for tests and diagnostics).
    pub(crate) fn last_checksum_text(&self) -> &str {
        &self.scratch
    }
}

/// The book-check metadata and sequence ids of a message, from its first book event (the
/// decoders write the same `seq`, `aux` and `id` on every event of a message), and whether
/// the message is a snapshot.
pub(crate) fn message_head(events: &[Event], instrument: u32) -> Option<(Event, bool)> {
    let mut head = None;
    let mut snapshot = false;
    // Another instrument's message is not this book's business.
    for e in events.iter().filter(|e| e.instrument == instrument) {
        match EventKind::from_u8(e.kind) {
            Some(EventKind::BookSnapshotBegin) => {
                snapshot = true;
                head.get_or_insert(*e);
            }
            Some(EventKind::BookDelta) | Some(EventKind::BookSnapshotEnd) => {
                head.get_or_insert(*e);
            }
            _ => {}
        }
    }
    head.map(|h| (h, snapshot))
}
