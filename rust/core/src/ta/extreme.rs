//! TA-Lib's highest-high / lowest-low tracking (WILLR, STOCH, STOCHF, AROON), reproduced
//! state for state but in O(1) amortised time per element.
//!
//! TA-Lib keeps one candidate `(index, value)`; when the candidate leaves the window it
//! rescans the whole window, otherwise it replaces the candidate when the new value ties or
//! beats it. The rescan is O(period), so TA-Lib is O(n * period) on trending data. Here a
//! monotonic deque answers the rescan instead. The candidate itself is still tracked the
//! TA-Lib way because its *index* matters: for AROON it is the output, and for all of them
//! it decides when the next rescan happens, which is visible when NaNs are in the input (a
//! rescan that starts on a NaN yields NaN for one step; comparisons never pick a NaN).
//!
//! The batch kernels use [`window_extremes`]: TA-Lib 0.8's block scan ([`block_extremes`])
//! for its values, computed a chunk at a time by vectorised passes.

use std::ops::Range;

use super::{any_nan, Real};

#[derive(Debug, Clone)]
pub(crate) struct Extreme {
    /// true: track the maximum; false: the minimum.
    is_max: bool,
    /// Which of equal values a rescan picks: TA-Lib's WILLR/STOCH rescans use a strict
    /// comparison (earliest wins), AROON's use `>=`/`<=` (latest wins).
    rescan_latest: bool,
    /// Non-NaN values of the window as a monotonic deque of (index, value).
    deque: Deque,
    /// TA-Lib's candidate; `None` is TA-Lib's initial index of -1.
    idx: Option<usize>,
    val: f64,
}

impl Extreme {
    pub(crate) fn new(is_max: bool, rescan_latest: bool, window: usize) -> Extreme {
        Extreme {
            is_max,
            rescan_latest,
            deque: Deque::new(window + 1),
            idx: None,
            val: 0.0,
        }
    }

    #[inline(always)]
    fn dominated(&self, old: f64, new: f64) -> bool {
        // Pops the back of the deque: strictly worse always goes; equal goes only when the
        // rescan would prefer the later of two equal values.
        match (self.is_max, self.rescan_latest) {
            (true, false) => old < new,
            (true, true) => old <= new,
            (false, false) => old > new,
            (false, true) => old >= new,
        }
    }

    /// Adds the value at `today` to the window (called for every element, warm-up too).
    #[inline(always)]
    pub(crate) fn push(&mut self, today: usize, x: f64) {
        if x.is_nan() {
            return;
        }
        while let Some(&(_, back)) = self.deque.back() {
            if self.dominated(back, x) {
                self.deque.pop_back();
            } else {
                break;
            }
        }
        self.deque.push_back((today, x));
    }

    /// One step of TA-Lib's loop body for the window `trailing..=today`; `x_today` and
    /// `x_trailing` are the inputs at those indices. Returns the candidate (index, value).
    #[inline(always)]
    pub(crate) fn step(
        &mut self,
        today: usize,
        trailing: usize,
        x_today: f64,
        x_trailing: f64,
    ) -> (usize, f64) {
        while let Some(&(i, _)) = self.deque.front() {
            if i < trailing {
                self.deque.pop_front();
            } else {
                break;
            }
        }
        let expired = match self.idx {
            None => true,
            Some(i) => i < trailing,
        };
        if expired {
            if x_trailing.is_nan() {
                // TA-Lib starts the rescan at the trailing value; nothing compares greater
                // than NaN, so the NaN stays the candidate.
                self.idx = Some(trailing);
                self.val = x_trailing;
            } else if let Some(&(i, v)) = self.deque.front() {
                self.idx = Some(i);
                self.val = v;
            }
        } else {
            let better = if self.is_max {
                x_today >= self.val
            } else {
                x_today <= self.val
            };
            if better {
                self.idx = Some(today);
                self.val = x_today;
            }
        }
        (self.idx.unwrap_or(today), self.val)
    }
}

/// A fixed-capacity double-ended queue on a power-of-two ring: the monotonic deque never
/// holds more than the window, so it never grows, and indexing is a mask, not a branch.
#[derive(Debug, Clone)]
struct Deque {
    buf: Vec<(usize, f64)>,
    mask: usize,
    head: usize,
    len: usize,
}

impl Deque {
    fn new(cap: usize) -> Deque {
        let size = cap.next_power_of_two();
        Deque {
            buf: vec![(0, 0.0); size],
            mask: size - 1,
            head: 0,
            len: 0,
        }
    }

