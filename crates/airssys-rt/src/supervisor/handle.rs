//! [`SupervisorRef`] to talk to a supervisor, [`SupervisorChild`] to nest
//! it. A supervisor is made by a [`SupervisorBuilder`](super::SupervisorBuilder).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::cause::FailureCause;
use super::child::{Child, ChildError, ChildHealth, ExitSignal};
use super::command::{Command, ShutdownReport};
use super::error::SupervisorError;
use super::event::{SupervisionEvent, SupervisorExit};
use super::spec::{ChildId, ChildInfo, ChildSpec};
use super::stream::EventStream;

/// A handle to a running supervisor. Cheap to clone; every clone talks to the
/// same supervisor task over a channel.
///
/// Dropping every handle (and the [`SupervisorChild`] of a nested
/// supervisor) shuts the supervisor down as [`shutdown`](Self::shutdown)
/// would, with each child's own shutdown policy.
///
/// # Cancel safety
/// Every async method sends its request first and then awaits the answer.
/// Dropping the future after the request was sent does not cancel it: the
/// supervisor still carries it out; only the answer is lost.
#[derive(Debug, Clone)]
pub struct SupervisorRef {
    name: Arc<str>,
    cmds: mpsc::UnboundedSender<Command>,
    events: EventStream,
    exit: watch::Receiver<Option<SupervisorExit>>,
}

impl SupervisorRef {
    /// A handle on the task that receives `cmds`.
    pub(super) fn new(
        name: Arc<str>,
        cmds: mpsc::UnboundedSender<Command>,
        events: EventStream,
        exit: watch::Receiver<Option<SupervisorExit>>,
    ) -> Self {
        Self {
            name,
            cmds,
            events,
            exit,
        }
    }

    /// This tree's event stream (a nested supervisor shares it).
    pub(super) fn event_stream(&self) -> &EventStream {
        &self.events
    }

    /// The supervisor's name, as used in its events.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn not_running(&self) -> SupervisorError {
        SupervisorError::NotRunning {
            supervisor: self.name.to_string(),
        }
    }

    async fn request<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, SupervisorError> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(make(tx)).map_err(|_| self.not_running())?;
        rx.await.map_err(|_| self.not_running())
    }

    /// Adds a child at the end of the start order and starts it; returns once
    /// it has started. On a nested supervisor that is not running, the child
    /// is only registered and starts with the supervisor.
    ///
    /// # Errors
    /// [`SupervisorError::DuplicateChild`] if the name is taken,
    /// [`SupervisorError::StartFailed`] if its start failed or timed out (it
    /// is then not added), [`SupervisorError::Failed`] if this root has
    /// failed, [`SupervisorError::NotRunning`] after shutdown.
    pub async fn add_child(
        &self,
        spec: ChildSpec,
        child: Box<dyn Child>,
    ) -> Result<ChildId, SupervisorError> {
        self.request(|reply| Command::AddChild { spec, child, reply })
            .await?
    }

    /// Adds and starts `children` in one command: each is added as
    /// [`add_child`](Self::add_child) would, in the order given, and the
    /// answers come back together, one per child in the same order (a
    /// child that fails does not stop the ones after it).
    ///
    /// One command and one answer for many children, where `add_child`
    /// costs a round trip to the supervisor task each: the way to start a
    /// fleet of actors of one kind.
    ///
    /// The command is sent when this is called, not when the returned
    /// future is first polled. So batches sent one after another start in
    /// that order, and the caller can prepare the next batch while the
    /// supervisor starts this one, awaiting the answers afterwards.
    ///
    /// # Errors
    /// [`SupervisorError::NotRunning`] after shutdown (then none of them
    /// was added); each child's own error is in its slot of the answer.
    pub fn add_children(
        &self,
        children: Vec<(ChildSpec, Box<dyn Child>)>,
    ) -> impl std::future::Future<
        Output = Result<Vec<Result<ChildId, SupervisorError>>, SupervisorError>,
    > + Send
           + 'static {
        let (reply, answer) = oneshot::channel();
        let sent = self.cmds.send(Command::AddChildren { children, reply });
        let not_running = self.not_running();
        async move {
            if sent.is_err() {
                return Err(not_running);
            }
            answer.await.map_err(|_| not_running)
        }
    }

    /// Stops the named child per its shutdown policy and removes it.
    ///
    /// # Errors
    /// [`SupervisorError::ChildNotFound`], or
    /// [`SupervisorError::NotRunning`] after shutdown.
    pub async fn terminate_child(&self, name: &str) -> Result<(), SupervisorError> {
        let name = name.to_owned();
        self.request(|reply| Command::TerminateChild { name, reply })
            .await?
    }

    /// A snapshot of the children, in start order. Empty for a root that
    /// gave up: it let go of its children for good.
    ///
    /// # Errors
    /// [`SupervisorError::NotRunning`] after shutdown.
    pub async fn children(&self) -> Result<Vec<ChildInfo>, SupervisorError> {
        self.request(|reply| Command::Children { reply }).await
    }

    /// How many restarts this supervisor made within its intensity
    /// window, and the limit: how close it is to giving up.
    ///
    /// # Errors
    /// [`SupervisorError::NotRunning`] after shutdown.
    pub async fn intensity(&self) -> Result<super::intensity::IntensityUse, SupervisorError> {
        self.request(|reply| Command::Intensity { reply }).await
    }

    /// Subscribes to the event stream of this supervisor's tree. Only events
    /// sent after this call are received.
    pub fn events(&self) -> broadcast::Receiver<SupervisionEvent> {
        self.events.subscribe()
    }

    /// Calls `observer` with every event of this supervisor's tree from now
    /// on, in place: in the task of the supervisor the event is about, as
    /// it happens, before that supervisor goes on (and before the event is
    /// broadcast to [`events`](Self::events)).
    ///
    /// Unlike a subscriber, an observer never misses an event and costs no
    /// task wake-up per event: the way to keep bookkeeping in step with the
    /// tree (a spawn emits one event, a restart three). Because it runs
    /// inside the supervisor, it must be quick and must not block, and it
    /// must not add observers itself.
    pub fn observe_events(&self, observer: impl Fn(&SupervisionEvent) + Send + Sync + 'static) {
        self.events.observe(std::sync::Arc::new(observer));
    }

    /// Stops every child in reverse start order, each per its shutdown
    /// policy, within an overall deadline of `timeout` (children still
    /// stopping at the deadline are killed and reported aborted), then ends
    /// the supervisor, letting go of its children for good (their mailboxes,
    /// and those of nested supervisors' children, are closed when this
    /// returns). [`wait`](Self::wait) then resolves with
    /// [`SupervisorExit::Shutdown`].
    ///
    /// # Errors
    /// [`SupervisorError::NotRunning`] if it was already shut down.
    pub async fn shutdown(&self, timeout: Duration) -> Result<ShutdownReport, SupervisorError> {
        self.request(|reply| Command::Shutdown {
            timeout,
            reply: Some(reply),
        })
        .await
    }

    /// Resolves when the supervisor has ended: shut down, or (a root) failed
    /// because its restart intensity was exceeded or a child escalated. By
    /// then a failed root has let go of its whole tree: every send to an
    /// actor under it fails at once.
    /// A nested supervisor reports failures to its parent instead and
    /// resolves only on shutdown.
    ///
    /// # Cancel safety
    /// Cancel safe: it only watches.
    pub async fn wait(&self) -> SupervisorExit {
        let mut exit = self.exit.clone();
        let result = exit.wait_for(|e| e.is_some()).await;
        match result {
            Ok(e) => e.clone().unwrap_or(SupervisorExit::Shutdown),
            Err(_) => SupervisorExit::Failed(FailureCause::Other(format!(
                "supervisor `{}` task ended without reporting",
                self.name
            ))),
        }
    }

    /// How the supervisor ended, if it has; the non-waiting form of
    /// [`wait`](Self::wait).
    pub fn exit_status(&self) -> Option<SupervisorExit> {
        self.exit.borrow().clone()
    }
}

