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
pub(crate) fn block_extremes(
    len: usize,
    p: usize,
    hi: impl Fn(usize) -> f64,
    lo: impl Fn(usize) -> f64,
    mut emit: impl FnMut(usize, f64, f64),
) {
    if p == 0 || len < p {
        return;
    }
    let end = len - 1;
    let (mut suf_h, mut suf_l) = (vec![0.0; p], vec![0.0; p]);
    let mut block_start = 0;
    let mut today = p - 1;
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
        emit(today, suf_h[0], suf_l[0]);
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
                emit(today + k, highest, lowest);
            }
        }
        today += avail;
        block_start = next;
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
