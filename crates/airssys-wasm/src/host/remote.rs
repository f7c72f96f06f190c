//! [`RemoteRoutes`]: location transparency over a distributed broker (one
//! whose [`is_distributed`](MessageBroker::is_distributed) is `true`, such as
//! airssys-nats's).
//!
//! Each host subscribes the subject `component.<id>` (under the broker's
//! application prefix) for every component it runs: one broker subscription
//! per component subject per host, fed into that component's mailbox. A send
//! or request to an id not in the local registry goes through the broker on
//! that subject; local ids never touch it.
//!
//! A send goes straight into the component's mailbox from the broker's
//! receiving task (the subscription's direct path,
//! [`MessageBroker::subscribe_direct`]), which waits up to
//! [`REMOTE_ROOM_WAIT`] when the mailbox is full. Anything else — a
//! request, a payload over the limit, a send that still finds the mailbox
//! full after that wait, and every message after one of those until the
//! endpoint has caught up — goes through the subscription's queue to the
//! component's endpoint task, which waits for mailbox room (or
//! dead-letters). Either way, one sender's messages reach the mailbox in
//! order.
//!
//! - A message without a reply subject is a send (fire-and-forget), as a
//!   plain NATS client's publish is.
//! - A message whose reply subject starts with [`SEND_INBOX`] is a send from
//!   an airssys host: it is not answered with a reply. The reply subject is
//!   there so that the server answers "no responders" when no host runs the
//!   target; the sending host counts that as a dead letter `no_such_target`.
//! - A reply subject on every message costs a third of a plain NATS
//!   publisher's throughput (`docs/performance.md`), so a sending host does
//!   not put one on every send. The host that runs the target acknowledges
//!   a send that carried one when it arrives (an empty message on that
//!   reply subject, at most one per sending host per millisecond): the
//!   sender then sends without a reply subject for [`SEND_LEASE`], asking
//!   again once a millisecond in its last 250 ms so that the lease is
//!   renewed before it ends. A host whose component stops acknowledges
//!   nothing more and keeps the subject until twice [`SEND_LEASE`] after
//!   its last acknowledgement, dead-lettering what still arrives
//!   (`actor_stopped`, counted there); by then every sender's lease has
//!   ended, its sends ask again, and "no responders" comes back once the
//!   subject is gone.
//! - Any other reply subject makes it a request: the component's reply
//!   (empty if it gave none) is published there.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_rt::broker::{
    BrokerError, BrokerMessage, DirectDelivery, DirectOutcome, MessageBroker, SubjectPublisher,
    Subscription,
};
use airssys_rt::{ActorRef, TrySendError};
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::actor::ComponentActor;
use super::dead_letters::DeadLetterSink;
use super::error::HostError;
use super::mailbox;
use super::message::{self, component_subject, ComponentMessage, Expects, TopicMessage};
use super::remote_monitor::{Membership, RemoteMonitors, Watched};
use crate::guest::BoxFuture;
use crate::guest::GuestMessage;
use crate::id::ComponentId;
use airssys_rt::DeadLetterReason;

/// Reply subjects of sends between hosts start with this.
pub const SEND_INBOX: &str = "_INBOX.airssys-send.";

/// How long a sending host sends to a component without a reply subject
/// after the host that runs it acknowledged a send (see the module docs).
/// The host that runs it keeps the component's subject for twice this
/// after its last acknowledgement, once the component stopped.
pub const SEND_LEASE: Duration = Duration::from_millis(500);

/// Most targets whose subjects [`RemoteRoutes`] keeps made; past that the
/// cache starts again (a host sends to a few ids, not to thousands).
const NAMES_KEPT: usize = 1024;

/// How long the broker's receiving task waits for room in a full mailbox
/// before it leaves the message (and those after it, until the component
/// catches up) to the component's endpoint (see [`direct_sends`]). A
/// 1,024-message mailbox frees an eighth of its room within this if its
/// component handles more than ~26,000 messages a second; meanwhile what
/// arrives waits in the NATS client's buffer (65,536 messages by default).
pub const REMOTE_ROOM_WAIT: Duration = Duration::from_millis(5);

