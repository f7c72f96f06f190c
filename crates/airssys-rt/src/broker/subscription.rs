//! [`Subscription`]: the receiving end of a subscribe, which unsubscribes
//! when dropped.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use super::BrokerMessage;

/// Undoes a subscription; run once, when the [`Subscription`] is dropped.
type Unsubscribe = Box<dyn FnOnce() + Send + Sync>;

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
        }
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
        self.receiver.recv().await
    }

    /// Takes the next queued message without waiting; `None` if the queue is
    /// empty (or the broker is gone). O(1), does not need a runtime.
    pub fn try_recv(&mut self) -> Option<BrokerMessage<M>> {
        self.receiver.try_recv().ok()
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
        self.receiver.poll_recv(cx)
    }
}
