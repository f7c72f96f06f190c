//! [`ActorChild`]: any actor as a supervisor's [`Child`].
//!
//! The mailbox belongs to this slot, not to an incarnation: each incarnation
//! borrows it for its lifetime (an owned lock guard held by its task) and
//! gives it back when it ends, however it ends — returned, failed, panicked
//! or aborted. Messages queued while the actor restarts are therefore
//! delivered, in order, to the next incarnation. When the supervisor drops
//! the slot for good, the mailbox is closed and what is left dead-lettered.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use tokio::sync::{oneshot, Mutex};
use tokio::task::JoinHandle;

use super::envelope::Envelope;
use super::inbox::Inbox;
use super::incarnation::{Incarnation, Supervised};
use super::runner;
use super::shared::ActorCell;
use super::{Actor, ActorContext, ActorRef};
use crate::mailbox::TryPushError;
use crate::supervisor::{
    Child, ChildError, ChildHealth, ExitReason, ExitSignal, FailureCause, RestartPolicy,
};
use crate::system::ActorSystem;

/// A supervised actor slot: factory, handle and mailbox.
pub(crate) struct ActorChild<A: Actor, F> {
    system: ActorSystem,
    actor_ref: ActorRef<A>,
    /// Shared with the running incarnation, which restarts in place with it.
    factory: Arc<parking_lot::Mutex<F>>,
    mailbox: Arc<Mutex<Inbox<A>>>,
    running: Option<JoinHandle<()>>,
    /// The running incarnation's end, for the monitors and links.
    ending: Option<Arc<IncarnationEnd<A>>>,
    started_once: bool,
    /// The child's restart policy, to know when an exit is final.
    restart: RestartPolicy,
    /// Set by `stop`/`kill`: the running incarnation is being stopped by its
    /// supervisor (which decides what comes next), not ending on its own.
    stopped_by_supervisor: Arc<AtomicBool>,
}

impl<A, F> ActorChild<A, F>
where
    A: Actor,
    F: FnMut() -> A + Send + 'static,
{
    pub(crate) fn new(
        system: ActorSystem,
        actor_ref: ActorRef<A>,
        mailbox: Inbox<A>,
        factory: F,
        restart: RestartPolicy,
    ) -> Self {
        Self {
            system,
            actor_ref,
            factory: Arc::new(parking_lot::Mutex::new(factory)),
            mailbox: Arc::new(Mutex::new(mailbox)),
            running: None,
            ending: None,
            started_once: false,
            restart,
            stopped_by_supervisor: Arc::new(AtomicBool::new(false)),
        }
    }

    fn label(&self) -> String {
        self.actor_ref.shared().label()
    }
}

impl<A: Actor, F> ActorChild<A, F> {
    /// The running incarnation was aborted: it ends as `Shutdown` now
    /// (unless its task ended it first).
    fn end_aborted(&mut self) {
        if let Some(ending) = self.ending.take() {
            ending.end(&ExitReason::Shutdown);
        }
    }
}

