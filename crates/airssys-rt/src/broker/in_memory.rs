//! [`InMemoryMessageBroker`]: the embedded broker, routing inside one process.
//!
//! # How a publish is routed
//!
//! Subscriptions live in a token trie after NATS's sublist; routing a subject
//! through it is done once per distinct subject and the result (the matching
//! subscription queues, and the subject as a shared `Arc<str>`) is kept in a
//! match cache, invalidated on subscribe/unsubscribe. A publish is then: one
//! hash lookup under a read lock held only for that lookup, one `try_send` per
//! matching subscriber, and a few relaxed atomic counter updates. It allocates
//! nothing on a cache hit beyond what each subscriber queue allocates itself.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc::{self, error::TrySendError};

use super::error::BrokerError;
use super::router::{Matched, Route, Router};
use super::subject::{validate_pattern, validate_subject};
use super::{
    BrokerMessage, DeadLetterReason, MessageBroker, PublishReport, Subscription, Undelivered,
};

/// Default queue capacity of a subscription: 1024 messages.
///
/// Set per broker with [`InMemoryBrokerBuilder::default_capacity`], per
/// subscription with [`MessageBroker::subscribe_with_capacity`].
pub const DEFAULT_SUBSCRIPTION_CAPACITY: usize = 1024;

/// Default dead-letter subject: `_airssys.deadletter`.
///
/// Set with [`InMemoryBrokerBuilder::dead_letter_subject`].
pub const DEFAULT_DEAD_LETTER_SUBJECT: &str = "_airssys.deadletter";

/// Default number of distinct subjects kept in the match cache: 4096.
///
/// Set with [`InMemoryBrokerBuilder::match_cache_capacity`].
pub const DEFAULT_MATCH_CACHE_CAPACITY: usize = 4096;

/// Prefix of the reply inboxes made by [`MessageBroker::request`].
const INBOX_PREFIX: &str = "_INBOX.";

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    delivered: AtomicU64,
    dropped_full: AtomicU64,
    unrouted: AtomicU64,
    dead_lettered: AtomicU64,
    dead_letters_lost: AtomicU64,
}

struct Inner<M> {
    router: Router<M>,
    counters: Counters,
    next_id: AtomicU64,
    next_inbox: AtomicU64,
    default_capacity: usize,
    dead_letter_subject: Arc<str>,
}

/// Counters of an [`InMemoryMessageBroker`] since it was built, as returned by
/// [`InMemoryMessageBroker::stats`]. Each is read with a relaxed atomic load, so
/// a snapshot taken during publishes may mix slightly different instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BrokerStats {
    /// Successful `publish` calls (including requests and replies).
    pub published: u64,
    /// Copies placed in a subscriber queue (dead letters not included).
    pub delivered: u64,
    /// Copies that found a subscriber queue full (each was dead-lettered).
    pub dropped_full: u64,
    /// Publishes that matched no subscription (not dead-lettered, as in NATS).
    pub unrouted: u64,
    /// Copies that could not be delivered and were sent to the dead-letter
    /// subject (queue full or subscriber gone).
    pub dead_lettered: u64,
    /// Dead letters that could not be delivered either (no dead-letter
    /// subscriber, or its queue full): only counted, never re-dead-lettered.
    /// One per dead letter per dead-letter subscriber that missed it, or one
    /// if there was none.
    pub dead_letters_lost: u64,
}

