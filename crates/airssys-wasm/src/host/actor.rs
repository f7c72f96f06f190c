//! [`ComponentActor`]: one WebAssembly instance living inside one actor.

use std::sync::Arc;

use airssys_rt::supervisor::ChildHealth;
use airssys_rt::{Actor, ActorContext, ErrorAction};

use super::dead_letters::{DeadLetterSink, UndeliveredReason};
use super::error::ComponentFailure;
use super::lifecycle::{LifecycleState, SharedLifecycle};
use super::message::{ComponentMessage, ComponentReply};
use crate::error::GuestError;
use crate::guest::{GuestHealth, GuestInstance, GuestModule, InstanceConfig};
use crate::id::ComponentId;

/// What every incarnation of one component shares: how to build it and
/// where to report.
pub(crate) struct ComponentTemplate {
    pub(crate) id: ComponentId,
    pub(crate) module: GuestModule,
    pub(crate) config: InstanceConfig,
    pub(crate) lifecycle: Arc<SharedLifecycle>,
    pub(crate) dead_letters: DeadLetterSink,
    pub(crate) stop_timeout: std::time::Duration,
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
}

impl std::fmt::Debug for ComponentActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentActor")
            .field("id", &self.template.id)
            .field("instance", &self.instance)
            .finish()
    }
}

impl ComponentActor {
    /// An incarnation that will instantiate in `pre_start`, or use the
    /// instance the host already made (the first one, so that spawn reports
    /// instantiation errors with their type).
    pub(crate) fn new(template: Arc<ComponentTemplate>, instance: Option<GuestInstance>) -> Self {
        Self { template, instance }
    }

    /// The component's id.
    pub fn id(&self) -> &ComponentId {
        &self.template.id
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

impl Actor for ComponentActor {
    type Message = ComponentMessage;
    type Reply = ComponentReply;
    type Error = ComponentFailure;

    async fn pre_start(&mut self, _: &mut ActorContext<Self>) -> Result<(), ComponentFailure> {
        let template = &self.template;
        if self.instance.is_none() {
            template.lifecycle.set(LifecycleState::Starting);
            let started = async {
                let mut instance = template.module.instantiate(template.config.clone()).await?;
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

    async fn handle_message(
        &mut self,
        message: ComponentMessage,
        ctx: &mut ActorContext<Self>,
    ) -> Result<ComponentReply, ComponentFailure> {
        match message {
            ComponentMessage::Deliver(message) => {
                let outcome = self.instance()?.handle_message(&message).await;
                match outcome {
                    Ok(reply) => Ok(ComponentReply::Delivered(reply)),
                    Err(error) => {
                        let reason = if error.is_fatal() {
                            UndeliveredReason::ComponentFailed(error.to_string())
                        } else {
                            UndeliveredReason::Rejected(error.to_string())
                        };
                        // Asked messages get the error as their answer; the
                        // dead letter records the message either way.
                        self.template
                            .dead_letters
                            .post(&self.template.id, message, reason);
                        Err(error.into())
                    }
                }
            }
            ComponentMessage::Invoke { export, args } => {
                let results = self.instance()?.invoke(&export, &args).await?;
                Ok(ComponentReply::Invoked(results))
            }
            ComponentMessage::Health => {
                // A check that failed the instance (a `health` export that
                // trapped or never returned and was interrupted at the
                // execution timeout) restarts it now, so the next message
                // meets a fresh instance instead of a dead one.
                let health = self.instance()?.checked_health().await?;
                Ok(ComponentReply::Health(health))
            }
            ComponentMessage::Shutdown => {
                ctx.stop();
                Ok(ComponentReply::ShuttingDown)
            }
        }
    }

    async fn post_stop(&mut self, _: &mut ActorContext<Self>) {
        let template = &self.template;
        let failed = template.lifecycle.get() == LifecycleState::Failed;
        template.lifecycle.set(LifecycleState::Stopping);
        if let Some(mut instance) = self.instance.take() {
            if !failed && !instance.is_failed() {
                match tokio::time::timeout(template.stop_timeout, instance.cleanup()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::warn!(component = %template.id, %error, "cleanup failed")
                    }
                    Err(_) => tracing::warn!(
                        component = %template.id,
                        timeout = ?template.stop_timeout,
                        "cleanup did not finish in time; instance dropped"
                    ),
                }
            }
            // Dropping the instance frees its store and returns its pool slot.
        }
        template.lifecycle.set(if failed {
            LifecycleState::Failed
        } else {
            LifecycleState::Stopped
        });
    }

    async fn health_check(&mut self, _: &mut ActorContext<Self>) -> ChildHealth {
        let lifecycle = self.template.lifecycle.get();
        if lifecycle != LifecycleState::Ready {
            return ChildHealth::Failed(format!("component {} is {lifecycle}", self.template.id));
        }
        match self.instance.as_mut() {
            None => ChildHealth::Failed(format!("component {} has no instance", self.template.id)),
            Some(instance) => match instance.health().await {
                GuestHealth::Healthy => ChildHealth::Healthy,
                GuestHealth::Degraded(reason) => ChildHealth::Degraded(reason),
                GuestHealth::Unhealthy(reason) => ChildHealth::Failed(reason),
            },
        }
    }

    fn on_error(&mut self, error: &ComponentFailure, _: &mut ActorContext<Self>) -> ErrorAction {
        if error.is_fatal() {
            self.template.lifecycle.set(LifecycleState::Failed);
            tracing::warn!(component = %self.template.id, %error, "component failed; restarting");
            ErrorAction::Restart
        } else {
            ErrorAction::Resume
        }
    }
}
