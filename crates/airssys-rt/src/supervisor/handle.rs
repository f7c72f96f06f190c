//! The outside of a supervisor: [`SupervisorBuilder`] to make one,
//! [`SupervisorRef`] to talk to it, [`SupervisorChild`] to nest it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::backoff::BackoffPolicy;
use super::child::{Child, ChildError, ChildHealth, ExitSignal};
use super::error::SupervisorError;
use super::event::{SupervisionEvent, SupervisorExit};
use super::intensity::RestartIntensity;
use super::node::SupervisorNode;
use super::spec::{ChildId, ChildInfo, ChildSpec};
use super::strategy::RestartStrategy;

/// A request to the supervisor task.
pub(crate) enum Command {
    AddChild {
        spec: ChildSpec,
        child: Box<dyn Child>,
        reply: oneshot::Sender<Result<ChildId, SupervisorError>>,
    },
    /// [`SupervisorRef::add_children`]: each child as `AddChild`, in
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
        reply: oneshot::Sender<super::intensity::IntensityUse>,
    },
    Shutdown {
        timeout: Duration,
        reply: Option<oneshot::Sender<ShutdownReport>>,
    },
    /// Sent once to a root as its first command: start the initial
    /// children in order; answer if someone waits ([`SupervisorBuilder::try_start`]).
    Init {
        reply: Option<oneshot::Sender<Result<(), SupervisorError>>>,
    },
    /// From [`SupervisorChild::start`]: start all children, report failure
    /// through `exit`.
    Activate {
        exit: ExitSignal,
        reply: oneshot::Sender<Result<(), ChildError>>,
    },
    /// From [`SupervisorChild::stop`]: stop all children, stay alive.
    Deactivate {
        timeout: Duration,
        reply: oneshot::Sender<()>,
    },
    /// From [`SupervisorChild::kill`]: kill all children at once.
    Kill,
    Health {
        reply: oneshot::Sender<ChildHealth>,
    },
}

/// Configuration of a supervisor, set through [`SupervisorBuilder`].
#[derive(Debug, Clone)]
pub(crate) struct SupervisorConfig {
    pub(crate) name: String,
    pub(crate) strategy: RestartStrategy,
    pub(crate) intensity: RestartIntensity,
    pub(crate) backoff: BackoffPolicy,
}

/// Builds a supervisor; from [`SupervisorNode::builder`].
///
/// Defaults: `OneForOne`, at most 3 restarts within 5 s,
/// `BackoffPolicy::default()` (100 ms × 2^(k-1), cap 10 s, ±10 % jitter),
/// an event stream holding 1024 events, no initial children.
///
/// Initial children ([`child`](Self::child)) start with the supervisor, in
/// the order given, with OTP's semantics: if one cannot start, those already
/// started are stopped in reverse order and the supervisor's start fails
/// with that child's error ([`try_start`](Self::try_start)).
///
/// ```
/// use std::time::Duration;
/// use airssys_rt::supervisor::{Child, ChildError, ChildSpec, ExitSignal, SupervisorError, SupervisorNode};
///
/// /// A child that starts only if told to.
/// struct Gate(bool);
///
/// #[async_trait::async_trait]
/// impl Child for Gate {
///     async fn start(&mut self, _exit: ExitSignal) -> Result<(), ChildError> {
///         if self.0 {
///             Ok(())
///         } else {
///             Err(ChildError::StartFailed { child: "gate".into(), reason: "closed".into() })
///         }
///     }
///     async fn stop(&mut self, _timeout: Duration) -> Result<(), ChildError> {
///         Ok(())
///     }
///     fn kill(&mut self) {}
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let err = SupervisorNode::builder("root")
///     .child(ChildSpec::new("a"), Box::new(Gate(true)))
///     .child(ChildSpec::new("b"), Box::new(Gate(false)))
///     .try_start()
///     .await
///     .unwrap_err();
/// assert!(matches!(err, SupervisorError::StartFailed { ref child, .. } if child == "b"));
/// # }
/// ```
#[must_use = "a builder does nothing until `start`, `try_start`, `into_child` or `add_supervisor`"]
pub struct SupervisorBuilder {
    config: SupervisorConfig,
    event_capacity: usize,
    events: Option<broadcast::Sender<SupervisionEvent>>,
    children: Vec<(ChildSpec, Box<dyn Child>)>,
}

