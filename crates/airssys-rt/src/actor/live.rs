//! [`LiveGuard`]: the bookkeeping of one unsupervised actor's task.

use super::inbox::Inbox;
use super::runner;
use super::shared::ActorShared;
use super::{Actor, ActorContext};
use crate::supervisor::ExitReason;

/// Owned by an unsupervised actor's task. However the task ends — its loop
/// returned, it was aborted by shutdown, it panicked — dropping the guard
/// closes the mailbox, dead-letters what was left in it, and removes the
/// actor from the system's registries.
pub(crate) struct LiveGuard<A: Actor> {
    /// The actor's context, lent to its loop; its system and shared record
    /// are what the guard needs at the end (no extra clones per spawn).
    pub(crate) ctx: ActorContext<A>,
    pub(crate) mailbox: Inbox<A>,
    /// `false` until the loop returned: dropped unfinished means aborted.
    /// (A flag rather than the exit reason keeps every actor's task small.)
    finished: bool,
}

impl<A: Actor> LiveGuard<A> {
    /// Takes the actor's context and mailbox.
    pub(crate) fn new(ctx: ActorContext<A>, mailbox: Inbox<A>) -> Self {
        Self {
            ctx,
            mailbox,
            finished: false,
        }
    }
}

impl<A: Actor> LiveGuard<A> {
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
