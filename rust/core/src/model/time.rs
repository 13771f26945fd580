//! Wall-clock time as u64 nanoseconds since the Unix epoch, UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Current wall-clock time in nanoseconds since the Unix epoch.
/// A clock set before 1970 reads as 0 rather than panicking.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
