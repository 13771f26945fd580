//! The state every producer and consumer of one bus shares: the ring, the cursors, the
//! gating sequences and the shutdown handshake.

use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::producer::ProducerMode;
use super::ring::Ring;
use super::sequence::Sequence;
use super::sync::{
    heavy_barrier, init_barriers, light_barrier, AtomicBool, AtomicU64, Mutex, Ordering,
};
use super::wait::{WaitStrategy, Waiter};
use super::BusError;

/// No final count yet: the bus is open.
const OPEN: u64 = u64::MAX;
/// Marks a multi-producer slot that has never been published.
const NEVER_PUBLISHED: u64 = u64::MAX;

/// A producer handle's in-flight flag (see [`Shared::enter`]).
pub(crate) type InFlight = Arc<CachePadded<AtomicBool>>;

fn lock<T>(m: &Mutex<T>) -> super::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Shared<E> {
    pub(crate) ring: Ring<E>,
    capacity: u64,
    mode: ProducerMode,
    /// Single producer: events `0..cursor` are published.
    /// Multi producer: sequences `0..cursor` are claimed; `published` says which are out.
    pub(crate) cursor: Sequence,
    /// Multi producer only: slot `i` holds the last sequence published into it.
    published: Box<[AtomicU64]>,
    /// The consumers the producers must not lap.
    gating: Vec<Arc<Sequence>>,
    /// Multi producer: a recent minimum of `gating`, to spare rereading every consumer.
    /// Padded: producers rewrite it while every claim and consumer reads the fields
    /// around it (`closed`, `final_count`, the ring's address).
    gate_cache: CachePadded<AtomicU64>,
    pub(crate) waiter: Waiter,
    closed: AtomicBool,
    /// One flag per live producer handle, set while that handle is between its
    /// closed-check and its publish; shutdown waits for all clear. A flag per handle,
    /// each on its own cache line and written only by its handle, keeps every publish
    /// free of read-modify-writes on the handshake (multi-producer claims still need one).
    handles: Mutex<Vec<InFlight>>,
    /// Once closed and quiescent: the total number of events ever published.
    final_count: AtomicU64,
    /// Padded for the same reason as `gate_cache`: written when a producer finds the ring full.
    pub(crate) producer_waits: CachePadded<AtomicU64>,
}

impl<E: Copy + Default> Shared<E> {
    pub fn new(
        capacity: usize,
        mode: ProducerMode,
        wait: WaitStrategy,
        gating: Vec<Arc<Sequence>>,
    ) -> Result<Self, BusError> {
        init_barriers();
        if capacity < 2 || !capacity.is_power_of_two() {
            return Err(BusError::InvalidCapacity(capacity));
        }
        let published = match mode {
            ProducerMode::Single => Vec::new().into_boxed_slice(),
            ProducerMode::Multi => (0..capacity)
                .map(|_| AtomicU64::new(NEVER_PUBLISHED))
                .collect(),
        };
        Ok(Shared {
            ring: Ring::new(capacity),
            capacity: capacity as u64,
            mode,
            cursor: Sequence::new(0),
            published,
            gating,
            gate_cache: CachePadded::new(AtomicU64::new(0)),
            waiter: Waiter::new(wait),
            closed: AtomicBool::new(false),
            handles: Mutex::new(Vec::new()),
            final_count: AtomicU64::new(OPEN),
            producer_waits: CachePadded::new(AtomicU64::new(0)),
        })
    }
}

impl<E> Shared<E> {
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    pub fn mode(&self) -> ProducerMode {
        self.mode
    }

    pub fn wait_strategy(&self) -> WaitStrategy {
        self.waiter.strategy()
    }

    /// The smallest consumer sequence, or `u64::MAX` with no consumer (nothing to protect).
    #[inline]
    pub(crate) fn min_gating(&self) -> u64 {
        self.gating
            .iter()
            .map(|s| s.get())
            .min()
            .unwrap_or(u64::MAX)
    }

