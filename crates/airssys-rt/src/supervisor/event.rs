//! What a supervision tree reports as it works: one broadcast stream per tree.

use std::time::Duration;

use super::cause::FailureCause;
use super::child::ExitReason;

/// Something that happened in a supervision tree. Every event names the
/// supervisor it happened in and, where there is one, the child.
///
/// Received from [`SupervisorRef::events`](super::SupervisorRef::events);
/// nested supervisors publish on their root's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SupervisionEvent {
    /// A child was started for the first time (by `add_child`, or with its
    /// supervisor's start).
    ChildStarted {
        /// Supervisor name.
        supervisor: String,
        /// Child name.
        child: String,
        /// Which incarnation of the child (1 for its first start, one more
        /// for every start since).
        incarnation: u64,
    },
    /// A child ended on its own without failing (`Normal` or `Shutdown`).
    ChildExited {
        /// Supervisor name.
        supervisor: String,
        /// Child name.
        child: String,
        /// Which incarnation of the child (1 for its first start, one more
        /// for every start since).
        incarnation: u64,
        /// Why it ended.
        reason: ExitReason,
    },
    /// A child failed: an abnormal exit, a failed (re)start, or a
    /// health-triggered stop.
    ChildFailed {
        /// Supervisor name.
        supervisor: String,
        /// Child name.
        child: String,
        /// Which incarnation of the child (1 for its first start, one more
        /// for every start since).
        incarnation: u64,
        /// Why it failed.
        reason: ExitReason,
    },
    /// A failed child will be restarted after `delay` (its backoff): sent
    /// when the restart is scheduled, so that an observer can tell a child
    /// waiting to come back from one its supervisor gave up on.
    ChildRestarting {
        /// Supervisor name.
        supervisor: String,
        /// Child name.
        child: String,
        /// The consecutive-restart count k of this restart (1-based).
        attempt: u32,
        /// The backoff before the restart.
        delay: Duration,
    },
    /// A child was restarted after waiting `delay`.
    ChildRestarted {
        /// Supervisor name.
        supervisor: String,
        /// Child name.
        child: String,
        /// Which incarnation of the child (1 for its first start, one more
        /// for every start since).
        incarnation: u64,
        /// The consecutive-restart count k of the restart (1-based) that
        /// drove this restart (for a group restart, the failed child's k).
        attempt: u32,
        /// The backoff waited before this restart.
        delay: Duration,
    },
    /// A health check failed or timed out.
    HealthCheckFailed {
        /// Supervisor name.
        supervisor: String,
        /// Child name.
        child: String,
        /// Which incarnation of the child (1 for its first start, one more
        /// for every start since).
        incarnation: u64,
        /// Failed checks in a row, this one included.
        consecutive: u32,
        /// What the check said, or that it timed out.
        reason: String,
    },
    /// The supervisor stopped a child (for a strategy restart, a health
    /// restart, `terminate_child`, a failure of the supervisor, or shutdown).
    ChildStopped {
        /// Supervisor name.
        supervisor: String,
        /// Child name.
        child: String,
        /// Which incarnation of the child (1 for its first start, one more
        /// for every start since).
        incarnation: u64,
        /// `true` when the child had to be killed (graceful stop overran).
        aborted: bool,
    },
    /// A child left the supervisor (`Temporary` exit or `terminate_child`).
    ChildRemoved {
        /// Supervisor name.
        supervisor: String,
        /// Child name.
        child: String,
    },
    /// The supervisor made more restarts than its intensity allows; it now
    /// stops all its children and fails.
    IntensityExceeded {
        /// Supervisor name.
        supervisor: String,
        /// Restarts counted in the window.
        restarts: usize,
        /// The window.
        within: Duration,
    },
    /// The supervisor gave up (intensity exceeded, a child escalated, or
    /// a root's start failed), or resolved `wait()` if it is a root.
    ///
    /// What its parent sees follows OTP: a supervisor that gave up on its
    /// restart intensity exits [`ExitReason::Shutdown`] (a `Transient`
    /// supervisor child is then not restarted); any other cause exits
    /// [`ExitReason::Failed`] with the cause.
    SupervisorFailed {
        /// Supervisor name.
        supervisor: String,
        /// Why it gave up.
        cause: FailureCause,
    },
}

impl SupervisionEvent {
    /// The supervisor the event happened in.
    pub fn supervisor(&self) -> &str {
        match self {
            SupervisionEvent::ChildStarted { supervisor, .. }
            | SupervisionEvent::ChildExited { supervisor, .. }
            | SupervisionEvent::ChildFailed { supervisor, .. }
            | SupervisionEvent::ChildRestarting { supervisor, .. }
            | SupervisionEvent::ChildRestarted { supervisor, .. }
            | SupervisionEvent::HealthCheckFailed { supervisor, .. }
            | SupervisionEvent::ChildStopped { supervisor, .. }
            | SupervisionEvent::ChildRemoved { supervisor, .. }
            | SupervisionEvent::IntensityExceeded { supervisor, .. }
            | SupervisionEvent::SupervisorFailed { supervisor, .. } => supervisor,
        }
    }

    /// The child the event is about, if any.
    pub fn child(&self) -> Option<&str> {
        match self {
            SupervisionEvent::ChildStarted { child, .. }
            | SupervisionEvent::ChildExited { child, .. }
            | SupervisionEvent::ChildFailed { child, .. }
            | SupervisionEvent::ChildRestarting { child, .. }
            | SupervisionEvent::ChildRestarted { child, .. }
            | SupervisionEvent::HealthCheckFailed { child, .. }
            | SupervisionEvent::ChildStopped { child, .. }
            | SupervisionEvent::ChildRemoved { child, .. } => Some(child),
            SupervisionEvent::IntensityExceeded { .. }
            | SupervisionEvent::SupervisorFailed { .. } => None,
        }
    }
}

/// How a supervisor ended, as seen by [`SupervisorRef::wait`](super::SupervisorRef::wait).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SupervisorExit {
    /// It was shut down (by `shutdown` or because every handle was dropped).
    Shutdown,
    /// A root supervisor gave up: restart intensity exceeded, a child
    /// escalated, or its start failed. The cause says which.
    Failed(FailureCause),
}
