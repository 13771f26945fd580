//! Splitting one long series over the machine's cores.
//!
//! A 1-D kernel whose values can be computed a stretch at a time with the same bits as in
//! one pass (window extremes, re-anchored running sums) hands the stretches to rayon's
//! pool. Short series stay on the calling thread (a fork and join costs microseconds), and
//! so do calls made from inside the pool: the 2-D kernels already give each worker its own
//! columns.
#![allow(dead_code)] // the split kernels arrive in the next commits

/// Below this many rows a 1-D kernel runs on the calling thread.
pub(crate) const MIN_SPLIT_ROWS: usize = 1 << 16;

/// How many stretches a series of `n` rows is worth splitting into: 1 (do not split) for
/// short series, a single-thread pool, or a caller already running on a pool worker.
pub(crate) fn stretches(n: usize) -> usize {
    if n < MIN_SPLIT_ROWS || rayon::current_thread_index().is_some() {
        return 1;
    }
    rayon::current_num_threads()
        .min(n / (MIN_SPLIT_ROWS / 2))
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_series_and_pool_workers_do_not_split() {
        assert_eq!(stretches(MIN_SPLIT_ROWS - 1), 1);
        let inside = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
            .install(|| stretches(10 * MIN_SPLIT_ROWS));
        assert_eq!(inside, 1);
    }

    #[test]
    fn long_series_split_over_the_pool() {
        let want = rayon::current_num_threads().min(20);
        assert_eq!(stretches(10 * MIN_SPLIT_ROWS), want.max(1));
    }
}
