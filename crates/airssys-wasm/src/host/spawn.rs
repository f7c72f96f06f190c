//! Starting components: one at a time ([`ComponentHost::spawn`]), or a
//! fleet in a few supervisor commands ([`ComponentHost::spawn_many`]).
//!
//! A spawn has three steps. **Make**: check the spec, load the guest
//! (cached), make the first instance and run its `init`, all in the
//! caller's task, so their errors keep their types. **Start**: hand the
//! actor to its supervisor, which runs `pre_start` and starts its task.
//! **Register**: the registry entry, the topic subscriptions and, with a
//! distributed broker, the component's subject. A batch makes each
//! component, starts them [`BATCH`] at a time with one supervisor command
//! per batch (made while the supervisor starts the one before), and
//! registers each as its batch's answer arrives.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use airssys_rt::broker::subject;
use airssys_rt::supervisor::{
    Child, ChildId, ChildSpec, RestartPolicy, ShutdownPolicy, SupervisorError, SupervisorRef,
};
use airssys_rt::{ActorRef, SpawnError};

use super::actor::{ComponentActor, ComponentTemplate};
use super::component_ref::ComponentRef;
use super::deliver::Local;
use super::error::HostError;
use super::facade::ComponentHost;
use super::lifecycle::{LifecycleState, SharedLifecycle};
use super::registry::RegistryEntry;
use super::spec::ComponentSpec;
use crate::guest::{GuestModule, HostCallStats, InstanceConfig};
use crate::id::ComponentId;

/// Components started per supervisor command in
/// [`ComponentHost::spawn_many`]: the command's round trip is spread over
/// many, and the supervisor starts one batch while the caller makes the
/// next. Smaller batches leave more of the host's heap behind per
/// component (at 100,000 components, RSS per component measured 16.2 KiB
/// with batches of 128, 16.1 with 512, 16.0 with 1024, the same as
/// spawning one at a time), at the same spawn rate.
pub const BATCH: usize = 1024;

/// A component made and not yet started: its first instance waits in the
/// factory inside `child`.
struct Made {
    child_spec: ChildSpec,
    child: Box<dyn Child>,
    started: Unregistered,
}

/// What registering a started component needs.
struct Unregistered {
    id: ComponentId,
    actor: ActorRef<ComponentActor>,
    template: Arc<ComponentTemplate>,
    subscriptions: Vec<String>,
    max_message_bytes: usize,
    restart: RestartPolicy,
}

/// The supervisor's answer for a batch: one outcome per child.
type BatchAnswer = Result<Vec<Result<ChildId, SupervisorError>>, SupervisorError>;

/// A batch handed to the supervisor: the answer to come, and what to
/// register once it has, with each component's place in the caller's
/// list.
type SentBatch = (
    Pin<Box<dyn Future<Output = BatchAnswer> + Send>>,
    Vec<(usize, Unregistered)>,
);

impl ComponentHost {
    /// Spawns a component under the host's root supervisor. Returns once it
    /// is ready: instantiated, `init` run, subscriptions in place.
    ///
    /// Loading is cached by content hash: spawning many instances of one
    /// binary compiles it once. To start many at once, use
    /// [`spawn_many`](Self::spawn_many).
    ///
    /// The id of a component that ended on its own and stays listed (see
    /// [`ComponentEnd`](super::ComponentEnd)) is free: that component is
    /// removed first, as [`stop`](Self::stop) would, then the new one
    /// starts.
    ///
    /// # Errors
    /// [`HostError::AlreadyExists`] (a component that runs, or will run
    /// again after its restart, has the id), [`HostError::InvalidSubject`] (a bad
    /// subscription pattern; nothing starts), [`HostError::Wasm`] (invalid
    /// binary, missing exports, pool full as `WasmError::Capacity`),
    /// [`HostError::Guest`] (its `init` failed), [`HostError::Spawn`] (the actor
    /// runtime refused it), [`HostError::ShuttingDown`].
    pub async fn spawn(&self, spec: ComponentSpec) -> Result<ComponentRef, HostError> {
        let root = self.inner.root.clone();
        self.spawn_in(&root, spec).await
    }

