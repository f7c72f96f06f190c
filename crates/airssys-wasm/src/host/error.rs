//! Errors of the component host.

use std::time::Duration;

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
}

impl ComponentFailure {
    /// `true` when the instance is unusable and must be replaced.
    pub fn is_fatal(&self) -> bool {
        match self {
            ComponentFailure::Instantiate(_) => true,
            ComponentFailure::Guest(e) => e.is_fatal(),
        }
    }
}

/// An error from the [`ComponentHost`](super::ComponentHost) API. Every
/// variant names the component (or subject) and the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The binary could not be loaded, compiled or instantiated
    /// (invalid, missing exports, pool full: [`WasmError::Capacity`]).
    #[error(transparent)]
    Wasm(#[from] WasmError),
    /// The guest failed (e.g. its `init`, or the message it was asked to handle).
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// A component with this id is already running.
    #[error("component {component} already exists")]
    AlreadyExists {
        /// The id asked for.
        component: ComponentId,
    },
    /// No running component has this id.
    #[error("no component named {component}")]
    UnknownComponent {
        /// The id asked for.
        component: ComponentId,
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
    },
    /// The component's bounded mailbox is full (only from non-waiting sends).
    #[error("mailbox of component {component} is full ({capacity} messages)")]
    MailboxFull {
        /// The target component.
        component: ComponentId,
        /// Its mailbox capacity.
        capacity: usize,
    },
    /// The component stopped for good before it could take or answer the message.
    #[error("component {component} has stopped")]
    ComponentStopped {
        /// The target component.
        component: ComponentId,
    },
    /// No reply within the timeout.
    #[error("component {component} did not reply within {timeout:?}")]
    Timeout {
        /// The target component.
        component: ComponentId,
        /// The time allowed.
        timeout: Duration,
    },
    /// The component failed while handling the request.
    #[error("component {component} failed to handle the request: {reason}")]
    HandlerFailed {
        /// The target component.
        component: ComponentId,
        /// What went wrong.
        reason: String,
    },
    /// A subject or subscription pattern is malformed.
    #[error("invalid subject or pattern `{subject}`: {reason}")]
    InvalidSubject {
        /// The offending subject.
        subject: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The supervisor could not start or stop the component.
    #[error("supervisor failed for component {component}: {reason}")]
    Supervision {
        /// The component concerned.
        component: ComponentId,
        /// What the supervisor reported.
        reason: String,
    },
    /// The host is shutting down and takes no new work.
    #[error("the component host is shutting down")]
    ShuttingDown,
}
