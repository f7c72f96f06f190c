//! The send lease between hosts: when a sending host may leave the reply
//! subject off its sends to a component of another host (the sender's
//! [`Lease`]), and the acknowledgements that grant it (the receiver's
//! [`Acks`]). The protocol is stated in the [module docs](super).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_rt::broker::{BrokerMessage, MessageBroker, SubjectPublisher};
use bytes::Bytes;
use parking_lot::Mutex;

use crate::host::message::TopicMessage;
use crate::id::ComponentId;

/// Reply subjects of sends between hosts start with this.
pub const SEND_INBOX: &str = "_INBOX.airssys-send.";

/// How long a sending host sends to a component without a reply subject
/// after the host that runs it acknowledged a send (see the module docs).
/// The host that runs it keeps the component's subject for twice this
/// after its last acknowledgement, once the component stopped.
pub const SEND_LEASE: Duration = Duration::from_millis(500);

/// Most targets whose subjects [`RemoteRoutes`] keeps made; past that the
/// cache starts again (a host sends to a few ids, not to thousands).
pub(super) const NAMES_KEPT: usize = 1024;

/// How long before its end a lease is renewed: from then on, one send in
/// [`ASK_EVERY`] carries the reply subject, so that an acknowledgement
/// comes back before the lease ends.
pub(super) const RENEW_BEFORE: Duration = Duration::from_millis(250);

/// While a lease is renewed, one send in this long asks.
pub(super) const ASK_EVERY: Duration = Duration::from_millis(1);

/// Nanoseconds from `epoch` to now, on the coarse monotonic clock
/// (`CLOCK_MONOTONIC_COARSE`: the time of the last kernel tick, 1 to 4 ms
/// old, read without the precise clock's counter read and conversion;
/// every send to another host reads it). Leases are hundreds of milliseconds and a
/// renewing send asks at most once per [`ASK_EVERY`], so a tick's error
/// only moves a renewal or an expiry by that tick.
pub(super) fn since(epoch: coarsetime::Instant) -> u64 {
    // Without updating coarsetime's shared "recent" value: nothing here
    // reads it, and a store to one global on every send would bounce its
    // cache line between the cores that send.
    coarsetime::Instant::now_without_cache_update()
        .duration_since(epoch)
        .as_nanos()
}

pub(super) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Until when sends to one target may go without a reply subject
/// (nanoseconds from the routes' epoch; 0: every send asks).
#[derive(Default)]
pub(super) struct Lease {
    pub(super) until: AtomicU64,
    /// When a send last asked while the lease was being renewed.
    pub(super) asked: AtomicU64,
}

impl Lease {
    /// Whether a send at `now` carries the reply subject: always without a
    /// lease, never early in one, once per [`ASK_EVERY`] near its end.
    pub(super) fn asks(&self, now: u64) -> bool {
        let until = self.until.load(Ordering::Acquire);
        if now >= until {
            return true;
        }
        if now.saturating_add(nanos(RENEW_BEFORE)) < until {
            return false;
        }
        let asked = self.asked.load(Ordering::Relaxed);
        now >= asked.saturating_add(nanos(ASK_EVERY))
            && self
                .asked
                .compare_exchange(asked, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    pub(super) fn grant(&self, until: u64) {
        self.until.fetch_max(until, Ordering::AcqRel);
    }

    pub(super) fn end(&self) {
        self.until.store(0, Ordering::Release);
    }
}

/// The publisher of sends to one target, and its lease.
pub(super) struct SendNames {
    pub(super) publisher: Arc<dyn SubjectPublisher<TopicMessage>>,
    pub(super) lease: Lease,
}

/// [`SendNames`] by target id.
pub(super) type NamesByTarget = HashMap<Box<str>, Arc<SendNames>, foldhash::fast::RandomState>;

/// `true` for the reply subject of a send between hosts (not answered).
pub(super) fn is_send_inbox(reply_to: &str) -> bool {
    reply_to.starts_with(SEND_INBOX)
}

/// How a component's endpoint acknowledges a send that carried a reply
/// subject, while the component is served here.
#[derive(Clone)]
pub(super) struct Acks {
    pub(super) id: ComponentId,
    pub(super) broker: Arc<dyn MessageBroker<TopicMessage>>,
    /// Cleared when the component stops: from then on nothing is
    /// acknowledged, so no sender's lease outlives the subject.
    pub(super) serving: Arc<AtomicBool>,
    /// When each sending host's reply subject was last acknowledged.
    pub(super) last: Arc<Mutex<HashMap<Arc<str>, Instant>>>,
}

impl Acks {
    pub(super) fn new(
        id: ComponentId,
        broker: Arc<dyn MessageBroker<TopicMessage>>,
        serving: Arc<AtomicBool>,
    ) -> Self {
        Self {
            id,
            broker,
            serving,
            last: Arc::default(),
        }
    }

    /// When the last acknowledgement was sent, if any.
    pub(super) fn last_acknowledged(&self) -> Option<Instant> {
        self.last.lock().values().max().copied()
    }

    /// Acknowledges `published` when it arrives here, if it is a send from
    /// another host that asked (its reply subject is a send inbox) and the
    /// component is still served here; at most once per [`ASK_EVERY`] for
    /// each sending host. From here on this host accounts for the message:
    /// it is delivered, or dead-lettered here with the reason.
    pub(super) fn arrived(&self, published: &BrokerMessage<TopicMessage>) {
        let Some(reply) = published.reply_to.as_ref().filter(|r| is_send_inbox(r)) else {
            return;
        };
        if !self.serving.load(Ordering::Acquire) {
            return;
        }
        {
            let now = Instant::now();
            let mut last = self.last.lock();
            match last.get_mut(reply) {
                Some(at) if now.duration_since(*at) < ASK_EVERY => return,
                Some(at) => *at = now,
                None => {
                    if last.len() >= NAMES_KEPT {
                        last.clear();
                    }
                    last.insert(Arc::clone(reply), now);
                }
            }
        }
        let ack = TopicMessage {
            sender: Some(self.id.clone()),
            payload: Bytes::new(),
            trace: None,
        };
        if let Err(error) = self.broker.publish(reply, ack) {
            tracing::debug!(component = %self.id, %error, "could not acknowledge a send");
        }
    }
}
