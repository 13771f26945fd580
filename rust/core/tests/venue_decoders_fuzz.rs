//! Proptest-driven fuzzing of the OKX, Kraken and Coinbase decoders: arbitrary bytes and
//! mutated real messages (OKX and Kraken from `data/cryptofeed/`; Coinbase from messages
//! written after its documented format, as no recording exists) must never panic, a rejected
//! message must leave the output untouched, and whatever decodes is pushed through the
//! checksummed-book synchronisers, which must not panic either.

mod common;

use std::sync::{Arc, OnceLock};

use baconalgo_core::book::{KrakenBookSync, OkxBookSync};
use baconalgo_core::feed::{CoinbaseDecoder, Decoded, FeedError, KrakenDecoder, OkxDecoder};
use baconalgo_core::model::{Event, Instrument, InstrumentTable, Side};
use proptest::prelude::*;
use proptest::sample::Index;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Venue {
    Okx,
    Kraken,
    Coinbase,
}

const VENUES: [Venue; 3] = [Venue::Okx, Venue::Kraken, Venue::Coinbase];

fn table() -> Arc<InstrumentTable> {
    let mut t = InstrumentTable::new();
    for (sym, venue, tick, lot) in [
        ("BTC-USD-220527", 3, "0.1", "1"),
        ("UNI-USD-SWAP", 3, "0.001", "1"),
        ("BTC-USDT", 3, "0.1", "0.00000001"),
        // The ten pairs of the Kraken capture, on the grids its prices lie on.
        ("WAVES/EUR", 4, "0.0001", "0.00000001"),
        ("XMR/USD", 4, "0.01", "0.00000001"),
        ("KSM/XBT", 4, "0.000001", "0.00000001"),
        ("GRT/ETH", 4, "0.0000001", "0.00000001"),
        ("SC/EUR", 4, "0.00001", "0.00000001"),
        ("ETH/CHF", 4, "0.01", "0.00000001"),
        ("OCEAN/XBT", 4, "0.00000001", "0.00000001"),
        ("OMG/USD", 4, "0.000001", "0.00000001"),
        ("XBT/CHF", 4, "0.1", "0.00000001"),
        ("ADA/XBT", 4, "0.00000001", "0.00000001"),
        ("BTC-USD", 5, "0.01", "0.00000001"),
    ] {
        t.insert(Instrument::new(sym, venue, tick, lot).unwrap())
            .unwrap();
    }
    Arc::new(t)
}

/// A venue's decoder and synchroniser(s), fed one message at a time.
struct Harness {
    okx: OkxDecoder,
    kraken: KrakenDecoder,
    coinbase: CoinbaseDecoder,
    okx_sync: OkxBookSync,
    kraken_sync: KrakenBookSync,
}

impl Harness {
    fn new() -> Harness {
        let t = table();
        let (okx_book, kraken_book) = (
            t.index_of(3, "BTC-USDT").unwrap(),
            t.index_of(4, "XMR/USD").unwrap(),
        );
        Harness {
            okx: OkxDecoder::new(3, t.clone()),
            kraken: KrakenDecoder::new(4, t.clone()),
            coinbase: CoinbaseDecoder::new(5, t.clone()),
            okx_sync: OkxBookSync::new(okx_book, t.get(okx_book).unwrap()),
            kraken_sync: KrakenBookSync::new(kraken_book, t.get(kraken_book).unwrap(), 1000),
        }
    }

    /// Decodes `bytes` as `venue` and checks the contract: no panic, output untouched on
    /// error, exactly `events` appended on success.
    fn feed(&mut self, venue: Venue, bytes: &[u8]) {
        let mut out = vec![Event::default()];
        let r: Result<Decoded, FeedError> = match venue {
            Venue::Okx => self.okx.decode(bytes, 1, &mut out),
            Venue::Kraken => self.kraken.decode(bytes, 1, &mut out),
            Venue::Coinbase => self.coinbase.decode(bytes, 1, &mut out),
        };
        match r {
            Ok(d) => {
                assert_eq!(out.len(), 1 + d.events);
                let events = &out[1..];
                match venue {
                    Venue::Okx => {
                        self.okx_sync.on_message(events);
                    }
                    Venue::Kraken => {
                        self.kraken_sync.on_message(events);
                    }
                    Venue::Coinbase => {}
                }
            }
            Err(e) => {
                assert_eq!(out.len(), 1, "{e}");
                assert!(!e.to_string().is_empty());
            }
        }
        for book in [self.okx_sync.book(), self.kraken_sync.book()] {
            let _ = (book.best_bid(), book.best_ask(), book.imbalance(5));
            let _ = book.fill_estimate(Side::Buy, 1_000);
        }
    }
}

/// Coinbase Advanced Trade messages written from the documented format (no recording).
const COINBASE_MESSAGES: [&str; 4] = [
    r#"{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":0,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"1970-01-01T00:00:00Z","price_level":"21921.73","new_quantity":"0.06317902"},{"side":"offer","event_time":"1970-01-01T00:00:00Z","price_level":"21921.74","new_quantity":"1.2"}]}]}"#,
    r#"{"channel":"l2_data","client_id":"","timestamp":"2023-02-09T20:32:51Z","sequence_num":1,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"offer","event_time":"2023-02-09T20:32:51Z","price_level":"21921.74","new_quantity":"0"}]}]}"#,
    r#"{"channel":"market_trades","client_id":"","timestamp":"2023-02-09T20:19:35.39625135Z","sequence_num":2,"events":[{"type":"update","trades":[{"trade_id":"1","product_id":"BTC-USD","price":"21921.73","size":"0.3","side":"SELL","time":"2023-02-09T20:19:35Z"}]}]}"#,
    r#"{"channel":"ticker","client_id":"","timestamp":"2023-02-09T20:30:37.167359596Z","sequence_num":3,"events":[{"type":"update","tickers":[{"type":"ticker","product_id":"BTC-USD","price":"21932.98","best_bid":"21931.98","best_bid_quantity":"8000.21","best_ask":"21933.98","best_ask_quantity":"8038.07770938"}]}]}"#,
];

