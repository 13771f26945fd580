//! The bundled real recording (`data/binance/spot_btcusdt_20240808.gz`) for the benches
//! that read it: its messages without their receive times, and a spot decoder for them.

use std::io::Read;
use std::sync::Arc;

use baconalgo_core::feed::{BinanceDecoder, BinanceMarket};
use baconalgo_core::model::{Instrument, InstrumentTable};

pub fn messages() -> Vec<Vec<u8>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/binance/spot_btcusdt_20240808.gz"
    );
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("recording"))
        .read_to_end(&mut raw)
        .expect("gunzip");
    raw.split(|&b| b == b'\n')
        .filter_map(|line| {
            let space = line.iter().position(|&b| b == b' ')?;
            Some(line[space + 1..].to_vec())
        })
        .collect()
}

/// A spot decoder with BTCUSDT (tick 0.01, lot 0.00000001) at index 0.
pub fn decoder() -> BinanceDecoder {
    let mut t = InstrumentTable::new();
    t.insert(Instrument::new("BTCUSDT", 1, "0.01", "0.00000001").expect("instrument"))
        .expect("table");
    BinanceDecoder::new(BinanceMarket::Spot, 1, Arc::new(t))
}
