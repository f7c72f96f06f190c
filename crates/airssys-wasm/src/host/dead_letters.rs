//! The host's dead letters: every component message that was accepted but
//! not handled goes to the broker's dead-letter subject, with the target and
//! the reason, and is counted by reason.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use airssys_rt::broker::{DeadLetterReason, MessageBroker};

use super::message::TopicMessage;
use crate::guest::GuestMessage;
use crate::id::ComponentId;

/// Why a component message was not handled.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UndeliveredReason {
    /// Handling it failed the instance (trap, timeout, memory cap, stack
    /// overflow, fuel); the text is the failure.
    ComponentFailed(String),
    /// The guest returned an error code for it.
    Rejected(String),
    /// The target's mailbox was full (topic fan-out never waits).
    MailboxFull,
    /// The target stopped for good with the message still queued.
    ComponentStopped,
    /// A send to a component no host runs: with a distributed broker, the
    /// server answered "no responders" to a send for an id unknown here.
    NoSuchTarget,
    /// The host's cluster lease had ended when the message reached the
    /// guest: another host may own the component by now, so this one did
    /// not handle it.
    NotOwner,
}

impl UndeliveredReason {
    /// A short, stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            UndeliveredReason::ComponentFailed(_) => "component_failed",
            UndeliveredReason::Rejected(_) => "rejected",
            UndeliveredReason::MailboxFull => "mailbox_full",
            UndeliveredReason::ComponentStopped => "component_stopped",
            UndeliveredReason::NoSuchTarget => "no_such_target",
            UndeliveredReason::NotOwner => "not_owner",
        }
    }
}

impl fmt::Display for UndeliveredReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UndeliveredReason::ComponentFailed(why) => write!(f, "component failed: {why}"),
            UndeliveredReason::Rejected(why) => write!(f, "rejected by the guest: {why}"),
            UndeliveredReason::MailboxFull => f.write_str("mailbox full"),
            UndeliveredReason::ComponentStopped => f.write_str("component stopped"),
            UndeliveredReason::NoSuchTarget => f.write_str("no such target on any host"),
            UndeliveredReason::NotOwner => {
                f.write_str("not owner: this host's cluster lease had ended")
            }
        }
    }
}

/// Dead letters counted by reason since the host started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetterStats {
    /// The message failed its component (trap, timeout, ...).
    pub component_failed: u64,
    /// The guest returned an error code.
    pub rejected: u64,
    /// The target mailbox was full.
    pub mailbox_full: u64,
    /// The target stopped with the message queued.
    pub component_stopped: u64,
    /// Sends to an id no host runs (distributed broker only).
    pub no_such_target: u64,
    /// Messages a cluster host did not hand to its guest because its
    /// ownership lease had ended (another host may run the component).
    pub not_owner: u64,
}

impl DeadLetterStats {
    /// All dead letters.
    pub fn total(&self) -> u64 {
        self.component_failed
            + self.rejected
            + self.mailbox_full
            + self.component_stopped
            + self.no_such_target
            + self.not_owner
    }

    /// `(label, count)` pairs, for reports and metrics.
    pub fn by_reason(&self) -> [(&'static str, u64); 6] {
        [
            ("component_failed", self.component_failed),
            ("rejected", self.rejected),
            ("mailbox_full", self.mailbox_full),
            ("component_stopped", self.component_stopped),
            ("no_such_target", self.no_such_target),
            ("not_owner", self.not_owner),
        ]
    }
}

#[derive(Default)]
struct Counters {
    component_failed: AtomicU64,
    rejected: AtomicU64,
    mailbox_full: AtomicU64,
    component_stopped: AtomicU64,
    no_such_target: AtomicU64,
    not_owner: AtomicU64,
}

/// Posts dead letters to the broker; shared by every component actor.
#[derive(Clone)]
pub(crate) struct DeadLetterSink {
    broker: Arc<dyn MessageBroker<TopicMessage>>,
    counters: Arc<Counters>,
}

impl DeadLetterSink {
    pub(crate) fn new(broker: Arc<dyn MessageBroker<TopicMessage>>) -> Self {
        Self {
            broker,
            counters: Arc::new(Counters::default()),
        }
    }

    /// Counts, logs and publishes one undelivered message addressed to `target`.
    pub(crate) fn post(
        &self,
        target: &ComponentId,
        message: GuestMessage,
        reason: UndeliveredReason,
    ) {
        let counter = match reason {
            UndeliveredReason::ComponentFailed(_) => &self.counters.component_failed,
            UndeliveredReason::Rejected(_) => &self.counters.rejected,
            UndeliveredReason::MailboxFull => &self.counters.mailbox_full,
            UndeliveredReason::ComponentStopped => &self.counters.component_stopped,
            UndeliveredReason::NoSuchTarget => &self.counters.no_such_target,
            UndeliveredReason::NotOwner => &self.counters.not_owner,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(component = %target, %reason, "dead letter");
        let original: Arc<str> = match &message.subject {
            Some(subject) => Arc::clone(subject),
            None => Arc::from(format!("_airssys.direct.{target}")),
        };
        let letter = TopicMessage {
            sender: message.sender,
            payload: message.payload,
            trace: message.trace,
        };
        let reason = DeadLetterReason::Undeliverable {
            target: Arc::from(target.as_str()),
            reason: Arc::from(reason.to_string()),
        };
        // Counted above whatever the broker does; a dead letter nobody
        // listens to is counted by the broker too, never looped. One the
        // broker cannot take (its transport is down) is logged here.
        if let Err(error) = self.broker.publish_dead_letter(original, letter, reason) {
            tracing::warn!(component = %target, %error, "dead letter counted but not published");
        }
    }

    pub(crate) fn stats(&self) -> DeadLetterStats {
        DeadLetterStats {
            component_failed: self.counters.component_failed.load(Ordering::Relaxed),
            rejected: self.counters.rejected.load(Ordering::Relaxed),
            mailbox_full: self.counters.mailbox_full.load(Ordering::Relaxed),
            component_stopped: self.counters.component_stopped.load(Ordering::Relaxed),
            no_such_target: self.counters.no_such_target.load(Ordering::Relaxed),
            not_owner: self.counters.not_owner.load(Ordering::Relaxed),
        }
    }
}
