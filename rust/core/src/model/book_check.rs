//! What a checksummed book message carries besides prices and sizes: the venue's checksum,
//! whether it sent sequence ids, and how many decimal places each level's price and size
//! had on the wire.
//!
//! OKX and Kraken checksum their books over the *text* of the top levels, and trailing
//! zeros are part of that text (Kraken writes `354.15000000`, OKX `0.4`). A tick count alone
//! cannot say how many places were written, so the decoder records them and the book
//! synchroniser rewrites each level exactly as it was sent (see
//! [`Step::write_steps_with_digits`](super::Step::write_steps_with_digits)).
//!
//! The whole record packs into the `id` field of a book event (book deltas have no other use
//! for it), so it travels the bus in the common 64-byte [`Event`](super::Event):
//!
//! | bits | meaning |
//! |---|---|
//! | 0..32 | checksum, as the venue's 32 bits (OKX's signed value bit-cast) |
//! | 32 | a checksum was sent and is not 0 (OKX sends 0 once it stopped computing them) |
//! | 33 | the venue sent sequence ids (`seq`, `aux`) for this message |
//! | 40..48 | decimal places of the level's price on the wire |
//! | 48..56 | decimal places of the level's size on the wire |

/// Book-check metadata of one book event. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BookCheck {
    /// The venue's CRC32 of the book after this message, if it sent a non-zero one.
    pub checksum: Option<u32>,
    /// Whether `seq` / `aux` hold the venue's sequence ids.
    pub has_seq_ids: bool,
    /// Decimal places of the price as written on the wire.
    pub price_places: u8,
    /// Decimal places of the size as written on the wire.
    pub qty_places: u8,
}

const HAS_CHECKSUM: u64 = 1 << 32;
const HAS_SEQ_IDS: u64 = 1 << 33;

impl BookCheck {
    /// Packs into an event's `id`.
    pub fn to_id(self) -> u64 {
        let mut id = u64::from(self.checksum.unwrap_or(0));
        if self.checksum.is_some() {
            id |= HAS_CHECKSUM;
        }
        if self.has_seq_ids {
            id |= HAS_SEQ_IDS;
        }
        id | u64::from(self.price_places) << 40 | u64::from(self.qty_places) << 48
    }

    /// Unpacks from an event's `id`.
    pub fn from_id(id: u64) -> BookCheck {
        BookCheck {
            checksum: (id & HAS_CHECKSUM != 0).then_some(id as u32),
            has_seq_ids: id & HAS_SEQ_IDS != 0,
            price_places: (id >> 40) as u8,
            qty_places: (id >> 48) as u8,
        }
    }
}

/// Decimal places written in a decimal string (`"30316"` 0, `"0.40"` 2). Saturates at 255,
/// far past any grid; such a level would fail its checksum rather than be mis-printed.
pub fn decimal_places(text: &str) -> u8 {
    text.split_once('.')
        .map_or(0, |(_, frac)| u8::try_from(frac.len()).unwrap_or(u8::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn book_check_round_trips_through_the_event_id() {
        for check in [
            BookCheck::default(),
            BookCheck {
                checksum: Some(0),
                has_seq_ids: true,
                price_places: 9,
                qty_places: 8,
            },
            BookCheck {
                checksum: Some(-914_047_754i32 as u32),
                has_seq_ids: false,
                price_places: 255,
                qty_places: 0,
            },
            BookCheck {
                checksum: Some(u32::MAX),
                has_seq_ids: true,
                price_places: 0,
                qty_places: 255,
            },
        ] {
            assert_eq!(BookCheck::from_id(check.to_id()), check);
        }
        assert_eq!(decimal_places("30316"), 0);
        assert_eq!(decimal_places("354.15000000"), 8);
        assert_eq!(decimal_places("0.4"), 1);
    }
}