/// The embedded [`MessageBroker`]: routes messages between tasks of one
/// process, through bounded per-subscription queues.
///
/// Cheap to clone (an `Arc`); clones share subscriptions and counters.
///
/// - Each subscription has a bounded tokio mpsc queue
///   (capacity [`DEFAULT_SUBSCRIPTION_CAPACITY`] = 1024 unless set).
/// - A full queue never blocks the publisher: that copy goes to the
///   dead-letter subject (default [`DEFAULT_DEAD_LETTER_SUBJECT`] =
///   `_airssys.deadletter`) with [`DeadLetterReason::SubscriberFull`], and is
///   counted in [`BrokerStats::dropped_full`] and [`Subscription::dropped`].
/// - A publish with no matching subscription is counted in
///   [`BrokerStats::unrouted`] and reported by [`PublishReport::is_unrouted`];
///   it is not dead-lettered.
/// - A dead letter that cannot be delivered is only counted
///   ([`BrokerStats::dead_letters_lost`]): dead letters never loop.
/// - The dead-letter and `_INBOX.<n>` reply subjects are ordinary subjects:
///   a subscription whose pattern matches them (e.g. `>`) receives dead
///   letters (marked by [`BrokerMessage::dead_letter`]) and replies, as in NATS.
///
/// ```
/// use airssys_rt::broker::{InMemoryMessageBroker, MessageBroker};
///
/// let broker = InMemoryMessageBroker::<u64>::builder()
///     .default_capacity(16)
///     .dead_letter_subject("sys.dead")
///     .build()?;
/// let mut all = broker.subscribe("metrics.>")?;
/// broker.publish("metrics.cpu", 42)?;
/// assert_eq!(all.try_recv().map(|m| m.payload), Some(42));
/// assert_eq!(broker.stats().delivered, 1);
/// # Ok::<(), airssys_rt::broker::BrokerError>(())
/// ```
pub struct InMemoryMessageBroker<M> {
    inner: Arc<Inner<M>>,
}

impl<M> Clone for InMemoryMessageBroker<M> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<M> fmt::Debug for InMemoryMessageBroker<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryMessageBroker")
            .field("subscriptions", &self.subscription_count())
            .field("default_capacity", &self.inner.default_capacity)
            .field("dead_letter_subject", &self.inner.dead_letter_subject)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<M: Clone + Send + 'static> Default for InMemoryMessageBroker<M> {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds an [`InMemoryMessageBroker`] with non-default settings.
#[must_use = "a builder does nothing until `build` is called"]
pub struct InMemoryBrokerBuilder<M> {
    default_capacity: usize,
    dead_letter_subject: String,
    match_cache_capacity: usize,
    _payload: PhantomData<fn() -> M>,
}

impl<M> Clone for InMemoryBrokerBuilder<M> {
    fn clone(&self) -> Self {
        Self {
            default_capacity: self.default_capacity,
            dead_letter_subject: self.dead_letter_subject.clone(),
            match_cache_capacity: self.match_cache_capacity,
            _payload: PhantomData,
        }
    }
}

impl<M> fmt::Debug for InMemoryBrokerBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryBrokerBuilder")
            .field("default_capacity", &self.default_capacity)
            .field("dead_letter_subject", &self.dead_letter_subject)
            .field("match_cache_capacity", &self.match_cache_capacity)
            .finish()
    }
}

impl<M: Clone + Send + 'static> InMemoryBrokerBuilder<M> {
    /// Queue capacity of subscriptions made with [`MessageBroker::subscribe`].
    /// Default: 1024 ([`DEFAULT_SUBSCRIPTION_CAPACITY`]). Must be at least 1.
    pub fn default_capacity(mut self, capacity: usize) -> Self {
        self.default_capacity = capacity;
        self
    }

    /// Subject that receives every message that could not be delivered.
    /// Default: `_airssys.deadletter` ([`DEFAULT_DEAD_LETTER_SUBJECT`]).
    /// Must be a valid literal subject.
    pub fn dead_letter_subject(mut self, subject: impl Into<String>) -> Self {
        self.dead_letter_subject = subject.into();
        self
    }

    /// How many distinct subjects' routing results are cached; when full, the
    /// cache is cleared and refills. 0 disables the cache (every publish then
    /// walks the trie under a write lock). Default: 4096
    /// ([`DEFAULT_MATCH_CACHE_CAPACITY`]).
    pub fn match_cache_capacity(mut self, capacity: usize) -> Self {
        self.match_cache_capacity = capacity;
        self
    }

    /// Builds the broker.
    ///
    /// # Errors
    ///
    /// [`BrokerError::InvalidSubject`] if the dead-letter subject is invalid,
    /// [`BrokerError::ZeroCapacity`] if the default capacity is 0.
    pub fn build(self) -> Result<InMemoryMessageBroker<M>, BrokerError> {
        validate_subject(&self.dead_letter_subject).map_err(|reason| {
            BrokerError::InvalidSubject {
                subject: self.dead_letter_subject.clone(),
                reason,
            }
        })?;
        if self.default_capacity == 0 {
            return Err(BrokerError::ZeroCapacity {
                pattern: "(broker default capacity)".to_string(),
            });
        }
        Ok(InMemoryMessageBroker {
            inner: Arc::new(Inner {
                router: Router::new(self.match_cache_capacity),
                counters: Counters::default(),
                next_id: AtomicU64::new(0),
                next_inbox: AtomicU64::new(0),
                default_capacity: self.default_capacity,
                dead_letter_subject: Arc::from(self.dead_letter_subject),
            }),
        })
    }
}