    #[inline(always)]
    fn front(&self) -> Option<&(usize, f64)> {
        (self.len > 0).then(|| &self.buf[self.head])
    }

    #[inline(always)]
    fn back(&self) -> Option<&(usize, f64)> {
        (self.len > 0).then(|| &self.buf[(self.head + self.len - 1) & self.mask])
    }

    #[inline(always)]
    fn pop_front(&mut self) {
        self.head = (self.head + 1) & self.mask;
        self.len -= 1;
    }

    #[inline(always)]
    fn pop_back(&mut self) {
        self.len -= 1;
    }

    #[inline(always)]
    fn push_back(&mut self, v: (usize, f64)) {
        // Cannot overflow: expired entries are popped before the window moves past them,
        // so at most `window` entries are live (checked by the property tests).
        let slot = (self.head + self.len) & self.mask;
        self.buf[slot] = v;
        self.len += 1;
    }
}

/// TA-Lib 0.8's van Herk / Gil-Werman block scan (its batch WILLR): the highest `hi` and
/// lowest `lo` of every window of `p` values, passed to `emit(index, highest, lowest)`
/// for `index` in `p - 1..len`. O(1) per value whatever `p`. On NaN-free input the extremes
/// equal the bar-at-a-time tracker's, so batch kernels may use this for speed; with NaNs
/// it reproduces TA-Lib's batch WILLR exactly (comparisons skip NaNs except where a block
/// scan starts on one).
///
/// Only the windows ending in `ends` are emitted (`ends` within `p - 1..len`); the scan
/// starts at the block holding the first of them, so a sub-range costs O(its length + p).
pub(crate) fn block_extremes(
    len: usize,
    p: usize,
    ends: Range<usize>,
    hi: impl Fn(usize) -> f64,
    lo: impl Fn(usize) -> f64,
    mut emit: impl FnMut(usize, f64, f64),
) {
    if p == 0 || len < p || ends.start < p - 1 || ends.end > len || ends.is_empty() {
        return;
    }
    let (from, end) = (ends.start, ends.end - 1);
    let (mut suf_h, mut suf_l) = (vec![0.0; p], vec![0.0; p]);
    // Blocks are aligned on multiples of `p` from index 0, whatever range is asked for.
    let mut block_start = (from + 1 - p) / p * p;
    let mut today = block_start + p - 1;
    while today <= end {
        // Suffix extrema of the block [block_start, block_start + p - 1], newest first.
        let mut i = block_start + p - 1;
        let (mut highest, mut lowest) = (hi(i), lo(i));
        suf_h[p - 1] = highest;
        suf_l[p - 1] = lowest;
        while i > block_start {
            i -= 1;
            let tmp = hi(i);
            if tmp > highest {
                highest = tmp;
            }
            let tmp = lo(i);
            if tmp < lowest {
                lowest = tmp;
            }
            suf_h[i - block_start] = highest;
            suf_l[i - block_start] = lowest;
        }
        if today >= from {
            emit(today, suf_h[0], suf_l[0]);
        }
        today += 1;
        if today > end {
            break;
        }
        // Prefix extrema of the next block, each combined with the suffix above as soon as
        // it is known (one pass, no prefix buffer); the older (suffix) half wins ties.
        let next = block_start + p;
        let avail = (end - next + 1).min(p - 1);
        // With `p == 1` there is no prefix half: every block is one window.
        if avail > 0 {
            // Seeded with the block's first value, which then compares equal to itself: no
            // special first step.
            let (mut pre_hi, mut pre_lo) = (hi(next), lo(next));
            for k in 0..avail {
                let (x, y) = (hi(next + k), lo(next + k));
                if x > pre_hi {
                    pre_hi = x;
                }
                if y < pre_lo {
                    pre_lo = y;
                }
                let mut highest = suf_h[k + 1];
                if pre_hi > highest {
                    highest = pre_hi;
                }
                let mut lowest = suf_l[k + 1];
                if pre_lo < lowest {
                    lowest = pre_lo;
                }
                if today + k >= from {
                    emit(today + k, highest, lowest);
                }
            }
        }
        today += avail;
        block_start = next;
    }
}

/// Windows per chunk of [`window_extremes`]: a chunk's doubling levels (a few KiB each)
/// stay in L1 from one pass to the next.
const CHUNK: usize = 1024;

/// Largest window [`window_extremes`] computes with its doubling table: the table takes
/// about log2(window) passes, the block scan a constant three comparisons per value.
const TABLE_MAX_WINDOW: usize = 128;

