//! A component's lifecycle state, readable without asking its actor.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

/// Where a component is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LifecycleState {
    /// Spec accepted, module being loaded.
    Creating,
    /// Instantiating and running `init`.
    Starting,
    /// Handling messages.
    Ready,
    /// Running `cleanup` before it stops or restarts.
    Stopping,
    /// Stopped for good.
    Stopped,
    /// Its last incarnation failed (trap, timeout, memory cap, failed init)
    /// and no restart is scheduled: its supervisor gave up on it, or its
    /// restart policy does not restart it.
    Failed,
    /// Its last incarnation failed and its supervisor will start a fresh
    /// one once the backoff is over ([`RestartPending`] says when).
    Restarting,
}

/// A restart its supervisor has scheduled: shown while a component is
/// [`LifecycleState::Restarting`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RestartPending {
    /// The consecutive-restart count of this restart (1-based): how many
    /// times in a row it failed soon after starting.
    pub attempt: u32,
    /// The backoff before the fresh incarnation starts.
    pub backoff: Duration,
}

impl fmt::Display for RestartPending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.attempt;
        let th = match (n % 10, n % 100) {
            (1, 11) | (2, 12) | (3, 13) => "th",
            (1, _) => "st",
            (2, _) => "nd",
            (3, _) => "rd",
            _ => "th",
        };
        write!(f, "backoff {:?}, {n}{th} in a row", self.backoff)
    }
}

impl LifecycleState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => LifecycleState::Creating,
            1 => LifecycleState::Starting,
            2 => LifecycleState::Ready,
            3 => LifecycleState::Stopping,
            4 => LifecycleState::Stopped,
            6 => LifecycleState::Restarting,
            _ => LifecycleState::Failed,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            LifecycleState::Creating => 0,
            LifecycleState::Starting => 1,
            LifecycleState::Ready => 2,
            LifecycleState::Stopping => 3,
            LifecycleState::Stopped => 4,
            LifecycleState::Failed => 5,
            LifecycleState::Restarting => 6,
        }
    }

    /// A short lowercase label ("ready", "failed", ...), for logs and JSON.
    pub fn label(self) -> &'static str {
        match self {
            LifecycleState::Creating => "creating",
            LifecycleState::Starting => "starting",
            LifecycleState::Ready => "ready",
            LifecycleState::Stopping => "stopping",
            LifecycleState::Stopped => "stopped",
            LifecycleState::Failed => "failed",
            LifecycleState::Restarting => "restarting",
        }
    }
}

impl fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// An atomically updated [`LifecycleState`], shared by a component's actor
/// (which writes it), the host's supervision listener (which marks a
/// failed one restarting) and the registry (which reads it).
#[derive(Debug)]
pub(crate) struct SharedLifecycle {
    state: AtomicU8,
    /// The scheduled restart while `Restarting`: attempt in the high 32
    /// bits, backoff in milliseconds in the low 32.
    pending: AtomicU64,
}

impl SharedLifecycle {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU8::new(LifecycleState::Creating.as_u8()),
            pending: AtomicU64::new(0),
        }
    }

    pub(crate) fn get(&self) -> LifecycleState {
        LifecycleState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn set(&self, state: LifecycleState) {
        self.state.store(state.as_u8(), Ordering::Release);
    }

    /// Marks a failed component restarting; `false` (and no change) when
    /// it is not `Failed` any more (the restart already began).
    pub(crate) fn restarting(&self, pending: RestartPending) -> bool {
        let millis = u32::try_from(pending.backoff.as_millis()).unwrap_or(u32::MAX);
        self.pending.store(
            (u64::from(pending.attempt) << 32) | u64::from(millis),
            Ordering::Release,
        );
        self.state
            .compare_exchange(
                LifecycleState::Failed.as_u8(),
                LifecycleState::Restarting.as_u8(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// The scheduled restart, while `Restarting`.
    pub(crate) fn pending(&self) -> Option<RestartPending> {
        (self.get() == LifecycleState::Restarting).then(|| {
            let packed = self.pending.load(Ordering::Acquire);
            RestartPending {
                attempt: u32::try_from(packed >> 32).unwrap_or(u32::MAX),
                backoff: Duration::from_millis(packed & u64::from(u32::MAX)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_failed_component_becomes_restarting() {
        let l = SharedLifecycle::new();
        let pending = RestartPending {
            attempt: 7,
            backoff: Duration::from_millis(120),
        };
        l.set(LifecycleState::Ready);
        assert!(!l.restarting(pending));
        assert_eq!(l.get(), LifecycleState::Ready);
        assert_eq!(l.pending(), None);
        l.set(LifecycleState::Failed);
        assert!(l.restarting(pending));
        assert_eq!(l.get(), LifecycleState::Restarting);
        assert_eq!(l.pending(), Some(pending));
        assert_eq!(pending.to_string(), "backoff 120ms, 7th in a row");
    }
}
