//! [`TestHost`]: a real in-process component host, wired for tests.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::PublishReport;
use airssys_rt::supervisor::{BackoffPolicy, SupervisorRef};
use airssys_wasm::{
    ComponentHealth, ComponentHost, ComponentInfo, ComponentRef, ComponentSpec, ComponentValue,
    EngineConfig, Fault, HostError, HostShutdownReport, Permissions, SubjectPattern, WasmValue,
};
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::broker::RecordingBroker;
use crate::error::{Error, Result};
use crate::probe::Probe;
use crate::record::{Event, Log, Traffic};

/// How long an expectation waits unless set: 5 s (of tokio's clock, so
/// virtual time under a paused clock).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Pool size of the test host's engine unless set: 32 components.
pub const DEFAULT_MAX_COMPONENTS: u32 = 32;

/// Builds a [`TestHost`].
#[derive(Debug)]
#[must_use]
pub struct TestHostBuilder {
    engine: EngineConfig,
    timeout: Duration,
    intensity: Option<(u32, Duration)>,
    backoff: Option<BackoffPolicy>,
}

impl Default for TestHostBuilder {
    fn default() -> Self {
        Self {
            engine: default_engine(),
            timeout: DEFAULT_TIMEOUT,
            intensity: None,
            backoff: None,
        }
    }
}

/// [`EngineConfig::default`] with a pool of [`DEFAULT_MAX_COMPONENTS`], and
/// the user's compilation cache (as `airssys run` uses it), so a big guest
/// (a Python or JavaScript component) is compiled once, not in every test.
fn default_engine() -> EngineConfig {
    let engine = EngineConfig::default().max_components(DEFAULT_MAX_COMPONENTS);
    match EngineConfig::user_compile_cache_dir() {
        Some(dir) => engine.compile_cache(dir),
        None => engine,
    }
}

impl TestHostBuilder {
    /// Engine settings. Default: [`EngineConfig::default`] with a pool of
    /// [`DEFAULT_MAX_COMPONENTS`] and the user's compilation cache
    /// ([`EngineConfig::user_compile_cache_dir`]); pass an
    /// `EngineConfig` without `compile_cache` to compile every time.
    pub fn engine(mut self, config: EngineConfig) -> Self {
        self.engine = config;
        self
    }

    /// How long every `expect_*` waits, and the timeout of
    /// [`request`](TestHost::request), [`health`](TestHost::health) and
    /// [`invoke`](TestHost::invoke). Default [`DEFAULT_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The root supervisor's restart intensity. Default: the host's
    /// (`DEFAULT_ROOT_INTENSITY`, 10 restarts within 10 s).
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.intensity = Some((max_restarts, within));
        self
    }

    /// Backoff between a component's restarts. Default: the host's (none).
    pub fn backoff(mut self, backoff: BackoffPolicy) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Starts the host with a [`RecordingBroker`] and starts recording its
    /// supervision events. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`Error::Host`] when the engine cannot be created.
    pub fn build(self) -> Result<TestHost> {
        let log = Arc::new(Log::new());
        let broker = RecordingBroker::new(Arc::clone(&log));
        let mut builder = ComponentHost::builder()
            .engine(self.engine)
            .broker(Arc::new(broker));
        if let Some((max, within)) = self.intensity {
            builder = builder.intensity(max, within);
        }
        if let Some(backoff) = self.backoff {
            builder = builder.backoff(backoff);
        }
        let host = builder.build()?;
        let mut events = host.supervisor().events();
        let recorder = Arc::clone(&log);
        let pump = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => recorder.push(Event::Supervision(event)),
                    Err(RecvError::Lagged(lost)) => recorder.push(Event::Lagged(lost)),
                    Err(RecvError::Closed) => return,
                }
            }
        });
        Ok(TestHost {
            host,
            log,
            timeout: self.timeout,
            spawned: Mutex::new(Vec::new()),
            inputs: Mutex::new(HashMap::new()),
            pump,
        })
    }
}

