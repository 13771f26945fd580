//! Built-in consumers that can be attached by name, from Rust or Python.
//!
//! Each handler reports through a shared [`HandlerStats`] that the owner can read while
//! the handler runs on its own thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{BusError, EventHandler};
use crate::model::{Event, EventKind};

/// Live figures of a running handler, as (name, value) pairs.
pub trait HandlerStats: Send + Sync {
    fn snapshot(&self) -> Vec<(String, u64)>;
}

/// Counts events and sums their digests (wrapping, so order-independent): equal to the
/// producers' own sum exactly when every event arrived once and unaltered.
#[derive(Default)]
pub struct ChecksumStats {
    pub events: AtomicU64,
    pub digest_sum: AtomicU64,
}

impl HandlerStats for ChecksumStats {
    fn snapshot(&self) -> Vec<(String, u64)> {
        vec![
            ("events".to_string(), self.events.load(Ordering::Acquire)),
            (
                "digest_sum".to_string(),
                self.digest_sum.load(Ordering::Acquire),
            ),
        ]
    }
}

pub struct ChecksumHandler {
    stats: Arc<ChecksumStats>,
    events: u64,
    digest_sum: u64,
}

impl ChecksumHandler {
    pub fn new(stats: Arc<ChecksumStats>) -> Self {
        ChecksumHandler {
            stats,
            events: 0,
            digest_sum: 0,
        }
    }
}

impl EventHandler<Event> for ChecksumHandler {
    #[inline]
    fn on_event(&mut self, event: &Event, _sequence: u64, end_of_batch: bool) {
        self.events += 1;
        self.digest_sum = self.digest_sum.wrapping_add(event.digest());
        if end_of_batch {
            // Publishing once per batch keeps the shared cache line out of the hot loop.
            self.stats
                .digest_sum
                .store(self.digest_sum, Ordering::Relaxed);
            self.stats.events.store(self.events, Ordering::Release);
        }
    }
}

/// Counts events by kind, plus those whose kind byte is not a known [`EventKind`].
pub struct KindCountStats {
    counts: [AtomicU64; 256],
}

impl Default for KindCountStats {
    fn default() -> Self {
        KindCountStats {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl KindCountStats {
    pub fn count(&self, kind: EventKind) -> u64 {
        self.counts[kind as usize].load(Ordering::Acquire)
    }
}

impl HandlerStats for KindCountStats {
    fn snapshot(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = EventKind::ALL
            .iter()
            .map(|k| (k.name().to_string(), self.count(*k)))
            .collect();
        let unknown: u64 = (0..256)
            .filter(|i| EventKind::from_u8(*i as u8).is_none())
            .map(|i| self.counts[i].load(Ordering::Acquire))
            .sum();
        out.push(("unknown".to_string(), unknown));
        out
    }
}

pub struct KindCountHandler {
    stats: Arc<KindCountStats>,
    local: [u64; 256],
}

impl KindCountHandler {
    pub fn new(stats: Arc<KindCountStats>) -> Self {
        KindCountHandler {
            stats,
            local: [0; 256],
        }
    }
}

impl EventHandler<Event> for KindCountHandler {
    #[inline]
    fn on_event(&mut self, event: &Event, _sequence: u64, end_of_batch: bool) {
        self.local[event.kind as usize] += 1;
        if end_of_batch {
            for (shared, local) in self.stats.counts.iter().zip(self.local.iter()) {
                if *local != 0 {
                    shared.store(*local, Ordering::Release);
                }
            }
        }
    }
}

/// The names [`handler_by_name`] knows.
pub const HANDLER_NAMES: [&str; 2] = ["checksum", "kind_counts"];

/// A handler ready to attach, and the live view of what it has seen.
pub type NamedHandler = (Box<dyn EventHandler<Event>>, Arc<dyn HandlerStats>);

/// A built-in handler and the stats it reports, by name.
pub fn handler_by_name(name: &str) -> Result<NamedHandler, BusError> {
    match name {
        "checksum" => {
            let stats = Arc::new(ChecksumStats::default());
            Ok((Box::new(ChecksumHandler::new(stats.clone())), stats))
        }
        "kind_counts" => {
            let stats = Arc::new(KindCountStats::default());
            Ok((Box::new(KindCountHandler::new(stats.clone())), stats))
        }
        other => Err(BusError::UnknownHandler(other.to_string())),
    }
}
