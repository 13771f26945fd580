//! Per-hop latency of one event from producer to consumer, p50 / p99 / p99.9, for the bus
//! (each wait strategy) against crossbeam-channel and std mpsc, in one run.
//!
//! `cargo bench -p baconalgo-core --bench bus_latency`. One event in flight at a time, so
//! the figure is the hop itself, not queueing. Needs two free cores to mean anything.
//!
//! A hop is `clock()` read by the consumer minus `clock()` read by the producer just before
//! it publishes, so each figure includes about one clock read; the first row measures that
//! cost (two reads back to back). The second row is the machine's floor for any hop: one
//! cache line written by one core and spun on by the other, no queue at all. Producer and
//! consumer are pinned to cores 0 and 1 for every row, so rows differ only by transport.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use baconalgo_core::bus::{BusBuilder, EventHandler, ProducerMode, WaitStrategy};
use baconalgo_core::model::Event;

const SAMPLES: usize = 200_000;
const WARMUP: usize = 20_000;

fn clock() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

struct Stamp {
    out: Arc<std::sync::Mutex<Vec<u64>>>,
    local: Vec<u64>,
    seen: Arc<AtomicU64>,
}

impl EventHandler<Event> for Stamp {
    fn on_event(&mut self, e: &Event, s: u64, _end: bool) {
        self.local.push(clock() - e.ts_event_ns);
        self.seen.store(s + 1, Ordering::Release);
    }
    fn on_shutdown(&mut self) {
        *self.out.lock().unwrap() = std::mem::take(&mut self.local);
    }
}

fn percentiles(mut v: Vec<u64>) -> (u64, u64, u64) {
    let v: &mut Vec<u64> = {
        v.drain(..WARMUP.min(v.len()));
        &mut v
    };
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize];
    (at(0.50), at(0.99), at(0.999))
}

const PRODUCER_CORE: usize = 0;
const CONSUMER_CORE: usize = 1;

fn pin(core: usize) {
    core_affinity::set_for_current(core_affinity::CoreId { id: core });
}

/// Two clock reads back to back: the part of every hop below that is the ruler itself.
fn clock_cost() -> Vec<u64> {
    (0..SAMPLES + WARMUP)
        .map(|_| {
            let a = clock();
            clock() - a
        })
        .collect()
}

/// The floor: the producer stores its timestamp into one cache line, the consumer spins on
/// that line and answers on another. Any queue's hop costs at least this.
fn line_hops() -> Vec<u64> {
    use crossbeam_utils::CachePadded;
    let stamp = Arc::new(CachePadded::new(AtomicU64::new(0)));
    let seen = Arc::new(CachePadded::new(AtomicU64::new(0)));
    let (stamp_c, seen_c) = (stamp.clone(), seen.clone());
    let consumer = std::thread::spawn(move || {
        pin(CONSUMER_CORE);
        let mut v = Vec::with_capacity(SAMPLES + WARMUP);
        for n in 0..(SAMPLES + WARMUP) as u64 {
            let t0 = loop {
                let t0 = stamp_c.load(Ordering::Acquire);
                // The low bit carries the sample's parity so equal timestamps still differ.
                if t0 != 0 && (t0 & 1) == (n & 1) {
                    break t0;
                }
                std::hint::spin_loop();
            };
            v.push(clock().saturating_sub(t0 >> 1));
            seen_c.store(n + 1, Ordering::Release);
        }
        v
    });
    for n in 0..(SAMPLES + WARMUP) as u64 {
        stamp.store((clock() << 1) | (n & 1), Ordering::Release);
        while seen.load(Ordering::Acquire) <= n {
            std::hint::spin_loop();
        }
    }
    consumer.join().unwrap()
}

fn bus_hops(wait: WaitStrategy) -> Vec<u64> {
    let out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::new(AtomicU64::new(0));
    let mut b = BusBuilder::<Event>::new(1024, ProducerMode::Single, wait).unwrap();
    let h = Stamp {
        out: out.clone(),
        local: Vec::with_capacity(SAMPLES + WARMUP),
        seen: seen.clone(),
    };
    b.add_handler("stamp", Box::new(h), &[], Some(CONSUMER_CORE))
        .unwrap();
    let bus = b.start().unwrap();
    let mut p = bus.producer().unwrap();
    for n in 0..(SAMPLES + WARMUP) as u64 {
        p.publish(Event {
            ts_event_ns: clock(),
            seq: n,
            ..Default::default()
        })
        .unwrap();
        while seen.load(Ordering::Acquire) <= n {
            std::hint::spin_loop();
        }
    }
    bus.shutdown();
    let v = std::mem::take(&mut *out.lock().unwrap());
    v
}

fn channel_hops<S, R>(send: S, recv: R) -> Vec<u64>
where
    S: Fn(Event),
    R: FnMut() -> Option<Event> + Send + 'static,
{
    let seen = Arc::new(AtomicU64::new(0));
    let seen_c = seen.clone();
    let consumer = std::thread::spawn(move || {
        pin(CONSUMER_CORE);
        let mut recv = recv;
        let mut v = Vec::with_capacity(SAMPLES + WARMUP);
        while let Some(e) = recv() {
            v.push(clock() - e.ts_event_ns);
            seen_c.store(e.seq + 1, Ordering::Release);
        }
        v
    });
    for n in 0..(SAMPLES + WARMUP) as u64 {
        send(Event {
            ts_event_ns: clock(),
            seq: n,
            ..Default::default()
        });
        while seen.load(Ordering::Acquire) <= n {
            std::hint::spin_loop();
        }
    }
    send(Event {
        kind: 255,
        ..Default::default()
    });
    consumer.join().unwrap()
}

fn main() {
    // `cargo bench` passes --bench; a filter argument, if any, is ignored.
    let _ = black_box(clock());
    pin(PRODUCER_CORE);
    println!("| transport | p50 ns | p99 ns | p99.9 ns |");
    println!("|---|---|---|---|");
    let row = |name: &str, v: Vec<u64>| {
        let (p50, p99, p999) = percentiles(v);
        println!("| {name} | {p50} | {p99} | {p999} |");
    };
    row("clock read (back to back)", clock_cost());
    row("floor: one cache line, store -> spin", line_hops());
    row("bus busy_spin", bus_hops(WaitStrategy::BusySpin));
    row("bus yielding", bus_hops(WaitStrategy::Yielding));
    row("bus blocking", bus_hops(WaitStrategy::Blocking));
    {
        let (tx, rx) = crossbeam_channel::bounded::<Event>(1024);
        row(
            "crossbeam bounded",
            channel_hops(
                move |e| tx.send(e).unwrap(),
                move || rx.recv().ok().filter(|e| e.kind != 255),
            ),
        );
    }
    {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Event>(1024);
        row(
            "std mpsc sync_channel",
            channel_hops(
                move |e| tx.send(e).unwrap(),
                move || rx.recv().ok().filter(|e| e.kind != 255),
            ),
        );
    }
}
