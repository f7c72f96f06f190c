//! State shared between an actor's handles and its running loop.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A process-unique actor identifier. Cheap to copy and compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorId(pub(crate) u64);

impl ActorId {
    /// The numeric value, unique within the process.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "actor#{}", self.0)
    }
}

/// A snapshot of one actor's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActorStats {
    /// Messages whose handler returned `Ok`.
    pub handled: u64,
    /// Messages whose handler returned an error or panicked.
    pub failed: u64,
    /// Times the actor got a fresh instance (in place or by its supervisor).
    pub restarts: u64,
}

/// Per-actor state every [`ActorRef`](super::ActorRef) clone points at.
/// One allocation per spawn.
pub(crate) struct ActorShared {
    pub(crate) id: ActorId,
    pub(crate) name: Option<Arc<str>>,
    /// Set when a stop was requested; the loop checks it between messages.
    pub(crate) stop_requested: AtomicBool,
    /// Set once the actor is gone for good: its mailbox is closed.
    pub(crate) terminated: AtomicBool,
    pub(crate) handled: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) restarts: AtomicU64,
}

impl ActorShared {
    pub(crate) fn new(id: ActorId, name: Option<Arc<str>>) -> Self {
        Self {
            id,
            name,
            stop_requested: AtomicBool::new(false),
            terminated: AtomicBool::new(false),
            handled: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
        }
    }

    /// A label for errors and logs: the name if there is one, else the id.
    pub(crate) fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} ({})", self.id),
            None => self.id.to_string(),
        }
    }

    pub(crate) fn stats(&self) -> ActorStats {
        ActorStats {
            handled: self.handled.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
        }
    }
}
