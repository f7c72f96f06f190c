//! What the host hands a guest and hears back from it, in either form: a
//! [`GuestMessage`] to handle, a [`GuestHealth`] answer.

use std::sync::Arc;

use bytes::Bytes;

use crate::id::ComponentId;

/// A message delivered to a guest's `handle-message`.
///
/// Building one costs no allocation beyond what the caller already holds
/// (ids are `Arc`s, the payload is `Bytes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestMessage {
    /// The sending component, if any.
    pub sender: Option<ComponentId>,
    /// The topic subject, for a published message.
    pub subject: Option<Arc<str>>,
    /// Set for a request that expects a reply.
    pub correlation_id: Option<u64>,
    /// The message may have reached the component before: a durable
    /// message delivered again after its host died or lost its lease
    /// before acknowledging it (at-least-once). The core ABI's flags bit 1.
    pub redelivered: bool,
    /// The payload bytes (optionally multicodec-prefixed, see [`codec`](crate::codec)).
    pub payload: Bytes,
    /// When it entered the mailbox, for the mailbox wait-time histogram
    /// (ignored by `==`).
    pub enqueued: crate::metrics::Enqueued,
    /// The trace context of the span that sent it (see
    /// [`trace`](crate::trace)); `None` when not traced.
    pub trace: Option<crate::trace::TraceContext>,
}

impl GuestMessage {
    /// A message with only a payload.
    pub fn new(payload: impl Into<Bytes>) -> Self {
        GuestMessage {
            payload: payload.into(),
            ..Default::default()
        }
    }

    /// Sets the sender.
    #[must_use]
    pub fn from(mut self, sender: impl Into<ComponentId>) -> Self {
        self.sender = Some(sender.into());
        self
    }

    /// Sets the subject.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<Arc<str>>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the correlation id.
    #[must_use]
    pub fn correlation_id(mut self, id: u64) -> Self {
        self.correlation_id = Some(id);
        self
    }
}

/// A guest's answer to a health check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuestHealth {
    /// Working normally (also when the guest exports no `health`).
    Healthy,
    /// Working with reduced service; the reason is the guest's.
    Degraded(String),
    /// Not working; the reason is the guest's, or the failure of the check.
    Unhealthy(String),
}
