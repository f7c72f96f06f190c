//! [`NatsError`]: what can go wrong building or syncing a [`NatsBroker`](crate::NatsBroker).

use std::time::Duration;

/// An error of the NATS broker outside the [`MessageBroker`](airssys_rt::broker::MessageBroker)
/// operations (those return `BrokerError`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// The first connection to the server failed.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The server URL.
        url: String,
        /// What the client reported.
        reason: String,
    },
    /// The application prefix or the dead-letter subject is not a valid subject.
    #[error("invalid subject {subject:?}: {reason}")]
    InvalidSubject {
        /// The subject.
        subject: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A [`sync`](crate::NatsBroker::sync) got no answer from the server in time.
    #[error("the NATS server did not answer within {timeout:?}")]
    Timeout {
        /// The time waited.
        timeout: Duration,
    },
    /// The broker's outbound queue is full or its client is gone.
    #[error("NATS transport: {reason}")]
    Transport {
        /// What failed.
        reason: String,
    },
}
