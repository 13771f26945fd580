//! Execution reports: what the venue tells the order's owner, as a struct with every field
//! and as the common 64-byte [`Event`] (kind `ExecReport`) that travels the bus.

use crate::model::{flags, Event, EventKind, Side};

/// What happened to an order. Stored in the low byte of [`Event::aux`].
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecKind {
    /// Accepted by the venue (before any fill it makes on arrival).
    New = 1,
    PartiallyFilled = 2,
    Filled = 3,
    Cancelled = 4,
    /// Refused: the order (or the cancel / replace request) had no effect.
    Rejected = 5,
    /// Price and/or quantity changed by a replace request.
    Replaced = 6,
}

impl ExecKind {
    pub fn from_u8(value: u8) -> Option<ExecKind> {
        match value {
            1 => Some(ExecKind::New),
            2 => Some(ExecKind::PartiallyFilled),
            3 => Some(ExecKind::Filled),
            4 => Some(ExecKind::Cancelled),
            5 => Some(ExecKind::Rejected),
            6 => Some(ExecKind::Replaced),
            _ => None,
        }
    }
}

/// Which side of a trade the order was on.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Liquidity {
    #[default]
    None = 0,
    /// The order was resting: it provided liquidity (maker fee).
    Maker = 1,
    /// The order arrived and traded: it took liquidity (taker fee).
    Taker = 2,
}

macro_rules! venue_reasons {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $msg:literal; )*) => {
        /// Why the venue rejected or cancelled an order. Codes start at 101 so that an
        /// `aux` reason code never collides with the risk engine's
        /// [`RejectReason`](crate::risk::RejectReason) codes (1-99); a code is never
        /// reused.
        #[repr(u16)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
        pub enum VenueReason {
            $( $(#[$doc])* #[error($msg)] $name = $code, )*
        }

        impl VenueReason {
            pub const ALL: &'static [VenueReason] = &[$(VenueReason::$name,)*];

            pub fn code(self) -> u16 {
                self as u16
            }

            pub fn from_code(code: u16) -> Option<VenueReason> {
                match code {
                    $( $code => Some(VenueReason::$name), )*
                    _ => None,
                }
            }
        }
    };
}

venue_reasons! {
    /// The instrument index is not configured on this venue.
    UnknownInstrument = 101, "unknown instrument";
    /// Quantity zero or negative.
    InvalidQty = 102, "quantity must be positive";
    /// Limit price zero or negative.
    InvalidPrice = 103, "limit price must be positive";
    /// Side must be buy or sell.
    InvalidSide = 104, "side must be buy or sell";
    /// A post-only order (or replace) would have taken liquidity.
    PostOnlyWouldTake = 105, "post-only order would take liquidity";
    /// A fill-or-kill order could not be filled in full at once.
    FokNotFillable = 106, "fill-or-kill order cannot be filled in full";
    /// The client order id is already working.
    DuplicateClientOrderId = 107, "duplicate client order id";
    /// The cancel / replace names no working order.
    UnknownOrder = 108, "unknown or finished order";
    /// The preallocated order pool is full.
    PoolFull = 109, "order pool is full";
    /// Cancelled by the owner's request.
    UserCancel = 110, "cancelled on request";
    /// The unfilled rest of an IOC or market order.
    IocRemainder = 111, "immediate-or-cancel remainder";
    /// Cancelled by self-trade prevention.
    SelfTradePrevention = 112, "self-trade prevention";
    /// Market order with no liquidity on the other side at all.
    NoLiquidity = 113, "no liquidity on the other side";
    /// A replace to a price whose time-in-force it cannot keep (post-only crossing).
    ReplaceRefused = 114, "replace refused";
}

/// One execution report.
///
/// For fills `price_ticks` / `last_qty_lots` are the trade's price and quantity; for the
/// other kinds `price_ticks` is the order's limit price (0 for market orders) and
/// `last_qty_lots` is 0. `leaves_qty_lots` is what still rests after the report
/// (0 once final), `cum_qty_lots` what has traded so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExecReport {
    pub kind: ExecKind,
    pub client_order_id: u64,
    pub instrument: u32,
    pub side: Side,
    pub owner: u16,
    pub price_ticks: i64,
    pub last_qty_lots: i64,
    pub leaves_qty_lots: i64,
    pub cum_qty_lots: i64,
    /// Fee of this fill in the quote currency; negative for a rebate.
    pub fee_quote: f64,
    pub liquidity: Liquidity,
    pub reason: Option<VenueReason>,
    /// Trade id shared by the maker's and the taker's report of one fill; 0 otherwise.
    pub trade_id: u64,
    /// Venue time of the report.
    pub ts_event_ns: u64,
    /// When the owner sees the report (venue time plus the response latency).
    pub ts_recv_ns: u64,
    /// Venue sequence number of the report, strictly increasing.
    pub seq: u64,
}

