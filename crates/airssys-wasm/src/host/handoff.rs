//! Moving a component to another host without losing a message
//! ([`ComponentHost::hand_off`]), and delivering one message exactly as it
//! arrived elsewhere ([`ComponentHost::deliver`]): what a cluster host
//! needs beyond the façade's send and request.

use std::time::Duration;

use bytes::Bytes;

use super::error::HostError;
use super::facade::ComponentHost;
use super::lifecycle::LifecycleState;
use super::mailbox;
use super::message::{ComponentMessage, Expects};
use super::operate::control;
use crate::guest::GuestMessage;

/// What [`ComponentHost::hand_off`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandOff {
    /// The guest's state from its `snapshot` export, taken after the last
    /// queued message, when asked for and exported.
    pub state: Option<Bytes>,
    /// Whether the component's subject was drained within the timeout
    /// (always `true` without a distributed broker).
    pub drained: bool,
    /// Whether every message queued before the stop was handled within the
    /// timeout (those left were dead-lettered `actor_stopped`).
    pub handled_queued: bool,
}

impl ComponentHost {
    /// Stops component `id` so that another host can take it over with no
    /// message lost: it leaves the registry at once (local sends to `id`
    /// now go through the broker, to whoever serves it next), its topic
    /// subscriptions end, its broker subject is handed off (unsubscribed at
    /// once, what the server sent before still delivered: the new host must
    /// already be in the subject's queue group, see airssys-nats's
    /// `queue_group`), the messages queued in its mailbox are handled, and
    /// then it stops (its `cleanup` runs). All within `timeout`; past it,
    /// what is still queued is dead-lettered as by [`stop`](Self::stop).
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`], [`HostError::Supervision`].
    pub async fn hand_off(
        &self,
        id: &str,
        timeout: Duration,
        snapshot: bool,
    ) -> Result<HandOff, HostError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let entry = self.take_entry(id)?;
        self.inner.topics.unsubscribe_all(id);
        let mut drained = true;
        if let Some(pump) = self.inner.remote.as_ref().and_then(|r| r.hand_off(id)) {
            let abort = pump.abort_handle();
            if tokio::time::timeout_at(deadline, pump).await.is_err() {
                abort.abort();
                drained = false;
            }
        }
        // A barrier: answered once everything queued before it is handled.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let handled_queued = control(id, &entry.actor, left, ComponentMessage::Health)
            .await
            .is_ok();
        let state = if snapshot && handled_queued {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match control(id, &entry.actor, left, ComponentMessage::Snapshot).await {
                Ok(state) => state,
                Err(error) => {
                    tracing::warn!(component = %id, %error, "no snapshot at hand-off");
                    None
                }
            }
        } else {
            None
        };
        let result = entry.group.terminate_child(id).await;
        entry.template.lifecycle.set(LifecycleState::Stopped);
        result.map_err(|source| HostError::Supervision {
            component: id.into(),
            source: Box::new(source),
        })?;
        Ok(HandOff {
            state,
            drained,
            handled_queued,
        })
    }

    /// The guest's state from its `snapshot` export, taken between two
    /// messages (`None` when it exports none).
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`], [`HostError::Timeout`],
    /// [`HostError::HandlerFailed`] when `snapshot` failed.
    pub async fn snapshot(&self, id: &str, timeout: Duration) -> Result<Option<Bytes>, HostError> {
        let entry = self.entry(id)?;
        control(id, &entry.actor, timeout, ComponentMessage::Snapshot).await
    }

    /// Delivers `message` to component `id` as it is and waits up to
    /// `timeout` until its handler returned (the guest's reply, if the
    /// message carries a correlation id: the guest sees it as a request):
    /// what a durable store's consumer uses, acknowledging the message
    /// only then.
    ///
    /// # Errors
    /// As [`request`](Self::request) for a local component;
    /// [`HostError::HandlerFailed`] when the handler failed (the message
    /// was dead-lettered with the cause).
    pub async fn deliver_and_wait(
        &self,
        id: &str,
        message: GuestMessage,
        timeout: Duration,
    ) -> Result<Option<Bytes>, HostError> {
        let entry = self.entry(id)?;
        let expects = expects(&message);
        let delivered = match mailbox::checked(entry.max_message_bytes, message) {
            Ok(message) => mailbox::ask(&entry.actor, expects.mail(message), timeout).await,
            Err(refused) => Err(refused.into()),
        };
        delivered.map_err(|e| e.into_host_error(id))
    }

    /// Delivers `message` to component `id` as it is (sender, subject and
    /// all): with a correlation id it is asked, and the guest's reply comes
    /// back (waiting up to `timeout`); without one it is queued once the
    /// mailbox has room, and `None` comes back. For messages a host took
    /// on another component's behalf (held while it moved here).
    ///
    /// # Errors
    /// As [`request`](Self::request) for a local component.
    pub async fn deliver(
        &self,
        id: &str,
        message: GuestMessage,
        timeout: Duration,
    ) -> Result<Option<Bytes>, HostError> {
        if expects(&message) == Expects::Reply {
            return self.deliver_and_wait(id, message, timeout).await;
        }
        let entry = self.entry(id)?;
        let delivered = match mailbox::checked(entry.max_message_bytes, message) {
            Ok(message) => mailbox::tell(&entry.actor, ComponentMessage::Deliver(message)).await,
            Err(refused) => Err(refused.into()),
        };
        delivered.map(|()| None).map_err(|e| e.into_host_error(id))
    }
}

/// What the sender of a message taken as it is (from a durable store, or
/// held during a hand-over) expects: a reply if it carries a correlation
/// id, the guest-visible mark of a request.
fn expects(message: &GuestMessage) -> Expects {
    if message.correlation_id.is_some() {
        Expects::Reply
    } else {
        Expects::Nothing
    }
}
