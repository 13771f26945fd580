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

use std::collections::VecDeque;

#[derive(Debug, Clone)]
pub(crate) struct Extreme {
    /// true: track the maximum; false: the minimum.
    is_max: bool,
    /// Which of equal values a rescan picks: TA-Lib's WILLR/STOCH rescans use a strict
    /// comparison (earliest wins), AROON's use `>=`/`<=` (latest wins).
    rescan_latest: bool,
    /// Non-NaN values of the window as a monotonic deque of (index, value).
    deque: VecDeque<(usize, f64)>,
    /// TA-Lib's candidate; `None` is TA-Lib's initial index of -1.
    idx: Option<usize>,
    val: f64,
}

impl Extreme {
    pub(crate) fn new(is_max: bool, rescan_latest: bool, window: usize) -> Extreme {
        Extreme {
            is_max,
            rescan_latest,
            deque: VecDeque::with_capacity(window + 1),
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
