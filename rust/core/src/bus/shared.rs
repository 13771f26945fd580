//! The state every producer and consumer of one bus shares: the ring, the cursors, the
//! gating sequences and the shutdown handshake.

use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::producer::ProducerMode;
use super::ring::Ring;
use super::sequence::Sequence;
use super::sync::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use super::wait::{WaitStrategy, Waiter};
use super::BusError;

/// No final count yet: the bus is open.
const OPEN: u64 = u64::MAX;
/// Stripes of the in-flight count (fewer under loom, where each is a modelled atomic).
#[cfg(not(loom))]
const IN_FLIGHT_STRIPES: usize = 16;
#[cfg(loom)]
const IN_FLIGHT_STRIPES: usize = 2;
/// Marks a multi-producer slot that has never been published.
const NEVER_PUBLISHED: u64 = u64::MAX;

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
    gate_cache: AtomicU64,
    pub(crate) waiter: Waiter,
    closed: AtomicBool,
    /// Producers between their closed-check and their publish, striped so producers on
    /// different threads do not fight over one cache line; shutdown waits for all zero.
    in_flight: Box<[CachePadded<AtomicUsize>]>,
    /// Hands each new producer handle its stripe.
    next_stripe: AtomicUsize,
    /// Once closed and quiescent: the total number of events ever published.
    final_count: AtomicU64,
    pub(crate) producer_waits: AtomicU64,
}

impl<E: Copy + Default> Shared<E> {
    pub fn new(
        capacity: usize,
        mode: ProducerMode,
        wait: WaitStrategy,
        gating: Vec<Arc<Sequence>>,
    ) -> Result<Self, BusError> {
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
            gate_cache: AtomicU64::new(0),
            waiter: Waiter::new(wait),
            closed: AtomicBool::new(false),
            in_flight: (0..IN_FLIGHT_STRIPES)
                .map(|_| CachePadded::new(AtomicUsize::new(0)))
                .collect(),
            next_stripe: AtomicUsize::new(0),
            final_count: AtomicU64::new(OPEN),
            producer_waits: AtomicU64::new(0),
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

    /// The in-flight stripe for a new producer handle.
    pub(crate) fn assign_stripe(&self) -> usize {
        self.next_stripe.fetch_add(1, Ordering::Relaxed) % IN_FLIGHT_STRIPES
    }

    /// Enter the publish path: fails once the bus is closed. Pair with [`Self::leave`].
    #[inline]
    pub(crate) fn enter(&self, stripe: usize) -> Result<(), BusError> {
        // Dekker handshake with `close`, written with fences because a pair of SeqCst
        // accesses on different atomics is exactly what loom (and weaker mental models)
        // get wrong: either we see `closed`, or `close` sees us in flight.
        self.in_flight[stripe].fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if self.closed.load(Ordering::Relaxed) {
            self.in_flight[stripe].fetch_sub(1, Ordering::Release);
            return Err(BusError::Closed);
        }
        Ok(())
    }

    #[inline]
    pub(crate) fn leave(&self, stripe: usize) {
        self.in_flight[stripe].fetch_sub(1, Ordering::Release);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Closes the bus to producers, waits for publishes already under way, and fixes the
    /// final count so consumers drain everything published and then stop.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let mut spins = 0u32;
        while self
            .in_flight
            .iter()
            .any(|n| n.load(Ordering::Acquire) != 0)
        {
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
