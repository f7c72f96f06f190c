//! [`ComponentHost`]: spawn, address, observe and stop components.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{InMemoryMessageBroker, MessageBroker, PublishReport};
use airssys_rt::supervisor::{BackoffPolicy, RestartStrategy, SupervisorNode, SupervisorRef};
use airssys_rt::{ActorRef, ActorSystem, DeadLetterReason, Lease};
use bytes::Bytes;
use tokio::sync::oneshot;

use super::actor::ComponentActor;
use super::dead_letters::{DeadLetterSink, DeadLetterStats};
use super::deliver::{Delivery, Local};
use super::durable::DurableSends;
use super::error::HostError;
use super::fault::Fault;
use super::lifecycle::LifecycleState;
use super::message::{Answer, ComponentMessage, TopicMessage};
use super::monitor::ComponentMonitor;
use super::registry::{ComponentInfo, ComponentRegistry, RegistryEntry};
use super::remote::RemoteRoutes;
use super::remote_monitor::Membership;
use super::router::Router;
use super::topics::TopicRouter;
use crate::guest::WasmEngine;
use crate::guest::{ComponentValue, GuestHealth, WasmValue};
use crate::id::ComponentId;
use crate::metrics::{HostCallStats, HostMetrics};
use crate::runtime::config::EngineConfig;

/// Restart intensity of the host's root supervisor unless set: 10 restarts
/// within 10 s.
pub const DEFAULT_ROOT_INTENSITY: (u32, Duration) = (10, Duration::from_secs(10));

/// Builds a [`ComponentHost`].
#[must_use]
pub struct ComponentHostBuilder {
    engine: EngineConfig,
    broker: Option<Arc<dyn MessageBroker<TopicMessage>>>,
    dead_letter_subject: Option<String>,
    intensity: (u32, Duration),
    backoff: BackoffPolicy,
    system: Option<ActorSystem>,
    lease: Option<Lease>,
    durable: Option<Arc<dyn DurableSends>>,
    membership: Option<Arc<dyn Membership>>,
}