impl std::fmt::Debug for SupervisorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let children: Vec<&str> = self.children.iter().map(|(spec, _)| spec.name()).collect();
        f.debug_struct("SupervisorBuilder")
            .field("config", &self.config)
            .field("event_capacity", &self.event_capacity)
            .field("children", &children)
            .finish_non_exhaustive()
    }
}

impl SupervisorBuilder {
    /// Default capacity of the event stream: 1024 events.
    pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

    pub(crate) fn new(name: impl Into<String>) -> Self {
        Self {
            config: SupervisorConfig {
                name: name.into(),
                strategy: RestartStrategy::default(),
                intensity: RestartIntensity::default(),
                backoff: BackoffPolicy::default(),
            },
            event_capacity: Self::DEFAULT_EVENT_CAPACITY,
            events: None,
            children: Vec::new(),
        }
    }

    /// Sets the restart strategy (default `OneForOne`).
    pub fn strategy(mut self, strategy: RestartStrategy) -> Self {
        self.config.strategy = strategy;
        self
    }

    /// Allows at most `max_restarts` restarts within `within` before the
    /// supervisor fails (default 3 within 5 s).
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.config.intensity = RestartIntensity::new(max_restarts, within);
        self
    }

    /// Sets the delay between a failure and the restart (default
    /// [`BackoffPolicy::default`]).
    pub fn backoff(mut self, backoff: BackoffPolicy) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// Sets how many events the stream buffers for a slow receiver (default
    /// 1024, at least 1). Ignored for a supervisor that shares its parent's
    /// stream.
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// Publishes this supervisor's events on `parent`'s stream, so one
    /// receiver sees the whole tree. [`SupervisorRef::add_supervisor`] does
    /// this for you.
    pub fn share_events_with(mut self, parent: &SupervisorRef) -> Self {
        self.events = Some(parent.events.clone());
        self
    }

    /// Adds an initial child, started with the supervisor after those added
    /// before it. Names must be unique (checked when the supervisor starts).
    ///
    /// A supervised actor becomes such a child with
    /// [`SpawnBuilder::into_child`](crate::SpawnBuilder::into_child); a
    /// nested supervisor with [`into_child`](Self::into_child).
    pub fn child(mut self, spec: ChildSpec, child: Box<dyn Child>) -> Self {
        self.children.push((spec, child));
        self
    }

    /// Starts a root supervisor in its own tokio task, starts its initial
    /// children in order, and returns its handle once they have all started.
    /// Add more children later with [`SupervisorRef::add_child`].
    ///
    /// # Errors
    /// [`SupervisorError::StartFailed`] naming the first initial child whose
    /// start failed or timed out: the children started before it have been
    /// stopped in reverse start order, those after it were never started,
    /// every one of them was let go of for good (a supervised actor's
    /// mailbox is closed), and the supervisor has ended.
    /// [`SupervisorError::DuplicateChild`] if two initial children share a
    /// name (then none was started).
    ///
    /// # Panics
    /// When called outside a tokio runtime (like `tokio::spawn`).
    ///
    /// # Cancel safety
    /// Not cancel safe: dropped before it returns, the supervisor still
    /// starts its children, but its only handle is gone, so it shuts down
    /// once they have started.
    pub async fn try_start(self) -> Result<SupervisorRef, SupervisorError> {
        let (tx, rx) = oneshot::channel();
        let handle = self.spawn(true, Some(tx));
        match rx.await {
            Ok(Ok(())) => Ok(handle),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(handle.not_running()),
        }
    }

    /// Starts a root supervisor in its own tokio task and returns its handle
    /// at once. Initial children ([`child`](Self::child)) are started by the
    /// task before it serves any request; if one cannot start, the root
    /// fails as if it had given up ([`SupervisorRef::wait`] resolves with
    /// [`SupervisorExit::Failed`] naming the child). Prefer
    /// [`try_start`](Self::try_start) to get that error back.
    ///
    /// # Panics
    /// When called outside a tokio runtime (like `tokio::spawn`).
    pub fn start(self) -> SupervisorRef {
        self.spawn(true, None)
    }

    /// Makes a nested supervisor: a [`Child`] to add to a parent, and the
    /// handle of the nested supervisor. Its children (initial ones included)
    /// start, in order, every time the parent starts it; if one cannot, the
    /// nested supervisor's start fails (as [`try_start`](Self::try_start)
    /// would, without letting go of its children) and the parent treats it
    /// as a failed start of a child. Prefer [`SupervisorRef::add_supervisor`],
    /// which also shares the parent's event stream.
    ///
    /// # Panics
    /// When called outside a tokio runtime (like `tokio::spawn`).
    pub fn into_child(self) -> (SupervisorChild, SupervisorRef) {
        let handle = self.spawn(false, None);
        let child = SupervisorChild {
            handle: handle.clone(),
        };
        (child, handle)
    }

    /// Spawns the task. A root's first command starts its initial children
    /// and answers `init` if given.
    fn spawn(
        self,
        root: bool,
        init: Option<oneshot::Sender<Result<(), SupervisorError>>>,
    ) -> SupervisorRef {
        let events = self
            .events
            .unwrap_or_else(|| broadcast::channel(self.event_capacity).0);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (exit_tx, exit_rx) = watch::channel(None);
        let name: Arc<str> = Arc::from(self.config.name.as_str());
        if root {
            // The receiver is alive: it is moved into the task below.
            let _ = cmd_tx.send(Command::Init { reply: init });
        }
        let node = SupervisorNode::new(
            self.config,
            root,
            self.children,
            events.clone(),
            cmd_rx,
            exit_tx,
        );
        tokio::spawn(node.run());
        SupervisorRef {
            name,
            cmds: cmd_tx,
            events,
            exit: exit_rx,
        }
    }
}

