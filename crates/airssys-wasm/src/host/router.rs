//! [`Router`]: the host side of the guests' `airssys` imports — sends and
//! requests go to component mailboxes, publishes go to the broker.

use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{BrokerError, MessageBroker};
use bytes::Bytes;

use super::deliver::Delivery;
use super::durable::DurableSends;
use super::message::TopicMessage;
use super::monitor::monitor_for_guest;
use super::registry::ComponentRegistry;
use super::remote::RemoteRoutes;
use super::topics::TopicRouter;
use crate::guest::monitors::GuestMonitor;
use crate::guest::{BoxFuture, HostCallError, HostServices};
use crate::id::ComponentId;

/// Routes guest host calls. Allow-lists were already checked by the import
/// layer before any of these runs.
pub(crate) struct Router {
    pub(crate) registry: Arc<ComponentRegistry>,
    pub(crate) broker: Arc<dyn MessageBroker<TopicMessage>>,
    /// Set when the broker is distributed: ids not in the registry are
    /// tried on other hosts through it.
    pub(crate) remote: Option<Arc<RemoteRoutes>>,
    /// Where sends and publishes to durable targets go, if anywhere.
    pub(crate) durable: Option<Arc<dyn DurableSends>>,
    /// Where sends and requests go: the host's one delivery path.
    pub(crate) delivery: Arc<Delivery>,
    /// The host's topic table, which guests' run-time subscriptions change.
    pub(crate) topics: Arc<TopicRouter>,
}

impl HostServices for Router {
    /// Never waits: a full target mailbox is `MAILBOX_FULL` for the guest
    /// to handle.
    fn send(&self, from: &ComponentId, to: &str, payload: Bytes) -> Result<(), HostCallError> {
        self.delivery
            .try_send(from, to, payload)
            .map_err(HostCallError::from)
    }

    fn publish(
        &self,
        from: &ComponentId,
        subject: &str,
        payload: Bytes,
    ) -> Result<(), HostCallError> {
        if let Some(durable) = self
            .durable
            .as_ref()
            .filter(|d| d.is_durable_topic(subject))
        {
            return durable
                .publish(Some(from), subject, payload)
                .map(|_| ())
                .map_err(|e| HostCallError::Unavailable(e.to_string()));
        }
        let message = TopicMessage {
            sender: Some(from.clone()),
            payload,
            trace: crate::trace::outgoing(),
        };
        match self.broker.publish(subject, message) {
            Ok(_) => Ok(()),
            Err(BrokerError::InvalidSubject { .. }) => Err(HostCallError::Denied),
            Err(other) => Err(HostCallError::Unavailable(other.to_string())),
        }
    }

    /// The requester's guest is suspended (not its thread) until the reply,
    /// the timeout (the delivery's one timer), or the target's failure.
    fn request(
        &self,
        from: &ComponentId,
        to: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<Result<Bytes, HostCallError>> {
        let reply = self.delivery.request(Some(from), to, payload, timeout);
        Box::pin(async move {
            reply
                .await
                .map(Option::unwrap_or_default)
                .map_err(HostCallError::from)
        })
    }

    /// Never waits. Between components of this host only.
    fn link(&self, from: &ComponentId, target: &str) -> Result<(), HostCallError> {
        super::link::link(&self.registry, from.as_str(), target, self.remote.is_some())
    }

    fn unlink(&self, from: &ComponentId, target: &str) -> Result<bool, HostCallError> {
        Ok(super::link::unlink(&self.registry, from.as_str(), target))
    }

    /// Never waits; an id no component has gets a `noproc` down at once
    /// (with a distributed broker: when no host answers for it).
    fn monitor(&self, from: &ComponentId, target: &str) -> Result<GuestMonitor, HostCallError> {
        monitor_for_guest(&self.registry, from, target, self.remote.as_ref())
    }

    /// Never waits (a pattern new to this host subscribes the host to the
    /// broker, which queues it).
    fn subscribe(&self, from: &ComponentId, pattern: &str) -> Result<(), HostCallError> {
        let Some(route) = self.registry.route(from.as_str()) else {
            // Its first instance is still in its `init`: kept, and applied
            // at its registration. Out of the registry otherwise (stopping,
            // handed to another host): unavailable.
            if self.topics.keep_pending(from, pattern) {
                return Ok(());
            }
            return Err(HostCallError::Unavailable(format!(
                "component {from} is not running on this host any more: not subscribed to `{pattern}`"
            )));
        };
        self.topics
            .add(pattern, from.clone(), route.actor)
            .map(|_| ())
            .map_err(|e| HostCallError::Unavailable(e.to_string()))
    }

    fn unsubscribe(
        &self,
        from: &ComponentId,
        pattern: &str,
    ) -> BoxFuture<Result<bool, HostCallError>> {
        let topics = Arc::clone(&self.topics);
        let (from, pattern) = (from.clone(), pattern.to_owned());
        Box::pin(async move { Ok(topics.leave(from.as_str(), &pattern).await) })
    }
}
