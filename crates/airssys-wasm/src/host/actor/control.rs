//! The component actor's control path: every message but a send or
//! request (export calls, monitors' down notices, the operator's and the
//! host's control requests), each answered on its own typed channel; the
//! health check and the live upgrade.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use airssys_rt::ActorContext;
use bytes::Bytes;

use super::{down_subject, ComponentActor};
use crate::error::GuestError;
use crate::guest::{GuestHealth, GuestModule};
use crate::host::error::ComponentFailure;
use crate::host::fault::Fault;
use crate::host::message::{notice, Answer, ComponentMessage, Expects, UpgradeOutcome};

impl ComponentActor {
    /// Replaces the running instance by one of `module`, between two
    /// messages. The new instance is made, `init`ed and (when the old one
    /// exports `snapshot` and the new one `restore`) given the old one's
    /// state before the old one is touched beyond `snapshot`; only then
    /// does the old one's `cleanup` run and the swap happen. Any failure
    /// before the swap drops the new instance and leaves the old one
    /// serving, as [`ComponentFailure::UpgradeRejected`] (not fatal), except
    /// a trap in the old instance's `snapshot`, which fails the old
    /// incarnation like any trap (it restarts from the old module).
    async fn upgrade(&mut self, module: GuestModule) -> Result<UpgradeOutcome, ComponentFailure> {
        let template = Arc::clone(&self.template);
        let rejected = |e: ComponentFailure| ComponentFailure::UpgradeRejected(Box::new(e));
        self.instance()?;
        let mut new = module
            .instantiate(template.config.clone())
            .await
            .map_err(|e| rejected(e.into()))?;
        new.init().await.map_err(|e| rejected(e.into()))?;
        let old = self.instance()?;
        let state_bytes = if old.state_exports().0 && new.state_exports().1 {
            let state = match old.snapshot().await {
                Ok(state) => state.unwrap_or_default(),
                Err(error) if error.is_fatal() => return Err(error.into()),
                Err(error) => return Err(rejected(error.into())),
            };
            new.restore(&state).await.map_err(|e| rejected(e.into()))?;
            Some(state.len())
        } else {
            None
        };
        // The component goes on under a new version: so do its monitors.
        new.adopt_monitors(old);
        if let Some(old) = self.instance.replace(new) {
            template.retire(old).await;
        }
        *template.module.write() = module;
        let upgrades = template.upgrades.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(component = %template.id, upgrades, ?state_bytes, "upgraded");
        Ok(UpgradeOutcome {
            state_bytes,
            upgrades,
        })
    }

    /// The one health check, for the host's
    /// [`ComponentMessage::Health`] and the supervisor's health monitor: an
    /// injected [`Fault::Unhealthy`], else the guest's own answer. `Err`
    /// when there is no instance, or the check failed it (a `health`
    /// export that trapped, or never returned and was interrupted at the
    /// execution timeout).
    pub(super) async fn check_health(&mut self) -> Result<GuestHealth, GuestError> {
        if let Some(reason) = &self.injected_unhealthy {
            return Ok(GuestHealth::Unhealthy(reason.clone()));
        }
        match self.instance.as_mut() {
            Some(instance) => Box::pin(instance.checked_health()).await,
            None => Err(GuestError::InstanceFailed {
                component: self.template.id.clone(),
            }),
        }
    }

