//! [`ComponentActor`]: one WebAssembly instance living inside one actor.

mod control;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use airssys_rt::supervisor::ChildHealth;
use airssys_rt::{Actor, ActorContext, ErrorAction, LinkExit};
use futures::future::Either;
use parking_lot::RwLock;

use super::dead_letters::DeadLetterSink;
use super::error::ComponentFailure;
use super::lifecycle::{LifecycleState, SharedLifecycle};
use super::message::{notice, Answer, ComponentMessage, Expects};
use crate::error::GuestError;
use crate::guest::links::EXIT_SUBJECT;
use crate::guest::monitors::DOWN_SUBJECT;
use crate::guest::{GuestHealth, GuestInstance, GuestMessage, GuestModule, InstanceConfig};
use crate::id::ComponentId;
use crate::metrics::TrapKind;
use crate::trace::SpanKind;
use airssys_rt::DeadLetterReason;
use bytes::Bytes;

/// What every incarnation of one component shares: how to build it and
/// where to report.
///
/// The module is swappable: a live upgrade replaces it, so that restarts
/// after the upgrade instantiate the new version. The lock is held only to
/// clone or replace the module (an `Arc`), never across an `.await`.
pub(crate) struct ComponentTemplate {
    pub(crate) id: ComponentId,
    pub(crate) module: RwLock<GuestModule>,
    /// Live upgrades applied so far.
    pub(crate) upgrades: AtomicU64,
    /// Messages for the guest (sends, requests, topic messages, downs and
    /// exits it was handed) and export calls handled successfully, over
    /// every incarnation. Control requests (health, upgrade, snapshot,
    /// restart, stop, faults) are not messages and are not counted.
    pub(crate) handled: AtomicU64,
    /// Messages for the guest and export calls whose handling failed.
    pub(crate) failed: AtomicU64,
    pub(crate) config: InstanceConfig,
    pub(crate) lifecycle: Arc<SharedLifecycle>,
    pub(crate) dead_letters: DeadLetterSink,
    pub(crate) stop_timeout: std::time::Duration,
    /// The host's cluster lease: no message is handed to the guest while
    /// it does not hold.
    pub(crate) lease: Option<airssys_rt::Lease>,
}

/// A component instance as an actor.
///
/// `pre_start` instantiates the module (fresh memory, fresh state) and runs
/// the guest's `init`; `handle_message` delivers messages, invokes exports
/// and answers health checks; `post_stop` runs `cleanup` under the stop
/// timeout and drops the instance, which returns its pooling slot.
///
/// A trap, an epoch timeout, a memory-cap hit or a stack overflow fails the
/// incarnation (never the host): the message is dead-lettered with the
/// reason and the actor asks for a restart, which its supervisor carries out
/// per the component's restart policy. Messages queued behind it stay in the
/// mailbox and reach the next incarnation. A guest that returns an error
/// code for a message is not restarted; a fire-and-forget message it
/// rejected is dead-lettered so it is still accounted for.
pub struct ComponentActor {
    template: Arc<ComponentTemplate>,
    instance: Option<GuestInstance>,
    /// Set by an injected [`Fault::Unhealthy`]: every health check of this
    /// incarnation fails with this reason.
    injected_unhealthy: Option<String>,
}

impl ComponentTemplate {
    /// The module new incarnations are made from.
    pub(crate) fn module(&self) -> GuestModule {
        self.module.read().clone()
    }

    /// Runs `cleanup` on an instance being retired, under the stop timeout;
    /// failures are logged (the instance goes either way).
    async fn retire(&self, mut instance: GuestInstance) {
        if instance.is_failed() {
            return;
        }
        match tokio::time::timeout(self.stop_timeout, instance.cleanup()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(component = %self.id, %error, "cleanup failed"),
            Err(_) => tracing::warn!(
                component = %self.id,
                timeout = ?self.stop_timeout,
                "cleanup did not finish in time; instance dropped"
            ),
        }
        // Dropping the instance frees its store and returns its pool slot.
    }
}

