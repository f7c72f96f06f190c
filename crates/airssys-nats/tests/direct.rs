//! `subscribe_direct`: messages go straight to the consumer while it has
//! room; when it is full they go through the subscription's queue, or the
//! receiving task waits for room when the direct path asks it to; nothing
//! overtakes what is queued or waiting, so order and count are kept.

mod support;

use std::sync::Arc;

use airssys_nats::{BytesCodec, NatsBroker};
use airssys_rt::broker::{BrokerMessage, DirectDelivery, DirectOutcome, MessageBroker};
use bytes::Bytes;
use support::{within, NatsServer};
use tokio::sync::{mpsc, watch};

/// Room in the stand-in for a component mailbox.
const MAILBOX: usize = 8;
/// Messages in the first burst: far more than the mailbox holds.
const BURST: u32 = 500;

async fn broker(server: &NatsServer) -> NatsBroker<Bytes> {
    NatsBroker::builder(server.url(), Arc::new(BytesCodec))
        .prefix("app")
        .subscription_capacity(BURST as usize + 16)
        .connect()
        .await
        .expect("connects")
}

fn number(message: &BrokerMessage<Bytes>) -> u32 {
    u32::from_be_bytes(message.payload[..].try_into().expect("4 bytes"))
}

#[tokio::test]
async fn a_full_consumer_gets_the_rest_through_the_queue_in_order_and_then_direct_again() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, b) = (broker(&server).await, broker(&server).await);

    // The "mailbox": the direct path tries it without waiting, the
    // consumer of the subscription's queue waits for room in it.
    let (mailbox, mut handled) = mpsc::channel::<BrokerMessage<Bytes>>(MAILBOX);
    let try_mailbox = mailbox.clone();
    let direct: DirectDelivery<Bytes> = Arc::new(move |message| {
        try_mailbox
            .try_send(message)
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m) => m,
            })
            .into()
    });
    let mut subscription = b.subscribe_direct("seq", direct).unwrap();
    b.sync().await.unwrap();

    // The queue's consumer; it says how many it has passed on each time it
    // has caught up (asked for the next and found none).
    let (caught_up, mut passed_on) = watch::channel(0u32);
    tokio::spawn(async move {
        let mut passed = 0;
        loop {
            let message = match subscription.try_recv() {
                Some(message) => message,
                None => {
                    let _ = caught_up.send(passed);
                    match subscription.recv().await {
                        Some(message) => message,
                        None => return,
                    }
                }
            };
            if mailbox.send(message).await.is_err() {
                return;
            }
            passed += 1;
        }
    });

    // Nobody handles the mailbox until the whole burst has arrived: the
    // first MAILBOX go direct, the rest are queued behind the one that
    // found it full.
    for i in 0..BURST {
        a.publish("seq", Bytes::from(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    within("the burst to arrive", async {
        while b.stats().received < u64::from(BURST) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(b.stats().direct, MAILBOX as u64);
    assert_eq!(b.stats().dropped_full, 0);

    let mut seen = Vec::new();
    for _ in 0..BURST {
        seen.push(number(
            &within("a handled message", handled.recv()).await.unwrap(),
        ));
    }
    assert_eq!(seen, (0..BURST).collect::<Vec<_>>(), "order kept");
    let queued = BURST - MAILBOX as u32;
    within(
        "the queue's consumer to catch up",
        passed_on.wait_for(|&n| n == queued),
    )
    .await
    .unwrap();

    // Caught up, with room: the next messages go direct again.
    for i in BURST..BURST + 4 {
        a.publish("seq", Bytes::from(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    for i in BURST..BURST + 4 {
        assert_eq!(
            number(&within("a later message", handled.recv()).await.unwrap()),
            i
        );
    }
    let stats = b.stats();
    assert_eq!(stats.direct, MAILBOX as u64 + 4);
    assert_eq!(stats.received, u64::from(BURST) + 4);
    assert_eq!(stats.dropped_full, 0);
}

#[tokio::test]
async fn a_message_the_direct_path_gives_back_is_received_from_the_subscription() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, b) = (broker(&server).await, broker(&server).await);
    // Takes only even numbers.
    let direct: DirectDelivery<Bytes> = Arc::new(|message| {
        if number(&message).is_multiple_of(2) {
            DirectOutcome::Taken
        } else {
            DirectOutcome::Refused(message)
        }
    });
    let mut subscription = b.subscribe_direct("odd", direct).unwrap();
    b.sync().await.unwrap();

    a.publish("odd", Bytes::from(0u32.to_be_bytes().to_vec()))
        .unwrap();
    a.publish("odd", Bytes::from(1u32.to_be_bytes().to_vec()))
        .unwrap();
    // 2 comes after 1, which is queued and not finished: queued too.
    a.publish("odd", Bytes::from(2u32.to_be_bytes().to_vec()))
        .unwrap();
    within("all three to arrive", async {
        while b.stats().received < 3 {
            tokio::task::yield_now().await;
        }
    })
    .await;

    let first = within("1", subscription.recv()).await.unwrap();
    assert_eq!(number(&first), 1);
    let second = within("2", subscription.recv()).await.unwrap();
    assert_eq!(number(&second), 2);
    let stats = b.stats();
    assert_eq!((stats.received, stats.direct), (3, 1));
}

/// A direct path that asks the receiving task to wait while the stand-in
/// mailbox is full; `give_up` after that long without room gives the
/// message back instead.
fn waiting_direct(
    mailbox: mpsc::Sender<BrokerMessage<Bytes>>,
    give_up: std::time::Duration,
    waits: Arc<std::sync::atomic::AtomicU64>,
) -> DirectDelivery<Bytes> {
    Arc::new(move |message| match mailbox.try_send(message) {
        Ok(()) => DirectOutcome::Taken,
        Err(mpsc::error::TrySendError::Closed(message)) => DirectOutcome::Refused(message),
        Err(mpsc::error::TrySendError::Full(message)) => {
            waits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mailbox = mailbox.clone();
            DirectOutcome::Wait(Box::pin(async move {
                match tokio::time::timeout(give_up, mailbox.reserve()).await {
                    Ok(Ok(permit)) => {
                        permit.send(message);
                        Ok(())
                    }
                    _ => Err(message),
                }
            }))
        }
    })
}

/// A publisher, and a subscriber of `subject` whose direct path waits up
/// to `give_up` for room in a stand-in mailbox of [`MAILBOX`].
struct WaitingPair {
    a: NatsBroker<Bytes>,
    b: NatsBroker<Bytes>,
    handled: mpsc::Receiver<BrokerMessage<Bytes>>,
    waits: Arc<std::sync::atomic::AtomicU64>,
    subscription: airssys_rt::broker::Subscription<Bytes>,
}

async fn waiting_pair(
    server: &NatsServer,
    subject: &str,
    give_up: std::time::Duration,
) -> WaitingPair {
    let (a, b) = (broker(server).await, broker(server).await);
    let (mailbox, handled) = mpsc::channel::<BrokerMessage<Bytes>>(MAILBOX);
    let waits = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let direct = waiting_direct(mailbox, give_up, Arc::clone(&waits));
    let subscription = b.subscribe_direct(subject, direct).unwrap();
    b.sync().await.unwrap();
    WaitingPair {
        a,
        b,
        handled,
        waits,
        subscription,
    }
}

#[tokio::test]
async fn a_full_consumer_that_frees_room_in_time_gets_every_message_direct_and_in_order() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let WaitingPair {
        a,
        b,
        mut handled,
        waits,
        mut subscription,
    } = waiting_pair(&server, "waits", std::time::Duration::from_secs(30)).await;

    for i in 0..BURST {
        a.publish("waits", Bytes::from(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    a.sync().await.unwrap();
    // The consumer starts only once the burst is on its way: the mailbox
    // fills at once, and the receiving task waits for room again and again.
    let mut seen = Vec::new();
    for _ in 0..BURST {
        seen.push(number(
            &within("a handled message", handled.recv()).await.unwrap(),
        ));
    }
    assert_eq!(seen, (0..BURST).collect::<Vec<_>>(), "order kept");
    let stats = b.stats();
    assert_eq!(stats.received, u64::from(BURST));
    assert_eq!(
        stats.direct,
        u64::from(BURST),
        "none went through the queue"
    );
    assert_eq!(stats.dropped_full, 0);
    assert!(
        waits.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the mailbox was found full at least once"
    );
    assert!(subscription.try_recv().is_none());
}

#[tokio::test]
async fn a_wait_that_ends_without_room_queues_the_message_and_those_after_it_in_order() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let WaitingPair {
        a,
        b,
        mut handled,
        waits,
        mut subscription,
    } = waiting_pair(&server, "gives-up", std::time::Duration::from_millis(20)).await;

    // Nobody takes from the mailbox: the first MAILBOX go direct, the next
    // waits 20 ms and is queued, and every later one is queued behind it.
    let total = MAILBOX as u32 + 10;
    for i in 0..total {
        a.publish("gives-up", Bytes::from(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    let mut queued = Vec::new();
    for _ in MAILBOX as u32..total {
        queued.push(number(
            &within("a queued message", subscription.recv())
                .await
                .unwrap(),
        ));
    }
    assert_eq!(queued, (MAILBOX as u32..total).collect::<Vec<_>>());
    for i in 0..MAILBOX as u32 {
        assert_eq!(number(&handled.recv().await.unwrap()), i);
    }
    let stats = b.stats();
    assert_eq!(stats.received, u64::from(total));
    assert_eq!(stats.direct, MAILBOX as u64);
    assert_eq!(waits.load(std::sync::atomic::Ordering::Relaxed), 1);
}
