//! [`RecordingBroker`]: the host's real in-memory broker, with every
//! publish and dead letter recorded for the test.

use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{
    BrokerError, BrokerMessage, InMemoryMessageBroker, MessageBroker, PublishReport, Subscription,
    Undelivered,
};
use airssys_wasm::TopicMessage;
use futures::future::BoxFuture;

use crate::probe::{self, PROBE_SUBJECT};
use crate::record::{DeadLetter, Event, Log, Published};

/// An [`InMemoryMessageBroker`] that records what passes through it: every
/// publish (subject, sender, payload) and every dead letter (target,
/// reason, payload). Routing, subscriptions and dead-letter delivery are
/// the in-memory broker's, unchanged: the test runs on the real thing.
///
/// Publishes of [probes](crate::Probe) on `_testkit.probe` are recorded as
/// [`Event::Sent`] (what the probe received) instead of as publishes.
///
/// Cost: one lock and one copy of the subject per publish.
#[derive(Clone)]
pub struct RecordingBroker {
    inner: InMemoryMessageBroker<TopicMessage>,
    log: Arc<Log>,
}

impl std::fmt::Debug for RecordingBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingBroker")
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl RecordingBroker {
    pub(crate) fn new(log: Arc<Log>) -> Self {
        Self {
            inner: InMemoryMessageBroker::new(),
            log,
        }
    }

    fn record_publish(&self, subject: &str, msg: &TopicMessage) {
        let event = if subject == PROBE_SUBJECT {
            match probe::decode(&msg.payload) {
                Some(sent) => Event::Sent(sent),
                None => published(subject, msg),
            }
        } else {
            published(subject, msg)
        };
        self.log.push(event);
    }
}

fn published(subject: &str, msg: &TopicMessage) -> Event {
    Event::Published(Published {
        subject: subject.to_owned(),
        sender: msg.sender.as_ref().map(|s| s.as_str().to_owned()),
        payload: msg.payload.clone(),
    })
}

impl MessageBroker<TopicMessage> for RecordingBroker {
    fn publish(&self, subject: &str, msg: TopicMessage) -> Result<PublishReport, BrokerError> {
        self.record_publish(subject, &msg);
        self.inner.publish(subject, msg)
    }

    fn publish_with_reply(
        &self,
        subject: &str,
        reply_to: &str,
        msg: TopicMessage,
    ) -> Result<PublishReport, BrokerError> {
        self.record_publish(subject, &msg);
        self.inner.publish_with_reply(subject, reply_to, msg)
    }

    fn subscribe(&self, pattern: &str) -> Result<Subscription<TopicMessage>, BrokerError> {
        self.inner.subscribe(pattern)
    }

    fn subscribe_with_capacity(
        &self,
        pattern: &str,
        capacity: usize,
    ) -> Result<Subscription<TopicMessage>, BrokerError> {
        self.inner.subscribe_with_capacity(pattern, capacity)
    }

    fn request<'a>(
        &'a self,
        subject: &'a str,
        msg: TopicMessage,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BrokerMessage<TopicMessage>, BrokerError>> {
        self.record_publish(subject, &msg);
        self.inner.request(subject, msg, timeout)
    }

    fn publish_dead_letter(
        &self,
        original_subject: Arc<str>,
        msg: TopicMessage,
        undelivered: Undelivered,
    ) -> Result<(), BrokerError> {
        self.log.push(Event::DeadLetter(DeadLetter {
            target: undelivered.target.to_string(),
            label: undelivered.reason.label(),
            reason: undelivered.reason.to_string(),
            subject: original_subject.to_string(),
            sender: msg.sender.as_ref().map(|s| s.as_str().to_owned()),
            payload: msg.payload.clone(),
        }));
        self.inner
            .publish_dead_letter(original_subject, msg, undelivered)
    }

    fn dead_letter_subject(&self) -> &str {
        self.inner.dead_letter_subject()
    }
}
