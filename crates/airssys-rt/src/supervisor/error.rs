//! Errors a supervisor returns to callers of its handle.

use super::cause::FailureCause;
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
    /// A child's first start failed or timed out.
    ///
    /// From [`add_child`](super::SupervisorRef::add_child): the child was not
    /// added. From a supervisor's own start
    /// ([`try_start`](super::SupervisorBuilder::try_start)): `child` is the
    /// first initial child that could not start; those started before it
    /// were stopped in reverse order, those after it never started, and the
    /// supervisor is not running.
    #[error("supervisor `{supervisor}` could not start child `{child}`: {source}")]
    StartFailed {
        /// Supervisor name.
        supervisor: String,
        /// The child's name, as in its [`ChildSpec`](super::ChildSpec).
        child: String,
        /// What the child reported.
        #[source]
        source: ChildError,
    },
    /// The supervisor failed (root, intensity exceeded or escalation) and
    /// takes no new children.
    #[error("supervisor `{supervisor}` has failed: {cause}")]
    Failed {
        /// Supervisor name.
        supervisor: String,
        /// Why it failed.
        cause: FailureCause,
    },
    /// The supervisor has shut down (or its task is gone).
    #[error("supervisor `{supervisor}` is not running")]
    NotRunning {
        /// Supervisor name.
        supervisor: String,
    },
}
