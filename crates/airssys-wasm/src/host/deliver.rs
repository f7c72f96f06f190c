//! The one path a message takes to a component, whoever sends it: the
//! host's façade, a [`ComponentRef`](super::ComponentRef), a guest's
//! `send`/`request` import, another host over the broker, or a hand-over.
//!
//! 1. **Resolve** the target: a durable store, a component of this host
//!    (read in place in the registry), or, with a distributed broker,
//!    another host.
//! 2. **Check** the payload against the target's `max_message_bytes`,
//!    once: the guest instance does not check it again.
//! 3. **Build** the [`GuestMessage`] once ([`message`]).
//! 4. **Enqueue** it (a send) or **ask** it (a request, which
//!    [`Expects::Reply`]), under one timer: the ask's own deadline.
//!
//! Every step ends in a typed [`Undelivered`] when it fails; the callers
//! only translate it: the façade into a [`HostError`], a guest's import
//! into a [`HostCallError`] (its code), the broker's receiving side into a
//! failed reply or a dead letter.

use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::BrokerError;
use airssys_rt::{ActorRef, AskError, TrySendError};
use bytes::Bytes;

use super::actor::ComponentActor;
use super::durable::{DurableError, DurableSends};
use super::error::{ComponentFailure, HostError};
use super::message::ComponentMessage;
use super::registry::ComponentRegistry;
use super::remote::RemoteRoutes;
use crate::guest::host_imports::HostCallError;
use crate::guest::GuestMessage;
use crate::id::ComponentId;

/// Whether the sender waits for the guest's reply: the explicit flag a
/// message travels with through the mailbox
/// ([`ComponentMessage::Request`] or [`ComponentMessage::Deliver`]), so
/// that the guest's reply is copied out only when someone reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expects {
    /// A send: the guest's reply, if it gives one, is dropped unread.
    Nothing,
    /// A request: the guest's reply is kept and answered.
    Reply,
}

impl Expects {
    /// The mailbox entry carrying `message` with this expectation.
    pub(crate) fn mail(self, message: GuestMessage) -> ComponentMessage {
        match self {
            Expects::Nothing => ComponentMessage::Deliver(message),
            Expects::Reply => ComponentMessage::Request(message),
        }
    }
}

/// Why a message did not reach its target, or got no reply. A message the
/// target never accepted comes back (its payload, or the whole message
/// where the caller dead-letters it).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Undelivered {
    /// No component of this host, and no other host, has the id.
    #[error("no such target")]
    NoSuchTarget {
        /// The payload, handed back when it was never sent on.
        payload: Option<Bytes>,
    },
    /// The payload is over the target's `max_message_bytes`.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The target's mailbox is full (only for a send that does not wait).
    #[error("mailbox full")]
    MailboxFull,
    /// The target stopped before it took or answered the message.
    #[error("component stopped")]
    Stopped {
        /// The payload, when its mailbox refused it.
        payload: Option<Bytes>,
    },
    /// No reply in time.
    #[error("no reply within {timeout:?}")]
    Timeout {
        /// The time allowed.
        timeout: Duration,
        /// The payload, when the time ran out before it entered the mailbox.
        payload: Option<Bytes>,
    },
    /// The target's handler failed; the typed cause.
    #[error(transparent)]
    Failed(ComponentFailure),
    /// Host code panicked while the target handled the request.
    #[error("handler panicked: {0}")]
    Panicked(String),
    /// The durable store did not take the send.
    #[error(transparent)]
    NotStored(DurableError),
    /// The broker could not carry it to, or back from, another host.
    #[error("{error}")]
    Remote {
        /// The broker's error.
        error: BrokerError,
        /// The payload, when it was never handed to the broker.
        payload: Option<Bytes>,
    },
}

