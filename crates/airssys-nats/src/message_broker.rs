//! The airssys [`MessageBroker`] of a [`NatsBroker`]: publish, subscribe,
//! request and reply, dead letters; and its [`SubjectPublisher`].

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{
    subject, BrokerError, BrokerMessage, DirectDelivery, DistributedBroker, MessageBroker,
    PublishReport, PublishWaiting, SubjectPublisher, Subscription, Undelivered,
};
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use futures::future::BoxFuture;

use crate::broker::{invalid_subject, NatsBroker};
use crate::codec::headers;
use crate::subjects::{local, wire};

/// A [`NatsBroker`]'s [`SubjectPublisher`]: the wire subjects made and
/// checked once, so a message costs its encoding and the hand-over to the
/// client.
struct NatsPublisher<M> {
    broker: NatsBroker<M>,
    subject: Box<str>,
    wire: Subject,
    reply: Option<Subject>,
}

impl<M> NatsPublisher<M> {
    fn reply(&self, with_reply: bool) -> Option<&Subject> {
        self.reply.as_ref().filter(|_| with_reply)
    }
}

impl<M: Clone + Send + 'static> SubjectPublisher<M> for NatsPublisher<M> {
    fn subject(&self) -> &str {
        &self.subject
    }

    fn publish(&self, msg: M, with_reply: bool) -> Result<PublishReport, BrokerError> {
        let publish =
            self.broker
                .prepare_bound(&self.subject, &self.wire, self.reply(with_reply), msg)?;
        self.broker.enqueue(&self.subject, publish)?;
        Ok(PublishReport::default())
    }

    fn publish_waiting(&self, msg: M, with_reply: bool) -> PublishWaiting<'_> {
        match self
            .broker
            .prepare_bound(&self.subject, &self.wire, self.reply(with_reply), msg)
        {
            Ok(publish) => self.broker.hand_over_waiting(&self.subject, publish),
            Err(error) => PublishWaiting::done(Err(error)),
        }
    }
}

