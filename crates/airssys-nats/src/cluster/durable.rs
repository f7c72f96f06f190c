//! Durable mailboxes: sends to a component marked durable go to a
//! JetStream stream and are taken from it by one durable consumer per
//! component, on the host that owns the component, and acknowledged only
//! after its handler returned (at-least-once).
//!
//! - The stream `<p>_durable` keeps `<prefix>.durable.component.>` as a
//!   work queue: a message stays stored until acknowledged, whether or not
//!   a consumer exists yet. Each publish carries a `Nats-Msg-Id` (unique per
//!   sending host and message), so a publish repeated after a lost answer
//!   is stored once (the stream's duplicate window: 2 minutes).
//! - The consumer `c-<id>` filters its component's subject. A host that
//!   takes the component over deletes and recreates it: everything not yet
//!   acknowledged is delivered again at once (not after the ack wait), and
//!   those the old consumer had already delivered are marked redelivered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use async_nats::{Client, HeaderMap};
use bytes::Bytes;
use futures::StreamExt;

use super::ClusterError;

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
    prefix: String,
    /// This host's publish ids: `<host token>-<n>`.
    host: String,
    next: std::sync::Arc<AtomicU64>,
}

/// `c-<id>`: a consumer name holds no dots.
fn consumer_name(component: &str) -> String {
    format!("c-{}", component.replace('.', "_"))
}

impl DurableStore {
    /// Opens (or makes) the stream of application `prefix`'s durable
    /// mailboxes.
    ///
    /// # Errors
    /// [`ClusterError::Bucket`] when JetStream is off or refuses the stream.
    pub async fn open(client: Client, prefix: &str, memory: bool) -> Result<Self, ClusterError> {
        let js = jetstream::new(client);
        let name = format!("{}_durable", prefix.replace('.', "_"));
        let config = stream::Config {
            name: name.clone(),
            subjects: vec![format!("{prefix}.durable.component.>")],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: if memory {
                stream::StorageType::Memory
            } else {
                stream::StorageType::File
            },
            duplicate_window: Duration::from_secs(120),
            num_replicas: 1,
            ..Default::default()
        };
        if js.get_stream(&name).await.is_err() {
            if let Err(error) = js.create_stream(config).await {
                // Another host may have made it meanwhile.
                js.get_stream(&name)
                    .await
                    .map_err(|e| ClusterError::Bucket {
                        bucket: name.clone(),
                        reason: format!("{error}; then: {e}"),
                    })?;
            }
        }
        Ok(Self {
            js,
            stream: name,
            prefix: prefix.to_owned(),
            host: nuid::next().to_string(),
            next: std::sync::Arc::default(),
        })
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
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{}-{n}", self.host).as_str());
        if let Some(sender) = sender {
            headers.insert(SENDER, sender);
        }
        let ack = self
            .js
            .publish_with_headers(self.subject(component), headers, payload)
            .await
            .map_err(|e| e.to_string())?;
        ack.await.map(|a| a.sequence).map_err(|e| e.to_string())
    }

    /// Takes component `component`'s durable mailbox: (re)creates its
    /// consumer so that everything not acknowledged yet is delivered now,
    /// with at most `in_flight` unacknowledged at a time.
    ///
    /// # Errors
    /// [`ClusterError::Bucket`] when the stream or consumer cannot be had.
    pub async fn take(
        &self,
        component: &str,
        in_flight: usize,
    ) -> Result<DurableConsumer, ClusterError> {
        let failed = |reason: String| ClusterError::Bucket {
            bucket: self.stream.clone(),
            reason,
        };
        let stream = self
            .js
            .get_stream(&self.stream)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let name = consumer_name(component);
        // What the last owner's consumer handed out: at or below this,
        // a message may have been handled before.
        let delivered_before = match stream.consumer_info(&name).await {
            Ok(info) => {
                let up_to = info.delivered.stream_sequence;
                stream
                    .delete_consumer(&name)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                up_to
            }
            Err(_) => 0,
        };
        let config = consumer::pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: self.subject(component),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: DURABLE_ACK_WAIT,
            deliver_policy: consumer::DeliverPolicy::All,
            max_ack_pending: i64::try_from(in_flight.max(1)).unwrap_or(1024),
            ..Default::default()
        };
        let consumer = stream
            .create_consumer(config)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(DurableConsumer {
            messages,
            delivered_before,
        })
    }
}

/// One component's durable mailbox, taken by its owner.
pub struct DurableConsumer {
    messages: consumer::pull::Stream,
    delivered_before: u64,
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
                    return Some(DurableMessage {
                        sender,
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
