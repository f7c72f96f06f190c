//! What a [`SupervisorRef`](super::SupervisorRef) asks of its supervisor
//! task, the answers' types, and the configuration the task runs with:
//! the protocol between the handle side and the node side.

use std::time::Duration;

use tokio::sync::oneshot;

use super::backoff::BackoffPolicy;
use super::child::{Child, ChildError, ChildHealth, ExitSignal};
use super::error::SupervisorError;
use super::intensity::{IntensityUse, RestartIntensity};
use super::spec::{ChildId, ChildInfo, ChildSpec};
use super::strategy::RestartStrategy;

/// A request to the supervisor task.
pub(crate) enum Command {
    AddChild {
        spec: ChildSpec,
        child: Box<dyn Child>,
        reply: oneshot::Sender<Result<ChildId, SupervisorError>>,
    },
    /// [`SupervisorRef::add_children`](super::SupervisorRef::add_children): each child as `AddChild`, in
    /// order, with one answer for all.
    AddChildren {
        children: Vec<(ChildSpec, Box<dyn Child>)>,
        reply: oneshot::Sender<Vec<Result<ChildId, SupervisorError>>>,
    },
    TerminateChild {
        name: String,
        reply: oneshot::Sender<Result<(), SupervisorError>>,
    },
    Children {
        reply: oneshot::Sender<Vec<ChildInfo>>,
    },
    Intensity {
        reply: oneshot::Sender<IntensityUse>,
    },
    Shutdown {
        timeout: Duration,
        reply: Option<oneshot::Sender<ShutdownReport>>,
    },
    /// Sent once to a root as its first command: start the initial
    /// children in order; answer if someone waits ([`SupervisorBuilder::try_start`](super::SupervisorBuilder::try_start)).
    Init {
        reply: Option<oneshot::Sender<Result<(), SupervisorError>>>,
    },
    /// From [`SupervisorChild::start`](super::SupervisorChild): start all children, report failure
    /// through `exit`.
    Activate {
        exit: ExitSignal,
        reply: oneshot::Sender<Result<(), ChildError>>,
    },
    /// From [`SupervisorChild::stop`](super::SupervisorChild): stop all children, stay alive.
    Deactivate {
        timeout: Duration,
        reply: oneshot::Sender<()>,
    },
    /// From [`SupervisorChild::kill`](super::SupervisorChild): kill all children at once.
    Kill,
    Health {
        reply: oneshot::Sender<ChildHealth>,
    },
}

/// Configuration of a supervisor, set through [`SupervisorBuilder`](super::SupervisorBuilder).
#[derive(Debug, Clone)]
pub(crate) struct SupervisorConfig {
    pub(crate) name: String,
    pub(crate) strategy: RestartStrategy,
    pub(crate) intensity: RestartIntensity,
    pub(crate) backoff: BackoffPolicy,
}

/// What [`SupervisorRef::shutdown`](super::SupervisorRef::shutdown) and
/// [`ActorSystem::shutdown`](crate::ActorSystem::shutdown) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Children (and, for the system, unsupervised actors: their name or
    /// id) that were running and were stopped, in the order they were
    /// stopped (a supervisor's in reverse start order), aborted ones
    /// included.
    pub stopped: Vec<String>,
    /// Those of them that had to be killed: their graceful stop overran its
    /// timeout or the shutdown deadline.
    pub aborted: Vec<String>,
}
