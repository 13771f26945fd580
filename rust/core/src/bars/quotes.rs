//! Time bars from quotes (best bid / best ask updates) instead of trades: the bar's price
//! is the bid, the ask or the mid of each quote, and its count is the number of quotes.

use super::builder::{check_columns, BarBuilder, BarSpec, BarsError};
use crate::model::Bar;

/// Which price of a quote the bars follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotePrice {
    /// `(bid + ask) / 2`, carried in **half ticks** (`bid + ask`) so that it stays an exact
    /// integer; divide the bar's prices by 2 for ticks.
    Mid,
    Bid,
    Ask,
}

impl QuotePrice {
    /// The quote's price in the bar's unit (half ticks for [`QuotePrice::Mid`]).
    pub(super) fn of(self, index: usize, bid_ticks: i64, ask_ticks: i64) -> Result<i64, BarsError> {
        if ask_ticks < bid_ticks {
            return Err(BarsError::CrossedQuote {
                index,
                bid_ticks,
                ask_ticks,
            });
        }
        match self {
            QuotePrice::Bid => Ok(bid_ticks),
            QuotePrice::Ask => Ok(ask_ticks),
            QuotePrice::Mid => bid_ticks
                .checked_add(ask_ticks)
                .ok_or(BarsError::PriceOverflow { index }),
        }
    }
}

/// Time bars (`every_ns` windows aligned to `offset_ns`, as polars' `group_by_dynamic`
/// with `closed="left", label="left"`) of one instrument's time-ordered quotes. Volume is 0
/// (a quote trades nothing); `trades` counts the quotes. A crossed quote (ask below bid)
/// is an error naming its index, not skipped: it means the input is not one book's top.
pub fn build_quote_bars(
    every_ns: u64,
    offset_ns: u64,
    ts_ns: &[u64],
    bid_ticks: &[i64],
    ask_ticks: &[i64],
    price: QuotePrice,
) -> Result<Vec<Bar>, BarsError> {
    check_columns(ts_ns, bid_ticks.len(), ask_ticks.len())?;
    let spec = BarSpec::Time {
        every_ns,
        offset_ns,
    };
    let mut builder = BarBuilder::new(spec, 0, 0)?;
    let mut bars = Vec::new();
    for (i, ((&ts, &bid), &ask)) in ts_ns.iter().zip(bid_ticks).zip(ask_ticks).enumerate() {
        bars.extend(builder.update(ts, price.of(i, bid, ask)?, 0));
    }
    bars.extend(builder.flush());
    Ok(bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mid_bars_by_hand() {
        // Two one-second windows; the mid of 100/101 is 100.5 ticks = 201 half ticks.
        let ts = [0, 400_000_000, 900_000_000, 1_200_000_000];
        let bid = [100, 99, 101, 102];
        let ask = [101, 102, 101, 104];
        let b = build_quote_bars(1_000_000_000, 0, &ts, &bid, &ask, QuotePrice::Mid).unwrap();
        assert_eq!(b.len(), 2);
        let ohlc = |b: &Bar| (b.open_ticks, b.high_ticks, b.low_ticks, b.close_ticks);
        assert_eq!(ohlc(&b[0]), (201, 202, 201, 202));
        assert_eq!((b[0].trades, b[0].volume_lots, b[0].closed), (3, 0, true));
        assert_eq!(ohlc(&b[1]), (206, 206, 206, 206));
        assert!(!b[1].closed);
        let asks = build_quote_bars(1_000_000_000, 0, &ts, &bid, &ask, QuotePrice::Ask).unwrap();
        assert_eq!(ohlc(&asks[0]), (101, 102, 101, 101));
    }

    #[test]
    fn bad_quotes_are_errors_naming_the_row() {
        let e = build_quote_bars(10, 0, &[1, 2], &[5, 7], &[6, 6], QuotePrice::Bid);
        assert_eq!(
            e,
            Err(BarsError::CrossedQuote {
                index: 1,
                bid_ticks: 7,
                ask_ticks: 6
            })
        );
        let e = build_quote_bars(10, 0, &[1], &[i64::MAX], &[i64::MAX], QuotePrice::Mid);
        assert_eq!(e, Err(BarsError::PriceOverflow { index: 0 }));
        assert!(matches!(
            build_quote_bars(10, 0, &[2, 1], &[1, 1], &[1, 1], QuotePrice::Mid),
            Err(BarsError::Unordered { index: 1, .. })
        ));
        assert!(matches!(
            build_quote_bars(0, 0, &[1], &[1], &[1], QuotePrice::Mid),
            Err(BarsError::NonPositive(_))
        ));
    }
}
