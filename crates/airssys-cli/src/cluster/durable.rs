//! Durable components and topics on a cluster host: sends to durable
//! components and publishes on durable topics go to JetStream
//! ([`DurableStore`]) from whichever host sends, and the host that owns a
//! component takes its stored messages (its mailbox, and its part of each
//! durable topic it subscribed to) with one pump that hands each to the
//! component and acknowledges it once the handler returned.
//!
//! What is at-least-once, what is not, and where order holds is stated in
//! `docs/distribution.md` ("Durable delivery").

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use airssys_nats::cluster::durable::{
    DurableMessage, DurableStore, Mailbox, DEFAULT_TOPIC_RETENTION,
};
use airssys_nats::cluster::topics;
use airssys_nats::cluster::ClusterError;
use airssys_rt::broker::{DeadLetterReason, MessageBroker, Undelivered};
use airssys_wasm::guest::GuestMessage;
use airssys_wasm::host::{ComponentHost, DurableError, DurableSends, HostError};
use airssys_wasm::BoxFuture;
use airssys_wasm::{ComponentId, SubjectPattern, TopicMessage};
use futures::stream::{FuturesOrdered, FuturesUnordered};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Guest sends waiting for the stream's confirmation, at most.
const PENDING_SENDS: usize = 8192;
/// Publishes in flight to the stream at once.
const PUBLISHES_IN_FLIGHT: usize = 256;
/// Messages of one component handed to it and not yet acknowledged.
pub const DURABLE_IN_FLIGHT: usize = 256;
/// How long a durable message's handler may take before the pump gives up
/// on it (it is then delivered again).
const HANDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A guest's send, or a publish on a durable topic, on its way to the
/// stream.
struct Pending {
    from: Option<ComponentId>,
    to: Target,
    payload: bytes::Bytes,
}

/// Where a pending message goes.
enum Target {
    /// A durable component's mailbox.
    Component(String),
    /// A durable topic's subject.
    Topic(String),
}

impl Target {
    fn name(&self) -> &str {
        match self {
            Self::Component(s) | Self::Topic(s) => s,
        }
    }
}

/// The durable mailboxes of component instance `id` of `def`: its own
/// when it is durable, and one per part of the durable topics `durable`
/// that its subscriptions take (see [`topics::filters`]).
pub(crate) fn mailboxes(
    def: &crate::manifest::ComponentDef,
    id: &str,
    durable: &[&str],
) -> Vec<Mailbox> {
    let own = def.durable.then(|| Mailbox::Component(id.to_owned()));
    let parts = topics::filters(def.subscribe.iter().map(String::as_str), durable)
        .into_iter()
        .map(|filter| Mailbox::Topic {
            component: id.to_owned(),
            filter,
        });
    own.into_iter().chain(parts).collect()
}

/// The durable store of a cluster host running `manifest` on `broker`,
/// and the [`DurableSends`] its component host routes through; `(None,
/// None)` when nothing in the manifest is durable. Makes the streams that
/// are missing and every subscriber's consumer of the durable topics, so
/// that nothing this host publishes precedes them.
///
/// # Errors
/// The store's, when JetStream refuses a stream or a consumer.
pub(crate) async fn open(
    manifest: &crate::manifest::Manifest,
    broker: &airssys_nats::NatsBroker<TopicMessage>,
) -> Result<(Option<DurableStore>, Option<Arc<dyn DurableSends>>), ClusterError> {
    let ids: HashSet<String> = manifest
        .components
        .iter()
        .filter(|c| c.durable)
        .flat_map(|c| c.instance_ids())
        .collect();
    let topics = manifest.durable_topics();
    if ids.is_empty() && topics.is_empty() {
        return Ok((None, None));
    }
    let store = DurableStore::new(broker.client().clone(), broker.prefix(), false);
    if !ids.is_empty() {
        store.ensure_mailboxes().await?;
    }
    let mut consumers = Vec::new();
    if !topics.is_empty() {
        let retention = manifest
            .host
            .cluster
            .as_ref()
            .map_or(DEFAULT_TOPIC_RETENTION, |c| c.topic_retention);
        store.ensure_topics(retention).await?;
        let parts: Vec<(String, String)> = manifest
            .components
            .iter()
            .flat_map(|def| {
                def.instance_ids()
                    .into_iter()
                    .flat_map(|id| mailboxes(def, &id, &topics))
            })
            .filter_map(|m| match m {
                Mailbox::Topic { component, filter } => Some((component, filter)),
                Mailbox::Component(_) => None,
            })
            .collect();
        futures::stream::iter(parts.iter())
            .map(|(id, filter)| store.ensure_topic_consumer(id, filter))
            .buffer_unordered(32)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<Vec<()>, _>>()?;
        consumers = parts
            .iter()
            .filter_map(|(_, filter)| SubjectPattern::new(filter).ok())
            .collect();
    }
    let topics = topics
        .iter()
        .filter_map(|t| SubjectPattern::new(t).ok())
        .collect();
    let (sends, _task) = ClusterDurable::start(
        ids,
        topics,
        consumers,
        store.clone(),
        Arc::new(broker.clone()),
    );
    Ok((Some(store), Some(sends as Arc<dyn DurableSends>)))
}

