//! The bus's contract seen from outside: ordering, dependencies, multicast, back-pressure,
//! shutdown drain, and nothing lost or duplicated under concurrency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baconalgo_core::bus::handlers::handler_by_name;
use baconalgo_core::bus::{
    BusBuilder, BusError, EventHandler, Producer, ProducerMode, WaitStrategy,
};
use baconalgo_core::model::Event;
use proptest::prelude::*;

/// Records every event it sees; checks a dependency had processed it first.
struct Recorder {
    seen: Arc<Mutex<Vec<Event>>>,
    upstream: Option<Arc<Mutex<Vec<Event>>>>,
    violations: Arc<AtomicU64>,
}

impl EventHandler<Event> for Recorder {
    fn on_event(&mut self, event: &Event, sequence: u64, _end: bool) {
        if let Some(up) = &self.upstream {
            // A dependent consumer must never see an event its upstream has not processed.
            if (up.lock().unwrap().len() as u64) <= sequence {
                self.violations.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.seen.lock().unwrap().push(*event);
    }
}

fn ev(producer: u32, n: u64) -> Event {
    Event {
        instrument: producer,
        seq: n,
        price_ticks: (n * 7) as i64,
        kind: 1,
        ..Default::default()
    }
}

#[test]
fn pipeline_consumer_sees_each_event_only_after_its_dependency() {
    for wait in [
        WaitStrategy::BusySpin,
        WaitStrategy::Yielding,
        WaitStrategy::Blocking,
    ] {
        let mut b = BusBuilder::<Event>::new(8, ProducerMode::Single, wait).unwrap();
        let a_seen = Arc::new(Mutex::new(Vec::new()));
        let b_seen = Arc::new(Mutex::new(Vec::new()));
        let violations = Arc::new(AtomicU64::new(0));
        let a = Recorder {
            seen: a_seen.clone(),
            upstream: None,
            violations: violations.clone(),
        };
        b.add_handler("a", Box::new(a), &[], None).unwrap();
        let r = Recorder {
            seen: b_seen.clone(),
            upstream: Some(a_seen.clone()),
            violations: violations.clone(),
        };
        b.add_handler("b", Box::new(r), &["a"], None).unwrap();
        let bus = b.start().unwrap();
        let mut p = bus.producer().unwrap();
        let events: Vec<Event> = (0..1000).map(|n| ev(0, n)).collect();
        for e in &events {
            p.publish(*e).unwrap();
        }
        bus.shutdown();
        assert_eq!(*a_seen.lock().unwrap(), events, "{wait:?}");
        assert_eq!(*b_seen.lock().unwrap(), events, "{wait:?}");
        assert_eq!(violations.load(Ordering::Relaxed), 0, "{wait:?}");
    }
}

#[test]
fn multicast_consumers_each_see_every_event() {
    let mut b = BusBuilder::<Event>::new(16, ProducerMode::Single, WaitStrategy::Yielding).unwrap();
    let seen: Vec<Arc<Mutex<Vec<Event>>>> =
        (0..3).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
    for (i, s) in seen.iter().enumerate() {
        let r = Recorder {
            seen: s.clone(),
            upstream: None,
            violations: Arc::new(AtomicU64::new(0)),
        };
        b.add_handler(&format!("c{i}"), Box::new(r), &[], None)
            .unwrap();
    }
    let bus = b.start().unwrap();
    let mut p = bus.producer().unwrap();
    let events: Vec<Event> = (0..500).map(|n| ev(0, n)).collect();
    p.publish_batch(&events).unwrap();
    bus.shutdown();
    for s in seen {
        assert_eq!(*s.lock().unwrap(), events);
    }
}

#[test]
fn full_ring_refuses_try_publish_and_never_overwrites_unconsumed_events() {
    let mut b = BusBuilder::<Event>::new(4, ProducerMode::Single, WaitStrategy::Yielding).unwrap();
    b.add_poller("slow", &[]).unwrap();
    let bus = b.start().unwrap();
    let mut p = bus.producer().unwrap();
    for n in 0..4 {
        p.try_publish(ev(0, n)).unwrap();
    }
    assert_eq!(p.try_publish(ev(0, 4)), Err(BusError::Full));
    assert_eq!(
        p.try_publish_batch(&[ev(0, 4), ev(0, 5)]),
        Err(BusError::Full)
    );
    let poller = bus.poller("slow").unwrap();
    let mut out = [Event::default(); 2];
    assert_eq!(poller.poll(&mut out), Ok(2));
    assert_eq!(out.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 1]);
    p.try_publish_batch(&[ev(0, 4), ev(0, 5)]).unwrap();
    let mut rest = [Event::default(); 8];
    assert_eq!(poller.poll(&mut rest), Ok(4));
    assert_eq!(
        rest[..4].iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![2, 3, 4, 5]
    );
    assert_eq!(
        p.try_publish_batch(&[Event::default(); 5]),
        Err(BusError::BatchTooLarge {
            requested: 5,
            capacity: 4
        })
    );
}

#[test]
fn blocked_producer_resumes_when_the_consumer_catches_up() {
    let mut b = BusBuilder::<Event>::new(4, ProducerMode::Single, WaitStrategy::Blocking).unwrap();
    b.add_poller("p", &[]).unwrap();
    let bus = Arc::new(b.start().unwrap());
    let mut producer = bus.producer().unwrap();
    let writer = std::thread::spawn(move || {
        for n in 0..100 {
            producer.publish(ev(0, n)).unwrap();
        }
    });
    let mut got = Vec::new();
    let mut buf = [Event::default(); 3];
    while got.len() < 100 {
        let n = bus
            .poller("p")
            .unwrap()
            .poll_timeout(&mut buf, Duration::from_millis(50))
            .unwrap();
        got.extend(buf[..n].iter().map(|e| e.seq));
    }
    writer.join().unwrap();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert!(
        bus.counters().producer_waits > 0,
        "a 4-slot ring must have made the producer wait"
    );
}

#[test]
fn shutdown_drains_every_published_event_then_refuses_more() {
    let mut b =
        BusBuilder::<Event>::new(1024, ProducerMode::Multi, WaitStrategy::Blocking).unwrap();
    let (handler, stats) = handler_by_name("checksum").unwrap();
    b.add_handler("checksum", handler, &[], None).unwrap();
    b.add_poller("late", &["checksum"]).unwrap();
    let bus = b.start().unwrap();
    let mut p = bus.producer().unwrap();
    let events: Vec<Event> = (0..1000).map(|n| ev(0, n)).collect();
    p.publish_batch(&events).unwrap();
    bus.shutdown();
    let snapshot = stats.snapshot();
    assert_eq!(snapshot[0], ("events".to_string(), 1000));
    let expected = events.iter().fold(0u64, |s, e| s.wrapping_add(e.digest()));
    assert_eq!(snapshot[1], ("digest_sum".to_string(), expected));
    assert_eq!(p.publish(ev(0, 0)), Err(BusError::Closed));
    // The poller still gets what was published before the close, then Drained.
    let poller = bus.poller("late").unwrap();
    let mut buf = vec![Event::default(); 2000];
    assert_eq!(poller.poll(&mut buf), Ok(1000));
    assert!(poller.poll(&mut buf).is_err());
    let c = bus.counters();
    assert!(c.closed);
    assert!(c.consumers.iter().all(|c| c.lag == 0));
}

#[test]
fn graph_errors_are_reported_not_panicked() {
    assert_eq!(
        BusBuilder::<Event>::new(6, ProducerMode::Single, WaitStrategy::Yielding)
            .err()
            .map(|e| e.to_string()),
        Some(BusError::InvalidCapacity(6).to_string())
    );
    let mut b = BusBuilder::<Event>::new(8, ProducerMode::Single, WaitStrategy::Yielding).unwrap();
    b.add_poller("a", &[]).unwrap();
    assert_eq!(
        b.add_poller("a", &[]),
        Err(BusError::DuplicateConsumer("a".into()))
    );
    assert_eq!(
        b.add_poller("b", &["zz"]),
        Err(BusError::UnknownConsumer("zz".into()))
    );
    assert!(matches!(
        handler_by_name("nope"),
        Err(BusError::UnknownHandler(_))
    ));
    let bus = b.start().unwrap();
    let p = bus.producer().unwrap();
    assert!(matches!(bus.producer(), Err(BusError::ProducerTaken)));
    assert!(matches!(p.try_clone(), Err(BusError::ProducerTaken)));
    assert!(matches!(
        bus.poller("zz"),
        Err(BusError::UnknownConsumer(_))
    ));
}

struct Panicky;
impl EventHandler<Event> for Panicky {
    fn on_event(&mut self, event: &Event, _s: u64, _e: bool) {
        if event.seq == 3 {
            panic!("handler bug on purpose");
        }
    }
}

#[test]
fn a_panicking_handler_is_counted_and_does_not_stall_the_pipeline() {
    let mut b = BusBuilder::<Event>::new(8, ProducerMode::Single, WaitStrategy::Yielding).unwrap();
    b.add_handler("bad", Box::new(Panicky), &[], None).unwrap();
    let (handler, stats) = handler_by_name("checksum").unwrap();
    b.add_handler("after_bad", handler, &["bad"], None).unwrap();
    let bus = b.start().unwrap();
    let mut p = bus.producer().unwrap();
    for n in 0..50 {
        p.publish(ev(0, n)).unwrap();
    }
    bus.shutdown();
    let counters = bus.counters();
    let bad = counters.consumers.iter().find(|c| c.name == "bad").unwrap();
    assert_eq!(bad.handler_panics, 1);
    assert_eq!(stats.snapshot()[0].1, 50);
}

/// Checks, per consumer, that each producer's events arrive once, in order, unaltered.
struct OrderCheck {
    next_per_producer: Vec<u64>,
    errors: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
    digest: Arc<AtomicU64>,
}

impl EventHandler<Event> for OrderCheck {
    fn on_event(&mut self, e: &Event, _s: u64, _end: bool) {
        let slot = &mut self.next_per_producer[e.instrument as usize];
        if e.seq != *slot {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        *slot = e.seq + 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        let d = self.digest.load(Ordering::Relaxed).wrapping_add(e.digest());
        self.digest.store(d, Ordering::Relaxed);
    }
}

/// Random producer counts, batch sizes and ring sizes; a pipeline (c0 -> c1) beside a
/// multicast branch (c2).
fn run_mp(producers: u32, per_producer: u64, batch: usize, capacity: usize, wait: WaitStrategy) {
    let mode = if producers == 1 {
        ProducerMode::Single
    } else {
        ProducerMode::Multi
    };
    let mut b = BusBuilder::<Event>::new(capacity, mode, wait).unwrap();
    let mut checks = vec![];
    for (i, after) in [(0, vec![]), (1, vec!["c0"]), (2, vec![])] {
        let (errors, total, digest) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let h = OrderCheck {
            next_per_producer: vec![0; producers as usize],
            errors: errors.clone(),
            total: total.clone(),
            digest: digest.clone(),
        };
        b.add_handler(&format!("c{i}"), Box::new(h), &after, None)
            .unwrap();
        checks.push((errors, total, digest));
    }
    let bus = b.start().unwrap();
    let first = bus.producer().unwrap();
    let mut producers_handles: Vec<Producer<Event>> =
        (1..producers).map(|_| first.try_clone().unwrap()).collect();
    producers_handles.insert(0, first);
    let mut expected_digest = 0u64;
    let mut threads = vec![];
    for (pid, mut p) in producers_handles.into_iter().enumerate() {
        let events: Vec<Event> = (0..per_producer).map(|n| ev(pid as u32, n)).collect();
        expected_digest = events
            .iter()
            .fold(expected_digest, |s, e| s.wrapping_add(e.digest()));
        threads.push(std::thread::spawn(move || {
            for chunk in events.chunks(batch) {
                if chunk.len() == 1 {
                    p.publish(chunk[0]).unwrap();
                } else {
                    p.publish_batch(chunk).unwrap();
                }
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    bus.shutdown();
    for (errors, total, digest) in checks {
        assert_eq!(
            errors.load(Ordering::Relaxed),
            0,
            "per-producer order broken"
        );
        assert_eq!(
            total.load(Ordering::Relaxed),
            producers as u64 * per_producer,
            "lost or duplicated"
        );
        assert_eq!(
            digest.load(Ordering::Relaxed),
            expected_digest,
            "an event was altered"
        );
    }
}

#[test]
fn stress_three_producers_every_event_checksummed() {
    run_mp(3, 200_000, 7, 1024, WaitStrategy::Yielding);
}

#[test]
fn stress_single_producer_every_event_checksummed() {
    run_mp(1, 500_000, 64, 256, WaitStrategy::Yielding);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20))]
    #[test]
    fn no_event_lost_duplicated_or_reordered_per_producer(
        producers in 1u32..5,
        per_producer in 1u64..1500,
        batch in 1usize..40,
        capacity_log2 in 1u32..8,
        wait in prop_oneof![Just(WaitStrategy::BusySpin), Just(WaitStrategy::Yielding), Just(WaitStrategy::Blocking)],
    ) {
        let capacity = 1usize << capacity_log2;
        run_mp(producers, per_producer, batch.min(capacity), capacity, wait);
    }
}

/// Records the kernel's view of its thread's allowed CPUs when the consumer starts.
#[cfg(target_os = "linux")]
struct AffinityProbe(Arc<Mutex<String>>);

#[cfg(target_os = "linux")]
impl EventHandler<Event> for AffinityProbe {
    fn on_start(&mut self) {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
        let allowed = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("")
            .trim()
            .to_string();
        *self.0.lock().unwrap() = allowed;
    }
    fn on_event(&mut self, _e: &Event, _s: u64, _end: bool) {}
}

#[cfg(target_os = "linux")]
#[test]
fn pinned_consumer_thread_runs_only_on_its_core() {
    let last_core = std::thread::available_parallelism()
        .map(|n| n.get() - 1)
        .unwrap_or(0);
    let seen = Arc::new(Mutex::new(String::new()));
    let mut b = BusBuilder::<Event>::new(8, ProducerMode::Single, WaitStrategy::Blocking).unwrap();
    b.add_handler(
        "pinned",
        Box::new(AffinityProbe(seen.clone())),
        &[],
        Some(last_core),
    )
    .unwrap();
    let bus = b.start().unwrap();
    bus.shutdown();
    assert_eq!(*seen.lock().unwrap(), last_core.to_string());
}
