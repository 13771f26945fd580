//! A sliding window of timestamps in a fixed ring: "at most N events in any T ns" without
//! allocating per event. Used by the order throttles and the reject/error-rate breakers.

/// The last `capacity` event times. An event at `now` is allowed when fewer than
/// `capacity` of the remembered events are newer than `now - window_ns`; since only the
/// last `capacity` are kept, that is: the ring is not full, or its oldest entry has left
/// the window.
#[derive(Debug, Clone)]
pub struct TimeWindow {
    ts_ns: Box<[u64]>,
    /// Index of the oldest entry.
    start: usize,
    len: usize,
    window_ns: u64,
}

impl TimeWindow {
    /// `capacity` must be at least 1 (checked by limit validation; 0 is read as 1).
    pub fn new(capacity: u32, window_ns: u64) -> TimeWindow {
        TimeWindow {
            ts_ns: vec![0; capacity.max(1) as usize].into_boxed_slice(),
            start: 0,
            len: 0,
            window_ns,
        }
    }

    pub fn capacity(&self) -> usize {
        self.ts_ns.len()
    }

    /// Whether one more event at `now_ns` keeps the count within `capacity`.
    #[inline]
    pub fn allows(&self, now_ns: u64) -> bool {
        self.len < self.ts_ns.len()
            // A clock that goes backwards counts the old entry as still inside the window.
            || now_ns.saturating_sub(self.ts_ns[self.start]) >= self.window_ns
    }

    /// Records an event at `now_ns`, forgetting the oldest one if the ring is full.
    #[inline]
    pub fn record(&mut self, now_ns: u64) {
        let cap = self.ts_ns.len();
        if self.len < cap {
            let mut i = self.start + self.len;
            if i >= cap {
                i -= cap;
            }
            self.ts_ns[i] = now_ns;
            self.len += 1;
        } else {
            self.ts_ns[self.start] = now_ns;
            self.start += 1;
            if self.start == cap {
                self.start = 0;
            }
        }
    }

    /// Number of remembered events newer than `now_ns - window_ns`.
    pub fn count(&self, now_ns: u64) -> usize {
        let cap = self.ts_ns.len();
        (0..self.len)
            .filter(|k| {
                let t = self.ts_ns[(self.start + k) % cap];
                now_ns.saturating_sub(t) < self.window_ns
            })
            .count()
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.start = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn allows_n_per_window_then_refuses_until_the_oldest_leaves() {
        let mut w = TimeWindow::new(3, 100);
        for t in [0, 10, 20] {
            assert!(w.allows(t));
            w.record(t);
        }
        assert!(!w.allows(99));
        assert!(w.allows(100));
        w.record(100);
        assert!(!w.allows(109));
        assert!(w.allows(110));
        assert_eq!(w.count(110), 2);
    }

    proptest! {
        #[test]
        fn agrees_with_counting_every_event(cap in 1u32..6, window in 1u64..50, gaps in proptest::collection::vec(0u64..30, 1..60)) {
            let mut w = TimeWindow::new(cap, window);
            let mut all: Vec<u64> = Vec::new();
            let mut now = 0;
            for g in gaps {
                now += g;
                let in_window = all.iter().filter(|&&t| now - t < window).count();
                prop_assert_eq!(w.allows(now), in_window < cap as usize);
                if w.allows(now) {
                    w.record(now);
                    all.push(now);
                }
            }
        }
    }
}
