//! Model checks of the claim / publish / consume sequence logic under every interleaving
//! loom can reach. Run with `RUSTFLAGS="--cfg loom" cargo test -p baconalgo-core --release
//! --lib bus::loom_tests`. Loom's cells flag any slot written while a reader holds it.

use std::sync::Arc;

use loom::thread;

use super::consumer::Barrier;
use super::producer::{Producer, ProducerMode};
use super::sequence::Sequence;
use super::shared::Shared;
use super::wait::WaitStrategy;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    // Spin-waits are yields under loom; each adds branches without adding states.
    builder.max_branches = 50_000;
    builder.check(f);
}

/// A bus of `capacity` slots whose producers are gated by `consumer`.
fn ring(capacity: usize, mode: ProducerMode, consumer: &Arc<Sequence>) -> Arc<Shared<u64>> {
    let shared = Shared::new(
        capacity,
        mode,
        WaitStrategy::BusySpin,
        vec![consumer.clone()],
    );
    Arc::new(shared.expect("valid capacity"))
}

/// Reads events through a barrier the way a consumer thread does: until `expected` have
/// been seen, or, with `None`, until the closed bus reports it drained.
fn consume(barrier: &Barrier<u64>, seq: &Sequence, expected: Option<u64>) -> Vec<u64> {
    let mut seen = Vec::new();
    let mut next = seq.get();
    while expected.is_none_or(|n| next < n) {
        let Ok(available) = barrier.wait_for(next) else {
            assert!(expected.is_none(), "bus drained early");
            break;
        };
        for s in next..available {
            // SAFETY: the protocol under test: published and not yet released by us.
            seen.push(unsafe { barrier.shared().ring.read(s) });
        }
        seq.set(available);
        next = available;
    }
    seen
}

#[test]
fn single_producer_wraps_without_overwriting_unconsumed_slots() {
    model(|| {
        let consumer = Arc::new(Sequence::new(0));
        let shared = ring(2, ProducerMode::Single, &consumer);
        let barrier = Barrier::new(shared.clone(), vec![]);
        let reader = thread::spawn(move || consume(&barrier, &consumer, Some(3)));
        let mut producer = Producer::new(shared);
        for v in 0..3u64 {
            producer.publish(100 + v).unwrap();
        }
        assert_eq!(reader.join().unwrap(), vec![100, 101, 102]);
    });
}

#[test]
fn two_producers_claim_distinct_slots_and_consumer_sees_each_once() {
    model(|| {
        let consumer = Arc::new(Sequence::new(0));
        let shared = ring(2, ProducerMode::Multi, &consumer);
        let barrier = Barrier::new(shared.clone(), vec![]);
        let mut p1 = Producer::new(shared.clone());
        let mut p2 = Producer::new(shared.clone());
        let t1 = thread::spawn(move || p1.publish(1).unwrap());
        let t2 = thread::spawn(move || p2.publish(2).unwrap());
        let mut seen = consume(&barrier, &consumer, Some(2));
        t1.join().unwrap();
        t2.join().unwrap();
        seen.sort();
        assert_eq!(seen, vec![1, 2]);
    });
}

#[test]
fn dependent_consumer_never_passes_its_dependency() {
    model(|| {
        let first = Arc::new(Sequence::new(0));
        let second = Arc::new(Sequence::new(0));
        // Gated by the last stage only: the first is always ahead of it.
        let shared = ring(2, ProducerMode::Single, &second);
        let b1 = Barrier::new(shared.clone(), vec![]);
        let b2 = Barrier::new(shared.clone(), vec![first.clone()]);
        let first_c = first.clone();
        let t1 = thread::spawn(move || consume(&b1, &first_c, Some(2)));
        let second_c = second.clone();
        let t2 = thread::spawn(move || {
            let mut next = 0;
            let mut seen = vec![];
            while next < 2 {
                let available = b2.wait_for(next).unwrap();
                assert!(available <= first.get(), "passed its dependency");
                for s in next..available {
                    // SAFETY: released by the dependency, gated by us.
                    seen.push(unsafe { b2.shared().ring.read(s) });
                }
                second_c.set(available);
                next = available;
            }
            seen
        });
        let mut producer = Producer::new(shared);
        producer.publish(7).unwrap();
        producer.publish(8).unwrap();
        assert_eq!(t1.join().unwrap(), vec![7, 8]);
        assert_eq!(t2.join().unwrap(), vec![7, 8]);
    });
}

#[test]
fn close_during_publish_loses_nothing_that_was_accepted() {
    model(|| {
        let consumer = Arc::new(Sequence::new(0));
        let shared = ring(2, ProducerMode::Multi, &consumer);
        let barrier = Barrier::new(shared.clone(), vec![]);
        let mut producer = Producer::new(shared.clone());
        let writer = thread::spawn(move || producer.publish(5).is_ok());
        // Close races the publish; afterwards the final count must cover exactly what
        // was accepted, so a draining consumer sees it and then stops.
        shared.close();
        let seen = consume(&barrier, &consumer, None);
        let accepted = writer.join().unwrap();
        assert_eq!(seen, if accepted { vec![5] } else { vec![] });
    });
}

#[test]
fn close_racing_two_producer_handles_keeps_every_accepted_event() {
    model(|| {
        let consumer = Arc::new(Sequence::new(0));
        let shared = ring(4, ProducerMode::Multi, &consumer);
        let barrier = Barrier::new(shared.clone(), vec![]);
        let mut p1 = Producer::new(shared.clone());
        let mut p2 = Producer::new(shared.clone());
        let t1 = thread::spawn(move || p1.publish(1).is_ok());
        let t2 = thread::spawn(move || p2.publish(2).is_ok());
        shared.close();
        let mut seen = consume(&barrier, &consumer, None);
        let accepted: Vec<u64> = [(1, t1.join().unwrap()), (2, t2.join().unwrap())]
            .into_iter()
            .filter_map(|(v, ok)| ok.then_some(v))
            .collect();
        seen.sort();
        assert_eq!(seen, accepted);
    });
}

#[test]
fn close_racing_the_single_producer_keeps_every_accepted_event() {
    model(|| {
        let consumer = Arc::new(Sequence::new(0));
        let shared = ring(2, ProducerMode::Single, &consumer);
        let barrier = Barrier::new(shared.clone(), vec![]);
        let mut producer = Producer::new(shared.clone());
        let writer = thread::spawn(move || {
            let first = producer.publish(1).is_ok();
            let second = producer.publish(2).is_ok();
            (first, second)
        });
        shared.close();
        let seen = consume(&barrier, &consumer, None);
        let (first, second) = writer.join().unwrap();
        // Accepted publishes are a prefix (once refused, always refused) and all are seen.
        assert!(first || !second);
        let accepted: Vec<u64> = [(1, first), (2, second)]
            .into_iter()
            .filter_map(|(v, ok)| ok.then_some(v))
            .collect();
        assert_eq!(seen, accepted);
    });
}

#[test]
fn producer_handle_created_while_closing_is_refused_or_drained() {
    model(|| {
        let consumer = Arc::new(Sequence::new(0));
        let shared = ring(2, ProducerMode::Multi, &consumer);
        let barrier = Barrier::new(shared.clone(), vec![]);
        let late = shared.clone();
        // Registering the handle's in-flight flag races `close` scanning for flags.
        let writer = thread::spawn(move || Producer::new(late).publish(9).is_ok());
        shared.close();
        let seen = consume(&barrier, &consumer, None);
        let accepted = writer.join().unwrap();
        assert_eq!(seen, if accepted { vec![9] } else { vec![] });
    });
}
