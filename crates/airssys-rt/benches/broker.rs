//! Publish → receive through `InMemoryMessageBroker`, against the raw layer
//! beneath it: `try_send` of the same message into plain tokio mpsc channels.
//!
//! Each iteration publishes a batch of `BATCH` messages, then drains every
//! subscriber; both sides time exactly that (publish + receive), so queues
//! never fill. Throughput is per delivery: `BATCH × subscribers`.
//!
//! Run: `cargo bench -p airssys-rt --bench broker`

use std::sync::Arc;

use airssys_rt::broker::{BrokerMessage, InMemoryMessageBroker, MessageBroker, Subscription};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokio::sync::mpsc;

/// Messages published per iteration, before draining.
const BATCH: usize = 256;
const SUBJECT: &str = "bench.orders.created";

fn broker_with(subscribers: usize) -> (InMemoryMessageBroker<u64>, Vec<Subscription<u64>>) {
    let broker = InMemoryMessageBroker::builder()
        .default_capacity(BATCH)
        .build()
        .expect("valid settings");
    // A mix of exact and wildcard patterns, all matching SUBJECT.
    let patterns = ["bench.orders.created", "bench.*.created", "bench.>"];
    let subs = (0..subscribers)
        .map(|i| {
            broker
                .subscribe(patterns[i % patterns.len()])
                .expect("valid pattern")
        })
        .collect();
    (broker, subs)
}

/// The baseline's channels carry exactly what the broker's queues carry.
type Channel = (
    mpsc::Sender<BrokerMessage<u64>>,
    mpsc::Receiver<BrokerMessage<u64>>,
);

fn baseline_with(subscribers: usize) -> Vec<Channel> {
    (0..subscribers).map(|_| mpsc::channel(BATCH)).collect()
}

fn publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("broker_publish");
    for (name, subscribers) in [("1_subscriber", 1), ("100_subscribers", 100)] {
        group.throughput(Throughput::Elements((BATCH * subscribers) as u64));

        let (broker, mut subs) = broker_with(subscribers);
        group.bench_function(BenchmarkId::new(name, "airssys_in_memory"), |b| {
            b.iter(|| {
                for i in 0..BATCH as u64 {
                    let report = broker.publish(SUBJECT, i).expect("valid subject");
                    debug_assert_eq!(report.delivered, subscribers);
                }
                for sub in &mut subs {
                    while let Some(msg) = sub.try_recv() {
                        black_box(msg);
                    }
                }
            });
        });
        assert_eq!(broker.stats().dropped_full, 0, "queues must never fill");

        // The same message the broker delivers (subject Arc shared), sent
        // with try_send to plain channels.
        let (senders, mut receivers): (Vec<_>, Vec<_>) =
            baseline_with(subscribers).into_iter().unzip();
        let subject: Arc<str> = Arc::from(SUBJECT);
        group.bench_function(BenchmarkId::new(name, "tokio_mpsc_baseline"), |b| {
            b.iter(|| {
                for i in 0..BATCH as u64 {
                    for tx in &senders {
                        let msg = BrokerMessage::new(Arc::clone(&subject), i);
                        tx.try_send(msg).expect("drained each iteration");
                    }
                }
                for rx in &mut receivers {
                    while let Ok(msg) = rx.try_recv() {
                        black_box(msg);
                    }
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, publish);
criterion_main!(benches);
