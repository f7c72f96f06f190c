//! The [`Child`] trait: what a supervisor starts, stops, watches and restarts.
//!
//! A child is anything with a lifecycle: a supervised actor, a nested
//! supervisor, a WebAssembly component. The supervisor never looks inside it;
//! it only calls these methods and listens for the child's [`ExitSignal`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::time::Instant;

use super::cause::FailureCause;
use super::intensity::IntensityTracker;
use crate::actor_id::ActorId;

/// The result of a [`Child::health_check`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChildHealth {
    /// Working normally.
    Healthy,
    /// Working, but impaired; does not count towards a health-triggered restart.
    Degraded(String),
    /// Not working; counts towards the consecutive-failure threshold.
    Failed(String),
}

/// Why an incarnation of a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitReason {
    /// The child finished its work on its own, without error.
    Normal,
    /// The child was stopped on request (by its supervisor or by
    /// shutdown), or it is a supervisor that gave up on its restart
    /// intensity: as in OTP, such a supervisor exits `shutdown`, so that a
    /// `Transient` supervisor child is not restarted by its parent (its
    /// cause is on [`SupervisionEvent::SupervisorFailed`](super::SupervisionEvent::SupervisorFailed)).
    Shutdown,
    /// The child failed: an error, a panic, a trap. The cause says what
    /// happened, typed where it matters ([`FailureCause`]).
    Failed(FailureCause),
    /// The child asked its supervisor to fail too (`ErrorAction::Escalate`).
    Escalated(String),
    /// An actor linked with this one (`ActorContext::link`) ended
    /// abnormally, and this one does not trap exits, so it stopped too.
    /// Abnormal: it travels on over this actor's own links.
    Linked {
        /// The linked actor that ended first.
        peer: ActorId,
        /// Why it ended (itself `Linked` along a chain of links).
        reason: Box<ExitReason>,
    },
    /// Only in a down notification or a trapped link exit, never from a
    /// child: no incarnation of the actor ran after the monitor or link was
    /// made (it was gone for good already, or it was between incarnations
    /// and its supervisor let go of it). Erlang's `noproc`.
    NoProc,
    /// Only in a down notification, never from a child: the monitored
    /// actor ran in another process (a component on another host of a
    /// cluster) and that process was lost, so how its incarnation ended is
    /// not known. Erlang's `noconnection`. This runtime never makes it; a
    /// layer that monitors across processes does (airssys-wasm).
    NoConnection,
}

impl ExitReason {
    /// `true` for exits a `Transient` child is restarted after, and that
    /// travel over links: everything but [`ExitReason::Normal`] and
    /// [`ExitReason::Shutdown`].
    pub fn is_abnormal(&self) -> bool {
        !matches!(self, ExitReason::Normal | ExitReason::Shutdown)
    }

    /// A stable label for metrics and wire formats: `normal`, `shutdown`,
    /// `failed`, `escalated`, `linked`, `noproc`, `noconnection`.
    pub fn label(&self) -> &'static str {
        match self {
            ExitReason::Normal => "normal",
            ExitReason::Shutdown => "shutdown",
            ExitReason::Failed(_) => "failed",
            ExitReason::Escalated(_) => "escalated",
            ExitReason::Linked { .. } => "linked",
            ExitReason::NoProc => "noproc",
            ExitReason::NoConnection => "noconnection",
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal exit"),
            ExitReason::Shutdown => f.write_str("shut down"),
            ExitReason::Failed(why) => write!(f, "failed: {why}"),
            ExitReason::Escalated(why) => write!(f, "escalated: {why}"),
            ExitReason::Linked { peer, reason } => write!(f, "linked {peer} exited: {reason}"),
            ExitReason::NoProc => f.write_str("no such actor"),
            ExitReason::NoConnection => f.write_str("the connection to its host was lost"),
        }
    }
}

/// An error from [`Child::start`] or [`Child::stop`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChildError {
    /// The child could not start; `reason` says why.
    #[error("child `{child}` failed to start: {reason}")]
    StartFailed {
        /// The child's name.
        child: String,
        /// What went wrong.
        reason: String,
    },
    /// The child did not stop cleanly; `reason` says why.
    #[error("child `{child}` failed to stop: {reason}")]
    StopFailed {
        /// The child's name.
        child: String,
        /// What went wrong.
        reason: String,
    },
    /// The child did not stop within `timeout` and was aborted.
    #[error("child `{child}` did not stop within {timeout:?} and was aborted")]
    StopTimedOut {
        /// The child's name.
        child: String,
        /// The time it was given.
        timeout: Duration,
    },
}

/// Callback a child fires, at most once per incarnation, when it terminates on
/// its own (crash, escalation or normal completion).
///
/// Each call to [`Child::start`] receives a fresh signal; the supervisor
/// ignores signals from incarnations it has already replaced or stopped, so a
/// child may fire it even while being stopped.
///
/// A signal from a supervisor that restarts at once and alone (one-for-one,
/// no backoff) also lets a supervised actor restart itself in place, in its
/// own task: it asks the supervisor's restart intensity, makes the fresh
/// instance, then tells the supervisor what happened (see
/// [`may_restart_in_place`](Self::may_restart_in_place)).
pub struct ExitSignal {
    to: Notify,
}

