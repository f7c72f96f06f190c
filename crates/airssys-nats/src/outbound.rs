//! The outbound side of a [`NatsBroker`](crate::NatsBroker): how a
//! publish, a subscribe and a sync reach the client, in order.
//!
//! The `async-nats` client already has a queue: every `Client::publish`
//! puts a command on its bounded channel (2048 by default), which its
//! connection task drains in chunks, writing and flushing the socket once
//! per chunk. So a publish is handed to that channel **directly** when it
//! has room, from the caller's own call, without a task of ours in
//! between (the path a plain `async-nats` publisher takes).
//!
//! The broker's own queue ([`Outbox`]'s, `outbound_capacity` deep, drained
//! by one task) is the slow path, for what cannot go directly:
//!
//! - a synchronous publish that finds the client's channel full (it cannot
//!   wait there: `MessageBroker::publish` never blocks);
//! - subscribes and syncs, which need an `.await` on the client;
//! - every publish made while something is in this queue, so that nothing
//!   overtakes what was queued before it (a subscribe followed by a
//!   publish reaches the server in that order, and one sender's messages
//!   stay in order).
//!
//! `queued` counts what is in the broker's queue and not yet handed to the
//! client; a publish goes directly only while it is 0.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use async_nats::{Client, HeaderMap, Subject};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

/// One message for the server, ready for the wire.
#[derive(Debug, Clone)]
pub(crate) struct Publish {
    pub(crate) subject: Subject,
    pub(crate) reply: Option<Subject>,
    pub(crate) headers: HeaderMap,
    pub(crate) payload: Bytes,
}

/// A subscribe to run on the client, from the outbound task.
pub(crate) type Subscribe = Box<dyn FnOnce(Client) -> BoxFuture<'static, ()> + Send>;

/// What the outbound task does, in order.
pub(crate) enum Outbound {
    Publish(Publish),
    Subscribe(Subscribe),
    Barrier(oneshot::Sender<()>),
}

/// What [`Outbox::publish_now`] did.
pub(crate) enum Now {
    /// The client took it, or refused it.
    Done(Result<(), Refused>),
    /// Not now: something is queued before it, or the client's channel is
    /// full. The publish is given back.
    NotNow(Publish),
}

/// Why the outbox did not take an operation; the caller counts it as
/// refused and reports the reason.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The broker's queue is full (its capacity).
    Full(usize),
    /// The outbound task is gone.
    Gone,
    /// The client refused the publish (its connection task is gone, or
    /// the payload is over the server's limit).
    Client(async_nats::PublishError),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Full(capacity) => write!(f, "outbound queue full ({capacity} messages)"),
            Refused::Gone => f.write_str("the outbound task is gone"),
            Refused::Client(error) => write!(f, "the NATS client refused it: {error}"),
        }
    }
}

/// The way out: the client (direct path) and the broker's own queue.
pub(crate) struct Outbox {
    client: Client,
    queue: mpsc::Sender<Outbound>,
    /// Operations in `queue` not yet handed to the client.
    queued: Arc<AtomicUsize>,
}

impl Outbox {
    /// The outbox and the receiving end its task (see [`drain`]) drains;
    /// `lost` counts accepted messages the client then failed to send.
    pub(crate) fn new(client: Client, capacity: usize, lost: Arc<AtomicU64>) -> (Self, Drain) {
        let (queue, receiver) = mpsc::channel(capacity);
        let queued = Arc::new(AtomicUsize::new(0));
        let drain = Drain {
            client: client.clone(),
            receiver,
            queued: Arc::clone(&queued),
            lost,
        };
        (
            Self {
                client,
                queue,
                queued,
            },
            drain,
        )
    }

    /// Hands `publish` to the client now if nothing queued here comes
    /// before it and the client's channel has room; otherwise queues it
    /// here. Never waits.
    ///
    /// # Errors
    /// [`Refused`] if neither took it: the message was not accepted.
    pub(crate) fn publish(&self, publish: Publish) -> Result<(), Refused> {
        match self.publish_now(publish) {
            Now::Done(outcome) => outcome,
            Now::NotNow(publish) => self.try_queue(Outbound::Publish(publish)),
        }
    }

    /// Hands `publish` to the client now if nothing queued here comes
    /// before it and the client's channel has room; gives it back
    /// otherwise. Never waits.
    pub(crate) fn publish_now(&self, publish: Publish) -> Now {
        if self.nothing_queued() {
            // One poll, outside tokio's cooperative budget (a caller deep
            // in its budget would otherwise see "not ready" for room that
            // is there). `Sender::send` is cancel-safe: dropped before it
            // completes, it sent nothing, so the message goes to the queue
            // below instead. The clone is of reference-counted parts (the
            // header map's entries are copied when there are headers).
            match try_send(&self.client, &publish) {
                Some(Ok(())) => return Now::Done(Ok(())),
                Some(Err(error)) => return Now::Done(Err(Refused::Client(error))),
                None => {}
            }
        }
        Now::NotNow(publish)
    }