/// How long a host waits for one of its components to handle a request that
/// came over the broker (the requester has its own, usually shorter, timeout).
const REMOTE_HANDLE_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct RemoteRoutes {
    broker: Arc<dyn MessageBroker<TopicMessage>>,
    dead_letters: DeadLetterSink,
    /// `_INBOX.airssys-send.<host>`: reply subject prefix of this host's sends.
    send_inbox: String,
    /// Per target id: its subject, this host's reply subject for sends to
    /// it, and its lease, made once (a send is the hot path: one lookup and
    /// one reference count).
    names: Arc<Mutex<NamesByTarget>>,
    /// What leases are measured from, on the coarse clock (see [`since`]).
    epoch: coarsetime::Instant,
    endpoints: Mutex<HashMap<ComponentId, EndpointTask>>,
    /// Endpoints of stopped components, keeping their subject while a
    /// sender's lease may need it.
    draining: Mutex<HashMap<ComponentId, JoinHandle<()>>>,
    nacks: JoinHandle<()>,
    /// Monitors this host holds on components of other hosts.
    monitors: Arc<RemoteMonitors>,
    /// Who this host is in its cluster, and who is live (none outside a
    /// cluster).
    membership: Option<Arc<dyn Membership>>,
}

impl RemoteRoutes {
    /// Subscribes the host's send inbox, where the server's "no responders"
    /// answers to sends arrive, and the acknowledgements of hosts that run
    /// their targets.
    pub(crate) fn new(
        broker: Arc<dyn MessageBroker<TopicMessage>>,
        dead_letters: DeadLetterSink,
        membership: Option<Arc<dyn Membership>>,
    ) -> Result<Self, HostError> {
        let host = host_token();
        let monitors = RemoteMonitors::start(Arc::clone(&broker), &host, membership.clone())?;
        let send_inbox = format!("{SEND_INBOX}{host}");
        let pattern = format!("{send_inbox}.>");
        let mut answers = broker
            .subscribe(&pattern)
            .map_err(|e| HostError::from_broker(&pattern, e))?;
        let sink = dead_letters.clone();
        let strip = format!("{send_inbox}.");
        let names: Arc<Mutex<NamesByTarget>> = Arc::default();
        let epoch = coarsetime::Instant::now_without_cache_update();
        let leases = Arc::clone(&names);
        let nacks = tokio::spawn(async move {
            while let Some(answer) = answers.recv().await {
                let target = answer
                    .subject
                    .strip_prefix(&strip)
                    .unwrap_or(&answer.subject);
                let lease = leases.lock().get(target).map(Arc::clone);
                let Some(reason) = answer.dead_letter else {
                    // The host that runs it took a send: a lease.
                    if let Some(names) = lease {
                        names.lease.grant(since(epoch) + nanos(SEND_LEASE));
                    }
                    continue;
                };
                tracing::debug!(%target, ?reason, "a send found no host that runs its target");
                if let Some(names) = lease {
                    names.lease.end();
                }
                sink.post(
                    &ComponentId::new(target),
                    GuestMessage::new(Bytes::new()),
                    DeadLetterReason::NoSuchTarget,
                );
            }
        });
        Ok(Self {
            broker,
            dead_letters,
            send_inbox,
            names,
            epoch,
            endpoints: Mutex::new(HashMap::new()),
            draining: Mutex::new(HashMap::new()),
            nacks,
            monitors,
            membership,
        })
    }

    /// The monitors this host holds on components of other hosts.
    pub(crate) fn monitors(&self) -> &Arc<RemoteMonitors> {
        &self.monitors
    }

    /// Monitors component `to`, which this host does not run, on the host
    /// that does (see [`RemoteMonitors::monitor`]).
    ///
    /// # Errors
    /// The broker's, when the request cannot be sent.
    pub(crate) fn monitor(
        &self,
        id: u64,
        from: Option<&ComponentId>,
        to: &str,
        notify: super::remote_monitor::Notify,
    ) -> Result<(), BrokerError> {
        self.monitors
            .monitor(id, from, to, component_subject(to), notify)
    }

