//! Putting one message into one component's mailbox, and what can go
//! wrong there: the size check ([`checked`], the one a send or request
//! gets), enqueueing with or without waiting, asking under one timer, and
//! the typed [`Undelivered`] every delivery ends in when it fails, with
//! its translations for the façade ([`HostError`]) and for a guest's
//! import ([`HostCallError`]). The resolution of a target (local, remote,
//! durable) sits above, in [`deliver`](super::deliver).

use std::time::Duration;

use airssys_rt::broker::BrokerError;
use airssys_rt::{ActorRef, AskError, TrySendError};
use bytes::Bytes;

use super::actor::ComponentActor;
use super::durable::DurableError;
use super::error::{ComponentFailure, HostError};
use super::message::{component_subject, payload_of, ComponentMessage};
use crate::guest::GuestMessage;
use crate::guest::HostCallError;
use crate::id::ComponentId;

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
                    subject: component_subject(to),
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
