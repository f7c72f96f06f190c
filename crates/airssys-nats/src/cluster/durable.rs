//! Durable mailboxes: sends to a component marked durable go to a
//! JetStream stream and are taken from it by one durable consumer per
//! component, on the host that owns the component, and acknowledged only
//! after its handler returned (at-least-once).
//!
//! - The stream `<p>_durable` keeps `<prefix>.durable.component.>` as a
//!   work queue: a message stays stored until acknowledged, whether or not
//!   a consumer exists yet. Each publish carries a `Nats-Msg-Id` (unique per
//!   sending host and message), so a publish repeated after a lost answer
//!   is stored once (the stream's duplicate window: [`DUPLICATE_WINDOW`]).
//! - The consumer `c-<id>` filters its component's subject. A host that
//!   takes the component over deletes and recreates it: everything not yet
//!   acknowledged is delivered again at once (not after the ack wait), and
//!   those the old consumer had already delivered are marked redelivered.
//! - Durable topics: the stream `<p>_topics` keeps
//!   `<prefix>.durable.topic.>` for a stated time (limits retention: a
//!   message stays for every subscriber, whether or not one already
//!   acknowledged it). Each subscribing component takes its part through
//!   consumer `t-<id>-<hash>` (see [`topics`](super::topics)), made when a
//!   host joins (delivering what is published from then on) and
//!   recreated by each new owner from the old consumer's acknowledgement
//!   floor, so that what was not acknowledged comes at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use async_nats::{Client, HeaderMap};
use bytes::Bytes;
use futures::StreamExt;

use super::{topics, ClusterError};

/// Header carrying the sending component's id (as on core NATS).
const SENDER: &str = "Airssys-Sender";

/// How long a delivered message may stay unacknowledged before JetStream
/// delivers it again (its handler is slow, or its host is stuck): 30 s.
pub const DURABLE_ACK_WAIT: Duration = Duration::from_secs(30);

/// An application's durable mailboxes.
#[derive(Debug, Clone)]
pub struct DurableStore {
    js: jetstream::Context,
    stream: String,
    topics: String,
    memory: bool,
    prefix: String,
    /// This host's publish ids: `<host token>-<n>`.
    host: String,
    next: std::sync::Arc<AtomicU64>,
}

/// `c-<id>`: a consumer name holds no dots.
fn consumer_name(component: &str) -> String {
    format!("c-{}", component.replace('.', "_"))
}

/// How long the server remembers a publish's `Nats-Msg-Id` to store a
/// repeat of it once: 30 s, well past a publish's own timeout (5 s), while
/// bounding what the server keeps (the ids of 30 s of publishes).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(30);

/// Default time a durable topic's messages are kept: 24 hours. A
/// subscriber that stays down longer misses the oldest.
pub const DEFAULT_TOPIC_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// A durable source of one component's messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Mailbox {
    /// Sends to the component (marked durable).
    Component(String),
    /// What the component subscribed to of the durable topics: the
    /// subjects matching `filter` (see [`topics::filters`]).
    Topic {
        /// The subscribing component.
        component: String,
        /// The subjects it takes (no prefix).
        filter: String,
    },
}

impl Mailbox {
    /// The component whose messages these are.
    pub fn component(&self) -> &str {
        match self {
            Self::Component(id) | Self::Topic { component: id, .. } => id,
        }
    }
}

impl DurableStore {
    /// Opens (or makes) the stream of application `prefix`'s durable
    /// mailboxes.
    ///
    /// # Errors
    /// [`ClusterError::Bucket`] when JetStream is off or refuses the stream.
    pub async fn open(client: Client, prefix: &str, memory: bool) -> Result<Self, ClusterError> {
        let store = Self::new(client, prefix, memory);
        store.ensure_mailboxes().await?;
        Ok(store)
    }

    /// The store of application `prefix` (with `memory`, its streams are
    /// kept in memory, not on disk), making nothing yet: see
    /// [`ensure_mailboxes`](Self::ensure_mailboxes) and
    /// [`ensure_topics`](Self::ensure_topics).
    pub fn new(client: Client, prefix: &str, memory: bool) -> Self {
        let p = prefix.replace('.', "_");
        Self {
            js: jetstream::new(client),
            stream: format!("{p}_durable"),
            topics: format!("{p}_topics"),
            memory,
            prefix: prefix.to_owned(),
            host: nuid::next().to_string(),
            next: std::sync::Arc::default(),
        }
    }

