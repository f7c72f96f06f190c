//! [`ActorContext`]: what a running actor can reach.

use super::{Actor, ActorRef, SpawnBuilder};
use crate::system::ActorSystem;

/// Handed to every [`Actor`] callback: the actor's own handle, the system it
/// runs in (registry, dead letters, brokers, supervisors), and a way to stop
/// itself or spawn more actors.
pub struct ActorContext<A: Actor> {
    myself: ActorRef<A>,
    system: ActorSystem,
    pub(crate) stop_self: bool,
}

impl<A: Actor> std::fmt::Debug for ActorContext<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorContext")
            .field("myself", &self.myself)
            .field("stop_self", &self.stop_self)
            .finish_non_exhaustive()
    }
}

impl<A: Actor> ActorContext<A> {
    pub(crate) fn new(myself: ActorRef<A>, system: ActorSystem) -> Self {
        Self {
            myself,
            system,
            stop_self: false,
        }
    }

    /// This actor's own handle (e.g. to give to others as a reply address).
    pub fn myself(&self) -> &ActorRef<A> {
        &self.myself
    }

    /// The system this actor runs in.
    pub fn system(&self) -> &ActorSystem {
        &self.system
    }

    /// The system's broker for messages of type `M` (see
    /// [`ActorSystem::broker`]): publish, subscribe, request.
    pub fn broker<M: Clone + Send + 'static>(
        &self,
    ) -> std::sync::Arc<dyn crate::broker::MessageBroker<M>> {
        self.system.broker::<M>()
    }

    /// Stops this actor, normally, once the current callback returns.
    /// Messages still queued are dead-lettered unless a supervisor restarts it.
    pub fn stop(&mut self) {
        self.stop_self = true;
    }

    /// Starts building a new actor in the same system; add
    /// [`SpawnBuilder::supervisor`] to put it under a supervisor.
    pub fn spawn<B, F>(&self, factory: F) -> SpawnBuilder<B, F>
    where
        B: Actor,
        F: FnMut() -> B + Send + 'static,
    {
        self.system.spawn(factory)
    }
}
