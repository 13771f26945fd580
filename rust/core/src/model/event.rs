//! The one 64-byte record that travels the bus, the recorder and the backtester.
//!
//! The layout is `#[repr(C)]` and fixed: Python sees the same bytes through the numpy
//! structured dtype built from [`EVENT_FIELDS`], so a batch crosses the boundary as one
//! memcpy. Changing a field here changes the dtype in one place.

/// What an event is. Stored as `u8` in [`Event::kind`].
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    Trade = 1,
    Quote = 2,
    BookDelta = 3,
    BookSnapshotBegin = 4,
    BookSnapshotEnd = 5,
    Bar = 6,
    Signal = 7,
    Order = 8,
    ExecReport = 9,
    RiskState = 10,
    Heartbeat = 11,
}

impl EventKind {
    pub const ALL: [EventKind; 11] = [
        EventKind::Trade,
        EventKind::Quote,
        EventKind::BookDelta,
        EventKind::BookSnapshotBegin,
        EventKind::BookSnapshotEnd,
        EventKind::Bar,
        EventKind::Signal,
        EventKind::Order,
        EventKind::ExecReport,
        EventKind::RiskState,
        EventKind::Heartbeat,
    ];

    pub fn from_u8(value: u8) -> Option<EventKind> {
        EventKind::ALL.iter().copied().find(|k| *k as u8 == value)
    }

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Trade => "trade",
            EventKind::Quote => "quote",
            EventKind::BookDelta => "book_delta",
            EventKind::BookSnapshotBegin => "book_snapshot_begin",
            EventKind::BookSnapshotEnd => "book_snapshot_end",
            EventKind::Bar => "bar",
            EventKind::Signal => "signal",
            EventKind::Order => "order",
            EventKind::ExecReport => "exec_report",
            EventKind::RiskState => "risk_state",
            EventKind::Heartbeat => "heartbeat",
        }
    }
}

/// Book side or order side. Stored as `u8` in [`Event::side`].
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    None = 0,
    /// Bid for book events, buy for orders and trades (aggressor side).
    Buy = 1,
    /// Ask for book events, sell for orders and trades (aggressor side).
    Sell = 2,
}

/// Bits of [`Event::flags`].
pub mod flags {
    /// Last event of a batch that belongs together (one exchange message, one snapshot).
    pub const LAST_IN_BATCH: u8 = 1;
    /// Part of a book snapshot rather than an incremental update.
    pub const SNAPSHOT: u8 = 2;
    /// The record will not change again (a closed bar); without it a bar is still forming.
    pub const FINAL: u8 = 4;
    /// A bar's prices are half ticks: bars of quote mids, `(bid + ask)` kept exact.
    pub const HALF_TICKS: u8 = 8;
}

/// The common event. Prices and quantities are fixed-point integers in the instrument's
/// ticks and lots; timestamps are nanoseconds since the Unix epoch, UTC.
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Event {
    /// Exchange (or venue) time.
    pub ts_event_ns: u64,
    /// Local receive time.
    pub ts_recv_ns: u64,
    /// Venue sequence / update id (Binance `u`, OKX seqId, Coinbase sequence).
    pub seq: u64,
    pub price_ticks: i64,
    /// Quantity in lots; 0 deletes a book level.
    pub qty_lots: i64,
    /// Trade id, order id or client order id, by kind.
    pub id: u64,
    /// Kind-specific: previous update id, reason code, ...
    pub aux: i64,
    /// Index into the instrument table.
    pub instrument: u32,
    /// An [`EventKind`] as `u8`.
    pub kind: u8,
    /// A [`Side`] as `u8`.
    pub side: u8,
    /// Index into the venue table.
    pub venue: u8,
    /// Bits from [`flags`].
    pub flags: u8,
}

pub const EVENT_SIZE: usize = std::mem::size_of::<Event>();
const _: () = assert!(EVENT_SIZE == 64, "Event must be exactly one cache line");

/// (name, numpy type code, byte offset) of every field, in layout order. The Python
/// dtype is built from this table, so the two cannot drift apart.
pub const EVENT_FIELDS: [(&str, &str, usize); 12] = [
    (
        "ts_event_ns",
        "<u8",
        std::mem::offset_of!(Event, ts_event_ns),
    ),
    ("ts_recv_ns", "<u8", std::mem::offset_of!(Event, ts_recv_ns)),
    ("seq", "<u8", std::mem::offset_of!(Event, seq)),
    (
        "price_ticks",
        "<i8",
        std::mem::offset_of!(Event, price_ticks),
    ),
    ("qty_lots", "<i8", std::mem::offset_of!(Event, qty_lots)),
    ("id", "<u8", std::mem::offset_of!(Event, id)),
    ("aux", "<i8", std::mem::offset_of!(Event, aux)),
    ("instrument", "<u4", std::mem::offset_of!(Event, instrument)),
    ("kind", "u1", std::mem::offset_of!(Event, kind)),
    ("side", "u1", std::mem::offset_of!(Event, side)),
    ("venue", "u1", std::mem::offset_of!(Event, venue)),
    ("flags", "u1", std::mem::offset_of!(Event, flags)),
];

