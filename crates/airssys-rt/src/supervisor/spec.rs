//! What a supervisor knows about each child: [`ChildSpec`] going in,
//! [`ChildInfo`] coming out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::child::ExitReason;
use super::health::HealthConfig;
use super::strategy::{RestartPolicy, ShutdownPolicy};

/// How a child is supervised: its name, restart and shutdown policies, start
/// timeout and optional health checks.
///
/// ```
/// use std::time::Duration;
/// use airssys_rt::supervisor::{ChildSpec, HealthConfig, RestartPolicy, ShutdownPolicy};
///
/// let spec = ChildSpec::new("worker")
///     .restart(RestartPolicy::Transient)
///     .shutdown(ShutdownPolicy::Graceful(Duration::from_secs(1)))
///     .health(HealthConfig::default());
/// assert_eq!(spec.name(), "worker");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct ChildSpec {
    /// Shared with the supervisor's index of its children by name.
    name: Arc<str>,
    restart: RestartPolicy,
    shutdown: ShutdownPolicy,
    start_timeout: Duration,
    health: Option<HealthConfig>,
}

impl ChildSpec {
    /// Default start timeout: 30 s.
    pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);

    /// A spec with the defaults: `Permanent`, `Graceful(5 s)`, 30 s start
    /// timeout, no health checks.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Arc::from(name.into()),
            restart: RestartPolicy::default(),
            shutdown: ShutdownPolicy::default(),
            start_timeout: Self::DEFAULT_START_TIMEOUT,
            health: None,
        }
    }

    /// Sets the restart policy (default `Permanent`).
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// Sets the shutdown policy (default `Graceful(5 s)`).
    pub fn shutdown(mut self, policy: ShutdownPolicy) -> Self {
        self.shutdown = policy;
        self
    }

    /// Sets how long `start` may take before it is killed and counted as a
    /// failed start (default 30 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Turns on periodic health checks (default off).
    pub fn health(mut self, config: HealthConfig) -> Self {
        self.health = Some(config);
        self
    }

    /// The child's name, unique within its supervisor.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name as the shared string the spec holds.
    pub(crate) fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    /// The restart policy.
    pub fn restart_policy(&self) -> RestartPolicy {
        self.restart
    }

    /// The shutdown policy.
    pub fn shutdown_policy(&self) -> ShutdownPolicy {
        self.shutdown
    }

    /// The start timeout.
    pub fn start_timeout_value(&self) -> Duration {
        self.start_timeout
    }

    /// The health-check configuration, if any.
    pub fn health_config(&self) -> Option<HealthConfig> {
        self.health
    }
}

/// Identifies one child added to a supervisor; unique within the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildId(u64);

impl ChildId {
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ChildId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The numeric value.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for ChildId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "child#{}", self.0)
    }
}

/// Where a child is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChildState {
    /// An incarnation is running.
    Running,
    /// Waiting out its backoff before the next start.
    Restarting,
    /// Ended on its own and is not being restarted (a `Transient` child after
    /// a normal exit).
    Exited(ExitReason),
    /// Not running because its supervisor is not running (a nested
    /// supervisor before its start, between restarts, or after failing).
    Stopped,
}

/// A snapshot of one child, from [`SupervisorRef::children`](super::SupervisorRef::children).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChildInfo {
    /// The child's id.
    pub id: ChildId,
    /// The child's name.
    pub name: String,
    /// Its lifecycle state.
    pub state: ChildState,
    /// How many times it was restarted (strategy, health or failed-start
    /// retries), over the supervisor's life.
    pub restarts: u32,
    /// Its restart policy.
    pub restart_policy: RestartPolicy,
    /// Its shutdown policy.
    pub shutdown_policy: ShutdownPolicy,
}