enum Notify {
    Callback(Box<dyn FnOnce(ExitReason) + Send + 'static>),
    Supervisor(SupervisorLine),
}

/// The way back to the supervisor task that started the incarnation.
struct SupervisorLine {
    /// Sends (generation, reason, restarted in place) to the supervisor.
    send: Box<dyn Fn(u64, ExitReason, bool) + Send + 'static>,
    /// The incarnation this signal speaks for; one more after each restart
    /// in place, as the supervisor counts them.
    generation: u64,
    /// The supervisor's restart intensity, when its children may restart
    /// in place; `None` when every restart is its own (a group strategy,
    /// or a backoff to wait out).
    in_place: Option<Arc<Mutex<IntensityTracker>>>,
}

impl ExitSignal {
    /// Wraps the function the supervisor wants called on exit.
    pub fn new(notify: impl FnOnce(ExitReason) + Send + 'static) -> Self {
        Self {
            to: Notify::Callback(Box::new(notify)),
        }
    }

    /// A signal that goes nowhere; for children run outside a supervisor.
    pub fn detached() -> Self {
        Self::new(|_| {})
    }

    /// The signal a supervisor task hands incarnation `generation` of a
    /// child: `send` takes (generation, reason, restarted in place) back to
    /// it; `in_place` is the supervisor's restart intensity when the child
    /// may restart itself in place.
    pub(crate) fn to_supervisor(
        generation: u64,
        in_place: Option<Arc<Mutex<IntensityTracker>>>,
        send: impl Fn(u64, ExitReason, bool) + Send + 'static,
    ) -> Self {
        Self {
            to: Notify::Supervisor(SupervisorLine {
                send: Box::new(send),
                generation,
                in_place,
            }),
        }
    }

    /// Reports that this incarnation ended, and why.
    pub fn exit(self, reason: ExitReason) {
        match self.to {
            Notify::Callback(notify) => notify(reason),
            Notify::Supervisor(line) => (line.send)(line.generation, reason, false),
        }
    }

    /// Whether the failed incarnation may be replaced in place, now: its
    /// supervisor restarts one-for-one without backoff, and one more
    /// restart stays within its restart intensity (which then counts it,
    /// as the supervisor would have). `false` leaves the restart, and the
    /// decision, to the supervisor: the incarnation then ends as failed.
    pub(crate) fn may_restart_in_place(&self) -> bool {
        match &self.to {
            Notify::Supervisor(SupervisorLine {
                in_place: Some(intensity),
                ..
            }) => intensity.lock().admit(Instant::now()),
            _ => false,
        }
    }

    /// Tells the supervisor that the incarnation failed with `reason` and
    /// a fresh one runs in its place; this signal now speaks for that one.
    pub(crate) fn restarted_in_place(&mut self, reason: ExitReason) {
        if let Notify::Supervisor(line) = &mut self.to {
            (line.send)(line.generation, reason, true);
            line.generation += 1;
        }
    }
}

impl fmt::Debug for ExitSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExitSignal").finish_non_exhaustive()
    }
}

/// Something a supervisor controls.
///
/// A supervisor calls [`start`](Child::start) to bring up an incarnation,
/// [`stop`](Child::stop) to bring it down gracefully, [`kill`](Child::kill) to
/// end it at once, and [`health_check`](Child::health_check) on its health
/// interval. A child that ends on its own reports it through the
/// [`ExitSignal`] it was started with.
#[async_trait]
pub trait Child: Send + 'static {
    /// Starts a new incarnation. Returns once the child is ready to work.
    ///
    /// # Errors
    /// [`ChildError::StartFailed`] when the child cannot start; the supervisor
    /// treats it like a crash of the new incarnation.
    async fn start(&mut self, exit: ExitSignal) -> Result<(), ChildError>;

    /// Stops the running incarnation, giving it up to `timeout` to finish.
    /// A child that cannot finish in time should abort itself and return
    /// [`ChildError::StopTimedOut`].
    ///
    /// # Errors
    /// [`ChildError::StopFailed`] or [`ChildError::StopTimedOut`]; the child is
    /// considered stopped either way.
    async fn stop(&mut self, timeout: Duration) -> Result<(), ChildError>;

    /// Ends the running incarnation at once, without cleanup. Used by the
    /// `Immediate` shutdown policy and after a graceful stop overran its time.
    fn kill(&mut self);

    /// Reports the child's health. The supervisor bounds it with its own
    /// timeout; a check that does not answer in time counts as failed.
    ///
    /// Takes `&mut self` like the other methods: the supervisor owns the child
    /// exclusively, and a `&self` async method would force every `Child` to be
    /// `Sync` (async-trait needs `Self: Sync` for the future to be `Send`).
    async fn health_check(&mut self) -> ChildHealth {
        ChildHealth::Healthy
    }

    /// Called once when the supervisor lets go of the child for good, just
    /// before dropping it: it was removed (`terminate_child`, a `Temporary`
    /// child's exit, a failed first start), or its supervisor ended and
    /// nobody will restart it (shutdown, a root that gave up, a failed
    /// start). The child is already stopped, or was never started.
    ///
    /// This is where a child closes for good what others can still reach:
    /// a supervised actor closes its mailbox and dead-letters what is queued
    /// (it does so on drop), a nested supervisor lets go of its own children
    /// before this returns, so the whole subtree is closed once the parent
    /// moves on. The default does nothing; dropping the child follows.
    async fn release(&mut self) {}
}
