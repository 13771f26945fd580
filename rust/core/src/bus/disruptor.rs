//! Building the consumer graph and running it: the user-facing bus.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool as StdAtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::consumer::{run_processor, Barrier, EventHandler, Poller};
use super::producer::{Producer, ProducerMode};
use super::sequence::Sequence;
use super::shared::Shared;
use super::wait::WaitStrategy;
use super::BusError;

enum Body<E> {
    Thread {
        handler: Box<dyn EventHandler<E>>,
        core: Option<usize>,
    },
    Poller,
}

struct Spec<E> {
    name: String,
    after: Vec<String>,
    body: Body<E>,
}

/// Describes a bus before it runs: ring size, producer mode, wait strategy and the
/// consumer graph. The graph is fixed at [`BusBuilder::start`], as in the Disruptor.
pub struct BusBuilder<E> {
    capacity: usize,
    mode: ProducerMode,
    wait: WaitStrategy,
    specs: Vec<Spec<E>>,
}

impl<E: Copy + Default + Send + 'static> BusBuilder<E> {
    pub fn new(capacity: usize, mode: ProducerMode, wait: WaitStrategy) -> Result<Self, BusError> {
        if capacity < 2 || !capacity.is_power_of_two() {
            return Err(BusError::InvalidCapacity(capacity));
        }
        Ok(BusBuilder {
            capacity,
            mode,
            wait,
            specs: Vec::new(),
        })
    }

    fn check_new(&self, name: &str, after: &[&str]) -> Result<(), BusError> {
        if self.specs.iter().any(|s| s.name == name) {
            return Err(BusError::DuplicateConsumer(name.to_string()));
        }
        for dep in after {
            if !self.specs.iter().any(|s| s.name == *dep) {
                return Err(BusError::UnknownConsumer(dep.to_string()));
            }
        }
        Ok(())
    }

    /// A consumer on its own thread that sees each event after every consumer in `after`.
    /// `core` pins the thread to that CPU core when the platform allows it.
    pub fn add_handler(
        &mut self,
        name: &str,
        handler: Box<dyn EventHandler<E>>,
        after: &[&str],
        core: Option<usize>,
    ) -> Result<(), BusError> {
        self.check_new(name, after)?;
        self.specs.push(Spec {
            name: name.to_string(),
            after: after.iter().map(|s| s.to_string()).collect(),
            body: Body::Thread { handler, core },
        });
        Ok(())
    }

    /// A consumer without a thread, read with [`Bus::poller`].
    pub fn add_poller(&mut self, name: &str, after: &[&str]) -> Result<(), BusError> {
        self.check_new(name, after)?;
        self.specs.push(Spec {
            name: name.to_string(),
            after: after.iter().map(|s| s.to_string()).collect(),
            body: Body::Poller,
        });
        Ok(())
    }

    pub fn consumer_names(&self) -> Vec<String> {
        self.specs.iter().map(|s| s.name.clone()).collect()
    }

    /// Allocates the ring and starts every consumer thread.
    pub fn start(self) -> Result<Bus<E>, BusError> {
        let sequences: Vec<Arc<Sequence>> = self
            .specs
            .iter()
            .map(|_| Arc::new(Sequence::new(0)))
            .collect();
        // Gating on the consumers nobody depends on suffices: the others are ahead of them.
        let depended_on: HashSet<&str> = self
            .specs
            .iter()
            .flat_map(|s| s.after.iter().map(String::as_str))
            .collect();
        let gating = self
            .specs
            .iter()
            .zip(&sequences)
            .filter(|(s, _)| !depended_on.contains(s.name.as_str()))
            .map(|(_, q)| q.clone())
            .collect();
        let shared = Arc::new(Shared::new(self.capacity, self.mode, self.wait, gating)?);
        let index = |name: &str| self.specs.iter().position(|s| s.name == name);

        let mut consumers = Vec::with_capacity(self.specs.len());
        let mut barriers = Vec::with_capacity(self.specs.len());
        for spec in &self.specs {
            let deps = spec
                .after
                .iter()
                .filter_map(|d| index(d))
                .map(|i| sequences[i].clone())
                .collect();
            barriers.push(Barrier::new(shared.clone(), deps));
        }
        let mut bus = Bus {
            shared: shared.clone(),
            consumers: Vec::new(),
            producer_taken: StdAtomicBool::new(false),
        };
        for ((spec, sequence), barrier) in self.specs.into_iter().zip(sequences).zip(barriers) {
            let panics = Arc::new(AtomicU64::new(0));
            let (thread, poller) = match spec.body {
                Body::Poller => (None, Some(Poller::new(barrier, sequence.clone()))),
                Body::Thread { mut handler, core } => {
                    let seq = sequence.clone();
                    let panics = panics.clone();
                    let handle = std::thread::Builder::new()
                        .name(format!("bus-{}", spec.name))
                        .spawn(move || {
                            if let Some(id) = core {
                                core_affinity::set_for_current(core_affinity::CoreId { id });
                            }
                            run_processor(barrier, seq, handler.as_mut(), &panics);
                        })
                        .map_err(|e| BusError::Spawn {
                            name: spec.name.clone(),
                            reason: e.to_string(),
                        });
                    match handle {
                        Ok(h) => (Some(h), None),
                        Err(e) => {
                            // Stop what already started before reporting.
                            bus.consumers.append(&mut consumers);
                            bus.shutdown();
                            return Err(e);
                        }
                    }
                }
            };
            consumers.push(Consumer {
                name: spec.name,
                after: spec.after,
                sequence,
                thread: std::sync::Mutex::new(thread),
                poller,
                panics,
            });
        }
        bus.consumers = consumers;
        Ok(bus)
    }
}