    /// Every message but a send or request: export calls, the down
    /// notices of the guest's monitors, and the operator's and the host's
    /// control requests, each answered on its own typed channel.
    pub(super) async fn control(
        &mut self,
        message: ComponentMessage,
        ctx: &mut ActorContext<Self>,
    ) -> Result<Option<Bytes>, ComponentFailure> {
        match message {
            // `handle_message` sends these to `deliver` itself; boxed, so
            // this future does not hold room for a delivery's.
            ComponentMessage::Deliver(message) => {
                Box::pin(self.deliver(message, Expects::Nothing, true)).await
            }
            ComponentMessage::Request(message) => {
                Box::pin(self.deliver(message, Expects::Reply, true)).await
            }
            ComponentMessage::Publish(message) => {
                Box::pin(self.deliver(message, Expects::Nothing, false)).await
            }
            // The rare arms run boxed: a future awaited inline here is
            // stored in every idle component's task (the largest arm sets
            // the size), and upgrade and invoke are each kilobytes.
            ComponentMessage::Invoke {
                export,
                args,
                answer,
            } => {
                let results = match self.instance.as_mut() {
                    Some(instance) => Box::pin(instance.invoke(&export, &args)).await,
                    None => Err(self.instance_failed()),
                };
                self.answer_call(answer, results)
            }
            ComponentMessage::InvokeDynamic {
                export,
                args,
                answer,
            } => {
                let results = match self.instance.as_mut() {
                    Some(instance) => Box::pin(instance.invoke_dynamic(&export, &args)).await,
                    None => Err(self.instance_failed()),
                };
                self.answer_call(answer, results)
            }
            ComponentMessage::Health(answer) => Box::pin(self.answer_health(answer)).await,
            ComponentMessage::Upgrade { module, answer } => {
                Box::pin(self.answer_upgrade(module, answer)).await
            }
            ComponentMessage::Snapshot(answer) => {
                let state = match self.instance.as_mut() {
                    Some(instance) if instance.state_exports().0 => {
                        Box::pin(instance.snapshot()).await
                    }
                    Some(_) => Ok(None),
                    None => Err(self.instance_failed()),
                };
                Self::answer(answer, state)
            }
            ComponentMessage::Restart(done) => {
                let _ = done.send(());
                // The actor runtime restarts an incarnation that ends with
                // an error its `on_error` answers `Restart` to: this one,
                // which never reaches the caller (it was answered above).
                Err(ComponentFailure::RestartRequested)
            }
            ComponentMessage::Shutdown => {
                ctx.stop();
                Ok(None)
            }
            ComponentMessage::Inject(Fault::Crash(reason)) => Err(ComponentFailure::Injected {
                component: self.template.id.clone(),
                reason,
            }),
            ComponentMessage::Inject(Fault::Unhealthy(reason)) => {
                self.injected_unhealthy = Some(reason);
                Ok(None)
            }
            ComponentMessage::Down(down) => {
                let held = self
                    .instance
                    .as_mut()
                    .is_some_and(|instance| instance.accept_down(down.monitor));
                if !held {
                    // Demonitored, or made by an earlier instance: not a
                    // message for the guest, so not counted as one.
                    return Ok(None);
                }
                let message = notice(down_subject(), down.payload());
                Box::pin(self.deliver(message, Expects::Nothing, true)).await
            }
        }
    }

    /// Answers a health check. A check that failed the instance answers
    /// unhealthy with the cause, and restarts it now, so the next message
    /// meets a fresh instance instead of a dead one.
    async fn answer_health(
        &mut self,
        answer: Answer<GuestHealth>,
    ) -> Result<Option<Bytes>, ComponentFailure> {
        let checked = self.check_health().await;
        let fatal = checked.as_ref().err().filter(|e| e.is_fatal()).cloned();
        let health = checked.unwrap_or_else(|e| GuestHealth::Unhealthy(e.to_string()));
        let _ = answer.send(Ok(health));
        match fatal {
            Some(error) => Err(ComponentFailure::Guest(error)),
            None => Ok(None),
        }
    }

    /// Upgrades to `module` and answers with what it did. A trap in the
    /// old instance's `snapshot` ends it: the caller gets the cause, the
    /// supervisor a restart; any other refusal leaves the instance as it
    /// was.
    async fn answer_upgrade(
        &mut self,
        module: GuestModule,
        answer: Answer<UpgradeOutcome>,
    ) -> Result<Option<Bytes>, ComponentFailure> {
        match self.upgrade(module).await {
            Ok(outcome) => {
                let _ = answer.send(Ok(outcome));
                Ok(None)
            }
            Err(ComponentFailure::Guest(error)) if error.is_fatal() => {
                let _ = answer.send(Err(ComponentFailure::Guest(error.clone())));
                Err(ComponentFailure::Guest(error))
            }
            Err(rejected) => {
                let _ = answer.send(Err(rejected));
                Ok(None)
            }
        }
    }
}
