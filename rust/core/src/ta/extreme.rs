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
    let (mut pre_h, mut pre_l) = (vec![0.0; p], vec![0.0; p]);
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
        // Prefix extrema of the next block, combined with the suffixes above; the older
        // (suffix) half wins ties.
        let next = block_start + p;
        let avail = (end - next + 1).min(p - 1);
        let (mut highest, mut lowest) = (hi(next), lo(next));
        pre_h[0] = highest;
        pre_l[0] = lowest;
        for k in 1..avail {
            let tmp = hi(next + k);
            if tmp > highest {
                highest = tmp;
            }
            let tmp = lo(next + k);
            if tmp < lowest {
                lowest = tmp;
            }
            pre_h[k] = highest;
            pre_l[k] = lowest;
        }
        for m in 1..=avail {
            let mut highest = suf_h[m];
            if pre_h[m - 1] > highest {
                highest = pre_h[m - 1];
            }
            let mut lowest = suf_l[m];
            if pre_l[m - 1] < lowest {
                lowest = pre_l[m - 1];
            }
            emit(today + m - 1, highest, lowest);
        }
        today += avail;
        block_start = next;
    }
}
