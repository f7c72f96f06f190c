//! [`Incarnation`]: what one run of an actor's loop owns.

use std::sync::atomic::Ordering;

use super::{Actor, ActorContext};
use crate::supervisor::ExitReason;

/// One incarnation of an actor: its state, its context, its inbox (or the
/// lock on it) and where a fresh instance comes from on an in-place restart.
///
/// The actor loop borrows this as one pointer. Everything the loop needs
/// lives here rather than in the loop's own future, so the future an idle
/// actor's task keeps stays small (see `docs/performance.md`: the task of a
/// small actor fits tokio's 256-byte task cell).
pub(crate) struct Incarnation<A: Actor, M, R> {
    pub(crate) actor: A,
    pub(crate) ctx: ActorContext<A>,
    pub(crate) mailbox: M,
    pub(crate) restart: R,
}

impl<A: Actor, M, R> Incarnation<A, M, R> {
    /// Why the loop must stop before taking another message, if it must: a
    /// linked actor ended abnormally (linked), a stop was requested from
    /// outside (shutdown), or the actor stopped itself (normal).
    pub(crate) fn stop_reason(&self) -> Option<ExitReason> {
        let shared = self.ctx.myself().shared();
        if shared.stop_requested.load(Ordering::Acquire) {
            let linked = shared.watch_if_any().and_then(|w| w.take_pending_exit());
            Some(linked.unwrap_or(ExitReason::Shutdown))
        } else if self.ctx.stop_self {
            Some(ExitReason::Normal)
        } else {
            None
        }
    }
}

/// Where a fresh instance comes from when the actor asks for a restart.
pub(crate) trait Restart<A>: Send {
    /// A fresh instance to continue with in place, or `None` when the
    /// supervisor restarts the actor (the loop then ends as failed).
    fn fresh_instance(&mut self) -> Option<A>;
}

/// The loop restarts the actor itself, with a new instance from the factory
/// (unsupervised actors).
pub(crate) struct InPlace<F>(pub(crate) F);

impl<A, F> Restart<A> for InPlace<F>
where
    F: FnMut() -> A + Send,
{
    fn fresh_instance(&mut self) -> Option<A> {
        Some((self.0)())
    }
}

/// The supervisor restarts the actor: the loop ends with a failed exit.
pub(crate) struct BySupervisor;

impl<A> Restart<A> for BySupervisor {
    fn fresh_instance(&mut self) -> Option<A> {
        None
    }
}
