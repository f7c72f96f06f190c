//! Publish/subscribe across two brokers on one real server: wildcards,
//! prefix isolation, dead letters, unsubscribe on drop.

mod support;

use std::sync::Arc;
use std::time::Duration;

use airssys_nats::{BytesCodec, NatsBroker};
use airssys_rt::broker::{BrokerError, DeadLetterReason, MessageBroker, Undelivered};
use bytes::Bytes;
use support::{within, NatsServer};

async fn broker(server: &NatsServer, prefix: &str) -> NatsBroker<Bytes> {
    NatsBroker::builder(server.url(), Arc::new(BytesCodec))
        .prefix(prefix)
        .connect()
        .await
        .expect("connects")
}

#[tokio::test]
async fn wildcard_subscriptions_on_one_host_see_publishes_of_another() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, b) = (broker(&server, "app").await, broker(&server, "app").await);
    let mut all = b.subscribe("orders.>").unwrap();
    let mut created = b.subscribe("orders.*.created").unwrap();
    b.sync().await.unwrap();

    a.publish("orders.eu.created", Bytes::from_static(b"1"))
        .unwrap();
    a.publish("orders.eu.paid", Bytes::from_static(b"2"))
        .unwrap();
    a.publish("other.thing", Bytes::from_static(b"x")).unwrap();

    let first = within("orders.>", all.recv()).await.unwrap();
    assert_eq!(&*first.subject, "orders.eu.created");
    assert_eq!(first.payload, Bytes::from_static(b"1"));
    let second = within("orders.>", all.recv()).await.unwrap();
    assert_eq!(&*second.subject, "orders.eu.paid");
    let only = within("orders.*.created", created.recv()).await.unwrap();
    assert_eq!(only.payload, Bytes::from_static(b"1"));

    a.sync().await.unwrap();
    b.sync().await.unwrap();
    assert!(
        all.try_recv().is_none(),
        "other.thing must not match orders.>"
    );
    assert!(created.try_recv().is_none());
}

#[tokio::test]
async fn messages_from_one_publisher_arrive_in_order() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, b) = (broker(&server, "app").await, broker(&server, "app").await);
    let mut sub = b.subscribe_with_capacity("seq", 2000).unwrap();
    b.sync().await.unwrap();
    for i in 0..1000u32 {
        a.publish("seq", Bytes::from(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    for i in 0..1000u32 {
        let msg = within("a message", sub.recv()).await.unwrap();
        assert_eq!(msg.payload.as_ref(), i.to_be_bytes());
    }
}

#[tokio::test]
async fn two_prefixes_on_one_server_do_not_see_each_other() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (shop, bank) = (broker(&server, "shop").await, broker(&server, "bank").await);
    let mut shop_sub = shop.subscribe(">").unwrap();
    let mut bank_sub = bank.subscribe(">").unwrap();
    shop.sync().await.unwrap();
    bank.sync().await.unwrap();

    shop.publish("orders.new", Bytes::from_static(b"s"))
        .unwrap();
    bank.publish("orders.new", Bytes::from_static(b"b"))
        .unwrap();

    assert_eq!(
        within("shop", shop_sub.recv()).await.unwrap().payload,
        Bytes::from_static(b"s")
    );
    assert_eq!(
        within("bank", bank_sub.recv()).await.unwrap().payload,
        Bytes::from_static(b"b")
    );
    shop.sync().await.unwrap();
    bank.sync().await.unwrap();
    assert!(shop_sub.try_recv().is_none());
    assert!(bank_sub.try_recv().is_none());
}

#[tokio::test]
async fn a_full_subscription_dead_letters_with_the_reason() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, b) = (broker(&server, "app").await, broker(&server, "app").await);
    let mut dead = a.subscribe(a.dead_letter_subject()).unwrap();
    let mut slow = b.subscribe_with_capacity("work", 1).unwrap();
    a.sync().await.unwrap();
    b.sync().await.unwrap();

    a.publish("work", Bytes::from_static(b"kept")).unwrap();
    a.publish("work", Bytes::from_static(b"spilled")).unwrap();

    let letter = within("the dead letter", dead.recv()).await.unwrap();
    assert_eq!(&*letter.subject, "work");
    assert_eq!(letter.payload, Bytes::from_static(b"spilled"));
    assert_eq!(
        letter.dead_letter,
        Some(Undelivered::new(
            "work",
            DeadLetterReason::SubscriberFull { capacity: 1 }
        ))
    );
    assert_eq!(slow.dropped(), 1);
    assert_eq!(
        slow.recv().await.unwrap().payload,
        Bytes::from_static(b"kept")
    );
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes_from_the_server() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, b) = (broker(&server, "app").await, broker(&server, "app").await);
    let sub = b.subscribe("gone").unwrap();
    b.sync().await.unwrap();
    drop(sub);
    // The pump notices the drop and unsubscribes; a request then finds no one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match a
            .request("gone", Bytes::new(), Duration::from_millis(200))
            .await
        {
            Err(BrokerError::NoResponders { .. }) => break,
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still subscribed: {other:?}"
                );
                b.sync().await.unwrap();
            }
        }
    }
}

