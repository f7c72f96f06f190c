//! [`ComponentRef`]: a handle to one component of this host, which never
//! looks it up again, and [`ComponentHost::component`], which makes one.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::deliver::{Delivery, Local};
use super::error::HostError;
use super::facade::ComponentHost;
use super::message::ComponentMessage;
use super::operate::{invoke, invoke_dynamic, ComponentHealth};
use crate::guest::{ComponentValue, WasmValue};
use crate::id::ComponentId;

impl ComponentHost {
    /// A handle to a running component, O(1).
    pub fn component(&self, id: &str) -> Option<ComponentRef> {
        let entry = self.inner.registry.get(id)?;
        Some(ComponentRef {
            id: ComponentId::new(id),
            target: Local {
                actor: entry.actor,
                max_message_bytes: entry.max_message_bytes,
                lifecycle: Arc::clone(&entry.template.lifecycle),
            },
            host: self.clone(),
        })
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
        invoke(self.id.as_str(), &self.target.actor, export, args, timeout).await
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
        invoke_dynamic(self.id.as_str(), &self.target.actor, export, args, timeout).await
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