impl<M: Clone + Send + 'static> MessageBroker<M> for NatsBroker<M> {
    /// Encodes `msg` and queues it for the server; never waits.
    ///
    /// The [`PublishReport`] is all zeros: the server does not say who
    /// matched.
    ///
    /// # Errors
    /// [`BrokerError::InvalidSubject`]; [`BrokerError::Transport`] if the
    /// client is not connected, the outbound queue is full, or `msg` cannot
    /// be encoded. The message was not accepted.
    fn publish(&self, subject: &str, msg: M) -> Result<PublishReport, BrokerError> {
        let publish = self.prepare(subject, None, msg, None)?;
        self.enqueue(subject, publish)?;
        Ok(PublishReport::default())
    }

    fn publish_with_reply(
        &self,
        subject: &str,
        reply_to: &str,
        msg: M,
    ) -> Result<PublishReport, BrokerError> {
        let publish = self.prepare(subject, Some(reply_to), msg, None)?;
        self.enqueue(subject, publish)?;
        Ok(PublishReport::default())
    }

    /// Waits while the client's channel is full (as a plain `async-nats`
    /// publisher does), or for room in the outbound queue if something is
    /// queued before it; refuses at once when not connected (as
    /// `publish_with_reply` does). When the client takes it at once, the
    /// returned future is ready (the common case costs no waiting state).
    fn publish_waiting<'a>(
        &'a self,
        subject: &'a str,
        reply_to: Option<&'a str>,
        msg: M,
    ) -> PublishWaiting<'a>
    where
        M: 'a,
    {
        match self.prepare(subject, reply_to, msg, None) {
            Ok(publish) => self.hand_over_waiting(subject, publish),
            Err(error) => PublishWaiting::done(Err(error)),
        }
    }

    /// A publisher whose wire subjects are made (and checked) once.
    fn publisher(
        self: Arc<Self>,
        subject: &str,
        reply_to: Option<&str>,
    ) -> Result<Arc<dyn SubjectPublisher<M>>, BrokerError>
    where
        Self: 'static,
    {
        let wire = self.wire_of(subject)?;
        let reply = reply_to.map(|r| self.wire_of(r)).transpose()?;
        Ok(Arc::new(NatsPublisher {
            broker: (*self).clone(),
            subject: Box::from(subject),
            wire,
            reply,
        }))
    }

    fn subscribe(&self, pattern: &str) -> Result<Subscription<M>, BrokerError> {
        self.subscribe_with_capacity(pattern, self.inner.subscription_capacity)
    }

    /// Subscribes on the server through the outbound queue (so in order with
    /// this broker's publishes). Use [`NatsBroker::sync`] to wait until the
    /// server has it.
    ///
    /// # Errors
    /// [`BrokerError::InvalidPattern`], [`BrokerError::ZeroCapacity`],
    /// [`BrokerError::Transport`] if the outbound queue is full or gone.
    fn subscribe_with_capacity(
        &self,
        pattern: &str,
        capacity: usize,
    ) -> Result<Subscription<M>, BrokerError> {
        self.subscribe_route(pattern, capacity, None)
    }

    /// As [`subscribe`](MessageBroker::subscribe); the
    /// subscription's receiving task offers each message to `direct` while
    /// nothing queued is waiting for the consumer, so a consumer that can
    /// take it at once (a mailbox with room) gets it without a hop through
    /// the queue and its own task.
    ///
    /// # Errors
    /// As [`subscribe_with_capacity`](Self::subscribe_with_capacity).
    fn subscribe_direct(
        &self,
        pattern: &str,
        direct: DirectDelivery<M>,
    ) -> Result<Subscription<M>, BrokerError> {
        self.subscribe_route(pattern, self.inner.subscription_capacity, Some(direct))
    }

    fn request<'a>(
        &'a self,
        subject: &'a str,
        msg: M,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BrokerMessage<M>, BrokerError>> {
        Box::pin(async move {
            subject::validate_subject(subject).map_err(|e| invalid_subject(subject, e))?;
            let inner = &self.inner;
            if !inner.connected.load(Ordering::Acquire) {
                let state = inner.status.borrow().state;
                inner.counters.refused.fetch_add(1, Ordering::Relaxed);
                return Err(BrokerError::Transport {
                    subject: subject.to_owned(),
                    reason: format!("not connected to NATS ({})", state.as_str()),
                });
            }
            let (headers, payload) = self.encode(subject, msg)?;
            let request = async_nats::Request::new()
                .payload(payload)
                .headers(headers)
                .timeout(Some(timeout));
            self.count_published();
            let reply = inner
                .client
                .send_request(wire(&inner.prefix, subject), request)
                .await
                .map_err(|e| match e.kind() {
                    async_nats::client::RequestErrorKind::TimedOut => BrokerError::Timeout {
                        subject: subject.to_owned(),
                        timeout,
                    },
                    async_nats::client::RequestErrorKind::NoResponders => {
                        BrokerError::NoResponders {
                            subject: subject.to_owned(),
                        }
                    }
                    _ => BrokerError::Transport {
                        subject: subject.to_owned(),
                        reason: e.to_string(),
                    },
                })?;
            if let Some(failure) = reply.headers.as_ref().and_then(|h| h.get(headers::FAILURE)) {
                return Err(BrokerError::Failed {
                    subject: subject.to_owned(),
                    reason: failure.as_str().to_owned(),
                });
            }
            let payload = inner
                .codec
                .decode(reply.headers.as_ref(), reply.payload)
                .map_err(|e| {
                    inner.counters.undecodable.fetch_add(1, Ordering::Relaxed);
                    BrokerError::Transport {
                        subject: subject.to_owned(),
                        reason: format!("cannot decode the reply: {e}"),
                    }
                })?;
            Ok(BrokerMessage::new(
                Arc::from(local(&inner.prefix, &reply.subject)),
                payload,
            ))
        })
    }

    /// Publishes `msg` on `<prefix>.<dead-letter subject>` with the
    /// `Airssys-Dead-Letter*` headers naming the reason, target and
    /// original subject.
    ///
    /// # Errors
    /// [`BrokerError::Transport`] as [`publish`](Self::publish).
    fn publish_dead_letter(
        &self,
        original_subject: Arc<str>,
        msg: M,
        undelivered: Undelivered,
    ) -> Result<(), BrokerError> {
        let subject = self.inner.dead_letter_subject.as_str();
        let publish = self.prepare(subject, None, msg, Some((&original_subject, &undelivered)))?;
        self.enqueue(subject, publish)?;
        self.inner
            .counters
            .dead_lettered
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn dead_letter_subject(&self) -> &str {
        &self.inner.dead_letter_subject
    }

    fn distributed(&self) -> Option<&dyn DistributedBroker<M>> {
        Some(self)
    }
}

impl<M: Clone + Send + 'static> DistributedBroker<M> for NatsBroker<M> {
    /// Publishes an empty message on the request's reply subject with the
    /// `Airssys-Failure` header carrying `reason`; the requesting broker's
    /// `request` reads it back as [`BrokerError::Failed`].
    ///
    /// # Errors
    /// [`BrokerError::NoReplyTo`]; [`BrokerError::Transport`] as
    /// [`publish`](MessageBroker::publish).
    fn reply_failure(&self, request: &BrokerMessage<M>, reason: &str) -> Result<(), BrokerError> {
        let Some(reply_to) = &request.reply_to else {
            return Err(BrokerError::NoReplyTo {
                subject: request.subject.to_string(),
            });
        };
        let mut headers = HeaderMap::new();
        // A header value is one line: a multi-line reason is folded.
        let one_line: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        headers.insert(headers::FAILURE, one_line.as_str());
        let publish = self.prepare_encoded(reply_to, None, headers, Bytes::new())?;
        self.enqueue(reply_to, publish)
    }
}
