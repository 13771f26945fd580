//! Proptest-driven fuzzing of the Binance decoder: arbitrary bytes and mutated real
//! messages (from `data/binance/`) must never panic, and a rejected message must leave the
//! output untouched. Decoded diffs are pushed through a synchroniser to exercise the book
//! with whatever survives decoding.

mod common;

use std::sync::OnceLock;

use baconalgo_core::book::BinanceBookSync;
use baconalgo_core::feed::{BinanceDecoder, MessageKind};
use baconalgo_core::model::Event;
use proptest::prelude::*;
use proptest::sample::Index;

use common::{is_rest_snapshot, Market, SPOT, USDM};

/// Real messages of every kind from both recordings: the REST snapshot and the first few
/// diffs, bookTickers and trades of each file.
fn corpus() -> &'static [(Market, String)] {
    static CORPUS: OnceLock<Vec<(Market, String)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut all = Vec::new();
        for m in [SPOT, USDM] {
            let mut taken = [0usize; 4];
            for (_, json) in m.lines() {
                let kind = if is_rest_snapshot(&json) {
                    0
                } else if json.contains("depthUpdate") {
                    1
                } else if json.contains("@bookTicker") {
                    2
                } else {
                    3
                };
                if taken[kind] < 40 {
                    taken[kind] += 1;
                    all.push((m, json));
                }
            }
        }
        all
    })
}

/// Decodes `bytes` as a stream message and as a REST snapshot and checks the contract:
/// no panic, output untouched on error, exactly `events` appended on success.
fn decode_checked(decoder: &mut BinanceDecoder, sync: &mut BinanceBookSync, bytes: &[u8]) {
    let mut out = vec![Event::default()];
    match decoder.decode(bytes, 1, &mut out) {
        Ok(d) => {
            assert_eq!(out.len(), 1 + d.events);
            match d.kind {
                MessageKind::DepthDiff => {
                    sync.on_diff(&out[1..]);
                }
                MessageKind::DepthSnapshot => {
                    sync.on_snapshot(&out[1..]);
                }
                _ => {}
            }
        }
        Err(e) => {
            assert_eq!(out.len(), 1, "{e}");
            assert!(!e.to_string().is_empty());
        }
    }
    out.truncate(1);
    match decoder.decode_depth_snapshot("BTCUSDT", bytes, 1, &mut out) {
        Ok(d) => {
            assert_eq!(out.len(), 1 + d.events);
            sync.on_snapshot(&out[1..]);
        }
        Err(_) => assert_eq!(out.len(), 1),
    }
    // Whatever the book went through, reading it must not panic either.
    let book = sync.book();
    let _ = (
        book.best_bid(),
        book.best_ask(),
        book.spread_ticks(),
        book.mid_ticks(),
        book.imbalance(5),
    );
    let _ = book.fill_estimate(baconalgo_core::model::Side::Buy, 1_000);
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Overwrite one byte.
    Set(Index, u8),
    /// Remove a run of bytes.
    Delete(Index, usize),
    /// Insert a JSON-ish token (numbers, strings, structure) at a position.
    Insert(Index, &'static str),
    /// Cut the message short.
    Truncate(Index),
    /// Replace the decimal string at a quote with a hostile value.
    ReplaceDecimal(Index, &'static str),
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
    "99999999999999999999999",
    "\"x\"",
    "[[\"1\",\"1\"]]",
    "\\u0000",
    "é",
    "\u{10FFFF}",
];

const DECIMALS: &[&str] = &[
    "",
    "-0.1",
    "1e5",
    "NaN",
    "1.2.3",
    ".5",
    "5.",
    "0.000000001",
    "92233720368547758.08",
    "99999999999999999999999999",
    "+1",
    " 1",
    "1 ",
    "0x10",
    "１",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), prop::sample::select(TOKENS)).prop_map(|(i, t)| Mutation::Insert(i, t)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), prop::sample::select(DECIMALS))
            .prop_map(|(i, d)| Mutation::ReplaceDecimal(i, d)),
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
        Mutation::ReplaceDecimal(ref i, d) => {
            // Pick one of the quoted decimal strings ("123.45") and swap its content.
            let quoted: Vec<(usize, usize)> = decimal_spans(msg);
            if quoted.is_empty() {
                return;
            }
            let (start, end) = quoted[i.index(quoted.len())];
            msg.splice(start..end, d.bytes());
        }
    }
}

/// Byte ranges of the contents of quoted strings that look like decimals.
fn decimal_spans(msg: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < msg.len() {
        if msg[i] == b'"' {
            let start = i + 1;
            let len = msg[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'.')
                .count();
            if len > 0 && msg.get(start + len) == Some(&b'"') {
                spans.push((start, start + len));
            }
            i = start + len;
        } else {
            i += 1;
        }
    }
    spans
}

fn decoders(m: Market) -> (BinanceDecoder, BinanceBookSync) {
    let (decoder, instrument) = m.decoder();
    (decoder, BinanceBookSync::new(m.rule, instrument))
}

#[test]
fn unmutated_corpus_decodes() {
    for (m, json) in corpus() {
        let (mut decoder, _) = decoders(*m);
        let mut out = Vec::new();
        let r = if is_rest_snapshot(json) {
            decoder.decode_depth_snapshot("BTCUSDT", json.as_bytes(), 0, &mut out)
        } else {
            decoder.decode(json.as_bytes(), 0, &mut out)
        };
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(corpus().len(), 2 * (1 + 3 * 40));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), futures in any::<bool>()) {
        let (mut decoder, mut sync) = decoders(if futures { USDM } else { SPOT });
        decode_checked(&mut decoder, &mut sync, &bytes);
    }

    #[test]
    fn json_like_noise_never_panics(s in r#"[\[\]{}":,0-9a-zA-Z.\-@_ ]{0,200}"#, futures in any::<bool>()) {
        let (mut decoder, mut sync) = decoders(if futures { USDM } else { SPOT });
        decode_checked(&mut decoder, &mut sync, s.as_bytes());
        let wrapped = format!(r#"{{"stream":"btcusdt@depth@100ms","data":{s}}}"#);
        decode_checked(&mut decoder, &mut sync, wrapped.as_bytes());
    }

    #[test]
    fn mutated_real_messages_never_panic(pick in any::<Index>(), mutations in prop::collection::vec(mutation(), 1..6)) {
        let (m, json) = &corpus()[pick.index(corpus().len())];
        let (mut decoder, mut sync) = decoders(*m);
        let mut msg = json.clone().into_bytes();
        for mu in &mutations {
            apply(&mut msg, mu);
        }
        decode_checked(&mut decoder, &mut sync, &msg);
    }

    #[test]
    fn mutated_diff_streams_never_panic_the_synchroniser(
        futures in any::<bool>(),
        mutations in prop::collection::vec((any::<Index>(), mutation()), 0..20),
    ) {
        // The snapshot then every corpus diff of one market, a few of them mutated: the
        // synchroniser sees gaps, stale and garbage-free but odd diffs, and must cope.
        let m = if futures { USDM } else { SPOT };
        let mut stream: Vec<Vec<u8>> = corpus()
            .iter()
            .filter(|(c, j)| c.market == m.market && (is_rest_snapshot(j) || j.contains("depthUpdate")))
            .map(|(_, j)| j.clone().into_bytes())
            .collect();
        for (i, mu) in &mutations {
            let at = i.index(stream.len());
            apply(&mut stream[at], mu);
        }
        let (mut decoder, mut sync) = decoders(m);
        for msg in &stream {
            decode_checked(&mut decoder, &mut sync, msg);
        }
    }
}