#[tokio::test]
async fn invalid_subjects_are_refused_before_the_wire() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let a = broker(&server, "app").await;
    assert!(matches!(
        a.publish("orders.*", Bytes::new()),
        Err(BrokerError::InvalidSubject { .. })
    ));
    assert!(matches!(
        a.subscribe("a..b"),
        Err(BrokerError::InvalidPattern { .. })
    ));
    assert!(matches!(
        a.subscribe_with_capacity("a", 0),
        Err(BrokerError::ZeroCapacity { .. })
    ));
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<NatsBroker<Bytes>>();
    check::<airssys_nats::NatsError>();
    check::<airssys_nats::ConnectionStatus>();
}

#[tokio::test]
async fn a_drained_subscription_receives_what_the_server_sent_before_then_ends() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, b) = (broker(&server, "app").await, broker(&server, "app").await);
    const SENT: usize = 500;
    let mut sub = b.subscribe_with_capacity("drained", SENT + 16).unwrap();
    b.sync().await.unwrap();
    for i in 0..SENT {
        a.publish("drained", Bytes::from(i.to_string())).unwrap();
    }
    // The server has routed all of them to b's connection; few, if any,
    // have reached the subscription's queue yet.
    a.sync().await.unwrap();
    sub.drain();
    let mut received = Vec::new();
    while let Some(message) = within("the drained messages", sub.recv()).await {
        received.push(message.payload);
    }
    let expected: Vec<Bytes> = (0..SENT).map(|i| Bytes::from(i.to_string())).collect();
    assert_eq!(received, expected, "every message, in order, then the end");
    assert_eq!(b.stats().dead_lettered, 0);
    // Unsubscribed at the server: a request finds no one.
    assert!(matches!(
        a.request("drained", Bytes::new(), Duration::from_secs(2))
            .await,
        Err(BrokerError::NoResponders { .. })
    ));
}

#[tokio::test]
async fn a_bound_publisher_sends_on_its_subject_with_its_reply_subject_when_asked() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, b) = (broker(&server, "app").await, broker(&server, "app").await);
    let mut sub = b.subscribe("component.sink").unwrap();
    b.sync().await.unwrap();
    let a: Arc<dyn MessageBroker<Bytes>> = Arc::new(a);
    assert!(matches!(
        Arc::clone(&a).publisher("component.*", None),
        Err(BrokerError::InvalidSubject { .. })
    ));
    let publisher = Arc::clone(&a)
        .publisher("component.sink", Some("_INBOX.airssys-send.h.sink"))
        .unwrap();
    assert_eq!(publisher.subject(), "component.sink");
    publisher.publish(Bytes::from_static(b"1"), false).unwrap();
    publisher
        .publish_waiting(Bytes::from_static(b"2"), true)
        .await
        .unwrap();
    let first = within("the plain send", sub.recv()).await.unwrap();
    assert_eq!(
        (
            &*first.subject,
            first.payload.as_ref(),
            first.reply_to.as_deref()
        ),
        ("component.sink", &b"1"[..], None)
    );
    let second = within("the asking send", sub.recv()).await.unwrap();
    assert_eq!(
        (second.payload.as_ref(), second.reply_to.as_deref()),
        (&b"2"[..], Some("_INBOX.airssys-send.h.sink"))
    );
}