    /// The highest `n` such that every event in `next..n` is published (`>= next`).
    #[inline]
    pub(crate) fn published_upto(&self, next: u64) -> u64 {
        match self.mode {
            ProducerMode::Single => self.cursor.get(),
            ProducerMode::Multi => {
                let claimed = self.cursor.get();
                let mask = self.capacity - 1;
                let mut s = next;
                while s < claimed
                    && self.published[(s & mask) as usize].load(Ordering::Acquire) == s
                {
                    s += 1;
                }
                s
            }
        }
    }

    /// Multi producer: marks `start..end` published, after their slots were written.
    #[inline]
    pub(crate) fn mark_published(&self, start: u64, end: u64) {
        let mask = self.capacity - 1;
        for s in start..end {
            self.published[(s & mask) as usize].store(s, Ordering::Release);
        }
    }

    /// Multi producer: claims `n` sequences if they fit, returning the first.
    #[inline]
    pub(crate) fn try_claim_multi(&self, n: u64) -> Option<u64> {
        loop {
            let current = self.cursor.get();
            let next = current + n;
            let mut gate = self.gate_cache.load(Ordering::Relaxed);
            if next > gate.saturating_add(self.capacity) {
                gate = self.min_gating();
                self.gate_cache.store(gate, Ordering::Relaxed);
                if next > gate.saturating_add(self.capacity) {
                    return None;
                }
            }
            if self.cursor.compare_exchange_weak(current, next).is_ok() {
                return Some(current);
            }
        }
    }

    /// A new producer handle's in-flight flag, watched by `close` until the handle drops.
    pub(crate) fn register(&self) -> InFlight {
        let flag = Arc::new(CachePadded::new(AtomicBool::new(false)));
        // Taking the lock after a `close` that already scanned the list synchronises with
        // it, so this handle's first `enter` sees `closed`.
        lock(&self.handles).push(flag.clone());
        flag
    }

    pub(crate) fn unregister(&self, flag: &InFlight) {
        lock(&self.handles).retain(|h| !Arc::ptr_eq(h, flag));
    }

    /// Enter the publish path: fails once the bus is closed. Pair with [`Self::leave`].
    #[inline]
    pub(crate) fn enter(&self, flag: &AtomicBool) -> Result<(), BusError> {
        // Dekker handshake with `close`: either we see `closed`, or `close` sees us in
        // flight. Asymmetric: this side, run on every claim, has only a compiler fence;
        // `close` issues a process-wide barrier that orders our accesses for us.
        flag.store(true, Ordering::Relaxed);
        light_barrier();
        if self.closed.load(Ordering::Relaxed) {
            Self::leave(flag);
            return Err(BusError::Closed);
        }
        Ok(())
    }

    #[inline]
    pub(crate) fn leave(flag: &AtomicBool) {
        flag.store(false, Ordering::Release);
    }

    fn any_in_flight(&self) -> bool {
        lock(&self.handles)
            .iter()
            .any(|h| h.load(Ordering::Acquire))
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Closes the bus to producers, waits for publishes already under way, and fixes the
    /// final count so consumers drain everything published and then stop.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        heavy_barrier();
        let mut spins = 0u32;
        while self.any_in_flight() {
            // A producer waiting for room sees `closed` and leaves; one with room publishes.
            self.waiter.signal();
            self.waiter.idle(&mut spins, &|| false);
        }
        self.final_count.store(self.cursor.get(), Ordering::Release);
        self.waiter.signal();
    }

    /// The total published once closed, `None` while open.
    #[inline]
    pub(crate) fn final_count(&self) -> Option<u64> {
        let f = self.final_count.load(Ordering::Acquire);
        (f != OPEN).then_some(f)
    }

    /// Events published so far (multi producer: claimed, each published moments later).
    pub fn published(&self) -> u64 {
        self.cursor.get()
    }

    pub fn producer_waits(&self) -> u64 {
        self.producer_waits.load(Ordering::Relaxed)
    }
}