impl<M: Clone + Send + 'static> InMemoryMessageBroker<M> {
    /// A broker with the default settings (see [`InMemoryBrokerBuilder`]).
    pub fn new() -> Self {
        Self::from_defaults()
    }

    fn from_defaults() -> Self {
        match Self::builder().build() {
            Ok(broker) => broker,
            // The defaults are constants checked by the test
            // `defaults_build`: a valid subject and a non-zero capacity.
            Err(error) => unreachable!("default broker settings are valid: {error}"),
        }
    }

    /// A builder to set the default capacity, the dead-letter subject and the
    /// match cache size.
    pub fn builder() -> InMemoryBrokerBuilder<M> {
        InMemoryBrokerBuilder {
            default_capacity: DEFAULT_SUBSCRIPTION_CAPACITY,
            dead_letter_subject: DEFAULT_DEAD_LETTER_SUBJECT.to_string(),
            match_cache_capacity: DEFAULT_MATCH_CACHE_CAPACITY,
            _payload: PhantomData,
        }
    }
}

impl<M> InMemoryMessageBroker<M> {
    /// A snapshot of the broker's counters. O(1).
    pub fn stats(&self) -> BrokerStats {
        let c = &self.inner.counters;
        BrokerStats {
            published: c.published.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            dropped_full: c.dropped_full.load(Ordering::Relaxed),
            unrouted: c.unrouted.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            dead_letters_lost: c.dead_letters_lost.load(Ordering::Relaxed),
        }
    }

    /// The queue capacity given by [`MessageBroker::subscribe`].
    pub fn default_capacity(&self) -> usize {
        self.inner.default_capacity
    }

    /// Number of live subscriptions (reply inboxes of pending requests
    /// included). Takes the read lock briefly.
    pub fn subscription_count(&self) -> usize {
        self.inner.router.len()
    }

    /// The subscriptions matching `subject`, from the cache or the trie.
    /// Validates `subject` on a cache miss (a cached subject was valid).
    fn lookup(&self, subject: &str) -> Result<Arc<Matched<M>>, BrokerError> {
        self.inner
            .router
            .lookup(subject)
            .map_err(|reason| BrokerError::InvalidSubject {
                subject: subject.to_string(),
                reason,
            })
    }
}

