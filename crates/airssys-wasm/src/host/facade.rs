//! [`ComponentHost`]: the façade of the component host, what it is made
//! of, and what it shows about itself (its components, counters and
//! parts) and its shutdown.
//!
//! Its operations live beside it, one concept each: [`builder`](super::builder)
//! (making a host), [`spawn`](super::spawn), [`messaging`](super::messaging)
//! (send, request, publish), [`operate`](super::operate) (invoke, health,
//! faults, stop, restart), [`watching`](super::watching) (monitors and
//! links), [`component_ref`](super::component_ref) (a handle to one
//! component), [`subscriptions`](super::subscriptions), [`upgrade`](super::upgrade)
//! and [`handoff`](super::handoff).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::MessageBroker;
use airssys_rt::supervisor::SupervisorRef;
use airssys_rt::{ActorSystem, Lease};

use super::dead_letters::{DeadLetterSink, DeadLetterStats};
use super::deliver::Delivery;
use super::durable::DurableSends;
use super::error::HostError;
use super::message::TopicMessage;
use super::registry::{ComponentInfo, ComponentRegistry, RegistryEntry};
use super::remote::RemoteRoutes;
use super::router::Router;
use super::topics::TopicRouter;
use crate::guest::WasmEngine;
use crate::id::ComponentId;
use crate::metrics::{HostCallStats, HostMetrics};

pub(super) struct HostInner {
    pub(super) engine: WasmEngine,
    pub(super) system: ActorSystem,
    pub(super) broker: Arc<dyn MessageBroker<TopicMessage>>,
    pub(super) registry: Arc<ComponentRegistry>,
    pub(super) router: Arc<Router>,
    /// Where the host's own sends and requests go: the one delivery path.
    pub(super) delivery: Arc<Delivery>,
    pub(super) topics: Arc<TopicRouter>,
    /// Location transparency, when the broker is distributed.
    pub(super) remote: Option<Arc<RemoteRoutes>>,
    pub(super) dead_letters: DeadLetterSink,
    pub(super) root: SupervisorRef,
    pub(super) shutting_down: AtomicBool,
    /// The cluster's lease on this host's components, if any.
    pub(super) lease: Option<Lease>,
    /// Where sends to durable components go, if anywhere.
    pub(super) durable: Option<Arc<dyn DurableSends>>,
    /// The host's own figures (spawn latency).
    pub(super) metrics: HostMetrics,
}

/// What [`ComponentHost::shutdown`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostShutdownReport {
    /// Components stopped in reverse start order.
    pub stopped: usize,
    /// Components that did not stop in time and were aborted.
    pub aborted: Vec<String>,
    /// Dead letters by reason over the host's whole life.
    pub dead_letters: DeadLetterStats,
}

/// Runs WebAssembly components as supervised actors.
///
/// Cheap to clone; every clone is the same host.
///
/// ```
/// use std::time::Duration;
/// use airssys_wasm::{ComponentHost, ComponentSpec};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let echo = r#"(module
///   (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
///   (memory (export "memory") 1)
///   (func (export "alloc") (param i32) (result i32) i32.const 1024)
///   (func (export "handle-message") (param $ptr i32) (param $len i32) (result i32)
///     (call $reply
///       (i32.add (i32.add (i32.add (local.get $ptr) (i32.const 24))
///         (i32.load offset=4 (local.get $ptr))) (i32.load offset=8 (local.get $ptr)))
///       (i32.load offset=12 (local.get $ptr)))
///     drop
///     i32.const 0))"#;
/// let host = ComponentHost::builder().build().unwrap();
/// let component = host.spawn(ComponentSpec::new("echo", echo.as_bytes().to_vec())).await.unwrap();
/// let reply = component.request(&b"ping"[..], Duration::from_secs(1)).await.unwrap();
/// assert_eq!(reply.as_deref(), Some(&b"ping"[..]));
/// host.shutdown(Duration::from_secs(1)).await;
/// # });
/// ```
#[derive(Clone)]
pub struct ComponentHost {
    pub(super) inner: Arc<HostInner>,
}

