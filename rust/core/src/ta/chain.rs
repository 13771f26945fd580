//! Forgetting recurrences (Wilder's smoothing, EMAs) over one long series, cut into
//! stretches that the cores run at the same time, with the single-pass bits.
//!
//! A recurrence such as `s = s - s / p + x` or `s = (x - s) * k + s` forgets where it
//! started: two runs from different states, fed the same inputs, differ by a factor
//! `1 - 1/p` (or `1 - k`) less each row until the difference falls below an ulp and a
//! rounding closes it; from then on they hold the same bits, since each row's result is a
//! function of the state's bits and the inputs only. On random walks that took at most
//! 37 `p` rows for Wilder's smoothing and 18 `p` for an EMA, from a guess of the right
//! magnitude.
//!
//! So a later stretch starts `forget` rows early from such a guess (the recurrence's own
//! seeding applied there), and its state on reaching the stretch equals, bit for bit, the
//! state the previous stretch ends with — which is checked once all have run. When it
//! does not (a NaN, a jump that dwarfs the guess, a `forget` too short), the stretch is
//! run again from the previous stretch's true end state, on the calling thread. Either way
//! every output is what one pass from the start writes.

use super::parallel::stretches;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// A recurrence over rows `0..rows`, each row writing `K` outputs.
pub(crate) trait Chain<const K: usize>: Sync + Copy {
    type State: Copy + Send;

    /// The state before row `row`: exactly the series' own at row 0; at a later row a
    /// guess of the right magnitude (the same seeding applied there), which the rows up to
    /// a stretch make exact.
    fn seed(&self, row: usize) -> Self::State;

    /// One row: the state after it and the row's outputs.
    fn step(&self, state: Self::State, row: usize) -> (Self::State, [f64; K]);

    /// Whether two states hold the same bits (so every later row computes alike).
    fn same(a: &Self::State, b: &Self::State) -> bool;
}

/// Whether `a` and `b` hold the same bits (NaNs included).
#[inline(always)]
pub(crate) fn same_bits<const N: usize>(a: [f64; N], b: [f64; N]) -> bool {
    a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Runs `chain` over `outs` (all of one length, the rows), on as many cores as
/// [`stretches`] says when the series is long, in stretches of about [`PIECE_ROWS`] rows,
/// each starting `forget` rows early.
pub(crate) fn run_chain<C: Chain<K>, const K: usize>(
    chain: &C,
    outs: [&mut [f64]; K],
    forget: usize,
) {
    let rows = outs[0].len();
    #[cfg(test)]
    if let Some((parts, forced)) = tests::FORCE.get() {
        return run_parts(chain, outs, parts, parts, forced.unwrap_or(forget));
    }
    let cores = stretches(rows);
    // More stretches than cores, so that a core held up (by another process) leaves only
    // a small stretch for the others to wait on; each long enough that running `forget`
    // rows ahead costs little.
    let parts = if cores > 1 {
        (rows / PIECE_ROWS).max(cores)
    } else {
        1
    };
    let parts = parts.min(rows / forget.saturating_mul(16).max(1));
    run_parts(chain, outs, parts, cores, forget);
}

/// Runs `chain` over `outs` in one pass on the calling thread.
pub(crate) fn run_serial<C: Chain<K>, const K: usize>(chain: &C, outs: [&mut [f64]; K]) {
    run_parts(chain, outs, 1, 1, 0);
}

/// Rows per stretch, about, when a series is split.
const PIECE_ROWS: usize = 1 << 17;

/// [`run_chain`] with the number of stretches given.
fn run_parts<C: Chain<K>, const K: usize>(
    chain: &C,
    outs: [&mut [f64]; K],
    parts: usize,
    helpers: usize,
    forget: usize,
) {
    let rows = outs[0].len();
    assert!(outs.iter().all(|o| o.len() == rows));
    if parts <= 1 || rows < 2 * parts {
        let mut outs = outs;
        super::fast_path(
            #[inline(always)]
            || run_rows(chain, chain.seed(0), 0, &mut outs),
        );
        return;
    }
    // Stretch `j` covers rows `starts[j]..starts[j + 1]`.
    let starts: Vec<usize> = (0..=parts).map(|j| j * rows / parts).collect();
    let mut pieces: Vec<(usize, [&mut [f64]; K])> = Vec::with_capacity(parts);
    let mut rest = outs;
    for j in 0..parts {
        let len = starts[j + 1] - starts[j];
        let mut head: [&mut [f64]; K] = std::array::from_fn(|_| &mut [][..]);
        for (h, r) in head.iter_mut().zip(rest.iter_mut()) {
            let (a, b) = std::mem::take(r).split_at_mut(len);
            *h = a;
            *r = b;
        }
        pieces.push((starts[j], head));
    }
    // The calling thread takes stretches in order, and so do `helpers - 1` pool workers; each
    // stretch records (its state on arrival, its state at the end). The caller works from
    // the start rather than waiting for a pool worker to wake, and a worker held up by
    // another process leaves at most its current stretch for the caller to wait on.
    type Cell<'a, S, const K: usize> = Mutex<(usize, [&'a mut [f64]; K], Option<(S, S)>)>;
    let cells: Vec<Cell<'_, C::State, K>> = pieces
        .into_iter()
        .map(|(first, outs)| Mutex::new((first, outs, None)))
        .collect();
    let next = AtomicUsize::new(0);
    let work = || {
        while let Some(cell) = cells.get(next.fetch_add(1, Ordering::Relaxed)) {
            let mut cell = cell.lock().unwrap_or_else(PoisonError::into_inner);
            let (first, outs, done) = &mut *cell;
            let first = *first;
            *done = Some(super::fast_path(
                #[inline(always)]
                || {
                    let from = first.saturating_sub(forget);
                    let mut state = chain.seed(from);
                    for row in from..first {
                        state = chain.step(state, row).0;
                    }
                    (state, run_rows(chain, state, first, outs))
                },
            ));
        }
    };
    rayon::in_place_scope(|s| {
        for _ in 1..helpers.max(1) {
            s.spawn(|_| work());
        }
        work();
    });
    // Every stretch has run; one whose arrival state is not its predecessor's end state
    // runs again from that end state.
    let mut end = None;
    for cell in cells {
        let (first, mut outs, done) = cell.into_inner().unwrap_or_else(PoisonError::into_inner);
        end = Some(match (end, done) {
            (None, Some((_, own_end))) => own_end,
            (Some(end), Some((arrival, own_end))) if C::same(&arrival, &end) => own_end,
            (end, _) => {
                let state = end.unwrap_or_else(|| chain.seed(0));
                super::fast_path(
                    #[inline(always)]
                    || run_rows(chain, state, first, &mut outs),
                )
            }
        });
    }
}

