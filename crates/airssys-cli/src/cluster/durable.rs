//! Durable components on a cluster host: sends to them go to JetStream
//! ([`DurableStore`]) from whichever host sends, and the host that owns one
//! takes its stored messages with a pump that hands each to the component
//! and acknowledges it once the handler returned.
//!
//! What is at-least-once, what is not, and where order holds is stated in
//! `docs/distribution.md` ("Durable delivery").

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use airssys_nats::cluster::durable::{DurableMessage, DurableStore};
use airssys_rt::broker::{DeadLetterReason, MessageBroker};
use airssys_wasm::guest::host_imports::BoxFuture;
use airssys_wasm::guest::GuestMessage;
use airssys_wasm::host::{ComponentHost, DurableError, DurableSends, HostError};
use airssys_wasm::{ComponentId, TopicMessage};
use futures::stream::{FuturesOrdered, FuturesUnordered};
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Guest sends waiting for the stream's confirmation, at most.
const PENDING_SENDS: usize = 8192;
/// Publishes in flight to the stream at once.
const PUBLISHES_IN_FLIGHT: usize = 256;
/// Messages of one component handed to it and not yet acknowledged.
pub const DURABLE_IN_FLIGHT: usize = 64;
/// How long a durable message's handler may take before the pump gives up
/// on it (it is then delivered again).
const HANDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A guest's send on its way to the stream.
struct Pending {
    from: Option<ComponentId>,
    to: String,
    payload: bytes::Bytes,
}

/// The host's [`DurableSends`]: which ids are durable, and the stream.
pub(crate) struct ClusterDurable {
    ids: HashSet<String>,
    store: DurableStore,
    queue: mpsc::Sender<Pending>,
}

impl ClusterDurable {
    /// Sends to `ids` go to `store`; guests' sends wait in a queue drained
    /// by one task, whose failures are dead-lettered on `broker`.
    pub(crate) fn start(
        ids: HashSet<String>,
        store: DurableStore,
        broker: Arc<dyn MessageBroker<TopicMessage>>,
    ) -> (Arc<Self>, JoinHandle<()>) {
        let (queue, pending) = mpsc::channel(PENDING_SENDS);
        let task = tokio::spawn(publish_queued(store.clone(), pending, broker));
        (Arc::new(Self { ids, store, queue }), task)
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
                to: to.to_owned(),
                payload,
            })
            .map_err(|_| DurableError::new(to, "the queue of sends to the stream is full"))
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
                    let result = store.publish(&p.to, sender.as_deref(), p.payload.clone()).await;
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
    tracing::warn!(component = %p.to, %reason, "a durable send was not stored; dead-lettered");
    let original = Arc::from(format!("durable.component.{}", p.to));
    let letter = TopicMessage {
        sender: p.from,
        payload: p.payload,
    };
    let why = DeadLetterReason::Undeliverable {
        target: Arc::from(p.to.as_str()),
        reason: Arc::from(format!("not stored: {reason}")),
    };
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

/// The task that empties one component's durable mailbox into it.
pub(crate) struct Pump {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Pump {
    /// Takes component `id`'s mailbox and starts handing its messages over
    /// (with `keep`, acknowledging them only once a later snapshot is kept).
    pub(crate) fn start(
        store: DurableStore,
        host: ComponentHost,
        id: String,
        keep: Option<KeepState>,
    ) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(pump(store, host, id, keep, stopped));
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
    let mut consumer = loop {
        match store.take(&id, window).await {
            Ok(consumer) => break consumer,
            Err(error) => {
                tracing::warn!(component = %id, %error, "cannot take the durable mailbox; retrying");
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
    };
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
                    subject: None,
                    correlation_id: None,
                    redelivered: message.redelivered,
                    payload: message.payload.clone(),
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
