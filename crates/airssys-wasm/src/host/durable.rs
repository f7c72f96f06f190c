//! [`DurableSends`]: sends to components whose messages must outlive a host
//! (marked durable), and publishes on topics marked durable, handed to a
//! store (JetStream, in a cluster) instead of a mailbox or the broker. The store's consumer on the component's host delivers them
//! with [`ComponentHost::deliver_and_wait`](super::ComponentHost::deliver_and_wait)
//! and acknowledges each once its handler returned.

use bytes::Bytes;

use crate::guest::BoxFuture;
use crate::id::ComponentId;

/// Why a durable send was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("durable message to {component} not stored: {reason}")]
#[non_exhaustive]
pub struct DurableError {
    /// The target component (for a topic: its subject).
    pub component: ComponentId,
    /// Why, in words.
    pub reason: String,
}

impl DurableError {
    /// A refusal of a send to `component`.
    pub fn new(component: impl Into<ComponentId>, reason: impl Into<String>) -> Self {
        Self {
            component: component.into(),
            reason: reason.into(),
        }
    }
}

/// Where sends to durable components go. Installed with
/// [`ComponentHostBuilder::durable`](super::ComponentHostBuilder::durable);
/// every send (the host's own and guests') asks [`is_durable`](Self::is_durable)
/// first, local target or not: a durable message must survive the host it
/// was sent on. Requests are never durable (their requester waits for the
/// answer and sees a failure).
pub trait DurableSends: Send + Sync + 'static {
    /// Whether sends to `to` are durable. Called on every send: O(1).
    fn is_durable(&self, to: &str) -> bool;

    /// A guest's send: hands the message to the store without waiting. A
    /// store that cannot take it now says so; one that takes it and later
    /// fails to store it dead-letters it with the reason.
    ///
    /// # Errors
    /// [`DurableError`] when it cannot even be queued.
    fn send(
        &self,
        from: Option<&ComponentId>,
        to: &str,
        payload: Bytes,
    ) -> Result<(), DurableError>;

    /// The host's own send: resolves once the store confirmed it has the
    /// message.
    fn send_stored(
        &self,
        from: Option<&ComponentId>,
        to: &str,
        payload: Bytes,
    ) -> BoxFuture<Result<(), DurableError>>;

    /// Whether publishes on `subject` are durable. Called on every
    /// publish; a store with no durable topics keeps the default (`false`).
    fn is_durable_topic(&self, subject: &str) -> bool {
        let _ = subject;
        false
    }

    /// A publish on a durable topic (the host's or a guest's): hands it to
    /// the store without waiting and says how many subscribing components
    /// will each receive it (at least once). One the store later fails to
    /// keep is dead-lettered with the reason.
    ///
    /// # Errors
    /// [`DurableError`] when it cannot even be queued (or the store has no
    /// durable topics).
    fn publish(
        &self,
        from: Option<&ComponentId>,
        subject: &str,
        payload: Bytes,
    ) -> Result<usize, DurableError> {
        let _ = (from, payload);
        Err(DurableError::new(subject, "no durable topics here"))
    }
}
