//! [`ActorContext`]: what a running actor can reach.

use std::sync::atomic::Ordering;

use super::{link, monitor, Actor, ActorRef, LinkError, MonitorRef, SpawnBuilder};
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

    /// Monitors `target`: when its current incarnation ends (or, between
    /// two incarnations, the next one), a [`Down`](super::Down) with the
    /// reason arrives in this actor's mailbox, after what `target` sent
    /// before, and is handled by [`Actor::handle_down`]. Exactly one down
    /// per monitor; if `target` is gone for good already, it is queued at
    /// once with [`ExitReason::NoProc`](crate::supervisor::ExitReason::NoProc).
    ///
    /// The monitor belongs to this incarnation: when it ends (stop,
    /// failure, restart) the monitor is removed from the target, and a down
    /// still queued is dropped. Monitoring oneself returns a reference that
    /// never fires. Two lock acquisitions, one allocation per first monitor
    /// on either side; see `docs/supervision.md` for the bytes it keeps.
    pub fn monitor<B: Actor>(&self, target: &ActorRef<B>) -> MonitorRef {
        monitor::monitor_from_actor(&self.myself.cell, &target.cell)
    }

    /// Removes a monitor this incarnation made with [`monitor`](Self::monitor).
    /// Once it returns, its down is never handled, even one already queued.
    /// Returns `true` if the monitor was still held (its down not handled
    /// yet), `false` if its down was handled already or it is not this
    /// incarnation's: harmless either way.
    pub fn demonitor(&self, monitor: MonitorRef) -> bool {
        monitor::demonitor_from_actor(self.myself.cell.as_ref(), monitor)
    }

    /// Links this actor with `peer`, both ways: when either incarnation
    /// ends abnormally, the other stops too with
    /// [`ExitReason::Linked`](crate::supervisor::ExitReason::Linked), unless
    /// it traps exits ([`set_trap_exits`](Self::set_trap_exits)), in which
    /// case the end arrives at [`Actor::handle_link_exit`]. A normal end
    /// just breaks the link. Like a monitor, a link belongs to the two
    /// incarnations it joins. Idempotent; linking with oneself does nothing.
    ///
    /// # Errors
    /// [`LinkError::NoProc`] when `peer` is gone for good already.
    pub fn link<B: Actor>(&self, peer: &ActorRef<B>) -> Result<(), LinkError> {
        link::link(&self.myself.cell, &peer.cell)
    }

    /// Breaks the link with `peer`. Once it returns no exit of `peer`
    /// reaches this actor over it, even one already queued. `true` if there
    /// was a link.
    pub fn unlink<B: Actor>(&self, peer: &ActorRef<B>) -> bool {
        link::unlink(self.myself.cell.as_ref(), peer.cell.as_ref())
    }

    /// Whether a linked actor's end arrives as a message (`true`) at
    /// [`Actor::handle_link_exit`], or stops this actor when abnormal
    /// (`false`, the default; see [`SpawnBuilder::trap_exits`]). Kept
    /// across restarts. Takes effect for ends that happen after it.
    pub fn set_trap_exits(&mut self, trap: bool) {
        self.myself
            .shared()
            .trap_exits
            .store(trap, Ordering::Release);
    }

    /// Whether this actor traps exits now.
    pub fn traps_exits(&self) -> bool {
        self.myself.shared().traps_exits()
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