    /// Spawns a component under `group`, a supervisor of the caller's
    /// (e.g. a nested group of the host's [`supervisor`](Self::supervisor)).
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    pub async fn spawn_in(
        &self,
        group: &SupervisorRef,
        spec: ComponentSpec,
    ) -> Result<ComponentRef, HostError> {
        let module = self.load(&spec).await?;
        let Made {
            child_spec,
            child,
            started,
        } = self.make(spec, module).await?;
        if let Err(error) = group.add_child(child_spec, child).await {
            return Err(start_failed(&started.id, error));
        }
        self.register(group, started).await
    }

    /// Spawns every spec of `specs` under the host's root supervisor and
    /// returns one outcome per spec, in the same order; a spec that fails
    /// does not stop the others.
    ///
    /// Each component ends as if [`spawn`](Self::spawn) had started it (same
    /// checks, same errors, same supervision), but the supervisor is asked
    /// once per [`BATCH`] components instead of once each, and while it
    /// starts one batch the next one's instances are made. A guest shared
    /// by consecutive specs (the same `Arc` of bytes, as
    /// [`ComponentSpec::with_id`] keeps) is looked up in the module cache
    /// once. This is the fast way to start a fleet of one spec:
    ///
    /// ```no_run
    /// # async fn fleet(host: &airssys_wasm::host::ComponentHost, echo: &[u8]) {
    /// use airssys_wasm::host::ComponentSpec;
    ///
    /// let spec = ComponentSpec::new("worker-0", echo.to_vec());
    /// let fleet = (0..10_000).map(|i| spec.clone().with_id(format!("worker-{i}")));
    /// for outcome in host.spawn_many(fleet).await {
    ///     outcome.expect("spawned");
    /// }
    /// # }
    /// ```
    pub async fn spawn_many(
        &self,
        specs: impl IntoIterator<Item = ComponentSpec>,
    ) -> Vec<Result<ComponentRef, HostError>> {
        let root = self.inner.root.clone();
        self.spawn_many_in(&root, specs).await
    }

    /// As [`spawn_many`](Self::spawn_many), under `group`.
    pub async fn spawn_many_in(
        &self,
        group: &SupervisorRef,
        specs: impl IntoIterator<Item = ComponentSpec>,
    ) -> Vec<Result<ComponentRef, HostError>> {
        let specs = specs.into_iter();
        // One slot per spec, filled as each ends; a slot stays `ShuttingDown`
        // only if its batch's answer never came. One vector, sized once: a
        // fleet of a million has a million outcomes.
        let mut outcomes: Vec<Result<ComponentRef, HostError>> =
            Vec::with_capacity(specs.size_hint().0);
        let mut sent: VecDeque<SentBatch> = VecDeque::new();
        let capacity = BATCH.min(specs.size_hint().0.max(1));
        let mut batch = Vec::with_capacity(capacity);
        let mut waiting = Vec::with_capacity(capacity);
        let mut loaded: Option<(Arc<[u8]>, GuestModule)> = None;
        for (i, spec) in specs.enumerate() {
            outcomes.push(Err(HostError::ShuttingDown));
            let module = match &loaded {
                Some((bytes, module)) if Arc::ptr_eq(bytes, &spec.binary) => Ok(module.clone()),
                _ => self.load(&spec).await.inspect(|module| {
                    loaded = Some((Arc::clone(&spec.binary), module.clone()));
                }),
            };
            match module {
                Ok(module) => match self.make(spec, module).await {
                    Ok(made) => {
                        batch.push((made.child_spec, made.child));
                        waiting.push((i, made.started));
                    }
                    Err(error) => outcomes[i] = Err(error),
                },
                Err(error) => outcomes[i] = Err(error),
            }
            if batch.len() == BATCH {
                let children = std::mem::replace(&mut batch, Vec::with_capacity(capacity));
                let started = std::mem::replace(&mut waiting, Vec::with_capacity(capacity));
                sent.push_back((Box::pin(group.add_children(children)), started));
            }
            // Register what the supervisor has answered meanwhile, so the
            // first components are up before the last are made.
            while let Some((answer, _)) = sent.front_mut() {
                let Poll::Ready(answer) = answer
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
                else {
                    break;
                };
                if let Some((_, started)) = sent.pop_front() {
                    self.register_batch(group, answer, started, &mut outcomes)
                        .await;
                }
            }
        }
        if !batch.is_empty() {
            sent.push_back((Box::pin(group.add_children(batch)), waiting));
        }
        while let Some((answer, started)) = sent.pop_front() {
            let answer = answer.await;
            self.register_batch(group, answer, started, &mut outcomes)
                .await;
        }
        outcomes
    }