impl std::fmt::Debug for ComponentHostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentHostBuilder")
            .field("engine", &self.engine)
            .field("own_broker", &self.broker.is_some())
            .field("dead_letter_subject", &self.dead_letter_subject)
            .field("intensity", &self.intensity)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl ComponentHostBuilder {
    /// Engine settings: pool size (max components), memory per component,
    /// epoch tick, fuel. Default [`EngineConfig::default`].
    pub fn engine(mut self, config: EngineConfig) -> Self {
        self.engine = config;
        self
    }

    /// The broker subject dead letters are published on, for the in-memory
    /// broker the host makes when it is given none. Default
    /// `_airssys.deadletter`. With a broker of the caller's, it must match
    /// that broker's [`dead_letter_subject`](MessageBroker::dead_letter_subject).
    pub fn dead_letter_subject(mut self, subject: impl Into<String>) -> Self {
        self.dead_letter_subject = Some(subject.into());
        self
    }

    /// The broker the host publishes, subscribes and dead-letters through
    /// (e.g. a NATS-backed one). Default: the actor system's broker for
    /// [`TopicMessage`] if one was installed with
    /// [`ActorSystem::set_broker`], else a new [`InMemoryMessageBroker`],
    /// which is then installed in the actor system so both share it.
    pub fn broker(mut self, broker: Arc<dyn MessageBroker<TopicMessage>>) -> Self {
        self.broker = Some(broker);
        self
    }

    /// Root supervisor restart intensity (default: 10 restarts within 10 s).
    pub fn intensity(mut self, max_restarts: u32, within: Duration) -> Self {
        self.intensity = (max_restarts, within);
        self
    }

    /// Backoff between a component's restarts. Default
    /// [`BackoffPolicy::none`]: a crashed component is restarted at once, and
    /// the root's restart intensity bounds a crash loop.
    pub fn backoff(mut self, backoff: BackoffPolicy) -> Self {
        self.backoff = backoff;
        self
    }

    /// Runs the components in an existing actor system (default: a new one).
    pub fn actor_system(mut self, system: ActorSystem) -> Self {
        self.system = Some(system);
        self
    }

    /// The lease under which this host may run its components (a cluster
    /// host's ownership, see `docs/distribution.md`). Every component
    /// checks it before it hands a message to its guest: while it does not
    /// hold, messages are dead-lettered `not_owner` instead of handled, so a
    /// host that was paused or cut off past its lease acts on nothing when
    /// it wakes, whichever of its tasks runs first. Default: none (a host
    /// outside a cluster always may). One atomic load and one clock read
    /// per message.
    pub fn lease(mut self, lease: Lease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Where sends to durable components go (a cluster host's JetStream
    /// store): every send, the host's own and its guests', to an id the
    /// store calls durable is handed to it instead of a mailbox. Default:
    /// none (no send is durable).
    pub fn durable(mut self, durable: Arc<dyn DurableSends>) -> Self {
        self.durable = Some(durable);
        self
    }

    /// Who is live in the host's cluster: with it, a monitor of a
    /// component on another host fires `noconnection` when that host is
    /// lost, within the cluster's detection time (see [`Membership`]).
    /// Default: none (outside a cluster the loss of another host is not
    /// detected; its components' stops and failures still are). Used only
    /// with a distributed broker.
    pub fn membership(mut self, membership: Arc<dyn Membership>) -> Self {
        self.membership = Some(membership);
        self
    }

    /// Creates the engine, the broker (unless given) and the root
    /// supervisor. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`HostError::Wasm`] when the engine cannot be created;
    /// [`HostError::InvalidSubject`] for a bad dead-letter subject, or one
    /// that differs from the given broker's.
    pub fn build(self) -> Result<ComponentHost, HostError> {
        crate::metrics::calibrate_clock();
        let engine = WasmEngine::new(self.engine)?;
        let system = self.system.unwrap_or_default();
        let broker = match self.broker {
            Some(broker) => broker,
            None => {
                let mut made = Ok(());
                let broker = system.broker_or_install(|| {
                    let mut broker = InMemoryMessageBroker::<TopicMessage>::builder();
                    if let Some(subject) = &self.dead_letter_subject {
                        broker = broker.dead_letter_subject(subject.clone());
                    }
                    match broker.build() {
                        Ok(broker) => Arc::new(broker),
                        Err(error) => {
                            made = Err(error);
                            Arc::new(InMemoryMessageBroker::new())
                        }
                    }
                });
                made.map_err(|e| HostError::InvalidSubject {
                    subject: self.dead_letter_subject.clone().unwrap_or_default(),
                    reason: e.to_string(),
                })?;
                broker
            }
        };
        if let Some(subject) = &self.dead_letter_subject {
            if broker.dead_letter_subject() != subject {
                return Err(HostError::InvalidSubject {
                    subject: subject.clone(),
                    reason: format!(
                        "the host's broker publishes dead letters on `{}`",
                        broker.dead_letter_subject()
                    ),
                });
            }
        }
        let root = system.start_supervisor(
            SupervisorNode::builder("components")
                .strategy(RestartStrategy::OneForOne)
                .intensity(self.intensity.0, self.intensity.1)
                .backoff(self.backoff),
        );
        let registry = Arc::new(ComponentRegistry::default());
        super::restarts::follow(&root, Arc::clone(&registry));
        let dead_letters = DeadLetterSink::new(Arc::clone(&broker));
        let remote = if broker.is_distributed() {
            Some(Arc::new(RemoteRoutes::new(
                Arc::clone(&broker),
                dead_letters.clone(),
                self.membership.clone(),
            )?))
        } else {
            None
        };
        let topics = Arc::new(TopicRouter::new(Arc::clone(&broker), dead_letters.clone()));
        let delivery = Arc::new(Delivery {
            registry: Arc::clone(&registry),
            remote: remote.clone(),
            durable: self.durable.clone(),
        });
        let router = Arc::new(Router {
            registry: Arc::clone(&registry),
            broker: Arc::clone(&broker),
            remote: remote.clone(),
            durable: self.durable.clone(),
            topics: Arc::clone(&topics),
            delivery: Arc::clone(&delivery),
        });
        forward_stopped_mailboxes(&system, dead_letters.clone());
        Ok(ComponentHost {
            inner: Arc::new(HostInner {
                engine,
                system,
                broker,
                registry,
                router,
                delivery,
                topics,
                remote,
                dead_letters,
                root,
                shutting_down: AtomicBool::new(false),
                lease: self.lease,
                durable: self.durable,
                metrics: HostMetrics::default(),
            }),
        })
    }
}

/// Turns the actor system's "actor stopped" dead letters of component
/// actors (messages left in a mailbox stopped for good) into host dead
/// letters, with their payload, as they happen. Handler failures are posted
/// by the component actor itself, with the message, so they are skipped here.
fn forward_stopped_mailboxes(system: &ActorSystem, sink: DeadLetterSink) {
    system.on_dead_letter(move |letter| {
        if letter.reason != DeadLetterReason::ActorStopped {
            return;
        }
        let Some(
            ComponentMessage::Deliver(message)
            | ComponentMessage::Request(message)
            | ComponentMessage::Publish(message),
        ) = letter.take_message::<ComponentMessage>()
        else {
            return;
        };
        let target = ComponentId::new(letter.actor_name.as_deref().unwrap_or("unknown"));
        sink.post(&target, message, DeadLetterReason::ActorStopped);
    });
}

pub(super) struct HostInner {
    pub(super) engine: WasmEngine,
    pub(super) system: ActorSystem,
    broker: Arc<dyn MessageBroker<TopicMessage>>,
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

/// A component's health: its lifecycle state and its guest's own answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComponentHealth {
    /// Lifecycle state.
    pub state: LifecycleState,
    /// The guest's `health` export (Healthy when not exported).
    pub guest: GuestHealth,
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
    /// Starts configuring a host.
    pub fn builder() -> ComponentHostBuilder {
        ComponentHostBuilder {
            engine: EngineConfig::default(),
            broker: None,
            dead_letter_subject: None,
            intensity: DEFAULT_ROOT_INTENSITY,
            backoff: BackoffPolicy::none(),
            system: None,
            lease: None,
            durable: None,
            membership: None,
        }
    }

    /// A handle to a running component, O(1).
    pub fn component(&self, id: &str) -> Option<ComponentRef> {
        let entry = self.inner.registry.get(id)?;
        Some(ComponentRef {
            id: ComponentId::new(id),
            target: Local {
                actor: entry.actor,
                max_message_bytes: entry.max_message_bytes,
            },
            host: self.clone(),
        })
    }

    pub(super) fn entry(&self, id: &str) -> Result<RegistryEntry, HostError> {
        self.inner
            .registry
            .get(id)
            .ok_or_else(|| HostError::UnknownComponent {
                component: id.into(),
                payload: None,
            })
    }

    /// Sends `payload` to component `to`, waiting for mailbox room.
    ///
    /// With a distributed broker, an id this host does not run is sent to
    /// the host that runs it (waiting, if need be, for room in the broker's
    /// outbound queue); if no host runs it, that is counted as a dead letter
    /// `no_such_target` when the server says so.
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`], [`HostError::MessageTooLarge`],
    /// [`HostError::ComponentStopped`]; each hands the payload back
    /// ([`HostError::into_payload`]).
    ///
    /// # Cancel safety
    /// Dropped while waiting for mailbox room, the payload is dropped with
    /// it and was never accepted.
    pub async fn send(&self, to: &str, payload: impl Into<Bytes>) -> Result<(), HostError> {
        self.inner
            .delivery
            .send(to, payload.into())
            .await
            .map_err(|e| e.into_host_error(to))
    }

    /// Sends `payload` to `to` and waits up to `timeout` for the guest's reply
    /// (`None` if it handled the message without replying).
    ///
    /// With a distributed broker, an id this host does not run is asked of
    /// the host that runs it (its reply is `Some`, empty if the guest gave
    /// none); an id no host runs is [`HostError::UnknownComponent`] at once.
    ///
    /// # Errors
    /// As [`send`](Self::send), plus [`HostError::Timeout`] and
    /// [`HostError::HandlerFailed`] with the typed cause (the guest trapped,
    /// timed out, hit its memory cap or returned an error code); for a
    /// component on another host, [`HostError::RemoteFailed`] with that
    /// host's account of the cause.
    pub async fn request(
        &self,
        to: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Option<Bytes>, HostError> {
        self.inner
            .delivery
            .request(None, to, payload.into(), timeout)
            .await
            .map_err(|e| e.into_host_error(to))
    }

    /// Publishes `payload` on `subject`; every component subscribed to a
    /// matching pattern receives it.
    ///
    /// On a durable topic (see [`DurableSends`](super::DurableSends)) it is
    /// handed to the store instead, without waiting; the report counts the
    /// subscribing components that will each receive it.
    ///
    /// # Errors
    /// [`HostError::InvalidSubject`]; [`HostError::Broker`] when the
    /// broker's transport failed; [`HostError::PublishNotStored`] when the
    /// durable store cannot take it.
    pub fn publish(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<PublishReport, HostError> {
        if let Some(durable) = self
            .inner
            .durable
            .as_ref()
            .filter(|d| d.is_durable_topic(subject))
        {
            return durable
                .publish(None, subject, payload.into())
                .map(|n| PublishReport::new(n, n, 0))
                .map_err(|e| HostError::PublishNotStored {
                    subject: subject.to_owned(),
                    reason: e.reason,
                });
        }
        self.inner
            .broker
            .publish(subject, TopicMessage::new(payload))
            .map_err(|e| HostError::from_broker(subject, e))
    }

    /// How many of this host's components receive a publish on `subject`
    /// (one per matching subscription); other hosts' are not counted.
    pub fn subscribers_of(&self, subject: &str) -> usize {
        self.inner.topics.subscribers_of(subject)
    }

    /// Whether publishes on `subject` go to the durable store (a durable
    /// topic on a cluster host) rather than the broker.
    pub fn is_durable_topic(&self, subject: &str) -> bool {
        self.inner
            .durable
            .as_ref()
            .is_some_and(|d| d.is_durable_topic(subject))
    }

    /// Calls export `export` of component `id` with typed arguments.
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`], [`HostError::HandlerFailed`] (export
    /// not found, arity or type mismatch, trap: the typed
    /// [`GuestError`](crate::GuestError) says which), [`HostError::Timeout`].
    pub async fn invoke(
        &self,
        id: &str,
        export: &str,
        args: Vec<WasmValue>,
        timeout: Duration,
    ) -> Result<Vec<WasmValue>, HostError> {
        let entry = self.entry(id)?;
        let export = export.to_owned();
        control(id, &entry.actor, timeout, |answer| {
            ComponentMessage::Invoke {
                export,
                args,
                answer,
            }
        })
        .await
    }

    /// Calls export `export` of component `id` with dynamic values: any
    /// WIT-typed function of a component, or a numeric core export (see
    /// [`GuestInstance::invoke_dynamic`](crate::GuestInstance::invoke_dynamic)).
    ///
    /// # Errors
    /// As [`invoke`](Self::invoke); a value that does not fit its WIT
    /// parameter type is [`GuestError::ValueMismatch`](crate::GuestError::ValueMismatch)
    /// inside [`HostError::HandlerFailed`].
    pub async fn invoke_dynamic(
        &self,
        id: &str,
        export: &str,
        args: Vec<ComponentValue>,
        timeout: Duration,
    ) -> Result<Vec<ComponentValue>, HostError> {
        let entry = self.entry(id)?;
        let export = export.to_owned();
        control(id, &entry.actor, timeout, |answer| {
            ComponentMessage::InvokeDynamic {
                export,
                args,
                answer,
            }
        })
        .await
    }

    /// The component's lifecycle state and its guest's health answer.
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`]; [`HostError::Timeout`] if the
    /// component does not answer in time.
    pub async fn health(&self, id: &str, timeout: Duration) -> Result<ComponentHealth, HostError> {
        let entry = self.entry(id)?;
        let state = entry.template.lifecycle.get();
        let guest = control(id, &entry.actor, timeout, ComponentMessage::Health).await?;
        Ok(ComponentHealth { state, guest })
    }

    /// Injects `fault` into component `id` through its mailbox, after the
    /// messages queued before it; returns once it is queued. For tests and
    /// chaos drills: a [`Fault::Crash`] fails the incarnation as a trap
    /// would (its supervisor restarts it), a [`Fault::Unhealthy`] fails its
    /// health checks until it is replaced. The guest never sees the fault.
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`], [`HostError::ComponentStopped`].
    ///
    /// # Cancel safety
    /// Dropped while waiting for mailbox room, the fault was not queued.
    pub async fn inject_fault(&self, id: &str, fault: Fault) -> Result<(), HostError> {
        let entry = self.entry(id)?;
        entry
            .actor
            .tell(ComponentMessage::Inject(fault))
            .await
            .map_err(|_| HostError::ComponentStopped {
                component: id.into(),
                payload: None,
            })
    }

    /// Stops component `id` for good, through the supervisor it was spawned
    /// under (the root, or the group given to [`spawn_in`](Self::spawn_in)):
    /// its `cleanup` runs, its instance is freed, and messages left in its
    /// mailbox are dead-lettered.
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`], [`HostError::Supervision`].
    pub async fn stop(&self, id: &str) -> Result<(), HostError> {
        let entry = self
            .inner
            .registry
            .remove(id)
            .ok_or_else(|| HostError::UnknownComponent {
                component: id.into(),
                payload: None,
            })?;
        self.inner.topics.unsubscribe_all(id);
        if let Some(remote) = &self.inner.remote {
            remote.remove(id);
        }
        let result = entry.group.terminate_child(id).await;
        entry.template.lifecycle.set(LifecycleState::Stopped);
        result.map_err(|source| HostError::Supervision {
            component: id.into(),
            source: Box::new(source),
        })
    }

    /// Restarts component `id` once the messages queued before this call are
    /// handled: its `cleanup` runs and its supervisor makes a fresh instance
    /// (fresh state, same mailbox and `ActorRef`). Counts as a restart, and
    /// against the supervisor's restart intensity; a `Temporary` component
    /// stays stopped.
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`]; [`HostError::Timeout`] if the
    /// component did not reach the restart within `timeout` (it still
    /// restarts when it does); [`HostError::ComponentStopped`].
    pub async fn restart(&self, id: &str, timeout: Duration) -> Result<(), HostError> {
        let entry = self.entry(id)?;
        let (done, restarting) = oneshot::channel();
        let asked = async {
            entry
                .actor
                .tell(ComponentMessage::Restart(done))
                .await
                .map_err(|_| ())?;
            restarting.await.map_err(|_| ())
        };
        match tokio::time::timeout(timeout, asked).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(())) => Err(stopped(id)),
            Err(_) => Err(HostError::Timeout {
                component: id.into(),
                timeout,
                payload: None,
            }),
        }
    }

    /// Monitors component `id` from the host side: the returned future
    /// resolves once, with the [`ComponentDown`](super::ComponentDown) of the incarnation running
    /// now (reason `shutdown` for a stop, `failed` with the cause for a
    /// crash or a restart). A restart is a down and ends the monitor:
    /// monitor again to watch the next incarnation. An id no component has
    /// on this host resolves at once with [`ExitReason::NoProc`](airssys_rt::supervisor::ExitReason::NoProc).
    /// Dropping the future removes the monitor. Never waits; costs one
    /// oneshot channel and one slot in the component's monitor list.
    ///
    /// With a distributed broker, an id this host does not run is
    /// monitored on the host that runs it (one request over the broker):
    /// `noproc` when no host does, and, with a [`Membership`] (a cluster
    /// host), [`ExitReason::NoConnection`](airssys_rt::supervisor::ExitReason::NoConnection)
    /// when that host is lost (see `docs/distribution.md`).
    ///
    /// ```no_run
    /// # async fn demo(host: airssys_wasm::ComponentHost) {
    /// let down = host.monitor("worker-1").await;
    /// println!("{} went down: {}", down.component, down.reason.label());
    /// # }
    /// ```
    pub fn monitor(&self, id: &str) -> ComponentMonitor {
        let actor = self.inner.registry.route(id).map(|route| route.actor);
        let remote = self.inner.remote.as_ref().filter(|_| actor.is_none());
        ComponentMonitor::new(ComponentId::new(id), actor.as_ref(), remote)
    }

    /// Monitors this host holds on components of other hosts now (made by
    /// guests or by [`monitor`](Self::monitor), not fired, not removed);
    /// for metrics and leak checks.
    pub fn remote_monitor_count(&self) -> usize {
        self.inner
            .remote
            .as_ref()
            .map_or(0, |remote| remote.monitors().len())
    }

    /// Takes `message`, a message for component `id` that reached this
    /// host some other way than `id`'s own subject (a cluster host held it
    /// while `id` was handed over to it), if it is another host's monitor
    /// or demonitor request (its reply subject starts with
    /// [`MONITOR_INBOX`](super::MONITOR_INBOX) or
    /// [`DEMONITOR_INBOX`](super::DEMONITOR_INBOX)): it is carried out as
    /// if it had come on the subject, and `true` is returned. `false` for
    /// anything else (deliver it as usual), or when `id` is not served here.
    pub fn take_monitor_request(
        &self,
        id: &str,
        message: &airssys_rt::broker::BrokerMessage<TopicMessage>,
    ) -> bool {
        self.inner
            .remote
            .as_ref()
            .is_some_and(|remote| remote.take_monitor_request(id, message))
    }

    /// Links components `a` and `b` of this host, both ways, as a guest's
    /// `link` import does: when either incarnation ends abnormally (a
    /// trap, a failure, a restart), the other's ends too, with reason
    /// `linked`, and its supervisor restarts it per its policy, unless it
    /// traps exits ([`ComponentSpec::trap_exits`](super::ComponentSpec::trap_exits)):
    /// then it gets an `_airssys.exit` message. A normal end (a stop) just
    /// breaks the link, and so does a restart of either: the link belongs
    /// to the two incarnations running now. Idempotent. No allow-list is
    /// checked: the host may link any two of its components.
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`] naming whichever of the two does not
    /// run here (links do not cross hosts) or is gone for good.
    pub fn link(&self, a: &str, b: &str) -> Result<(), HostError> {
        let unknown = |id: &str| HostError::UnknownComponent {
            component: id.into(),
            payload: None,
        };
        if !self.inner.registry.contains(a) {
            return Err(unknown(a));
        }
        super::link::link(&self.inner.registry, a, b, false).map_err(|_| unknown(b))
    }

    /// Breaks the link between components `a` and `b`: `true` if there was
    /// one. Once it returns, no exit of either reaches the other over it,
    /// even one already queued.
    pub fn unlink(&self, a: &str, b: &str) -> bool {
        super::link::unlink(&self.inner.registry, a, b)
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
        let before = inner.registry.len();
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

/// Asks component `id` a control request made by `make` around its
/// answer channel, and waits up to `timeout` (mailbox room included) for
/// the typed answer: the request's one timer.
///
/// # Errors
/// [`HostError::Timeout`]; [`HostError::ComponentStopped`] when the
/// component stopped before answering; [`HostError::HandlerFailed`] with
/// the typed cause of a failed request.
pub(super) async fn control<T>(
    id: &str,
    actor: &ActorRef<ComponentActor>,
    timeout: Duration,
    make: impl FnOnce(Answer<T>) -> ComponentMessage,
) -> Result<T, HostError> {
    let (answer, answered) = oneshot::channel();
    let asked = async {
        actor.tell(make(answer)).await.map_err(|_| ())?;
        answered.await.map_err(|_| ())
    };
    match tokio::time::timeout(timeout, asked).await {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(cause))) => Err(HostError::HandlerFailed {
            component: id.into(),
            cause,
        }),
        Ok(Err(())) => Err(stopped(id)),
        Err(_) => Err(HostError::Timeout {
            component: id.into(),
            timeout,
            payload: None,
        }),
    }
}

/// Component `id` stopped before it took or answered a control request.
fn stopped(id: &str) -> HostError {
    HostError::ComponentStopped {
        component: id.into(),
        payload: None,
    }
}

/// A handle to one running component. Cheap to clone.
#[derive(Clone)]
pub struct ComponentRef {
    pub(super) id: ComponentId,
    /// Its actor and message limit: what a send or request needs, held so
    /// that the handle never looks the component up again.
    pub(super) target: Local,
    pub(super) host: ComponentHost,
}

impl std::fmt::Debug for ComponentRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentRef")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl ComponentRef {
    /// The component id.
    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    /// Messages waiting in its mailbox.
    pub fn mailbox_len(&self) -> usize {
        self.target.actor.mailbox_len()
    }

    /// Monitors of this component armed now (made by guests' `monitor`
    /// import or [`ComponentHost::monitor`], not fired, not removed). O(1);
    /// for metrics and leak checks.
    pub fn monitor_count(&self) -> usize {
        self.target.actor.monitor_count()
    }

    /// Restarts, handled and failed counts.
    pub fn stats(&self) -> airssys_rt::ActorStats {
        self.target.actor.stats()
    }

    /// See [`ComponentHost::send`]; goes to this handle's actor, with no
    /// lookup (a durable component's sends still go to its store).
    ///
    /// # Errors
    /// As [`ComponentHost::send`], except that a component stopped since
    /// the handle was made is [`HostError::ComponentStopped`].
    pub async fn send(&self, payload: impl Into<Bytes>) -> Result<(), HostError> {
        self.host
            .inner
            .delivery
            .send_to(&self.id, &self.target, payload.into())
            .await
            .map_err(|e| e.into_host_error(self.id.as_str()))
    }

    /// See [`ComponentHost::request`]; goes to this handle's actor, with no
    /// lookup (a durable component's requests are asked of it as a local one).
    ///
    /// # Errors
    /// As [`ComponentHost::request`], except that a component stopped since
    /// the handle was made is [`HostError::ComponentStopped`].
    pub async fn request(
        &self,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Option<Bytes>, HostError> {
        Delivery::request_to(&self.target, payload.into(), timeout)
            .await
            .map_err(|e| e.into_host_error(self.id.as_str()))
    }

    /// See [`ComponentHost::invoke`]; asks this handle's actor, with no
    /// lookup.
    ///
    /// # Errors
    /// As [`ComponentHost::invoke`], except that a component stopped since
    /// the handle was made is [`HostError::ComponentStopped`].
    pub async fn invoke(
        &self,
        export: &str,
        args: Vec<WasmValue>,
        timeout: Duration,
    ) -> Result<Vec<WasmValue>, HostError> {
        let export = export.to_owned();
        control(self.id.as_str(), &self.target.actor, timeout, |answer| {
            ComponentMessage::Invoke {
                export,
                args,
                answer,
            }
        })
        .await
    }

    /// See [`ComponentHost::invoke_dynamic`]; asks this handle's actor,
    /// with no lookup.
    ///
    /// # Errors
    /// As [`ComponentHost::invoke_dynamic`], except that a component
    /// stopped since the handle was made is [`HostError::ComponentStopped`].
    pub async fn invoke_dynamic(
        &self,
        export: &str,
        args: Vec<ComponentValue>,
        timeout: Duration,
    ) -> Result<Vec<ComponentValue>, HostError> {
        let export = export.to_owned();
        control(self.id.as_str(), &self.target.actor, timeout, |answer| {
            ComponentMessage::InvokeDynamic {
                export,
                args,
                answer,
            }
        })
        .await
    }

    /// See [`ComponentHost::health`].
    ///
    /// # Errors
    /// As [`ComponentHost::health`].
    pub async fn health(&self, timeout: Duration) -> Result<ComponentHealth, HostError> {
        self.host.health(self.id.as_str(), timeout).await
    }

    /// Stops the component through its mailbox: messages queued before this
    /// call are handled first, then `cleanup` runs and the instance is freed.
    /// A `Permanent` component is restarted by its supervisor (the mailbox
    /// carries on); a `Transient` or `Temporary` one stays stopped and what
    /// was queued after this call is dead-lettered.
    ///
    /// # Errors
    /// [`HostError::ComponentStopped`] if it is already gone.
    pub async fn stop_after_queued(&self) -> Result<(), HostError> {
        self.target
            .actor
            .tell(ComponentMessage::Shutdown)
            .await
            .map_err(|_| HostError::ComponentStopped {
                component: self.id.clone(),
                payload: None,
            })
    }

    /// See [`ComponentHost::stop`].
    ///
    /// # Errors
    /// As [`ComponentHost::stop`].
    pub async fn stop(&self) -> Result<(), HostError> {
        self.host.stop(self.id.as_str()).await
    }
}
