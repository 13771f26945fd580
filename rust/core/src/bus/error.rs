use thiserror::Error;

/// Everything that can go wrong on the bus, each with what a caller needs to act.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BusError {
    #[error("ring is full: the slowest consumer has not processed the oldest slot")]
    Full,
    #[error("bus is closed: no more events can be published")]
    Closed,
    #[error("capacity must be a power of two and at least 2, got {0}")]
    InvalidCapacity(usize),
    #[error("consumer {0:?} is already defined")]
    DuplicateConsumer(String),
    #[error("consumer {0:?} is not defined (a dependency must be added before its dependents)")]
    UnknownConsumer(String),
    #[error("consumer {0:?} is not a poller")]
    NotAPoller(String),
    #[error("a single-producer bus has exactly one producer and it is already taken")]
    ProducerTaken,
    #[error("batch of {requested} events exceeds the ring capacity {capacity}")]
    BatchTooLarge { requested: usize, capacity: usize },
    #[error("unknown handler {0:?}")]
    UnknownHandler(String),
    #[error("could not start consumer thread {name:?}: {reason}")]
    Spawn { name: String, reason: String },
}
