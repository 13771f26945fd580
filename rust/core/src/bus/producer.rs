use std::sync::Arc;
use std::time::{Duration, Instant};

use super::shared::{InFlight, Shared};
use super::sync::Ordering;
use super::BusError;

/// Who may publish: one thread (no atomic read-modify-write on the claim path) or many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProducerMode {
    #[default]
    Single,
    Multi,
}

impl ProducerMode {
    pub fn parse(name: &str) -> Option<ProducerMode> {
        match name {
            "single" => Some(ProducerMode::Single),
            "multi" => Some(ProducerMode::Multi),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ProducerMode::Single => "single",
            ProducerMode::Multi => "multi",
        }
    }
}

/// A handle that publishes into the ring. Single-producer buses hand out exactly one;
/// multi-producer buses hand out one per thread (see [`Producer::try_clone`]).
pub struct Producer<E> {
    shared: Arc<Shared<E>>,
    /// Single producer only: sequences `0..next` are claimed (and, between calls, published).
    next: u64,
    /// Single producer only: a recent minimum of the consumer sequences.
    gate_cache: u64,
    /// This handle's in-flight flag (see `Shared::enter`).
    in_flight: InFlight,
}

impl<E> Drop for Producer<E> {
    fn drop(&mut self) {
        self.shared.unregister(&self.in_flight);
    }
}

impl<E: Copy + Default> Producer<E> {
    pub(crate) fn new(shared: Arc<Shared<E>>) -> Self {
        let next = shared.cursor.get();
        let in_flight = shared.register();
        Producer {
            shared,
            next,
            gate_cache: 0,
            in_flight,
        }
    }

    /// Another handle on the same multi-producer bus, for another thread.
    pub fn try_clone(&self) -> Result<Self, BusError> {
        match self.shared.mode() {
            super::ProducerMode::Multi => Ok(Producer::new(self.shared.clone())),
            super::ProducerMode::Single => Err(BusError::ProducerTaken),
        }
    }

    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }

    /// Publishes one event, waiting at most `timeout` for room: `Ok(false)` when it did
    /// not fit in time (nothing published).
    pub fn publish_timeout(&mut self, event: E, timeout: Duration) -> Result<bool, BusError> {
        let deadline = Instant::now() + timeout;
        match self.publish_until(1, Some(deadline), |_, slot| *slot = event) {
            Ok(_) => Ok(true),
            Err(BusError::Full) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Publishes from the front of `events`, in claims of up to the capacity, until all
    /// are out or `timeout` has passed; returns how many were published (a prefix). Lets
    /// a caller that must stay responsive (Python and Ctrl-C) wait in slices.
    pub fn publish_batch_timeout(
        &mut self,
        events: &[E],
        timeout: Duration,
    ) -> Result<usize, BusError> {
        let deadline = Instant::now() + timeout;
        let mut done = 0;
        for chunk in events.chunks(self.shared.capacity()) {
            match self.publish_until(chunk.len(), Some(deadline), |i, slot| *slot = chunk[i]) {
                Ok(_) => done += chunk.len(),
                Err(BusError::Full) => break,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(done)
    }

    /// Publishes one event, waiting while the ring is full.
    #[inline]
    pub fn publish(&mut self, event: E) -> Result<(), BusError> {
        self.publish_with(1, true, |_, slot| *slot = event)
            .map(|_| ())
    }

    /// Publishes one event, or says [`BusError::Full`] at once.
    #[inline]
    pub fn try_publish(&mut self, event: E) -> Result<(), BusError> {
        self.publish_with(1, false, |_, slot| *slot = event)
            .map(|_| ())
    }

    /// Publishes a slice of any length, in claims of up to the capacity, waiting for room.
    pub fn publish_batch(&mut self, events: &[E]) -> Result<(), BusError> {
        for chunk in events.chunks(self.shared.capacity()) {
            self.publish_with(chunk.len(), true, |i, slot| *slot = chunk[i])?;
        }
        Ok(())
    }

    /// Publishes the whole slice in one claim, or nothing: [`BusError::Full`] when it does
    /// not fit now, [`BusError::BatchTooLarge`] when it can never fit.
    pub fn try_publish_batch(&mut self, events: &[E]) -> Result<(), BusError> {
        self.publish_with(events.len(), false, |i, slot| *slot = events[i])
            .map(|_| ())
    }

    /// Claims `n` consecutive sequences, lets `fill(i, &mut event)` write each, and
    /// publishes them together. Returns the first sequence of the batch.
    pub fn publish_with(
        &mut self,
        n: usize,
        wait: bool,
        fill: impl FnMut(usize, &mut E),
    ) -> Result<u64, BusError> {
        // `None` with waiting means forever; a deadline already passed means no wait.
        let deadline = if wait { None } else { Some(Instant::now()) };
        self.publish_until(n, deadline, fill)
    }

    fn publish_until(
        &mut self,
        n: usize,
        deadline: Option<Instant>,
        mut fill: impl FnMut(usize, &mut E),
    ) -> Result<u64, BusError> {
        if n == 0 {
            return Ok(self.shared.published());
        }
        if n > self.shared.capacity() {
            return Err(BusError::BatchTooLarge {
                requested: n,
                capacity: self.shared.capacity(),
            });
        }
        self.shared.enter(&self.in_flight)?;
        let result = self.claim(n as u64, deadline);
        let start = match result {
            Ok(start) => start,
            Err(e) => {
                Shared::<E>::leave(&self.in_flight);
                return Err(e);
            }
        };
        for i in 0..n {
            let mut event = E::default();
            fill(i, &mut event);
            // SAFETY: `claim` reserved `start..start+n` for this producer alone and the
            // gating check guarantees every consumer has processed the slot's old event.
            unsafe { self.shared.ring.write(start + i as u64, event) };
        }
        let end = start + n as u64;
        match self.shared.mode() {
            ProducerMode::Single => {
                self.next = end;
                self.shared.cursor.set(end);
            }
            ProducerMode::Multi => self.shared.mark_published(start, end),
        }
        Shared::<E>::leave(&self.in_flight);
        self.shared.waiter.signal();
        Ok(start)
    }

    /// Claims `n` sequences, waiting for room until `deadline` (`None`: for ever).
    fn claim(&mut self, n: u64, deadline: Option<Instant>) -> Result<u64, BusError> {
        let mut spins = 0u32;
        let mut counted_wait = false;
        loop {
            if let Some(start) = self.try_claim(n) {
                return Ok(start);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(BusError::Full);
            }
            if self.shared.is_closed() {
                return Err(BusError::Closed);
            }
            if !counted_wait {
                counted_wait = true;
                self.shared.producer_waits.fetch_add(1, Ordering::Relaxed);
            }
            let shared = &self.shared;
            let capacity = shared.capacity() as u64;
            let needed = match shared.mode() {
                ProducerMode::Single => self.next + n,
                ProducerMode::Multi => shared.cursor.get() + n,
            };
            shared.waiter.idle(&mut spins, &|| {
                shared.is_closed() || needed <= shared.min_gating().saturating_add(capacity)
            });
        }
    }

    #[inline]
    fn try_claim(&mut self, n: u64) -> Option<u64> {
        match self.shared.mode() {
            ProducerMode::Single => {
                let next = self.next + n;
                let capacity = self.shared.capacity() as u64;
                if next > self.gate_cache.saturating_add(capacity) {
                    self.gate_cache = self.shared.min_gating();
                    if next > self.gate_cache.saturating_add(capacity) {
                        return None;
                    }
                }
                Some(self.next)
            }
            ProducerMode::Multi => self.shared.try_claim_multi(n),
        }
    }
}