    /// Makes the stream of durable components' mailboxes if it is missing.
    ///
    /// # Errors
    /// [`ClusterError::Bucket`] when JetStream is off or refuses the stream.
    pub async fn ensure_mailboxes(&self) -> Result<(), ClusterError> {
        self.ensure_stream(stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{}.durable.component.>", self.prefix)],
            retention: stream::RetentionPolicy::WorkQueue,
            duplicate_window: DUPLICATE_WINDOW,
            ..self.stream_defaults()
        })
        .await
    }

    /// Makes the stream of durable topics if it is missing, keeping each
    /// message for `retention`.
    ///
    /// # Errors
    /// [`ClusterError::Bucket`] when JetStream is off or refuses the stream.
    pub async fn ensure_topics(&self, retention: Duration) -> Result<(), ClusterError> {
        self.ensure_stream(stream::Config {
            name: self.topics.clone(),
            subjects: vec![format!("{}.durable.topic.>", self.prefix)],
            retention: stream::RetentionPolicy::Limits,
            max_age: retention,
            duplicate_window: DUPLICATE_WINDOW.min(retention),
            ..self.stream_defaults()
        })
        .await
    }

    fn stream_defaults(&self) -> stream::Config {
        stream::Config {
            storage: if self.memory {
                stream::StorageType::Memory
            } else {
                stream::StorageType::File
            },
            num_replicas: 1,
            ..Default::default()
        }
    }

    async fn ensure_stream(&self, config: stream::Config) -> Result<(), ClusterError> {
        let name = config.name.clone();
        if self.js.get_stream(&name).await.is_err() {
            if let Err(error) = self.js.create_stream(config).await {
                // Another host may have made it meanwhile.
                self.js
                    .get_stream(&name)
                    .await
                    .map_err(|e| ClusterError::Bucket {
                        bucket: name.clone(),
                        reason: format!("{error}; then: {e}"),
                    })?;
            }
        }
        Ok(())
    }

    /// Makes component `component`'s consumer of the durable topics'
    /// subjects `filter` if it has none yet; a new one takes what is
    /// published from now on. Every host does this for every subscriber
    /// before it starts anything, so that nothing published by the
    /// application precedes its subscribers' consumers.
    ///
    /// # Errors
    /// [`ClusterError::Bucket`] when the stream or consumer cannot be had.
    pub async fn ensure_topic_consumer(
        &self,
        component: &str,
        filter: &str,
    ) -> Result<(), ClusterError> {
        let failed = |reason: String| ClusterError::Bucket {
            bucket: self.topics.clone(),
            reason,
        };
        let stream = self
            .js
            .get_stream(&self.topics)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let name = topics::consumer_name(component, filter);
        if stream.consumer_info(&name).await.is_ok() {
            return Ok(());
        }
        let config = self.topic_consumer(&name, filter, consumer::DeliverPolicy::New, 1);
        if let Err(error) = stream.create_consumer(config).await {
            // Made by another host meanwhile, or refused.
            stream
                .consumer_info(&name)
                .await
                .map_err(|e| failed(format!("{error}; then: {e}")))?;
        }
        Ok(())
    }

    fn topic_consumer(
        &self,
        name: &str,
        filter: &str,
        deliver_policy: consumer::DeliverPolicy,
        in_flight: usize,
    ) -> consumer::pull::Config {
        consumer::pull::Config {
            durable_name: Some(name.to_owned()),
            filter_subject: self.topic_subject(filter),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: DURABLE_ACK_WAIT,
            deliver_policy,
            max_ack_pending: i64::try_from(in_flight.max(1)).unwrap_or(1024),
            ..Default::default()
        }
    }

    /// `<prefix>.durable.topic.<subject>`: where publishes on a durable
    /// topic's `subject` are stored.
    pub fn topic_subject(&self, subject: &str) -> String {
        format!("{}.durable.topic.{subject}", self.prefix)
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// `<prefix>.durable.component.<id>`: where sends to `component` are
    /// stored.
    pub fn subject(&self, component: &str) -> String {
        format!("{}.durable.component.{component}", self.prefix)
    }

    /// Stores a send to `component` and resolves once the stream confirmed
    /// it (a duplicate of an earlier publish of this host is confirmed
    /// without being stored twice).
    ///
    /// # Errors
    /// In words: not connected, no stream, the server refused it.
    pub async fn publish(
        &self,
        component: &str,
        sender: Option<&str>,
        payload: Bytes,
    ) -> Result<u64, String> {
        self.store(self.subject(component), sender, payload).await
    }

    /// Publishes `payload` on `subject` with a fresh `Nats-Msg-Id` and
    /// waits for the stream's confirmation.
    async fn store(
        &self,
        subject: String,
        sender: Option<&str>,
        payload: Bytes,
    ) -> Result<u64, String> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{}-{n}", self.host).as_str());
        if let Some(sender) = sender {
            headers.insert(SENDER, sender);
        }
        let ack = self
            .js
            .publish_with_headers(subject, headers, payload)
            .await
            .map_err(|e| e.to_string())?;
        ack.await.map(|a| a.sequence).map_err(|e| e.to_string())
    }

    /// Stores a publish on durable topic subject `subject` (no prefix) and
    /// resolves once the stream confirmed it.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    pub async fn publish_topic(
        &self,
        subject: &str,
        sender: Option<&str>,
        payload: Bytes,
    ) -> Result<u64, String> {
        self.store(self.topic_subject(subject), sender, payload)
            .await
    }

    /// Takes durable mailbox `mailbox`: (re)creates its consumer so that
    /// everything not acknowledged yet is delivered now, with at most
    /// `in_flight` unacknowledged at a time.
    ///
    /// # Errors
    /// [`ClusterError::Bucket`] when the stream or consumer cannot be had.
    pub async fn take(
        &self,
        mailbox: &Mailbox,
        in_flight: usize,
    ) -> Result<DurableConsumer, ClusterError> {
        let (stream_name, name) = match mailbox {
            Mailbox::Component(id) => (&self.stream, consumer_name(id)),
            Mailbox::Topic { component, filter } => {
                (&self.topics, topics::consumer_name(component, filter))
            }
        };
        let failed = |reason: String| ClusterError::Bucket {
            bucket: stream_name.clone(),
            reason,
        };
        let stream = self
            .js
            .get_stream(stream_name)
            .await
            .map_err(|e| failed(e.to_string()))?;
        // What the last owner's consumer handed out (at or below it, a
        // message may have been handled before) and, for a topic, where
        // its acknowledgements end.
        let previous = stream.consumer_info(&name).await.ok();
        let delivered_before = previous.as_ref().map_or(0, |i| i.delivered.stream_sequence);
        let config = match mailbox {
            Mailbox::Component(id) => consumer::pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: self.subject(id),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: DURABLE_ACK_WAIT,
                // A work queue keeps only what is not acknowledged.
                deliver_policy: consumer::DeliverPolicy::All,
                max_ack_pending: i64::try_from(in_flight.max(1)).unwrap_or(1024),
                ..Default::default()
            },
            Mailbox::Topic { filter, .. } => {
                let policy = match &previous {
                    Some(info) => consumer::DeliverPolicy::ByStartSequence {
                        start_sequence: info.ack_floor.stream_sequence + 1,
                    },
                    None => consumer::DeliverPolicy::New,
                };
                self.topic_consumer(&name, filter, policy, in_flight)
            }
        };
        // Another host's first `ensure_topic_consumer` may make one in
        // between: it is replaced, from the floor read above.
        let mut attempts = 0;
        let consumer = loop {
            attempts += 1;
            if stream.consumer_info(&name).await.is_ok() {
                stream
                    .delete_consumer(&name)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
            }
            match stream.create_consumer(config.clone()).await {
                Ok(consumer) => break consumer,
                Err(error) if attempts >= 3 => return Err(failed(error.to_string())),
                Err(_) => {}
            }
        };
        let messages = consumer
            .messages()
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(DurableConsumer {
            messages,
            delivered_before,
            topic_prefix: format!("{}.durable.topic.", self.prefix),
        })
    }
}

