//! [`EventStream`]: where a supervision tree's events go. Every supervisor
//! of one tree shares it (see
//! [`SupervisorBuilder::share_events_with`](super::SupervisorBuilder::share_events_with)).
//!
//! An event goes two ways:
//! - to the **observers** ([`SupervisorRef::observe_events`](super::SupervisorRef::observe_events)),
//!   called in place, in the emitting supervisor's task, before it goes on:
//!   for bookkeeping that must see every event and must not cost a task
//!   wake-up per event (a spawn emits one, a restart three);
//! - to the **broadcast** stream ([`SupervisorRef::events`](super::SupervisorRef::events)),
//!   for subscribers that await events in tasks of their own (a slow one
//!   misses events rather than holding the tree up).

use std::sync::Arc;

use parking_lot::RwLock;
use tokio::sync::broadcast;

use super::SupervisionEvent;

/// A function called with every event of a tree, in place.
type Observer = Arc<dyn Fn(&SupervisionEvent) + Send + Sync>;

/// A supervision tree's events: its observers and its broadcast stream.
/// Cloning shares both.
#[derive(Clone)]
pub(crate) struct EventStream {
    broadcast: broadcast::Sender<SupervisionEvent>,
    observers: Arc<RwLock<Vec<Observer>>>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("subscribers", &self.broadcast.receiver_count())
            .field("observers", &self.observers.read().len())
            .finish()
    }
}

impl EventStream {
    /// A stream whose broadcast holds `capacity` events for a slow
    /// subscriber, with no observer yet.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            broadcast: broadcast::channel(capacity).0,
            observers: Arc::default(),
        }
    }

    /// A receiver of the events broadcast from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<SupervisionEvent> {
        self.broadcast.subscribe()
    }

    /// Adds `observer`: it is called with every event emitted from now on.
    pub(crate) fn observe(&self, observer: Observer) {
        self.observers.write().push(observer);
    }

    /// Hands `event` to every observer, in the order they were added, then
    /// broadcasts it (nobody subscribed is not an error).
    pub(crate) fn emit(&self, event: SupervisionEvent) {
        for observer in self.observers.read().iter() {
            observer(&event);
        }
        let _ = self.broadcast.send(event);
    }
}
