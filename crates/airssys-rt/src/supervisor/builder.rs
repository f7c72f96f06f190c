//! [`SupervisorBuilder`]: how a supervisor is configured and started, and
//! [`SupervisorRef::add_supervisor`], which nests one built here.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::backoff::BackoffPolicy;
use super::child::Child;
use super::command::{Command, SupervisorConfig};
use super::error::SupervisorError;
use super::handle::{SupervisorChild, SupervisorRef};
use super::intensity::RestartIntensity;
use super::node::SupervisorNode;
use super::spec::ChildSpec;
use super::strategy::RestartStrategy;
use super::stream::EventStream;

impl SupervisorNode {
    /// Starts building a supervisor named `name` (the name its events carry).
    pub fn builder(name: impl Into<String>) -> SupervisorBuilder {
        SupervisorBuilder::new(name)
    }
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
    events: Option<EventStream>,
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
        self.events = Some(parent.event_stream().clone());
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
        let child = SupervisorChild::new(handle.clone());
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
            .unwrap_or_else(|| EventStream::new(self.event_capacity));
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
        SupervisorRef::new(name, cmd_tx, events, exit_rx)
    }
}

impl SupervisorRef {
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
}
