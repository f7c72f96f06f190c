//! Dead letters: messages that were accepted but could not be handled.
//!
//! Every dead letter is counted by reason (always) and offered to the
//! subscribers of [`ActorSystem::dead_letters`](crate::ActorSystem::dead_letters).
//! A subscriber that falls more than [`DEAD_LETTER_BUFFER`] records behind
//! misses the oldest ones; they stay counted in [`DeadLetterCounts`].

mod reason;

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::actor::ActorId;

pub use reason::{DeadLetterCounters, DeadLetterReason};

/// Records a dead-letter subscriber may fall behind before missing some: 4096.
pub const DEAD_LETTER_BUFFER: usize = 4096;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetterCounts {
    /// Messages whose handler failed.
    pub handler_failed: u64,
    /// Messages left queued when their actor stopped for good.
    pub actor_stopped: u64,
    /// Every count by reason label, these two included (the runtime posts
    /// only these two).
    pub by_reason: [(&'static str, u64); DeadLetterReason::LABELS.len()],
}

impl Default for DeadLetterCounts {
    fn default() -> Self {
        DeadLetterCounters::default().into()
    }
}

impl From<&DeadLetterCounters> for DeadLetterCounts {
    fn from(counters: &DeadLetterCounters) -> Self {
        let by_reason = counters.by_reason();
        Self {
            handler_failed: by_reason[DeadLetterReason::HandlerFailed(String::new()).index()].1,
            actor_stopped: by_reason[DeadLetterReason::ActorStopped.index()].1,
            by_reason,
        }
    }
}

impl From<DeadLetterCounters> for DeadLetterCounts {
    fn from(counters: DeadLetterCounters) -> Self {
        (&counters).into()
    }
}

impl DeadLetterCounts {
    /// All dead letters.
    pub fn total(&self) -> u64 {
        self.by_reason.iter().map(|(_, n)| n).sum()
    }
}

/// A function run on every dead letter, inline, before it is broadcast.
pub type DeadLetterHandler = Arc<dyn Fn(&DeadLetter) + Send + Sync>;

/// Counts and broadcasts dead letters.
pub(crate) struct DeadLetterOffice {
    sender: broadcast::Sender<Arc<DeadLetter>>,
    handlers: parking_lot::RwLock<Vec<DeadLetterHandler>>,
    counters: DeadLetterCounters,
}

impl DeadLetterOffice {
    pub(crate) fn new() -> Self {
        let (sender, _) = broadcast::channel(DEAD_LETTER_BUFFER);
        Self {
            sender,
            handlers: parking_lot::RwLock::new(Vec::new()),
            counters: DeadLetterCounters::default(),
        }
    }

    /// Counts, logs and broadcasts one dead letter.
    pub(crate) fn post(&self, letter: DeadLetter) {
        self.counters.add(&letter.reason);
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
        (&self.counters).into()
    }
}