    /// The compiled guest of `spec` (compiled on the blocking pool on a
    /// cache miss; a hit costs one hash), after the checks that need no
    /// guest.
    async fn load(&self, spec: &ComponentSpec) -> Result<GuestModule, HostError> {
        let inner = &self.inner;
        if inner.shutting_down.load(Ordering::Acquire) {
            return Err(HostError::ShuttingDown);
        }
        for pattern in &spec.subscriptions {
            subject::validate_pattern(pattern).map_err(|e| HostError::InvalidSubject {
                subject: pattern.clone(),
                reason: e.to_string(),
            })?;
        }
        // The id of a component that is over (it ended on its own: see
        // `ComponentEnd`) is free: that one is taken out as `stop` would.
        match inner.registry.remove_if_over(spec.id.as_str()) {
            Ok(None) => {}
            Ok(Some(over)) => self.retire(spec.id.as_str(), over).await?,
            Err(()) => {
                return Err(HostError::AlreadyExists {
                    component: spec.id.clone(),
                })
            }
        }
        Ok(inner
            .engine
            .load_async(spec.id.clone(), Arc::clone(&spec.binary))
            .await?)
    }

    /// Makes the component of `spec` from `module`: its first instance, its
    /// `init` run, and the actor a supervisor can start.
    async fn make(&self, spec: ComponentSpec, module: GuestModule) -> Result<Made, HostError> {
        let started = std::time::Instant::now();
        let made = self.make_timed(spec, module).await;
        if made.is_ok() {
            self.inner.metrics.spawn_seconds.record(started.elapsed());
        }
        made
    }

    /// [`make`](Self::make), untimed.
    async fn make_timed(
        &self,
        spec: ComponentSpec,
        module: GuestModule,
    ) -> Result<Made, HostError> {
        let inner = &self.inner;
        let id = spec.id.clone();
        // Where its first `init`'s run-time subscriptions wait until it is
        // registered.
        inner.topics.expect(&id);
        let lifecycle = Arc::new(SharedLifecycle::new());
        let config = InstanceConfig::new(id.clone(), Arc::clone(&inner.router) as _)
            .limits(spec.limits.clone())
            .permissions(spec.granted())
            .shared_stats(Arc::new(HostCallStats::default()))
            .config_values(config_values(&spec.config))
            .wasi(&spec.wasi);
        // The first instance is made here so its errors keep their type.
        lifecycle.set(LifecycleState::Starting);
        let mut first = module.instantiate(config.clone()).await.inspect_err(|_| {
            lifecycle.set(LifecycleState::Failed);
        })?;
        first
            .init()
            .await
            .inspect_err(|_| lifecycle.set(LifecycleState::Failed))?;
        if let Some(state) = spec.restore.as_ref().filter(|_| first.state_exports().1) {
            first
                .restore(state)
                .await
                .inspect_err(|_| lifecycle.set(LifecycleState::Failed))?;
        }

        let template = Arc::new(ComponentTemplate {
            id: id.clone(),
            module: parking_lot::RwLock::new(module),
            upgrades: std::sync::atomic::AtomicU64::new(0),
            handled: std::sync::atomic::AtomicU64::new(0),
            failed: std::sync::atomic::AtomicU64::new(0),
            config,
            lifecycle,
            dead_letters: inner.dead_letters.clone(),
            stop_timeout: spec.stop_timeout,
            lease: inner.lease.clone(),
        });
        // Boxed: the factory lives as long as the component (its
        // supervisor keeps it for restarts), and after the first start
        // this slot is empty; inline, it would keep an instance's worth of
        // bytes per component for nothing.
        let mut first = Some(Box::new(first));
        let shared = Arc::clone(&template);
        let factory = move || ComponentActor::new(Arc::clone(&shared), first.take().map(|b| *b));
        let mut child_spec = ChildSpec::new(id.as_str())
            .restart(spec.restart)
            .shutdown(ShutdownPolicy::Graceful(spec.stop_timeout));
        if let Some(health) = spec.health {
            child_spec = child_spec.health(health);
        }
        let (actor, child) = inner
            .system
            .spawn(factory)
            .name(id.as_str())
            .mailbox_capacity(spec.mailbox_capacity)
            .trap_exits(spec.trap_exits)
            .into_child(&child_spec)
            .map_err(|e| match e {
                SpawnError::NameTaken { .. } => HostError::AlreadyExists {
                    component: id.clone(),
                },
                SpawnError::ShuttingDown => HostError::ShuttingDown,
                other => HostError::Spawn {
                    component: id.clone(),
                    source: other,
                },
            })?;
        Ok(Made {
            child_spec,
            child,
            started: Unregistered {
                id,
                actor,
                template,
                max_message_bytes: spec.limits.max_message_bytes,
                subscriptions: spec.subscriptions,
                restart: spec.restart,
            },
        })
    }