impl std::fmt::Debug for ComponentActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentActor")
            .field("id", &self.template.id)
            .field("instance", &self.instance)
            .field("injected_unhealthy", &self.injected_unhealthy)
            .finish()
    }
}

impl ComponentActor {
    /// An incarnation that will instantiate in `pre_start`, or use the
    /// instance the host already made (the first one, so that spawn reports
    /// instantiation errors with their type).
    pub(crate) fn new(template: Arc<ComponentTemplate>, instance: Option<GuestInstance>) -> Self {
        Self {
            template,
            instance,
            injected_unhealthy: None,
        }
    }

    /// The component's id.
    pub fn id(&self) -> &ComponentId {
        &self.template.id
    }

    /// Hands `message` to the guest's `handle-message`, keeping the guest's
    /// reply only if the sender [`Expects::Reply`]. A failure dead-letters
    /// the message (asked messages also get the error as their answer).
    /// Counted in the component's `handled`/`failed`.
    ///
    /// A function returning an `async` block, not an `async fn`, so the
    /// message is kept once in the future (see `handle_message`).
    ///
    /// `checked`: whether the payload was checked against the component's
    /// limit before it was queued (every message but a topic's, see
    /// [`ComponentMessage::Publish`]).
    #[allow(clippy::manual_async_fn)]
    fn deliver(
        &mut self,
        message: GuestMessage,
        expects: Expects,
        checked: bool,
    ) -> impl Future<Output = Result<Option<Bytes>, ComponentFailure>> + Send + '_ {
        async move {
            let handled = self.deliver_uncounted(message, expects, checked).await;
            let counter = if handled.is_ok() {
                &self.template.handled
            } else {
                &self.template.failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
            handled
        }
    }

    /// [`deliver`](Self::deliver) without the count.
    #[allow(clippy::manual_async_fn)]
    fn deliver_uncounted(
        &mut self,
        message: GuestMessage,
        expects: Expects,
        checked: bool,
    ) -> impl Future<Output = Result<Option<Bytes>, ComponentFailure>> + Send + '_ {
        async move {
            if let Some(lease) = &self.template.lease {
                if !lease.holds() {
                    let failure = ComponentFailure::NotOwner {
                        component: self.template.id.clone(),
                    };
                    self.template.dead_letters.post(
                        &self.template.id,
                        message,
                        DeadLetterReason::NotOwner,
                    );
                    return Err(failure);
                }
            }
            // A `let` of its own: as part of the awaited expression, the
            // `?`'s temporary would be kept across the await. The field,
            // not `instance()`, so the template stays readable beside it.
            let Some(instance) = self.instance.as_mut() else {
                return Err(ComponentFailure::Guest(GuestError::InstanceFailed {
                    component: self.template.id.clone(),
                }));
            };
            let keep_reply = expects == Expects::Reply;
            let started = message.enqueued.handling_start();
            let stats = self.template.config.stats.as_deref();
            if let (Some(start), Some(at), Some(stats)) = (started, message.enqueued.at(), stats) {
                stats.mailbox_wait_seconds.record_sole_writer(
                    start.saturating_duration_since(at),
                    crate::metrics::weight(),
                );
            }
            // The span lives in the instance's store, not in this future.
            let span = crate::trace::start(
                SpanKind::HandleMessage,
                &self.template.id,
                None,
                message.trace.as_ref(),
            );
            let traced = span.is_some();
            if traced {
                instance.hold_span(span, None);
            }
            let handled = instance.handle(&message, keep_reply, checked).await;
            if let (Some(start), Some(stats)) = (started, stats) {
                stats
                    .handle_seconds
                    .record_sole_writer(start.elapsed(), crate::metrics::weight());
            }
            if traced {
                let failure = handled.as_ref().err().map(|e| e as &dyn std::fmt::Display);
                instance.hold_span(None, failure);
            }
            match handled {
                Ok(reply) => Ok(reply),
                Err(error) => {
                    let reason = if error.is_fatal() {
                        DeadLetterReason::HandlerFailed(error.to_string())
                    } else {
                        DeadLetterReason::Rejected(error.to_string())
                    };
                    self.template
                        .dead_letters
                        .post(&self.template.id, message, reason);
                    Err(error.into())
                }
            }
        }
    }

    /// Sends a control request's answer (the caller may have given up: a
    /// closed channel is not an error) and returns what the runtime must
    /// know: `Err` only when the incarnation must end.
    fn answer<T>(
        answer: Answer<T>,
        result: Result<T, GuestError>,
    ) -> Result<Option<Bytes>, ComponentFailure> {
        let fatal = result.as_ref().err().filter(|e| e.is_fatal()).cloned();
        let _ = answer.send(result.map_err(ComponentFailure::Guest));
        match fatal {
            Some(error) => Err(ComponentFailure::Guest(error)),
            None => Ok(None),
        }
    }

    /// An export call's answer: as [`answer`](Self::answer), counted as a
    /// message.
    fn answer_call<T>(
        &self,
        answer: Answer<T>,
        result: Result<T, GuestError>,
    ) -> Result<Option<Bytes>, ComponentFailure> {
        let counter = if result.is_ok() {
            &self.template.handled
        } else {
            &self.template.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Self::answer(answer, result)
    }

    /// The error of a call on an incarnation whose instance is gone.
    fn instance_failed(&self) -> GuestError {
        GuestError::InstanceFailed {
            component: self.template.id.clone(),
        }
    }

    fn instance(&mut self) -> Result<&mut GuestInstance, ComponentFailure> {
        let id = &self.template.id;
        self.instance.as_mut().ok_or_else(|| {
            ComponentFailure::Guest(GuestError::InstanceFailed {
                component: id.clone(),
            })
        })
    }
}

