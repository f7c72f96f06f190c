//! Behaviour of the in-memory message broker: routing, order, dead letters,
//! unsubscribe, request/reply and input validation.

use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{
    BrokerError, BrokerMessage, DeadLetterReason, InMemoryMessageBroker, MessageBroker,
    SubjectError, Subscription, Undelivered, DEFAULT_DEAD_LETTER_SUBJECT,
};
use futures::StreamExt;
use tokio::time::timeout;

/// Upper bound for waiting on an event that should already have happened.
const WAIT: Duration = Duration::from_secs(5);

async fn next<M>(sub: &mut Subscription<M>) -> BrokerMessage<M> {
    timeout(WAIT, sub.recv())
        .await
        .expect("a message within the timeout")
        .expect("broker alive")
}

#[tokio::test]
async fn publish_fans_out_to_every_matching_subscriber() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let mut exact = broker.subscribe("orders.eu.created").unwrap();
    let mut single = broker.subscribe("orders.*.created").unwrap();
    let mut tail = broker.subscribe("orders.>").unwrap();
    let mut everything = broker.subscribe(">").unwrap();

    let report = broker.publish("orders.eu.created", 7).unwrap();

    assert_eq!(report.matched, 4);
    assert_eq!(report.delivered, 4);
    assert_eq!(report.dropped, 0);
    for sub in [&mut exact, &mut single, &mut tail, &mut everything] {
        let msg = next(sub).await;
        assert_eq!(&*msg.subject, "orders.eu.created", "via {}", sub.pattern());
        assert_eq!(msg.payload, 7);
        assert_eq!(msg.reply_to, None);
        assert_eq!(msg.dead_letter, None);
    }
}

#[tokio::test]
async fn subscribers_with_non_matching_patterns_get_nothing() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let mut matching = broker.subscribe("orders.*.created").unwrap();
    let mut others: Vec<_> = [
        "orders.eu",           // too short
        "orders.eu.created.x", // too long for a literal
        "orders.*",            // `*` is exactly one token
        "orders.eu.created.>", // `>` needs at least one more token
        "invoices.>",          // other root
        "*.*.deleted",         // other last token
    ]
    .into_iter()
    .map(|p| broker.subscribe(p).unwrap())
    .collect();

    let report = broker.publish("orders.eu.created", 1).unwrap();

    assert_eq!(report.matched, 1);
    assert_eq!(next(&mut matching).await.payload, 1);
    for sub in &mut others {
        assert!(sub.is_empty(), "{} got a message", sub.pattern());
        assert!(sub.try_recv().is_none());
    }
}

#[tokio::test]
async fn each_subscriber_sees_one_publishers_messages_in_order() {
    const COUNT: u64 = 1000;
    let broker = InMemoryMessageBroker::<u64>::new();
    let mut subs: Vec<_> = ["seq.numbers", "seq.*", "seq.>"]
        .into_iter()
        .map(|p| broker.subscribe_with_capacity(p, COUNT as usize).unwrap())
        .collect();

    let publisher = broker.clone();
    tokio::spawn(async move {
        for i in 0..COUNT {
            publisher.publish("seq.numbers", i).unwrap();
            if i % 100 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });

    for sub in &mut subs {
        for expected in 0..COUNT {
            assert_eq!(next(sub).await.payload, expected, "via {}", sub.pattern());
        }
    }
    assert_eq!(broker.stats().delivered, 3 * COUNT);
    assert_eq!(broker.stats().dropped_full, 0);
}

#[tokio::test]
async fn full_queue_sends_the_message_to_the_dead_letter_subject_with_the_reason() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let mut dead_letters = broker.subscribe(DEFAULT_DEAD_LETTER_SUBJECT).unwrap();
    let slow = broker.subscribe_with_capacity("jobs.*", 1).unwrap();

    assert_eq!(broker.publish("jobs.a", 1).unwrap().delivered, 1);
    let report = broker.publish("jobs.b", 2).unwrap();

    assert_eq!(report.matched, 1);
    assert_eq!(report.delivered, 0);
    assert_eq!(report.dropped, 1);
    let dead = next(&mut dead_letters).await;
    assert_eq!(&*dead.subject, "jobs.b", "the original subject is kept");
    assert_eq!(dead.payload, 2);
    assert_eq!(
        dead.dead_letter,
        Some(Undelivered::new(
            "jobs.*",
            DeadLetterReason::SubscriberFull { capacity: 1 }
        ))
    );
    assert_eq!(slow.dropped(), 1);
    assert_eq!(slow.len(), 1, "the first message is still queued");
    let stats = broker.stats();
    assert_eq!(stats.dropped_full, 1);
    assert_eq!(stats.dead_lettered, 1);
    assert_eq!(stats.dead_letters_lost, 0);
}

