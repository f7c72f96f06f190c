//! [`NatsBroker`]: the airssys-rt [`MessageBroker`] over a NATS server.
//!
//! # How a message travels
//!
//! - **Subjects** are namespaced: `orders.new` is `<prefix>.orders.new` on the
//!   wire, and the prefix is stripped on receive, so applications with
//!   different prefixes share a server without seeing each other. Reply
//!   inboxes (`_INBOX.…`) are the one exception: they are unique and used as is.
//! - **Publish** is synchronous and never blocks: the message is encoded and
//!   handed to the client's own command channel from the caller's call when
//!   it has room, or else put on the broker's bounded outbound queue, which
//!   one task drains into the client in order (see `outbound`). A full
//!   queue, or a client that is not connected, is [`BrokerError::Transport`]
//!   at once: the caller knows the message was not accepted. Subscribes go
//!   through the same queue, and nothing overtakes what is queued, so a
//!   subscribe followed by a publish reaches the server in that order.
//! - **Subscribe** makes one NATS subscription, fed into the airssys
//!   [`Subscription`]'s bounded queue by one task (see `inbound`). A message
//!   that finds that queue full is dead-lettered (as in the in-memory
//!   broker). Dropping the `Subscription` ends the task, which unsubscribes
//!   from the server. With [`subscribe_direct`](MessageBroker::subscribe_direct)
//!   that task offers each message to the consumer's direct path first.
//! - **Request** uses a NATS inbox and the request timeout; a server that
//!   knows no subscriber answers at once, which is [`BrokerError::NoResponders`].

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{
    subject, Backlog, BrokerError, DirectDelivery, PublishReport, PublishWaiting, Subscription,
    Undelivered,
};
use async_nats::{Client, HeaderMap, Subject};
use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, watch};

use crate::codec::WireCodec;
use crate::connection::{ConnectionState, ConnectionStatus};
use crate::dead_letter_wire::put_dead_letter;
use crate::error::NatsError;
use crate::inbound::{pump, Inbound, Route};
use crate::outbound::{Now, Outbound, Outbox, Publish, Refused};
use crate::stats::{Counters, NatsStats};
use crate::subjects::wire;
use crate::wire_names::WireNames;

pub(crate) struct Inner<M> {
    pub(crate) client: Client,
    pub(crate) codec: Arc<dyn WireCodec<M>>,
    pub(crate) prefix: Arc<str>,
    pub(crate) dead_letter_subject: String,
    pub(crate) subscription_capacity: usize,
    pub(crate) outbox: Outbox,
    /// Wire subjects of recent publishes, validated.
    pub(crate) names: WireNames,
    pub(crate) status: watch::Receiver<ConnectionStatus>,
    /// `status`'s state is `Connected`, kept beside it: read by every
    /// publish, where the watch's lock would be shared by every sending
    /// core.
    pub(crate) connected: Arc<AtomicBool>,
    pub(crate) counters: Arc<Counters>,
    /// Subjects subscribed in a queue group, if any.
    pub(crate) queue_group: Option<QueueGroup>,
}

/// A [`MessageBroker`] over a NATS server: hosts on many machines that
/// connect to one server (or cluster) with the same prefix form one
/// application.
///
/// Cheap to clone; every clone is the same connection.
///
/// ```no_run
/// use std::sync::Arc;
/// use airssys_nats::{BytesCodec, NatsBroker};
/// use airssys_rt::broker::MessageBroker;
/// use bytes::Bytes;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let broker = NatsBroker::builder("nats://127.0.0.1:4222", Arc::new(BytesCodec))
///     .prefix("shop")
///     .connect()
///     .await?;
/// let mut orders = broker.subscribe("orders.>")?; // `shop.orders.>` on the wire
/// broker.sync().await?;                           // the server has the subscription
/// broker.publish("orders.eu", Bytes::from_static(b"order 1"))?;
/// let msg = orders.recv().await.expect("broker alive");
/// assert_eq!(&*msg.subject, "orders.eu");
/// # Ok(()) }
/// ```
pub struct NatsBroker<M> {
    pub(crate) inner: Arc<Inner<M>>,
}

impl<M> Clone for NatsBroker<M> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<M> fmt::Debug for NatsBroker<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsBroker")
            .field("prefix", &self.inner.prefix)
            .field("state", &self.inner.status.borrow().state)
            .finish_non_exhaustive()
    }
}

/// Subjects subscribed in a NATS queue group: of all the subscribers in the
/// group, the server hands each message to one.
#[derive(Debug, Clone)]
pub(crate) struct QueueGroup {
    /// Patterns starting with this (before the prefix is added).
    pub(crate) subjects: String,
    /// The group's name.
    pub(crate) group: String,
}