/// The highest `hi` and lowest `lo` of every window of `p` values, exactly as
/// [`block_extremes`] (TA-Lib 0.8's batch WILLR scan) finds them, handed over a chunk at a
/// time: `emit(first, highest, lowest)` where `highest[k]` and `lowest[k]` belong to the
/// window ending at index `first + k`; every index in `p - 1..len` is covered once, in
/// order. `hi` and `lo` have the same length.
///
/// A chunk's extremes come from a doubling table: the extreme of every run of 2, 4, 8, ..
/// values in turn, each level one branch-free pass without a loop-carried dependency (so it
/// vectorises, where the scan's running comparisons cannot), and a window's extreme is that
/// of two overlapping power-of-two runs covering it. A max or min of numbers is exact, so
/// the order of comparisons cannot change it, except through a NaN (every comparison with
/// it is false) or a -0.0 (equal to +0.0, other bits): a chunk whose inputs hold either is
/// computed by the block scan itself.
///
/// Returns whether `hi` or `lo` holds a NaN (known without an extra pass).
#[inline(always)]
pub(crate) fn window_extremes<T: Real>(
    hi: &[T],
    lo: &[T],
    p: usize,
    emit: impl FnMut(usize, &[f64], &[f64]),
) -> bool {
    let len = hi.len().min(lo.len());
    if p == 0 || len < p {
        return any_nan(&hi[..len]) | any_nan(&lo[..len]);
    }
    window_extremes_in(hi, lo, p, p - 1..len, emit)
}

/// [`window_extremes`] for the windows ending in `ends` only (within `p - 1..len`, `p >= 1`),
/// with the bits of the whole-series call: every window's extremes depend on that window's
/// values alone (and, through the block scan's comparison order where a NaN or a -0.0 is in
/// it, on the window's place among blocks aligned on multiples of `p` from index 0, which
/// the scan keeps whatever range it is asked for). So a series can be cut into stretches of
/// windows, each computed on its own thread.
///
/// Returns whether the values these windows read (`ends.start + 1 - p..ends.end`) hold a NaN.
#[inline(always)]
pub(crate) fn window_extremes_in<T: Real>(
    hi: &[T],
    lo: &[T],
    p: usize,
    ends: Range<usize>,
    mut emit: impl FnMut(usize, &[f64], &[f64]),
) -> bool {
    let len = hi.len().min(lo.len());
    if ends.is_empty() {
        return false;
    }
    debug_assert!(p >= 1 && ends.start + 1 >= p && ends.end <= len);
    let chunk = CHUNK.min(ends.len());
    let (mut highest, mut lowest) = (vec![0.0; chunk], vec![0.0; chunk]);
    let h = |i: usize| hi[i].to_f64();
    let l = |i: usize| lo[i].to_f64();
    if p > TABLE_MAX_WINDOW {
        let (mut first, mut filled) = (ends.start, 0);
        let read = ends.start + 1 - p..ends.end;
        let saw_nan = any_nan(&hi[read.clone()]) | any_nan(&lo[read]);
        block_extremes(len, p, ends, h, l, |_, hh, ll| {
            highest[filled] = hh;
            lowest[filled] = ll;
            filled += 1;
            if filled == chunk {
                emit(first, &highest, &lowest);
                first += chunk;
                filled = 0;
            }
        });
        if filled > 0 {
            emit(first, &highest[..filled], &lowest[..filled]);
        }
        return saw_nan;
    }
    let span = chunk + p - 1;
    let (mut a, mut b) = (vec![0.0; span], vec![0.0; span]);
    let (mut first, mut saw_nan) = (ends.start, false);
    while first < ends.end {
        let c = chunk.min(ends.end - first);
        let (xh, xl) = (&hi[first + 1 - p..first + c], &lo[first + 1 - p..first + c]);
        let (hh, ll) = (&mut highest[..c], &mut lowest[..c]);
        if order_matters(xh) || order_matters(xl) {
            saw_nan |= any_nan(xh) | any_nan(xl);
            block_extremes(len, p, first..first + c, h, l, |i, vh, vl| {
                hh[i - first] = vh;
                ll[i - first] = vl;
            });
        } else {
            doubling_table(xh, p, &mut a, &mut b, hh, |x, y| if y > x { y } else { x });
            doubling_table(xl, p, &mut a, &mut b, ll, |x, y| if y < x { y } else { x });
        }
        emit(first, hh, ll);
        first += c;
    }
    saw_nan
}