#[tokio::test]
async fn dead_letter_subject_is_configurable() {
    let broker = InMemoryMessageBroker::<u64>::builder()
        .dead_letter_subject("ops.dead")
        .default_capacity(1)
        .build()
        .unwrap();
    let mut default_subject = broker.subscribe(DEFAULT_DEAD_LETTER_SUBJECT).unwrap();
    let mut configured = broker.subscribe("ops.dead").unwrap();
    let _slow = broker.subscribe("work").unwrap();

    broker.publish("work", 1).unwrap();
    broker.publish("work", 2).unwrap();

    let dead = next(&mut configured).await;
    assert_eq!(dead.payload, 2);
    assert!(dead.is_dead_letter());
    assert!(default_subject.try_recv().is_none());
}

#[tokio::test]
async fn dead_letter_that_cannot_be_delivered_is_only_counted() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let _slow = broker.subscribe_with_capacity("work", 1).unwrap();
    broker.publish("work", 0).unwrap();

    // No dead-letter subscriber: counted as lost.
    broker.publish("work", 1).unwrap();
    assert_eq!(broker.stats().dead_lettered, 1);
    assert_eq!(broker.stats().dead_letters_lost, 1);

    // A full dead-letter subscriber: counted as lost, not dead-lettered again.
    let mut dead_letters = broker
        .subscribe_with_capacity(DEFAULT_DEAD_LETTER_SUBJECT, 1)
        .unwrap();
    broker.publish("work", 2).unwrap();
    broker.publish("work", 3).unwrap();

    let stats = broker.stats();
    assert_eq!(stats.dead_lettered, 3);
    assert_eq!(stats.dead_letters_lost, 2);
    assert_eq!(dead_letters.dropped(), 1);
    assert_eq!(next(&mut dead_letters).await.payload, 2);
    assert!(dead_letters.try_recv().is_none(), "no loop, no duplicate");
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes_at_once() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let sub = broker.subscribe("news.*").unwrap();
    assert_eq!(broker.publish("news.today", 1).unwrap().delivered, 1);
    assert_eq!(broker.subscription_count(), 1);

    drop(sub);

    let report = broker.publish("news.today", 2).unwrap();
    assert!(report.is_unrouted());
    assert_eq!(broker.subscription_count(), 0);
    let stats = broker.stats();
    assert_eq!(stats.unrouted, 1);
    assert_eq!(stats.dead_lettered, 0);
}

#[tokio::test]
async fn unrouted_publish_is_counted_not_dead_lettered() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let mut dead_letters = broker.subscribe(DEFAULT_DEAD_LETTER_SUBJECT).unwrap();

    let report = broker.publish("nobody.listens", 1).unwrap();

    assert!(report.is_unrouted());
    assert_eq!(report.delivered, 0);
    assert_eq!(broker.stats().unrouted, 1);
    assert_eq!(broker.stats().published, 1);
    assert!(dead_letters.try_recv().is_none());
}

#[tokio::test]
async fn request_gets_the_reply_of_a_responder() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let mut service = broker.subscribe("math.double").unwrap();
    let responder = broker.clone();
    tokio::spawn(async move {
        while let Some(request) = service.recv().await {
            responder.reply(&request, request.payload * 2).unwrap();
        }
    });

    let reply = broker
        .request("math.double", 21, Duration::from_secs(5))
        .await
        .unwrap();

    assert_eq!(reply.payload, 42);
    assert!(reply.subject.starts_with("_INBOX."));
}

#[tokio::test]
async fn responder_sees_the_reply_to_inbox() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let mut service = broker.subscribe("svc").unwrap();
    let requester = broker.clone();
    let pending =
        tokio::spawn(async move { requester.request("svc", 1, Duration::from_secs(5)).await });

    let request = next(&mut service).await;
    let inbox = request
        .reply_to
        .clone()
        .expect("a request carries reply_to");
    assert!(inbox.starts_with("_INBOX."));
    broker.publish(&inbox, 99).unwrap();

    let reply = timeout(WAIT, pending).await.unwrap().unwrap().unwrap();
    assert_eq!(reply.payload, 99);
    assert_eq!(reply.subject, inbox);
}

#[tokio::test(start_paused = true)]
async fn request_times_out_when_no_reply_comes() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let _silent = broker.subscribe("svc.silent").unwrap();

    let result = broker
        .request("svc.silent", 1, Duration::from_secs(3))
        .await;

    assert_eq!(
        result.unwrap_err(),
        BrokerError::Timeout {
            subject: "svc.silent".into(),
            timeout: Duration::from_secs(3),
        }
    );
    assert_eq!(broker.subscription_count(), 1, "the reply inbox is gone");
}

