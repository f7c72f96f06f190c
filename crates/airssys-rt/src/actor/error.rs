//! Errors of sending to, asking and spawning actors.
//!
//! A failed send hands the message back (as tokio's `SendError<T>` does), so
//! nothing is lost at the sender.

use std::fmt;
use std::time::Duration;

/// [`tell`](super::ActorRef::tell) failed: the actor is gone for good.
/// The message is handed back in `message`.
#[derive(thiserror::Error)]
#[error("actor {actor} has stopped; the message was not delivered")]
pub struct SendError<M> {
    /// The actor's name or id.
    pub actor: String,
    /// The message that was not delivered.
    pub message: M,
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

/// [`try_tell`](super::ActorRef::try_tell) failed; the message is handed back.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum TrySendError<M> {
    /// The bounded mailbox holds `capacity` messages already.
    #[error("mailbox of actor {actor} is full ({capacity} messages)")]
    MailboxFull {
        /// The actor's name or id.
        actor: String,
        /// The mailbox capacity that was reached.
        capacity: usize,
        /// The message that was not delivered.
        message: M,
    },
    /// The actor is gone for good.
    #[error("actor {actor} has stopped; the message was not delivered")]
    ActorStopped {
        /// The actor's name or id.
        actor: String,
        /// The message that was not delivered.
        message: M,
    },
}

impl<M> TrySendError<M> {
    /// Takes back the message that was not delivered.
    pub fn into_message(self) -> M {
        match self {
            TrySendError::MailboxFull { message, .. }
            | TrySendError::ActorStopped { message, .. } => message,
        }
    }
}

impl<M> fmt::Debug for TrySendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::MailboxFull {
                actor, capacity, ..
            } => f
                .debug_struct("MailboxFull")
                .field("actor", actor)
                .field("capacity", capacity)
                .finish_non_exhaustive(),
            TrySendError::ActorStopped { actor, .. } => f
                .debug_struct("ActorStopped")
                .field("actor", actor)
                .finish_non_exhaustive(),
        }
    }
}

/// [`ask`](super::ActorRef::ask) failed.
///
/// Generic over the actor's message `M` and handler error `E`, so that
/// nothing is lost on the way back: a request that never entered the mailbox
/// is handed back in `message`, and a handler's failure keeps its type
/// (match on it, or reach it through [`std::error::Error::source`]).
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum AskError<M, E> {
    /// No reply arrived within `timeout`. If the actor answers later, the
    /// reply is discarded and counted in [`SystemStats::late_replies`](crate::SystemStats).
    #[error("actor {actor} did not reply within {timeout:?}")]
    Timeout {
        /// The actor's name or id.
        actor: String,
        /// The time that was allowed.
        timeout: Duration,
        /// `Some` when the time ran out while waiting for mailbox room: the
        /// request never entered the mailbox and is handed back. `None` once
        /// the actor had accepted it.
        message: Option<M>,
    },
    /// The actor is gone for good (or stopped before answering).
    #[error("actor {actor} has stopped without replying")]
    ActorStopped {
        /// The actor's name or id.
        actor: String,
        /// `Some` when the mailbox was already closed: the request was not
        /// delivered and is handed back. `None` when the actor stopped after
        /// accepting it (it was then dead-lettered by the runtime).
        message: Option<M>,
    },
    /// The handler failed on this request with `error`.
    #[error("actor {actor} failed to handle the request: {error}")]
    HandlerFailed {
        /// The actor's name or id.
        actor: String,
        /// The handler's own error, with its type.
        #[source]
        error: E,
    },
    /// The handler panicked on this request.
    #[error("actor {actor} panicked while handling the request: {reason}")]
    HandlerPanicked {
        /// The actor's name or id.
        actor: String,
        /// The panic's message.
        reason: String,
    },
}

impl<M, E> AskError<M, E> {
    /// The name or id of the actor that was asked.
    pub fn actor(&self) -> &str {
        match self {
            AskError::Timeout { actor, .. }
            | AskError::ActorStopped { actor, .. }
            | AskError::HandlerFailed { actor, .. }
            | AskError::HandlerPanicked { actor, .. } => actor,
        }
    }

