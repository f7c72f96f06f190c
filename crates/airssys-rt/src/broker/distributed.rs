//! [`DistributedBroker`]: what a broker that reaches other processes adds
//! to the [`MessageBroker`] core.

use super::{BrokerError, BrokerMessage, MessageBroker};

/// The extension of a broker whose messages cross processes (airssys-nats's
/// `NatsBroker`). Reached from a `dyn MessageBroker` through
/// [`MessageBroker::distributed`]; the in-memory broker has none.
pub trait DistributedBroker<M>: MessageBroker<M>
where
    M: Clone + Send + 'static,
{
    /// Answers `request` with a failure instead of a reply: the requester's
    /// [`request`](MessageBroker::request) returns [`BrokerError::Failed`]
    /// with `reason` as soon as it arrives, instead of waiting out its
    /// timeout. For a responder that took a request and could not handle it
    /// (on another host, a component that trapped). An in-process broker
    /// needs none: its requester and responder share the process.
    ///
    /// # Errors
    /// [`BrokerError::NoReplyTo`] if `request` has no reply subject;
    /// [`BrokerError::Transport`] if the broker cannot send it.
    fn reply_failure(&self, request: &BrokerMessage<M>, reason: &str) -> Result<(), BrokerError>;
}