impl Undelivered {
    /// The façade's error for a send or request to component `to`.
    pub(crate) fn into_host_error(self, to: &str) -> HostError {
        let component = ComponentId::new(to);
        match self {
            Undelivered::NoSuchTarget { payload } => {
                HostError::UnknownComponent { component, payload }
            }
            Undelivered::TooLarge(TooLarge {
                size,
                limit,
                message,
            }) => HostError::MessageTooLarge {
                component,
                size,
                limit,
                payload: message.payload,
            },
            Undelivered::MailboxFull => HostError::ComponentStopped {
                component,
                payload: None,
            },
            Undelivered::Stopped { payload } => HostError::ComponentStopped { component, payload },
            Undelivered::Timeout { timeout, payload } => HostError::Timeout {
                component,
                timeout,
                payload,
            },
            Undelivered::Failed(cause) => HostError::HandlerFailed { component, cause },
            Undelivered::Panicked(reason) => HostError::HandlerPanicked { component, reason },
            Undelivered::NotStored(error) => HostError::NotStored {
                component,
                reason: error.reason,
            },
            Undelivered::Remote { error, payload } => match error {
                // An id no host runs is unknown, as it is locally.
                BrokerError::NoResponders { .. } | BrokerError::InvalidSubject { .. } => {
                    HostError::UnknownComponent { component, payload }
                }
                BrokerError::Timeout { timeout, .. } => HostError::Timeout {
                    component,
                    timeout,
                    payload: None,
                },
                // The other host took the request and its handler failed.
                BrokerError::Failed { reason, .. } => HostError::RemoteFailed { component, reason },
                source => HostError::Broker {
                    subject: super::remote::component_subject(to),
                    source,
                },
            },
        }
    }
}

impl From<Undelivered> for HostCallError {
    /// What a guest's `send` or `request` import returns: a stopped target
    /// is `NO_SUCH_TARGET`, an id no host runs too (as it is locally).
    fn from(undelivered: Undelivered) -> Self {
        match undelivered {
            Undelivered::NoSuchTarget { .. } | Undelivered::Stopped { .. } => {
                HostCallError::NoSuchTarget
            }
            Undelivered::TooLarge { .. } => HostCallError::TooLarge,
            Undelivered::MailboxFull => HostCallError::MailboxFull,
            Undelivered::Timeout { .. } => HostCallError::Timeout,
            Undelivered::Remote { error, .. } => match error {
                BrokerError::NoResponders { .. } | BrokerError::InvalidSubject { .. } => {
                    HostCallError::NoSuchTarget
                }
                BrokerError::Timeout { .. } => HostCallError::Timeout,
                other => HostCallError::Unavailable(other.to_string()),
            },
            other => HostCallError::Unavailable(other.to_string()),
        }
    }
}

/// The message for a component's `handle-message`, built once per
/// delivery: the time it enters the mailbox is taken now. A request
/// carries a process-unique correlation id, which is what its guest sees
/// (the core ABI's flags bit 0 and header field, the WIT record's
/// `correlation-id`); the host itself goes by [`Expects`].
pub(crate) fn message(
    sender: Option<ComponentId>,
    payload: Bytes,
    expects: Expects,
    trace: Option<crate::trace::TraceContext>,
) -> GuestMessage {
    GuestMessage {
        sender,
        subject: None,
        correlation_id: match expects {
            Expects::Nothing => None,
            Expects::Reply => Some(next_correlation_id()),
        },
        redelivered: false,
        payload,
        enqueued: crate::metrics::Enqueued::now(),
        trace,
    }
}

/// A notice the host itself hands a guest (a down, a trapped exit) on
/// `subject`: no sender, no trace, not timed in the mailbox.
pub(crate) fn notice(subject: Arc<str>, payload: Bytes) -> GuestMessage {
    GuestMessage {
        sender: None,
        subject: Some(subject),
        correlation_id: None,
        redelivered: false,
        payload,
        enqueued: crate::metrics::Enqueued::default(),
        trace: None,
    }
}