/// The down subject, one `Arc` shared by every down delivered.
fn down_subject() -> Arc<str> {
    static SUBJECT: std::sync::LazyLock<Arc<str>> =
        std::sync::LazyLock::new(|| Arc::from(DOWN_SUBJECT));
    Arc::clone(&SUBJECT)
}

/// The exit subject, one `Arc` shared by every trapped exit delivered.
fn exit_subject() -> Arc<str> {
    static SUBJECT: std::sync::LazyLock<Arc<str>> =
        std::sync::LazyLock::new(|| Arc::from(EXIT_SUBJECT));
    Arc::clone(&SUBJECT)
}

impl Actor for ComponentActor {
    type Message = ComponentMessage;
    /// The guest's reply to a [`ComponentMessage::Request`]; `None` for
    /// everything else (control requests answer on their own channels).
    type Reply = Option<Bytes>;
    type Error = ComponentFailure;

    /// `deliver` dead-letters a message whose handling failed, with the
    /// message and the typed failure; the runtime's copy (without either)
    /// would count the failure twice.
    const DEAD_LETTERS_FAILURES: bool = false;

    async fn pre_start(&mut self, _: &mut ActorContext<Self>) -> Result<(), ComponentFailure> {
        let template = &self.template;
        if self.instance.is_none() {
            template.lifecycle.starting();
            let started = async {
                let module = template.module();
                let mut instance = module.instantiate(template.config.clone()).await?;
                instance.init().await?;
                Ok::<_, ComponentFailure>(instance)
            }
            .await;
            match started {
                Ok(instance) => self.instance = Some(instance),
                Err(error) => {
                    template.lifecycle.set(LifecycleState::Failed);
                    return Err(error);
                }
            }
        }
        template.lifecycle.set(LifecycleState::Ready);
        Ok(())
    }