impl Event {
    /// A 64-bit digest of every field, used to prove in tests and soak runs that what a
    /// consumer saw is bit-for-bit what the producer published.
    pub fn digest(&self) -> u64 {
        let words = [
            self.ts_event_ns,
            self.ts_recv_ns,
            self.seq,
            self.price_ticks as u64,
            self.qty_lots as u64,
            self.id,
            self.aux as u64,
            (self.instrument as u64)
                | (self.kind as u64) << 32
                | (self.side as u64) << 40
                | (self.venue as u64) << 48
                | (self.flags as u64) << 56,
        ];
        // splitmix64-style mixing per word, folded: order-sensitive within the event.
        let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
        for w in words {
            h ^= w;
            h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            h ^= h >> 31;
        }
        h
    }

    pub fn event_kind(&self) -> Option<EventKind> {
        EventKind::from_u8(self.kind)
    }

    /// Checks the enumerated bytes, so nothing unknown travels the bus.
    pub fn validate(&self) -> Result<(), InvalidEvent> {
        if EventKind::from_u8(self.kind).is_none() {
            return Err(InvalidEvent::Kind(self.kind));
        }
        if self.side > Side::Sell as u8 {
            return Err(InvalidEvent::Side(self.side));
        }
        Ok(())
    }
}

/// Why an event was refused at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    #[error("kind {0} is not a known event kind")]
    Kind(u8),
    #[error("side {0} is not 0 (none), 1 (buy/bid) or 2 (sell/ask)")]
    Side(u8),
}

/// The first invalid event of a batch, with its index.
pub fn validate_batch(events: &[Event]) -> Result<(), (usize, InvalidEvent)> {
    for (i, e) in events.iter().enumerate() {
        e.validate().map_err(|err| (i, err))?;
    }
    Ok(())
}

/// Splits a batch into its messages: each message ends at an event flagged
/// [`flags::LAST_IN_BATCH`] (the decoders flag the last event of every message); events
/// after the last flag form a final message of their own.
pub fn split_messages(events: &[Event]) -> impl Iterator<Item = &[Event]> + '_ {
    events
        .split_inclusive(|e| e.flags & flags::LAST_IN_BATCH != 0)
        .filter(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_is_one_cache_line_with_fields_in_documented_order() {
        assert_eq!(std::mem::size_of::<Event>(), 64);
        assert_eq!(std::mem::align_of::<Event>(), 64);
        let offsets: Vec<usize> = EVENT_FIELDS.iter().map(|f| f.2).collect();
        assert_eq!(offsets, vec![0, 8, 16, 24, 32, 40, 48, 56, 60, 61, 62, 63]);
    }

    #[test]
    fn kind_round_trips_through_u8_and_rejects_unknown_values() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::from_u8(k as u8), Some(k));
        }
        assert_eq!(EventKind::from_u8(0), None);
        assert_eq!(EventKind::from_u8(200), None);
    }

    #[test]
    fn digest_changes_when_any_field_changes() {
        let base = Event {
            seq: 7,
            price_ticks: 100,
            ..Default::default()
        };
        let mut variants = vec![];
        for i in 0..12 {
            let mut e = base;
            match i {
                0 => e.ts_event_ns += 1,
                1 => e.ts_recv_ns += 1,
                2 => e.seq += 1,
                3 => e.price_ticks += 1,
                4 => e.qty_lots += 1,
                5 => e.id += 1,
                6 => e.aux += 1,
                7 => e.instrument += 1,
                8 => e.kind += 1,
                9 => e.side += 1,
                10 => e.venue += 1,
                _ => e.flags += 1,
            }
            variants.push(e.digest());
        }
        for d in &variants {
            assert_ne!(*d, base.digest());
        }
    }

    #[test]
    fn split_messages_cuts_after_each_last_in_batch_flag() {
        let mut events = [Event::default(); 6];
        events[1].flags = flags::LAST_IN_BATCH;
        events[2].flags = flags::LAST_IN_BATCH | flags::SNAPSHOT;
        events[4].flags = flags::LAST_IN_BATCH;
        let lens: Vec<usize> = split_messages(&events).map(<[Event]>::len).collect();
        assert_eq!(lens, vec![2, 1, 2, 1]);
        assert_eq!(split_messages(&[]).count(), 0);
    }
}