/// A topic message published on `subject`, for the subscribers' mailboxes
/// (cloned once per subscriber). Not checked against any one limit here:
/// each subscriber's guest instance refuses what is over its own, and that
/// counts as a failed message of that subscriber.
pub(crate) fn published(
    subject: Arc<str>,
    published: super::message::TopicMessage,
) -> GuestMessage {
    GuestMessage {
        sender: published.sender,
        subject: Some(subject),
        correlation_id: None,
        redelivered: false,
        payload: published.payload,
        enqueued: crate::metrics::Enqueued::now(),
        trace: published.trace,
    }
}

/// A process-unique correlation id for a request's guest.
fn next_correlation_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A message whose payload is over its target's `max_message_bytes`,
/// handed back unsent.
#[derive(Debug, thiserror::Error)]
#[error("payload of {size} bytes over the limit of {limit}")]
pub(crate) struct TooLarge {
    /// The payload's size.
    pub(crate) size: usize,
    /// The target's limit.
    pub(crate) limit: usize,
    /// The message (boxed: a refusal is rare, and this keeps every
    /// delivery's `Result` small).
    pub(crate) message: Box<GuestMessage>,
}

/// `message`, if its payload fits the target's `limit`: the one size
/// check of a message on its way to a mailbox (the guest instance does
/// not check it again).
///
/// # Errors
/// [`TooLarge`], the message handed back.
pub(crate) fn checked(limit: usize, message: GuestMessage) -> Result<GuestMessage, TooLarge> {
    let size = message.payload.len();
    if size > limit {
        return Err(TooLarge {
            size,
            limit,
            message: Box::new(message),
        });
    }
    Ok(message)
}

/// The payload of a mailbox entry the runtime handed back.
pub(crate) fn payload_of(message: ComponentMessage) -> Option<Bytes> {
    match message {
        ComponentMessage::Deliver(message)
        | ComponentMessage::Request(message)
        | ComponentMessage::Publish(message) => Some(message.payload),
        _ => None,
    }
}

/// Queues `message` without waiting.
///
/// # Errors
/// [`Undelivered::MailboxFull`], [`Undelivered::Stopped`].
pub(crate) fn try_tell(
    actor: &ActorRef<ComponentActor>,
    message: GuestMessage,
) -> Result<(), Undelivered> {
    actor
        .try_tell(ComponentMessage::Deliver(message))
        .map_err(|e| match e {
            TrySendError::MailboxFull { .. } => Undelivered::MailboxFull,
            other => Undelivered::Stopped {
                payload: payload_of(other.into_message()),
            },
        })
}

/// Queues `message`, waiting for mailbox room.
///
/// # Errors
/// [`Undelivered::Stopped`], the payload handed back.
pub(crate) async fn tell(
    actor: &ActorRef<ComponentActor>,
    message: ComponentMessage,
) -> Result<(), Undelivered> {
    actor.tell(message).await.map_err(|e| Undelivered::Stopped {
        payload: payload_of(e.message),
    })
}

/// Asks `mail` (a [`ComponentMessage::Request`], or a
/// [`ComponentMessage::Deliver`] whose handling is awaited) and waits up to
/// `timeout`, mailbox room included: the request's one timer.
///
/// # Errors
/// [`Undelivered::Timeout`], [`Undelivered::Failed`] with the typed cause,
/// [`Undelivered::Panicked`], [`Undelivered::Stopped`].
pub(crate) async fn ask(
    actor: &ActorRef<ComponentActor>,
    mail: ComponentMessage,
    timeout: Duration,
) -> Result<Option<Bytes>, Undelivered> {
    actor.ask(mail, timeout).await.map_err(|e| match e {
        AskError::Timeout {
            timeout, message, ..
        } => Undelivered::Timeout {
            timeout,
            payload: message.and_then(payload_of),
        },
        AskError::HandlerFailed { error, .. } => Undelivered::Failed(error),
        AskError::HandlerPanicked { reason, .. } => Undelivered::Panicked(reason),
        AskError::ActorStopped { message, .. } => Undelivered::Stopped {
            payload: message.and_then(payload_of),
        },
        // `AskError` is non-exhaustive; a new kind of failure still means
        // the component did not answer.
        _ => Undelivered::Stopped { payload: None },
    })
}