#[tokio::test]
async fn request_with_no_subscriber_fails_with_no_responders() {
    let broker = InMemoryMessageBroker::<u64>::new();

    let result = broker.request("svc.none", 1, Duration::from_secs(5)).await;

    assert_eq!(
        result.unwrap_err(),
        BrokerError::NoResponders {
            subject: "svc.none".into()
        }
    );
    assert_eq!(broker.subscription_count(), 0);
}

#[tokio::test]
async fn reply_to_a_message_without_reply_to_is_an_error() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let mut sub = broker.subscribe("plain").unwrap();
    broker.publish("plain", 1).unwrap();
    let msg = next(&mut sub).await;

    assert_eq!(
        broker.reply(&msg, 2).unwrap_err(),
        BrokerError::NoReplyTo {
            subject: "plain".into()
        }
    );
}

#[test]
fn invalid_subjects_are_rejected_with_typed_errors() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let cases = [
        ("", SubjectError::Empty),
        ("a..b", SubjectError::EmptyToken { index: 1 }),
        (".a", SubjectError::EmptyToken { index: 0 }),
        ("a.", SubjectError::EmptyToken { index: 1 }),
        ("a b", SubjectError::Whitespace { byte: 1 }),
        ("a.\tb", SubjectError::Whitespace { byte: 2 }),
        (
            "a.*",
            SubjectError::WildcardInSubject {
                index: 1,
                wildcard: '*',
            },
        ),
        (
            ">",
            SubjectError::WildcardInSubject {
                index: 0,
                wildcard: '>',
            },
        ),
        (
            "a.b*",
            SubjectError::WildcardInsideToken {
                index: 1,
                wildcard: '*',
            },
        ),
    ];
    for (subject, reason) in cases {
        let expected = BrokerError::InvalidSubject {
            subject: subject.to_string(),
            reason,
        };
        assert_eq!(broker.publish(subject, 1).unwrap_err(), expected);
    }
    assert_eq!(broker.stats().published, 0);
    let error = broker.publish("a.*", 1).unwrap_err().to_string();
    assert!(
        error.contains("\"a.*\""),
        "the message names the subject: {error}"
    );
}

#[tokio::test]
async fn request_and_reply_to_invalid_subjects_are_rejected() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let error = broker
        .request("svc.*", 1, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(error, BrokerError::InvalidSubject { ref subject, .. } if subject == "svc.*"));
    let error = broker
        .publish_with_reply("svc", "bad inbox", 1)
        .unwrap_err();
    assert!(
        matches!(error, BrokerError::InvalidSubject { ref subject, .. } if subject == "bad inbox")
    );
    assert_eq!(broker.subscription_count(), 0);
}

#[test]
fn invalid_patterns_are_rejected_with_typed_errors() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let cases = [
        ("", SubjectError::Empty),
        ("a..*", SubjectError::EmptyToken { index: 1 }),
        ("a.>.b", SubjectError::FullWildcardNotLast { index: 1 }),
        (
            "a.>>",
            SubjectError::WildcardInsideToken {
                index: 1,
                wildcard: '>',
            },
        ),
        ("a *", SubjectError::Whitespace { byte: 1 }),
    ];
    for (pattern, reason) in cases {
        let expected = BrokerError::InvalidPattern {
            pattern: pattern.to_string(),
            reason,
        };
        assert_eq!(broker.subscribe(pattern).unwrap_err(), expected);
    }
    assert_eq!(
        broker.subscribe_with_capacity("a.b", 0).unwrap_err(),
        BrokerError::ZeroCapacity {
            pattern: "a.b".into()
        }
    );
    assert!(matches!(
        InMemoryMessageBroker::<u64>::builder()
            .dead_letter_subject("dead.*")
            .build()
            .unwrap_err(),
        BrokerError::InvalidSubject { .. }
    ));
    assert_eq!(broker.subscription_count(), 0);
}

#[test]
fn broker_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<InMemoryMessageBroker<u64>>();
    send_sync::<Subscription<u64>>();
    send_sync::<BrokerMessage<u64>>();
    send_sync::<BrokerError>();
    send_sync::<Arc<dyn MessageBroker<u64>>>();
}

