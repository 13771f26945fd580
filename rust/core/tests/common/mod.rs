//! Shared helpers for the tests that replay recorded data (`data/binance/` and
//! `data/cryptofeed/` at the repository root).

#![allow(dead_code)] // each test crate uses its own subset

pub mod counting_alloc;
pub mod cryptofeed;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::Arc;

use baconalgo_core::book::SyncRule;
use baconalgo_core::feed::{BinanceDecoder, BinanceMarket};
use baconalgo_core::model::{Instrument, InstrumentTable};

pub const SPOT_VENUE: u8 = 1;
pub const USDM_VENUE: u8 = 2;

/// One recorded market: its file, decoder settings and instrument grids. The price grid is
/// the PRICE_FILTER tickSize. The quantity grid of a *book* must be the asset's precision,
/// not the order LOT_SIZE step: the spot recording holds level quantities such as
/// `25.42618900`, finer than BTCUSDT's 0.00001 order step, so spot uses 8 decimals.
#[derive(Clone, Copy)]
pub struct Market {
    pub file: &'static str,
    pub market: BinanceMarket,
    pub rule: SyncRule,
    pub venue: u8,
    pub tick: &'static str,
    pub lot: &'static str,
}

pub const SPOT: Market = Market {
    file: "spot_btcusdt_20240808.gz",
    market: BinanceMarket::Spot,
    rule: SyncRule::Spot,
    venue: SPOT_VENUE,
    tick: "0.01",
    lot: "0.00000001",
};

pub const USDM: Market = Market {
    file: "usdm_btcusdt_20240808.gz",
    market: BinanceMarket::UsdM,
    rule: SyncRule::UsdM,
    venue: USDM_VENUE,
    tick: "0.10",
    lot: "0.001",
};

impl Market {
    /// A decoder and the instrument index of BTCUSDT.
    pub fn decoder(&self) -> (BinanceDecoder, u32) {
        let mut table = InstrumentTable::new();
        let index = table
            .insert(Instrument::new("BTCUSDT", self.venue, self.tick, self.lot).unwrap())
            .unwrap();
        (
            BinanceDecoder::new(self.market, self.venue, Arc::new(table)),
            index,
        )
    }

    /// Every line of the recording as (local receive time ns, JSON).
    pub fn lines(&self) -> Vec<(u64, String)> {
        let path: PathBuf = [
            env!("CARGO_MANIFEST_DIR"),
            "..",
            "..",
            "data",
            "binance",
            self.file,
        ]
        .iter()
        .collect();
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        BufReader::new(flate2::read::GzDecoder::new(file))
            .lines()
            .map(|line| {
                let line = line.unwrap();
                let (ts, json) = line.split_once(' ').expect("`<ts> <json>` line");
                (ts.parse().expect("local timestamp"), json.to_owned())
            })
            .collect()
    }
}

/// The REST snapshot is the one line that is not a combined-stream frame.
pub fn is_rest_snapshot(json: &str) -> bool {
    !json.starts_with(r#"{"stream""#) && json.contains("lastUpdateId")
}
