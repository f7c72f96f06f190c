//! Topic fan-out and its pumps: nothing published to a component while it
//! was subscribed is lost when it stops or ends on its own, a pump whose
//! broker subscription ends subscribes again, and a shutdown ends them all.

mod common;

use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{
    BrokerError, BrokerMessage, InMemoryMessageBroker, MessageBroker, PublishReport, Subscription,
    Undelivered,
};
use airssys_rt::supervisor::RestartPolicy;
use airssys_wasm::{ComponentHost, ComponentSpec, DeadLetterReason, EngineConfig, TopicMessage};
use common::fixture;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::task::AbortHandle;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "current_thread")]
async fn topic_messages_queued_when_a_component_stops_are_handled_or_dead_lettered() {
    let host = ComponentHost::builder()
        .engine(EngineConfig::default().max_components(4))
        .build()
        .unwrap();
    let spec = ComponentSpec::new("listener", fixture("crashing_counter").into_bytes())
        .subscribe("events.*");
    let listener = host.spawn(spec).await.unwrap();
    // On one thread the topic's pump has not run yet: all 50 copies are
    // still queued on the host's broker subscription when the stop begins.
    for _ in 0..50 {
        let report = host.publish("events.x", &b"e"[..]).unwrap();
        assert_eq!(report.delivered, 1);
    }
    host.stop("listener").await.unwrap();
    timeout(WAIT, async {
        loop {
            let handled = listener.stats().handled;
            let dead = host.dead_letter_stats().actor_stopped;
            if handled + dead == 50 {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "unaccounted: handled {} + dead-lettered {:?} != 50 published",
            listener.stats().handled,
            host.dead_letter_stats()
        )
    });
    host.shutdown(WAIT).await;
}

/// An in-memory broker whose subscriptions the test can end, as a broker
/// behind a server ends them when it loses them: each is fed by a task
/// that [`cut`](Self::cut) aborts.
#[derive(Clone, Default)]
struct CuttableBroker {
    inner: InMemoryMessageBroker<TopicMessage>,
    feeds: Arc<Mutex<Vec<AbortHandle>>>,
    subscribed: Arc<Mutex<Vec<String>>>,
}

impl CuttableBroker {
    /// Ends every subscription made so far.
    fn cut(&self) {
        for feed in self.feeds.lock().drain(..) {
            feed.abort();
        }
    }

    /// Patterns subscribed to, in order, resubscriptions included.
    fn subscribed(&self) -> Vec<String> {
        self.subscribed.lock().clone()
    }
}

impl MessageBroker<TopicMessage> for CuttableBroker {
    fn publish(&self, subject: &str, msg: TopicMessage) -> Result<PublishReport, BrokerError> {
        self.inner.publish(subject, msg)
    }

    fn publish_with_reply(
        &self,
        subject: &str,
        reply_to: &str,
        msg: TopicMessage,
    ) -> Result<PublishReport, BrokerError> {
        self.inner.publish_with_reply(subject, reply_to, msg)
    }

    fn subscribe(&self, pattern: &str) -> Result<Subscription<TopicMessage>, BrokerError> {
        self.subscribe_with_capacity(pattern, 1024)
    }

    fn subscribe_with_capacity(
        &self,
        pattern: &str,
        capacity: usize,
    ) -> Result<Subscription<TopicMessage>, BrokerError> {
        let mut source = self.inner.subscribe_with_capacity(pattern, capacity)?;
        let (feed, queue) = tokio::sync::mpsc::channel(capacity);
        let task = tokio::spawn(async move {
            while let Some(message) = source.recv().await {
                if feed.send(message).await.is_err() {
                    return;
                }
            }
        });
        let abort = task.abort_handle();
        self.feeds.lock().push(task.abort_handle());
        self.subscribed.lock().push(pattern.to_owned());
        Ok(Subscription::from_parts(
            Arc::from(pattern),
            queue,
            Arc::default(),
            move || abort.abort(),
        ))
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
        self.inner
            .publish_dead_letter(original_subject, msg, undelivered)
    }

    fn dead_letter_subject(&self) -> &str {
        self.inner.dead_letter_subject()
    }
}

/// Waits up to [`WAIT`] for `done`.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    timeout(WAIT, async {
        while !done() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never: {what}"));
}

#[tokio::test]
async fn a_pump_whose_subscription_the_broker_ended_subscribes_again_and_keeps_delivering() {
    let broker = CuttableBroker::default();
    let host = ComponentHost::builder()
        .engine(EngineConfig::default().max_components(4))
        .broker(Arc::new(broker.clone()))
        .build()
        .unwrap();
    let listener = host
        .spawn(
            ComponentSpec::new("listener", fixture("crashing_counter").into_bytes())
                .subscribe("prices.>"),
        )
        .await
        .unwrap();
    host.publish("prices.eu", &b"1"[..]).unwrap();
    until("the first price handled", || listener.stats().handled == 1).await;
    assert_eq!(host.metrics().topic_pump_restarts(), 0);

    broker.cut();
    until("the pump noticed and subscribed again", || {
        host.metrics().topic_pump_restarts() == 1
    })
    .await;
    assert_eq!(broker.subscribed(), ["prices.>", "prices.>"]);
    let report = host.publish("prices.eu", &b"2"[..]).unwrap();
    assert_eq!(report.delivered, 1);
    until("the second price handled", || listener.stats().handled == 2).await;
    assert_eq!(host.dead_letter_stats().total(), 0);

    // A shutdown ends the pump: the host's subscription is gone.
    host.shutdown(WAIT).await;
    until("no subscription left", || {
        broker.inner.subscription_count() == 0
    })
    .await;
}

#[tokio::test]
async fn a_topic_message_for_a_subscriber_that_ended_on_its_own_is_dead_lettered_naming_it() {
    let host = ComponentHost::builder()
        .engine(EngineConfig::default().max_components(4))
        .build()
        .unwrap();
    let mut dead = host
        .broker()
        .subscribe(host.broker().dead_letter_subject())
        .unwrap();
    let listener = host
        .spawn(
            ComponentSpec::new("listener", fixture("crashing_counter").into_bytes())
                .subscribe("events.*")
                .restart(RestartPolicy::Transient),
        )
        .await
        .unwrap();
    listener.stop_after_queued().await.unwrap();
    until("it ended", || {
        host.list().first().is_some_and(|row| row.ended.is_some())
    })
    .await;
    // Still subscribed while it stays listed: its copy is accounted for.
    let report = host.publish("events.x", &b"e"[..]).unwrap();
    assert_eq!(report.delivered, 1);
    let letter = timeout(WAIT, dead.recv()).await.unwrap().unwrap();
    let undelivered = letter.dead_letter.expect("a dead letter");
    assert_eq!(&*undelivered.target, "listener");
    assert_eq!(undelivered.reason, DeadLetterReason::ActorStopped);
    assert_eq!(host.dead_letter_stats().actor_stopped, 1);
    // Stopped for good, it leaves its topics: nobody is subscribed.
    host.stop("listener").await.unwrap();
    assert_eq!(host.subscribers_of("events.x"), 0);
    host.shutdown(WAIT).await;
}