#[tokio::test]
async fn broker_works_behind_a_dyn_trait_object() {
    let broker: Arc<dyn MessageBroker<String>> = Arc::new(InMemoryMessageBroker::new());
    let mut echo = broker.subscribe("echo").unwrap();
    let responder = Arc::clone(&broker);
    tokio::spawn(async move {
        while let Some(request) = echo.recv().await {
            let answer = format!("echo: {}", request.payload);
            responder.reply(&request, answer).unwrap();
        }
    });

    let reply = broker
        .request("echo", "hi".to_string(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(reply.payload, "echo: hi");
}

#[tokio::test]
async fn subscription_is_a_stream() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let sub = broker.subscribe("s.>").unwrap();
    for i in 0..3 {
        broker.publish("s.x", i).unwrap();
    }
    let got: Vec<u64> = timeout(WAIT, sub.take(3).map(|m| m.payload).collect())
        .await
        .unwrap();
    assert_eq!(got, vec![0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn cancelled_recv_loses_no_message() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let mut sub = broker.subscribe("c").unwrap();

    // A recv cancelled by its timeout while waiting...
    assert!(timeout(Duration::from_millis(10), sub.recv())
        .await
        .is_err());
    broker.publish("c", 1).unwrap();
    // ...and one raced against a ready branch in select!.
    tokio::select! {
        biased;
        _ = std::future::ready(()) => {}
        _ = sub.recv() => panic!("the ready branch is polled first"),
    }

    assert_eq!(next(&mut sub).await.payload, 1);
}

#[tokio::test]
async fn recv_ends_when_the_broker_is_gone() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let mut sub = broker.subscribe("x").unwrap();
    broker.publish("x", 5).unwrap();
    drop(broker);

    assert_eq!(next(&mut sub).await.payload, 5, "queued messages survive");
    assert!(timeout(WAIT, sub.recv()).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_publishers_order_is_kept_with_concurrent_publishers() {
    const PER_PUBLISHER: u64 = 1000;
    let broker = InMemoryMessageBroker::<(u64, u64)>::new();
    let mut sub = broker
        .subscribe_with_capacity("load.*", 2 * PER_PUBLISHER as usize)
        .unwrap();

    let publishers: Vec<_> = (0..2u64)
        .map(|publisher| {
            let broker = broker.clone();
            tokio::spawn(async move {
                let subject = format!("load.p{publisher}");
                for seq in 0..PER_PUBLISHER {
                    broker.publish(&subject, (publisher, seq)).unwrap();
                }
            })
        })
        .collect();
    for publisher in publishers {
        timeout(WAIT, publisher).await.unwrap().unwrap();
    }

    let mut next_seq = [0u64; 2];
    for _ in 0..2 * PER_PUBLISHER {
        let (publisher, seq) = next(&mut sub).await.payload;
        assert_eq!(seq, next_seq[publisher as usize], "publisher {publisher}");
        next_seq[publisher as usize] += 1;
    }
    assert_eq!(next_seq, [PER_PUBLISHER; 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounting_holds_under_subscription_churn() {
    const PUBLISHES: usize = 5000;
    let broker = InMemoryMessageBroker::<usize>::builder()
        .default_capacity(8)
        .build()
        .unwrap();
    let mut steady = broker
        .subscribe_with_capacity("churn.>", PUBLISHES)
        .unwrap();

    let churner = broker.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_churn = Arc::clone(&stop);
    let churn = tokio::spawn(async move {
        while !stop_churn.load(std::sync::atomic::Ordering::Relaxed) {
            let wildcard = churner.subscribe("churn.*").unwrap();
            let literal = churner.subscribe("churn.x").unwrap();
            tokio::task::yield_now().await;
            drop((wildcard, literal));
        }
    });

    let (mut delivered, mut dropped) = (0, 0);
    for i in 0..PUBLISHES {
        let report = broker.publish("churn.x", i).unwrap();
        assert_eq!(report.matched, report.delivered + report.dropped);
        delivered += report.delivered as u64;
        dropped += report.dropped as u64;
        if i % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    timeout(WAIT, churn).await.unwrap().unwrap();

    let stats = broker.stats();
    assert_eq!(stats.published, PUBLISHES as u64);
    assert_eq!(stats.delivered, delivered);
    assert_eq!(
        stats.dead_lettered, dropped,
        "every dropped copy is dead-lettered"
    );
    for expected in 0..PUBLISHES {
        assert_eq!(next(&mut steady).await.payload, expected);
    }
    assert_eq!(broker.subscription_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_pending_request_removes_its_inbox() {
    let broker = InMemoryMessageBroker::<u64>::new();
    let _silent = broker.subscribe("svc").unwrap();

    let cut_short = timeout(
        Duration::from_millis(10),
        broker.request("svc", 1, Duration::from_secs(60)),
    )
    .await;

    assert!(cut_short.is_err(), "the outer timeout fires first");
    assert_eq!(broker.subscription_count(), 1, "only `svc` is left");
}
