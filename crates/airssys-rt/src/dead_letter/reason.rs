//! [`DeadLetterReason`]: why a message became a dead letter, one type for
//! the whole stack (the runtime, the broker, the component host, the wire),
//! each reason with a stable [`label`](DeadLetterReason::label).

use std::fmt;

/// Why a message was accepted but not handled: the one dead-letter reason
/// of airssys. The actor runtime posts [`HandlerFailed`](Self::HandlerFailed)
/// and [`ActorStopped`](Self::ActorStopped); a broker posts
/// [`SubscriberFull`](Self::SubscriberFull) and
/// [`SubscriberClosed`](Self::SubscriberClosed); a layer above (the
/// component host) posts any of them through
/// [`MessageBroker::publish_dead_letter`](crate::broker::MessageBroker::publish_dead_letter).
///
/// Metrics, ledgers and wire headers carry [`label`](Self::label), never
/// the `Display` text: the text is for people and is not parsed back.
///
/// ```
/// use airssys_rt::DeadLetterReason;
///
/// let reason = DeadLetterReason::HandlerFailed("trap: unreachable".into());
/// assert_eq!(reason.label(), "handler_failed");
/// let back = DeadLetterReason::from_label(reason.label(), reason.detail().as_deref());
/// assert_eq!(back, Some(reason));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// Its handler failed (an error, a panic, a trap, a timeout, a limit)
    /// and the actor stopped or restarted because of it. The text is the
    /// failure, for people.
    HandlerFailed(String),
    /// The handler refused it (returned an error) and the actor went on.
    Rejected(String),
    /// The target's mailbox was full and the sender could not wait (a
    /// topic fan-out never waits).
    MailboxFull,
    /// It was queued when the actor stopped for good.
    ActorStopped,
    /// It was sent to an id nobody runs (a distributed broker's server
    /// answered "no responders").
    NoSuchTarget,
    /// The host's ownership lease had ended when it reached the actor, so
    /// it was not handled there (another host may own the target now).
    NotOwner,
    /// A subscription's bounded queue was full (a slow subscriber).
    SubscriberFull {
        /// That subscription's queue capacity.
        capacity: usize,
    },
    /// The subscription was dropped between routing and delivery.
    SubscriberClosed,
    /// A durable message its store did not confirm; the text is the
    /// store's error.
    NotStored(String),
}

impl DeadLetterReason {
    /// Every label, in declaration order: the index of a reason's label
    /// here is its [`index`](Self::index).
    pub const LABELS: [&'static str; 9] = [
        "handler_failed",
        "rejected",
        "mailbox_full",
        "actor_stopped",
        "no_such_target",
        "not_owner",
        "subscriber_full",
        "subscriber_closed",
        "not_stored",
    ];

