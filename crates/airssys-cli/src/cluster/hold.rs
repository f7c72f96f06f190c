//! A hold: what a host takes for a unit that is being handed to it, while
//! the old owner drains and stops it, so that nothing sent meanwhile is
//! lost.
//!
//! The new owner subscribes each component's subject (in the application's
//! queue group, so the server gives each message either to the old owner's
//! still-running component or to the hold, never to both) and each topic
//! pattern of the unit's components, and keeps what arrives in the
//! subscriptions' queues. Once its own components run and their
//! subscriptions are on the server, it unsubscribes the hold and delivers
//! everything held to them, requests answered as if they had arrived
//! directly.
//!
//! A topic message published in the short window between the hold's
//! subscription and the old owner's unsubscription reaches both: topics
//! fan out to every subscriber, and a hold cannot know which of them the
//! old instance already handled. That window is a few milliseconds; see
//! `docs/distribution.md`.

use std::time::Duration;

use airssys_nats::NatsBroker;
use airssys_rt::broker::{BrokerMessage, DistributedBroker, MessageBroker, Subscription};
use airssys_wasm::guest::GuestMessage;
use airssys_wasm::host::{ComponentHost, SEND_INBOX};
use airssys_wasm::{SubjectPattern, TopicMessage};

use super::units::Unit;
use crate::manifest::Manifest;

/// A held subscription's queue: large, a hand-over lasts milliseconds.
const HOLD_CAPACITY: usize = 1 << 16;

/// How long a held request may take to be answered by its component.
const HELD_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Who a held subscription's messages are for.
#[derive(Debug, Clone)]
enum Target {
    /// Component `id`'s own subject.
    Component(String),
    /// A topic pattern, and the components that subscribe it.
    Topic(Vec<String>),
}

/// The subscriptions a host holds for a unit handed to it.
pub(crate) struct Hold {
    subscriptions: Vec<(Subscription<TopicMessage>, Target)>,
    opened: std::time::Instant,
}

impl Hold {
    /// Subscribes `unit`'s component subjects and topic patterns, and
    /// returns once the server has the subscriptions.
    pub(crate) async fn open(
        broker: &NatsBroker<TopicMessage>,
        unit: &Unit,
        manifest: &Manifest,
    ) -> Result<Self, String> {
        let mut subscriptions = Vec::new();
        let mut patterns: Vec<(String, Vec<String>)> = Vec::new();
        for m in &unit.members {
            let subject = format!("{}{}", airssys_wasm::host::COMPONENT_SUBJECT_PREFIX, m.id);
            let sub = broker
                .subscribe_with_capacity(&subject, HOLD_CAPACITY)
                .map_err(|e| format!("hold {subject}: {e}"))?;
            subscriptions.push((sub, Target::Component(m.id.clone())));
            for p in &manifest.components[m.component].subscribe {
                match patterns.iter_mut().find(|(q, _)| q == p) {
                    Some((_, ids)) => ids.push(m.id.clone()),
                    None => patterns.push((p.clone(), vec![m.id.clone()])),
                }
            }
        }
        for (pattern, ids) in patterns {
            let sub = broker
                .subscribe_with_capacity(&pattern, HOLD_CAPACITY)
                .map_err(|e| format!("hold {pattern}: {e}"))?;
            subscriptions.push((sub, Target::Topic(ids)));
        }
        broker
            .sync()
            .await
            .map_err(|e| format!("hold not confirmed by the server: {e}"))?;
        Ok(Self {
            subscriptions,
            opened: std::time::Instant::now(),
        })
    }

    /// How long it has been open.
    pub(crate) fn age(&self) -> Duration {
        self.opened.elapsed()
    }

    /// Unsubscribes the hold and delivers what it took to the unit's
    /// components, now running on `host` (their own subscriptions already
    /// on the server).
    pub(crate) async fn deliver(
        self,
        host: &ComponentHost,
        broker: &NatsBroker<TopicMessage>,
        unit: &Unit,
        manifest: &Manifest,
    ) {
        let mut held = 0usize;
        for (mut sub, target) in self.subscriptions {
            sub.drain();
            while let Some(message) = sub.recv().await {
                held += 1;
                match &target {
                    Target::Component(id) => forward(host, broker, id, message).await,
                    Target::Topic(ids) => {
                        for id in ids {
                            let matches = unit
                                .members
                                .iter()
                                .find(|m| &m.id == id)
                                .map(|m| &manifest.components[m.component].subscribe)
                                .is_some_and(|patterns| {
                                    patterns.iter().any(|p| {
                                        SubjectPattern::new(p)
                                            .is_ok_and(|p| p.matches(&message.subject))
                                    })
                                });
                            if !matches {
                                continue;
                            }
                            let guest = GuestMessage {
                                sender: message.payload.sender.clone(),
                                subject: Some(message.subject.clone()),
                                correlation_id: None,
                                redelivered: false,
                                payload: message.payload.payload.clone(),
                                enqueued: airssys_wasm::metrics::Enqueued::now(),
                                trace: None,
                            };
                            if let Err(error) = host.deliver(id, guest, HELD_REQUEST_TIMEOUT).await
                            {
                                tracing::warn!(component = %id, %error, "a held topic message could not be delivered");
                            }
                        }
                    }
                }
            }
        }
        if held > 0 {
            tracing::info!(unit = %unit.key, held, "delivered what was held during the hand-over");
        }
    }

    /// The hand-over was called off: what was held for a component goes
    /// back on its subject (to whoever runs it); held topic messages
    /// reached the old owner too and are dropped.
    pub(crate) async fn release_elsewhere(self, broker: &NatsBroker<TopicMessage>) {
        for (mut sub, target) in self.subscriptions {
            sub.drain();
            while let Some(message) = sub.recv().await {
                if let Target::Component(_) = target {
                    let subject = message.subject.clone();
                    let reply = message.reply_to.as_deref().unwrap_or("");
                    let sent = if reply.is_empty() {
                        broker.publish(&subject, message.payload).map(|_| ())
                    } else {
                        broker
                            .publish_with_reply(&subject, reply, message.payload)
                            .map(|_| ())
                    };
                    if let Err(error) = sent {
                        tracing::warn!(%subject, %error, "a held message could not be sent back");
                    }
                }
            }
        }
    }
}

/// Delivers a message held for component `id`: a send is queued, a
/// request asked and its answer published to its reply subject.
async fn forward(
    host: &ComponentHost,
    broker: &NatsBroker<TopicMessage>,
    id: &str,
    message: BrokerMessage<TopicMessage>,
) {
    // Another host's monitor of the component, not a message for it.
    if host.take_monitor_request(id, &message) {
        return;
    }
    let request = message
        .reply_to
        .as_ref()
        .is_some_and(|r| !r.starts_with(SEND_INBOX));
    let guest = GuestMessage {
        sender: message.payload.sender.clone(),
        subject: None,
        correlation_id: request.then_some(1),
        redelivered: false,
        payload: message.payload.payload.clone(),
        enqueued: airssys_wasm::metrics::Enqueued::now(),
        trace: None,
    };
    match host.deliver(id, guest, HELD_REQUEST_TIMEOUT).await {
        Ok(reply) if request => {
            let answer = TopicMessage {
                sender: Some(id.into()),
                payload: reply.unwrap_or_default(),
                trace: None,
            };
            if let Err(error) = broker.reply(&message, answer) {
                tracing::warn!(component = %id, %error, "could not answer a held request");
            }
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(component = %id, %error, "a held message failed");
            if request {
                let _ = broker.reply_failure(&message, &error.to_string());
            }
        }
    }
}
