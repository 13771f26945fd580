//! Positions and PnL: what fills do to a position's size, average price, realized PnL and
//! fees, what a mark (reference) price makes of the rest (unrealized PnL), and the net and
//! gross exposure of a book of positions in the quote currency.
//!
//! Sizes and prices stay integers (lots, ticks); the average entry price is an `f64` of
//! ticks because a volume-weighted mean of integers is not one. Money is `f64` in the quote
//! currency, converted from ticks x lots with each instrument's `quote_per_tick_lot`
//! (tick size x lot size x contract multiplier).

use crate::model::Side;

/// The position in one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Position {
    /// Signed size: positive long, negative short.
    pub qty_lots: i64,
    /// Volume-weighted entry price of the open size, in ticks; 0 when flat.
    pub avg_price_ticks: f64,
    /// PnL locked in by closing trades, before fees.
    pub realized_pnl_quote: f64,
    /// Fees paid (negative for net rebates).
    pub fees_quote: f64,
}

impl Position {
    /// Applies one fill and returns the PnL it realized. A fill that crosses zero closes
    /// the old position at its average price and opens the rest at the fill price.
    pub fn apply_fill(
        &mut self,
        side: Side,
        qty_lots: i64,
        price_ticks: i64,
        fee_quote: f64,
        quote_per_tick_lot: f64,
    ) -> f64 {
        let signed = match side {
            Side::Buy => qty_lots,
            Side::Sell => -qty_lots,
            Side::None => 0,
        };
        self.fees_quote += fee_quote;
        if signed == 0 {
            return 0.0;
        }
        let price = price_ticks as f64;
        let old = self.qty_lots;
        let new = old.saturating_add(signed);
        let mut realized = 0.0;
        if old == 0 || (old > 0) == (signed > 0) {
            // Growing (or opening): the average moves towards the fill price.
            let total = old.unsigned_abs() as f64 + signed.unsigned_abs() as f64;
            self.avg_price_ticks = (self.avg_price_ticks * old.unsigned_abs() as f64
                + price * signed.unsigned_abs() as f64)
                / total;
        } else {
            let closed = old.unsigned_abs().min(signed.unsigned_abs()) as f64;
            let direction = if old > 0 { 1.0 } else { -1.0 };
            realized = closed * (price - self.avg_price_ticks) * direction * quote_per_tick_lot;
            if new == 0 {
                self.avg_price_ticks = 0.0;
            } else if (new > 0) != (old > 0) {
                // Flipped: what is left was opened at this fill's price.
                self.avg_price_ticks = price;
            }
        }
        self.qty_lots = new;
        self.realized_pnl_quote += realized;
        realized
    }

    /// PnL of the open size at `mark_ticks`.
    pub fn unrealized_pnl_quote(&self, mark_ticks: i64, quote_per_tick_lot: f64) -> f64 {
        if self.qty_lots == 0 {
            return 0.0;
        }
        self.qty_lots as f64 * (mark_ticks as f64 - self.avg_price_ticks) * quote_per_tick_lot
    }

    /// Signed value of the position at `mark_ticks`.
    pub fn exposure_quote(&self, mark_ticks: i64, quote_per_tick_lot: f64) -> f64 {
        self.qty_lots as f64 * mark_ticks as f64 * quote_per_tick_lot
    }
}

/// The positions of every instrument, with their valuation inputs.
#[derive(Debug, Clone)]
pub struct PositionBook {
    positions: Vec<Position>,
    quote_per_tick_lot: Vec<f64>,
    /// Last mark (reference) price per instrument; 0 until one arrives.
    mark_ticks: Vec<i64>,
}

/// Book-wide figures in the quote currency.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PnlSummary {
    pub realized_pnl_quote: f64,
    pub unrealized_pnl_quote: f64,
    pub fees_quote: f64,
    /// Sum of signed position values at mark.
    pub net_exposure_quote: f64,
    /// Sum of absolute position values at mark.
    pub gross_exposure_quote: f64,
}

impl PnlSummary {
    /// Realized + unrealized - fees.
    pub fn total_pnl_quote(&self) -> f64 {
        self.realized_pnl_quote + self.unrealized_pnl_quote - self.fees_quote
    }
}