/// The host's [`DurableSends`]: which ids and topics are durable, and the
/// stream.
pub(crate) struct ClusterDurable {
    ids: HashSet<String>,
    /// The durable topics' patterns.
    topics: Vec<SubjectPattern>,
    /// The filter of every subscriber's consumer of the durable topics:
    /// a publish is stored once and taken by each consumer it matches.
    consumers: Vec<SubjectPattern>,
    store: DurableStore,
    queue: mpsc::Sender<Pending>,
}

impl ClusterDurable {
    /// Sends to `ids` and publishes on durable topics `topics` (taken by
    /// the consumers filtering `consumers`) go to `store`; guests' sends
    /// and all publishes wait in a queue drained by one task, whose
    /// failures are dead-lettered on `broker`.
    pub(crate) fn start(
        ids: HashSet<String>,
        topics: Vec<SubjectPattern>,
        consumers: Vec<SubjectPattern>,
        store: DurableStore,
        broker: Arc<dyn MessageBroker<TopicMessage>>,
    ) -> (Arc<Self>, JoinHandle<()>) {
        let (queue, pending) = mpsc::channel(PENDING_SENDS);
        let task = tokio::spawn(publish_queued(store.clone(), pending, broker));
        let durable = Self {
            ids,
            topics,
            consumers,
            store,
            queue,
        };
        (Arc::new(durable), task)
    }
}

impl DurableSends for ClusterDurable {
    fn is_durable(&self, to: &str) -> bool {
        self.ids.contains(to)
    }

    fn send(
        &self,
        from: Option<&ComponentId>,
        to: &str,
        payload: bytes::Bytes,
    ) -> Result<(), DurableError> {
        self.queue
            .try_send(Pending {
                from: from.cloned(),
                to: Target::Component(to.to_owned()),
                payload,
            })
            .map_err(|_| DurableError::new(to, "the queue of sends to the stream is full"))
    }

    fn is_durable_topic(&self, subject: &str) -> bool {
        self.topics.iter().any(|t| t.matches(subject))
    }

    fn publish(
        &self,
        from: Option<&ComponentId>,
        subject: &str,
        payload: bytes::Bytes,
    ) -> Result<usize, DurableError> {
        self.queue
            .try_send(Pending {
                from: from.cloned(),
                to: Target::Topic(subject.to_owned()),
                payload,
            })
            .map_err(|_| {
                DurableError::new(subject, "the queue of publishes to the stream is full")
            })?;
        Ok(self.consumers.iter().filter(|c| c.matches(subject)).count())
    }

    fn send_stored(
        &self,
        from: Option<&ComponentId>,
        to: &str,
        payload: bytes::Bytes,
    ) -> BoxFuture<Result<(), DurableError>> {
        let store = self.store.clone();
        let from = from.map(|f| f.to_string());
        let to = to.to_owned();
        Box::pin(async move {
            store
                .publish(&to, from.as_deref(), payload)
                .await
                .map(|_| ())
                .map_err(|reason| DurableError::new(to.as_str(), reason))
        })
    }
}

