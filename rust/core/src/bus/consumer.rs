use std::sync::Arc;

use super::sequence::Sequence;
use super::shared::Shared;

/// Business logic that runs on a consumer thread, one call per event in sequence order.
pub trait EventHandler<E>: Send {
    /// `end_of_batch` is true on the last event currently available: the moment to flush.
    fn on_event(&mut self, event: &E, sequence: u64, end_of_batch: bool);
    fn on_start(&mut self) {}
    /// Called once after the last event, when the bus has shut down and drained.
    fn on_shutdown(&mut self) {}
}

/// What one consumer may see: events published by the producers and already processed by
/// every consumer it depends on.
pub struct Barrier<E> {
    shared: Arc<Shared<E>>,
    dependencies: Vec<Arc<Sequence>>,
}

/// Returned by a wait once the bus is closed and this consumer has seen everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained;

impl<E> Barrier<E> {
    pub fn new(shared: Arc<Shared<E>>, dependencies: Vec<Arc<Sequence>>) -> Self {
        Barrier {
            shared,
            dependencies,
        }
    }

    /// The highest `n` such that every event in `next..n` may be read now.
    #[inline]
    pub fn available(&self, next: u64) -> u64 {
        if self.dependencies.is_empty() {
            self.shared.published_upto(next)
        } else {
            // A dependency only advances over published events, so its sequence is enough.
            self.dependencies
                .iter()
                .map(|d| d.get())
                .min()
                .unwrap_or(next)
        }
    }

    /// Waits until an event past `next` is readable and returns the new bound, or
    /// [`Drained`] when the bus is closed and nothing is left for this consumer.
    pub fn wait_for(&self, next: u64) -> Result<u64, Drained> {
        let mut spins = 0u32;
        loop {
            let available = self.available(next);
            if available > next {
                return Ok(available);
            }
            if let Some(total) = self.shared.final_count() {
                if next >= total {
                    return Err(Drained);
                }
            }
            self.shared.waiter.idle(&mut spins, &|| {
                self.available(next) > next || self.shared.final_count().is_some()
            });
        }
    }

    pub fn shared(&self) -> &Arc<Shared<E>> {
        &self.shared
    }
}

/// Runs `handler` over every event the barrier releases until the bus drains, advancing
/// `sequence` once per batch.
///
/// A handler that panics on an event is counted in `panics` and goes on with the next
/// event: one bad event must not stall every producer and downstream consumer.
pub(crate) fn run_processor<E: Copy + Default>(
    barrier: Barrier<E>,
    sequence: Arc<Sequence>,
    handler: &mut dyn EventHandler<E>,
    panics: &std::sync::atomic::AtomicU64,
) {
    handler.on_start();
    let mut next = sequence.get();
    while let Ok(available) = barrier.wait_for(next) {
        for s in next..available {
            // SAFETY: `s < available`, so it is published and, through the dependencies,
            // processed upstream; our own sequence still gates the producers from it.
            let event = unsafe { barrier.shared.ring.read(s) };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                handler.on_event(&event, s, s + 1 == available)
            }));
            if outcome.is_err() {
                panics.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        sequence.set(available);
        barrier.shared.waiter.signal();
        next = available;
    }
    handler.on_shutdown();
}

/// A consumer without a thread: its owner calls [`Poller::poll`] (e.g. Python, in batches).
///
/// Safe to share: concurrent callers are serialised, so each event is handed out once.
pub struct Poller<E> {
    barrier: Barrier<E>,
    sequence: Arc<Sequence>,
    reading: std::sync::Mutex<()>,
}

impl<E: Copy + Default> Poller<E> {
    pub(crate) fn new(barrier: Barrier<E>, sequence: Arc<Sequence>) -> Self {
        Poller {
            barrier,
            sequence,
            reading: std::sync::Mutex::new(()),
        }
    }

    /// Copies up to `out.len()` available events into `out` and returns how many, without
    /// waiting. `Err(Drained)` once the bus is closed and everything was polled.
    pub fn poll(&self, out: &mut [E]) -> Result<usize, Drained> {
        let _reading = self.reading.lock().unwrap_or_else(|e| e.into_inner());
        let next = self.sequence.get();
        let available = self.barrier.available(next);
        if available == next {
            return match self.barrier.shared.final_count() {
                Some(total) if next >= total => Err(Drained),
                _ => Ok(0),
            };
        }
        let n = ((available - next) as usize).min(out.len());
        for (i, slot) in out[..n].iter_mut().enumerate() {
            // SAFETY: as in `run_processor`: published, released upstream, gated by us.
            *slot = unsafe { self.barrier.shared.ring.read(next + i as u64) };
        }
        self.sequence.set(next + n as u64);
        self.barrier.shared.waiter.signal();
        Ok(n)
    }

    /// Like [`Poller::poll`], but waits up to `timeout` for at least one event.
    pub fn poll_timeout(
        &self,
        out: &mut [E],
        timeout: std::time::Duration,
    ) -> Result<usize, Drained> {
        let deadline = std::time::Instant::now() + timeout;
        let mut spins = 0u32;
        loop {
            let n = self.poll(out)?;
            if n > 0 || out.is_empty() || std::time::Instant::now() >= deadline {
                return Ok(n);
            }
            let next = self.sequence.get();
            self.barrier.shared.waiter.idle(&mut spins, &|| {
                self.barrier.available(next) > next || self.barrier.shared.final_count().is_some()
            });
        }
    }

    /// Waits up to `timeout` until at least one event can be polled; returns how many can.
    /// `Err(Drained)` once the bus is closed and everything was polled.
    pub fn wait_pending(&self, timeout: std::time::Duration) -> Result<u64, Drained> {
        let deadline = std::time::Instant::now() + timeout;
        let mut spins = 0u32;
        loop {
            let pending = self.pending();
            if pending > 0 {
                return Ok(pending);
            }
            if let Some(total) = self.barrier.shared.final_count() {
                if self.sequence.get() >= total {
                    return Err(Drained);
                }
            }
            if std::time::Instant::now() >= deadline {
                return Ok(0);
            }
            let next = self.sequence.get();
            self.barrier.shared.waiter.idle(&mut spins, &|| {
                self.barrier.available(next) > next || self.barrier.shared.final_count().is_some()
            });
        }
    }

    /// Events published but not yet polled.
    pub fn pending(&self) -> u64 {
        let next = self.sequence.get();
        self.barrier.available(next) - next
    }
}
