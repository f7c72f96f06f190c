//! The inbound side of a [`NatsBroker`](crate::NatsBroker): one task per NATS subscription
//! decodes what the server delivers and hands it on, directly to its
//! consumer when the subscription has a direct path (waiting, boundedly,
//! when the direct path asks it to), or through the airssys
//! [`Subscription`](airssys_rt::broker::Subscription)'s queue.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use airssys_rt::broker::{
    subject, Backlog, BrokerMessage, DeadLetterReason, DirectDelivery, DirectOutcome,
    MessageBroker, Undelivered,
};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::codec::WireCodec;
use crate::dead_letter_wire::dead_letter_of;
use crate::stats::Counters;
use crate::subjects::local;

/// What a receiving task needs of its broker: the codec and prefix to read
/// messages with, the counters to count them in, and the broker itself
/// (type-erased: this side knows only the airssys trait) to dead-letter
/// what a subscription cannot take. Holding it keeps the connection open
/// while the subscription lives.
pub(crate) struct Inbound<M> {
    pub(crate) codec: Arc<dyn WireCodec<M>>,
    pub(crate) prefix: Arc<str>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) broker: Arc<dyn MessageBroker<M>>,
}

/// Where one subscription's messages go.
pub(crate) struct Route<M> {
    /// The subscription's queue (the slow path, and the only one without
    /// `direct`).
    pub(crate) queue: mpsc::Sender<BrokerMessage<M>>,
    /// The airssys pattern, for dead letters and logs.
    pub(crate) pattern: Arc<str>,
    /// The subscription's count of messages dead-lettered on a full queue.
    pub(crate) dropped: Arc<AtomicU64>,
    /// The fast path, tried while `backlog` is clear.
    pub(crate) direct: Option<DirectDelivery<M>>,
    /// Messages queued and not yet finished by the consumer.
    pub(crate) backlog: Backlog,
    /// Fires when the consumer drains the subscription
    /// ([`Subscription::drain`](airssys_rt::broker::Subscription::drain)).
    pub(crate) drain: oneshot::Receiver<()>,
}

/// Feeds one NATS subscription to its [`Route`] until the `Subscription`
/// is dropped or the client closes (dropping `nats` unsubscribes), or,
/// once the consumer drains it, until the server has confirmed the
/// unsubscribe and everything it sent before is handed on.
pub(crate) async fn pump<M: Clone + Send + 'static>(
    broker: Inbound<M>,
    mut nats: async_nats::Subscriber,
    mut route: Route<M>,
) {
    let mut names = Names {
        // A literal pattern is the subject of every message it gets.
        literal: subject::is_literal(&route.pattern).then(|| Arc::clone(&route.pattern)),
        ..Names::default()
    };
    // Made once: a `closed()` made in each turn of the loop would register
    // and unregister a waiter (a lock each) for every message.
    let closed = route.queue.closed();
    tokio::pin!(closed);
    let mut draining = false;
    loop {
        // The next message before the closing: polled only while no
        // message is ready (a queue closed meanwhile is seen at the next
        // hand-over, which dead-letters that message and ends the loop).
        let message = tokio::select! {
            biased;
            drain = &mut route.drain, if !draining => {
                draining = true;
                // Err: the subscription was dropped, not drained (the
                // queue's closing ends the loop).
                if drain.is_ok() {
                    // The client ends the stream once the server has
                    // answered a ping sent after the unsubscribe: what it
                    // sent before still comes through here.
                    if let Err(error) = nats.drain().await {
                        tracing::warn!(pattern = %route.pattern, %error, "could not drain a NATS subscription; it ends now");
                        break;
                    }
                }
                continue;
            }
            next = nats.next() => match next {
                Some(message) => message,
                None => break,
            },
            _ = &mut closed => break,
        };
        let Some(delivered) = decode(&broker, message, &mut names) else {
            continue;
        };
        let Err(delivered) = hand_direct(&route, delivered).await else {
            broker.counters.received.fetch_add(1, Ordering::Relaxed);
            broker.counters.direct.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if enqueue(&broker, &route, delivered).is_break() {
            break;
        }
    }
}

/// Hands `delivered` to the consumer on the direct path, if the route has
/// one, nothing queued is waiting (order) and there is a consumer at all;
/// gives it back otherwise, or when the consumer refuses it.
async fn hand_direct<M: Clone + Send + 'static>(
    route: &Route<M>,
    delivered: BrokerMessage<M>,
) -> Result<(), BrokerMessage<M>> {
    let Some(direct) = &route.direct else {
        return Err(delivered);
    };
    if !route.backlog.is_clear() || route.queue.is_closed() {
        return Err(delivered);
    }
    match direct(delivered) {
        DirectOutcome::Taken => Ok(()),
        DirectOutcome::Refused(back) => Err(back),
        // The next message waits in the client's buffer meanwhile; the
        // wait is bounded by the consumer.
        DirectOutcome::Wait(room) => room.await,
    }
}