/// Whether `x` holds a NaN or a -0.0, where the order of comparisons decides an extreme.
#[inline(always)]
fn order_matters<T: Real>(x: &[T]) -> bool {
    // A fold, not `any`: no early exit, so the test vectorises.
    x.iter().fold(false, |acc, v| {
        let v = v.to_f64();
        acc | v.is_nan() | (v.to_bits() == (-0.0f64).to_bits())
    })
}

/// `out[k]` = `pick`-extreme of `x[k..k + p]` for every `k < out.len()`, given
/// `x.len() == out.len() + p - 1`; `a` and `b` are scratch of at least `x.len()` values.
#[inline(always)]
fn doubling_table<T: Real>(
    x: &[T],
    p: usize,
    a: &mut Vec<f64>,
    b: &mut Vec<f64>,
    out: &mut [f64],
    pick: impl Fn(f64, f64) -> f64 + Copy,
) {
    if p == 1 {
        for (o, v) in out.iter_mut().zip(x) {
            *o = v.to_f64();
        }
        return;
    }
    // Level 1: runs of 2, straight from the input.
    let mut valid = x.len() - 1;
    for (o, (u, v)) in a[..valid].iter_mut().zip(x.iter().zip(&x[1..])) {
        *o = pick(u.to_f64(), v.to_f64());
    }
    let mut run = 2;
    while run * 2 <= p {
        let next = valid - run;
        for (o, (u, v)) in b[..next]
            .iter_mut()
            .zip(a[..next].iter().zip(&a[run..valid]))
        {
            *o = pick(*u, *v);
        }
        std::mem::swap(a, b);
        valid = next;
        run *= 2;
    }
    // Two runs of `run` values, starting `p - run` apart, cover each window.
    for (o, (u, v)) in out.iter_mut().zip(a.iter().zip(&a[p - run..valid])) {
        *o = pick(*u, *v);
    }
}

