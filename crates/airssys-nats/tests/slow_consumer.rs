//! A receiving task that falls behind: the client's own queue for the
//! subscription fills and the client drops what arrives, before the broker
//! sees it. Each such message is counted (`slow_consumer_dropped`), so what
//! was published is received or counted as dropped, exactly.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airssys_nats::{BytesCodec, NatsBroker};
use airssys_rt::broker::{DirectDelivery, DirectOutcome, MessageBroker};
use bytes::Bytes;
use support::{within, NatsServer};

/// The client's queue for the subscription.
const CLIENT_QUEUE: usize = 8;
/// Messages published: each dropped one raises one client event, and the
/// client's event channel holds 128, so all of them are counted.
const PUBLISHED: u64 = 100;

async fn poll_until(what: &str, mut done: impl FnMut() -> bool) {
    within(what, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_client_drops_for_a_stalled_receiver_is_counted_one_by_one() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let a = NatsBroker::builder(server.url(), Arc::new(BytesCodec))
        .prefix("app")
        .connect()
        .await
        .expect("connects");
    let b = NatsBroker::builder(server.url(), Arc::new(BytesCodec))
        .prefix("app")
        .client_subscription_capacity(CLIENT_QUEUE)
        .connect()
        .await
        .expect("connects");

    // The direct path stalls the receiving task on its first message until
    // the gate opens (`block_in_place`, so the rest of the runtime, the
    // client's connection task included, keeps running).
    let (open_gate, gate) = std::sync::mpsc::channel::<()>();
    let gate = Mutex::new(Some(gate));
    let taken = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&taken);
    let direct: DirectDelivery<Bytes> = Arc::new(move |_message| {
        let waiting = gate.lock().expect("gate lock").take();
        if let Some(gate) = waiting {
            tokio::task::block_in_place(|| gate.recv().expect("the test opens the gate"));
        }
        counted.fetch_add(1, Ordering::Relaxed);
        DirectOutcome::Taken
    });
    let _subscription = b.subscribe_direct("flood", direct).unwrap();
    b.sync().await.unwrap();

    let stats = b.client().statistics();
    let before = stats.in_messages.load(Ordering::Relaxed);
    for i in 0..PUBLISHED {
        a.publish("flood", Bytes::from(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    a.sync().await.unwrap();
    // Every message has reached b's client: queued for the subscription,
    // or dropped because that queue was full.
    poll_until("the client to read every message", || {
        stats.in_messages.load(Ordering::Relaxed) - before >= PUBLISHED
    })
    .await;
    open_gate.send(()).unwrap();

    poll_until("every message received or counted as dropped", || {
        let s = b.stats();
        s.received + s.slow_consumer_dropped == PUBLISHED
    })
    .await;
    let s = b.stats();
    // At most the one the stalled task held and the client's queue got in.
    assert!(
        s.slow_consumer_dropped >= PUBLISHED - CLIENT_QUEUE as u64 - 1,
        "{s:?}"
    );
    assert_eq!(taken.load(Ordering::Relaxed), s.received, "{s:?}");
    assert_eq!(s.direct, s.received, "{s:?}");
    assert_eq!(s.dropped_full, 0, "{s:?}");
}
