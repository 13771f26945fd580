//! Latency model of the simulated venue: how long an order takes to reach the venue, a
//! report to come back, and market data to reach the strategy.
//!
//! [`LatencyModel::Constant`] uses fixed delays. [`LatencyModel::Recorded`] draws each
//! delay independently and uniformly from arrays of measured latencies (for example
//! round trips halved, or exchange-to-receive gaps from a capture), with a seeded
//! xoshiro256** generator, so the same seed gives the same draws and the same fills.

use crate::risk::stats::Xoshiro256;

#[derive(Debug, Clone)]
pub enum LatencyModel {
    Constant {
        /// Strategy -> venue, for new orders, cancels and replaces.
        order_ns: u64,
        /// Venue -> strategy, for execution reports.
        response_ns: u64,
        /// Exchange -> strategy, for market data.
        market_data_ns: u64,
    },
    Recorded {
        /// Samples for both order legs (entry and response), each drawn independently.
        order_ns: Vec<u64>,
        /// Samples for market data.
        market_data_ns: Vec<u64>,
        rng: Xoshiro256,
    },
}

/// A recorded-latency array is empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` must hold at least one latency sample")]
pub struct EmptyLatencies(pub &'static str);

impl LatencyModel {
    /// No latency at all (bar backtests that execute at the bar's close).
    pub fn zero() -> LatencyModel {
        LatencyModel::Constant {
            order_ns: 0,
            response_ns: 0,
            market_data_ns: 0,
        }
    }

    /// Draws from recorded samples with a seeded generator.
    pub fn recorded(
        order_ns: Vec<u64>,
        market_data_ns: Vec<u64>,
        seed: u64,
    ) -> Result<LatencyModel, EmptyLatencies> {
        if order_ns.is_empty() {
            return Err(EmptyLatencies("order_ns"));
        }
        if market_data_ns.is_empty() {
            return Err(EmptyLatencies("market_data_ns"));
        }
        Ok(LatencyModel::Recorded {
            order_ns,
            market_data_ns,
            rng: Xoshiro256::new(seed),
        })
    }

    fn draw(rng: &mut Xoshiro256, samples: &[u64]) -> u64 {
        // Lemire's multiply-shift: an unbiased-enough index without a division.
        let i = ((rng.next_u64() as u128 * samples.len() as u128) >> 64) as usize;
        samples[i]
    }

    /// Delay of an order (or cancel / replace) on its way to the venue.
    pub fn order_entry_ns(&mut self) -> u64 {
        match self {
            LatencyModel::Constant { order_ns, .. } => *order_ns,
            LatencyModel::Recorded { order_ns, rng, .. } => Self::draw(rng, order_ns),
        }
    }

    /// Delay of an execution report on its way back.
    pub fn response_ns(&mut self) -> u64 {
        match self {
            LatencyModel::Constant { response_ns, .. } => *response_ns,
            LatencyModel::Recorded { order_ns, rng, .. } => Self::draw(rng, order_ns),
        }
    }

    /// Delay of a market-data event on its way to the strategy.
    pub fn market_data_ns(&mut self) -> u64 {
        match self {
            LatencyModel::Constant { market_data_ns, .. } => *market_data_ns,
            LatencyModel::Recorded {
                market_data_ns,
                rng,
                ..
            } => Self::draw(rng, market_data_ns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_latencies_are_drawn_from_the_samples_and_repeat_with_the_seed() {
        let samples = vec![100, 250, 4000];
        let mut a = LatencyModel::recorded(samples.clone(), vec![7], 42).unwrap();
        let mut b = LatencyModel::recorded(samples.clone(), vec![7], 42).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..300 {
            let x = a.order_entry_ns();
            assert_eq!(x, b.order_entry_ns());
            assert!(samples.contains(&x));
            seen.insert(x);
            assert_eq!(a.market_data_ns(), 7);
            b.market_data_ns();
        }
        assert_eq!(seen.len(), 3, "every sample is eventually drawn");
        assert_eq!(
            LatencyModel::recorded(vec![], vec![1], 1).unwrap_err(),
            EmptyLatencies("order_ns")
        );
    }
}