impl<M: Clone + Send + 'static> InMemoryMessageBroker<M> {
    fn publish_inner(
        &self,
        subject: &str,
        reply_to: Option<Arc<str>>,
        payload: M,
    ) -> Result<PublishReport, BrokerError> {
        let matched = self.lookup(subject)?;
        let counters = &self.inner.counters;
        counters.published.fetch_add(1, Ordering::Relaxed);
        let Some((last, rest)) = matched.routes.split_last() else {
            counters.unrouted.fetch_add(1, Ordering::Relaxed);
            return Ok(PublishReport::default());
        };
        let mut report = PublishReport {
            matched: matched.routes.len(),
            ..PublishReport::default()
        };
        for route in rest {
            let message = BrokerMessage {
                subject: Arc::clone(&matched.subject),
                reply_to: reply_to.clone(),
                payload: payload.clone(),
                dead_letter: None,
            };
            self.deliver(route, message, &mut report);
        }
        // The last subscriber gets the original: one clone fewer.
        let message = BrokerMessage {
            subject: Arc::clone(&matched.subject),
            reply_to,
            payload,
            dead_letter: None,
        };
        self.deliver(last, message, &mut report);
        if report.delivered > 0 {
            counters
                .delivered
                .fetch_add(report.delivered as u64, Ordering::Relaxed);
        }
        Ok(report)
    }

    fn deliver(&self, route: &Route<M>, message: BrokerMessage<M>, report: &mut PublishReport) {
        let (message, reason) = match route.sender.try_send(message) {
            Ok(()) => {
                report.delivered += 1;
                return;
            }
            Err(TrySendError::Full(message)) => {
                route.dropped.fetch_add(1, Ordering::Relaxed);
                self.inner
                    .counters
                    .dropped_full
                    .fetch_add(1, Ordering::Relaxed);
                let reason = DeadLetterReason::SubscriberFull {
                    capacity: route.capacity,
                };
                (
                    message,
                    Undelivered::new(Arc::clone(&route.pattern), reason),
                )
            }
            Err(TrySendError::Closed(message)) => {
                let reason = DeadLetterReason::SubscriberClosed;
                (
                    message,
                    Undelivered::new(Arc::clone(&route.pattern), reason),
                )
            }
        };
        report.dropped += 1;
        self.dead_letter(message, reason);
    }

    /// Sends an undeliverable copy to the dead-letter subject. A dead letter
    /// that cannot be delivered (or a message published on the dead-letter
    /// subject itself that cannot be) is only counted and logged.
    fn dead_letter(&self, mut message: BrokerMessage<M>, reason: Undelivered) {
        let counters = &self.inner.counters;
        let dead_letter_subject = &self.inner.dead_letter_subject;
        if message.dead_letter.is_some() || message.subject == *dead_letter_subject {
            counters.dead_letters_lost.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(subject = %message.subject, %reason, "dead letter lost");
            return;
        }
        counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(subject = %message.subject, %reason, "message dead-lettered");
        message.dead_letter = Some(reason);
        let targets = match self.lookup(dead_letter_subject) {
            Ok(targets) => targets,
            Err(error) => {
                // Unreachable in practice: the subject was validated at build.
                counters.dead_letters_lost.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "dead-letter subject rejected");
                return;
            }
        };
        if targets.routes.is_empty() {
            counters.dead_letters_lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        for route in targets.routes.iter() {
            if let Err(error) = route.sender.try_send(message.clone()) {
                if matches!(error, TrySendError::Full(_)) {
                    route.dropped.fetch_add(1, Ordering::Relaxed);
                }
                counters.dead_letters_lost.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    subject = %message.subject,
                    dead_letter_subscriber = %route.pattern,
                    "dead letter lost: dead-letter subscriber cannot take it"
                );
            }
        }
    }
}

