//! Operator control of one component, apart from its data: export calls,
//! health, injected faults, stop and restart. Each is a control request
//! with its own typed answer ([`control`]), never a message its guest
//! counts.

use std::time::Duration;

use airssys_rt::supervisor::SupervisorError;
use airssys_rt::ActorRef;
use tokio::sync::oneshot;

use super::actor::ComponentActor;
use super::error::HostError;
use super::facade::ComponentHost;
use super::fault::Fault;
use super::lifecycle::LifecycleState;
use super::message::{Answer, ComponentMessage};
use super::registry::RegistryEntry;
use crate::guest::{ComponentValue, GuestHealth, WasmValue};

/// A component's health: its lifecycle state and its guest's own answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComponentHealth {
    /// Lifecycle state.
    pub state: LifecycleState,
    /// The guest's `health` export (Healthy when not exported).
    pub guest: GuestHealth,
}

impl ComponentHost {
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
        invoke(id, &entry.actor, export, args, timeout).await
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
        invoke_dynamic(id, &entry.actor, export, args, timeout).await
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
    /// mailbox are dead-lettered. A component that ended on its own (see
    /// [`ComponentEnd`](super::ComponentEnd)) is removed from the registry
    /// the same way.
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`], [`HostError::Supervision`].
    pub async fn stop(&self, id: &str) -> Result<(), HostError> {
        let entry = self.take_entry(id)?;
        self.retire(id, entry).await
    }

    /// Takes component `id`, whose entry was just removed from the
    /// registry, out of the host: its topic subscriptions (what its topics
    /// had queued for it is delivered or dead-lettered first), its
    /// component subject, then its slot in its supervisor (`cleanup` runs
    /// if it is running; what is left in its mailbox is dead-lettered, and
    /// its actor name is free again). The one path of [`stop`](Self::stop)
    /// and of a spawn that replaces a component that is over.
    ///
    /// # Errors
    /// [`HostError::Supervision`] when its supervisor could not let go of
    /// it; not when a component that was over is gone from its supervisor
    /// already (a `Temporary` one, or one of a group that is gone).
    pub(super) async fn retire(&self, id: &str, entry: RegistryEntry) -> Result<(), HostError> {
        self.inner.topics.unsubscribe_all(id);
        if let Some(remote) = &self.inner.remote {
            remote.remove(id);
        }
        let over = entry.is_over();
        let result = entry.group.terminate_child(id).await;
        entry.template.lifecycle.set(LifecycleState::Stopped);
        match result {
            Ok(()) => Ok(()),
            Err(SupervisorError::ChildNotFound { .. } | SupervisorError::NotRunning { .. })
                if over =>
            {
                Ok(())
            }
            Err(source) => Err(HostError::Supervision {
                component: id.into(),
                source: Box::new(source),
            }),
        }
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
}

/// Calls export `export` of component `id`, whose actor is `actor`, with
/// typed arguments: the one path of [`ComponentHost::invoke`] and
/// [`ComponentRef::invoke`](super::ComponentRef::invoke).
///
/// # Errors
/// As [`ComponentHost::invoke`].
pub(super) async fn invoke(
    id: &str,
    actor: &ActorRef<ComponentActor>,
    export: &str,
    args: Vec<WasmValue>,
    timeout: Duration,
) -> Result<Vec<WasmValue>, HostError> {
    let export = export.to_owned();
    control(id, actor, timeout, |answer| ComponentMessage::Invoke {
        export,
        args,
        answer,
    })
    .await
}

/// As [`invoke`], with dynamic values: the one path of
/// [`ComponentHost::invoke_dynamic`] and
/// [`ComponentRef::invoke_dynamic`](super::ComponentRef::invoke_dynamic).
///
/// # Errors
/// As [`ComponentHost::invoke_dynamic`].
pub(super) async fn invoke_dynamic(
    id: &str,
    actor: &ActorRef<ComponentActor>,
    export: &str,
    args: Vec<ComponentValue>,
    timeout: Duration,
) -> Result<Vec<ComponentValue>, HostError> {
    let export = export.to_owned();
    control(id, actor, timeout, |answer| {
        ComponentMessage::InvokeDynamic {
            export,
            args,
            answer,
        }
    })
    .await
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