    /// As [`publish`](Self::publish), but waits for room (in the client's
    /// channel, or in the queue here if something is queued before it).
    ///
    /// # Cancel safety
    /// Cancel-safe: dropped before it completes, it sent nothing.
    pub(crate) async fn publish_waiting(&self, publish: Publish) -> Result<(), Refused> {
        if self.nothing_queued() {
            return send(&self.client, publish).await.map_err(Refused::Client);
        }
        let permit = self.queue.reserve().await.map_err(|_| Refused::Gone)?;
        self.queued.fetch_add(1, Ordering::AcqRel);
        permit.send(Outbound::Publish(publish));
        Ok(())
    }

    /// Queues `op` behind what is queued, without waiting.
    ///
    /// # Errors
    /// [`Refused::Full`] or [`Refused::Gone`].
    pub(crate) fn try_queue(&self, op: Outbound) -> Result<(), Refused> {
        // Counted before the push, so that the task never counts down what
        // was not counted up.
        self.queued.fetch_add(1, Ordering::AcqRel);
        match self.queue.try_send(op) {
            Ok(()) => Ok(()),
            Err(error) => {
                self.queued.fetch_sub(1, Ordering::AcqRel);
                Err(match error {
                    mpsc::error::TrySendError::Full(_) => Refused::Full(self.queue.max_capacity()),
                    mpsc::error::TrySendError::Closed(_) => Refused::Gone,
                })
            }
        }
    }

    fn nothing_queued(&self) -> bool {
        // Acquire: pairs with the task's release once it handed the last
        // queued operation to the client, so a direct publish now follows it.
        self.queued.load(Ordering::Acquire) == 0
    }
}

/// The receiving end of an [`Outbox`], for its task.
pub(crate) struct Drain {
    client: Client,
    receiver: mpsc::Receiver<Outbound>,
    queued: Arc<AtomicUsize>,
    lost: Arc<AtomicU64>,
}

/// The outbound task: hands queued publishes and subscribes to the client
/// in order. Ends when every broker handle (and so the [`Outbox`]) is gone.
pub(crate) async fn drain(drain: Drain) {
    let Drain {
        client,
        mut receiver,
        queued,
        lost,
    } = drain;
    while let Some(op) = receiver.recv().await {
        match op {
            Outbound::Publish(publish) => {
                let subject = publish.subject.clone();
                if let Err(error) = send(&client, publish).await {
                    lost.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%subject, %error, "NATS client failed to send an accepted message");
                }
            }
            Outbound::Subscribe(subscribe) => subscribe(client.clone()).await,
            Outbound::Barrier(done) => barrier(&client, done).await,
        }
        // Release: the client has the operation before a direct publish
        // can see the queue empty.
        queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A round trip through the server on this connection: `done` fires once
/// the server has echoed a message sent after everything before.
async fn barrier(client: &Client, done: oneshot::Sender<()>) {
    let inbox = client.new_inbox();
    match client.subscribe(inbox.clone()).await {
        Ok(mut echo) => {
            if client.publish(inbox, Bytes::new()).await.is_ok() {
                tokio::spawn(async move {
                    if echo.next().await.is_some() {
                        let _ = done.send(());
                    }
                });
            }
        }
        Err(error) => tracing::warn!(%error, "NATS sync could not subscribe"),
    }
}

/// Puts a copy of `publish` on the client's channel if it has room now
/// (one poll); `None` if it has not. Each kind of publish polls its own
/// client call, so the future made and polled is only as large as that
/// call's (a plain publish, the common one, is the smallest).
fn try_send(client: &Client, publish: &Publish) -> Option<Result<(), async_nats::PublishError>> {
    let Publish {
        subject,
        reply,
        headers,
        payload,
    } = publish;
    let (subject, payload) = (subject.clone(), payload.clone());
    match (reply, headers.is_empty()) {
        (None, true) => tokio::task::unconstrained(client.publish(subject, payload)).now_or_never(),
        (Some(reply), true) => {
            tokio::task::unconstrained(client.publish_with_reply(subject, reply.clone(), payload))
                .now_or_never()
        }
        (None, false) => tokio::task::unconstrained(client.publish_with_headers(
            subject,
            headers.clone(),
            payload,
        ))
        .now_or_never(),
        (Some(reply), false) => tokio::task::unconstrained(client.publish_with_reply_and_headers(
            subject,
            reply.clone(),
            headers.clone(),
            payload,
        ))
        .now_or_never(),
    }
}

/// Puts `publish` on the client's channel (waiting for room there).
async fn send(client: &Client, publish: Publish) -> Result<(), async_nats::PublishError> {
    let Publish {
        subject,
        reply,
        headers,
        payload,
    } = publish;
    // No header block at all when there are no headers: a plain PUB is
    // smaller and cheaper for the server to parse.
    match (reply, headers.is_empty()) {
        (Some(reply), false) => {
            client
                .publish_with_reply_and_headers(subject, reply, headers, payload)
                .await
        }
        (Some(reply), true) => client.publish_with_reply(subject, reply, payload).await,
        (None, false) => client.publish_with_headers(subject, headers, payload).await,
        (None, true) => client.publish(subject, payload).await,
    }
}
