//! `subscribe_direct`: messages go straight to the consumer while it has
//! room; when it is full they go through the subscription's queue, and
//! nothing overtakes what is queued, so order and count are kept.

mod support;

use std::sync::Arc;

use airssys_nats::{BytesCodec, NatsBroker};
use airssys_rt::broker::{BrokerMessage, DirectDelivery, MessageBroker};
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
        try_mailbox.try_send(message).map_err(|e| match e {
            mpsc::error::TrySendError::Full(m) | mpsc::error::TrySendError::Closed(m) => m,
        })
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
            Ok(())
        } else {
            Err(message)
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