/// A component the test spawned, as the ledger needs it.
#[derive(Debug, Clone)]
pub(crate) struct Spawned {
    pub(crate) id: String,
    pub(crate) patterns: Vec<SubjectPattern>,
    /// The log length when its subscriptions were in place: publishes
    /// recorded from there on reach it.
    pub(crate) since: usize,
    pub(crate) permissions: Permissions,
}

/// A real component host for one test: an in-process
/// [`ComponentHost`] whose broker records every publish and dead letter,
/// whose supervision events are recorded, and whose every input from the
/// test is counted, so that a test can wait for what components do
/// (`expect_*`) and prove that nothing was lost
/// ([`expect_ledger_balanced`](Self::expect_ledger_balanced)).
///
/// Calls that only drive the host (`spawn`, `send`, `publish`, ...) return
/// the host's error as [`Error::Host`]. Expectations wait up to the
/// [timeout](TestHostBuilder::timeout) and fail with
/// [`Error::Expectation`], whose text shows what was expected and the
/// recorded traffic. Messages sent around the test host (through
/// [`host`](Self::host) directly) work, but the ledger does not count them.
pub struct TestHost {
    pub(crate) host: ComponentHost,
    pub(crate) log: Arc<Log>,
    pub(crate) timeout: Duration,
    pub(crate) spawned: Mutex<Vec<Spawned>>,
    /// Messages the test put into each component's mailbox (sends,
    /// requests, health checks, invokes, faults) that the host accepted.
    pub(crate) inputs: Mutex<HashMap<String, u64>>,
    pump: JoinHandle<()>,
}

impl std::fmt::Debug for TestHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestHost")
            .field("host", &self.host)
            .field("log", &self.log)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

/// `true` when the host accepted the message behind `error` (it was then
/// handled, answered or dead-lettered, so the ledger counts it).
fn accepted(error: &HostError) -> bool {
    match error {
        HostError::UnknownComponent { .. } | HostError::MessageTooLarge { .. } => false,
        HostError::ComponentStopped { payload, .. } | HostError::Timeout { payload, .. } => {
            payload.is_none()
        }
        _ => true,
    }
}

impl TestHost {
    /// A test host with the defaults of [`TestHostBuilder`].
    ///
    /// # Errors
    /// As [`TestHostBuilder::build`].
    pub fn new() -> Result<TestHost> {
        TestHost::builder().build()
    }

    /// Configures a test host.
    pub fn builder() -> TestHostBuilder {
        TestHostBuilder::default()
    }

    /// The host under test, for anything the test host does not wrap.
    pub fn host(&self) -> &ComponentHost {
        &self.host
    }

    /// How long expectations wait.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Everything recorded so far, in order.
    pub fn traffic(&self) -> Traffic {
        self.log.traffic()
    }

    /// Spawns a component under the host's root supervisor. The spec
    /// carries its binary (either form: WAT text, a core module or a
    /// component), config, limits, allow-lists, subscriptions, restart
    /// policy and health checks; see also
    /// [`spec_from_file`](crate::spec_from_file) and
    /// [`component_from_module`](crate::component_from_module).
    ///
    /// # Errors
    /// [`Error::Host`] with the host's refusal (invalid binary, missing
    /// exports, failed `init`, id taken, ...).
    pub async fn spawn(&self, spec: ComponentSpec) -> Result<ComponentRef> {
        let spawned = self.about_to_spawn(&spec);
        let component = self.host.spawn(spec).await?;
        self.spawned.lock().push(spawned);
        Ok(component)
    }

