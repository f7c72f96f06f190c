//! One child as its supervisor task keeps it: spec, handle, incarnation
//! count, state, restart counts and health.

use std::time::Duration;

use tokio::time::Instant;

use super::super::child::{Child, ExitReason};
use super::super::health::HealthTracker;
use super::super::spec::{ChildId, ChildSpec};

/// Health checks are never run more often than this, whatever the config says
/// (a zero interval would otherwise spin the task).
pub(super) const MIN_HEALTH_INTERVAL: Duration = Duration::from_millis(1);

/// A child of the supervisor, and what its task knows of it.
pub(super) struct Entry {
    pub(super) id: ChildId,
    pub(super) spec: ChildSpec,
    pub(super) child: Box<dyn Child>,
    /// Incremented on every start; exits from older generations are ignored.
    pub(super) generation: u64,
    pub(super) state: State,
    pub(super) restarts: u32,
    /// k of the backoff: restarts since the child last ran a whole window.
    pub(super) consecutive: u32,
    pub(super) started_at: Option<Instant>,
    pub(super) health: HealthTracker,
    pub(super) next_health: Option<Instant>,
}

impl Entry {
    /// Whether this child has a restart or a health check due at `at`
    /// (a wake-up queued for it is not stale).
    pub(super) fn is_due_at(&self, at: Instant) -> bool {
        match self.state {
            State::Restarting { due, .. } => due == at,
            State::Running => self.next_health == Some(at),
            State::Exited(_) | State::Stopped => false,
        }
    }

    /// Counts a restart of this child, which ended at `now`, among its
    /// consecutive ones (back to 1 if its incarnation ran a whole intensity
    /// window `within`): the attempt number its backoff is for.
    pub(super) fn count_attempt(&mut self, now: Instant, within: Duration) -> u32 {
        let ran = self
            .started_at
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        self.consecutive = if ran >= within {
            1
        } else {
            self.consecutive.saturating_add(1)
        };
        self.consecutive
    }

    /// An incarnation started at `now`: it runs, with fresh health; returns
    /// when its first health check is due, if it has them.
    pub(super) fn started(&mut self, now: Instant) -> Option<Instant> {
        self.state = State::Running;
        self.started_at = Some(now);
        self.health.reset();
        self.next_health = self
            .spec
            .health_config()
            .map(|h| now + h.interval.max(MIN_HEALTH_INTERVAL));
        self.next_health
    }

    /// A child not started yet.
    pub(super) fn new(spec: ChildSpec, child: Box<dyn Child>) -> Self {
        Self {
            id: ChildId::next(),
            spec,
            child,
            generation: 0,
            state: State::Stopped,
            restarts: 0,
            consecutive: 0,
            started_at: None,
            health: HealthTracker::default(),
            next_health: None,
        }
    }
}

/// Where a child is in its lifecycle, as its supervisor sees it.
pub(super) enum State {
    Running,
    Restarting {
        due: Instant,
        attempt: u32,
        delay: Duration,
    },
    Exited(ExitReason),
    Stopped,
}
