//! [`Incarnation`]: what one run of an actor's loop owns.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Actor, ActorContext};
use crate::supervisor::{ExitReason, ExitSignal, FailureCause};

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

    /// The fresh instance replaced one that failed with `reason` and is
    /// ready (its `pre_start` succeeded): whoever must hear of it now.
    fn restarted(&mut self, _reason: &FailureCause) {}
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

/// A supervised actor: it restarts in place, with a new instance from the
/// factory its supervisor's slot shares, when its supervisor's exit signal
/// allows it (one-for-one, no backoff, within the restart intensity) and
/// tells the supervisor afterwards; otherwise the loop ends as failed and
/// the supervisor restarts it.
///
/// In place, a restart costs the fresh instance and its `pre_start`: no
/// hand-over to the supervisor's task and back, no new task, and the
/// mailbox stays where it is.
pub(crate) struct Supervised<F> {
    pub(crate) factory: Arc<Mutex<F>>,
    /// The incarnation's way back to its supervisor.
    pub(crate) signal: ExitSignal,
    /// Whether the child's restart policy restarts it after a failure
    /// (not a `Temporary` child).
    pub(crate) restarts_after_failure: bool,
    /// Set when the supervisor is stopping the child: it decides then.
    pub(crate) stopped_by_supervisor: Arc<AtomicBool>,
}

impl<A, F> Restart<A> for Supervised<F>
where
    F: FnMut() -> A + Send,
{
    fn fresh_instance(&mut self) -> Option<A> {
        if !self.restarts_after_failure
            || self.stopped_by_supervisor.load(Ordering::Acquire)
            || !self.signal.may_restart_in_place()
        {
            return None;
        }
        Some((self.factory.lock())())
    }

    fn restarted(&mut self, reason: &FailureCause) {
        self.signal
            .restarted_in_place(ExitReason::Failed(reason.clone()));
    }
}
