//! A component's lifecycle state, readable without asking its actor.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

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
    /// Its last incarnation failed (trap, timeout, memory cap, failed init);
    /// its supervisor decides what comes next.
    Failed,
}

impl LifecycleState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => LifecycleState::Creating,
            1 => LifecycleState::Starting,
            2 => LifecycleState::Ready,
            3 => LifecycleState::Stopping,
            4 => LifecycleState::Stopped,
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
        }
    }
}

impl fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// An atomically updated [`LifecycleState`], shared by a component's actor
/// (which writes it) and the registry (which reads it).
#[derive(Debug)]
pub(crate) struct SharedLifecycle(AtomicU8);

impl SharedLifecycle {
    pub(crate) fn new() -> Self {
        Self(AtomicU8::new(LifecycleState::Creating.as_u8()))
    }

    pub(crate) fn get(&self) -> LifecycleState {
        LifecycleState::from_u8(self.0.load(Ordering::Acquire))
    }

    pub(crate) fn set(&self, state: LifecycleState) {
        self.0.store(state.as_u8(), Ordering::Release);
    }
}
