//! Dead letters: messages that were accepted but could not be handled.
//!
//! Every dead letter is counted by reason (always) and offered to the
//! subscribers of [`ActorSystem::dead_letters`](crate::ActorSystem::dead_letters).
//! A subscriber that falls more than [`DEAD_LETTER_BUFFER`] records behind
//! misses the oldest ones; they stay counted in [`DeadLetterCounts`].

use std::any::Any;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::actor::ActorId;

/// Records a dead-letter subscriber may fall behind before missing some: 4096.
pub const DEAD_LETTER_BUFFER: usize = 4096;

/// Why a message became a dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// Its handler failed (error or panic) and the actor stopped or restarted
    /// because of it. The text is the failure.
    HandlerFailed(String),
    /// It was queued when the actor stopped for good.
    ActorStopped,
}

impl DeadLetterReason {
    /// A short, stable label for metrics ("handler_failed", "actor_stopped").
    pub fn label(&self) -> &'static str {
        match self {
            DeadLetterReason::HandlerFailed(_) => "handler_failed",
            DeadLetterReason::ActorStopped => "actor_stopped",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadLetterReason::HandlerFailed(why) => write!(f, "handler failed: {why}"),
            DeadLetterReason::ActorStopped => f.write_str("actor stopped"),
        }
    }
}

/// One message that could not be handled, with where and why.
pub struct DeadLetter {
    /// The actor it was addressed to.
    pub actor: ActorId,
    /// That actor's name, if it has one.
    pub actor_name: Option<Arc<str>>,
    /// Why it was not handled.
    pub reason: DeadLetterReason,
    /// The Rust type of the message.
    pub message_type: &'static str,
    /// The message itself, when the runtime still holds it (a message queued
    /// when the actor stopped). A message consumed by a failing handler is
    /// gone; its record carries the failure instead. Take it with
    /// [`take_message`](DeadLetter::take_message).
    message: Mutex<Option<Box<dyn Any + Send>>>,
}

impl DeadLetter {
    pub(crate) fn new<M: Send + 'static>(
        actor: ActorId,
        actor_name: Option<Arc<str>>,
        reason: DeadLetterReason,
        message: Option<M>,
    ) -> Self {
        Self {
            actor,
            actor_name,
            reason,
            message_type: std::any::type_name::<M>(),
            message: Mutex::new(message.map(|m| Box::new(m) as Box<dyn Any + Send>)),
        }
    }

    /// Takes the message out if it is still held and is an `M`. The first
    /// subscriber to take it gets it.
    pub fn take_message<M: 'static>(&self) -> Option<M> {
        let mut slot = self.message.lock();
        let boxed = slot.take()?;
        match boxed.downcast::<M>() {
            Ok(message) => Some(*message),
            Err(other) => {
                *slot = Some(other);
                None
            }
        }
    }
}

impl fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetter")
            .field("actor", &self.actor)
            .field("actor_name", &self.actor_name)
            .field("reason", &self.reason)
            .field("message_type", &self.message_type)
            .finish_non_exhaustive()
    }
}

/// Dead letters counted by reason since the system started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetterCounts {
    /// Messages whose handler failed.
    pub handler_failed: u64,
    /// Messages left queued when their actor stopped for good.
    pub actor_stopped: u64,
}

impl DeadLetterCounts {
    /// All dead letters.
    pub fn total(&self) -> u64 {
        self.handler_failed + self.actor_stopped
    }
}

/// A function run on every dead letter, inline, before it is broadcast.
pub type DeadLetterHandler = Arc<dyn Fn(&DeadLetter) + Send + Sync>;

/// Counts and broadcasts dead letters.
pub(crate) struct DeadLetterOffice {
    sender: broadcast::Sender<Arc<DeadLetter>>,
    handlers: parking_lot::RwLock<Vec<DeadLetterHandler>>,
    handler_failed: AtomicU64,
    actor_stopped: AtomicU64,
}

impl DeadLetterOffice {
    pub(crate) fn new() -> Self {
        let (sender, _) = broadcast::channel(DEAD_LETTER_BUFFER);
        Self {
            sender,
            handlers: parking_lot::RwLock::new(Vec::new()),
            handler_failed: AtomicU64::new(0),
            actor_stopped: AtomicU64::new(0),
        }
    }

    /// Counts, logs and broadcasts one dead letter.
    pub(crate) fn post(&self, letter: DeadLetter) {
        let counter = match letter.reason {
            DeadLetterReason::HandlerFailed(_) => &self.handler_failed,
            DeadLetterReason::ActorStopped => &self.actor_stopped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            actor = %letter.actor,
            name = letter.actor_name.as_deref().unwrap_or(""),
            reason = %letter.reason,
            message_type = letter.message_type,
            "dead letter"
        );
        for handler in self.handlers.read().iter() {
            handler(&letter);
        }
        // No subscriber is fine: the letter is counted above.
        let _ = self.sender.send(Arc::new(letter));
    }

    pub(crate) fn add_handler(&self, handler: DeadLetterHandler) {
        self.handlers.write().push(handler);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<DeadLetter>> {
        self.sender.subscribe()
    }

    pub(crate) fn counts(&self) -> DeadLetterCounts {
        DeadLetterCounts {
            handler_failed: self.handler_failed.load(Ordering::Relaxed),
            actor_stopped: self.actor_stopped.load(Ordering::Relaxed),
        }
    }
}
