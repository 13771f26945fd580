//! The platform's shared vocabulary: the common bus event and its enumerations.
//! Every other domain depends on `model`, never sideways on a sibling.

pub mod event;
pub mod time;

pub use event::{Event, EventKind, Side, EVENT_FIELDS, EVENT_SIZE};
