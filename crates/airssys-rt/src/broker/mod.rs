//! Topic publish/subscribe and request/reply between actors, with
//! NATS-style subjects.
//!
//! A [`MessageBroker`] routes a message published on a subject (`orders.eu.created`)
//! to every [`Subscription`] whose pattern matches it (`orders.*.created`,
//! `orders.>`; see [`subject`] for the syntax). [`InMemoryMessageBroker`] is the
//! embedded default; a NATS-backed broker implements the same trait with the same
//! subject semantics, so code written against `Arc<dyn MessageBroker<M>>` runs on
//! either.
//!
//! # Delivery semantics
//!
//! - **Fan-out**: every matching subscription gets its own copy (`M: Clone`).
//! - **Order**: messages from one publisher reach each subscription in publish order.
//! - **Never blocking the publisher**: [`publish`](MessageBroker::publish) is
//!   synchronous. A subscription whose bounded queue is full does not get the
//!   message; the message goes to the **dead-letter subject** instead, with a
//!   [`DeadLetterReason`], and is counted. Nothing is dropped silently.
//! - **Unrouted**: a publish that matches no subscription is counted and
//!   reported in [`PublishReport`], but not dead-lettered (as in NATS: no
//!   interest is not a failure).
//! - **Request/reply**: [`request`](MessageBroker::request) publishes with a
//!   fresh `_INBOX.<n>` subject in `reply_to` and awaits one reply under a timeout;
//!   a responder answers with [`reply`](MessageBroker::reply).
//!
//! ```
//! use std::time::Duration;
//! use airssys_rt::broker::{InMemoryMessageBroker, MessageBroker};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), airssys_rt::broker::BrokerError> {
//! let broker = InMemoryMessageBroker::<String>::new();
//! let mut orders = broker.subscribe("orders.>")?;
//!
//! let report = broker.publish("orders.eu.created", "order 1".to_string())?;
//! assert_eq!(report.delivered, 1);
//!
//! let msg = orders.recv().await.expect("broker alive");
//! assert_eq!(&*msg.subject, "orders.eu.created");
//! assert_eq!(msg.payload, "order 1");
//! # Ok(())
//! # }
//! ```

mod distributed;
mod error;
mod in_memory;
mod publish_waiting;
mod publisher;
mod router;
pub mod subject;
mod sublist;
mod subscription;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

pub use crate::dead_letter::DeadLetterReason;
pub use distributed::DistributedBroker;
pub use error::{BrokerError, SubjectError};
pub use in_memory::{
    BrokerStats, InMemoryBrokerBuilder, InMemoryMessageBroker, DEFAULT_DEAD_LETTER_SUBJECT,
    DEFAULT_MATCH_CACHE_CAPACITY, DEFAULT_SUBSCRIPTION_CAPACITY,
};
pub use publish_waiting::PublishWaiting;
pub use publisher::SubjectPublisher;
pub use subscription::{Backlog, Subscription};

/// The fast path of a [`MessageBroker::subscribe_direct`] subscription: the
/// broker offers it each message, in order, from its receiving task, and
/// it says what it did with it ([`DirectOutcome`]): took it without
/// waiting, gave it back (the broker then queues it on the subscription as
/// any other), or asks the receiving task to wait, boundedly, for the
/// consumer to have room.
///
/// It runs on the broker's receiving task, so it must not block: a
/// `try_send` into a bounded queue is the intended use, and a wait is
/// returned as a future for the task to await.
pub type DirectDelivery<M> = Arc<dyn Fn(BrokerMessage<M>) -> DirectOutcome<M> + Send + Sync>;

