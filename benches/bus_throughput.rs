//! Bus throughput against crossbeam-channel (bounded) and std mpsc (sync_channel), in one
//! run: 1P1C single and batched, 3P1C, 1P3C pipeline and 1P3C multicast.
//!
//! `cargo bench -p baconalgo-core --bench bus_throughput`. Each measured iteration pushes
//! `EVENTS` 64-byte events end to end (until the last consumer has seen the last one).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use baconalgo_core::bus::{Bus, BusBuilder, EventHandler, Producer, ProducerMode, WaitStrategy};
use baconalgo_core::model::Event;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const EVENTS: u64 = 1 << 20;
const RING: usize = 1 << 16;
const CHANNEL: usize = 1 << 16;
const BATCH: usize = 256;

/// What a consumer reports to the bench: events done and batches seen (a batch is what
/// one read of the producer's cursor released). Written at the end of each batch only.
#[derive(Default)]
struct Progress {
    done: AtomicU64,
    batches: AtomicU64,
}

struct Count {
    progress: Arc<Progress>,
    sum: u64,
    batches: u64,
}
impl EventHandler<Event> for Count {
    #[inline]
    fn on_event(&mut self, e: &Event, s: u64, end: bool) {
        self.sum = self.sum.wrapping_add(e.price_ticks as u64);
        if end {
            self.batches += 1;
            self.progress.batches.store(self.batches, Ordering::Relaxed);
            self.progress.done.store(s + 1, Ordering::Release);
        }
        black_box(self.sum);
    }
}

fn mark(progress: &Progress) -> (u64, u64) {
    (
        progress.done.load(Ordering::Acquire),
        progress.batches.load(Ordering::Relaxed),
    )
}

/// The average batch a consumer saw since `since`: 1 means it read the cursor after
/// every event, the regime where the cursor's cache line moves between cores per event.
fn report_batches(name: &str, progress: &Progress, since: (u64, u64)) {
    let (done, batches) = mark(progress);
    let (done, batches) = (done - since.0, (batches - since.1).max(1));
    if done == 0 {
        // Filtered out on the command line: nothing ran.
        return;
    }
    eprintln!(
        "{name}: {:.1} events per consumer batch ({done} events, {batches} batches)",
        done as f64 / batches as f64
    );
}

fn event(n: u64) -> Event {
    Event {
        seq: n,
        price_ticks: n as i64,
        kind: 1,
        ..Default::default()
    }
}

fn wait_for(progress: &Progress, target: u64) {
    while progress.done.load(Ordering::Acquire) < target {
        std::hint::spin_loop();
    }
}

fn bus_with(
    mode: ProducerMode,
    consumers: usize,
    pipeline: bool,
) -> (Bus<Event>, Vec<Arc<Progress>>) {
    let mut b = BusBuilder::<Event>::new(RING, mode, WaitStrategy::Yielding).unwrap();
    let mut counters = vec![];
    for i in 0..consumers {
        let c = Arc::new(Progress::default());
        let prev = format!("c{}", i.wrapping_sub(1));
        let after: Vec<&str> = if pipeline && i > 0 {
            vec![prev.as_str()]
        } else {
            vec![]
        };
        b.add_handler(
            &format!("c{i}"),
            Box::new(Count {
                progress: c.clone(),
                sum: 0,
                batches: 0,
            }),
            &after,
            None,
        )
        .unwrap();
        counters.push(c);
    }
    (b.start().unwrap(), counters)
}

/// A bounded channel the bus is compared with.
trait Channel {
    type Tx: Clone + Send + 'static;
    type Rx: Send + 'static;
    fn make() -> (Self::Tx, Self::Rx);
    fn send(tx: &Self::Tx, e: Event);
    fn recv(rx: &Self::Rx) -> Event;
}

struct Crossbeam;
impl Channel for Crossbeam {
    type Tx = crossbeam_channel::Sender<Event>;
    type Rx = crossbeam_channel::Receiver<Event>;
    fn make() -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(CHANNEL)
    }
    fn send(tx: &Self::Tx, e: Event) {
        tx.send(e).unwrap()
    }
    fn recv(rx: &Self::Rx) -> Event {
        rx.recv().unwrap()
    }
}

