//! A component's lifecycle state, readable without asking its actor, and
//! why a component that ended on its own is not running ([`ComponentEnd`]).
//!
//! A component is registered, and so has a state, once its supervisor has
//! started it: a spawn under way belongs to its caller (who gets its typed
//! outcome), so there is no "creating" state to observe. During a spawn the
//! id is unknown to sends ([`HostError::UnknownComponent`](super::HostError::UnknownComponent)),
//! as in OTP a child exists once its start function has returned.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use airssys_rt::supervisor::{ExitReason, FailureCause};
use parking_lot::Mutex;

/// Where a component is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LifecycleState {
    /// Instantiating and running `init` (its first incarnation, while its
    /// spawn runs, or a restart).
    Starting,
    /// Handling messages.
    Ready,
    /// Running `cleanup` before it stops or restarts.
    Stopping,
    /// Not running and not coming back by itself: stopped by
    /// [`ComponentHost::stop`](super::ComponentHost::stop), or ended on its
    /// own (a `Transient` component's normal exit, a group that gave up;
    /// [`ComponentInfo::ended`](super::ComponentInfo::ended) says why).
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

/// Why a component that ended on its own is not running, and will not run
/// again unless it is spawned again: shown by
/// [`ComponentInfo::ended`](super::ComponentInfo::ended) until
/// [`ComponentHost::stop`](super::ComponentHost::stop) removes it or a
/// [`spawn`](super::ComponentHost::spawn) of the same id replaces it.
///
/// OTP's supervisor keeps a `transient` child's spec after a normal exit
/// (until `delete_child`); the host keeps the component's registry entry
/// the same way, for every restart policy, so that an operator sees what
/// ended and why, and a send to it gets
/// [`HostError::ComponentStopped`](super::HostError::ComponentStopped)
/// naming it rather than an unknown id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ComponentEnd {
    /// Its last incarnation ended with this reason and its restart policy
    /// does not restart it after that: a `Transient` component's normal
    /// exit ([`ComponentRef::stop_after_queued`](super::ComponentRef::stop_after_queued)),
    /// a `Temporary` component's any exit.
    Exited(ExitReason),
    /// The group (supervisor) it was spawned under gave up: its restart
    /// intensity was exceeded, or a child escalated. The group stopped it
    /// with its other children. Should the group's own supervisor restart
    /// the group, the component comes back with it and this is cleared.
    GroupGaveUp {
        /// The group's name.
        group: String,
        /// Why it gave up.
        cause: FailureCause,
    },
}

impl ComponentEnd {
    /// A short stable label (`exited`, `group_gave_up`), for logs and JSON.
    pub fn label(&self) -> &'static str {
        match self {
            ComponentEnd::Exited(_) => "exited",
            ComponentEnd::GroupGaveUp { .. } => "group_gave_up",
        }
    }
}

impl fmt::Display for ComponentEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComponentEnd::Exited(reason) => write!(f, "exited: {reason}"),
            ComponentEnd::GroupGaveUp { group, cause } => {
                write!(f, "its group `{group}` gave up: {cause}")
            }
        }
    }
}

/// An atomically updated [`LifecycleState`], shared by a component's actor
/// (which writes it), the host's supervision listener (which marks a
/// failed one restarting, or one that ended on its own ended) and the
/// registry (which reads it).
#[derive(Debug)]
pub(crate) struct SharedLifecycle {
    state: AtomicU8,
    /// The scheduled restart while `Restarting`: attempt in the high 32
    /// bits, backoff in milliseconds in the low 32.
    pending: AtomicU64,
    /// Set with `end` and read on the send path (one load): the component
    /// ended on its own and will not come back by itself.
    ended: AtomicBool,
    /// Why it ended; written only under this lock, with `ended`.
    end: Mutex<Option<ComponentEnd>>,
}

impl SharedLifecycle {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU8::new(LifecycleState::Starting.as_u8()),
            pending: AtomicU64::new(0),
            ended: AtomicBool::new(false),
            end: Mutex::new(None),
        }
    }

    /// A fresh incarnation starts (`Starting`): whatever ended before is
    /// over.
    pub(crate) fn starting(&self) {
        let mut end = self.end.lock();
        *end = None;
        self.ended.store(false, Ordering::Release);
        self.set(LifecycleState::Starting);
    }

    /// Records that the component ended on its own and will not come back
    /// by itself, unless an incarnation is starting or running already
    /// (the news came after a restart began): `false` then, and nothing
    /// changes. One that was waiting out a backoff (its group gave up
    /// meanwhile) is `Failed` now: nobody will restart it. Taken under the
    /// same lock as [`starting`](Self::starting), so the two never cross.
    pub(crate) fn end(&self, why: ComponentEnd) -> bool {
        let mut end = self.end.lock();
        match self.get() {
            LifecycleState::Starting | LifecycleState::Ready => return false,
            LifecycleState::Restarting => self.set(LifecycleState::Failed),
            _ => {}
        }
        *end = Some(why);
        self.ended.store(true, Ordering::Release);
        true
    }

    /// Whether it ended on its own (one atomic load).
    pub(crate) fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Why it ended on its own, if it did.
    pub(crate) fn ended(&self) -> Option<ComponentEnd> {
        self.end.lock().clone()
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

    #[test]
    fn an_end_is_recorded_only_while_nothing_runs_and_a_start_clears_it() {
        let l = SharedLifecycle::new();
        let normal = || ComponentEnd::Exited(ExitReason::Normal);
        assert!(!l.end(normal()), "starting: a restart is under way");
        l.set(LifecycleState::Ready);
        assert!(!l.end(normal()));
        assert!(!l.is_ended());
        l.set(LifecycleState::Stopped);
        assert!(l.end(normal()));
        assert!(l.is_ended());
        assert_eq!(l.ended(), Some(normal()));
        assert_eq!(normal().label(), "exited");
        l.starting();
        assert!(!l.is_ended());
        assert_eq!(l.ended(), None);
        assert_eq!(l.get(), LifecycleState::Starting);
    }
}
