//! [`ComponentHostBuilder`]: a host's settings (engine, broker, root
//! supervisor, lease, durable store, membership) and the making of its
//! parts.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{InMemoryMessageBroker, MessageBroker};
use airssys_rt::supervisor::{BackoffPolicy, RestartStrategy, SupervisorNode};
use airssys_rt::{ActorSystem, DeadLetterReason, Lease};

use super::dead_letters::DeadLetterSink;
use super::deliver::Delivery;
use super::durable::DurableSends;
use super::error::HostError;
use super::facade::{ComponentHost, HostInner};
use super::message::{ComponentMessage, TopicMessage};
use super::registry::ComponentRegistry;
use super::remote::RemoteRoutes;
use super::remote_monitor::Membership;
use super::router::Router;
use super::topics::TopicRouter;
use crate::guest::WasmEngine;
use crate::id::ComponentId;
use crate::metrics::HostMetrics;
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
        super::follow::follow(&root, Arc::clone(&registry));
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
        let metrics = HostMetrics::default();
        let topics = Arc::new(TopicRouter::new(
            Arc::clone(&broker),
            dead_letters.clone(),
            Arc::clone(&metrics.topic_pump_restarts),
        ));
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
                metrics,
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
}
