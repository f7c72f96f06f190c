//! [`LiveGuard`]: the bookkeeping of one unsupervised actor's task.

use std::sync::Arc;

use tokio::task::AbortHandle;

use super::envelope::Envelope;
use super::runner;
use super::shared::ActorShared;
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
    /// Why the loop ended; `None` when the task was aborted.
    reason: Option<ExitReason>,
}

impl<A: Actor> LiveGuard<A> {
    /// Takes the actor's context and mailbox; see [`register`](Self::register)
    /// for the system's side.
    pub(crate) fn new(ctx: ActorContext<A>, mailbox: MailboxReceiver<Envelope<A>>) -> Self {
        Self {
            ctx,
            mailbox,
            reason: None,
        }
    }
}

impl<A: Actor> LiveGuard<A> {
    /// What the system's live registry will hold for this actor, made
    /// before its task is spawned.
    pub(crate) fn prepare_registration(actor_ref: &ActorRef<A>) -> LiveRegistration {
        let stopper = actor_ref.clone();
        LiveRegistration {
            shared: Arc::clone(&actor_ref.shared),
            stop: Box::new(move || stopper.stop()),
        }
    }

    /// Records why the loop ended, then drops the guard: the mailbox is
    /// closed and what is left in it dead-lettered.
    pub(crate) fn finish(mut self, reason: ExitReason) {
        self.reason = Some(reason);
    }
}

/// An actor's entry for the live registry, ready to insert once its task
/// runs (shutdown stops it through `stop` or aborts the task).
pub(crate) struct LiveRegistration {
    shared: Arc<ActorShared>,
    stop: Box<dyn Fn() + Send + Sync>,
}

impl LiveRegistration {
    /// Records the actor's running task as live, so shutdown can stop it or
    /// abort it.
    pub(crate) fn register(self, system: &ActorSystem, abort: AbortHandle) {
        system.register_live(self.shared, self.stop, abort);
    }
}

impl<A: Actor> Drop for LiveGuard<A> {
    fn drop(&mut self) {
        let system = self.ctx.system();
        let shared: &ActorShared = &self.ctx.myself().shared;
        runner::close_and_drain(&mut self.mailbox, system, shared);
        match &self.reason {
            Some(reason) if reason.is_abnormal() => {
                tracing::warn!(actor = %shared.label(), %reason, "actor stopped")
            }
            Some(reason) => tracing::debug!(actor = %shared.label(), %reason, "actor stopped"),
            None => tracing::warn!(actor = %shared.label(), "actor aborted"),
        }
        system.unregister_name(shared);
        system.remove_live(shared.id);
    }
}
