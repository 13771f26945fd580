//! How a thread waits when there is nothing to consume or no room to publish: the trade
//! between wake-up latency and CPU burnt.

use crossbeam_utils::CachePadded;

use super::sync::{fence, spin_hint, yield_now, AtomicUsize, Ordering};

/// Spins a yielding waiter does before it starts giving its core away.
const SPINS_BEFORE_YIELD: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitStrategy {
    /// Lowest latency; burns a core per waiting thread. For pinned, dedicated cores.
    BusySpin,
    /// Spins briefly, then yields the core to other threads.
    #[default]
    Yielding,
    /// Sleeps on a condition variable until signalled; least CPU, highest wake-up latency.
    Blocking,
}

impl WaitStrategy {
    pub fn parse(name: &str) -> Option<WaitStrategy> {
        match name {
            "busy_spin" | "busy-spin" | "spin" => Some(WaitStrategy::BusySpin),
            "yielding" | "yield" => Some(WaitStrategy::Yielding),
            "blocking" | "block" => Some(WaitStrategy::Blocking),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WaitStrategy::BusySpin => "busy_spin",
            WaitStrategy::Yielding => "yielding",
            WaitStrategy::Blocking => "blocking",
        }
    }
}

/// The waiting machinery one bus shares between its producers and consumers.
pub(crate) struct Waiter {
    strategy: WaitStrategy,
    /// On its own cache line: blocking waiters write it on every sleep, and it sits inline
    /// in the bus's shared state next to fields every publish reads.
    sleep: CachePadded<Sleep>,
}

struct Sleep {
    sleepers: AtomicUsize,
    #[cfg(not(loom))]
    lock: std::sync::Mutex<()>,
    #[cfg(not(loom))]
    condvar: std::sync::Condvar,
}

impl Waiter {
    pub(crate) fn new(strategy: WaitStrategy) -> Self {
        Waiter {
            strategy,
            sleep: CachePadded::new(Sleep {
                sleepers: AtomicUsize::new(0),
                #[cfg(not(loom))]
                lock: std::sync::Mutex::new(()),
                #[cfg(not(loom))]
                condvar: std::sync::Condvar::new(),
            }),
        }
    }

    pub(crate) fn strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// One round of waiting; `spins` counts rounds since the caller last made progress.
    /// `ready` re-checks the caller's condition so a blocking waiter never sleeps through
    /// a signal it raced with.
    #[inline]
    pub(crate) fn idle(&self, spins: &mut u32, ready: &dyn Fn() -> bool) {
        match self.strategy {
            WaitStrategy::BusySpin => spin_hint(),
            WaitStrategy::Yielding => {
                if *spins < SPINS_BEFORE_YIELD {
                    *spins += 1;
                    spin_hint();
                } else {
                    yield_now();
                }
            }
            WaitStrategy::Blocking => self.block(spins, ready),
        }
    }

    #[cfg(not(loom))]
    fn block(&self, spins: &mut u32, ready: &dyn Fn() -> bool) {
        if *spins < SPINS_BEFORE_YIELD {
            *spins += 1;
            spin_hint();
            return;
        }
        // Dekker-style handshake with `signal`: announce the sleeper, then re-check under
        // the lock; a signaller that missed the announcement published before our re-check.
        self.sleep.sleepers.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let guard = self.sleep.lock.lock().unwrap_or_else(|e| e.into_inner());
        if !ready() {
            // The timeout bounds the damage of any wake-up we do not model (e.g. a
            // dependency advancing on another bus); it is not how progress is normally made.
            let _ = self
                .sleep
                .condvar
                .wait_timeout(guard, std::time::Duration::from_millis(1));
        }
        self.sleep.sleepers.fetch_sub(1, Ordering::Relaxed);
    }

    #[cfg(loom)]
    fn block(&self, _spins: &mut u32, ready: &dyn Fn() -> bool) {
        if !ready() {
            yield_now();
        }
    }

    /// Wakes blocked waiters after a sequence moved. Free for the spinning strategies.
    #[inline]
    pub(crate) fn signal(&self) {
        if self.strategy != WaitStrategy::Blocking {
            return;
        }
        fence(Ordering::SeqCst);
        if self.sleep.sleepers.load(Ordering::Relaxed) > 0 {
            #[cfg(not(loom))]
            {
                drop(self.sleep.lock.lock().unwrap_or_else(|e| e.into_inner()));
                self.sleep.condvar.notify_all();
            }
        }
    }
}
