//! Errors a supervisor returns to callers of its handle.

use super::child::ChildError;

/// An error from a [`SupervisorRef`](super::SupervisorRef) call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorError {
    /// A child with this name is already supervised here.
    #[error("supervisor `{supervisor}` already has a child named `{child}`")]
    DuplicateChild {
        /// Supervisor name.
        supervisor: String,
        /// The name asked for.
        child: String,
    },
    /// No child with this name is supervised here.
    #[error("supervisor `{supervisor}` has no child named `{child}`")]
    ChildNotFound {
        /// Supervisor name.
        supervisor: String,
        /// The name asked for.
        child: String,
    },
    /// The child's first start failed; it was not added.
    #[error("supervisor `{supervisor}` could not start child: {source}")]
    StartFailed {
        /// Supervisor name.
        supervisor: String,
        /// What the child reported (names the child).
        #[source]
        source: ChildError,
    },
    /// The supervisor failed (root, intensity exceeded or escalation) and
    /// takes no new children.
    #[error("supervisor `{supervisor}` has failed: {reason}")]
    Failed {
        /// Supervisor name.
        supervisor: String,
        /// Why it failed.
        reason: String,
    },
    /// The supervisor has shut down (or its task is gone).
    #[error("supervisor `{supervisor}` is not running")]
    NotRunning {
        /// Supervisor name.
        supervisor: String,
    },
}
