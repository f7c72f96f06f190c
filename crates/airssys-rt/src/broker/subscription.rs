//! [`Subscription`]: the receiving end of a subscribe, which unsubscribes
//! when dropped.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use super::BrokerMessage;

/// Undoes a subscription; run once, when the [`Subscription`] is dropped.
type Unsubscribe = Box<dyn FnOnce() + Send + Sync>;

/// The messages a broker has put in a [`Subscription`]'s queue that its
/// consumer has not finished yet. For broker implementations with a direct
/// path ([`MessageBroker::subscribe_direct`](super::MessageBroker::subscribe_direct)):
/// while it is not [clear](Self::is_clear), a new message must be queued
/// behind the others, not delivered directly, or it would overtake them.
///
/// A message counts from [`queued`](Self::queued) (called by the broker
/// before it pushes) until the consumer asks for the next one
/// ([`Subscription::recv`], [`try_recv`](Subscription::try_recv), the
/// stream's next item): asking for the next is what says "done with the
/// last". Cheap to clone; every clone is the same counter. O(1), one atomic.
#[derive(Debug, Clone, Default)]
pub struct Backlog(Arc<AtomicUsize>);

impl Backlog {
    /// A backlog of none.
    pub fn new() -> Self {
        Self::default()
    }

    /// `true` if every queued message has been received and finished by
    /// the consumer: a message delivered now, another way, follows them.
    pub fn is_clear(&self) -> bool {
        // Acquire: pairs with the consumer's release in `finished`, so
        // what the consumer did with the last message happened before.
        self.0.load(Ordering::Acquire) == 0
    }