impl PositionBook {
    pub fn new(quote_per_tick_lot: Vec<f64>) -> PositionBook {
        let n = quote_per_tick_lot.len();
        PositionBook {
            positions: vec![Position::default(); n],
            quote_per_tick_lot,
            mark_ticks: vec![0; n],
        }
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    pub fn get(&self, instrument: u32) -> Option<&Position> {
        self.positions.get(instrument as usize)
    }

    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    pub fn mark_ticks(&self, instrument: u32) -> Option<i64> {
        self.mark_ticks.get(instrument as usize).copied()
    }

    pub fn quote_per_tick_lot(&self, instrument: u32) -> Option<f64> {
        self.quote_per_tick_lot.get(instrument as usize).copied()
    }

    /// Applies a fill; returns the realized PnL, or `None` for an unknown instrument.
    pub fn apply_fill(
        &mut self,
        instrument: u32,
        side: Side,
        qty_lots: i64,
        price_ticks: i64,
        fee_quote: f64,
    ) -> Option<f64> {
        let i = instrument as usize;
        let q = *self.quote_per_tick_lot.get(i)?;
        let p = self.positions.get_mut(i)?;
        Some(p.apply_fill(side, qty_lots, price_ticks, fee_quote, q))
    }

    pub fn set_mark(&mut self, instrument: u32, mark_ticks: i64) {
        if let Some(m) = self.mark_ticks.get_mut(instrument as usize) {
            *m = mark_ticks;
        }
    }

    /// Realized, unrealized, fees and exposures over every instrument.
    pub fn summary(&self) -> PnlSummary {
        let mut s = PnlSummary::default();
        for ((p, &q), &m) in self
            .positions
            .iter()
            .zip(&self.quote_per_tick_lot)
            .zip(&self.mark_ticks)
        {
            s.realized_pnl_quote += p.realized_pnl_quote;
            s.fees_quote += p.fees_quote;
            s.unrealized_pnl_quote += p.unrealized_pnl_quote(m, q);
            let e = p.exposure_quote(m, q);
            s.net_exposure_quote += e;
            s.gross_exposure_quote += e.abs();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values below are worked by hand from the fills, not from the code.

    #[test]
    fn average_price_realized_and_unrealized_pnl_through_a_flip() {
        let mut p = Position::default();
        // Tick 0.5 quote, lot 0.01 units: one tick-lot is 0.005 quote.
        let q = 0.005;
        p.apply_fill(Side::Buy, 100, 1000, 0.1, q);
        p.apply_fill(Side::Buy, 300, 1200, 0.3, q);
        // (100*1000 + 300*1200) / 400 = 1150
        assert_eq!(p.qty_lots, 400);
        assert_eq!(p.avg_price_ticks, 1150.0);
        // 400 lots, mark 1100: 400 * (1100 - 1150) * 0.005 = -100
        assert!((p.unrealized_pnl_quote(1100, q) - -100.0).abs() < 1e-12);
        // Sell 500 at 1300: closes 400 for 400*150*0.005 = 300, opens 100 short at 1300.
        let r = p.apply_fill(Side::Sell, 500, 1300, 0.5, q);
        assert!((r - 300.0).abs() < 1e-12);
        assert_eq!(p.qty_lots, -100);
        assert_eq!(p.avg_price_ticks, 1300.0);
        // Short 100 at 1300, mark 1250: 100 * 50 * 0.005 = 25 profit
        assert!((p.unrealized_pnl_quote(1250, q) - 25.0).abs() < 1e-12);
        // Buy 100 at 1320: closes the short at a loss of 100*20*0.005 = 10
        let r = p.apply_fill(Side::Buy, 100, 1320, 0.0, q);
        assert!((r - -10.0).abs() < 1e-12);
        assert_eq!((p.qty_lots, p.avg_price_ticks), (0, 0.0));
        assert!((p.realized_pnl_quote - 290.0).abs() < 1e-12);
        assert!((p.fees_quote - 0.9).abs() < 1e-12);
    }

    #[test]
    fn partial_close_keeps_the_average_price() {
        let mut p = Position::default();
        p.apply_fill(Side::Sell, 10, 500, 0.0, 1.0);
        let r = p.apply_fill(Side::Buy, 4, 450, 0.0, 1.0);
        assert_eq!(r, 200.0); // 4 * (500 - 450)
        assert_eq!((p.qty_lots, p.avg_price_ticks), (-6, 500.0));
    }

    #[test]
    fn book_summary_nets_and_grosses_exposure() {
        let mut b = PositionBook::new(vec![1.0, 0.5]);
        b.apply_fill(0, Side::Buy, 2, 100, 1.0);
        b.apply_fill(1, Side::Sell, 4, 50, 2.0);
        b.set_mark(0, 110);
        b.set_mark(1, 40);
        let s = b.summary();
        // long 2*110*1 = 220, short -4*40*0.5 = -80
        assert_eq!(s.net_exposure_quote, 140.0);
        assert_eq!(s.gross_exposure_quote, 300.0);
        // 2*(110-100)*1 = 20 and -4*(40-50)*0.5 = 20
        assert_eq!(s.unrealized_pnl_quote, 40.0);
        assert_eq!(s.fees_quote, 3.0);
        assert_eq!(s.total_pnl_quote(), 37.0);
        assert_eq!(b.apply_fill(9, Side::Buy, 1, 1, 0.0), None);
    }
}
