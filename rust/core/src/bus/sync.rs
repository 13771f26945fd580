//! The atomics, cells and hints the sequence logic uses, swapped for loom's under
//! `--cfg loom` so the model checker explores every interleaving of that logic.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Called in every wait loop. Under loom a spin must yield or the model never ends.
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

#[inline(always)]
pub(crate) fn yield_now() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}

/// A slot's storage. Access is coordinated by sequences, not by the cell.
pub(crate) struct SlotCell<T> {
    #[cfg(loom)]
    inner: loom::cell::UnsafeCell<T>,
    #[cfg(not(loom))]
    inner: std::cell::UnsafeCell<T>,
}

impl<T: Copy> SlotCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(loom)]
            inner: loom::cell::UnsafeCell::new(value),
            #[cfg(not(loom))]
            inner: std::cell::UnsafeCell::new(value),
        }
    }

    /// # Safety
    /// The caller holds the claim on this slot's sequence: no consumer can read it and no
    /// other producer can write it until that sequence is published.
    #[inline(always)]
    pub(crate) unsafe fn write(&self, value: T) {
        #[cfg(loom)]
        self.inner.with_mut(|p| *p = value);
        #[cfg(not(loom))]
        {
            *self.inner.get() = value;
        }
    }

    /// # Safety
    /// The slot's sequence is published and the caller's consumer sequence has not yet
    /// passed it, so no producer can overwrite it.
    #[inline(always)]
    pub(crate) unsafe fn read(&self) -> T {
        #[cfg(loom)]
        return self.inner.with(|p| *p);
        #[cfg(not(loom))]
        return *self.inner.get();
    }
}
