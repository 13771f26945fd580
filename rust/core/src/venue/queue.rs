//! Queue-position models: how much of the quantity resting ahead of our order at its
//! price ("front") is still ahead after the market changes, when we only see the L2 book
//! (total quantity per level) and the trades.
//!
//! Both models agree on two rules: a trade at our price consumes the front first (its
//! excess fills us), and quantity added to a level goes behind us. They differ on
//! decreases of the level not explained by trades (cancellations):
//!
//! * [`QueueModel::RiskAverse`]: cancellations are assumed to come from behind us, so the
//!   front only shrinks when it would exceed the level itself: `front' = min(front, new)`.
//!   We are filled only once the whole queue ahead has traded.
//! * [`QueueModel::Probabilistic`]: a decrease `d` is split between the front and the back
//!   (`back = prev - front`) by the probability `p = f(back) / (f(back) + f(front))` that a
//!   cancel comes from behind us, with `f(x) = x^n` (`Power`) or `f(x) = ln(1 + x)`
//!   (`Log`), so cancels are likelier on the longer side of our order:
//!   `front' = front - (1 - p) d + min(back - p d, 0)`, clamped to `[0, new]`. The last
//!   term moves to the front what the back cannot absorb. This is hftbacktest's
//!   `ProbQueueModel` (nkaz001/hftbacktest, MIT).

/// The probability shape of [`QueueModel::Probabilistic`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueueShape {
    /// `f(x) = x^n`; larger `n` puts more of the cancels on the longer side.
    Power(f64),
    /// `f(x) = ln(1 + x)`.
    Log,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QueueModel {
    RiskAverse,
    Probabilistic(QueueShape),
}

impl QueueModel {
    /// The front after the level at our price went from `prev` to `new` lots, of which
    /// `traded` had already been applied to the front by [`QueueModel::on_trade`].
    pub fn on_level_change(&self, front: f64, prev: f64, new: f64, traded: f64) -> f64 {
        let front = front.min(prev.max(0.0));
        if new >= prev {
            return front.min(new);
        }
        match *self {
            QueueModel::RiskAverse => front.min(new),
            QueueModel::Probabilistic(shape) => {
                // Trades already moved the front; only the rest of the decrease is cancels.
                let d = (prev - new - traded).max(0.0);
                let back = (prev - front).max(0.0);
                let (fb, ff) = match shape {
                    QueueShape::Power(n) => (back.powf(n), front.powf(n)),
                    QueueShape::Log => (back.ln_1p(), front.ln_1p()),
                };
                let p = if fb + ff > 0.0 { fb / (fb + ff) } else { 1.0 };
                let est = front - (1.0 - p) * d + (back - p * d).min(0.0);
                est.clamp(0.0, new.max(0.0))
            }
        }
    }

    /// A trade of `qty` at our price: returns (new front, lots that reach our order).
    pub fn on_trade(&self, front: f64, qty: f64) -> (f64, f64) {
        let excess = qty - front;
        ((front - qty).max(0.0), excess.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_averse_front_ignores_cancels_until_the_level_is_smaller() {
        let m = QueueModel::RiskAverse;
        // 10 ahead, level 30 -> 25: cancels assumed behind us.
        assert_eq!(m.on_level_change(10.0, 30.0, 25.0, 0.0), 10.0);
        // Level 30 -> 4: at most 4 can be ahead.
        assert_eq!(m.on_level_change(10.0, 30.0, 4.0, 0.0), 4.0);
        // Additions go behind.
        assert_eq!(m.on_level_change(10.0, 30.0, 50.0, 0.0), 10.0);
        assert_eq!(m.on_trade(10.0, 4.0), (6.0, 0.0));
        assert_eq!(m.on_trade(10.0, 13.0), (0.0, 3.0));
    }

    #[test]
    fn probabilistic_front_follows_the_documented_formula() {
        // front 10, back 30, n = 2: p = 900 / (900 + 100) = 0.9; d = 10
        // front' = 10 - 0.1 * 10 + min(30 - 9, 0) = 9.
        let m = QueueModel::Probabilistic(QueueShape::Power(2.0));
        assert!((m.on_level_change(10.0, 40.0, 30.0, 0.0) - 9.0).abs() < 1e-12);
        // Linear (n = 1): p = 0.75, front' = 10 - 0.25 * 10 = 7.5.
        let lin = QueueModel::Probabilistic(QueueShape::Power(1.0));
        assert!((lin.on_level_change(10.0, 40.0, 30.0, 0.0) - 7.5).abs() < 1e-12);
        // A decrease fully explained by trades already counted moves nothing.
        assert_eq!(lin.on_level_change(10.0, 40.0, 30.0, 10.0), 10.0);
        // Back exhausted: front takes the overflow. front 10, back 2, d = 8, n = 1:
        // p = 2/12, front' = 10 - (10/12) * 8 + min(2 - 8/6, 0) = 3.333...
        let f = lin.on_level_change(10.0, 12.0, 4.0, 0.0);
        assert!((f - (10.0 - 80.0 / 12.0)).abs() < 1e-12, "{f}");
        // Log shape: p = ln 31 / (ln 31 + ln 11).
        let lg = QueueModel::Probabilistic(QueueShape::Log);
        let p = 31f64.ln() / (31f64.ln() + 11f64.ln());
        let want = 10.0 - (1.0 - p) * 10.0;
        assert!((lg.on_level_change(10.0, 40.0, 30.0, 0.0) - want).abs() < 1e-12);
        // Probabilistic advances at least as fast as risk-averse.
        assert!(
            lin.on_level_change(10.0, 40.0, 30.0, 0.0)
                <= QueueModel::RiskAverse.on_level_change(10.0, 40.0, 30.0, 0.0)
        );
    }
}
