//! What the risk engine is asked to approve and why it says no: the [`OrderRequest`] a
//! strategy submits, the [`Fill`] a venue reports, and the [`RejectReason`] of every
//! pre-trade check, each with a stable numeric code (the `aux` of events, the code Python
//! sees) and a human message.

use crate::model::Side;

/// Limit orders carry their own price; market orders are valued at the reference price.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderType {
    Limit = 1,
    Market = 2,
}

impl OrderType {
    pub fn from_u8(value: u8) -> Option<OrderType> {
        match value {
            1 => Some(OrderType::Limit),
            2 => Some(OrderType::Market),
            _ => None,
        }
    }
}

/// One order as a strategy submits it. Plain integers only, so it binds to Python and to a
/// numpy record without conversion; prices and quantities are the instrument's ticks and
/// lots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrderRequest {
    /// Index into the instrument table the engine was built with.
    pub instrument: u32,
    pub side: Side,
    pub order_type: OrderType,
    /// Limit price; ignored for market orders.
    pub price_ticks: i64,
    pub qty_lots: i64,
    /// Unique per order for the life of the engine (within the duplicate-id memory).
    pub client_order_id: u64,
    /// Index of the submitting strategy, below [`RiskLimits::strategy_count`](super::RiskLimits::strategy_count).
    pub strategy_id: u16,
    /// Venue index; must be the instrument's venue.
    pub venue: u8,
    /// The order may only shrink the position, never grow or flip it.
    pub reduce_only: bool,
    /// When the strategy created the order.
    pub ts_ns: u64,
}

impl OrderRequest {
    /// A limit order with the other fields at their neutral values (strategy 0, not
    /// reduce-only, `ts_ns` 0).
    pub fn limit(
        instrument: u32,
        venue: u8,
        side: Side,
        price_ticks: i64,
        qty_lots: i64,
        client_order_id: u64,
    ) -> OrderRequest {
        OrderRequest {
            instrument,
            side,
            order_type: OrderType::Limit,
            price_ticks,
            qty_lots,
            client_order_id,
            strategy_id: 0,
            venue,
            reduce_only: false,
            ts_ns: 0,
        }
    }

    /// A market order with the other fields at their neutral values.
    pub fn market(
        instrument: u32,
        venue: u8,
        side: Side,
        qty_lots: i64,
        client_order_id: u64,
    ) -> OrderRequest {
        OrderRequest {
            order_type: OrderType::Market,
            price_ticks: 0,
            ..OrderRequest::limit(instrument, venue, side, 0, qty_lots, client_order_id)
        }
    }
}

/// An execution: `qty_lots` of an order traded at `price_ticks`, paying `fee_quote` (in the
/// quote currency; negative for a rebate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill {
    pub client_order_id: u64,
    pub instrument: u32,
    pub side: Side,
    pub price_ticks: i64,
    pub qty_lots: i64,
    pub fee_quote: f64,
    pub ts_ns: u64,
}

macro_rules! reasons {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $msg:literal; )*) => {
        /// Why a pre-trade check refused an order. The numeric code is stable: it is
        /// stored in events and journals and seen by Python, so a code is never reused.
        #[repr(u16)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
        pub enum RejectReason {
            $( $(#[$doc])* #[error($msg)] $name = $code, )*
        }

        impl RejectReason {
            /// Every reason, in code order.
            pub const ALL: &'static [RejectReason] = &[$(RejectReason::$name,)*];

            /// The stable numeric code.
            pub fn code(self) -> u16 {
                self as u16
            }

            /// The reason with this code, if any.
            pub fn from_code(code: u16) -> Option<RejectReason> {
                match code {
                    $( $code => Some(RejectReason::$name), )*
                    _ => None,
                }
            }

            /// A human-readable sentence.
            pub fn message(self) -> &'static str {
                match self {
                    $( RejectReason::$name => $msg, )*
                }
            }

            /// The variant name in snake case, for logs and metrics labels.
            pub fn name(self) -> &'static str {
                match self {
                    $( RejectReason::$name => stringify!($name), )*
                }
            }
        }
    };
}

reasons! {
    /// The instrument index is not in the engine's table.
    UnknownInstrument = 1, "unknown instrument";
    /// The order's venue is not the instrument's venue.
    VenueMismatch = 2, "venue does not list this instrument";
    /// The strategy id is not below the configured strategy count.
    UnknownStrategy = 3, "unknown strategy id";
    /// Side must be buy or sell.
    InvalidSide = 4, "order side must be buy or sell";
    /// Quantity below the instrument's minimum (or not positive).
    QtyBelowMin = 5, "quantity below the minimum order quantity";
    /// Quantity above the maximum order quantity.
    QtyAboveMax = 6, "quantity above the maximum order quantity";
    /// A limit price of zero or less.
    PriceNotPositive = 7, "limit price is not positive";
    /// Limit price below the instrument's minimum price.
    PriceBelowMin = 8, "limit price below the minimum price";
    /// Limit price above the instrument's maximum price.
    PriceAboveMax = 9, "limit price above the maximum price";
    /// Order value below the minimum notional.
    NotionalBelowMin = 10, "order notional below the minimum";
    /// Order value above the maximum notional.
    NotionalAboveMax = 11, "order notional above the maximum";
    /// Limit price too far from the reference price (fat finger).
    PriceBand = 12, "limit price outside the band around the reference price";
    /// No reference price has been received for the instrument.
    NoReferencePrice = 13, "no reference price for the instrument";
    /// The reference price is older than the configured limit.
    StaleReferencePrice = 14, "reference price is stale";
    /// Worst-case position (with working orders) would exceed the limit.
    PositionLimit = 15, "position limit would be exceeded";
    /// Worst-case gross exposure would exceed the limit.
    GrossExposureLimit = 16, "gross exposure limit would be exceeded";
    /// Worst-case net exposure would exceed the limit.
    NetExposureLimit = 17, "net exposure limit would be exceeded";
    /// Too many working orders.
    OpenOrdersLimit = 18, "maximum number of open orders reached";
    /// The strategy's order rate is above its throttle.
    StrategyThrottle = 19, "strategy order rate throttle";
    /// The venue's order rate is above its throttle.
    VenueThrottle = 20, "venue order rate throttle";
    /// The order would trade against one of our own resting orders.
    SelfTrade = 21, "order would trade against our own resting order";
    /// A reduce-only order that would grow or flip the position.
    ReduceOnly = 22, "reduce-only order would increase or flip the position";
    /// The client order id is already working or was used recently.
    DuplicateClientOrderId = 23, "duplicate client order id";
    /// Trading is halted.
    Halted = 24, "trading is halted";
    /// Trading is reducing-only and the order does not reduce a position.
    ReducingState = 25, "trading state is reducing: only position-reducing orders";
    /// A value computed from the order is not finite.
    NonFinite = 26, "a value computed from the order is not finite";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_codes_are_unique_round_trip_and_have_messages() {
        let mut seen = std::collections::HashSet::new();
        for r in RejectReason::ALL {
            assert!(seen.insert(r.code()), "duplicate code {}", r.code());
            assert_eq!(RejectReason::from_code(r.code()), Some(*r));
            assert!(!r.message().is_empty());
            assert_eq!(r.to_string(), r.message());
        }
        assert_eq!(RejectReason::from_code(0), None);
        assert_eq!(RejectReason::from_code(999), None);
        // Codes are part of the wire format: pin a few.
        assert_eq!(RejectReason::UnknownInstrument.code(), 1);
        assert_eq!(RejectReason::PriceBand.code(), 12);
        assert_eq!(RejectReason::Halted.code(), 24);
    }
}