/// Real OKX and Kraken messages of every kind (the first 40 books messages and every
/// other kind), plus the Coinbase messages.
fn corpus() -> &'static [(Venue, String)] {
    static CORPUS: OnceLock<Vec<(Venue, String)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut all = Vec::new();
        for (venue, file, book_marker) in [
            (Venue::Okx, "OKX.ws.1.0.gz", r#""channel":"books""#),
            (Venue::Kraken, "KRAKEN.ws.50.0.gz", "book-1000"),
        ] {
            let mut books = 0;
            let mut others = 0;
            for (_, json) in common::cryptofeed::received(file) {
                let is_book = json.contains(book_marker) && !json.contains("subscriptionStatus");
                if is_book && books < 40 {
                    books += 1;
                    all.push((venue, json));
                } else if !is_book && others < 40 {
                    others += 1;
                    all.push((venue, json));
                }
            }
        }
        all.extend(
            COINBASE_MESSAGES
                .iter()
                .map(|m| (Venue::Coinbase, m.to_string())),
        );
        all
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(Index, u8),
    Delete(Index, usize),
    Insert(Index, &'static str),
    Truncate(Index),
}

const TOKENS: &[&str] = &[
    "-",
    "\"",
    "\\",
    ",",
    ":",
    "[",
    "]",
    "{",
    "}",
    "null",
    "true",
    "1e999",
    "-1",
    "0",
    "0.0",
    "99999999999999999999999",
    "\"x\"",
    "[\"1\",\"1\"]",
    "{\"price\":1}",
    "\\u0000",
    "é",
    "r",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), prop::sample::select(TOKENS)).prop_map(|(i, t)| Mutation::Insert(i, t)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(msg: &mut Vec<u8>, m: &Mutation) {
    if msg.is_empty() {
        return;
    }
    match *m {
        Mutation::Set(ref i, b) => {
            let at = i.index(msg.len());
            msg[at] = b;
        }
        Mutation::Delete(ref i, n) => {
            let at = i.index(msg.len());
            let end = (at + n).min(msg.len());
            msg.drain(at..end);
        }
        Mutation::Insert(ref i, t) => {
            let at = i.index(msg.len() + 1);
            msg.splice(at..at, t.bytes());
        }
        Mutation::Truncate(ref i) => msg.truncate(i.index(msg.len())),
    }
}

#[test]
fn unmutated_corpus_decodes() {
    let mut h = Harness::new();
    for (venue, json) in corpus() {
        let mut out = Vec::new();
        let r = match venue {
            Venue::Okx => h.okx.decode(json.as_bytes(), 0, &mut out),
            Venue::Kraken => h.kraken.decode(json.as_bytes(), 0, &mut out),
            Venue::Coinbase => h.coinbase.decode(json.as_bytes(), 0, &mut out),
        };
        assert!(r.is_ok(), "{r:?}: {}", &json[..json.len().min(200)]);
    }
    assert_eq!(corpus().len(), 40 + 40 + 40 + 40 + COINBASE_MESSAGES.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut h = Harness::new();
        for venue in VENUES {
            h.feed(venue, &bytes);
        }
    }

    #[test]
    fn json_like_noise_never_panics(s in r#"[\[\]{}":,0-9a-zA-Z.\-_ ]{0,200}"#) {
        let mut h = Harness::new();
        for venue in VENUES {
            h.feed(venue, s.as_bytes());
        }
        h.feed(Venue::Kraken, format!(r#"[1,{s},"book-1000","XMR/USD"]"#).as_bytes());
        h.feed(Venue::Okx, format!(r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"update","data":[{s}]}}"#).as_bytes());
    }

    #[test]
    fn mutated_real_messages_never_panic(pick in any::<Index>(), mutations in prop::collection::vec(mutation(), 1..6)) {
        let (venue, json) = &corpus()[pick.index(corpus().len())];
        let mut msg = json.clone().into_bytes();
        for m in &mutations {
            apply(&mut msg, m);
        }
        Harness::new().feed(*venue, &msg);
    }

    #[test]
    fn mutated_streams_never_panic_the_synchronisers(
        mutations in prop::collection::vec((any::<Index>(), mutation()), 0..20),
    ) {
        // Each venue's corpus in order, a few messages mutated: the synchronisers see
        // snapshots, updates, gaps and checksum failures and must cope.
        let mut stream: Vec<(Venue, Vec<u8>)> = corpus()
            .iter()
            .map(|(v, j)| (*v, j.clone().into_bytes()))
            .collect();
        for (i, m) in &mutations {
            let at = i.index(stream.len());
            apply(&mut stream[at].1, m);
        }
        let mut h = Harness::new();
        for (venue, msg) in &stream {
            h.feed(*venue, msg);
        }
    }
}
