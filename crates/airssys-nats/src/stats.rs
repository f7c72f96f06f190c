//! [`NatsStats`]: what a NATS broker counts, and the counters behind it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[cfg(doc)]
use airssys_rt::broker::MessageBroker;

/// Counters of a [`NatsBroker`](crate::NatsBroker) since it was connected (relaxed loads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NatsStats {
    /// Messages accepted by `publish` (requests, replies and dead letters included).
    pub published: u64,
    /// Publishes refused with `BrokerError::Transport` (queue full or not connected).
    pub refused: u64,
    /// Accepted messages the client failed to send (its connection task was gone).
    pub lost: u64,
    /// Messages received from the server and queued to a subscription (or
    /// taken by its direct path).
    pub received: u64,
    /// Of `received`, those a subscription's direct path took
    /// ([`MessageBroker::subscribe_direct`]), without its queue.
    pub direct: u64,
    /// Received messages whose subscription queue was full (dead-lettered).
    pub dropped_full: u64,
    /// Received messages that `WireCodec::decode` refused (logged, dropped).
    pub undecodable: u64,
    /// Messages the client dropped before the broker saw them: its own queue
    /// for a subscription (see
    /// [`NatsBrokerBuilder::client_subscription_capacity`](crate::NatsBrokerBuilder::client_subscription_capacity)) was full because
    /// the broker's receiving task fell behind. The client reports each drop
    /// as one "slow consumer" event, counted here; its event channel holds
    /// 128 events, so in a storm of drops faster than they are counted this
    /// is a lower bound (logged when it happens).
    pub slow_consumer_dropped: u64,
    /// Dead letters published.
    pub dead_lettered: u64,
}

/// The live counters behind [`NatsStats`], shared by the broker, its
/// outbound task, its receiving tasks and the client's event callback.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) refused: AtomicU64,
    /// Shared with the outbound task.
    pub(crate) lost: Arc<AtomicU64>,
    pub(crate) received: AtomicU64,
    pub(crate) direct: AtomicU64,
    pub(crate) dropped_full: AtomicU64,
    pub(crate) undecodable: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    /// Shared with the client's event callback.
    pub(crate) slow_consumer_dropped: Arc<AtomicU64>,
}

impl Counters {
    /// A snapshot (relaxed loads).
    pub(crate) fn snapshot(&self) -> NatsStats {
        NatsStats {
            published: self.published.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            direct: self.direct.load(Ordering::Relaxed),
            dropped_full: self.dropped_full.load(Ordering::Relaxed),
            undecodable: self.undecodable.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            slow_consumer_dropped: self.slow_consumer_dropped.load(Ordering::Relaxed),
        }
    }
}