struct StdMpsc;
impl Channel for StdMpsc {
    type Tx = std::sync::mpsc::SyncSender<Event>;
    type Rx = std::sync::mpsc::Receiver<Event>;
    fn make() -> (Self::Tx, Self::Rx) {
        std::sync::mpsc::sync_channel(CHANNEL)
    }
    fn send(tx: &Self::Tx, e: Event) {
        tx.send(e).unwrap()
    }
    fn recv(rx: &Self::Rx) -> Event {
        rx.recv().unwrap()
    }
}

/// `producers` threads (the caller itself when 1) each send `per` events per iteration to
/// one consumer thread; timed until the consumer has received the last.
fn channel_run<C: Channel>(iters: u64, producers: u64, per: u64) -> Duration {
    let (tx, rx) = C::make();
    let total = iters * producers * per;
    let consumer = std::thread::spawn(move || {
        let mut sum = 0u64;
        for _ in 0..total {
            sum = sum.wrapping_add(C::recv(&rx).price_ticks as u64);
        }
        black_box(sum);
    });
    let start = Instant::now();
    for _ in 0..iters {
        if producers == 1 {
            (0..per).for_each(|n| C::send(&tx, event(n)));
            continue;
        }
        let threads: Vec<_> = (0..producers)
            .map(|_| {
                let tx = tx.clone();
                std::thread::spawn(move || (0..per).for_each(|n| C::send(&tx, event(n))))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
    }
    consumer.join().unwrap();
    start.elapsed()
}

fn one_producer_one_consumer(c: &mut Criterion) {
    let mut g = c.benchmark_group("1p1c");
    g.throughput(Throughput::Elements(EVENTS));
    g.sample_size(10).measurement_time(Duration::from_secs(4));

    let batch: Vec<Event> = (0..BATCH as u64).map(event).collect();
    {
        let (bus, counters) = bus_with(ProducerMode::Single, 1, false);
        let mut p = bus.producer().unwrap();
        let mut done = 0u64;
        let since = mark(&counters[0]);
        g.bench_function("bus_batched", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..EVENTS / BATCH as u64 {
                        p.publish_batch(&batch).unwrap();
                    }
                    done += EVENTS;
                    wait_for(&counters[0], done);
                }
                start.elapsed()
            })
        });
        report_batches("1p1c/bus_batched", &counters[0], since);
    }
    {
        let (bus, counters) = bus_with(ProducerMode::Single, 1, false);
        let mut p = bus.producer().unwrap();
        let mut done = 0u64;
        let since = mark(&counters[0]);
        g.bench_function("bus_single", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    for n in 0..EVENTS {
                        p.publish(event(n)).unwrap();
                    }
                    done += EVENTS;
                    wait_for(&counters[0], done);
                }
                start.elapsed()
            })
        });
        report_batches("1p1c/bus_single", &counters[0], since);
    }
    g.bench_function("crossbeam_bounded", |b| {
        b.iter_custom(|iters| channel_run::<Crossbeam>(iters, 1, EVENTS))
    });
    g.bench_function("std_mpsc_sync", |b| {
        b.iter_custom(|iters| channel_run::<StdMpsc>(iters, 1, EVENTS))
    });
    g.finish();
}

fn three_producers_one_consumer(c: &mut Criterion) {
    let mut g = c.benchmark_group("3p1c");
    g.throughput(Throughput::Elements(EVENTS));
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    let per = EVENTS / 3;
    let batch: Vec<Event> = (0..BATCH as u64).map(event).collect();
    {
        let (bus, counters) = bus_with(ProducerMode::Multi, 1, false);
        let mut done = 0u64;
        let template = bus.producer().unwrap();
        let since = mark(&counters[0]);
        g.bench_function("bus_batched", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let threads: Vec<_> = (0..3)
                        .map(|_| {
                            let mut p: Producer<Event> = template.try_clone().unwrap();
                            let batch = batch.clone();
                            std::thread::spawn(move || {
                                for _ in 0..per / BATCH as u64 {
                                    p.publish_batch(&batch).unwrap();
                                }
                            })
                        })
                        .collect();
                    threads.into_iter().for_each(|t| t.join().unwrap());
                    done += 3 * (per / BATCH as u64) * BATCH as u64;
                    wait_for(&counters[0], done);
                }
                start.elapsed()
            })
        });
        report_batches("3p1c/bus_batched", &counters[0], since);
        let since = mark(&counters[0]);
        g.bench_function("bus_single", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let threads: Vec<_> = (0..3)
                        .map(|_| {
                            let mut p = template.try_clone().unwrap();
                            std::thread::spawn(move || {
                                for n in 0..per {
                                    p.publish(event(n)).unwrap();
                                }
                            })
                        })
                        .collect();
                    threads.into_iter().for_each(|t| t.join().unwrap());
                    done += 3 * per;
                    wait_for(&counters[0], done);
                }
                start.elapsed()
            })
        });
        report_batches("3p1c/bus_single", &counters[0], since);
    }
    g.bench_function("crossbeam_bounded", |b| {
        b.iter_custom(|iters| channel_run::<Crossbeam>(iters, 3, per))
    });
    g.bench_function("std_mpsc_sync", |b| {
        b.iter_custom(|iters| channel_run::<StdMpsc>(iters, 3, per))
    });
    g.finish();
}

