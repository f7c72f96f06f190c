//! The host's dead letters: every component message that was accepted but
//! not handled goes to the broker's dead-letter subject, with the target and
//! the reason (airssys-rt's [`DeadLetterReason`], the one reason type from
//! the runtime to the wire), and is counted by reason.

use std::sync::Arc;

use airssys_rt::broker::{MessageBroker, Undelivered};
use airssys_rt::{DeadLetterCounters, DeadLetterReason};

use super::message::TopicMessage;
use crate::guest::GuestMessage;
use crate::id::ComponentId;

/// Dead letters counted by reason since the host started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetterStats {
    /// The message failed its component (trap, timeout, ...):
    /// [`DeadLetterReason::HandlerFailed`].
    pub handler_failed: u64,
    /// The guest returned an error code.
    pub rejected: u64,
    /// The target mailbox was full.
    pub mailbox_full: u64,
    /// The target stopped with the message queued:
    /// [`DeadLetterReason::ActorStopped`].
    pub actor_stopped: u64,
    /// Sends to an id no host runs (distributed broker only).
    pub no_such_target: u64,
    /// Messages a cluster host did not hand to its guest because its
    /// ownership lease had ended (another host may run the component).
    pub not_owner: u64,
}

impl DeadLetterStats {
    /// All dead letters.
    pub fn total(&self) -> u64 {
        self.by_reason().iter().map(|(_, n)| n).sum()
    }

    /// `(label, count)` pairs, for reports and metrics: the labels are
    /// [`DeadLetterReason::label`]'s.
    pub fn by_reason(&self) -> [(&'static str, u64); 6] {
        [
            (
                DeadLetterReason::HandlerFailed(String::new()).label(),
                self.handler_failed,
            ),
            (
                DeadLetterReason::Rejected(String::new()).label(),
                self.rejected,
            ),
            (DeadLetterReason::MailboxFull.label(), self.mailbox_full),
            (DeadLetterReason::ActorStopped.label(), self.actor_stopped),
            (DeadLetterReason::NoSuchTarget.label(), self.no_such_target),
            (DeadLetterReason::NotOwner.label(), self.not_owner),
        ]
    }
}

/// Posts dead letters to the broker; shared by every component actor.
#[derive(Clone)]
pub(crate) struct DeadLetterSink {
    broker: Arc<dyn MessageBroker<TopicMessage>>,
    counters: Arc<DeadLetterCounters>,
}

impl DeadLetterSink {
    pub(crate) fn new(broker: Arc<dyn MessageBroker<TopicMessage>>) -> Self {
        Self {
            broker,
            counters: Arc::new(DeadLetterCounters::default()),
        }
    }

    /// Counts, logs and publishes one undelivered message addressed to `target`.
    pub(crate) fn post(
        &self,
        target: &ComponentId,
        message: GuestMessage,
        reason: DeadLetterReason,
    ) {
        self.counters.add(&reason);
        tracing::debug!(component = %target, reason = reason.label(), detail = %reason, "dead letter");
        let original: Arc<str> = match &message.subject {
            Some(subject) => Arc::clone(subject),
            None => Arc::from(format!("_airssys.direct.{target}")),
        };
        let letter = TopicMessage {
            sender: message.sender,
            payload: message.payload,
            trace: message.trace,
        };
        let undelivered = Undelivered::new(target.as_str(), reason);
        // Counted above whatever the broker does; a dead letter nobody
        // listens to is counted by the broker too, never looped. One the
        // broker cannot take (its transport is down) is logged here.
        if let Err(error) = self
            .broker
            .publish_dead_letter(original, letter, undelivered)
        {
            tracing::warn!(component = %target, %error, "dead letter counted but not published");
        }
    }

    pub(crate) fn stats(&self) -> DeadLetterStats {
        let count = |reason: DeadLetterReason| self.counters.get(reason.index());
        DeadLetterStats {
            handler_failed: count(DeadLetterReason::HandlerFailed(String::new())),
            rejected: count(DeadLetterReason::Rejected(String::new())),
            mailbox_full: count(DeadLetterReason::MailboxFull),
            actor_stopped: count(DeadLetterReason::ActorStopped),
            no_such_target: count(DeadLetterReason::NoSuchTarget),
            not_owner: count(DeadLetterReason::NotOwner),
        }
    }
}
