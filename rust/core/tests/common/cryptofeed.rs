//! Reads cryptofeed raw websocket captures (`data/cryptofeed/` at the repository root):
//! line 1 `<url> <-> <connect_ts>`, sent frames `<url> <- <ts>: <json>`, received frames
//! `<ts>: <json>`, timestamps in local Unix seconds with a fraction.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

/// Received frames of a capture as (local receive time ns, JSON), in order.
pub fn received(file: &str) -> Vec<(u64, String)> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "data",
        "cryptofeed",
        file,
    ]
    .iter()
    .collect();
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(flate2::read::GzDecoder::new(f))
        .lines()
        .map(|l| l.unwrap())
        // Sent frames and the connect line start with the URL; the Kraken capture also
        // holds empty lines.
        .filter(|l| !l.is_empty() && !l.starts_with("wss://") && !l.starts_with("https://"))
        .map(|l| {
            let (ts, json) = l.split_once(": ").expect("`<ts>: <json>` line");
            (secs_to_ns(ts), json.to_owned())
        })
        .collect()
}

/// `"1652459225.5037491"` -> ns, by digits (no float).
fn secs_to_ns(ts: &str) -> u64 {
    let (s, frac) = ts.split_once('.').unwrap_or((ts, ""));
    let mut frac = frac.to_owned();
    frac.truncate(9);
    while frac.len() < 9 {
        frac.push('0');
    }
    s.parse::<u64>().unwrap() * 1_000_000_000 + frac.parse::<u64>().unwrap()
}
