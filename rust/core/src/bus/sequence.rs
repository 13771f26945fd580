use crossbeam_utils::CachePadded;

use super::sync::{AtomicU64, Ordering};

/// A monotonically increasing count on its own cache line: a producer's cursor or a
/// consumer's progress. Only its owner writes it; anyone may read it.
#[derive(Debug)]
pub struct Sequence(CachePadded<AtomicU64>);

impl Sequence {
    pub fn new(value: u64) -> Self {
        Sequence(CachePadded::new(AtomicU64::new(value)))
    }

    #[inline(always)]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    #[inline(always)]
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Release)
    }

    #[inline(always)]
    pub(crate) fn compare_exchange_weak(&self, current: u64, new: u64) -> Result<u64, u64> {
        self.0
            .compare_exchange_weak(current, new, Ordering::AcqRel, Ordering::Relaxed)
    }
}

impl Default for Sequence {
    fn default() -> Self {
        Sequence::new(0)
    }
}
