//! [`LiveGuard`]: the bookkeeping of one unsupervised actor's task.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::envelope::Envelope;
use super::runner;
use super::shared::{ActorShared, LiveActor};
use super::{Actor, ActorContext, ActorRef};
use crate::mailbox::MailboxReceiver;
use crate::supervisor::ExitReason;
use crate::system::ActorSystem;

/// Owned by an unsupervised actor's task. However the task ends — its loop
/// returned, it was aborted by shutdown, it panicked — dropping the guard
/// closes the mailbox, dead-letters what was left in it, and removes the
/// actor from the system's registries.
pub(crate) struct LiveGuard<A: Actor> {
    /// The actor's context, lent to its loop; its system and shared record
    /// are what the guard needs at the end (no extra clones per spawn).
    pub(crate) ctx: ActorContext<A>,
    pub(crate) mailbox: MailboxReceiver<Envelope<A>>,
    /// `false` until the loop returned: dropped unfinished means aborted.
    /// (A flag rather than the exit reason keeps every actor's task small.)
    finished: bool,
}

impl<A: Actor> LiveGuard<A> {
    /// Takes the actor's context and mailbox; see [`register`](Self::register)
    /// for the system's side.
    pub(crate) fn new(ctx: ActorContext<A>, mailbox: MailboxReceiver<Envelope<A>>) -> Self {
        Self {
            ctx,
            mailbox,
            finished: false,
        }
    }
}

impl<A: Actor> LiveGuard<A> {
    /// What the system's live registry will hold for this actor, made
    /// before its task is spawned.
    pub(crate) fn prepare_registration(actor_ref: &ActorRef<A>) -> LiveRegistration {
        LiveRegistration {
            actor: Arc::clone(&actor_ref.cell) as Arc<dyn LiveActor>,
        }
    }

    /// Logs why the loop ended, then drops the guard: the mailbox is
    /// closed and what is left in it dead-lettered.
    pub(crate) fn finish(mut self, reason: ExitReason) {
        self.finished = true;
        let shared = self.ctx.myself().shared();
        if reason.is_abnormal() {
            tracing::warn!(actor = %shared.label(), %reason, "actor stopped");
        } else {
            tracing::debug!(actor = %shared.label(), %reason, "actor stopped");
        }
    }
}

/// An actor's entry for the live registry, ready to insert once its task
/// runs (shutdown stops it through its handle or aborts the task). It is the
/// actor's own handle allocation, type-erased: registering allocates nothing
/// per actor beyond the registry's slot.
pub(crate) struct LiveRegistration {
    actor: Arc<dyn LiveActor>,
}

impl LiveRegistration {
    /// Records the actor's running task as live, so shutdown can stop it or
    /// abort it. Takes the task's `JoinHandle` itself: making an extra
    /// `AbortHandle` would touch the task's header while its first poll may
    /// be running on another worker.
    pub(crate) fn register(self, system: &ActorSystem, task: JoinHandle<()>) {
        system.register_live(self.actor, task);
    }
}

impl<A: Actor> Drop for LiveGuard<A> {
    fn drop(&mut self) {
        let system = self.ctx.system();
        let shared: &ActorShared = self.ctx.myself().shared();
        runner::close_and_drain(&mut self.mailbox, system, shared);
        if !self.finished {
            tracing::warn!(actor = %shared.label(), "actor aborted");
        }
        system.unregister_name(shared);
        system.remove_live(shared);
    }
}