    /// Counts a message the broker is about to push on the queue.
    pub fn queued(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    /// Uncounts a message [`queued`](Self::queued) whose push failed.
    pub fn not_queued(&self) {
        self.finished();
    }

    fn finished(&self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A live subscription: a bounded queue of the messages whose subject
/// matched its pattern, in publish order per publisher.
///
/// Receive with [`recv`](Self::recv) (async), [`try_recv`](Self::try_recv)
/// (non-blocking) or as a [`Stream`]. **Dropping it unsubscribes**: the broker
/// stops matching it at once, and messages still queued are discarded with it.
///
/// The queue is bounded (its capacity is set at subscribe time); when it is
/// full, the broker does not wait: the message goes to the dead-letter subject
/// and is counted in [`dropped`](Self::dropped).
#[must_use = "a subscription unsubscribes when dropped"]
pub struct Subscription<M> {
    pattern: Arc<str>,
    receiver: mpsc::Receiver<BrokerMessage<M>>,
    capacity: usize,
    dropped: Arc<AtomicU64>,
    unsubscribe: Option<Unsubscribe>,
    /// Set by a broker behind a server: see [`drain`](Self::drain).
    drain: Option<Unsubscribe>,
    /// Set by a broker with a direct path: the last message received is
    /// finished when the next is asked for.
    backlog: Option<Backlog>,
    /// A message was received and counts in `backlog` until the next call.
    holding: bool,
}

impl<M> Subscription<M> {
    /// Builds a subscription from its parts. For broker implementations:
    /// `receiver` is the queue the broker fills, `dropped` the counter the
    /// broker increments when the queue is full, `unsubscribe` what removes
    /// the subscription from the broker (run once, on drop).
    pub fn from_parts(
        pattern: Arc<str>,
        receiver: mpsc::Receiver<BrokerMessage<M>>,
        dropped: Arc<AtomicU64>,
        unsubscribe: impl FnOnce() + Send + Sync + 'static,
    ) -> Self {
        Self {
            pattern,
            capacity: receiver.max_capacity(),
            receiver,
            dropped,
            unsubscribe: Some(Box::new(unsubscribe)),
            drain: None,
            backlog: None,
            holding: false,
        }
    }

    /// This subscription's queue is counted in `backlog`: each message the
    /// broker counted with [`Backlog::queued`] is finished when the
    /// consumer asks for the next one. For broker implementations of
    /// [`subscribe_direct`](super::MessageBroker::subscribe_direct).
    pub fn with_backlog(mut self, backlog: Backlog) -> Self {
        self.backlog = Some(backlog);
        self
    }

    /// How this subscription is drained ([`drain`](Self::drain)): `drain`
    /// stops new messages at the source and lets those already on their
    /// way into the queue, then ends it (the broker drops its sending
    /// half). For broker implementations whose messages can be in flight
    /// when the consumer lets go (a server's).
    pub fn with_drain(mut self, drain: impl FnOnce() + Send + Sync + 'static) -> Self {
        self.drain = Some(Box::new(drain));
        self
    }

    /// The consumer asks for the next message: the one it holds is done.
    fn finish_held(&mut self) {
        if std::mem::take(&mut self.holding) {
            if let Some(backlog) = &self.backlog {
                backlog.finished();
            }
        }
    }

    /// Notes what the consumer now holds.
    fn hold(&mut self, received: Option<BrokerMessage<M>>) -> Option<BrokerMessage<M>> {
        self.holding = received.is_some() && self.backlog.is_some();
        received
    }

    /// Receives the next message, waiting until one arrives.
    ///
    /// Returns `None` only if the broker has gone away (it was dropped with
    /// every handle to it) and the queue is drained.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel-safe: if the future is dropped before it
    /// completes (e.g. in `tokio::select!` or under `tokio::time::timeout`),
    /// no message is lost; it stays queued for the next call.
    pub async fn recv(&mut self) -> Option<BrokerMessage<M>> {
        self.finish_held();
        let received = self.receiver.recv().await;
        self.hold(received)
    }

    /// Takes the next queued message without waiting; `None` if the queue is
    /// empty (or the broker is gone). O(1), does not need a runtime.
    pub fn try_recv(&mut self) -> Option<BrokerMessage<M>> {
        self.finish_held();
        let received = self.receiver.try_recv().ok();
        self.hold(received)
    }

    /// Unsubscribes without discarding what is queued: the broker stops
    /// matching this subscription at once, later publishes no longer reach
    /// it (a broker counts them as for a subscriber that is gone), and
    /// [`recv`](Self::recv) keeps returning the messages queued before, then
    /// `None`. Use it to hand every accepted message on before letting go
    /// of a subscription; dropping it instead discards the queue.
    ///
    /// With a broker behind a server, what the server had sent before it
    /// learnt of the unsubscribe is refused (counted by the broker as for
    /// a subscriber that is gone); [`drain`](Self::drain) receives it.
    ///
    /// Idempotent.
    pub fn close(&mut self) {
        if let Some(unsubscribe) = self.unsubscribe.take() {
            unsubscribe();
        }
        self.receiver.close();
    }

    /// As [`close`](Self::close), but what is already on its way is still
    /// received: with a broker behind a server, every message the server
    /// sent before it confirmed the unsubscribe. [`recv`](Self::recv) returns
    /// what was queued and what arrives meanwhile, then `None` once the
    /// source is done. Use it to account for every message before letting
    /// go of a subscription whose publishers may still be sending.
    ///
    /// Idempotent; the same as `close` for a broker without a server.
    pub fn drain(&mut self) {
        match self.drain.take() {
            Some(drain) => drain(),
            None => self.close(),
        }
    }

    /// The pattern this subscription was made with.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Number of messages queued and not yet received. O(1).
    pub fn len(&self) -> usize {
        self.receiver.len()
    }

    /// `true` if no message is queued. O(1).
    pub fn is_empty(&self) -> bool {
        self.receiver.is_empty()
    }

    /// The capacity of this subscription's queue.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Messages that matched this subscription but found its queue full (and
    /// were dead-lettered instead), since it was created.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl<M> Drop for Subscription<M> {
    fn drop(&mut self) {
        if let Some(unsubscribe) = self.unsubscribe.take() {
            unsubscribe();
        }
    }
}

impl<M> fmt::Debug for Subscription<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("pattern", &self.pattern)
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .field("dropped", &self.dropped())
            .finish()
    }
}

/// Yields the subscription's messages; ends when the broker is gone.
/// Same cancel safety as [`Subscription::recv`].
impl<M> Stream for Subscription<M> {
    type Item = BrokerMessage<M>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.finish_held();
        match self.receiver.poll_recv(cx) {
            Poll::Ready(received) => Poll::Ready(self.hold(received)),
            Poll::Pending => Poll::Pending,
        }
    }
}