/// The block scan of [`block_extremes`] with positions: for every window of `w` values
/// ending at `index` (`index` in `w - 1..len`), the index of the **latest** highest `hi`
/// and of the latest lowest `lo`, passed to `emit(index, highest_at, lowest_at)`. On
/// NaN-free input that is what TA-Lib's AROON candidate tracking settles on (a rescan takes
/// the latest of equal values and a new bar equal to the candidate replaces it). O(1) per
/// value whatever `w`, and branch-free selections (which of two values wins is a coin flip
/// on market data). Must not be used on input with NaNs.
pub(crate) fn block_arg_extremes(
    len: usize,
    w: usize,
    hi: impl Fn(usize) -> f64,
    lo: impl Fn(usize) -> f64,
    mut emit: impl FnMut(usize, usize, usize),
) {
    if w == 0 || len < w {
        return;
    }
    /// `if take { new } else { old }` without a branch.
    #[inline(always)]
    fn pick(take: bool, new: usize, old: usize) -> usize {
        old ^ ((new ^ old) & (take as usize).wrapping_neg())
    }
    let end = len - 1;
    // (value, index) of the running extremes: suffixes of the current block, prefixes of
    // the next.
    let mut suf_h = vec![(0.0, 0usize); w];
    let mut suf_l = vec![(0.0, 0usize); w];
    let mut pre_h = vec![(0.0, 0usize); w];
    let mut pre_l = vec![(0.0, 0usize); w];
    let mut block_start = 0;
    let mut today = w - 1;
    while today <= end {
        // Suffixes, newest first: an older value must be strictly better to win.
        let last = block_start + w - 1;
        let (mut hv, mut h_at, mut lv, mut l_at) = (hi(last), last, lo(last), last);
        suf_h[w - 1] = (hv, h_at);
        suf_l[w - 1] = (lv, l_at);
        for k in (0..w - 1).rev() {
            let i = block_start + k;
            let (x, y) = (hi(i), lo(i));
            h_at = pick(x > hv, i, h_at);
            hv = if x > hv { x } else { hv };
            l_at = pick(y < lv, i, l_at);
            lv = if y < lv { y } else { lv };
            suf_h[k] = (hv, h_at);
            suf_l[k] = (lv, l_at);
        }
        emit(today, suf_h[0].1, suf_l[0].1);
        today += 1;
        if today > end {
            break;
        }
        // Prefixes of the next block, oldest first: a newer equal value wins.
        let next = block_start + w;
        let avail = (end - next + 1).min(w - 1);
        let (mut hv, mut h_at, mut lv, mut l_at) = (hi(next), next, lo(next), next);
        pre_h[0] = (hv, h_at);
        pre_l[0] = (lv, l_at);
        for k in 1..avail {
            let j = next + k;
            let (x, y) = (hi(j), lo(j));
            h_at = pick(x >= hv, j, h_at);
            hv = if x >= hv { x } else { hv };
            l_at = pick(y <= lv, j, l_at);
            lv = if y <= lv { y } else { lv };
            pre_h[k] = (hv, h_at);
            pre_l[k] = (lv, l_at);
        }
        // Window `block_start + m ..= next + m - 1`: the prefix part is the newer half, so
        // it wins ties.
        let halves = pre_h[..avail].iter().zip(&suf_h[1..=avail]);
        let halves_l = pre_l[..avail].iter().zip(&suf_l[1..=avail]);
        for (m, ((ph, sh), (pl, sl))) in halves.zip(halves_l).enumerate() {
            let h_at = pick(ph.0 >= sh.0, ph.1, sh.1);
            let l_at = pick(pl.0 <= sl.0, pl.1, sl.1);
            emit(today + m, h_at, l_at);
        }
        today += avail;
        block_start = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded random walk rounded to a tick, so equal values (ties) are common.
    fn walk(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        let mut price = 50.0;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                price += ((state >> 40) % 9) as f64 * 0.25 - 1.0;
                price
            })
            .collect()
    }

    fn from_scan(hi: &[f64], lo: &[f64], p: usize) -> Vec<(usize, f64, f64)> {
        let mut v = Vec::new();
        let (h, l) = (|i: usize| hi[i], |i: usize| lo[i]);
        block_extremes(
            hi.len(),
            p,
            p.saturating_sub(1)..hi.len(),
            h,
            l,
            |i, a, b| v.push((i, a, b)),
        );
        v
    }

    fn from_chunks(hi: &[f64], lo: &[f64], p: usize) -> Vec<(usize, f64, f64)> {
        let mut v = Vec::new();
        window_extremes(hi, lo, p, |first, hh, ll| {
            assert_eq!(hh.len(), ll.len());
            v.extend(
                (first..)
                    .zip(hh.iter().zip(ll))
                    .map(|(i, (a, b))| (i, *a, *b)),
            );
        });
        v
    }

    fn same_bits(a: &[(usize, f64, f64)], b: &[(usize, f64, f64)]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert_eq!(x.0, y.0);
            let same = |u: f64, v: f64| u.to_bits() == v.to_bits() || (u.is_nan() && v.is_nan());
            assert!(same(x.1, y.1) && same(x.2, y.2), "{x:?} != {y:?}");
        }
    }

    #[test]
    fn chunked_table_gives_the_block_scans_bits_across_chunks_nans_and_signed_zeros() {
        let n = 3 * CHUNK + 77;
        for p in [1, 2, 3, 5, 8, 14, 31, 64, 128, 129, 300] {
            let hi = walk(n, p as u64);
            let lo: Vec<f64> = hi.iter().map(|v| v - 1.5).collect();
            same_bits(&from_scan(&hi, &lo, p), &from_chunks(&hi, &lo, p));
            // NaNs (at a block start, mid-block, in a run) and zeros of both signs in some
            // chunks only: those chunks take the scan's own path.
            let (mut h2, mut l2) = (hi.clone(), lo.clone());
            for i in [0, 14, 15, 700, 701, 702, 2 * CHUNK + 5] {
                h2[i] = f64::NAN;
            }
            for i in [3, 1500, n - 1] {
                l2[i] = f64::NAN;
            }
            for (i, z) in [(900, 0.0), (901, -0.0), (905, 0.0), (2500, -0.0)] {
                h2[i] = z;
                l2[i + 1] = z;
            }
            same_bits(&from_scan(&h2, &l2, p), &from_chunks(&h2, &l2, p));
        }
    }

    #[test]
    fn short_and_empty_inputs_give_no_window() {
        let x = walk(5, 1);
        assert!(from_chunks(&x, &x, 6).is_empty());
        assert!(from_chunks(&x, &x, 0).is_empty());
        assert_eq!(from_chunks(&x, &x, 5).len(), 1);
        assert!(from_chunks(&[], &[], 3).is_empty());
    }

    #[test]
    fn a_range_of_the_scan_equals_that_part_of_the_whole_scan() {
        let hi = walk(500, 9);
        let lo: Vec<f64> = hi.iter().map(|v| v - 2.0).collect();
        let whole = from_scan(&hi, &lo, 14);
        let mut part = Vec::new();
        let (h, l) = (|i: usize| hi[i], |i: usize| lo[i]);
        block_extremes(500, 14, 100..250, h, l, |i, a, b| part.push((i, a, b)));
        same_bits(&whole[100 - 13..250 - 13], &part);
    }
}