    /// Takes `published`, a message for component `id` that came to this
    /// host some other way than `id`'s own subscription (held during a
    /// hand-over), if it is another host's monitor or demonitor request;
    /// `false` otherwise, or when `id` is not served here.
    pub(crate) fn take_monitor_request(
        &self,
        id: &str,
        published: &BrokerMessage<TopicMessage>,
    ) -> bool {
        let watched = self
            .endpoints
            .lock()
            .get(id)
            .map(|task| Arc::clone(&task.watched));
        watched.is_some_and(|watched| watched.take(published))
    }

    /// The publisher of sends to `to`: on `component.<to>`, with the reply
    /// subject `_INBOX.airssys-send.<host>.<to>` (where the server's "no
    /// responders" for a send to `to` comes back) when a send asks; and the
    /// lease of sends to `to`. Made once per target (a send is the hot path:
    /// one lookup and one reference count).
    ///
    /// # Errors
    /// [`BrokerError::InvalidSubject`] if `to` makes no valid subject.
    fn send_names(&self, to: &str) -> Result<Arc<SendNames>, BrokerError> {
        let mut names = self.names.lock();
        if let Some(known) = names.get(to) {
            return Ok(Arc::clone(known));
        }
        if names.len() >= NAMES_KEPT {
            names.clear();
        }
        let made = Arc::new(SendNames {
            publisher: Arc::clone(&self.broker).publisher(
                &component_subject(to),
                Some(&format!("{}.{to}", self.send_inbox)),
            )?,
            lease: Lease::default(),
        });
        names.insert(Box::from(to), Arc::clone(&made));
        Ok(made)
    }

    /// Whether a send to `names`' target carries the reply subject now: not
    /// while its lease holds.
    fn asks(&self, names: &SendNames) -> bool {
        names.lease.asks(since(self.epoch))
    }

    /// A send from the host's owner (the façade) to a component this host
    /// does not run: as [`send`](Self::send), but waits while the broker's
    /// outbound queue is full, as a local send waits for mailbox room.
    ///
    /// # Errors
    /// The broker's error; the payload comes back with it when it was never
    /// handed to the broker (`to` makes no valid subject).
    pub(crate) async fn send_waiting(
        &self,
        to: &str,
        payload: Bytes,
    ) -> Result<(), (BrokerError, Option<Bytes>)> {
        let names = match self.send_names(to) {
            Ok(names) => names,
            Err(error) => return Err((error, Some(payload))),
        };
        let message = TopicMessage {
            sender: None,
            payload,
            trace: None,
        };
        names
            .publisher
            .publish_waiting(message, self.asks(&names))
            .await
            .map(|_| ())
            .map_err(|error| (error, None))
    }

    /// A send from a component to a component this host does not run.
    /// Never waits (a guest's `send` is synchronous); if no host runs `to`,
    /// the server's "no responders" comes back on this host's send inbox
    /// and is counted as a dead letter `no_such_target`.
    pub(crate) fn send(
        &self,
        from: &ComponentId,
        to: &str,
        payload: Bytes,
    ) -> Result<(), BrokerError> {
        let message = TopicMessage {
            sender: Some(from.clone()),
            payload,
            trace: crate::trace::outgoing(),
        };
        let names = self.send_names(to)?;
        names
            .publisher
            .publish(message, self.asks(&names))
            .map(|_| ())
    }

