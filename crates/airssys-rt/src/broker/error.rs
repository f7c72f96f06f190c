//! Errors of the message broker: [`BrokerError`] and the [`SubjectError`]
//! that says what is wrong with a subject or a pattern.

use std::time::Duration;

/// What is wrong with a subject or a subscription pattern.
///
/// Carried by [`BrokerError::InvalidSubject`] and
/// [`BrokerError::InvalidPattern`]; token indices count from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectError {
    /// The subject or pattern is the empty string.
    #[error("it is empty")]
    Empty,
    /// A token is empty: a leading, trailing or doubled `.`.
    #[error("token {index} is empty (leading, trailing or doubled '.')")]
    EmptyToken {
        /// Index of the empty token.
        index: usize,
    },
    /// The subject contains a whitespace or control character.
    #[error("it contains whitespace or a control character at byte {byte}")]
    Whitespace {
        /// Byte offset of the offending character.
        byte: usize,
    },
    /// A wildcard (`*` or `>`) was used where a literal subject is required,
    /// for example in [`MessageBroker::publish`](super::MessageBroker::publish).
    #[error("token {index} is the wildcard {wildcard:?}, not allowed in a subject you publish to")]
    WildcardInSubject {
        /// Index of the wildcard token.
        index: usize,
        /// The wildcard: `*` or `>`.
        wildcard: char,
    },
    /// `*` or `>` appears inside a longer token (`a*`, `>b`): wildcards are
    /// whole tokens only.
    #[error(
        "token {index} contains {wildcard:?} inside a longer token; wildcards must be whole tokens"
    )]
    WildcardInsideToken {
        /// Index of the token.
        index: usize,
        /// The wildcard character found.
        wildcard: char,
    },
    /// `>` appears before the last token of a pattern.
    #[error("token {index} is '>', which is only allowed as the last token")]
    FullWildcardNotLast {
        /// Index of the `>` token.
        index: usize,
    },
}

/// An error from a [`MessageBroker`](super::MessageBroker) operation.
///
/// Every variant carries the subject or pattern concerned, so that a log line
/// alone says what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// A subject given to `publish` or `request` is not a valid literal subject.
    #[error("invalid subject {subject:?}: {reason}")]
    InvalidSubject {
        /// The subject as given.
        subject: String,
        /// What is wrong with it.
        reason: SubjectError,
    },
    /// A pattern given to `subscribe` is not a valid pattern.
    #[error("invalid subscription pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: SubjectError,
    },
    /// A subscription was asked for with a queue capacity of 0.
    #[error("subscription to {pattern:?} asked for queue capacity 0; the minimum is 1")]
    ZeroCapacity {
        /// The pattern of the subscription.
        pattern: String,
    },
    /// No reply arrived within the request's timeout.
    #[error("request to {subject:?} got no reply within {timeout:?}")]
    Timeout {
        /// The subject the request was published to.
        subject: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// No subscriber took the request: none matched the subject, or every
    /// matching subscriber's queue was full (those copies were dead-lettered).
    #[error("no responders for request to {subject:?}")]
    NoResponders {
        /// The subject the request was published to.
        subject: String,
    },
    /// [`MessageBroker::reply`](super::MessageBroker::reply) was called on a
    /// message that carries no `reply_to` subject.
    #[error("cannot reply to a message on {subject:?}: it has no reply_to subject")]
    NoReplyTo {
        /// The subject of the message that was replied to.
        subject: String,
    },
    /// The broker's transport failed: a broker that talks to a server (NATS)
    /// could not reach it. The operation may be retried once it is back.
    #[error("broker transport failed for {subject:?}: {reason}")]
    Transport {
        /// The subject or pattern of the failed operation.
        subject: String,
        /// What the transport reported.
        reason: String,
    },
    /// The responder took the request and answered that it failed to
    /// handle it ([`DistributedBroker::reply_failure`](super::DistributedBroker::reply_failure)),
    /// so the requester learns it at once instead of at its timeout.
    #[error("request to {subject:?} failed at the responder: {reason}")]
    Failed {
        /// The subject the request was published to.
        subject: String,
        /// The responder's account of the failure, in words.
        reason: String,
    },
    /// The reply inbox of a request was closed before a reply arrived (the
    /// broker is shutting down).
    #[error("the reply inbox of the request to {subject:?} was closed before a reply arrived")]
    InboxClosed {
        /// The subject the request was published to.
        subject: String,
    },
}
