//! Errors of the component host.

use std::time::Duration;

use airssys_rt::broker::BrokerError;
use airssys_rt::supervisor::SupervisorError;
use airssys_rt::SpawnError;
use bytes::Bytes;

use crate::error::{GuestError, WasmError};
use crate::id::ComponentId;

/// Why a component's incarnation failed: it could not be (re)instantiated,
/// or the guest failed on a message. The error type of
/// [`ComponentActor`](super::ComponentActor).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComponentFailure {
    /// Instantiation failed (pool full, initial memory over the cap, ...).
    #[error(transparent)]
    Instantiate(#[from] WasmError),
    /// The guest failed: trap, timeout, memory cap, non-zero return, bad invoke.
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// A [`Fault::Crash`](super::Fault::Crash) injected from the host side.
    #[error("component {component}: injected crash: {reason}")]
    Injected {
        /// The component made to fail.
        component: ComponentId,
        /// The reason given with the fault.
        reason: String,
    },
    /// A live upgrade was refused before the swap (the new version failed
    /// to instantiate, `init` or `restore`; or the old one's `snapshot`
    /// returned an error code). The old instance keeps serving: not fatal.
    #[error("upgrade rejected, old version kept: {0}")]
    UpgradeRejected(#[source] Box<ComponentFailure>),
    /// The operator asked for a restart ([`ComponentMessage::Restart`](super::ComponentMessage::Restart)):
    /// the incarnation ends so that its supervisor makes a fresh one. The
    /// actor runtime's signal only: the caller of
    /// [`ComponentHost::restart`](super::ComponentHost::restart) is answered
    /// with success on its own channel and never sees it.
    #[error("restart requested")]
    RestartRequested,
    /// The host's cluster lease had ended: it may no longer own this
    /// component, so the message was not handed to the guest (it was
    /// dead-lettered `not_owner`). Not fatal: the host stops the component.
    #[error("component {component}: this host's cluster lease has ended; the message was not handled here")]
    NotOwner {
        /// The component.
        component: ComponentId,
    },
}

impl ComponentFailure {
    /// `true` when the instance is unusable and must be replaced.
    pub fn is_fatal(&self) -> bool {
        match self {
            ComponentFailure::Instantiate(_) | ComponentFailure::Injected { .. } => true,
            ComponentFailure::Guest(e) => e.is_fatal(),
            ComponentFailure::UpgradeRejected(_) => false,
            ComponentFailure::RestartRequested => true,
            ComponentFailure::NotOwner { .. } => false,
        }
    }
}

/// An error from the [`ComponentHost`](super::ComponentHost) API. Every
/// variant names the component (or subject) and the cause.
///
/// A message the host did not accept is handed back: the variants of a
/// failed send or request carry its `payload` (see
/// [`into_payload`](Self::into_payload)), as tokio's `SendError<T>` does.
/// A message the host did accept is never lost: it is handled, answered,
/// or dead-lettered with a reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// A send to a durable component that its store did not confirm (the
    /// message was not accepted).
    #[error("durable send to component {component} not stored: {reason}")]
    NotStored {
        /// The target.
        component: ComponentId,
        /// Why, in the store's words.
        reason: String,
    },
    /// A publish on a durable topic could not be handed to the store (the
    /// message was not accepted).
    #[error("publish on durable topic {subject} not stored: {reason}")]
    PublishNotStored {
        /// The subject.
        subject: String,
        /// Why, in the store's words.
        reason: String,
    },
    /// The binary could not be loaded, compiled or instantiated
    /// (invalid, missing exports, pool full: [`WasmError::Capacity`]).
    #[error(transparent)]
    Wasm(#[from] WasmError),
    /// The guest failed (e.g. its `init`, or the message it was asked to handle).
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// A component with this id runs, or will run again after its restart.
    /// (The id of one that ended on its own is free: a spawn replaces it.)
    #[error("component {component} already exists (it is running or restarting; stop it first)")]
    AlreadyExists {
        /// The id asked for.
        component: ComponentId,
    },
    /// No running component has this id.
    #[error("no component named {component}")]
    UnknownComponent {
        /// The id asked for.
        component: ComponentId,
        /// The payload of the send or request, handed back (`None` for
        /// calls that carry none).
        payload: Option<Bytes>,
    },
    /// The payload is larger than the target's `max_message_bytes`.
    #[error(
        "message of {size} bytes for component {component} exceeds its limit of {limit} bytes"
    )]
    MessageTooLarge {
        /// The target component.
        component: ComponentId,
        /// The payload size.
        size: usize,
        /// The component's limit.
        limit: usize,
        /// The payload, handed back.
        payload: Bytes,
    },
    /// The component stopped for good before it could take or answer the message.
    #[error("component {component} has stopped")]
    ComponentStopped {
        /// The target component.
        component: ComponentId,
        /// `Some` when its mailbox was already closed: the payload was not
        /// accepted and is handed back. `None` when it stopped after
        /// accepting the message (which was then dead-lettered).
        payload: Option<Bytes>,
    },
    /// No reply within the timeout.
    #[error("component {component} did not reply within {timeout:?}")]
    Timeout {
        /// The target component.
        component: ComponentId,
        /// The time allowed.
        timeout: Duration,
        /// `Some` when the time ran out while waiting for mailbox room: the
        /// payload never entered the mailbox and is handed back.
        payload: Option<Bytes>,
    },
    /// The component failed while handling the request; `cause` says how,
    /// typed (e.g. [`GuestError::ExecutionTimeout`] inside
    /// [`ComponentFailure::Guest`]).
    #[error("component {component} failed to handle the request: {cause}")]
    HandlerFailed {
        /// The target component.
        component: ComponentId,
        /// The failure, with its type.
        #[source]
        cause: ComponentFailure,
    },
    /// The component failed to handle the request on the host that runs it
    /// (over a distributed broker): it trapped, timed out, hit a limit, or
    /// the payload was over its limit. `reason` is that host's account in
    /// words (the wire carries the text of the typed cause, not its type).
    #[error("component {component} failed to handle the request on its host: {reason}")]
    RemoteFailed {
        /// The target component.
        component: ComponentId,
        /// What the host that runs it said.
        reason: String,
    },
    /// Host code panicked while the component handled the request (a bug
    /// in airssys or in a host import, never the guest: a guest traps).
    #[error("component {component} panicked while handling the request: {reason}")]
    HandlerPanicked {
        /// The target component.
        component: ComponentId,
        /// The panic's message.
        reason: String,
    },
    /// A subject or subscription pattern is malformed, or the broker
    /// refused it.
    #[error("invalid subject or pattern `{subject}`: {reason}")]
    InvalidSubject {
        /// The offending subject.
        subject: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The broker could not carry out the operation (its transport failed).
    #[error("broker failed on `{subject}`: {source}")]
    Broker {
        /// The subject or pattern concerned.
        subject: String,
        /// The broker's error.
        source: BrokerError,
    },
    /// The actor runtime could not start the component's actor under its
    /// supervisor.
    #[error("could not start the actor of component {component}: {source}")]
    Spawn {
        /// The component concerned.
        component: ComponentId,
        /// The runtime's error.
        source: SpawnError,
    },
    /// The component's supervisor could not stop it.
    #[error("supervisor failed for component {component}: {source}")]
    Supervision {
        /// The component concerned.
        component: ComponentId,
        /// The supervisor's error (boxed: it is large and rare).
        source: Box<SupervisorError>,
    },
    /// A live upgrade failed; nothing changed for `component` (its old
    /// version keeps serving), and the components of the same upgrade that
    /// had already been upgraded were rolled back to their old version.
    #[error("upgrade of component {component} failed: {cause}")]
    UpgradeFailed {
        /// The component whose upgrade failed.
        component: ComponentId,
        /// Why: the new version's instantiation, `init` or `restore`
        /// failure, or the old version's failed `snapshot`.
        #[source]
        cause: Box<ComponentFailure>,
        /// Components upgraded earlier in the same call and rolled back.
        rolled_back: Vec<ComponentId>,
    },
    /// The host is shutting down and takes no new work.
    #[error("the component host is shutting down")]
    ShuttingDown,
    /// A run-time subscription's pattern is not well formed (an empty
    /// token, whitespace, a wildcard inside a token, `>` not last).
    #[error("component {component}: invalid subscription pattern `{pattern}`: {reason}")]
    InvalidSubscription {
        /// The component to subscribe.
        component: ComponentId,
        /// The pattern given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A run-time subscription outside the component's subscribe grants
    /// ([`Permissions::allow_subscribe`](crate::Permissions::allow_subscribe)
    /// and its spec's own `subscribe` patterns).
    #[error("component {component} may not subscribe to `{pattern}`: it lies inside none of its subscribe grants")]
    SubscriptionDenied {
        /// The component to subscribe.
        component: ComponentId,
        /// The pattern refused.
        pattern: String,
    },
}

impl HostError {
    /// A broker error on `subject`: a malformed subject or pattern is
    /// [`InvalidSubject`](Self::InvalidSubject), anything else
    /// [`Broker`](Self::Broker).
    pub(crate) fn from_broker(subject: &str, error: BrokerError) -> Self {
        match error {
            BrokerError::InvalidSubject { .. } | BrokerError::InvalidPattern { .. } => {
                HostError::InvalidSubject {
                    subject: subject.to_owned(),
                    reason: error.to_string(),
                }
            }
            source => HostError::Broker {
                subject: subject.to_owned(),
                source,
            },
        }
    }

    /// Takes back the payload of a send or request that was not accepted.
    /// `None` for every other error, and for a message that was accepted
    /// (it was handled, answered or dead-lettered).
    pub fn into_payload(self) -> Option<Bytes> {
        match self {
            HostError::UnknownComponent { payload, .. }
            | HostError::ComponentStopped { payload, .. }
            | HostError::Timeout { payload, .. } => payload,
            HostError::MessageTooLarge { payload, .. } => Some(payload),
            _ => None,
        }
    }
}
