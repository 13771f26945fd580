//! Order books: the L2 book keyed by integer price ([`OrderBook`]) and the synchroniser
//! that keeps one in step with a venue's snapshot + diff stream ([`BinanceBookSync`]).

pub mod order_book;
pub mod sync;

pub use order_book::{ApplyStats, FillEstimate, Level, OrderBook};
pub use sync::{
    BinanceBookSync, DiffIds, DiffOutcome, SnapshotOutcome, SyncRule, SyncState, SyncStats,
    DEFAULT_MAX_BUFFERED_DIFFS,
};
