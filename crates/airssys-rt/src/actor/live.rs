//! [`LiveGuard`]: the bookkeeping of one unsupervised actor's task.

use std::sync::Arc;

use tokio::task::AbortHandle;

use super::envelope::Envelope;
use super::runner;
use super::shared::ActorShared;
use super::{Actor, ActorRef};
use crate::mailbox::MailboxReceiver;
use crate::supervisor::ExitReason;
use crate::system::ActorSystem;

/// Owned by an unsupervised actor's task. However the task ends — its loop
/// returned, it was aborted by shutdown, it panicked — dropping the guard
/// closes the mailbox, dead-letters what was left in it, and removes the
/// actor from the system's registries.
pub(crate) struct LiveGuard<A: Actor> {
    system: ActorSystem,
    shared: Arc<ActorShared>,
    pub(crate) mailbox: MailboxReceiver<Envelope<A>>,
    /// Why the loop ended; `None` when the task was aborted.
    reason: Option<ExitReason>,
}

impl<A: Actor> LiveGuard<A> {
    /// Takes the actor's mailbox; see [`register`](Self::register) for the
    /// system's side.
    pub(crate) fn new(
        system: &ActorSystem,
        actor_ref: &ActorRef<A>,
        mailbox: MailboxReceiver<Envelope<A>>,
    ) -> Self {
        Self {
            system: system.clone(),
            shared: Arc::clone(&actor_ref.shared),
            mailbox,
            reason: None,
        }
    }
}

impl<A: Actor> LiveGuard<A> {
    /// Records the actor's running task as live, so shutdown can stop it or
    /// abort it.
    pub(crate) fn register(system: &ActorSystem, actor_ref: &ActorRef<A>, abort: AbortHandle) {
        let stopper = actor_ref.clone();
        system.register_live(&actor_ref.shared, Box::new(move || stopper.stop()), abort);
    }

    /// Records why the loop ended, then drops the guard: the mailbox is
    /// closed and what is left in it dead-lettered.
    pub(crate) fn finish(mut self, reason: ExitReason) {
        self.reason = Some(reason);
    }
}

impl<A: Actor> Drop for LiveGuard<A> {
    fn drop(&mut self) {
        runner::close_and_drain(&mut self.mailbox, &self.system, &self.shared);
        match &self.reason {
            Some(reason) if reason.is_abnormal() => {
                tracing::warn!(actor = %self.shared.label(), %reason, "actor stopped")
            }
            Some(reason) => tracing::debug!(actor = %self.shared.label(), %reason, "actor stopped"),
            None => tracing::warn!(actor = %self.shared.label(), "actor aborted"),
        }
        self.system.unregister_name(&self.shared);
        self.system.remove_live(self.shared.id);
    }
}