impl<M: Clone + Send + 'static> MessageBroker<M> for InMemoryMessageBroker<M> {
    /// Cost on a cached subject: one hash lookup under a briefly held read
    /// lock, then one `try_send` (and one `M::clone`) per matching subscriber;
    /// no other allocation.
    fn publish(&self, subject: &str, msg: M) -> Result<PublishReport, BrokerError> {
        self.publish_inner(subject, None, msg)
    }

    fn publish_with_reply(
        &self,
        subject: &str,
        reply_to: &str,
        msg: M,
    ) -> Result<PublishReport, BrokerError> {
        validate_subject(reply_to).map_err(|reason| BrokerError::InvalidSubject {
            subject: reply_to.to_string(),
            reason,
        })?;
        self.publish_inner(subject, Some(Arc::from(reply_to)), msg)
    }

    fn subscribe(&self, pattern: &str) -> Result<Subscription<M>, BrokerError> {
        self.subscribe_with_capacity(pattern, self.inner.default_capacity)
    }

    /// Counted in [`BrokerStats::dead_lettered`]; a dead letter that no
    /// subscriber can take is counted in [`BrokerStats::dead_letters_lost`].
    /// Never fails: there is no transport to lose.
    fn publish_dead_letter(
        &self,
        original_subject: Arc<str>,
        msg: M,
        undelivered: Undelivered,
    ) -> Result<(), BrokerError> {
        self.dead_letter(BrokerMessage::new(original_subject, msg), undelivered);
        Ok(())
    }

    fn dead_letter_subject(&self) -> &str {
        &self.inner.dead_letter_subject
    }

    /// Takes the write lock briefly: inserts into the trie and invalidates the
    /// match cache (one entry for a literal pattern, all for a wildcard one).
    fn subscribe_with_capacity(
        &self,
        pattern: &str,
        capacity: usize,
    ) -> Result<Subscription<M>, BrokerError> {
        validate_pattern(pattern).map_err(|reason| BrokerError::InvalidPattern {
            pattern: pattern.to_string(),
            reason,
        })?;
        if capacity == 0 {
            return Err(BrokerError::ZeroCapacity {
                pattern: pattern.to_string(),
            });
        }
        let (sender, receiver) = mpsc::channel(capacity);
        let pattern: Arc<str> = Arc::from(pattern);
        let dropped = Arc::new(AtomicU64::new(0));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let route = Route {
            pattern: Arc::clone(&pattern),
            sender,
            capacity,
            dropped: Arc::clone(&dropped),
        };
        {
            self.inner.router.insert(&pattern, id, route);
        }
        let weak = Arc::downgrade(&self.inner);
        let unsubscribe_pattern = Arc::clone(&pattern);
        Ok(Subscription::from_parts(
            pattern,
            receiver,
            dropped,
            move || {
                if let Some(inner) = weak.upgrade() {
                    inner.router.remove(&unsubscribe_pattern, id);
                }
            },
        ))
    }

    /// The reply inbox is `_INBOX.<n>` with a queue of 1: the first reply is
    /// returned, a second one arriving before it is read is dead-lettered,
    /// later ones are unrouted.
    fn request<'a>(
        &'a self,
        subject: &'a str,
        msg: M,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BrokerMessage<M>, BrokerError>> {
        Box::pin(async move {
            validate_subject(subject).map_err(|reason| BrokerError::InvalidSubject {
                subject: subject.to_string(),
                reason,
            })?;
            let n = self.inner.next_inbox.fetch_add(1, Ordering::Relaxed);
            let inbox: Arc<str> = Arc::from(format!("{INBOX_PREFIX}{n}"));
            let mut replies = self.subscribe_with_capacity(&inbox, 1)?;
            let report = self.publish_inner(subject, Some(inbox), msg)?;
            if report.delivered == 0 {
                return Err(BrokerError::NoResponders {
                    subject: subject.to_string(),
                });
            }
            match tokio::time::timeout(timeout, replies.recv()).await {
                Ok(Some(reply)) => Ok(reply),
                Ok(None) => Err(BrokerError::InboxClosed {
                    subject: subject.to_string(),
                }),
                Err(_elapsed) => Err(BrokerError::Timeout {
                    subject: subject.to_string(),
                    timeout,
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_build() {
        let broker = InMemoryMessageBroker::<u8>::new();
        assert_eq!(broker.default_capacity(), DEFAULT_SUBSCRIPTION_CAPACITY);
        assert_eq!(DEFAULT_SUBSCRIPTION_CAPACITY, 1024);
        assert_eq!(broker.dead_letter_subject(), "_airssys.deadletter");
        assert_eq!(DEFAULT_MATCH_CACHE_CAPACITY, 4096);
    }

    #[test]
    fn cache_follows_subscribe_and_unsubscribe() {
        let broker = InMemoryMessageBroker::<u8>::new();
        assert!(broker.publish("a.b", 1).unwrap().is_unrouted());
        let wildcard = broker.subscribe("a.*").unwrap();
        assert_eq!(broker.publish("a.b", 2).unwrap().delivered, 1);
        let literal = broker.subscribe("a.b").unwrap();
        assert_eq!(broker.publish("a.b", 3).unwrap().delivered, 2);
        drop(wildcard);
        assert_eq!(broker.publish("a.b", 4).unwrap().delivered, 1);
        drop(literal);
        assert!(broker.publish("a.b", 5).unwrap().is_unrouted());
        assert_eq!(broker.subscription_count(), 0);
    }

    #[test]
    fn tiny_cache_still_routes() {
        let broker = InMemoryMessageBroker::<u8>::builder()
            .match_cache_capacity(1)
            .build()
            .unwrap();
        let mut sub = broker.subscribe("x.>").unwrap();
        for subject in ["x.a", "x.b", "x.a", "y"] {
            broker.publish(subject, 0).unwrap();
        }
        assert_eq!(sub.len(), 3);
        assert!(sub.try_recv().is_some());
    }
}