/// Publishes guests' queued sends, many in flight; one the stream refuses
/// is dead-lettered with the reason (the guest's `send` had returned OK).
async fn publish_queued(
    store: DurableStore,
    mut pending: mpsc::Receiver<Pending>,
    broker: Arc<dyn MessageBroker<TopicMessage>>,
) {
    let mut in_flight = FuturesUnordered::new();
    loop {
        tokio::select! {
            next = pending.recv(), if in_flight.len() < PUBLISHES_IN_FLIGHT => {
                let Some(p) = next else { break };
                let store = store.clone();
                in_flight.push(async move {
                    let sender = p.from.as_ref().map(|f| f.to_string());
                    let result = match &p.to {
                        Target::Component(to) => store.publish(to, sender.as_deref(), p.payload.clone()).await,
                        Target::Topic(subject) => store.publish_topic(subject, sender.as_deref(), p.payload.clone()).await,
                    };
                    (p, result)
                });
            }
            Some((p, result)) = in_flight.next(), if !in_flight.is_empty() => {
                if let Err(reason) = result {
                    dead_letter(&*broker, p, &reason);
                }
            }
        }
    }
    while let Some((p, result)) = in_flight.next().await {
        if let Err(reason) = result {
            dead_letter(&*broker, p, &reason);
        }
    }
}

fn dead_letter(broker: &dyn MessageBroker<TopicMessage>, p: Pending, reason: &str) {
    let original: Arc<str> = match &p.to {
        Target::Component(to) => {
            tracing::warn!(component = %to, %reason, "a durable send was not stored; dead-lettered");
            Arc::from(format!("durable.component.{to}"))
        }
        Target::Topic(subject) => {
            tracing::warn!(%subject, %reason, "a durable publish was not stored; dead-lettered");
            Arc::from(format!("durable.topic.{subject}"))
        }
    };
    let letter = TopicMessage {
        sender: p.from,
        payload: p.payload,
        trace: None,
    };
    let why = Undelivered::new(p.to.name(), DeadLetterReason::NotStored(reason.to_owned()));
    if let Err(error) = broker.publish_dead_letter(original, letter, why) {
        tracing::warn!(%error, "dead letter not published");
    }
}

/// Where a durable component whose state the cluster keeps puts it: its
/// pump acknowledges the messages it handled only once a snapshot taken
/// after them is stored, so that what a dead host handled after its last
/// snapshot is delivered again, to the instance restored from that snapshot.
#[derive(Clone)]
pub(crate) struct KeepState {
    /// The snapshots bucket.
    pub(crate) cluster: airssys_nats::cluster::Cluster,
    /// When.
    pub(crate) policy: crate::manifest::SnapshotPolicy,
}

/// The task that empties one component's durable mailboxes into it.
pub(crate) struct Pump {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Pump {
    /// Takes `mailboxes` (all of one component, `id`) and starts handing
    /// their messages over (with `keep`, acknowledging them only once a
    /// later snapshot is kept).
    pub(crate) fn start(
        store: DurableStore,
        host: ComponentHost,
        id: String,
        mailboxes: Vec<Mailbox>,
        keep: Option<KeepState>,
    ) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(pump(store, host, id, mailboxes, keep, stopped));
        Self { stop, task }
    }

    /// Stops taking messages, lets those in flight finish and acknowledges
    /// them (a graceful hand-over: nothing handled is delivered again; with
    /// kept state, a snapshot is stored first).
    pub(crate) async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }

    /// Stops at once: what is in flight is not acknowledged and will be
    /// delivered again to the component's next owner.
    pub(crate) fn abort(self) {
        self.task.abort();
    }
}

/// Messages handled and waiting for a snapshot before their
/// acknowledgement.
struct Unacked {
    messages: Vec<DurableMessage>,
    since: tokio::time::Instant,
}