/// What a [`DirectDelivery`] did with a message.
pub enum DirectOutcome<M> {
    /// Taken: the consumer has it.
    Taken,
    /// Given back, to be queued on the subscription (not for the fast path,
    /// or the consumer is gone).
    Refused(BrokerMessage<M>),
    /// The consumer is full now. The receiving task awaits this future
    /// before it takes the next message (so order is kept): it resolves
    /// `Ok` once the consumer took the message, or gives it back to be
    /// queued. It must resolve within a bound of its own (a short
    /// deadline): while it waits, what arrives for the subscription waits
    /// in the transport's buffer.
    Wait(BoxFuture<'static, Result<(), BrokerMessage<M>>>),
}

impl<M> From<Result<(), BrokerMessage<M>>> for DirectOutcome<M> {
    /// `Ok` is [`Taken`](Self::Taken), `Err` is [`Refused`](Self::Refused).
    fn from(outcome: Result<(), BrokerMessage<M>>) -> Self {
        match outcome {
            Ok(()) => DirectOutcome::Taken,
            Err(message) => DirectOutcome::Refused(message),
        }
    }
}

impl<M> fmt::Debug for DirectOutcome<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DirectOutcome::Taken => "Taken",
            DirectOutcome::Refused(_) => "Refused",
            DirectOutcome::Wait(_) => "Wait",
        })
    }
}

/// A message as a subscriber receives it.
///
/// `subject` and `reply_to` are `Arc<str>`: one allocation per publish,
/// shared by every subscriber the message fans out to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerMessage<M> {
    /// The subject the message was published on. For a dead letter, this is
    /// still the original subject (not the dead-letter subject).
    pub subject: Arc<str>,
    /// Where to send a reply, if the publisher expects one
    /// (see [`MessageBroker::request`] and [`MessageBroker::reply`]).
    pub reply_to: Option<Arc<str>>,
    /// The payload.
    pub payload: M,
    /// `Some` if this is a dead letter: a message that could not be delivered
    /// to some subscriber, received on the dead-letter subject; says why.
    pub dead_letter: Option<Undelivered>,
}

impl<M> BrokerMessage<M> {
    /// A message on `subject` with no `reply_to`. For broker implementations
    /// and tests; publishers call [`MessageBroker::publish`].
    pub fn new(subject: Arc<str>, payload: M) -> Self {
        Self {
            subject,
            reply_to: None,
            payload,
            dead_letter: None,
        }
    }

    /// Sets `reply_to`.
    #[must_use]
    pub fn with_reply_to(mut self, reply_to: Option<Arc<str>>) -> Self {
        self.reply_to = reply_to;
        self
    }

    /// Marks the message as a dead letter, with the reason. For broker
    /// implementations.
    #[must_use]
    pub fn with_dead_letter(mut self, undelivered: Undelivered) -> Self {
        self.dead_letter = Some(undelivered);
        self
    }

    /// `true` if this message was received as a dead letter.
    pub fn is_dead_letter(&self) -> bool {
        self.dead_letter.is_some()
    }
}

/// Why a message on the dead-letter subject is there, and for whom: what a
/// broker carries with a dead letter ([`BrokerMessage::dead_letter`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Undelivered {
    /// Who the message was for: a subscription's pattern (for
    /// [`SubscriberFull`](DeadLetterReason::SubscriberFull) and
    /// [`SubscriberClosed`](DeadLetterReason::SubscriberClosed)), or the
    /// target a layer above named (e.g. a component id).
    pub target: Arc<str>,
    /// Why it was not delivered or handled.
    pub reason: DeadLetterReason,
}

impl Undelivered {
    /// `target` did not get or handle the message because of `reason`.
    pub fn new(target: impl Into<Arc<str>>, reason: DeadLetterReason) -> Self {
        Self {
            target: target.into(),
            reason,
        }
    }
}

impl fmt::Display for Undelivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not delivered to {}: {}", self.target, self.reason)
    }
}

/// What became of one publish.
///
/// `matched == delivered + dropped`. `matched == 0` means the publish was
/// unrouted (no subscriber; counted, not dead-lettered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PublishReport {
    /// Subscriptions whose pattern matched the subject.
    pub matched: usize,
    /// Subscriptions whose queue took the message.
    pub delivered: usize,
    /// Subscriptions that could not take it (queue full or closed); each such
    /// copy was sent to the dead-letter subject.
    pub dropped: usize,
}

impl PublishReport {
    /// A report. For broker implementations; `matched` should equal
    /// `delivered + dropped`. A broker that cannot know (a remote server) may
    /// report what it knows, or `PublishReport::default()`.
    pub fn new(matched: usize, delivered: usize, dropped: usize) -> Self {
        Self {
            matched,
            delivered,
            dropped,
        }
    }

