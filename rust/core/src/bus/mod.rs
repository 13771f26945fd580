//! The Disruptor: a preallocated power-of-two ring of fixed-size events, producers that
//! claim and publish sequences, and consumers that each own a sequence and may depend on
//! other consumers (a pipeline) or not (a multicast).
//!
//! Sequences are counts: a producer cursor of `n` means events `0..n` are published, a
//! consumer sequence of `n` means it has processed `0..n`. A producer may claim sequence
//! `s` only while `s < min(consumer sequences) + capacity`, so no event is ever overwritten
//! before every consumer has processed it.

mod consumer;
mod disruptor;
mod error;
pub mod handlers;
mod producer;
mod ring;
mod sequence;
pub(crate) mod shared;
pub(crate) mod sync;
mod wait;

pub use consumer::{Barrier, Drained, EventHandler, Poller};
pub use disruptor::{Bus, BusBuilder, BusCounters, ConsumerCounters};
pub use error::BusError;
pub use producer::{Producer, ProducerMode};
pub use sequence::Sequence;
pub use shared::Shared;
pub use wait::WaitStrategy;

#[cfg(all(test, loom))]
mod loom_tests;