struct Consumer<E> {
    name: String,
    after: Vec<String>,
    sequence: Arc<Sequence>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
    poller: Option<Poller<E>>,
    panics: Arc<AtomicU64>,
}

/// A running bus. Dropping it shuts it down (drains every consumer thread).
pub struct Bus<E> {
    shared: Arc<Shared<E>>,
    consumers: Vec<Consumer<E>>,
    producer_taken: StdAtomicBool,
}

/// Progress of one consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerCounters {
    pub name: String,
    pub after: Vec<String>,
    /// Events processed.
    pub sequence: u64,
    /// Events published but not yet processed by this consumer.
    pub lag: u64,
    /// A thread consumer still running, or a poller on an open bus.
    pub alive: bool,
    pub is_poller: bool,
    /// Events on which the handler panicked (counted, skipped, processing went on).
    pub handler_panics: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusCounters {
    pub capacity: usize,
    pub mode: ProducerMode,
    pub wait: WaitStrategy,
    pub published: u64,
    /// Claims that found the ring full and had to wait for the slowest consumer.
    pub producer_waits: u64,
    pub closed: bool,
    pub consumers: Vec<ConsumerCounters>,
}

impl<E: Copy + Default + Send + 'static> Bus<E> {
    /// The producer handle. A single-producer bus gives out one; a multi-producer bus one
    /// per call (or clone one with [`Producer::try_clone`]).
    pub fn producer(&self) -> Result<Producer<E>, BusError> {
        if self.shared.mode() == ProducerMode::Single
            && self.producer_taken.swap(true, Ordering::SeqCst)
        {
            return Err(BusError::ProducerTaken);
        }
        Ok(Producer::new(self.shared.clone()))
    }

    pub fn poller(&self, name: &str) -> Result<&Poller<E>, BusError> {
        let consumer = self
            .consumers
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| BusError::UnknownConsumer(name.to_string()))?;
        consumer
            .poller
            .as_ref()
            .ok_or_else(|| BusError::NotAPoller(name.to_string()))
    }

    pub fn shared(&self) -> &Arc<Shared<E>> {
        &self.shared
    }

    pub fn counters(&self) -> BusCounters {
        let published = self.shared.published();
        let closed = self.shared.is_closed();
        BusCounters {
            capacity: self.shared.capacity(),
            mode: self.shared.mode(),
            wait: self.shared.wait_strategy(),
            published,
            producer_waits: self.shared.producer_waits(),
            closed,
            consumers: self
                .consumers
                .iter()
                .map(|c| {
                    let sequence = c.sequence.get();
                    ConsumerCounters {
                        name: c.name.clone(),
                        after: c.after.clone(),
                        sequence,
                        lag: published.saturating_sub(sequence),
                        alive: match &*lock(&c.thread) {
                            Some(t) => !t.is_finished(),
                            // Joined after shutdown, or a poller: alive while the bus is open.
                            None => !closed,
                        },
                        is_poller: c.poller.is_some(),
                        handler_panics: c.panics.load(Ordering::Relaxed),
                    }
                })
                .collect(),
        }
    }

    /// Closes the bus to producers, lets every thread consumer process everything that
    /// was published, and joins them. Pollers keep what is left until polled. Idempotent.
    pub fn shutdown(&self) {
        self.shared.close();
        self.join_threads();
    }
}

impl<E> Bus<E> {
    fn join_threads(&self) {
        for c in &self.consumers {
            let handle = lock(&c.thread).take();
            if let Some(t) = handle {
                // Handler panics are caught per event, so a join error is not expected;
                // if one happens the thread is gone either way.
                let _ = t.join();
            }
        }
    }
}

impl<E> Drop for Bus<E> {
    fn drop(&mut self) {
        self.shared.close();
        self.join_threads();
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
