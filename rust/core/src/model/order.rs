//! Orders as every domain sees them: the [`OrderRequest`] a strategy submits (checked by
//! `risk`, matched by `venue`), its [`OrderType`] and [`TimeInForce`], and the [`Fill`] a
//! venue reports. They live here, below both domains, so neither depends on the other.

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
    /// Index of the submitting strategy, below `RiskLimits::strategy_count`; the venue
    /// uses it as the owner for self-trade prevention.
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

/// How long an order may rest and whether it may take liquidity. Stored as `u8`; the
/// values follow no exchange's numbering and are stable.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimeInForce {
    /// Good till cancelled: trades what it can, rests the remainder.
    #[default]
    Gtc = 1,
    /// Immediate or cancel: trades what it can, cancels the remainder.
    Ioc = 2,
    /// Fill or kill: trades its whole quantity at once or nothing at all.
    Fok = 3,
    /// Post only (Binance `GTX`, Coinbase `post_only`): rests without trading, rejected if
    /// it would take liquidity on arrival.
    PostOnly = 4,
}

impl TimeInForce {
    pub fn from_u8(value: u8) -> Option<TimeInForce> {
        match value {
            1 => Some(TimeInForce::Gtc),
            2 => Some(TimeInForce::Ioc),
            3 => Some(TimeInForce::Fok),
            4 => Some(TimeInForce::PostOnly),
            _ => None,
        }
    }
}