/// A component of this host as a target: what a [`ComponentRef`](super::ComponentRef)
/// holds, so that it never looks itself up again.
#[derive(Clone)]
pub(crate) struct Local {
    pub(crate) actor: ActorRef<ComponentActor>,
    pub(crate) max_message_bytes: usize,
}

/// Resolves targets and delivers to them: one per host, shared by the
/// façade and the guests' imports.
pub(crate) struct Delivery {
    pub(crate) registry: Arc<ComponentRegistry>,
    /// Set when the broker is distributed: ids not in the registry are
    /// tried on other hosts through it.
    pub(crate) remote: Option<Arc<RemoteRoutes>>,
    /// Where sends to durable components go, if anywhere.
    pub(crate) durable: Option<Arc<dyn DurableSends>>,
}

impl Delivery {
    /// The durable store, if `to` is a durable component.
    fn durable_for(&self, to: &str) -> Option<&Arc<dyn DurableSends>> {
        self.durable.as_ref().filter(|d| d.is_durable(to))
    }

    /// A guest's send: never waits. A full mailbox is
    /// [`Undelivered::MailboxFull`] for the guest to handle; a send to
    /// another host is published (a "no responders" comes back later as a
    /// dead letter `no_such_target`).
    ///
    /// # Errors
    /// Any [`Undelivered`] but a timeout or a handler's failure.
    pub(crate) fn try_send(
        &self,
        from: &ComponentId,
        to: &str,
        payload: Bytes,
    ) -> Result<(), Undelivered> {
        if let Some(durable) = self.durable_for(to) {
            return durable
                .send(Some(from), to, payload)
                .map_err(Undelivered::NotStored);
        }
        // Read in place under the registry's read lock (never waits): no
        // clone of the entry per message.
        let mut payload = Some(payload);
        let sent = self.registry.with(to, |target| {
            let payload = payload.take().unwrap_or_default();
            let built = message(
                Some(from.clone()),
                payload,
                Expects::Nothing,
                crate::trace::outgoing(),
            );
            try_tell(&target.actor, checked(target.max_message_bytes, built)?)
        });
        match (sent, &self.remote, payload) {
            (Some(sent), _, _) => sent,
            (None, Some(remote), Some(payload)) => {
                remote
                    .send(from, to, payload)
                    .map_err(|error| Undelivered::Remote {
                        error,
                        payload: None,
                    })
            }
            (None, _, payload) => Err(Undelivered::NoSuchTarget { payload }),
        }
    }

    /// The host's own send: waits for mailbox room (or, to another host,
    /// for room in the broker's outbound queue; to a durable component,
    /// for the store's confirmation).
    ///
    /// # Errors
    /// [`Undelivered::NoSuchTarget`], [`Undelivered::TooLarge`],
    /// [`Undelivered::Stopped`], [`Undelivered::NotStored`],
    /// [`Undelivered::Remote`].
    ///
    /// # Cancel safety
    /// Dropped while waiting for mailbox room, the payload is dropped with
    /// it and was never accepted.
    pub(crate) async fn send(&self, to: &str, payload: Bytes) -> Result<(), Undelivered> {
        if let Some(durable) = self.durable_for(to) {
            return durable
                .send_stored(None, to, payload)
                .await
                .map_err(Undelivered::NotStored);
        }
        // Tried in place, under the registry's read lock, without cloning
        // the entry; only a full mailbox takes the actor out to wait.
        let mut payload = Some(payload);
        let tried = self.registry.with(to, |target| {
            let payload = payload.take().unwrap_or_default();
            let built = message(None, payload, Expects::Nothing, crate::trace::outgoing());
            let built = checked(target.max_message_bytes, built)?;
            match target.actor.try_tell(ComponentMessage::Deliver(built)) {
                Ok(()) => Ok(None),
                Err(TrySendError::MailboxFull { message, .. }) => {
                    Ok(Some((target.actor.clone(), message)))
                }
                Err(refused) => Err(Undelivered::Stopped {
                    payload: payload_of(refused.into_message()),
                }),
            }
        });
        match (tried, &self.remote, payload) {
            (Some(Ok(None)), _, _) => Ok(()),
            (Some(Ok(Some((actor, waiting)))), _, _) => tell(&actor, waiting).await,
            (Some(Err(refused)), _, _) => Err(refused),
            (None, Some(remote), Some(payload)) => remote
                .send_waiting(to, payload)
                .await
                .map_err(|(error, payload)| Undelivered::Remote { error, payload }),
            (None, _, payload) => Err(Undelivered::NoSuchTarget { payload }),
        }
    }