/// Rows `first..first + outs[0].len()` from `state`; returns the state after them.
#[inline(always)]
fn run_rows<C: Chain<K>, const K: usize>(
    chain: &C,
    state: C::State,
    first: usize,
    outs: &mut [&mut [f64]; K],
) -> C::State {
    // Locals: behind the references, LLVM reloads the chain's fields and the outputs'
    // pointers after every output store (they might alias), a few loads a row.
    let chain = *chain;
    let outs: [&mut [f64]; K] = outs.each_mut().map(|o| &mut **o);
    let mut state = state;
    let n = outs[0].len();
    for o in outs.iter() {
        assert_eq!(o.len(), n);
    }
    let mut outs = outs;
    for i in 0..n {
        let (next, v) = chain.step(state, first + i);
        state = next;
        for (o, v) in outs.iter_mut().zip(v) {
            o[i] = v;
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::super::parallel::MIN_SPLIT_ROWS;
    use super::super::{minus_di, plus_di, rsi, Real};
    use std::cell::Cell;

    thread_local! {
        /// Stretches (and rows run ahead, else the kernel's own) for the kernels' chains
        /// on this thread, in place of `run_chain`'s choice.
        pub(super) static FORCE: Cell<Option<(usize, Option<usize>)>> = const { Cell::new(None) };
    }

    fn forced<R>(parts: usize, forget: Option<usize>, f: impl FnOnce() -> R) -> R {
        FORCE.set(Some((parts, forget)));
        let r = f();
        FORCE.set(None);
        r
    }

    /// A random walk's (high, low, close), with optional flat stretches and NaNs.
    fn walk(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut u = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut h, mut l, mut c) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let mut x = 100.0;
        for i in 0..n {
            x += u() - 0.5;
            c[i] = x;
            h[i] = x + u() * 0.7;
            l[i] = x - u() * 0.7;
        }
        (h, l, c)
    }

    /// Every kernel on one input, as bits (NaNs compared by bits too).
    fn all<T: Real>(h: &[T], l: &[T], c: &[T]) -> Vec<Vec<u64>> {
        let bits = |v: Vec<f64>| v.into_iter().map(f64::to_bits).collect::<Vec<_>>();
        let mut r = Vec::new();
        for p in [2, 14, 30] {
            r.push(bits(plus_di(h, l, c, p).unwrap()));
            r.push(bits(minus_di(h, l, c, p).unwrap()));
            r.push(bits(rsi(c, p).unwrap()));
        }
        r
    }

    /// Split runs against one pass, on stretches of awkward lengths, with a too-short
    /// run-ahead (the rerun path) and the kernels' own.
    fn check<T: Real>(h: &[T], l: &[T], c: &[T]) {
        let one = forced(1, None, || all(h, l, c));
        for parts in [2, 3, 7] {
            for forget in [Some(0), Some(1), Some(17), None] {
                let split = forced(parts, forget, || all(h, l, c));
                assert!(split == one, "parts {parts}, forget {forget:?}");
            }
        }
    }

    #[test]
    fn stretches_equal_one_pass_on_walks() {
        for (n, seed) in [(5000, 1), (4099, 2), (61, 3), (2, 4), (0, 5)] {
            let (h, l, c) = walk(n, seed);
            check(&h, &l, &c);
        }
    }

    #[test]
    fn stretches_equal_one_pass_with_nans_and_flat_stretches() {
        let (mut h, mut l, mut c) = walk(6000, 7);
        // Leading NaNs (skipped), a NaN inside the first stretch, a flat run.
        c[..5].fill(f64::NAN);
        h[1000] = f64::NAN;
        for i in 3000..4200 {
            (h[i], l[i], c[i]) = (101.0, 101.0, 101.0);
        }
        check(&h, &l, &c);
        let (mut h, mut l, mut c) = walk(6000, 8);
        // A NaN in the last stretch only; a price level jump.
        l[5990] = f64::NAN;
        for i in 2000..6000 {
            (h[i], l[i], c[i]) = (h[i] * 1e6, l[i] * 1e6, c[i] * 1e6);
        }
        check(&h, &l, &c);
    }

    #[test]
    fn stretches_equal_one_pass_on_f32() {
        let (h, l, c) = walk(5000, 9);
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        check(&f(&h), &f(&l), &f(&c));
    }

    #[test]
    fn long_series_split_on_their_own_equal_one_pass() {
        let (h, l, c) = walk(3 * MIN_SPLIT_ROWS + 12_345, 10);
        let one = forced(1, None, || all(&h, &l, &c));
        assert!(all(&h, &l, &c) == one);
    }
}
