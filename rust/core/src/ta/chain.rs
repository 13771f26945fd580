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
//!
//! Each core runs its stretches two at a time, a row of one and a row of the other in
//! turn: a row waits on its predecessor's result (a few cycles of latency for a few
//! operations), so two independent chains in one loop keep the core twice as busy. That
//! is why a long series is cut even where it runs on one core.

use super::parallel::{stretches, MIN_SPLIT_ROWS};
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
    // rows ahead costs little. A core runs its stretches two at a time, interleaved (see
    // `run_pair`), so a long series is cut in two even where one core runs it.
    let parts = if rows >= MIN_SPLIT_ROWS {
        (rows / PIECE_ROWS).max(2 * cores)
    } else {
        1
    };
    let parts = parts.min(rows / forget.saturating_mul(16).max(1));
    run_parts(chain, outs, parts, cores, forget);
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
    let work = || loop {
        // Two stretches at a time: their chains are independent, so one core overlaps
        // their latencies (the rows of one wait on their predecessors, not on the other's).
        let j = next.fetch_add(2, Ordering::Relaxed);
        let Some(a) = cells.get(j) else { break };
        let mut a = a.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(b) = cells.get(j + 1) else {
            let (first, outs, done) = &mut *a;
            let first = *first;
            *done = Some(super::fast_path(
                #[inline(always)]
                || {
                    let state = arrive(chain, first, forget);
                    (state, run_rows(chain, state, first, outs))
                },
            ));
            break;
        };
        let mut b = b.lock().unwrap_or_else(PoisonError::into_inner);
        let (first_a, outs_a, done_a) = &mut *a;
        let (first_b, outs_b, done_b) = &mut *b;
        let (first_a, first_b) = (*first_a, *first_b);
        let (da, db) = super::fast_path(
            #[inline(always)]
            || run_pair(chain, (first_a, outs_a), (first_b, outs_b), forget),
        );
        (*done_a, *done_b) = (Some(da), Some(db));
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
                #[cfg(test)]
                tests::RERUNS.set(tests::RERUNS.get() + 1);
                let state = end.unwrap_or_else(|| chain.seed(0));
                super::fast_path(
                    #[inline(always)]
                    || run_rows(chain, state, first, &mut outs),
                )
            }
        });
    }
}

/// The state a stretch starting at row `first` guesses on arrival: the chain's seed
/// `forget` rows earlier (exact at row 0), run up to `first`.
#[inline(always)]
fn arrive<C: Chain<K>, const K: usize>(chain: &C, first: usize, forget: usize) -> C::State {
    let from = first.saturating_sub(forget);
    let mut state = chain.seed(from);
    for row in from..first {
        state = chain.step(state, row).0;
    }
    state
}

/// A stretch's (state on arrival, state at its end).
type Ends<S> = (S, S);

