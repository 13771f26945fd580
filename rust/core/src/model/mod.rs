//! The platform's shared vocabulary: the common bus event and its enumerations, and the
//! instruments whose tick and lot grids give prices and quantities their integer form.
//! Every other domain depends on `model`, never sideways on a sibling.

pub mod bar;
pub mod book_check;
pub mod event;
pub mod fixed;
pub mod time;

pub use bar::Bar;
pub use book_check::{decimal_places, BookCheck};
pub use event::{
    flags, split_messages, validate_batch, Event, EventKind, InvalidEvent, Side, EVENT_FIELDS,
    EVENT_SIZE,
};
pub use fixed::{FixedError, Instrument, InstrumentError, InstrumentTable, Step};