    /// As [`spawn`](Self::spawn), under the supervision group `group`
    /// (made with `t.host().supervisor().add_supervisor(..)`): its restarts
    /// follow the group's strategy, and the ledger and expectations follow
    /// it as they follow any other component.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    pub async fn spawn_in(
        &self,
        group: &SupervisorRef,
        spec: ComponentSpec,
    ) -> Result<ComponentRef> {
        let spawned = self.about_to_spawn(&spec);
        let component = self.host.spawn_in(group, spec).await?;
        self.spawned.lock().push(spawned);
        Ok(component)
    }

    /// What the ledger keeps of a component being spawned.
    fn about_to_spawn(&self, spec: &ComponentSpec) -> Spawned {
        Spawned {
            id: spec.id().as_str().to_owned(),
            patterns: spec
                .subscriptions()
                .iter()
                .filter_map(|p| SubjectPattern::new(p).ok())
                .collect(),
            since: self.log.len(),
            permissions: spec.permission_set().clone(),
        }
    }

    /// Reads a component file (WAT text or a binary module) and spawns it
    /// as `id`, with default settings. For settings, use
    /// [`spec_from_file`](crate::spec_from_file) and [`spawn`](Self::spawn).
    ///
    /// # Errors
    /// [`Error::Read`], or as [`spawn`](Self::spawn).
    pub async fn spawn_file(&self, id: &str, path: impl AsRef<Path>) -> Result<ComponentRef> {
        self.spawn(crate::spec_from_file(id, path)?).await
    }

    /// Spawns a [`Probe`] under the id of the component it stands in for.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    pub async fn spawn_probe(&self, probe: Probe) -> Result<ComponentRef> {
        self.spawn(probe.into_spec()).await
    }

    fn count_input(&self, to: &str) {
        *self.inputs.lock().entry(to.to_owned()).or_default() += 1;
    }

    fn settle<T>(&self, to: &str, result: std::result::Result<T, HostError>) -> Result<T> {
        match result {
            Ok(value) => {
                self.count_input(to);
                Ok(value)
            }
            Err(error) => {
                if accepted(&error) {
                    self.count_input(to);
                }
                Err(error.into())
            }
        }
    }

    /// Sends `payload` to component `to` (fire-and-forget).
    ///
    /// # Errors
    /// [`Error::Host`]: unknown component, message too large, stopped.
    pub async fn send(&self, to: &str, payload: impl Into<Bytes>) -> Result {
        let payload = payload.into();
        self.log.push(Event::Input {
            to: to.to_owned(),
            request: false,
            payload: payload.clone(),
        });
        let result = self.host.send(to, payload).await;
        self.settle(to, result)
    }

    /// Sends `payload` to `to` as a request and waits up to the timeout for
    /// the reply (`None`: handled without a reply). The reply or error is
    /// recorded. To require a reply, use
    /// [`expect_reply`](Self::expect_reply).
    ///
    /// # Errors
    /// [`Error::Host`]: as [`ComponentHost::request`].
    pub async fn request(&self, to: &str, payload: impl Into<Bytes>) -> Result<Option<Bytes>> {
        let payload = payload.into();
        self.log.push(Event::Input {
            to: to.to_owned(),
            request: true,
            payload: payload.clone(),
        });
        let result = self.host.request(to, payload, self.timeout).await;
        self.log.push(Event::Reply {
            from: to.to_owned(),
            outcome: match &result {
                Ok(reply) => Ok(reply.clone()),
                Err(error) => Err(error.to_string()),
            },
        });
        self.settle(to, result)
    }

    /// Publishes `payload` on `subject` as the host (no sender component).
    ///
    /// # Errors
    /// [`Error::Host`]: invalid subject.
    pub fn publish(&self, subject: &str, payload: impl Into<Bytes>) -> Result<PublishReport> {
        Ok(self.host.publish(subject, payload)?)
    }

    /// Calls export `export` of component `id` with typed arguments.
    ///
    /// # Errors
    /// [`Error::Host`]: as [`ComponentHost::invoke`].
    pub async fn invoke(
        &self,
        id: &str,
        export: &str,
        args: Vec<WasmValue>,
    ) -> Result<Vec<WasmValue>> {
        let result = self.host.invoke(id, export, args, self.timeout).await;
        self.settle(id, result)
    }

    /// Calls export `export` of component `id` (a Component Model guest, or
    /// a core module through the same conversion as
    /// [`ComponentHost::invoke_dynamic`]) with WIT values, checked against
    /// the export's WIT types before the guest runs. Counted in the ledger
    /// like [`invoke`](Self::invoke).
    ///
    /// # Errors
    /// [`Error::Host`]: as [`ComponentHost::invoke_dynamic`] (a value that
    /// does not fit is `GuestError::ValueMismatch` and fails nothing).
    pub async fn invoke_dynamic(
        &self,
        id: &str,
        export: &str,
        args: Vec<ComponentValue>,
    ) -> Result<Vec<ComponentValue>> {
        let result = self
            .host
            .invoke_dynamic(id, export, args, self.timeout)
            .await;
        self.settle(id, result)
    }

    /// The component's lifecycle state and its guest's health answer, now.
    /// To wait for a health, use [`expect_health`](Self::expect_health).
    ///
    /// # Errors
    /// [`Error::Host`]: as [`ComponentHost::health`].
    pub async fn health(&self, id: &str) -> Result<ComponentHealth> {
        // Control, not a message: not in the ledger (the host does not
        // count it as handled either).
        Ok(self.host.health(id, self.timeout).await?)
    }

    /// The component's row of [`ComponentHost::list`]: state, restarts,
    /// handled, failed, mailbox length, denied host calls.
    pub fn info(&self, id: &str) -> Option<ComponentInfo> {
        self.host.list().into_iter().find(|c| c.id.as_str() == id)
    }

    /// Makes component `id` crash after the messages queued before this
    /// call, as a trap would: its supervisor restarts it per its restart
    /// policy (await it with [`expect_restart`](Self::expect_restart)).
    /// The guest never sees it; nothing is dead-lettered.
    ///
    /// # Errors
    /// [`Error::Host`]: unknown or stopped component.
    pub async fn crash(&self, id: &str) -> Result {
        self.inject(id, Fault::Crash("crash injected by the test".into()))
            .await
    }

    /// Makes every health check of component `id`'s current incarnation
    /// fail, after the messages queued before this call; with health checks
    /// in its spec, its supervisor restarts it after the threshold, and the
    /// new incarnation is healthy.
    ///
    /// # Errors
    /// [`Error::Host`]: unknown or stopped component.
    pub async fn fail_health(&self, id: &str) -> Result {
        self.inject(
            id,
            Fault::Unhealthy("health failure injected by the test".into()),
        )
        .await
    }

    /// Injects any [`Fault`] into component `id` (see
    /// [`ComponentHost::inject_fault`]).
    ///
    /// # Errors
    /// [`Error::Host`]: unknown or stopped component.
    pub async fn inject(&self, id: &str, fault: Fault) -> Result {
        self.log.push(Event::Fault {
            component: id.to_owned(),
            fault: fault.to_string(),
        });
        // Control, not a message: not in the ledger (the host does not
        // count it as handled either).
        Ok(self.host.inject_fault(id, fault).await?)
    }

    /// Stops component `id` for good; what was queued for it is
    /// dead-lettered (`actor_stopped`). It leaves the ledger.
    ///
    /// # Errors
    /// [`Error::Host`]: unknown component, supervisor failure.
    pub async fn stop(&self, id: &str) -> Result {
        self.spawned.lock().retain(|s| s.id != id);
        Ok(self.host.stop(id).await?)
    }

    /// Shuts the host down (every component stopped, queued messages
    /// dead-lettered) and reports what it did.
    pub async fn shutdown(self) -> HostShutdownReport {
        self.host.shutdown(self.timeout).await
    }
}

pub(crate) fn host_error_subject(pattern: &str, reason: String) -> Error {
    Error::Host(HostError::InvalidSubject {
        subject: pattern.to_owned(),
        reason,
    })
}
