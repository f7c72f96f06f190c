//! [`UnsupervisedActor`]: one unsupervised actor, from its spawn to its end.

use std::future::Future;

use super::inbox::Inbox;
use super::incarnation::{InPlace, Incarnation};
use super::runner;
use super::Actor;
use crate::supervisor::{ExitReason, FailureCause};

/// Where an unsupervised actor is in its life, for what its end must report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Spawned, `pre_start` not done: an end here is a cancelled spawn.
    Starting,
    /// Its loop runs: an end here (a drop before the loop returned) is an abort.
    Running,
    /// Its loop returned, or its `pre_start` failed.
    Ended,
}

/// An unsupervised actor's whole state: created by the spawn, moved into
/// the actor's task once `pre_start` succeeded. However it ends (its loop
/// returned, its task was aborted by shutdown or panicked, its spawn was
/// cancelled or failed), dropping it closes the mailbox, dead-letters what
/// was left in it, and removes the actor from the system's registries.
pub(crate) struct UnsupervisedActor<A: Actor, F> {
    pub(crate) incarnation: Incarnation<A, Inbox<A>, InPlace<F>>,
    phase: Phase,
}

impl<A, F> UnsupervisedActor<A, F>
where
    A: Actor,
    F: FnMut() -> A + Send + 'static,
{
    /// An actor about to run `pre_start`.
    pub(crate) fn new(incarnation: Incarnation<A, Inbox<A>, InPlace<F>>) -> Self {
        Self {
            incarnation,
            phase: Phase::Starting,
        }
    }

    /// `pre_start` failed: dropping the actor cleans up without calling it
    /// an abort.
    pub(crate) fn start_failed(mut self) {
        self.phase = Phase::Ended;
    }

    /// Runs the actor's loop to its end: the body of the actor's task.
    ///
    /// An `async` block that captures `self`, not an `async fn`: an `async
    /// fn` keeps a second copy of its arguments in its future, and this
    /// future is what every idle actor's task holds.
    #[allow(clippy::manual_async_fn)]
    pub(crate) fn run(mut self) -> impl Future<Output = ()> + Send + 'static {
        async move {
            self.phase = Phase::Running;
            let reason = runner::run(&mut self.incarnation).await;
            self.phase = Phase::Ended;
            let shared = self.incarnation.ctx.myself().shared();
            shared.end_incarnation(&reason);
            if reason.is_abnormal() {
                tracing::warn!(actor = %shared.label(), %reason, "actor stopped");
            } else {
                tracing::debug!(actor = %shared.label(), %reason, "actor stopped");
            }
        }
    }
}

impl<A: Actor, F> Drop for UnsupervisedActor<A, F> {
    fn drop(&mut self) {
        let Incarnation { ctx, mailbox, .. } = &mut self.incarnation;
        let system = ctx.system();
        let cell = &ctx.myself().cell;
        if self.phase == Phase::Running {
            // Its monitors fire before the mailbox closes, with what ended
            // it: a panic outside a handler, or shutdown's abort.
            let reason = if std::thread::panicking() {
                ExitReason::Failed(FailureCause::Panicked("outside a handler".to_owned()))
            } else {
                ExitReason::Shutdown
            };
            cell.shared.end_incarnation(&reason);
        }
        runner::close_and_drain(mailbox, cell, system);
        match self.phase {
            Phase::Running => tracing::warn!(actor = %cell.shared.label(), "actor aborted"),
            Phase::Starting => {
                tracing::debug!(actor = %cell.shared.label(), "spawn cancelled before pre_start finished")
            }
            Phase::Ended => {}
        }
        system.unregister_name(&cell.shared);
        system.remove_live(&cell.shared);
    }
}

#[cfg(test)]
mod tests {
    use crate::{Actor, ActorContext, ActorSystem};

    /// The largest future tokio stores in its smallest (256-byte, 128-byte
    /// aligned) task cell: the rest holds the task header (32 bytes), the
    /// scheduler handle and task id (16), the stage tag (8) and the trailer
    /// (48). One byte more and every actor costs a 384-byte cell.
    const SMALLEST_TASK_CELL_FUTURE: usize = 152;

    /// A counter: the size of state most actors start from.
    struct Counter(u64);

    impl Actor for Counter {
        type Message = u64;
        type Reply = u64;
        type Error = std::convert::Infallible;

        async fn handle_message(
            &mut self,
            n: u64,
            _: &mut ActorContext<Self>,
        ) -> Result<u64, Self::Error> {
            self.0 += n;
            Ok(self.0)
        }
    }

    #[test]
    fn a_small_actors_record_fits_the_allocation_of_a_bare_channels_block() {
        // The `Arc`'s strong and weak counts come before the cell.
        let size = std::mem::size_of::<crate::actor::ActorCell<Counter>>() + 16;
        assert!(
            size <= 288,
            "a counter's record takes {size} bytes; a bare tokio channel's block, 288"
        );
    }

    #[tokio::test]
    async fn a_small_actors_task_fits_tokios_smallest_task_cell() {
        let system = ActorSystem::new();
        let (_actor_ref, actor) = system
            .spawn(|| Counter(0))
            .prepare_unsupervised()
            .expect("prepared");
        let task = actor.run();
        let size = std::mem::size_of_val(&task);
        assert!(
            size <= SMALLEST_TASK_CELL_FUTURE,
            "an idle counter's task future is {size} bytes; over {SMALLEST_TASK_CELL_FUTURE} it needs a larger task cell"
        );
    }
}
