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

/// Drains `expected` events through a barrier the way a consumer thread does.
fn consume(barrier: &Barrier<u64>, seq: &Sequence, expected: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    let mut next = seq.get();
    while next < expected {
        let available = barrier.wait_for(next).expect("bus must not drain early");
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
        let consumer_seq = Arc::new(Sequence::new(0));
        let shared = Arc::new(
            Shared::<u64>::new(
                2,
                ProducerMode::Single,
                WaitStrategy::BusySpin,
                vec![consumer_seq.clone()],
            )
            .unwrap(),
        );
        let barrier = Barrier::new(shared.clone(), vec![]);
        let reader = thread::spawn(move || consume(&barrier, &consumer_seq, 3));
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
        let consumer_seq = Arc::new(Sequence::new(0));
        let shared = Arc::new(
            Shared::<u64>::new(
                2,
                ProducerMode::Multi,
                WaitStrategy::BusySpin,
                vec![consumer_seq.clone()],
            )
            .unwrap(),
        );
        let barrier = Barrier::new(shared.clone(), vec![]);
        let mut p1 = Producer::new(shared.clone());
        let mut p2 = Producer::new(shared.clone());
        let t1 = thread::spawn(move || p1.publish(1).unwrap());
        let t2 = thread::spawn(move || p2.publish(2).unwrap());
        let mut seen = consume(&barrier, &consumer_seq, 2);
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
        let shared = Arc::new(
            Shared::<u64>::new(
                2,
                ProducerMode::Single,
                WaitStrategy::BusySpin,
                vec![second.clone()],
            )
            .unwrap(),
        );
        let b1 = Barrier::new(shared.clone(), vec![]);
        let b2 = Barrier::new(shared.clone(), vec![first.clone()]);
        let first_c = first.clone();
        let t1 = thread::spawn(move || consume(&b1, &first_c, 2));
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
        let consumer_seq = Arc::new(Sequence::new(0));
        let shared = Arc::new(
            Shared::<u64>::new(
                2,
                ProducerMode::Multi,
                WaitStrategy::BusySpin,
                vec![consumer_seq.clone()],
            )
            .unwrap(),
        );
        let barrier = Barrier::new(shared.clone(), vec![]);
        let mut producer = Producer::new(shared.clone());
        let writer = thread::spawn(move || producer.publish(5).is_ok());
        // Close races the publish; afterwards the final count must cover exactly what
        // was accepted, so a draining consumer sees it and then stops.
        shared.close();
        let mut seen = vec![];
        let mut next = 0;
        while let Ok(available) = barrier.wait_for(next) {
            for s in next..available {
                // SAFETY: published and not yet released by us.
                seen.push(unsafe { barrier.shared().ring.read(s) });
            }
            consumer_seq.set(available);
            next = available;
        }
        let accepted = writer.join().unwrap();
        assert_eq!(seen, if accepted { vec![5] } else { vec![] });
    });
}

#[test]
fn close_racing_two_producers_on_different_stripes_keeps_every_accepted_event() {
    model(|| {
        let consumer_seq = Arc::new(Sequence::new(0));
        let shared = Arc::new(
            Shared::<u64>::new(
                4,
                ProducerMode::Multi,
                WaitStrategy::BusySpin,
                vec![consumer_seq.clone()],
            )
            .unwrap(),
        );
        let barrier = Barrier::new(shared.clone(), vec![]);
        let mut p1 = Producer::new(shared.clone());
        let mut p2 = Producer::new(shared.clone());
        let t1 = thread::spawn(move || p1.publish(1).is_ok());
        let t2 = thread::spawn(move || p2.publish(2).is_ok());
        shared.close();
        let mut seen = vec![];
        let mut next = 0;
        while let Ok(available) = barrier.wait_for(next) {
            for s in next..available {
                // SAFETY: published and not yet released by us.
                seen.push(unsafe { barrier.shared().ring.read(s) });
            }
            consumer_seq.set(available);
            next = available;
        }
        let mut accepted = vec![];
        if t1.join().unwrap() {
            accepted.push(1);
        }
        if t2.join().unwrap() {
            accepted.push(2);
        }
        seen.sort();
        assert_eq!(seen, accepted);
    });
}