/// Queues `delivered` for the consumer; a full queue dead-letters it
/// (`SubscriberFull`), a closed one dead-letters it (`SubscriberClosed`)
/// and ends the pump ([`ControlFlow::Break`]).
fn enqueue<M: Clone + Send + 'static>(
    broker: &Inbound<M>,
    route: &Route<M>,
    delivered: BrokerMessage<M>,
) -> ControlFlow<()> {
    let counters = &broker.counters;
    route.backlog.queued();
    match route.queue.try_send(delivered) {
        Ok(()) => {
            counters.received.fetch_add(1, Ordering::Relaxed);
            ControlFlow::Continue(())
        }
        Err(mpsc::error::TrySendError::Full(message)) => {
            route.backlog.not_queued();
            counters.dropped_full.fetch_add(1, Ordering::Relaxed);
            route.dropped.fetch_add(1, Ordering::Relaxed);
            if message.is_dead_letter() {
                tracing::warn!(subject = %message.subject, pattern = %route.pattern, "dead letter lost: subscription queue full");
                return ControlFlow::Continue(());
            }
            dead_letter(
                broker,
                route,
                message,
                DeadLetterReason::SubscriberFull {
                    capacity: route.queue.max_capacity(),
                },
            );
            ControlFlow::Continue(())
        }
        Err(mpsc::error::TrySendError::Closed(message)) => {
            // The consumer closed the subscription: this one (and nothing
            // after it) is dead-lettered as for any subscriber that is
            // gone.
            route.backlog.not_queued();
            if !message.is_dead_letter() {
                dead_letter(broker, route, message, DeadLetterReason::SubscriberClosed);
            }
            ControlFlow::Break(())
        }
    }
}

/// Dead-letters `message`, which `route`'s subscription could not take,
/// for `reason` (a failure to do so is logged: the broker is closing).
fn dead_letter<M: Clone + Send + 'static>(
    broker: &Inbound<M>,
    route: &Route<M>,
    message: BrokerMessage<M>,
    reason: DeadLetterReason,
) {
    let reason = Undelivered::new(Arc::clone(&route.pattern), reason);
    if let Err(error) = broker
        .broker
        .publish_dead_letter(message.subject, message.payload, reason)
    {
        tracing::warn!(pattern = %route.pattern, %error, "could not dead-letter a message its subscription could not take");
    }
}

/// The last subject and reply subject seen, shared with the next message
/// that has the same: a subscription on one subject (a component's) gets
/// the same few names over and over, so this saves an allocation each.
#[derive(Default)]
struct Names {
    /// The subscription's pattern when it has no wildcard: then every
    /// message's subject, shared without comparing.
    literal: Option<Arc<str>>,
    subject: Option<Arc<str>>,
    reply: Option<Arc<str>>,
}

/// `name` as an `Arc<str>`, the cached one if it is the same.
fn interned(cache: &mut Option<Arc<str>>, name: &str) -> Arc<str> {
    match cache {
        Some(known) if **known == *name => Arc::clone(known),
        _ => Arc::clone(cache.insert(Arc::from(name))),
    }
}

/// The airssys message of a NATS one (prefix stripped, dead-letter headers
/// and "no responders" read back); `None`, counted and logged, if the
/// codec refuses it.
fn decode<M: Clone + Send + 'static>(
    inner: &Inbound<M>,
    message: async_nats::Message,
    names: &mut Names,
) -> Option<BrokerMessage<M>> {
    let subject = match &names.literal {
        Some(literal) => Arc::clone(literal),
        None => interned(&mut names.subject, local(&inner.prefix, &message.subject)),
    };
    let reply_to = message
        .reply
        .as_ref()
        .map(|r| interned(&mut names.reply, local(&inner.prefix, r)));
    let mut dead_letter = message.headers.as_ref().and_then(dead_letter_of);
    if message.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
        // Published with this subscription as reply subject, and nobody
        // took it: surfaced as a dead letter, not dropped.
        dead_letter = Some((
            Undelivered::new(Arc::clone(&subject), DeadLetterReason::NoSuchTarget),
            None,
        ));
    }
    let payload = match inner
        .codec
        .decode(message.headers.as_ref(), message.payload)
    {
        Ok(payload) => payload,
        Err(error) => {
            inner.counters.undecodable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%subject, %error, "dropping a NATS message the codec cannot decode");
            return None;
        }
    };
    let mut delivered = BrokerMessage::new(subject, payload).with_reply_to(reply_to);
    if let Some((reason, original)) = dead_letter {
        if let Some(original) = original {
            delivered.subject = Arc::from(original);
        }
        delivered = delivered.with_dead_letter(reason);
    }
    Some(delivered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_name_is_shared_and_a_new_one_replaces_it() {
        let mut cache = None;
        let first = interned(&mut cache, "component.sink");
        let again = interned(&mut cache, "component.sink");
        assert!(Arc::ptr_eq(&first, &again));
        let other = interned(&mut cache, "component.other");
        assert_eq!(&*other, "component.other");
        assert!(!Arc::ptr_eq(&first, &other));
    }
}