impl<M: Clone + Send + 'static> NatsBroker<M> {
    /// The application prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The connection state now.
    pub fn connection_state(&self) -> ConnectionState {
        self.inner.status.borrow().state
    }

    /// The connection's status, to watch for changes (`changed().await`).
    pub fn connection_status(&self) -> watch::Receiver<ConnectionStatus> {
        self.inner.status.clone()
    }

    /// Counters since the broker was connected.
    pub fn stats(&self) -> NatsStats {
        self.inner.counters.snapshot()
    }

    /// The underlying `async-nats` client (e.g. for a raw baseline).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The subject on the wire for `subject`: `<prefix>.<subject>`, or the
    /// subject itself for a reply inbox (`_INBOX.…`).
    pub fn wire_subject(&self, subject: &str) -> String {
        wire(&self.inner.prefix, subject)
    }

    /// Waits until the server has processed every publish and subscribe made
    /// through this broker before the call (one round trip through the
    /// outbound queue and the server). Use it after subscribing, before
    /// another host publishes.
    ///
    /// # Errors
    /// [`NatsError::Transport`] if the outbound queue is full or gone;
    /// [`NatsError::Timeout`] after 5 s without an answer.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future leaves nothing behind but one
    /// short-lived inbox subscription.
    pub async fn sync(&self) -> Result<(), NatsError> {
        const TIMEOUT: Duration = Duration::from_secs(5);
        let (tx, rx) = oneshot::channel();
        self.inner
            .outbox
            .try_queue(Outbound::Barrier(tx))
            .map_err(|e| NatsError::Transport {
                reason: e.to_string(),
            })?;
        match tokio::time::timeout(TIMEOUT, rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(NatsError::Transport {
                reason: "the outbound task is gone".into(),
            }),
            Err(_) => Err(NatsError::Timeout { timeout: TIMEOUT }),
        }
    }

    /// Counts a refused publish and says why.
    pub(crate) fn refused(&self, subject: &str, reason: String) -> BrokerError {
        self.inner.counters.refused.fetch_add(1, Ordering::Relaxed);
        BrokerError::Transport {
            subject: subject.to_owned(),
            reason,
        }
    }

    /// The validated wire subject of `subject` (`<prefix>.<subject>`, or
    /// a reply inbox as is), from the cache of recent ones.
    pub(crate) fn wire_of(&self, subject: &str) -> Result<Subject, BrokerError> {
        self.inner.names.get_or_make(subject, || {
            subject::validate_subject(subject).map_err(|e| invalid_subject(subject, e))?;
            Ok(Subject::from(wire(&self.inner.prefix, subject)))
        })
    }

    /// Checks the subjects, encodes `msg`, and makes the publish for the
    /// wire; refused at once when not connected. `subject` may be given
    /// as its wire subject already (dead letters).
    pub(crate) fn prepare(
        &self,
        subject: &str,
        reply: Option<&str>,
        msg: M,
        dead_letter: Option<(&str, &Undelivered)>,
    ) -> Result<Publish, BrokerError> {
        let (mut headers, payload) = self.encode(subject, msg)?;
        if let Some((original, reason)) = dead_letter {
            put_dead_letter(&mut headers, original, reason);
        }
        self.prepare_encoded(subject, reply, headers, payload)
    }

    /// As [`prepare`](Self::prepare), for headers and payload already
    /// made.
    pub(crate) fn prepare_encoded(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<Publish, BrokerError> {
        let wire_subject = self.wire_of(subject)?;
        let wire_reply = reply.map(|r| self.wire_of(r)).transpose()?;
        self.check_connected(subject)?;
        Ok(Publish {
            subject: wire_subject,
            reply: wire_reply,
            headers,
            payload,
        })
    }

    /// Refused at once (and counted) unless connected.
    pub(crate) fn check_connected(&self, subject: &str) -> Result<(), BrokerError> {
        if self.inner.connected.load(Ordering::Acquire) {
            return Ok(());
        }
        let state = self.inner.status.borrow().state;
        Err(self.refused(
            subject,
            format!("not connected to NATS ({})", state.as_str()),
        ))
    }

    /// As [`prepare`](Self::prepare), for subjects whose wire form a
    /// [`NatsPublisher`] made already.
    pub(crate) fn prepare_bound(
        &self,
        subject: &str,
        wire: &Subject,
        reply: Option<&Subject>,
        msg: M,
    ) -> Result<Publish, BrokerError> {
        let (headers, payload) = self.encode(subject, msg)?;
        self.check_connected(subject)?;
        Ok(Publish {
            subject: wire.clone(),
            reply: reply.cloned(),
            headers,
            payload,
        })
    }

    /// Hands `publish` to the client now, or returns the wait for room;
    /// counts the outcome.
    pub(crate) fn hand_over_waiting<'a>(
        &'a self,
        subject: &'a str,
        publish: Publish,
    ) -> PublishWaiting<'a> {
        let done = move |outcome| {
            self.accepted(subject, outcome)
                .map(|()| PublishReport::default())
        };
        match self.inner.outbox.publish_now(publish) {
            Now::Done(outcome) => PublishWaiting::done(done(outcome)),
            Now::NotNow(publish) => PublishWaiting::waiting(async move {
                let outcome = self.inner.outbox.publish_waiting(publish).await;
                done(outcome)
            }),
        }
    }

    /// Hands a publish to the client, or queues it; never waits.
    pub(crate) fn enqueue(&self, subject: &str, publish: Publish) -> Result<(), BrokerError> {
        self.accepted(subject, self.inner.outbox.publish(publish))
    }

    /// Counts the outcome of a publish: accepted, or refused with the reason.
    pub(crate) fn accepted(
        &self,
        subject: &str,
        outcome: Result<(), Refused>,
    ) -> Result<(), BrokerError> {
        match outcome {
            Ok(()) => {
                self.count_published();
                Ok(())
            }
            Err(refused) => Err(self.refused(subject, refused.to_string())),
        }
    }

    /// Counts a message the client or the outbound queue accepted.
    pub(crate) fn count_published(&self) {
        self.inner
            .counters
            .published
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Subscribes `pattern` with a queue of `capacity`, and `direct` as its
    /// fast path if given.
    pub(crate) fn subscribe_route(
        &self,
        pattern: &str,
        capacity: usize,
        direct: Option<DirectDelivery<M>>,
    ) -> Result<Subscription<M>, BrokerError> {
        subject::validate_pattern(pattern).map_err(|e| BrokerError::InvalidPattern {
            pattern: pattern.to_owned(),
            reason: e,
        })?;
        if capacity == 0 {
            return Err(BrokerError::ZeroCapacity {
                pattern: pattern.to_owned(),
            });
        }
        let (queue, rx) = mpsc::channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let pattern: Arc<str> = Arc::from(pattern);
        let backlog = Backlog::new();
        let (drain, drained) = oneshot::channel();
        let route = Route {
            queue,
            pattern: Arc::clone(&pattern),
            dropped: Arc::clone(&dropped),
            direct,
            backlog: backlog.clone(),
            drain: drained,
        };
        let wire_pattern = wire(&self.inner.prefix, &pattern);
        let queue_group = self
            .inner
            .queue_group
            .as_ref()
            .filter(|q| pattern.starts_with(q.subjects.as_str()))
            .map(|q| q.group.clone());
        let inbound = Inbound {
            codec: Arc::clone(&self.inner.codec),
            prefix: Arc::clone(&self.inner.prefix),
            counters: Arc::clone(&self.inner.counters),
            broker: Arc::new(self.clone()),
        };
        let subscribe = move |client: Client| -> BoxFuture<'static, ()> {
            Box::pin(async move {
                let subscribed = match queue_group {
                    Some(group) => client.queue_subscribe(wire_pattern.clone(), group).await,
                    None => client.subscribe(wire_pattern.clone()).await,
                };
                match subscribed {
                    Ok(nats) => {
                        tokio::spawn(pump(inbound, nats, route));
                    }
                    Err(error) => {
                        tracing::warn!(pattern = %wire_pattern, %error, "NATS subscribe failed; the subscription is closed");
                    }
                }
            })
        };
        self.inner
            .outbox
            .try_queue(Outbound::Subscribe(Box::new(subscribe)))
            .map_err(|e| BrokerError::Transport {
                subject: pattern.to_string(),
                reason: format!("cannot queue the subscribe: {e}"),
            })?;
        // The pump notices the dropped receiver and unsubscribes.
        Ok(Subscription::from_parts(pattern, rx, dropped, || {})
            .with_backlog(backlog)
            .with_drain(move || {
                // The pump drains the subscription at the server, then ends.
                let _ = drain.send(());
            }))
    }

    pub(crate) fn encode(&self, subject: &str, msg: M) -> Result<(HeaderMap, Bytes), BrokerError> {
        let mut headers = HeaderMap::new();
        let payload =
            self.inner
                .codec
                .encode(msg, &mut headers)
                .map_err(|e| BrokerError::Transport {
                    subject: subject.to_owned(),
                    reason: format!("cannot encode the message: {e}"),
                })?;
        Ok((headers, payload))
    }
}

pub(crate) fn invalid_subject(
    subject: &str,
    reason: airssys_rt::broker::SubjectError,
) -> BrokerError {
    BrokerError::InvalidSubject {
        subject: subject.to_owned(),
        reason,
    }
}