    /// A request to a component this host does not run:
    /// [`BrokerError::NoResponders`] when no host runs it (the server says
    /// so at once), [`BrokerError::Timeout`] past `timeout`.
    pub(crate) fn request(
        &self,
        from: Option<&ComponentId>,
        to: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<Result<Bytes, BrokerError>> {
        let broker = Arc::clone(&self.broker);
        let subject = component_subject(to);
        let message = TopicMessage {
            sender: from.cloned(),
            payload,
            trace: crate::trace::outgoing(),
        };
        Box::pin(async move {
            let reply = broker.request(&subject, message, timeout).await?;
            Ok(reply.payload.payload)
        })
    }

    /// Subscribes `component.<id>` for a component this host runs.
    pub(crate) fn serve(
        &self,
        id: ComponentId,
        actor: ActorRef<ComponentActor>,
        max_message_bytes: usize,
    ) -> Result<(), HostError> {
        let subject = component_subject(id.as_str());
        let serving = Arc::new(AtomicBool::new(true));
        let acks = Acks::new(id.clone(), Arc::clone(&self.broker), Arc::clone(&serving));
        let subscription = self
            .broker
            .subscribe_direct(
                &subject,
                direct_sends(actor.clone(), max_message_bytes, acks.clone()),
            )
            .map_err(|e| HostError::from_broker(&subject, e))?;
        let watched = Watched::new(
            id.clone(),
            actor.clone(),
            Arc::clone(&self.broker),
            self.membership.as_ref(),
        );
        let endpoint = Endpoint {
            id: id.clone(),
            watched: Arc::clone(&watched),
            actor,
            max_message_bytes,
            broker: Arc::clone(&self.broker),
            dead_letters: self.dead_letters.clone(),
            acks,
        };
        let (stop, stopped) = oneshot::channel();
        let pump = tokio::spawn(endpoint.pump(subscription, stopped));
        // A stopped incarnation's subject goes now: this one has its own.
        if let Some(old) = self.draining.lock().remove(&id) {
            old.abort();
        }
        if let Some(old) = self.endpoints.lock().insert(
            id,
            EndpointTask {
                stop,
                pump,
                serving,
                watched,
            },
        ) {
            old.pump.abort();
        }
        Ok(())
    }

    /// Stops acknowledging sends to `<id>` and, twice [`SEND_LEASE`] after
    /// the last acknowledgement (every sender's lease has ended by then),
    /// unsubscribes `component.<id>`, once what was queued on it is
    /// delivered (or dead-lettered, if the component is gone).
    pub(crate) fn remove(&self, id: &str) {
        let Some(task) = self.endpoints.lock().remove(id) else {
            return;
        };
        task.serving.store(false, Ordering::Release);
        let _ = task.stop.send(Stop::Stopped);
        let mut draining = self.draining.lock();
        draining.retain(|_, pump| !pump.is_finished());
        draining.insert(ComponentId::new(id), task.pump);
    }

    /// Hands `<id>`'s subject off to another host that has joined its queue
    /// group: acknowledges nothing more, unsubscribes now (what the server
    /// sent before is still delivered to the component) and returns the
    /// endpoint's task, which ends once that is done; `None` if `<id>` is
    /// not served here.
    pub(crate) fn hand_off(&self, id: &str) -> Option<JoinHandle<()>> {
        let task = self.endpoints.lock().remove(id)?;
        task.serving.store(false, Ordering::Release);
        let _ = task.stop.send(Stop::HandOff);
        Some(task.pump)
    }

    /// Ends every endpoint (at host shutdown) after it has kept its subject
    /// as long as a sender's lease may need it and delivered or
    /// dead-lettered what was queued, waiting up to `timeout` in all.
    pub(crate) async fn close(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pumps: Vec<JoinHandle<()>> = self
            .endpoints
            .lock()
            .drain()
            .map(|(_, task)| {
                task.serving.store(false, Ordering::Release);
                let _ = task.stop.send(Stop::Stopped);
                task.pump
            })
            .collect();
        pumps.extend(self.draining.lock().drain().map(|(_, pump)| pump));
        for pump in pumps {
            let abort = pump.abort_handle();
            if tokio::time::timeout_at(deadline, pump).await.is_err() {
                tracing::warn!("a component endpoint did not finish draining in time; aborted");
                abort.abort();
            }
        }
        self.nacks.abort();
        self.monitors.close();
    }
}

/// Nanoseconds from `epoch` to now, on the coarse monotonic clock
/// (`CLOCK_MONOTONIC_COARSE`: the time of the last kernel tick, 1 to 4 ms
/// old, read without the precise clock's counter read and conversion;
/// every send to another host reads it). Leases are hundreds of milliseconds and a
/// renewing send asks at most once per [`ASK_EVERY`], so a tick's error
/// only moves a renewal or an expiry by that tick.
fn since(epoch: coarsetime::Instant) -> u64 {
    // Without updating coarsetime's shared "recent" value: nothing here
    // reads it, and a store to one global on every send would bounce its
    // cache line between the cores that send.
    coarsetime::Instant::now_without_cache_update()
        .duration_since(epoch)
        .as_nanos()
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Until when sends to one target may go without a reply subject
/// (nanoseconds from the routes' epoch; 0: every send asks).
#[derive(Default)]
struct Lease {
    until: AtomicU64,
    /// When a send last asked while the lease was being renewed.
    asked: AtomicU64,
}

/// How long before its end a lease is renewed: from then on, one send in
/// [`ASK_EVERY`] carries the reply subject, so that an acknowledgement
/// comes back before the lease ends.
const RENEW_BEFORE: Duration = Duration::from_millis(250);

/// While a lease is renewed, one send in this long asks.
const ASK_EVERY: Duration = Duration::from_millis(1);

impl Lease {
    /// Whether a send at `now` carries the reply subject: always without a
    /// lease, never early in one, once per [`ASK_EVERY`] near its end.
    fn asks(&self, now: u64) -> bool {
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

    fn grant(&self, until: u64) {
        self.until.fetch_max(until, Ordering::AcqRel);
    }

    fn end(&self) {
        self.until.store(0, Ordering::Release);
    }
}

/// How a component's endpoint acknowledges a send that carried a reply
/// subject, while the component is served here.
#[derive(Clone)]
struct Acks {
    id: ComponentId,
    broker: Arc<dyn MessageBroker<TopicMessage>>,
    /// Cleared when the component stops: from then on nothing is
    /// acknowledged, so no sender's lease outlives the subject.
    serving: Arc<AtomicBool>,
    /// When each sending host's reply subject was last acknowledged.
    last: Arc<Mutex<HashMap<Arc<str>, Instant>>>,
}

impl Acks {
    fn new(
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
    fn last_acknowledged(&self) -> Option<Instant> {
        self.last.lock().values().max().copied()
    }

    /// Acknowledges `published` when it arrives here, if it is a send from
    /// another host that asked (its reply subject is a send inbox) and the
    /// component is still served here; at most once per [`ASK_EVERY`] for
    /// each sending host. From here on this host accounts for the message:
    /// it is delivered, or dead-lettered here with the reason.
    fn arrived(&self, published: &BrokerMessage<TopicMessage>) {
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

/// The publisher of sends to one target, and its lease.
struct SendNames {
    publisher: Arc<dyn SubjectPublisher<TopicMessage>>,
    lease: Lease,
}

/// [`SendNames`] by target id.
type NamesByTarget = HashMap<Box<str>, Arc<SendNames>, foldhash::fast::RandomState>;

/// How an endpoint is told to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The component stopped: keep the subject while senders' leases may
    /// need it, dead-lettering what still comes.
    Stopped,
    /// The component moves to another host, already in the subject's queue
    /// group: drain now, delivering what the server sent before.
    HandOff,
}

/// A running endpoint: its pump, and the order that ends it.
struct EndpointTask {
    stop: oneshot::Sender<Stop>,
    pump: JoinHandle<()>,
    serving: Arc<AtomicBool>,
    /// Other hosts' monitors of the component.
    watched: Arc<Watched>,
}

/// One component's end of its subject.
struct Endpoint {
    id: ComponentId,
    /// Other hosts' monitors of the component: their requests come on its
    /// subject and never reach the guest.
    watched: Arc<Watched>,
    actor: ActorRef<ComponentActor>,
    max_message_bytes: usize,
    broker: Arc<dyn MessageBroker<TopicMessage>>,
    dead_letters: DeadLetterSink,
    acks: Acks,
}

impl Endpoint {
    /// Delivers what arrives on the component's subject until told to stop;
    /// then, acknowledging nothing, until twice [`SEND_LEASE`] after its
    /// last acknowledgement; then drains the subscription (unsubscribed at
    /// the server, what was on its way still delivered) and ends.
    async fn pump(
        self,
        mut subscription: Subscription<TopicMessage>,
        mut stop: oneshot::Receiver<Stop>,
    ) {
        let Some(stopped) = self.deliver_until(&mut subscription, &mut stop).await else {
            return;
        };
        // Handed off: another host has joined the subject's queue group
        // and takes what comes from now on; no grace needed.
        let handed_off = matches!(stopped, Ok(Stop::HandOff));
        if !handed_off {
            // No sender's lease outlives its acknowledgement by more than
            // SEND_LEASE: twice that leaves room for the messages on their way.
            let grace = tokio::time::sleep_until(match self.acks.last_acknowledged() {
                Some(at) => tokio::time::Instant::from_std(at + 2 * SEND_LEASE),
                None => tokio::time::Instant::now(),
            });
            if self.deliver_until(&mut subscription, grace).await.is_none() {
                return;
            }
        }
        // Unsubscribed at the server, and what it sent before still comes:
        // each is delivered or dead-lettered here, none dropped unseen.
        subscription.drain();
        while let Some(message) = subscription.recv().await {
            self.deliver(message).await;
        }
    }

    /// Delivers what arrives until `until` completes, and returns its
    /// output; `None` if the subscription ended first.
    async fn deliver_until<F: std::future::Future>(
        &self,
        subscription: &mut Subscription<TopicMessage>,
        until: F,
    ) -> Option<F::Output> {
        tokio::pin!(until);
        loop {
            tokio::select! {
                biased;
                out = &mut until => return Some(out),
                message = subscription.recv() => match message {
                    Some(message) => self.deliver(message).await,
                    None => return None,
                },
            }
        }
    }

    /// Delivers one message from the broker: a send is queued once the
    /// mailbox has room; a request is asked, and its
    /// reply published, before the next message is taken (the component
    /// handles one message at a time anyway).
    async fn deliver(&self, published: BrokerMessage<TopicMessage>) {
        // Those that came past the direct path were acknowledged there;
        // a second acknowledgement is rate-limited, and harmless.
        self.acks.arrived(&published);
        if self.watched.take(&published) {
            return;
        }
        let reply_to = published.reply_to.clone().filter(|r| !is_send_inbox(r));
        let expects = if reply_to.is_some() {
            Expects::Reply
        } else {
            Expects::Nothing
        };
        let message = message::message(
            published.payload.sender.clone(),
            published.payload.payload.clone(),
            expects,
            published.payload.trace.clone(),
        );
        let delivered = match mailbox::checked(self.max_message_bytes, message) {
            Err(refused) => {
                let why = refused.to_string();
                let message = *refused.message;
                if expects == Expects::Reply {
                    self.answer_failure(&published, &why);
                }
                self.dead_letters
                    .post(&self.id, message, DeadLetterReason::Rejected(why));
                return;
            }
            // Waits for mailbox room, as a local send from the façade does:
            // a busy component slows its own subject, and what the server
            // pushes meanwhile waits in the subscription's buffer (which
            // dead-letters, with the reason, if it overflows).
            Ok(message) if expects == Expects::Nothing => {
                if let Err(error) = self.actor.tell(ComponentMessage::Deliver(message)).await {
                    if let ComponentMessage::Deliver(message) = error.message {
                        self.dead_letters
                            .post(&self.id, message, DeadLetterReason::ActorStopped);
                    }
                }
                return;
            }
            Ok(message) => {
                mailbox::ask(
                    &self.actor,
                    ComponentMessage::Request(message),
                    REMOTE_HANDLE_TIMEOUT,
                )
                .await
            }
        };
        let reply = match delivered {
            Ok(reply) => reply.unwrap_or_default(),
            Err(error) => {
                // The handler's own failure was dead-lettered by the actor;
                // the requester learns of it now, not at its timeout.
                tracing::debug!(component = %self.id, %error, "remote request failed");
                self.answer_failure(&published, &error.to_string());
                return;
            }
        };
        let answer = TopicMessage {
            sender: Some(self.id.clone()),
            payload: reply,
            trace: None,
        };
        if let Err(error) = self.broker.reply(&published, answer) {
            tracing::warn!(component = %self.id, %error, "could not publish the reply to a remote request");
        }
    }
}

impl Endpoint {
    /// Tells the requester of `request` that it failed here, and why
    /// ([`DistributedBroker::reply_failure`](airssys_rt::broker::DistributedBroker::reply_failure));
    /// a broker that cannot carry it leaves the requester to its timeout.
    fn answer_failure(&self, request: &BrokerMessage<TopicMessage>, why: &str) {
        let Some(broker) = self.broker.distributed() else {
            tracing::debug!(component = %self.id, "a local broker carries no failed reply");
            return;
        };
        if let Err(error) = broker.reply_failure(request, why) {
            tracing::warn!(component = %self.id, %error, "could not tell a remote requester that its request failed");
        }
    }
}

/// `true` for the reply subject of a send between hosts (not answered).
fn is_send_inbox(reply_to: &str) -> bool {
    reply_to.starts_with(SEND_INBOX)
}

/// The direct path of a component's subscription: a send (no reply
/// subject, or a host's send inbox) within the size limit goes into the
/// mailbox; if the mailbox is full, the broker's receiving task waits for
/// room, up to [`REMOTE_ROOM_WAIT`]. Anything else (a request, a payload
/// over the limit, a stopped component, or a mailbox still full after the
/// wait) is given back for the endpoint, which asks, waits for room, or
/// dead-letters with the reason.
///
/// Waiting here rather than queueing for the endpoint saves a task hop per
/// message for as long as a fast component is merely busy: without it a
/// mailbox that filled once sent every later message of a steady stream
/// through the endpoint (a third of host CPU per message more in the
/// `nats_tell` bench, `docs/performance.md`). A component too slow to free
/// room within the wait still gets the endpoint's path, whose queue
/// dead-letters what overflows, with the reason.
fn direct_sends(
    actor: ActorRef<ComponentActor>,
    max_message_bytes: usize,
    acks: Acks,
) -> DirectDelivery<TopicMessage> {
    Arc::new(move |mut published: BrokerMessage<TopicMessage>| {
        acks.arrived(&published);
        let is_send = published.reply_to.as_deref().is_none_or(is_send_inbox);
        if !is_send || published.payload.payload.len() > max_message_bytes {
            return DirectOutcome::Refused(published);
        }
        // Moved, not copied: a refusal hands the message back, and it is
        // put back for the endpoint.
        let message = message::message(
            published.payload.sender.take(),
            std::mem::take(&mut published.payload.payload),
            Expects::Nothing,
            published.payload.trace.take(),
        );
        let give_back = |mut published: BrokerMessage<TopicMessage>, refused: ComponentMessage| {
            if let ComponentMessage::Deliver(message) = refused {
                published.payload = TopicMessage {
                    sender: message.sender,
                    payload: message.payload,
                    trace: message.trace,
                };
            }
            published
        };
        match actor.try_tell(ComponentMessage::Deliver(message)) {
            Ok(()) => DirectOutcome::Taken,
            Err(TrySendError::MailboxFull { message, .. }) => {
                let actor = actor.clone();
                let deadline = tokio::time::Instant::now() + REMOTE_ROOM_WAIT;
                DirectOutcome::Wait(Box::pin(async move {
                    actor
                        .tell_until(message, deadline)
                        .await
                        .map_err(|refused| give_back(published, refused.into_message()))
                }))
            }
            // Stopped (or a kind of refusal not known here): the endpoint
            // dead-letters it with the reason.
            Err(refused) => DirectOutcome::Refused(give_back(published, refused.into_message())),
        }
    })
}

/// A token naming this host in its send inbox: process id and start time.
fn host_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}{:x}", std::process::id(), nanos)
}