impl ExecReport {
    /// Whether the order is finished after this report. A rejected cancel or replace
    /// request leaves its order working (`leaves_qty_lots > 0`), so it is not final.
    pub fn is_final(&self) -> bool {
        self.leaves_qty_lots == 0
            && matches!(
                self.kind,
                ExecKind::Filled | ExecKind::Cancelled | ExecKind::Rejected
            )
    }

    /// Whether this report is a fill.
    pub fn is_fill(&self) -> bool {
        matches!(self.kind, ExecKind::PartiallyFilled | ExecKind::Filled)
    }

    /// The common event. `qty_lots` is the fill quantity for fills and the leaves quantity
    /// otherwise; `aux` packs bits 0-7 the [`ExecKind`], 8-15 the [`Liquidity`], 16-31
    /// the [`VenueReason`] code (0 if none); the `FINAL` flag marks a finished order. The
    /// fee does not fit the record and travels in the struct only.
    pub fn to_event(&self, venue: u8) -> Event {
        let reason = self.reason.map_or(0, |r| r.code()) as i64;
        Event {
            ts_event_ns: self.ts_event_ns,
            ts_recv_ns: self.ts_recv_ns,
            seq: self.seq,
            price_ticks: self.price_ticks,
            qty_lots: if self.is_fill() {
                self.last_qty_lots
            } else {
                self.leaves_qty_lots
            },
            id: self.client_order_id,
            aux: self.kind as i64 | (self.liquidity as i64) << 8 | reason << 16,
            instrument: self.instrument,
            kind: EventKind::ExecReport as u8,
            side: self.side as u8,
            venue,
            flags: if self.is_final() { flags::FINAL } else { 0 },
        }
    }
}

impl From<&ExecReport> for Event {
    fn from(r: &ExecReport) -> Event {
        r.to_event(0)
    }
}

/// The report fields an [`Event`] of kind `ExecReport` carries, decoded from `aux`.
pub fn decode_exec_event(e: &Event) -> Option<(ExecKind, Liquidity, Option<VenueReason>)> {
    if e.kind != EventKind::ExecReport as u8 {
        return None;
    }
    let kind = ExecKind::from_u8((e.aux & 0xff) as u8)?;
    let liquidity = match (e.aux >> 8) & 0xff {
        0 => Liquidity::None,
        1 => Liquidity::Maker,
        2 => Liquidity::Taker,
        _ => return None,
    };
    let code = ((e.aux >> 16) & 0xffff) as u16;
    let reason = if code == 0 {
        None
    } else {
        Some(VenueReason::from_code(code)?)
    };
    Some((kind, liquidity, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trips_through_the_common_event() {
        let r = ExecReport {
            kind: ExecKind::Cancelled,
            client_order_id: 42,
            instrument: 3,
            side: Side::Sell,
            owner: 1,
            price_ticks: 1000,
            last_qty_lots: 0,
            leaves_qty_lots: 0,
            cum_qty_lots: 5,
            fee_quote: 0.0,
            liquidity: Liquidity::None,
            reason: Some(VenueReason::SelfTradePrevention),
            trade_id: 0,
            ts_event_ns: 10,
            ts_recv_ns: 12,
            seq: 7,
        };
        let e = r.to_event(2);
        assert_eq!(e.kind, EventKind::ExecReport as u8);
        assert_eq!((e.id, e.instrument, e.venue, e.seq), (42, 3, 2, 7));
        assert_eq!(e.flags, flags::FINAL);
        assert_eq!(
            decode_exec_event(&e),
            Some((
                ExecKind::Cancelled,
                Liquidity::None,
                Some(VenueReason::SelfTradePrevention)
            ))
        );
        assert!(e.validate().is_ok());
    }

    #[test]
    fn venue_reason_codes_are_unique_and_above_risk_codes() {
        let mut seen = std::collections::HashSet::new();
        for r in VenueReason::ALL {
            assert!(r.code() > 100 && seen.insert(r.code()));
            assert_eq!(VenueReason::from_code(r.code()), Some(*r));
        }
    }
}