    /// Takes back the request if it never entered the mailbox.
    pub fn into_message(self) -> Option<M> {
        match self {
            AskError::Timeout { message, .. } | AskError::ActorStopped { message, .. } => message,
            AskError::HandlerFailed { .. } | AskError::HandlerPanicked { .. } => None,
        }
    }
}

impl<M, E: fmt::Debug> fmt::Debug for AskError<M, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AskError::Timeout {
                actor,
                timeout,
                message,
            } => f
                .debug_struct("Timeout")
                .field("actor", actor)
                .field("timeout", timeout)
                .field("handed_back", &message.is_some())
                .finish(),
            AskError::ActorStopped { actor, message } => f
                .debug_struct("ActorStopped")
                .field("actor", actor)
                .field("handed_back", &message.is_some())
                .finish(),
            AskError::HandlerFailed { actor, error } => f
                .debug_struct("HandlerFailed")
                .field("actor", actor)
                .field("error", error)
                .finish(),
            AskError::HandlerPanicked { actor, reason } => f
                .debug_struct("HandlerPanicked")
                .field("actor", actor)
                .field("reason", reason)
                .finish(),
        }
    }
}

/// Spawning an actor failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// Another live actor already has this name.
    #[error("an actor named `{name}` already exists")]
    NameTaken {
        /// The name asked for.
        name: String,
    },
    /// `pre_start` returned an error.
    #[error("actor {actor} failed in pre_start: {reason}")]
    PreStartFailed {
        /// The actor's name or id.
        actor: String,
        /// The error, as text.
        reason: String,
    },
    /// The supervisor refused or failed to start the actor.
    #[error("supervisor could not start actor {actor}: {reason}")]
    Supervisor {
        /// The actor's name or id.
        actor: String,
        /// What the supervisor reported.
        reason: String,
    },
    /// The system is shutting down and takes no new actors.
    #[error("the actor system is shutting down")]
    ShuttingDown,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload that must never reach a log line.
    const SECRET: &str = "card 4111-1111";

    #[test]
    fn a_failed_send_names_the_actor_hands_the_message_back_and_never_prints_it() {
        let full = TrySendError::MailboxFull {
            actor: "orders".to_owned(),
            capacity: 8,
            message: SECRET,
        };
        assert_eq!(
            full.to_string(),
            "mailbox of actor orders is full (8 messages)"
        );
        assert!(!format!("{full:?}").contains(SECRET), "{full:?}");
        assert_eq!(full.into_message(), SECRET);

        let stopped = SendError {
            actor: "orders".to_owned(),
            message: SECRET,
        };
        assert!(stopped.to_string().contains("orders has stopped"));
        assert!(!format!("{stopped:?}").contains(SECRET), "{stopped:?}");
    }

    #[test]
    fn a_failed_ask_says_why_and_gives_back_what_it_still_holds() {
        let timeout: AskError<&str, String> = AskError::Timeout {
            actor: "pricing".to_owned(),
            timeout: Duration::from_millis(250),
            message: Some(SECRET),
        };
        assert_eq!(
            timeout.to_string(),
            "actor pricing did not reply within 250ms"
        );
        assert_eq!(timeout.actor(), "pricing");
        assert!(!format!("{timeout:?}").contains(SECRET), "{timeout:?}");
        assert_eq!(timeout.into_message(), Some(SECRET));

        let failed: AskError<&str, String> = AskError::HandlerFailed {
            actor: "pricing".to_owned(),
            error: "no such product".to_owned(),
        };
        assert_eq!(
            failed.to_string(),
            "actor pricing failed to handle the request: no such product"
        );
        assert_eq!(failed.into_message(), None);

        let spawn = SpawnError::PreStartFailed {
            actor: "pricing".to_owned(),
            reason: "config missing".to_owned(),
        };
        assert_eq!(
            spawn.to_string(),
            "actor pricing failed in pre_start: config missing"
        );
    }
}
