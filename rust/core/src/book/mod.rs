//! Order books: the L2 book keyed by integer price ([`OrderBook`]) and the synchronisers
//! that keep one in step with a venue's stream: Binance snapshot + diff
//! ([`BinanceBookSync`]), OKX `books` with sequence ids and checksums ([`OkxBookSync`]),
//! Kraken `book` with checksums at a subscribed depth ([`KrakenBookSync`]).

mod checked;
pub mod kraken;
pub mod okx;
pub mod order_book;
pub mod sync;

pub use checked::{CheckedOutcome, CheckedStats};
pub use kraken::KrakenBookSync;
pub use okx::OkxBookSync;
pub use order_book::{ApplyStats, FillEstimate, Level, OrderBook};
pub use sync::{
    BinanceBookSync, DiffIds, DiffOutcome, SnapshotOutcome, SyncRule, SyncState, SyncStats,
    DEFAULT_MAX_BUFFERED_DIFFS,
};
