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
//! [`REMOTE_ROOM_WAIT`](endpoint::REMOTE_ROOM_WAIT) when the mailbox is full. Anything else — a
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

mod endpoint;
mod lease;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{BrokerError, BrokerMessage, MessageBroker};
use airssys_rt::{ActorRef, DeadLetterReason};
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::actor::ComponentActor;
use super::dead_letters::DeadLetterSink;
use super::error::HostError;
use super::message::{component_subject, TopicMessage};
use super::remote_monitor::{Membership, RemoteMonitors, Watched};
use crate::guest::BoxFuture;
use crate::guest::GuestMessage;
use crate::id::ComponentId;
use endpoint::{direct_sends, Endpoint, EndpointTask, Stop};
use lease::{nanos, since, Acks, Lease, NamesByTarget, SendNames, NAMES_KEPT};
pub use lease::{SEND_INBOX, SEND_LEASE};

pub(crate) struct RemoteRoutes {
    broker: Arc<dyn MessageBroker<TopicMessage>>,
    dead_letters: DeadLetterSink,
    /// `_INBOX.airssys-send.<host>`: reply subject prefix of this host's sends.
    send_inbox: String,
    /// Per target id: its subject, this host's reply subject for sends to
    /// it, and its lease, made once (a send is the hot path: one lookup and
    /// one reference count).
    names: Arc<Mutex<NamesByTarget>>,
    /// What leases are measured from, on the coarse clock (see [`since`](lease::since)).
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

/// A token naming this host in its send inbox: process id and start time.
fn host_token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}{:x}", std::process::id(), nanos)
}
