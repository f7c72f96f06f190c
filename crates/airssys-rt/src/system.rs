//! [`ActorSystem`]: spawns actors, finds them by name, collects dead letters,
//! and shuts everything down.

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::actor::{
    Actor, ActorCell, ActorId, ActorRef, ActorShared, LiveActor, SpawnBuilder, SpawnError,
};
use crate::broker::{InMemoryMessageBroker, MessageBroker};
use crate::dead_letter::{DeadLetter, DeadLetterCounts, DeadLetterOffice};
use crate::live_registry::{LiveRegistry, LiveSlot};
use crate::supervisor::{ShutdownReport, SupervisorBuilder, SupervisorError, SupervisorRef};

/// A snapshot of system-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SystemStats {
    /// Actors spawned since the system started.
    pub spawned: u64,
    /// Unsupervised actors whose task is running now.
    pub live: usize,
    /// Replies an actor produced after the asker had given up.
    pub late_replies: u64,
    /// Dead letters, by reason.
    pub dead_letters: DeadLetterCounts,
}

/// A name-registry entry: the id and the actor's handle allocation
/// (an `ActorCell<A>`), type-erased.
struct NamedActor {
    id: ActorId,
    cell: Arc<dyn Any + Send + Sync>,
}

struct SystemInner {
    /// Actors spawned so far; the next actor's id is this plus one, so
    /// one atomic increment per spawn gives both.
    spawned: AtomicU64,
    late_replies: AtomicU64,
    names: DashMap<Arc<str>, NamedActor>,
    live: LiveRegistry,
    shutting_down: AtomicBool,
    dead_letters: DeadLetterOffice,
    /// Root supervisors started through the system, in start order.
    supervisors: parking_lot::Mutex<Vec<SupervisorRef>>,
    /// One broker per message type: `TypeId::of::<M>()` → `Arc<dyn MessageBroker<M>>`.
    brokers: DashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

/// The runtime that actors live in. Cheap to clone (one `Arc`).
///
/// ```
/// # use airssys_rt::{Actor, ActorContext, ActorSystem};
/// # use std::time::Duration;
/// #[derive(Default)]
/// struct Echo;
/// impl Actor for Echo {
///     type Message = String;
///     type Reply = String;
///     type Error = std::convert::Infallible;
///     async fn handle_message(&mut self, m: String, _: &mut ActorContext<Self>) -> Result<String, Self::Error> {
///         Ok(m)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let system = ActorSystem::new();
/// let echo = system.spawn(|| Echo).name("echo").await.unwrap();
/// let answer = echo.ask("hi".to_owned(), Duration::from_secs(1)).await.unwrap();
/// assert_eq!(answer, "hi");
/// assert!(system.lookup::<Echo>("echo").is_some());
/// system.shutdown(Duration::from_secs(1)).await;
/// # }
/// ```
#[derive(Clone)]
pub struct ActorSystem {
    inner: Arc<SystemInner>,
}

impl Default for ActorSystem {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ActorSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorSystem")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl ActorSystem {
    /// An empty system. Must be used inside a tokio runtime.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(SystemInner {
                spawned: AtomicU64::new(0),
                late_replies: AtomicU64::new(0),
                names: DashMap::new(),
                live: LiveRegistry::new(),
                shutting_down: AtomicBool::new(false),
                dead_letters: DeadLetterOffice::new(),
                brokers: DashMap::new(),
                supervisors: parking_lot::Mutex::new(Vec::new()),
            }),
        }
    }

    /// Starts building an actor whose state `factory` creates (at spawn and
    /// again at every restart). Await the builder to spawn it.
    pub fn spawn<A, F>(&self, factory: F) -> SpawnBuilder<A, F>
    where
        A: Actor,
        F: FnMut() -> A + Send + 'static,
    {
        SpawnBuilder::new(self.clone(), factory)
    }

    /// Starts a root supervisor that belongs to this system: [`shutdown`](Self::shutdown)
    /// stops it (and its tree) before the unsupervised actors, roots in
    /// reverse start order. Returns at once, as
    /// [`SupervisorBuilder::start`]: initial children that cannot start make
    /// the root fail rather than return an error. Use
    /// [`try_start_supervisor`](Self::try_start_supervisor) for that.
    pub fn start_supervisor(&self, builder: SupervisorBuilder) -> SupervisorRef {
        let supervisor = builder.start();
        self.inner.supervisors.lock().push(supervisor.clone());
        supervisor
    }

    /// Starts a root supervisor that belongs to this system, as
    /// [`start_supervisor`](Self::start_supervisor), and returns once its
    /// initial children have started, in order
    /// ([`SupervisorBuilder::try_start`]).
    ///
    /// # Errors
    /// As [`SupervisorBuilder::try_start`]: [`SupervisorError::StartFailed`]
    /// naming the first child that could not start (those before it were
    /// stopped in reverse order, none after it started, and the supervisor
    /// is not kept), [`SupervisorError::DuplicateChild`].
    pub async fn try_start_supervisor(
        &self,
        builder: SupervisorBuilder,
    ) -> Result<SupervisorRef, SupervisorError> {
        let supervisor = builder.try_start().await?;
        self.inner.supervisors.lock().push(supervisor.clone());
        Ok(supervisor)
    }

    /// Finds a live actor by name. O(1). `None` if no actor has that name or
    /// it is not an `A`.
    pub fn lookup<A: Actor>(&self, name: &str) -> Option<ActorRef<A>> {
        let entry = self.inner.names.get(name)?;
        let cell = Arc::clone(&entry.cell).downcast::<ActorCell<A>>().ok()?;
        Some(ActorRef { cell })
    }

    /// The system's broker for messages of type `M`: the one installed with
    /// [`set_broker`](Self::set_broker), or else an [`InMemoryMessageBroker`]
    /// with default settings, created on first use and shared from then on.
    pub fn broker<M: Clone + Send + 'static>(&self) -> Arc<dyn MessageBroker<M>> {
        self.broker_or_install(|| Arc::new(InMemoryMessageBroker::<M>::new()))
    }

    /// The system's broker for messages of type `M`: the one installed with
    /// [`set_broker`](Self::set_broker) (or made by an earlier call), or else
    /// the one `make` returns, which is installed and shared from then on.
    /// Lets a layer above (such as a component host) bring its own default
    /// broker while still using one the application installed.
    pub fn broker_or_install<M: Clone + Send + 'static>(
        &self,
        make: impl FnOnce() -> Arc<dyn MessageBroker<M>>,
    ) -> Arc<dyn MessageBroker<M>> {
        let entry = self
            .inner
            .brokers
            .entry(TypeId::of::<M>())
            .or_insert_with(|| Arc::new(make()));
        match entry.value().downcast_ref::<Arc<dyn MessageBroker<M>>>() {
            Some(broker) => Arc::clone(broker),
            // Entries are only ever inserted under their own TypeId above and
            // in `set_broker`, so the downcast cannot fail.
            None => unreachable!("broker registry entry has the wrong type"),
        }
    }

    /// Installs the broker for messages of type `M` (e.g. a NATS-backed one),
    /// replacing any earlier one for new callers of [`broker`](Self::broker).
    pub fn set_broker<M: Clone + Send + 'static>(&self, broker: Arc<dyn MessageBroker<M>>) {
        self.inner
            .brokers
            .insert(TypeId::of::<M>(), Arc::new(broker));
    }

    /// Subscribes to dead letters from now on. Every dead letter is also
    /// counted (see [`SystemStats::dead_letters`]) whether or not anyone listens.
    pub fn dead_letters(&self) -> broadcast::Receiver<Arc<DeadLetter>> {
        self.inner.dead_letters.subscribe()
    }

    /// Runs `handler` on every dead letter from now on, synchronously, in
    /// the task that produced it and before subscribers see it (it may
    /// [`take_message`](DeadLetter::take_message)). Keep it short and
    /// non-blocking: it runs on the stop and failure paths of actors.
    pub fn on_dead_letter(&self, handler: impl Fn(&DeadLetter) + Send + Sync + 'static) {
        self.inner.dead_letters.add_handler(Arc::new(handler));
    }

    /// System-wide counters.
    pub fn stats(&self) -> SystemStats {
        SystemStats {
            spawned: self.inner.spawned.load(Ordering::Relaxed),
            live: self.inner.live.len(),
            late_replies: self.inner.late_replies.load(Ordering::Relaxed),
            dead_letters: self.inner.dead_letters.counts(),
        }
    }

    /// `true` once [`shutdown`](Self::shutdown) began; spawns then fail.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// Shuts the whole system down within `timeout`.
    ///
    /// First the root supervisors started with
    /// [`start_supervisor`](Self::start_supervisor), last started first: each
    /// stops its children in reverse start order per their shutdown policies.
    /// Then every unsupervised actor: each finishes the message it is
    /// handling, runs `post_stop`, and dead-letters what is left in its
    /// mailbox. Whatever is still running at the deadline is aborted and
    /// listed in the report. New spawns fail from the moment this is called.
    pub async fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        self.inner.shutting_down.store(true, Ordering::Release);
        let deadline = tokio::time::Instant::now() + timeout;
        let supervisors: Vec<SupervisorRef> =
            self.inner.supervisors.lock().drain(..).rev().collect();
        let mut report = ShutdownReport::default();
        for supervisor in supervisors {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            // An error means it had already ended (failed or shut down).
            if let Ok(supervised) = supervisor.shutdown(left).await {
                report.stopped.extend(supervised.stopped);
                report.aborted.extend(supervised.aborted);
            }
        }
        let timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.inner.live.for_each(|entry| {
            report.stopped.push(entry.actor.shared().label());
            entry.actor.request_stop();
        });
        let mut aborted = Vec::new();
        if tokio::time::timeout(timeout, self.inner.live.wait_empty())
            .await
            .is_err()
        {
            self.inner.live.for_each(|entry| {
                aborted.push(entry.actor.shared().label());
                if let Some(task) = &entry.task {
                    task.abort();
                }
            });
            tracing::warn!(
                count = aborted.len(),
                "actors did not stop in time and were aborted"
            );
        }
        report.aborted.extend(aborted);
        report
    }

    pub(crate) fn next_actor_id(&self) -> ActorId {
        ActorId(self.inner.spawned.fetch_add(1, Ordering::Relaxed) + 1)
    }

    pub(crate) fn register_name<A: Actor>(
        &self,
        name: &Arc<str>,
        actor_ref: &ActorRef<A>,
    ) -> Result<(), SpawnError> {
        match self.inner.names.entry(Arc::clone(name)) {
            dashmap::Entry::Occupied(_) => Err(SpawnError::NameTaken {
                name: name.to_string(),
            }),
            dashmap::Entry::Vacant(slot) => {
                slot.insert(NamedActor {
                    id: actor_ref.id(),
                    cell: Arc::clone(&actor_ref.cell) as Arc<dyn Any + Send + Sync>,
                });
                Ok(())
            }
        }
    }

    /// Frees the actor's name, if it still holds it.
    pub(crate) fn unregister_name(&self, shared: &ActorShared) {
        if let Some(name) = &shared.name {
            self.inner
                .names
                .remove_if(name.as_ref(), |_, entry| entry.id == shared.id);
        }
    }

    /// Reserves an unsupervised actor's entry for shutdown, before its task
    /// is spawned; [`attach_live`](Self::attach_live) adds the task.
    pub(crate) fn reserve_live(&self, actor: Arc<dyn LiveActor>) -> LiveSlot {
        self.inner.live.reserve(actor)
    }

    /// Attaches the spawned task to its entry, so shutdown can abort it.
    pub(crate) fn attach_live(
        &self,
        reserved: LiveSlot,
        task: JoinHandle<()>,
        actor: &dyn LiveActor,
    ) {
        self.inner.live.attach(reserved, task);
        // An actor spawned while shutdown was starting must not be missed.
        if self.is_shutting_down() {
            actor.request_stop();
        }
    }

    /// Drops an ended actor from the live registry.
    pub(crate) fn remove_live(&self, shared: &ActorShared) {
        self.inner.live.remove(shared);
    }

    pub(crate) fn count_late_reply(&self) {
        self.inner.late_replies.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dead_letters_office(&self) -> &DeadLetterOffice {
        &self.inner.dead_letters
    }
}