/// Two stretches on one core, a row of each in turn (the run-ahead of each too), so the
/// two independent loop-carried chains overlap. Returns each one's (state on arrival,
/// state at its end), as running them one after the other would.
#[inline(always)]
fn run_pair<C: Chain<K>, const K: usize>(
    chain: &C,
    (first_a, outs_a): (usize, &mut [&mut [f64]; K]),
    (first_b, outs_b): (usize, &mut [&mut [f64]; K]),
    forget: usize,
) -> (Ends<C::State>, Ends<C::State>) {
    let chain = *chain;
    let (from_a, from_b) = (
        first_a.saturating_sub(forget),
        first_b.saturating_sub(forget),
    );
    let (mut a, mut b) = (chain.seed(from_a), chain.seed(from_b));
    // Run-aheads, aligned at their ends.
    let (ahead_a, ahead_b) = (first_a - from_a, first_b - from_b);
    let both = ahead_a.min(ahead_b);
    for row in from_a..first_a - both {
        a = chain.step(a, row).0;
    }
    for row in from_b..first_b - both {
        b = chain.step(b, row).0;
    }
    for k in 0..both {
        a = chain.step(a, first_a - both + k).0;
        b = chain.step(b, first_b - both + k).0;
    }
    let arrivals = (a, b);
    let oa: [&mut [f64]; K] = outs_a.each_mut().map(|o| &mut **o);
    let ob: [&mut [f64]; K] = outs_b.each_mut().map(|o| &mut **o);
    let (na, nb) = (oa[0].len(), ob[0].len());
    assert!(oa.iter().all(|o| o.len() == na) && ob.iter().all(|o| o.len() == nb));
    let (mut oa, mut ob) = (oa, ob);
    let both = na.min(nb);
    for i in 0..both {
        let (next_a, va) = chain.step(a, first_a + i);
        let (next_b, vb) = chain.step(b, first_b + i);
        (a, b) = (next_a, next_b);
        for (o, v) in oa.iter_mut().zip(va) {
            o[i] = v;
        }
        for (o, v) in ob.iter_mut().zip(vb) {
            o[i] = v;
        }
    }
    let mut tail_a: [&mut [f64]; K] = oa.map(|o| &mut o[both..]);
    let mut tail_b: [&mut [f64]; K] = ob.map(|o| &mut o[both..]);
    let end_a = run_rows(&chain, a, first_a + both, &mut tail_a);
    let end_b = run_rows(&chain, b, first_b + both, &mut tail_b);
    ((arrivals.0, end_a), (arrivals.1, end_b))
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

/// A streaming core of [`super::stream`] (an EMA, DEMA, TEMA, T3, ADX) as the state of a
/// [`Chain`]: a later stretch's guess is a fresh core started `forget` rows early, whose
/// warm-up is the core's own (an SMA seed), and states are compared with the core's
/// `same_state`.
pub(crate) trait Core: Copy + Send + Sync {
    type Input: Copy;
    fn update(&mut self, input: Self::Input) -> Option<f64>;
    fn same_state(&self, other: &Self) -> bool;
}

/// [`Core`]s fed row `r`'s input by `input(r)`, writing the core's output (NaN while it
/// warms up).
#[derive(Clone, Copy)]
struct CoreChain<C, F> {
    fresh: C,
    input: F,
}

impl<C: Core, F: Fn(usize) -> C::Input + Sync + Copy> Chain<1> for CoreChain<C, F> {
    type State = C;

    #[inline(always)]
    fn seed(&self, _row: usize) -> C {
        self.fresh
    }

    #[inline(always)]
    fn step(&self, state: C, row: usize) -> (C, [f64; 1]) {
        let mut state = state;
        let v = state.update((self.input)(row)).unwrap_or(f64::NAN);
        (state, [v])
    }

    #[inline(always)]
    fn same(a: &C, b: &C) -> bool {
        a.same_state(b)
    }
}

/// Runs the fresh core `fresh` over `out.len()` rows, row `r` fed `input(r)`: what feeding
/// it one row at a time writes, a stretch per core on a long series, each later stretch
/// started `forget` rows early.
pub(crate) fn run_core<C: Core>(
    fresh: C,
    input: impl Fn(usize) -> C::Input + Sync + Copy,
    out: &mut [f64],
    forget: usize,
) {
    run_chain(&CoreChain { fresh, input }, [out], forget);
}

#[cfg(test)]
mod tests {
    use super::super::parallel::MIN_SPLIT_ROWS;
    use super::super::{atr, macd, minus_di, natr, plus_di, rsi, Real};
    use std::cell::Cell;

    thread_local! {
        /// Stretches (and rows run ahead, else the kernel's own) for the kernels' chains
        /// on this thread, in place of `run_chain`'s choice.
        pub(super) static FORCE: Cell<Option<(usize, Option<usize>)>> = const { Cell::new(None) };
        /// Stretches rerun from their predecessor's end on this thread (the calling one).
        pub(crate) static RERUNS: Cell<usize> = const { Cell::new(0) };
    }

    /// Runs `f` with the kernels' chains cut into `parts` stretches run `forget` rows ahead.
    pub(super) fn forced<R>(parts: usize, forget: Option<usize>, f: impl FnOnce() -> R) -> R {
        FORCE.set(Some((parts, forget)));
        let r = f();
        FORCE.set(None);
        r
    }

    /// A random walk's (high, low, close), with optional flat stretches and NaNs.
    pub(super) fn walk(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
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
            r.push(bits(atr(h, l, c, p).unwrap()));
            r.push(bits(natr(h, l, c, p).unwrap()));
        }
        let (m, sig, hist) = macd(c, 12, 26, 9).unwrap();
        r.extend([bits(m), bits(sig), bits(hist)]);
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

/// The stream cores run as chains (EMA, DEMA, TEMA, T3, ADX): split runs equal one pass
/// and the stream, bit for bit.
#[cfg(test)]
mod core_tests {
    use super::super::parallel::MIN_SPLIT_ROWS;
    use super::super::stream::{Adx, Dema, Ema, Indicator, Tema, T3};
    use super::super::{adx, dema, ema, t3, tema, Bar, Real};
    use super::tests::{forced, walk, RERUNS};

    fn bits(v: Vec<f64>) -> Vec<u64> {
        v.into_iter().map(f64::to_bits).collect()
    }

    const MA_PERIODS: [usize; 4] = [1, 2, 5, 30];
    const ADX_PERIODS: [usize; 3] = [2, 14, 30];

    /// Every kernel on one input, as bits.
    fn all<T: Real>(h: &[T], l: &[T], c: &[T]) -> Vec<Vec<u64>> {
        let mut r = Vec::new();
        for p in MA_PERIODS {
            r.push(bits(ema(c, p).unwrap()));
            r.push(bits(dema(c, p).unwrap()));
            r.push(bits(tema(c, p).unwrap()));
            r.push(bits(t3(c, p, 0.7).unwrap()));
        }
        r.push(bits(t3(c, 5, 0.0).unwrap()));
        r.push(bits(t3(c, 5, 1.0).unwrap()));
        for p in ADX_PERIODS {
            r.push(bits(adx(h, l, c, p).unwrap()));
        }
        r
    }

    /// The same through the streams, one value at a time.
    fn streamed<T: Real>(h: &[T], l: &[T], c: &[T]) -> Vec<Vec<u64>> {
        fn run<S: Indicator<Output = f64>>(
            mut s: S,
            xs: impl Iterator<Item = S::Input>,
        ) -> Vec<u64> {
            xs.map(|x| s.update(x).to_bits()).collect()
        }
        let xs = || c.iter().map(|x| x.to_f64());
        let mut r = Vec::new();
        for p in MA_PERIODS {
            r.push(run(Ema::new(p).unwrap(), xs()));
            r.push(run(Dema::new(p).unwrap(), xs()));
            r.push(run(Tema::new(p).unwrap(), xs()));
            r.push(run(T3::new(p, 0.7).unwrap(), xs()));
        }
        r.push(run(T3::new(5, 0.0).unwrap(), xs()));
        r.push(run(T3::new(5, 1.0).unwrap(), xs()));
        for p in ADX_PERIODS {
            let bars = (0..c.len())
                .map(|i| Bar::new(0.0, h[i].to_f64(), l[i].to_f64(), c[i].to_f64(), 0.0));
            r.push(run(Adx::new(p).unwrap(), bars));
        }
        r
    }

    /// Split runs against one pass and the stream, on stretches of awkward lengths, with a
    /// too-short run-ahead (the rerun path) and the kernels' own.
    fn check<T: Real>(h: &[T], l: &[T], c: &[T]) {
        let one = forced(1, None, || all(h, l, c));
        assert!(one == streamed(h, l, c), "one pass against the stream");
        for parts in [2, 3, 7] {
            for forget in [Some(0), Some(1), Some(17), None] {
                let split = forced(parts, forget, || all(h, l, c));
                assert!(split == one, "parts {parts}, forget {forget:?}");
            }
        }
    }

    #[test]
    fn stretches_equal_one_pass_on_walks() {
        for (n, seed) in [(5000, 1), (4099, 2), (61, 3), (2, 4), (1, 6), (0, 5)] {
            let (h, l, c) = walk(n, seed);
            check(&h, &l, &c);
        }
    }

    #[test]
    fn stretches_equal_one_pass_with_nans_and_flat_stretches() {
        let (mut h, mut l, mut c) = walk(6000, 7);
        // Leading NaNs (the gate), a NaN inside the first stretch, a flat run.
        c[..5].fill(f64::NAN);
        h[..9].fill(f64::NAN);
        h[1000] = f64::NAN;
        c[1500] = f64::NAN;
        for i in 3000..4200 {
            (h[i], l[i], c[i]) = (101.0, 101.0, 101.0);
        }
        check(&h, &l, &c);
        let (mut h, mut l, mut c) = walk(6000, 8);
        // A NaN in the last stretch only; a price level jump; a NaN right where a
        // stretch of 3 starts.
        l[5990] = f64::NAN;
        c[5995] = f64::NAN;
        for i in 2000..6000 {
            (h[i], l[i], c[i]) = (h[i] * 1e6, l[i] * 1e6, c[i] * 1e6);
        }
        check(&h, &l, &c);
        let (h, l, mut c) = walk(3000, 11);
        c[1000] = f64::NAN;
        check(&h, &l, &c);
        // All NaN.
        let nan = vec![f64::NAN; 300];
        check(&nan, &nan, &nan);
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

    /// How often stretches rerun with the kernels' own run-ahead, on 1,000,000 bars of a
    /// walk and of the bundled real bars tiled (`cargo test --release -- --ignored
    /// --nocapture reruns`), and with shorter run-aheads (a period multiple).
    #[test]
    #[ignore]
    fn reruns() {
        let n = 1_000_000;
        let real = {
            use std::io::Read;
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../data/bars/btc_perp_1m_2022-01.csv.gz"
            );
            let mut text = String::new();
            flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
                .read_to_string(&mut text)
                .unwrap();
            let rows: Vec<[f64; 3]> = text
                .lines()
                .skip(1)
                .map(|line| {
                    let f: Vec<f64> = line
                        .split(',')
                        .skip(2)
                        .take(3)
                        .map(|v| v.parse().unwrap())
                        .collect();
                    [f[0], f[1], f[2]]
                })
                .collect();
            let col = |k: usize| (0..n).map(|i| rows[i % rows.len()][k]).collect::<Vec<_>>();
            (col(0), col(1), col(2))
        };
        for (name, (h, l, c)) in [("walk", walk(n, 12)), ("real", real)] {
            type Kernel = fn(&[f64], &[f64], &[f64], usize) -> Vec<f64>;
            let kernels: [(&str, usize, Kernel); 6] = [
                ("EMA", 30, |_, _, c, p| ema(c, p).unwrap()),
                ("DEMA", 30, |_, _, c, p| dema(c, p).unwrap()),
                ("TEMA", 30, |_, _, c, p| tema(c, p).unwrap()),
                ("T3", 5, |_, _, c, p| t3(c, p, 0.7).unwrap()),
                ("T3", 30, |_, _, c, p| t3(c, p, 0.7).unwrap()),
                ("ADX", 14, |h, l, c, p| adx(h, l, c, p).unwrap()),
            ];
            for (k, p, f) in kernels {
                let mut line = format!("{name} {k}({p}):");
                for mult in [4, 8, 16, 24, 32, 48, 64] {
                    RERUNS.set(0);
                    forced(8, Some(mult * p), || f(&h, &l, &c, p));
                    line += &format!(" {mult}p {}/7", RERUNS.get());
                }
                RERUNS.set(0);
                forced(8, None, || f(&h, &l, &c, p));
                line += &format!(", own {}/7", RERUNS.get());
                println!("{line}");
            }
        }
    }
}
