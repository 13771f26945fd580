//! Splitting one long series over the machine's cores.
//!
//! A 1-D kernel whose values can be computed a stretch at a time with the same bits as in
//! one pass (window extremes, re-anchored running sums) hands the stretches to rayon's
//! pool. Short series stay on the calling thread (a fork and join costs microseconds), and
//! so do calls made from inside the pool: the 2-D kernels already give each worker its own
//! columns.

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

/// Runs `f(first, stretch)` over `out` cut into [`stretches`] pieces, in parallel, where
/// `stretch` is `out[first..first + stretch.len()]`. For kernels whose every output row is
/// computed from the inputs alone, with no state carried from row to row, so the bits do
/// not depend on where the cuts fall.
pub(crate) fn rows_in_parallel(out: &mut [f64], f: impl Fn(usize, &mut [f64]) + Sync) {
    let k = stretches(out.len());
    if k <= 1 {
        return f(0, out);
    }
    let len = out.len().div_ceil(k);
    let mut rest = out.chunks_mut(len).enumerate();
    let Some((_, own)) = rest.next() else {
        return;
    };
    // The calling thread takes the first stretch itself: from outside the pool,
    // `par_chunks_mut` would hand every stretch to pool workers and wait for them to wake.
    let f = &f;
    rayon::in_place_scope(|scope| {
        for (i, stretch) in rest {
            scope.spawn(move |_| f(i * len, stretch));
        }
        f(0, own);
    });
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

    #[test]
    fn rows_in_parallel_covers_every_row_once() {
        for n in [
            0,
            5,
            MIN_SPLIT_ROWS - 1,
            MIN_SPLIT_ROWS,
            3 * MIN_SPLIT_ROWS + 7,
        ] {
            let mut out = vec![-1.0; n];
            rows_in_parallel(&mut out, |first, stretch| {
                for (j, o) in stretch.iter_mut().enumerate() {
                    assert_eq!(*o, -1.0);
                    *o = (first + j) as f64;
                }
            });
            assert!(out.iter().enumerate().all(|(i, o)| *o == i as f64), "n {n}");
        }
    }
}