#[async_trait]
impl<A, F> Child for ActorChild<A, F>
where
    A: Actor,
    F: FnMut() -> A + Send + 'static,
{
    async fn start(&mut self, exit: ExitSignal) -> Result<(), ChildError> {
        // Wait until the previous incarnation has given the mailbox back.
        let mailbox = Arc::clone(&self.mailbox).lock_owned().await;
        self.running = None;
        let shared = self.actor_ref.shared();
        // A stale stop request is dropped; a linked exit left for this
        // actor between incarnations stops the new one at once.
        let linked = shared
            .watch_if_any()
            .is_some_and(|w| w.lock().pending_exit.is_some());
        shared.stop_requested.store(linked, Ordering::Release);
        if self.started_once {
            shared.restarts.fetch_add(1, Ordering::Relaxed);
        }
        self.started_once = true;

        let mut actor = (self.factory.lock())();
        let mut ctx = ActorContext::new(self.actor_ref.clone(), self.system.clone());
        let started = AssertUnwindSafe(actor.pre_start(&mut ctx))
            .catch_unwind()
            .await;
        let start_error = match started {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(FailureCause::Other(error.to_string())),
            Err(panic) => Some(FailureCause::Panicked(runner::panic_message(&*panic))),
        };
        if let Some(cause) = start_error {
            let reason = cause.to_string();
            // Monitors or links made in pre_start end with it.
            shared.end_incarnation(&ExitReason::Failed(cause));
            return Err(ChildError::StartFailed {
                child: self.label(),
                reason,
            });
        }

        let stopped_by_supervisor = Arc::new(AtomicBool::new(false));
        self.stopped_by_supervisor = Arc::clone(&stopped_by_supervisor);
        let restart = self.restart;
        let system = self.system.clone();
        let ending = Arc::new(IncarnationEnd {
            cell: Arc::clone(&self.actor_ref.cell),
            done: AtomicBool::new(false),
        });
        self.ending = Some(Arc::clone(&ending));
        let ending = EndOnDrop(ending);
        let mut incarnation = Incarnation {
            actor,
            ctx,
            mailbox,
            restart: Supervised {
                factory: Arc::clone(&self.factory),
                signal: exit,
                restarts_after_failure: restart != RestartPolicy::Temporary,
                stopped_by_supervisor: Arc::clone(&stopped_by_supervisor),
            },
        };
        self.running = Some(tokio::spawn(async move {
            let run = runner::run(&mut incarnation);
            let reason = match AssertUnwindSafe(run).catch_unwind().await {
                Ok(reason) => reason,
                Err(panic) => {
                    ExitReason::Failed(FailureCause::Panicked(runner::panic_message(&*panic)))
                }
            };
            // Monitors fire and links carry the exit before anything else
            // (a final exit's closing then finds them done).
            ending.0.end(&reason);
            // An exit its supervisor will not restart is final: close the
            // mailbox and dead-letter the rest rather than let it fill.
            if !stopped_by_supervisor.load(Ordering::Acquire) && !restart.restarts_after(&reason) {
                let Incarnation { ctx, mailbox, .. } = &mut incarnation;
                runner::close_and_drain(mailbox, &ctx.myself().cell, &system);
            }
            // Give the mailbox back before the supervisor hears of the exit.
            let Incarnation {
                actor,
                ctx,
                mailbox,
                restart,
            } = incarnation;
            drop((actor, ctx, mailbox));
            restart.signal.exit(reason);
        }));
        Ok(())
    }

    async fn stop(&mut self, timeout: Duration) -> Result<(), ChildError> {
        let Some(mut task) = self.running.take() else {
            return Ok(());
        };
        self.stopped_by_supervisor.store(true, Ordering::Release);
        self.actor_ref.stop();
        match tokio::time::timeout(timeout, &mut task).await {
            Ok(_) => Ok(()),
            Err(_) => {
                task.abort();
                self.end_aborted();
                let _ = task.await;
                Err(ChildError::StopTimedOut {
                    child: self.label(),
                    timeout,
                })
            }
        }
    }

    fn kill(&mut self) {
        self.stopped_by_supervisor.store(true, Ordering::Release);
        if let Some(task) = self.running.take() {
            task.abort();
        }
        self.end_aborted();
    }

    /// Not running → failed. Running → the actor's own
    /// [`Actor::health_check`], asked through the mailbox; a full mailbox
    /// reports degraded (the actor is alive but behind).
    async fn health_check(&mut self) -> ChildHealth {
        match &self.running {
            Some(task) if !task.is_finished() => {}
            _ => return ChildHealth::Failed(format!("actor {} is not running", self.label())),
        }
        let (answer, health) = oneshot::channel();
        match self.actor_ref.mailbox().try_push(Envelope::Health(answer)) {
            Ok(()) => health.await.unwrap_or_else(|_| {
                ChildHealth::Failed(format!("actor {} stopped during the check", self.label()))
            }),
            Err(TryPushError::Full(_)) => {
                ChildHealth::Degraded(format!("mailbox of actor {} is full", self.label()))
            }
            Err(TryPushError::Closed(_)) => {
                ChildHealth::Failed(format!("actor {} has stopped", self.label()))
            }
        }
    }
}

impl<A: Actor, F> Drop for ActorChild<A, F> {
    /// The slot is gone for good: close the mailbox, dead-letter the rest.
    fn drop(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
        }
        self.end_aborted();
        self.system.unregister_name(self.actor_ref.shared());
        // Refuse new messages at once, whoever holds the inbox now.
        self.actor_ref.mailbox().close();
        self.actor_ref.shared().gone_for_good();
        let system = self.system.clone();
        let cell = Arc::clone(&self.actor_ref.cell);
        match Arc::clone(&self.mailbox).try_lock_owned() {
            Ok(mut mailbox) => runner::close_and_drain(&mut mailbox, &cell, &system),
            // An aborted incarnation still holds it for a moment: drain once it lets go.
            Err(_) => {
                let mailbox = Arc::clone(&self.mailbox);
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move {
                        let mut mailbox = mailbox.lock_owned().await;
                        runner::close_and_drain(&mut mailbox, &cell, &system);
                    });
                }
            }
        }
    }
}

/// Ends one supervised incarnation for its monitors and links exactly once,
/// whoever comes first: its task with its exit reason when it finishes, or
/// the slot with `Shutdown` when it aborts the task (a kill, a graceful stop
/// that overran, the slot dropped) — at once, so the downs say `Shutdown`
/// before the slot, if it is dropped, closes the mailbox and fires `NoProc`
/// for what is left.
struct IncarnationEnd<A: Actor> {
    cell: Arc<ActorCell<A>>,
    done: AtomicBool,
}

impl<A: Actor> IncarnationEnd<A> {
    fn end(&self, reason: &ExitReason) {
        if !self.done.swap(true, Ordering::AcqRel) {
            self.cell.shared.end_incarnation(reason);
        }
    }
}

/// Held by the incarnation's task: a task dropped before it ended the
/// incarnation (aborted) ends it as `Shutdown`.
struct EndOnDrop<A: Actor>(Arc<IncarnationEnd<A>>);

impl<A: Actor> Drop for EndOnDrop<A> {
    fn drop(&mut self) {
        self.0.end(&ExitReason::Shutdown);
    }
}