/// A nested supervisor seen as a [`Child`] of its parent; from
/// [`SupervisorBuilder::into_child`](super::SupervisorBuilder::into_child).
///
/// `start` starts all the nested supervisor's children afresh, in order,
/// with a fresh restart-intensity window; `stop` stops them all in reverse
/// order (the nested supervisor stays ready to be started again); `kill`
/// kills them at once. Health is `Healthy` while running, `Degraded` while a
/// child waits for a restart, `Failed` when not running. Dropping it shuts
/// the nested supervisor down.
#[derive(Debug)]
pub struct SupervisorChild {
    handle: SupervisorRef,
}

impl SupervisorChild {
    /// The child side of the nested supervisor `handle` talks to.
    pub(super) fn new(handle: SupervisorRef) -> Self {
        Self { handle }
    }

    /// The nested supervisor's handle.
    pub fn supervisor(&self) -> &SupervisorRef {
        &self.handle
    }

    fn start_failed(&self, reason: &str) -> ChildError {
        ChildError::StartFailed {
            child: self.handle.name.to_string(),
            reason: reason.to_owned(),
        }
    }
}

#[async_trait]
impl Child for SupervisorChild {
    async fn start(&mut self, exit: ExitSignal) -> Result<(), ChildError> {
        match self
            .handle
            .request(|reply| Command::Activate { exit, reply })
            .await
        {
            Ok(result) => result,
            Err(_) => Err(self.start_failed("supervisor task is not running")),
        }
    }

    async fn stop(&mut self, timeout: Duration) -> Result<(), ChildError> {
        self.handle
            .request(|reply| Command::Deactivate { timeout, reply })
            .await
            .map_err(|_| ChildError::StopFailed {
                child: self.handle.name.to_string(),
                reason: "supervisor task is not running".to_owned(),
            })
    }

    fn kill(&mut self) {
        // A closed channel means the task is already gone: nothing to kill.
        let _ = self.handle.cmds.send(Command::Kill);
    }

    async fn health_check(&mut self) -> ChildHealth {
        match self.handle.request(|reply| Command::Health { reply }).await {
            Ok(health) => health,
            Err(e) => ChildHealth::Failed(e.to_string()),
        }
    }

    /// Shuts the nested supervisor down and waits until it has let go of
    /// its own children, so their mailboxes are closed when this returns.
    async fn release(&mut self) {
        // `NotRunning` means its task has already ended, and let go of its
        // children as it did: nothing is left to release.
        let _ = self
            .handle
            .shutdown(super::strategy::ShutdownPolicy::DEFAULT_TIMEOUT)
            .await;
    }
}

impl Drop for SupervisorChild {
    fn drop(&mut self) {
        // The parent let go of this supervisor: end its task. A closed
        // channel means it has already ended.
        let _ = self.handle.cmds.send(Command::Shutdown {
            timeout: super::strategy::ShutdownPolicy::DEFAULT_TIMEOUT,
            reply: None,
        });
    }
}