    /// The host's send to a component it holds a handle to (no lookup),
    /// waiting for mailbox room; durable components still go to their
    /// store.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub(crate) async fn send_to(
        &self,
        to: &ComponentId,
        target: &Local,
        payload: Bytes,
    ) -> Result<(), Undelivered> {
        if let Some(durable) = self.durable_for(to.as_str()) {
            return durable
                .send_stored(None, to.as_str(), payload)
                .await
                .map_err(Undelivered::NotStored);
        }
        let built = message(None, payload, Expects::Nothing, crate::trace::outgoing());
        let built = checked(target.max_message_bytes, built)?;
        match target.actor.try_tell(ComponentMessage::Deliver(built)) {
            Ok(()) => Ok(()),
            Err(TrySendError::MailboxFull { message, .. }) => tell(&target.actor, message).await,
            Err(refused) => Err(Undelivered::Stopped {
                payload: payload_of(refused.into_message()),
            }),
        }
    }

    /// A request from `from` (`None`: the host) to `to`, resolved, checked
    /// and built now (so the trace context is the caller's), answered by
    /// the returned future within `timeout`: the guest's reply (`None` if
    /// it gave none; from another host, `Some`, empty if it gave none).
    /// One timer: the ask's deadline, or the broker request's.
    pub(crate) fn request(
        &self,
        from: Option<&ComponentId>,
        to: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<Option<Bytes>, Undelivered>> + Send + 'static
    {
        let resolved = match self.registry.route(to) {
            Some(route) => {
                let built = message(
                    from.cloned(),
                    payload,
                    Expects::Reply,
                    crate::trace::outgoing(),
                );
                checked(route.max_message_bytes, built)
                    .map(|m| Pending::Local(route.actor, m))
                    .map_err(Undelivered::from)
            }
            None => match &self.remote {
                Some(remote) => Ok(Pending::Remote(
                    remote.request(from, to, payload.clone(), timeout),
                    payload,
                )),
                None => Err(Undelivered::NoSuchTarget {
                    payload: Some(payload),
                }),
            },
        };
        async move {
            match resolved? {
                Pending::Local(actor, message) => {
                    ask(&actor, ComponentMessage::Request(message), timeout).await
                }
                Pending::Remote(reply, payload) => {
                    reply.await.map(Some).map_err(|error| Undelivered::Remote {
                        error,
                        payload: Some(payload),
                    })
                }
            }
        }
    }

    /// A request to a component this host holds a handle to (no lookup).
    pub(crate) fn request_to(
        target: &Local,
        payload: Bytes,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<Option<Bytes>, Undelivered>> + Send + 'static
    {
        let built = message(None, payload, Expects::Reply, crate::trace::outgoing());
        let resolved = checked(target.max_message_bytes, built).map(|m| (target.actor.clone(), m));
        async move {
            let (actor, message) = resolved?;
            ask(&actor, ComponentMessage::Request(message), timeout).await
        }
    }
}

/// A request resolved and built, waiting to be asked.
enum Pending {
    Local(ActorRef<ComponentActor>, GuestMessage),
    /// The broker's request under way, and the payload to hand back if it
    /// fails.
    Remote(
        crate::guest::host_imports::BoxFuture<Result<Bytes, BrokerError>>,
        Bytes,
    ),
}
