//! The atomics, cells and hints the sequence logic uses, swapped for loom's under
//! `--cfg loom` so the model checker explores every interleaving of that logic.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

/// The cheap half of an asymmetric fence, on every claim: a compiler fence where the
/// process-wide barrier is available (the heavy half then orders this thread's accesses),
/// a full fence where it is not. Under loom both halves are SeqCst fences, the pairing the
/// model checker can verify and that the process-wide barrier stands in for.
#[inline(always)]
pub(crate) fn light_barrier() {
    #[cfg(loom)]
    fence(Ordering::SeqCst);
    #[cfg(not(loom))]
    {
        if process_barrier::available() {
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
    }
}

/// The expensive half, on `close` only: a process-wide memory barrier (Linux `membarrier`
/// private expedited), or a full fence where that is not available.
#[inline]
pub(crate) fn heavy_barrier() {
    #[cfg(loom)]
    fence(Ordering::SeqCst);
    #[cfg(not(loom))]
    {
        if !process_barrier::run() {
            fence(Ordering::SeqCst);
        }
    }
}

/// Prepares the process-wide barrier once per process; call before any producer exists.
pub(crate) fn init_barriers() {
    #[cfg(not(loom))]
    process_barrier::init();
}

#[cfg(all(not(loom), target_os = "linux"))]
mod process_barrier {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Once;

    const CMD_QUERY: libc::c_long = 0;
    const CMD_PRIVATE_EXPEDITED: libc::c_long = 1 << 3;
    const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 1 << 4;

    static INIT: Once = Once::new();
    static AVAILABLE: AtomicBool = AtomicBool::new(false);

    fn membarrier(cmd: libc::c_long) -> libc::c_long {
        // SAFETY: membarrier(2) takes a command and flags, touches no user memory, and
        // reports failure (ENOSYS, EPERM under seccomp...) through its return value.
        unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0 as libc::c_long) }
    }

    pub(super) fn init() {
        INIT.call_once(|| {
            let supported = membarrier(CMD_QUERY);
            let usable = supported >= 0
                && supported & CMD_PRIVATE_EXPEDITED != 0
                && membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
            AVAILABLE.store(usable, Ordering::Release);
        });
    }

    #[inline(always)]
    pub(super) fn available() -> bool {
        AVAILABLE.load(Ordering::Relaxed)
    }

    /// True when the barrier ran; false means the caller must fence itself.
    pub(super) fn run() -> bool {
        available() && membarrier(CMD_PRIVATE_EXPEDITED) == 0
    }
}

#[cfg(all(not(loom), not(target_os = "linux")))]
mod process_barrier {
    pub(super) fn init() {}
    #[inline(always)]
    pub(super) fn available() -> bool {
        false
    }
    pub(super) fn run() -> bool {
        false
    }
}

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