    /// A short, stable label for metrics, ledgers and wire headers
    /// (one of [`LABELS`](Self::LABELS)).
    pub fn label(&self) -> &'static str {
        Self::LABELS[self.index()]
    }

    /// The position of this reason's label in [`LABELS`](Self::LABELS), for
    /// counters kept in an array.
    pub fn index(&self) -> usize {
        match self {
            DeadLetterReason::HandlerFailed(_) => 0,
            DeadLetterReason::Rejected(_) => 1,
            DeadLetterReason::MailboxFull => 2,
            DeadLetterReason::ActorStopped => 3,
            DeadLetterReason::NoSuchTarget => 4,
            DeadLetterReason::NotOwner => 5,
            DeadLetterReason::SubscriberFull { .. } => 6,
            DeadLetterReason::SubscriberClosed => 7,
            DeadLetterReason::NotStored(_) => 8,
        }
    }

    /// What the reason carries besides its label, as one string for a wire
    /// format: the failure text, or a full subscription's capacity.
    pub fn detail(&self) -> Option<String> {
        match self {
            DeadLetterReason::HandlerFailed(why)
            | DeadLetterReason::Rejected(why)
            | DeadLetterReason::NotStored(why) => Some(why.clone()),
            DeadLetterReason::SubscriberFull { capacity } => Some(capacity.to_string()),
            _ => None,
        }
    }

    /// The reason with `label` and the [`detail`](Self::detail) it carried:
    /// the inverse of the pair, for a wire format. `None` for a label this
    /// version does not know.
    pub fn from_label(label: &str, detail: Option<&str>) -> Option<Self> {
        let text = || detail.unwrap_or_default().to_owned();
        Some(match label {
            "handler_failed" => DeadLetterReason::HandlerFailed(text()),
            "rejected" => DeadLetterReason::Rejected(text()),
            "mailbox_full" => DeadLetterReason::MailboxFull,
            "actor_stopped" => DeadLetterReason::ActorStopped,
            "no_such_target" => DeadLetterReason::NoSuchTarget,
            "not_owner" => DeadLetterReason::NotOwner,
            "subscriber_full" => DeadLetterReason::SubscriberFull {
                capacity: detail.and_then(|d| d.parse().ok()).unwrap_or(0),
            },
            "subscriber_closed" => DeadLetterReason::SubscriberClosed,
            "not_stored" => DeadLetterReason::NotStored(text()),
            _ => return None,
        })
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeadLetterReason::HandlerFailed(why) => write!(f, "handler failed: {why}"),
            DeadLetterReason::Rejected(why) => write!(f, "rejected by the handler: {why}"),
            DeadLetterReason::MailboxFull => f.write_str("mailbox full"),
            DeadLetterReason::ActorStopped => f.write_str("actor stopped"),
            DeadLetterReason::NoSuchTarget => f.write_str("no such target on any host"),
            DeadLetterReason::NotOwner => {
                f.write_str("not owner: this host's ownership lease had ended")
            }
            DeadLetterReason::SubscriberFull { capacity } => {
                write!(f, "subscription queue full (capacity {capacity})")
            }
            DeadLetterReason::SubscriberClosed => f.write_str("subscription closed"),
            DeadLetterReason::NotStored(why) => write!(f, "not stored: {why}"),
        }
    }
}

/// Counters of dead letters, one per [`DeadLetterReason`] label. Lock-free;
/// shared by whoever posts dead letters of one kind (the runtime's office,
/// the component host's sink).
#[derive(Debug, Default)]
pub struct DeadLetterCounters {
    counts: [std::sync::atomic::AtomicU64; DeadLetterReason::LABELS.len()],
}

impl DeadLetterCounters {
    /// Counts one dead letter for `reason`. O(1).
    pub fn add(&self, reason: &DeadLetterReason) {
        self.counts[reason.index()].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The count of the reason whose [`index`](DeadLetterReason::index) is `index` (0 past the end).
    pub fn get(&self, index: usize) -> u64 {
        self.counts
            .get(index)
            .map_or(0, |c| c.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// `(label, count)` for every reason, in [`LABELS`](DeadLetterReason::LABELS) order.
    pub fn by_reason(&self) -> [(&'static str, u64); DeadLetterReason::LABELS.len()] {
        std::array::from_fn(|i| (DeadLetterReason::LABELS[i], self.get(i)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_goes_through_its_label_and_detail_and_back() {
        let all = [
            DeadLetterReason::HandlerFailed("trap".into()),
            DeadLetterReason::Rejected("code 3".into()),
            DeadLetterReason::MailboxFull,
            DeadLetterReason::ActorStopped,
            DeadLetterReason::NoSuchTarget,
            DeadLetterReason::NotOwner,
            DeadLetterReason::SubscriberFull { capacity: 16 },
            DeadLetterReason::SubscriberClosed,
            DeadLetterReason::NotStored("stream unavailable".into()),
        ];
        for (i, reason) in all.iter().enumerate() {
            assert_eq!(reason.index(), i);
            let back = DeadLetterReason::from_label(reason.label(), reason.detail().as_deref());
            assert_eq!(back.as_ref(), Some(reason));
        }
        assert_eq!(DeadLetterReason::from_label("from_the_future", None), None);
    }
}