/// One component's durable mailbox, taken by its owner.
pub struct DurableConsumer {
    messages: consumer::pull::Stream,
    delivered_before: u64,
    /// `<prefix>.durable.topic.`: stripped from a topic message's subject.
    topic_prefix: String,
}

impl std::fmt::Debug for DurableConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableConsumer")
            .field("delivered_before", &self.delivered_before)
            .finish_non_exhaustive()
    }
}

impl DurableConsumer {
    /// The next stored message; `None` when the consumer ended. Messages
    /// that fail to arrive (a transient server error) are logged and
    /// skipped: they stay stored and come again.
    pub async fn next(&mut self) -> Option<DurableMessage> {
        loop {
            match self.messages.next().await? {
                Ok(message) => {
                    let (redelivered, sequence) = match message.info() {
                        Ok(info) => (
                            info.delivered > 1 || info.stream_sequence <= self.delivered_before,
                            info.stream_sequence,
                        ),
                        Err(_) => (true, 0),
                    };
                    let sender = message
                        .headers
                        .as_ref()
                        .and_then(|h| h.get(SENDER))
                        .map(|v| v.as_str().to_owned());
                    let subject = message
                        .subject
                        .strip_prefix(self.topic_prefix.as_str())
                        .map(str::to_owned);
                    return Some(DurableMessage {
                        sender,
                        subject,
                        payload: message.payload.clone(),
                        redelivered,
                        sequence,
                        message,
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "durable consumer: a message did not arrive; it stays stored");
                }
            }
        }
    }
}

/// A stored message, delivered to its component's owner.
#[derive(Debug)]
pub struct DurableMessage {
    /// The sending component, if any.
    pub sender: Option<String>,
    /// The topic subject it was published on (no prefix); `None` for a
    /// send to a durable component.
    pub subject: Option<String>,
    /// The payload.
    pub payload: Bytes,
    /// It may have been handled before (delivered again).
    pub redelivered: bool,
    /// Its place in the stream.
    pub sequence: u64,
    message: jetstream::Message,
}

impl DurableMessage {
    /// Acknowledges it: the stream forgets it.
    ///
    /// # Errors
    /// In words, when the acknowledgement could not be sent (the message
    /// comes again after the ack wait).
    pub async fn ack(&self) -> Result<(), String> {
        self.message.ack().await.map_err(|e| e.to_string())
    }

    /// Gives it back: delivered again (to whoever owns the consumer then).
    ///
    /// # Errors
    /// As [`ack`](Self::ack).
    pub async fn nak(&self) -> Result<(), String> {
        self.message
            .ack_with(jetstream::AckKind::Nak(None))
            .await
            .map_err(|e| e.to_string())
    }
}