/// What [`SupervisorRef::shutdown`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Children that were running and were stopped, in the order they were
    /// stopped (reverse start order), aborted ones included.
    pub stopped: Vec<String>,
    /// Children that had to be killed: their graceful stop overran its
    /// timeout or the shutdown deadline.
    pub aborted: Vec<String>,
}

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
    events: broadcast::Sender<SupervisionEvent>,
    exit: watch::Receiver<Option<SupervisorExit>>,
}

impl SupervisorRef {
    /// The supervisor's name, as used in its events.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn not_running(&self) -> SupervisorError {
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

    /// Starts a nested supervisor built by `builder` as a child of this one
    /// (publishing on this supervisor's event stream) and returns its handle.
    /// Add the nested supervisor's children through that handle.
    ///
    /// `spec` sets how this supervisor treats the nested one; give it a
    /// graceful timeout long enough to stop the nested children.
    ///
    /// # Errors
    /// As [`add_child`](Self::add_child).
    pub async fn add_supervisor(
        &self,
        spec: ChildSpec,
        builder: SupervisorBuilder,
    ) -> Result<SupervisorRef, SupervisorError> {
        let (child, handle) = builder.share_events_with(self).into_child();
        self.add_child(spec, Box::new(child)).await?;
        Ok(handle)
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
            Err(_) => SupervisorExit::Failed(format!(
                "supervisor `{}` task ended without reporting",
                self.name
            )),
        }
    }

    /// How the supervisor ended, if it has; the non-waiting form of
    /// [`wait`](Self::wait).
    pub fn exit_status(&self) -> Option<SupervisorExit> {
        self.exit.borrow().clone()
    }
}

/// A nested supervisor seen as a [`Child`] of its parent; from
/// [`SupervisorBuilder::into_child`].
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
