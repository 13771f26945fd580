//! Rust-only decode rate of the Binance decoder on the bundled real recording
//! (`data/binance/spot_btcusdt_20240808.gz`): its depth diffs (about 36 levels each), its
//! trades and its bookTickers, each decoded message by message into one reused vector,
//! on the fast scanner and, as the in-run anchor, on the general serde path alone.
//! The Python-side figures, against orjson and msgspec, come from `benches/feed_python.py`.
//!
//! `cargo bench -p baconalgo-core --bench feed_decode`.

use std::hint::black_box;

use baconalgo_core::model::Event;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "recording.rs"]
mod recording;

fn bench(c: &mut Criterion) {
    let all = recording::messages();
    let mut group = c.benchmark_group("binance_decode");
    for (name, marker) in [
        ("depth_diff", &b"@depth@"[..]),
        ("trade", &b"@trade\""[..]),
        ("book_ticker", &b"@bookTicker"[..]),
    ] {
        let msgs: Vec<&[u8]> = all
            .iter()
            .filter(|m| m.windows(marker.len()).take(40).any(|w| w == marker))
            .map(|m| m.as_slice())
            .collect();
        let mut dec = recording::decoder();
        let mut out: Vec<Event> = Vec::with_capacity(1 << 18);
        for m in &msgs {
            dec.decode(m, 0, &mut out).expect("the recording decodes");
        }
        group.throughput(Throughput::Elements(msgs.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for m in &msgs {
                    let _ = dec.decode(black_box(m), 0, &mut out);
                }
                black_box(out.len())
            })
        });
        // The serde path alone on the same bytes: the in-run anchor for the fast scanner.
        group.bench_function(format!("{name}_serde_path"), |b| {
            b.iter(|| {
                out.clear();
                for m in &msgs {
                    let _ = dec.decode_reference(black_box(m), 0, &mut out);
                }
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