    /// `true` if no subscription matched the subject.
    pub fn is_unrouted(&self) -> bool {
        self.matched == 0
    }
}

/// A topic broker: publish/subscribe with NATS-style subjects, and
/// request/reply: the core every broker implements. A broker that reaches
/// other processes adds [`DistributedBroker`] and returns itself from
/// [`distributed`](Self::distributed).
///
/// `M` is the payload type; it is `Clone` because a message fans out to every
/// matching subscriber. The trait is dyn-compatible: share a broker as
/// `Arc<dyn MessageBroker<M>>`.
pub trait MessageBroker<M>: Send + Sync
where
    M: Clone + Send + 'static,
{
    /// Publishes `msg` on `subject` to every matching subscription, without
    /// waiting: this is the hot path, and never blocks or awaits.
    ///
    /// # Errors
    ///
    /// [`BrokerError::InvalidSubject`] if `subject` is not a valid literal
    /// subject (wildcards, empty tokens, whitespace). A full subscriber queue
    /// is not an error: see [`PublishReport::dropped`] and the dead-letter
    /// subject.
    fn publish(&self, subject: &str, msg: M) -> Result<PublishReport, BrokerError>;

    /// Like [`publish`](Self::publish), with `reply_to` set on the delivered
    /// message so that subscribers can answer.
    ///
    /// # Errors
    ///
    /// [`BrokerError::InvalidSubject`] if `subject` or `reply_to` is invalid.
    fn publish_with_reply(
        &self,
        subject: &str,
        reply_to: &str,
        msg: M,
    ) -> Result<PublishReport, BrokerError>;

    /// Like [`publish`](Self::publish) (with `reply_to`,
    /// [`publish_with_reply`](Self::publish_with_reply)), but a broker
    /// that queues outgoing messages for a transport waits for room in that
    /// queue instead of refusing: backpressure for a sender that can wait
    /// (the host's own `send`). The default, for brokers that never queue
    /// (the in-memory one), publishes at once. A publish taken without
    /// waiting returns a [`PublishWaiting`] that is ready at once and
    /// allocates nothing.
    ///
    /// # Errors
    ///
    /// As [`publish_with_reply`](Self::publish_with_reply); a transport that
    /// is disconnected still refuses at once.
    fn publish_waiting<'a>(
        &'a self,
        subject: &'a str,
        reply_to: Option<&'a str>,
        msg: M,
    ) -> PublishWaiting<'a>
    where
        M: 'a,
    {
        PublishWaiting::done(match reply_to {
            Some(reply_to) => self.publish_with_reply(subject, reply_to, msg),
            None => self.publish(subject, msg),
        })
    }

    /// A publisher bound to `subject` (and `reply_to`, used when a publish
    /// asks for it): for a sender that publishes to the same subject again
    /// and again, so that what the broker does once per subject is done
    /// once. The default checks both subjects and publishes through this
    /// broker's own methods; a broker with per-subject work (a wire form,
    /// a cache) makes a faster one.
    ///
    /// # Errors
    ///
    /// [`BrokerError::InvalidSubject`] if `subject` or `reply_to` is not a
    /// valid literal subject.
    fn publisher(
        self: Arc<Self>,
        subject: &str,
        reply_to: Option<&str>,
    ) -> Result<Arc<dyn SubjectPublisher<M>>, BrokerError>
    where
        Self: 'static,
    {
        Ok(Arc::new(publisher::BrokerPublisher::new(
            self, subject, reply_to,
        )?))
    }

    /// Subscribes to `pattern` with the broker's default queue capacity.
    ///
    /// # Errors
    ///
    /// [`BrokerError::InvalidPattern`] if `pattern` is not a valid pattern.
    fn subscribe(&self, pattern: &str) -> Result<Subscription<M>, BrokerError>;

    /// Subscribes to `pattern` with a queue of `capacity` messages.
    ///
    /// # Errors
    ///
    /// [`BrokerError::InvalidPattern`] for an invalid pattern,
    /// [`BrokerError::ZeroCapacity`] if `capacity` is 0.
    fn subscribe_with_capacity(
        &self,
        pattern: &str,
        capacity: usize,
    ) -> Result<Subscription<M>, BrokerError>;

    /// As [`subscribe`](Self::subscribe) (the broker's default queue
    /// capacity), with a fast path: a broker that receives on a task of its own (one backed by
    /// a server) may offer each message to `direct` instead of queueing it,
    /// which saves the hop through the queue to the consumer's task.
    ///
    /// Order is kept: a message is offered to `direct` only while the
    /// subscription's [`Backlog`] is clear (nothing queued, and the
    /// consumer has asked for the next message after the last it got),
    /// and the next is not taken while `direct` waits for room
    /// ([`DirectOutcome::Wait`]).
    /// A message `direct` gives back is queued, as is every message after
    /// it until the consumer has caught up; a full queue dead-letters as
    /// for any subscription. So each message is taken by `direct`, received
    /// from the subscription, or dead-lettered with a reason.
    ///
    /// The default ignores `direct`: every message is queued (the in-memory
    /// broker delivers from the publisher's call, there is no hop to save).
    ///
    /// # Errors
    ///
    /// As [`subscribe`](Self::subscribe).
    fn subscribe_direct(
        &self,
        pattern: &str,
        direct: DirectDelivery<M>,
    ) -> Result<Subscription<M>, BrokerError> {
        drop(direct);
        self.subscribe(pattern)
    }

    /// Publishes `msg` on `subject` with a fresh reply inbox and waits up to
    /// `timeout` for the first reply.
    ///
    /// Does nothing until awaited.
    ///
    /// # Errors
    ///
    /// - [`BrokerError::InvalidSubject`] for an invalid subject;
    /// - [`BrokerError::NoResponders`] if no subscriber took the request;
    /// - [`BrokerError::Timeout`] if no reply came within `timeout`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes unsubscribes the reply inbox;
    /// a reply that arrives afterwards is unrouted. The request itself, once
    /// published, is not recalled.
    #[must_use = "a request does nothing until awaited"]
    fn request<'a>(
        &'a self,
        subject: &'a str,
        msg: M,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BrokerMessage<M>, BrokerError>>;

    /// Posts `msg`, which a layer above the broker accepted but could not
    /// deliver or handle (a component mailbox that was full or stopped, a
    /// handler that failed), to the [dead-letter subject](Self::dead_letter_subject),
    /// marked with `undelivered` (target and reason) and keeping `original_subject`. Never blocks.
    ///
    /// A dead letter is never dead-lettered again: one that no subscriber
    /// can take is counted as lost by the broker (in-memory), not looped.
    ///
    /// # Errors
    ///
    /// [`BrokerError::Transport`] if a broker backed by a server could not
    /// hand the dead letter to it. The caller has already counted the
    /// message; it logs the error with the message's target.
    fn publish_dead_letter(
        &self,
        original_subject: Arc<str>,
        msg: M,
        undelivered: Undelivered,
    ) -> Result<(), BrokerError>;

    /// The subject dead letters are published on (the in-memory broker's
    /// default is [`DEFAULT_DEAD_LETTER_SUBJECT`]).
    fn dead_letter_subject(&self) -> &str;

    /// The extension of a broker that reaches other processes (a
    /// server-backed broker such as airssys-nats's), if this is one.
    /// Default `None`: everything the broker reaches is local.
    fn distributed(&self) -> Option<&dyn DistributedBroker<M>> {
        None
    }

    /// `true` if the broker reaches other processes
    /// ([`distributed`](Self::distributed) is `Some`): a layer above then
    /// routes what it cannot deliver locally (e.g. a send to a component
    /// it does not run) through the broker.
    fn is_distributed(&self) -> bool {
        self.distributed().is_some()
    }

    /// Answers `request` by publishing `payload` on its `reply_to` subject.
    ///
    /// # Errors
    ///
    /// [`BrokerError::NoReplyTo`] if `request` has no `reply_to`; otherwise as
    /// [`publish`](Self::publish).
    fn reply(&self, request: &BrokerMessage<M>, payload: M) -> Result<PublishReport, BrokerError> {
        match &request.reply_to {
            Some(reply_to) => self.publish(reply_to, payload),
            None => Err(BrokerError::NoReplyTo {
                subject: request.subject.to_string(),
            }),
        }
    }
}
