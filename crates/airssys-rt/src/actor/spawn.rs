//! [`SpawnBuilder`]: the one way an actor comes to life.

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use super::inbox::Inbox;
use super::incarnation::{InPlace, Incarnation};
use super::live::UnsupervisedActor;
use super::shared::{ActorShared, LiveActor};
use super::supervised::ActorChild;
use super::{Actor, ActorContext, ActorRef, SpawnError};
use crate::mailbox::{Mailbox, MailboxConfig};
use crate::supervisor::{Child, ChildSpec, ExitReason, SupervisorRef};
use crate::system::ActorSystem;

/// Configures and spawns one actor; created by
/// [`ActorSystem::spawn`](crate::ActorSystem::spawn). Await it to spawn.
///
/// The factory builds the actor's state; it is called once at spawn and again
/// for each restart, so every incarnation starts fresh.
///
/// Awaiting runs `pre_start` in the caller's task, then starts the actor's
/// loop; it returns once the actor is ready to receive (messages sent before
/// the loop first runs wait in the mailbox). Costs one task, one mailbox and
/// one shared record per actor.
#[must_use = "a SpawnBuilder does nothing until awaited"]
pub struct SpawnBuilder<A, F> {
    pub(crate) system: ActorSystem,
    pub(crate) factory: F,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) mailbox: MailboxConfig,
    pub(crate) supervision: Option<(SupervisorRef, ChildSpec)>,
    pub(crate) trap_exits: bool,
    pub(crate) _actor: PhantomData<fn() -> A>,
}

impl<A, F> std::fmt::Debug for SpawnBuilder<A, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpawnBuilder")
            .field("name", &self.name)
            .field("mailbox", &self.mailbox)
            .field("supervised", &self.supervision.is_some())
            .field("trap_exits", &self.trap_exits)
            .finish_non_exhaustive()
    }
}

impl<A, F> SpawnBuilder<A, F>
where
    A: Actor,
    F: FnMut() -> A + Send + 'static,
{
    pub(crate) fn new(system: ActorSystem, factory: F) -> Self {
        Self {
            system,
            factory,
            name: None,
            mailbox: MailboxConfig::default(),
            supervision: None,
            trap_exits: false,
            _actor: PhantomData,
        }
    }

    /// Registers the actor under `name` for [`ActorSystem::lookup`](crate::ActorSystem::lookup).
    /// Names are unique among live actors. Default: unnamed.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A bounded mailbox of `capacity` messages (at least 1).
    /// Default: [`DEFAULT_MAILBOX_CAPACITY`](crate::mailbox::DEFAULT_MAILBOX_CAPACITY).
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox = MailboxConfig::Bounded(capacity);
        self
    }

    /// Any mailbox shape, bounded or unbounded.
    pub fn mailbox(mut self, config: MailboxConfig) -> Self {
        self.mailbox = config;
        self
    }

    /// Whether the actor traps exits from the start: a linked actor's end
    /// then arrives as a [`LinkExit`](crate::LinkExit) at
    /// [`Actor::handle_link_exit`] instead of stopping this actor when
    /// abnormal. Kept across restarts; changed later with
    /// [`ActorContext::set_trap_exits`]. Default: `false`.
    pub fn trap_exits(mut self, trap: bool) -> Self {
        self.trap_exits = trap;
        self
    }

    /// Puts the actor under `supervisor` as a child described by `spec`
    /// (restart policy, shutdown policy, health checks). The spawn returns
    /// once the supervisor has started it. The returned handle stays valid
    /// across restarts: the mailbox belongs to the supervised slot, so
    /// messages queued while the actor restarts reach the next incarnation.
    /// Default: unsupervised (a failing actor restarts itself in place).
    pub fn supervisor(mut self, supervisor: &SupervisorRef, spec: ChildSpec) -> Self {
        self.supervision = Some((supervisor.clone(), spec));
        self
    }

    /// Makes the actor a [`Child`] for a supervisor that is not started yet,
    /// without starting it: pass the child, with the same `spec`, to
    /// [`SupervisorBuilder::child`](crate::supervisor::SupervisorBuilder::child).
    /// The supervisor starts it (`pre_start` runs then) in order with its
    /// other initial children. `spec`'s restart policy tells the actor which
    /// of its exits are final.
    ///
    /// The handle is usable at once: messages sent before the start wait in
    /// the mailbox. If the supervisor never starts the actor (its start
    /// failed on an earlier child) or lets go of it, the mailbox is closed
    /// and later sends fail with `ActorStopped`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use airssys_rt::{Actor, ActorContext, ActorSystem};
    /// # use airssys_rt::supervisor::{ChildSpec, SupervisorNode};
    /// # #[derive(Default)]
    /// # struct Echo;
    /// # impl Actor for Echo {
    /// #     type Message = String;
    /// #     type Reply = String;
    /// #     type Error = std::convert::Infallible;
    /// #     async fn handle_message(&mut self, m: String, _: &mut ActorContext<Self>) -> Result<String, Self::Error> {
    /// #         Ok(m)
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let system = ActorSystem::new();
    /// let spec = ChildSpec::new("echo");
    /// let (echo, child) = system.spawn(|| Echo).into_child(&spec).unwrap();
    /// let root = system
    ///     .try_start_supervisor(SupervisorNode::builder("root").child(spec, child))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(echo.ask("hi".to_owned(), Duration::from_secs(1)).await.unwrap(), "hi");
    /// root.shutdown(Duration::from_secs(1)).await.unwrap();
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`SpawnError::NameTaken`] if the name is taken,
    /// [`SpawnError::ShuttingDown`] once the system shuts down.
    pub fn into_child(self, spec: &ChildSpec) -> Result<(ActorRef<A>, Box<dyn Child>), SpawnError> {
        if self.system.is_shutting_down() {
            return Err(SpawnError::ShuttingDown);
        }
        let (actor_ref, mailbox) = self.prepare()?;
        let child = ActorChild::new(
            self.system,
            actor_ref.clone(),
            mailbox,
            self.factory,
            spec.restart_policy(),
        );
        Ok((actor_ref, Box::new(child)))
    }

    /// Creates the mailbox, the shared record and the handle, and reserves
    /// the name. Shared by the unsupervised and supervised spawn paths.
    pub(crate) fn prepare(&self) -> Result<(ActorRef<A>, Inbox<A>), SpawnError> {
        let id = self.system.next_actor_id();
        let actor_ref = ActorRef::new(
            ActorShared::new(id, self.name.clone()),
            Mailbox::new(self.mailbox),
        );
        let inbox = Inbox::new();
        if self.trap_exits {
            actor_ref
                .shared()
                .trap_exits
                .store(true, std::sync::atomic::Ordering::Release);
        }
        if let Some(name) = &self.name {
            self.system.register_name(name, &actor_ref)?;
        }
        Ok((actor_ref, inbox))
    }

    async fn spawn_supervised(
        self,
        supervisor: SupervisorRef,
        spec: ChildSpec,
    ) -> Result<ActorRef<A>, SpawnError> {
        if self.system.is_shutting_down() {
            return Err(SpawnError::ShuttingDown);
        }
        let (actor_ref, mailbox) = self.prepare()?;
        let restart = spec.restart_policy();
        let child = ActorChild::new(
            self.system.clone(),
            actor_ref.clone(),
            mailbox,
            self.factory,
            restart,
        );
        // On failure the supervisor drops the child: its name is freed and
        // its mailbox closed.
        match supervisor.add_child(spec, Box::new(child)).await {
            Ok(_) => Ok(actor_ref),
            Err(error) => Err(SpawnError::Supervisor {
                actor: actor_ref.shared().label(),
                reason: error.to_string(),
            }),
        }
    }

    /// The synchronous part of an unsupervised spawn: the mailbox, record,
    /// handle, name, the actor's first instance and its context. Done before
    /// the boxed future is made, so the box holds only the actor and what
    /// awaiting `pre_start` needs.
    pub(crate) fn prepare_unsupervised(
        self,
    ) -> Result<(ActorRef<A>, UnsupervisedActor<A, F>), SpawnError> {
        if self.system.is_shutting_down() {
            return Err(SpawnError::ShuttingDown);
        }
        let (actor_ref, inbox) = self.prepare()?;
        let SpawnBuilder {
            system,
            mut factory,
            ..
        } = self;
        let incarnation = Incarnation {
            actor: factory(),
            ctx: ActorContext::new(actor_ref.clone(), system),
            mailbox: inbox,
            restart: InPlace(factory),
        };
        Ok((actor_ref, UnsupervisedActor::new(incarnation)))
    }
}

