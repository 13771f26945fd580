//! Per-hop latency of one event from producer to consumer, p50 / p99 / p99.9, for the bus
//! (busy-spin and yielding) against crossbeam-channel and std mpsc, in one run.
//!
//! `cargo bench -p baconalgo-core --bench bus_latency`. One event in flight at a time, so
//! the figure is the hop itself, not queueing. Needs two free cores to mean anything.

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

fn bus_hops(wait: WaitStrategy) -> Vec<u64> {
    let out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::new(AtomicU64::new(0));
    let mut b = BusBuilder::<Event>::new(1024, ProducerMode::Single, wait).unwrap();
    let h = Stamp {
        out: out.clone(),
        local: Vec::with_capacity(SAMPLES + WARMUP),
        seen: seen.clone(),
    };
    b.add_handler("stamp", Box::new(h), &[], None).unwrap();
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
    println!("| transport | p50 ns | p99 ns | p99.9 ns |");
    println!("|---|---|---|---|");
    let row = |name: &str, v: Vec<u64>| {
        let (p50, p99, p999) = percentiles(v);
        println!("| {name} | {p50} | {p99} | {p999} |");
    };
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
