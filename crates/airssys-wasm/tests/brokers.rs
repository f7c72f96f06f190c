//! The host works through the `MessageBroker` trait: a broker of the
//! application's (installed in the actor system or given to the builder)
//! carries every publish, subscription and dead letter.

mod common;

use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{
    BrokerError, BrokerMessage, InMemoryMessageBroker, MessageBroker, PublishReport, Subscription,
    Undelivered,
};
use airssys_rt::ActorSystem;
use airssys_wasm::{
    ComponentHost, ComponentSpec, EngineConfig, HostError, Permissions, SubjectPattern,
    TopicMessage,
};
use common::fixture;
use futures::future::BoxFuture;
use parking_lot::Mutex;

const WAIT: Duration = Duration::from_secs(10);

/// What the recording broker saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Publish(String),
    Subscribe(String),
    DeadLetter { target: String },
}

/// A broker of the application's: an in-memory broker that records every
/// call, standing in for a NATS-backed one.
#[derive(Clone)]
struct RecordingBroker {
    inner: InMemoryMessageBroker<TopicMessage>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl RecordingBroker {
    fn new() -> Self {
        Self {
            inner: InMemoryMessageBroker::new(),
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }
}

impl MessageBroker<TopicMessage> for RecordingBroker {
    fn publish(&self, subject: &str, msg: TopicMessage) -> Result<PublishReport, BrokerError> {
        self.seen.lock().push(Seen::Publish(subject.to_owned()));
        self.inner.publish(subject, msg)
    }

    fn publish_with_reply(
        &self,
        subject: &str,
        reply_to: &str,
        msg: TopicMessage,
    ) -> Result<PublishReport, BrokerError> {
        self.seen.lock().push(Seen::Publish(subject.to_owned()));
        self.inner.publish_with_reply(subject, reply_to, msg)
    }

    fn subscribe(&self, pattern: &str) -> Result<Subscription<TopicMessage>, BrokerError> {
        self.seen.lock().push(Seen::Subscribe(pattern.to_owned()));
        self.inner.subscribe(pattern)
    }

    fn subscribe_with_capacity(
        &self,
        pattern: &str,
        capacity: usize,
    ) -> Result<Subscription<TopicMessage>, BrokerError> {
        self.seen.lock().push(Seen::Subscribe(pattern.to_owned()));
        self.inner.subscribe_with_capacity(pattern, capacity)
    }

    fn request<'a>(
        &'a self,
        subject: &'a str,
        msg: TopicMessage,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BrokerMessage<TopicMessage>, BrokerError>> {
        self.inner.request(subject, msg, timeout)
    }

    fn publish_dead_letter(
        &self,
        original_subject: Arc<str>,
        msg: TopicMessage,
        undelivered: Undelivered,
    ) -> Result<(), BrokerError> {
        self.seen.lock().push(Seen::DeadLetter {
            target: undelivered.target.to_string(),
        });
        self.inner
            .publish_dead_letter(original_subject, msg, undelivered)
    }

    fn dead_letter_subject(&self) -> &str {
        self.inner.dead_letter_subject()
    }
}

fn spec(id: &str, fixture_name: &str) -> ComponentSpec {
    ComponentSpec::new(id, fixture(fixture_name).into_bytes())
}

fn count(reply: Option<bytes::Bytes>) -> i32 {
    i32::from_le_bytes(reply.expect("a reply")[..4].try_into().unwrap())
}

#[tokio::test]
async fn a_broker_installed_in_the_actor_system_carries_the_hosts_traffic() {
    let broker = RecordingBroker::new();
    let system = ActorSystem::new();
    system.set_broker::<TopicMessage>(Arc::new(broker.clone()));
    let host = ComponentHost::builder()
        .engine(EngineConfig::default().max_components(8))
        .actor_system(system)
        .build()
        .unwrap();

    let listener = host
        .spawn(spec("listener", "crashing_counter").subscribe("events.*"))
        .await
        .unwrap();
    host.spawn(spec("sink", "echo")).await.unwrap();
    let forwarder = host
        .spawn(
            spec("forwarder", "forwarder").permissions(
                Permissions::deny_all()
                    .allow_target("sink")
                    .allow_subject(SubjectPattern::new("events.>").unwrap()),
            ),
        )
        .await
        .unwrap();
    // A publish from the host and one from a guest both reach the listener.
    host.publish("events.direct", &b"1"[..]).unwrap();
    forwarder.request(&b"s-2"[..], WAIT).await.unwrap();
    assert_eq!(count(listener.request(&b"q"[..], WAIT).await.unwrap()), 3);
    // A crash dead-letters its message through the same broker.
    let err = listener.request(&b"!crash"[..], WAIT).await.unwrap_err();
    assert!(matches!(err, HostError::HandlerFailed { .. }), "{err:?}");

    let seen = broker.seen();
    assert!(
        seen.contains(&Seen::Subscribe("events.*".into())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&Seen::Publish("events.direct".into())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&Seen::Publish("events.forwarded".into())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&Seen::DeadLetter {
            target: "listener".into()
        }),
        "{seen:?}"
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_broker_given_to_the_builder_is_the_hosts_broker() {
    let broker = RecordingBroker::new();
    let host = ComponentHost::builder()
        .engine(EngineConfig::default().max_components(4))
        .broker(Arc::new(broker.clone()))
        .build()
        .unwrap();
    host.publish("anything.at.all", &b"x"[..]).unwrap();
    let _watch = host.broker().subscribe("watch.>").unwrap();
    assert_eq!(
        broker.seen(),
        vec![
            Seen::Publish("anything.at.all".into()),
            Seen::Subscribe("watch.>".into())
        ]
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_dead_letter_subject_that_differs_from_the_given_brokers_is_refused() {
    let result = ComponentHost::builder()
        .broker(Arc::new(RecordingBroker::new()))
        .dead_letter_subject("elsewhere.dead")
        .build();
    match result {
        Err(HostError::InvalidSubject { subject, reason }) => {
            assert_eq!(subject, "elsewhere.dead");
            assert!(reason.contains("_airssys.deadletter"), "{reason}");
        }
        other => panic!("expected InvalidSubject, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn the_host_installs_its_default_broker_in_the_actor_system() {
    let system = ActorSystem::new();
    let host = ComponentHost::builder()
        .engine(EngineConfig::default().max_components(4))
        .dead_letter_subject("app.dead")
        .actor_system(system.clone())
        .build()
        .unwrap();
    let shared = system.broker::<TopicMessage>();
    assert_eq!(shared.dead_letter_subject(), "app.dead");
    let mut watch = shared.subscribe("hello").unwrap();
    host.publish("hello", &b"hi"[..]).unwrap();
    let got = tokio::time::timeout(WAIT, watch.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got.payload.payload[..], b"hi");
    host.shutdown(WAIT).await;
}