fn one_producer_three_consumers(c: &mut Criterion) {
    for (group, pipeline) in [("1p3c_pipeline", true), ("1p3c_multicast", false)] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(EVENTS));
        g.sample_size(10).measurement_time(Duration::from_secs(4));
        let batch: Vec<Event> = (0..BATCH as u64).map(event).collect();
        {
            let (bus, counters) = bus_with(ProducerMode::Single, 3, pipeline);
            let mut p = bus.producer().unwrap();
            let mut done = 0u64;
            let since = mark(&counters[0]);
            g.bench_function("bus_batched", |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        for _ in 0..EVENTS / BATCH as u64 {
                            p.publish_batch(&batch).unwrap();
                        }
                        done += EVENTS;
                        counters.iter().for_each(|c| wait_for(c, done));
                    }
                    start.elapsed()
                })
            });
            report_batches(&format!("{group}/bus_batched"), &counters[0], since);
        }
        g.bench_function("crossbeam_bounded", |b| {
            b.iter_custom(|iters| {
                let total = iters * EVENTS;
                let start;
                if pipeline {
                    // Three stages, each forwarding to the next, as a channel pipeline must.
                    let (tx0, rx0) = crossbeam_channel::bounded::<Event>(CHANNEL);
                    let (tx1, rx1) = crossbeam_channel::bounded::<Event>(CHANNEL);
                    let (tx2, rx2) = crossbeam_channel::bounded::<Event>(CHANNEL);
                    let s1 = std::thread::spawn(move || {
                        (0..total).for_each(|_| tx1.send(rx0.recv().unwrap()).unwrap())
                    });
                    let s2 = std::thread::spawn(move || {
                        (0..total).for_each(|_| tx2.send(rx1.recv().unwrap()).unwrap())
                    });
                    let s3 = std::thread::spawn(move || {
                        (0..total).for_each(|_| {
                            black_box(rx2.recv().unwrap());
                        })
                    });
                    start = Instant::now();
                    for _ in 0..iters {
                        (0..EVENTS).for_each(|n| tx0.send(event(n)).unwrap());
                    }
                    [s1, s2, s3].into_iter().for_each(|t| t.join().unwrap());
                } else {
                    // A channel delivers each message once, so multicast sends a copy to each.
                    let (txs, rxs): (Vec<_>, Vec<_>) = (0..3)
                        .map(|_| crossbeam_channel::bounded::<Event>(CHANNEL))
                        .unzip();
                    let threads: Vec<_> = rxs
                        .into_iter()
                        .map(|rx| {
                            std::thread::spawn(move || {
                                (0..total).for_each(|_| {
                                    black_box(rx.recv().unwrap());
                                })
                            })
                        })
                        .collect();
                    start = Instant::now();
                    for _ in 0..iters {
                        for n in 0..EVENTS {
                            let e = event(n);
                            txs.iter().for_each(|tx| tx.send(e).unwrap());
                        }
                    }
                    threads.into_iter().for_each(|t| t.join().unwrap());
                }
                start.elapsed()
            })
        });
        g.finish();
    }
}

criterion_group!(
    benches,
    one_producer_one_consumer,
    three_producers_one_consumer,
    one_producer_three_consumers
);
criterion_main!(benches);