/// Runs `pre_start` in the caller's task, then starts the actor's task.
/// Dropped before it finishes, the actor is cleaned up as a cancelled
/// spawn (its name freed, its mailbox closed).
// Not an `async fn`, which would copy its arguments into the future twice.
#[allow(clippy::manual_async_fn)]
fn start_unsupervised<A, F>(
    actor_ref: ActorRef<A>,
    mut actor: UnsupervisedActor<A, F>,
) -> impl Future<Output = Result<ActorRef<A>, SpawnError>> + Send + 'static
where
    A: Actor,
    F: FnMut() -> A + Send + 'static,
{
    async move {
        let Incarnation {
            actor: state, ctx, ..
        } = &mut actor.incarnation;
        if let Err(error) = state.pre_start(ctx).await {
            let label = actor_ref.shared().label();
            // Monitors or links made in pre_start end with it.
            actor_ref.shared().end_incarnation(&ExitReason::Failed(
                format!("pre_start failed: {error}").into(),
            ));
            // Dropping it closes the mailbox, dead-letters what pre_start
            // may have queued, and frees the name.
            actor.start_failed();
            return Err(SpawnError::PreStartFailed {
                actor: label,
                reason: error.to_string(),
            });
        }
        let system = actor.incarnation.ctx.system().clone();
        // The registry entry is made before the task exists: afterwards the
        // spawner does not touch the actor's record, which the new task may
        // already be using on another core.
        let reserved = system.reserve_live(Arc::clone(&actor_ref.cell) as Arc<dyn LiveActor>);
        let handle = tokio::spawn(actor.run());
        system.attach_live(reserved, handle, actor_ref.cell.as_ref());
        Ok(actor_ref)
    }
}

impl<A, F> IntoFuture for SpawnBuilder<A, F>
where
    A: Actor,
    F: FnMut() -> A + Send + 'static,
{
    type Output = Result<ActorRef<A>, SpawnError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(mut self) -> Self::IntoFuture {
        match self.supervision.take() {
            Some((supervisor, spec)) => Box::pin(self.spawn_supervised(supervisor, spec)),
            None => match self.prepare_unsupervised() {
                Ok((actor_ref, actor)) => Box::pin(start_unsupervised(actor_ref, actor)),
                Err(error) => Box::pin(std::future::ready(Err(error))),
            },
        }
    }
}