impl std::fmt::Debug for ComponentHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentHost")
            .field("components", &self.inner.registry.len())
            .field(
                "shutting_down",
                &self.inner.shutting_down.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

impl ComponentHost {
    /// The registry entry of component `id`.
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`].
    pub(super) fn entry(&self, id: &str) -> Result<RegistryEntry, HostError> {
        self.inner.registry.get(id).ok_or_else(|| unknown(id))
    }

    /// Removes component `id` from the registry, for a caller that takes
    /// it out of the host (a stop, a hand-over).
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`].
    pub(super) fn take_entry(&self, id: &str) -> Result<RegistryEntry, HostError> {
        self.inner.registry.remove(id).ok_or_else(|| unknown(id))
    }

    /// Every component: id, state, restarts, handled/failed, mailbox length.
    pub fn list(&self) -> Vec<ComponentInfo> {
        self.inner.registry.list()
    }

    /// Calls `f` with each component's id and counters (handle duration,
    /// mailbox wait, request round trip, memory, fuel, refusals, traps),
    /// read in place: nothing is copied, so a scrape of a host with
    /// 100,000 components allocates only what `f` keeps. `f` runs under a
    /// registry shard's read lock and must not wait. Components spawned or
    /// stopped meanwhile may or may not be seen.
    pub fn visit_metrics(&self, f: impl FnMut(&ComponentId, &HostCallStats)) {
        self.inner.registry.visit_metrics(f);
    }

    /// The host's own figures: spawn latency. The engine's are
    /// [`WasmEngine::pool_usage`] and [`WasmEngine::module_cache_stats`].
    pub fn metrics(&self) -> &HostMetrics {
        &self.inner.metrics
    }

    /// The id → component registry.
    pub fn registry(&self) -> &ComponentRegistry {
        &self.inner.registry
    }

    /// The broker: subscribe to topics (including the dead-letter subject).
    pub fn broker(&self) -> &Arc<dyn MessageBroker<TopicMessage>> {
        &self.inner.broker
    }

    /// The root supervisor: add groups under it, watch its events.
    pub fn supervisor(&self) -> &SupervisorRef {
        &self.inner.root
    }

    /// The actor system the components live in.
    pub fn actor_system(&self) -> &ActorSystem {
        &self.inner.system
    }

    /// The WebAssembly engine.
    pub fn engine(&self) -> &WasmEngine {
        &self.inner.engine
    }

    /// Dead letters by reason so far.
    pub fn dead_letter_stats(&self) -> DeadLetterStats {
        self.inner.dead_letters.stats()
    }

    /// Stops every component (reverse start order, each with its stop
    /// timeout, aborting past `timeout`), dead-letters what was queued, and
    /// stops the topic pumps.
    pub async fn shutdown(&self, timeout: Duration) -> HostShutdownReport {
        let inner = &self.inner;
        inner.shutting_down.store(true, Ordering::Release);
        // Those that ended on their own before are not stopped by it.
        let before = inner.registry.live_len();
        let report = inner.root.shutdown(timeout).await;
        inner.topics.close(timeout).await;
        if let Some(remote) = &inner.remote {
            remote.close(timeout).await;
        }
        let aborted = match report {
            Ok(report) => report.aborted,
            Err(error) => {
                tracing::warn!(%error, "root supervisor already gone at shutdown");
                Vec::new()
            }
        };
        let system_report = inner.system.shutdown(timeout).await;
        for id in inner.registry.list() {
            inner.registry.remove(id.id.as_str());
        }
        let mut aborted = aborted;
        aborted.extend(system_report.aborted);
        HostShutdownReport {
            stopped: before.saturating_sub(aborted.len()),
            aborted,
            dead_letters: inner.dead_letters.stats(),
        }
    }
}

/// No component of this host has the id `id`.
fn unknown(id: &str) -> HostError {
    HostError::UnknownComponent {
        component: id.into(),
        payload: None,
    }
}
