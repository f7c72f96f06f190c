//! [`Router`]: the host side of the guests' `airssys` imports — sends and
//! requests go to component mailboxes, publishes go to the broker.

use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{BrokerError, MessageBroker};
use airssys_rt::{AskError, TrySendError};
use bytes::Bytes;

use super::durable::DurableSends;
use super::message::{ComponentMessage, ComponentReply, TopicMessage};
use super::monitor::monitor_for_guest;
use super::registry::ComponentRegistry;
use super::remote::RemoteRoutes;
use super::topics::TopicRouter;
use crate::guest::host_imports::{BoxFuture, HostCallError, HostServices};
use crate::guest::monitors::GuestMonitor;
use crate::guest::GuestMessage;
use crate::id::ComponentId;

/// Routes guest host calls. Allow-lists were already checked by the import
/// layer before any of these runs.
pub(crate) struct Router {
    pub(crate) registry: Arc<ComponentRegistry>,
    pub(crate) broker: Arc<dyn MessageBroker<TopicMessage>>,
    /// Set when the broker is distributed: ids not in the registry are
    /// tried on other hosts through it.
    pub(crate) remote: Option<Arc<RemoteRoutes>>,
    /// Where sends to durable components go, if anywhere.
    pub(crate) durable: Option<Arc<dyn DurableSends>>,
    /// The host's topic table, which guests' run-time subscriptions change.
    pub(crate) topics: Arc<TopicRouter>,
}

impl HostServices for Router {
    /// Never waits: a full target mailbox is `MAILBOX_FULL` for the guest to handle.
    fn send(&self, from: &ComponentId, to: &str, payload: Bytes) -> Result<(), HostCallError> {
        if let Some(durable) = self.durable.as_ref().filter(|d| d.is_durable(to)) {
            return durable
                .send(Some(from), to, payload)
                .map_err(|e| HostCallError::Unavailable(e.to_string()));
        }
        // Read in place under the registry's read lock (never waits): no
        // clone of the entry per message.
        let mut payload = Some(payload);
        let sent = self.registry.with(to, |target| {
            let payload = payload.take().unwrap_or_default();
            if payload.len() > target.max_message_bytes {
                return Err(HostCallError::TooLarge);
            }
            let message = GuestMessage {
                sender: Some(from.clone()),
                subject: None,
                correlation_id: None,
                redelivered: false,
                payload,
                enqueued: crate::metrics::Enqueued::now(),
                trace: crate::trace::outgoing(),
            };
            target
                .actor
                .try_tell(ComponentMessage::Deliver(message))
                .map_err(|e| match e {
                    TrySendError::MailboxFull { .. } => HostCallError::MailboxFull,
                    _ => HostCallError::NoSuchTarget,
                })
        });
        match (sent, &self.remote, payload) {
            (Some(sent), _, _) => sent,
            (None, Some(remote), Some(payload)) => {
                remote.send(from, to, payload).map_err(remote_call_error)
            }
            (None, _, _) => Err(HostCallError::NoSuchTarget),
        }
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
    /// the timeout, or the target's failure.
    fn request(
        &self,
        from: &ComponentId,
        to: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<Result<Bytes, HostCallError>> {
        let target = self.registry.route(to);
        if let (None, Some(remote)) = (&target, &self.remote) {
            let reply = remote.request(Some(from), to, payload, timeout);
            return Box::pin(async move { reply.await.map_err(remote_call_error) });
        }
        let from = from.clone();
        let trace = crate::trace::outgoing();
        Box::pin(async move {
            let target = target.ok_or(HostCallError::NoSuchTarget)?;
            if payload.len() > target.max_message_bytes {
                return Err(HostCallError::TooLarge);
            }
            let message = GuestMessage {
                sender: Some(from),
                subject: None,
                correlation_id: Some(next_correlation_id()),
                redelivered: false,
                payload,
                enqueued: crate::metrics::Enqueued::now(),
                trace,
            };
            match target
                .actor
                .ask(ComponentMessage::Deliver(message), timeout)
                .await
            {
                Ok(ComponentReply::Delivered(reply)) => Ok(reply.unwrap_or_default()),
                Ok(other) => Err(HostCallError::Unavailable(format!(
                    "unexpected reply {other:?}"
                ))),
                Err(AskError::Timeout { .. }) => Err(HostCallError::Timeout),
                Err(AskError::ActorStopped { .. }) => Err(HostCallError::NoSuchTarget),
                Err(AskError::HandlerFailed { error, .. }) => {
                    Err(HostCallError::Unavailable(error.to_string()))
                }
                Err(other) => Err(HostCallError::Unavailable(other.to_string())),
            }
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
        super::subscriptions::guest_subscribe(&self.registry, &self.topics, from, pattern)
    }

    fn unsubscribe(
        &self,
        from: &ComponentId,
        pattern: &str,
    ) -> BoxFuture<Result<bool, HostCallError>> {
        super::subscriptions::guest_unsubscribe(&self.topics, from, pattern)
    }
}

/// A process-unique correlation id for a request.
pub(crate) fn next_correlation_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// What a guest sees when the broker could not carry a call to another
/// host: an id no host runs is `NO_SUCH_TARGET`, as it is locally.
fn remote_call_error(error: BrokerError) -> HostCallError {
    match error {
        BrokerError::NoResponders { .. } | BrokerError::InvalidSubject { .. } => {
            HostCallError::NoSuchTarget
        }
        BrokerError::Timeout { .. } => HostCallError::Timeout,
        other => HostCallError::Unavailable(other.to_string()),
    }
}