async fn pump(
    store: DurableStore,
    host: ComponentHost,
    id: String,
    mailboxes: Vec<Mailbox>,
    keep: Option<KeepState>,
    mut stopped: oneshot::Receiver<()>,
) {
    // Room for a snapshot's worth of unacknowledged messages besides
    // those in flight.
    let every = keep
        .as_ref()
        .and_then(|k| k.policy.every)
        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let window = DURABLE_IN_FLIGHT.saturating_add(every);
    let mut taken = Vec::with_capacity(mailboxes.len());
    for mailbox in &mailboxes {
        let consumer = loop {
            match store.take(mailbox, window).await {
                Ok(consumer) => break consumer,
                Err(error) => {
                    tracing::warn!(component = %id, ?mailbox, %error, "cannot take the durable mailbox; retrying");
                    tokio::select! {
                        _ = &mut stopped => return,
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
            }
        };
        taken.push(Box::pin(futures::stream::unfold(
            consumer,
            |mut c| async move { c.next().await.map(|m| (m, c)) },
        )));
    }
    // One stream of all of them: the component takes one message at a
    // time whichever mailbox it came from.
    let mut consumer = futures::stream::select_all(taken);
    let mut in_flight = FuturesOrdered::new();
    let mut unacked = Unacked {
        messages: Vec::new(),
        since: tokio::time::Instant::now(),
    };
    let mut stopping = false;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped, if !stopping => stopping = true,
            Some((message, outcome)) = in_flight.next(), if !in_flight.is_empty() => {
                match &keep {
                    Some(k) if handled(&outcome) => {
                        if unacked.messages.is_empty() {
                            unacked.since = tokio::time::Instant::now();
                        }
                        unacked.messages.push(message);
                        if k.policy.every.is_some_and(|n| unacked.messages.len() as u64 >= n) {
                            keep_and_ack(&host, k, &id, &mut unacked).await;
                        }
                    }
                    _ => settle(&id, message, outcome).await,
                }
            }
            _ = tick.tick(), if keep.is_some() => {
                if let Some(k) = &keep {
                    if k.policy.interval.is_some_and(|i| !unacked.messages.is_empty() && unacked.since.elapsed() >= i) {
                        keep_and_ack(&host, k, &id, &mut unacked).await;
                    }
                }
            }
            next = consumer.next(), if !stopping && in_flight.len() < DURABLE_IN_FLIGHT => {
                let Some(message) = next else { break };
                let guest = GuestMessage {
                    sender: message.sender.as_deref().map(ComponentId::new),
                    subject: message.subject.as_deref().map(Arc::from),
                    correlation_id: None,
                    redelivered: message.redelivered,
                    payload: message.payload.clone(),
                    enqueued: airssys_wasm::metrics::Enqueued::now(),
                    trace: None,
                };
                let host = host.clone();
                let target = id.clone();
                in_flight.push_back(async move {
                    let outcome = host.deliver_and_wait(&target, guest, HANDLE_TIMEOUT).await;
                    (message, outcome)
                });
            }
            else => break,
        }
        if stopping && in_flight.is_empty() {
            break;
        }
    }
    if let Some(k) = &keep {
        if stopping && !unacked.messages.is_empty() {
            keep_and_ack(&host, k, &id, &mut unacked).await;
        }
    }
}

/// Stores a snapshot of component `id`, then acknowledges the messages it
/// covers. If either fails they stay unacknowledged: delivered again to the
/// instance restored from the last snapshot that was kept.
async fn keep_and_ack(host: &ComponentHost, keep: &KeepState, id: &str, unacked: &mut Unacked) {
    let state = match host.snapshot(id, Duration::from_secs(5)).await {
        Ok(Some(state)) => state,
        Ok(None) => {
            // Exports no `snapshot`: nothing to wait for.
            for m in unacked.messages.drain(..) {
                settle(id, m, Ok(None)).await;
            }
            return;
        }
        Err(error) => {
            tracing::warn!(component = %id, %error, "snapshot failed; its messages stay unacknowledged");
            return;
        }
    };
    if let Err(error) = keep.cluster.put_snapshot(id, state).await {
        tracing::warn!(component = %id, %error, "state not kept; its messages stay unacknowledged");
        return;
    }
    for m in unacked.messages.drain(..) {
        settle(id, m, Ok(None)).await;
    }
}

fn handled(outcome: &Result<Option<bytes::Bytes>, HostError>) -> bool {
    match outcome {
        Ok(_) => true,
        Err(HostError::HandlerFailed { cause, .. }) => {
            !matches!(cause, airssys_wasm::host::ComponentFailure::NotOwner { .. })
        }
        Err(_) => false,
    }
}

/// Acknowledges a message its handler saw through (handled, or failed and
/// dead-lettered with the cause); gives back one that was not handled here
/// (the component was stopped, moved or fenced), for its next delivery.
async fn settle(
    id: &str,
    message: DurableMessage,
    outcome: Result<Option<bytes::Bytes>, HostError>,
) {
    let settled = if handled(&outcome) {
        message.ack().await
    } else {
        tracing::debug!(component = %id, outcome = ?outcome.err(), "durable message not handled here; given back");
        message.nak().await
    };
    if let Err(error) = settled {
        tracing::warn!(component = %id, sequence = message.sequence, %error, "durable message not settled; it comes again");
    }
}
