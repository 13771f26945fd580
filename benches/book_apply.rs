//! Rust-only book figures on the bundled real recording
//! (`data/binance/spot_btcusdt_20240808.gz`): the REST snapshot (5,000 levels a side)
//! then every depth diff's level updates applied in one `apply_events` batch, and the
//! reads a strategy makes after each update (best bid/ask, depth(10)); the anchor is a
//! `BTreeMap` per side fed the same updates. The Python-side
//! figures, against nautilus_trader, come from `benches/feed_python.py`.
//!
//! `cargo bench -p baconalgo-core --bench book_apply`.

use std::hint::black_box;

use baconalgo_core::book::OrderBook;
use baconalgo_core::model::{Event, EventKind, Side};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

#[path = "recording.rs"]
mod recording;

/// The snapshot's events and the diffs' level updates, in recording order.
fn events() -> (Vec<Event>, Vec<Event>) {
    let mut dec = recording::decoder();
    let (mut snapshot, mut diffs) = (Vec::new(), Vec::new());
    for msg in recording::messages() {
        if msg.starts_with(b"{\"lastUpdateId\"") {
            dec.decode_depth_snapshot("BTCUSDT", &msg, 0, &mut snapshot)
                .expect("snapshot");
        } else if msg.windows(7).take(40).any(|w| w == b"@depth@") {
            dec.decode(&msg, 0, &mut diffs).expect("diff");
        }
    }
    diffs.retain(|e| e.kind == EventKind::BookDelta as u8 && e.side != Side::None as u8);
    (snapshot, diffs)
}

fn bench(c: &mut Criterion) {
    let (snapshot, diffs) = events();
    let mut group = c.benchmark_group("book");
    group.throughput(Throughput::Elements(diffs.len() as u64));
    let after_snapshot = || {
        let mut book = OrderBook::new(0);
        book.apply_events(&snapshot);
        book
    };
    group.bench_function("apply_diffs_after_snapshot", |b| {
        b.iter_batched_ref(
            after_snapshot,
            |book| {
                book.apply_events(black_box(&diffs));
                black_box(book.best_bid())
            },
            BatchSize::LargeInput,
        )
    });
    // The in-run anchor: one BTreeMap per side, the textbook L2 book.
    type Sides = [std::collections::BTreeMap<i64, i64>; 2];
    let btree_after_snapshot = || {
        let mut sides: Sides = Default::default();
        for e in snapshot
            .iter()
            .filter(|e| e.kind == EventKind::BookDelta as u8)
        {
            sides[usize::from(e.side == Side::Sell as u8)].insert(e.price_ticks, e.qty_lots);
        }
        sides
    };
    group.bench_function("btreemap_apply_diffs_after_snapshot", |b| {
        b.iter_batched_ref(
            btree_after_snapshot,
            |sides| {
                for e in black_box(&diffs) {
                    let side = &mut sides[usize::from(e.side == Side::Sell as u8)];
                    if e.qty_lots == 0 {
                        side.remove(&e.price_ticks);
                    } else {
                        side.insert(e.price_ticks, e.qty_lots);
                    }
                }
                black_box(sides[0].last_key_value().map(|(p, _)| *p))
            },
            BatchSize::LargeInput,
        )
    });
    let mut book = OrderBook::new(0);
    group.bench_function("apply_diffs_empty_book", |b| {
        b.iter(|| {
            book.clear();
            book.apply_events(black_box(&diffs));
            black_box(book.best_bid())
        })
    });
    group.bench_function("apply_one_then_read_top_and_depth10", |b| {
        b.iter_batched_ref(
            after_snapshot,
            |book| {
                let mut acc = 0i64;
                for e in &diffs {
                    book.apply_events(std::slice::from_ref(e));
                    acc += book.best_bid().map_or(0, |l| l.qty_lots);
                    acc += book.best_ask().map_or(0, |l| l.qty_lots);
                    acc += book.depth(Side::Buy, 10).map(|l| l.qty_lots).sum::<i64>();
                }
                black_box(acc)
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