    /// Registers each component of a batch the supervisor answered for,
    /// and puts every outcome in its place.
    async fn register_batch(
        &self,
        group: &SupervisorRef,
        answer: BatchAnswer,
        started: Vec<(usize, Unregistered)>,
        outcomes: &mut [Result<ComponentRef, HostError>],
    ) {
        let answers: Vec<Result<ChildId, SupervisorError>> = match answer {
            Ok(answers) => answers,
            Err(error) => started.iter().map(|_| Err(error.clone())).collect(),
        };
        for ((i, component), answer) in started.into_iter().zip(answers) {
            outcomes[i] = match answer {
                Ok(_) => self.register(group, component).await,
                Err(error) => Err(start_failed(&component.id, error)),
            };
        }
    }

    /// Registers a component its supervisor has started: the registry
    /// entry, its topic subscriptions and, with a distributed broker, its
    /// component subject. All or nothing: if a subscription fails, the
    /// component is stopped and unregistered.
    async fn register(
        &self,
        group: &SupervisorRef,
        component: Unregistered,
    ) -> Result<ComponentRef, HostError> {
        let inner = &self.inner;
        let Unregistered {
            id,
            actor,
            template,
            subscriptions,
            max_message_bytes,
            restart,
        } = component;
        let lifecycle = Arc::clone(&template.lifecycle);
        let entry = RegistryEntry {
            actor: actor.clone(),
            max_message_bytes,
            group: group.clone(),
            template,
            restart,
        };
        if !inner.registry.insert(id.clone(), entry) {
            // Lost a race with a spawn of the same id: undo ours.
            let _ = group.terminate_child(id.as_str()).await;
            return Err(HostError::AlreadyExists { component: id });
        }
        let mut subscribed = Ok(());
        for pattern in &subscriptions {
            subscribed = inner.topics.subscribe(pattern, id.clone(), actor.clone());
            if subscribed.is_err() {
                break;
            }
        }
        // What its first instance's `init` subscribed to at run time.
        for pattern in inner.topics.take_pending(id.as_str()) {
            if subscribed.is_err() {
                break;
            }
            subscribed = inner
                .topics
                .add(&pattern, id.clone(), actor.clone())
                .map(|_| ());
        }
        if let (Ok(()), Some(remote)) = (&subscribed, &inner.remote) {
            subscribed = remote.serve(id.clone(), actor.clone(), max_message_bytes);
        }
        if let Err(error) = subscribed {
            // Nothing half-applied: a component without its
            // subscriptions does not stay up.
            inner.topics.unsubscribe_all(id.as_str());
            if let Some(remote) = &inner.remote {
                remote.remove(id.as_str());
            }
            inner.registry.remove(id.as_str());
            if let Err(stop_error) = group.terminate_child(id.as_str()).await {
                tracing::warn!(component = %id, error = %stop_error, "could not stop a component whose subscription failed");
            }
            return Err(error);
        }
        Ok(ComponentRef {
            id,
            target: Local {
                actor,
                max_message_bytes,
                lifecycle,
            },
            host: self.clone(),
        })
    }
}

/// A supervisor's refusal to start component `id`, as a host error.
fn start_failed(id: &ComponentId, error: SupervisorError) -> HostError {
    match error {
        SupervisorError::NotRunning { .. } => HostError::ShuttingDown,
        other => HostError::Spawn {
            component: id.clone(),
            source: SpawnError::Supervisor {
                actor: id.to_string(),
                reason: other.to_string(),
            },
        },
    }
}

/// A component's config values for its instances. Components without any
/// (most) share one empty map.
fn config_values(
    config: &std::collections::BTreeMap<String, String>,
) -> Arc<crate::guest::ConfigValues> {
    if config.is_empty() {
        return crate::guest::instance_config::no_config();
    }
    Arc::new(
        config
            .iter()
            .map(|(k, v)| (k.clone(), Arc::from(v.as_str())))
            .collect(),
    )
}