    /// A send, request or topic message runs `deliver`; the rest (invoke,
    /// downs, health, upgrade, faults, stop) run `control`.
    ///
    /// Two futures rather than one `async fn` over every arm, because the
    /// handler's future sits in every component's task, idle or not: an
    /// `async fn` keeps its argument twice (as captured and as moved into
    /// its body) and a match arm's binding a third time, 160 bytes of
    /// copies of one message per idle component.
    fn handle_message(
        &mut self,
        message: ComponentMessage,
        ctx: &mut ActorContext<Self>,
    ) -> impl Future<Output = Result<Option<Bytes>, ComponentFailure>> + Send {
        match message {
            ComponentMessage::Deliver(message) => {
                Either::Left(self.deliver(message, Expects::Nothing, true))
            }
            ComponentMessage::Request(message) => {
                Either::Left(self.deliver(message, Expects::Reply, true))
            }
            ComponentMessage::Publish(message) => {
                Either::Left(self.deliver(message, Expects::Nothing, false))
            }
            other => Either::Right(self.control(other, ctx)),
        }
    }

    async fn post_stop(&mut self, _: &mut ActorContext<Self>) {
        let template = &self.template;
        let failed = template.lifecycle.get() == LifecycleState::Failed;
        template.lifecycle.set(LifecycleState::Stopping);
        if let Some(instance) = self.instance.take() {
            if !failed {
                template.retire(instance).await;
            }
        }
        template.lifecycle.set(if failed {
            LifecycleState::Failed
        } else {
            LifecycleState::Stopped
        });
    }

    /// The supervisor's health monitor: a component not ready fails;
    /// otherwise `check_health`, the same check the host's
    /// [`ComponentMessage::Health`] runs.
    async fn health_check(&mut self, _: &mut ActorContext<Self>) -> ChildHealth {
        let lifecycle = self.template.lifecycle.get();
        if self.injected_unhealthy.is_none() && lifecycle != LifecycleState::Ready {
            return ChildHealth::Failed(format!("component {} is {lifecycle}", self.template.id));
        }
        match self.check_health().await {
            Ok(GuestHealth::Healthy) => ChildHealth::Healthy,
            Ok(GuestHealth::Degraded(reason)) => ChildHealth::Degraded(reason),
            Ok(GuestHealth::Unhealthy(reason)) => ChildHealth::Failed(reason),
            Err(error @ GuestError::InstanceFailed { .. }) => {
                ChildHealth::Failed(error.to_string())
            }
            Err(error) => ChildHealth::Failed(format!("health check failed: {error}")),
        }
    }

    /// A component linked with this one ended, and this one traps exits
    /// (its spec's `trap_exits`): the guest gets it as a message with
    /// subject [`EXIT_SUBJECT`] and an [`ExitNotice`](crate::ExitNotice)
    /// payload, in mailbox order, handled (and counted) as a message. The
    /// runtime drops it before this is called if the guest unlinked
    /// meanwhile, or if an earlier incarnation made the link.
    async fn handle_link_exit(
        &mut self,
        exit: LinkExit,
        _: &mut ActorContext<Self>,
    ) -> Result<(), ComponentFailure> {
        let message = notice(exit_subject(), super::down::exit_payload(&exit));
        Box::pin(self.deliver(message, Expects::Nothing, true))
            .await
            .map(|_| ())
    }

    fn on_error(&mut self, error: &ComponentFailure, _: &mut ActorContext<Self>) -> ErrorAction {
        if let (ComponentFailure::Guest(guest), Some(stats)) =
            (error, self.template.config.stats.as_deref())
        {
            if let Some(kind) = TrapKind::of(guest) {
                stats.count_trap(kind);
            }
        }
        if matches!(error, ComponentFailure::RestartRequested) {
            tracing::info!(component = %self.template.id, "restart requested");
            ErrorAction::Restart
        } else if error.is_fatal() {
            self.template.lifecycle.set(LifecycleState::Failed);
            tracing::warn!(component = %self.template.id, %error, "component failed; restarting");
            ErrorAction::Restart
        } else {
            ErrorAction::Resume
        }
    }
}
