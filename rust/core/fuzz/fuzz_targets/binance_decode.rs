//! The Binance decoder on arbitrary bytes: it must never panic, and its fast scanner must
//! agree with the serde reference path on every input (same result, same events, same
//! counters), since the fast path only ever takes what it reads exactly.
#![no_main]

use std::sync::Arc;

use baconalgo_core::feed::{BinanceDecoder, BinanceMarket};
use baconalgo_core::model::{Event, Instrument, InstrumentTable};
use libfuzzer_sys::fuzz_target;

fn decoder(market: BinanceMarket) -> BinanceDecoder {
    let mut t = InstrumentTable::new();
    t.insert(Instrument::new("BTCUSDT", 1, "0.01", "0.00000001").unwrap())
        .unwrap();
    BinanceDecoder::new(market, 1, Arc::new(t))
}

fuzz_target!(|data: &[u8]| {
    for market in [BinanceMarket::Spot, BinanceMarket::UsdM] {
        let (mut fast, mut reference) = (decoder(market), decoder(market));
        let (mut a, mut b) = (Vec::<Event>::new(), Vec::<Event>::new());
        let ra = fast.decode(data, 7, &mut a);
        let rb = reference.decode_reference(data, 7, &mut b);
        assert_eq!(ra, rb);
        assert_eq!(a, b);
        assert_eq!(fast.counters(), reference.counters());
    }
});
