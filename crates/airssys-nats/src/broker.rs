//! [`NatsBroker`]: the airssys-rt [`MessageBroker`] over a NATS server.
//!
//! # How a message travels
//!
//! - **Subjects** are namespaced: `orders.new` is `<prefix>.orders.new` on the
//!   wire, and the prefix is stripped on receive, so applications with
//!   different prefixes share a server without seeing each other. Reply
//!   inboxes (`_INBOX.…`) are the one exception: they are unique and used as is.
//! - **Publish** is synchronous and never blocks: the message is encoded and
//!   handed to the client's own command channel from the caller's call when
//!   it has room, or else put on the broker's bounded outbound queue, which
//!   one task drains into the client in order (see `outbound`). A full
//!   queue, or a client that is not connected, is [`BrokerError::Transport`]
//!   at once: the caller knows the message was not accepted. Subscribes go
//!   through the same queue, and nothing overtakes what is queued, so a
//!   subscribe followed by a publish reaches the server in that order.
//! - **Subscribe** makes one NATS subscription, fed into the airssys
//!   [`Subscription`]'s bounded queue by one task (see `inbound`). A message
//!   that finds that queue full is dead-lettered (as in the in-memory
//!   broker). Dropping the `Subscription` ends the task, which unsubscribes
//!   from the server. With [`subscribe_direct`](MessageBroker::subscribe_direct)
//!   that task offers each message to the consumer's direct path first.
//! - **Request** uses a NATS inbox and the request timeout; a server that
//!   knows no subscriber answers at once, which is [`BrokerError::NoResponders`].

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{
    subject, Backlog, BrokerError, BrokerMessage, DirectDelivery, MessageBroker, PublishReport,
    PublishWaiting, SubjectPublisher, Subscription, Undelivered, DEFAULT_DEAD_LETTER_SUBJECT,
    DEFAULT_SUBSCRIPTION_CAPACITY,
};
use async_nats::{Client, HeaderMap, Subject};
use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, watch};

use crate::codec::{headers, WireCodec};
use crate::connection::{backoff, ConnectionState, ConnectionStatus};
use crate::error::NatsError;
use crate::inbound::{pump, Route};
use crate::outbound::{drain, Now, Outbound, Outbox, Publish, Refused};
use crate::security::{Auth, ClientCert, ConnectSecurity};
use crate::wire_names::WireNames;

/// Default application prefix: `airssys`.
pub const DEFAULT_PREFIX: &str = "airssys";
/// Default capacity of the outbound queue: 8192 messages.
pub const DEFAULT_OUTBOUND_CAPACITY: usize = 8192;
/// Default first reconnect delay: 10 ms (the very first retry is immediate).
pub const DEFAULT_RECONNECT_INITIAL: Duration = Duration::from_millis(10);
/// Default longest reconnect delay: 2 s.
pub const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(2);
/// Default connection timeout: 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default capacity of the client's own queue per NATS subscription, ahead
/// of the broker's receiving task: 65,536 messages (`async-nats`'s default).
pub const DEFAULT_CLIENT_SUBSCRIPTION_CAPACITY: usize = 64 * 1024;

/// Reply inboxes: never prefixed.
const INBOX: &str = "_INBOX.";

/// Counters of a [`NatsBroker`] since it was connected (relaxed loads).
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
    /// [`NatsBrokerBuilder::client_subscription_capacity`]) was full because
    /// the broker's receiving task fell behind. The client reports each drop
    /// as one "slow consumer" event, counted here; its event channel holds
    /// 128 events, so in a storm of drops faster than they are counted this
    /// is a lower bound (logged when it happens).
    pub slow_consumer_dropped: u64,
    /// Dead letters published.
    pub dead_lettered: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    published: AtomicU64,
    refused: AtomicU64,
    /// Shared with the outbound task.
    lost: Arc<AtomicU64>,
    pub(crate) received: AtomicU64,
    pub(crate) direct: AtomicU64,
    pub(crate) dropped_full: AtomicU64,
    pub(crate) undecodable: AtomicU64,
    dead_lettered: AtomicU64,
    /// Shared with the client's event callback.
    slow_consumer_dropped: Arc<AtomicU64>,
}

pub(crate) struct Inner<M> {
    client: Client,
    pub(crate) codec: Arc<dyn WireCodec<M>>,
    pub(crate) prefix: String,
    dead_letter_subject: String,
    subscription_capacity: usize,
    outbox: Outbox,
    /// Wire subjects of recent publishes, validated.
    names: WireNames,
    status: watch::Receiver<ConnectionStatus>,
    /// `status`'s state is `Connected`, kept beside it: read by every
    /// publish, where the watch's lock would be shared by every sending
    /// core.
    connected: Arc<AtomicBool>,
    pub(crate) counters: Counters,
    /// Subjects subscribed in a queue group, if any.
    queue_group: Option<QueueGroup>,
}

/// A [`MessageBroker`] over a NATS server: hosts on many machines that
/// connect to one server (or cluster) with the same prefix form one
/// application.
///
/// Cheap to clone; every clone is the same connection.
///
/// ```no_run
/// use std::sync::Arc;
/// use airssys_nats::{BytesCodec, NatsBroker};
/// use airssys_rt::broker::MessageBroker;
/// use bytes::Bytes;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let broker = NatsBroker::builder("nats://127.0.0.1:4222", Arc::new(BytesCodec))
///     .prefix("shop")
///     .connect()
///     .await?;
/// let mut orders = broker.subscribe("orders.>")?; // `shop.orders.>` on the wire
/// broker.sync().await?;                           // the server has the subscription
/// broker.publish("orders.eu", Bytes::from_static(b"order 1"))?;
/// let msg = orders.recv().await.expect("broker alive");
/// assert_eq!(&*msg.subject, "orders.eu");
/// # Ok(()) }
/// ```
pub struct NatsBroker<M> {
    pub(crate) inner: Arc<Inner<M>>,
}

impl<M> Clone for NatsBroker<M> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<M> fmt::Debug for NatsBroker<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsBroker")
            .field("prefix", &self.inner.prefix)
            .field("state", &self.inner.status.borrow().state)
            .finish_non_exhaustive()
    }
}

/// Configures and connects a [`NatsBroker`]; from [`NatsBroker::builder`].
#[must_use = "a builder does nothing until `connect` is awaited"]
pub struct NatsBrokerBuilder<M> {
    url: String,
    codec: Arc<dyn WireCodec<M>>,
    prefix: String,
    dead_letter_subject: String,
    outbound_capacity: usize,
    subscription_capacity: usize,
    client_subscription_capacity: usize,
    reconnect: (Duration, Duration),
    connect_timeout: Duration,
    retry_initial: bool,
    name: Option<String>,
    security: ConnectSecurity,
    queue_group: Option<QueueGroup>,
}

/// Subjects subscribed in a NATS queue group: of all the subscribers in the
/// group, the server hands each message to one.
#[derive(Debug, Clone)]
pub(crate) struct QueueGroup {
    /// Patterns starting with this (before the prefix is added).
    subjects: String,
    /// The group's name.
    group: String,
}

impl<M> fmt::Debug for NatsBrokerBuilder<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsBrokerBuilder")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("dead_letter_subject", &self.dead_letter_subject)
            .field("outbound_capacity", &self.outbound_capacity)
            .field("subscription_capacity", &self.subscription_capacity)
            .field("reconnect", &self.reconnect)
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

impl<M: Clone + Send + 'static> NatsBrokerBuilder<M> {
    /// The application prefix every subject is put under on the wire. Default
    /// [`DEFAULT_PREFIX`]. Hosts of one application use the same prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The subject dead letters are published on (under the prefix). Default
    /// `_airssys.deadletter`, as the in-memory broker's.
    pub fn dead_letter_subject(mut self, subject: impl Into<String>) -> Self {
        self.dead_letter_subject = subject.into();
        self
    }

    /// Capacity of the broker's outbound queue, where a publish waits when
    /// the client's own channel is full or something (a subscribe, a sync,
    /// an earlier publish) is queued before it. Default
    /// [`DEFAULT_OUTBOUND_CAPACITY`]; a publish that finds both full fails
    /// with `BrokerError::Transport`.
    pub fn outbound_capacity(mut self, capacity: usize) -> Self {
        self.outbound_capacity = capacity.max(1);
        self
    }

    /// Default queue capacity of a subscription. Default 1024, as the
    /// in-memory broker's.
    pub fn subscription_capacity(mut self, capacity: usize) -> Self {
        self.subscription_capacity = capacity.max(1);
        self
    }

    /// Capacity of the client's own queue for each NATS subscription, where
    /// messages from the server wait for the broker's receiving task.
    /// Default [`DEFAULT_CLIENT_SUBSCRIPTION_CAPACITY`]. What arrives while
    /// it is full is dropped by the client, before the broker can
    /// dead-letter it, and counted in [`NatsStats::slow_consumer_dropped`].
    /// The receiving task only decodes and hands on, so it fills only when
    /// that task gets no CPU for a long while.
    pub fn client_subscription_capacity(mut self, capacity: usize) -> Self {
        self.client_subscription_capacity = capacity.max(1);
        self
    }

    /// Reconnect backoff: the first retry is immediate, then `initial`,
    /// doubling up to `max`. Default [`DEFAULT_RECONNECT_INITIAL`],
    /// [`DEFAULT_RECONNECT_MAX`]. The client retries for ever.
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.reconnect = (initial, max);
        self
    }

    /// Timeout of one connection attempt. Default [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// If `true`, `connect` returns at once even when the server is not up
    /// yet, and the client keeps trying in the background. Default `false`:
    /// the first connection must succeed.
    pub fn retry_on_initial_connect(mut self, retry: bool) -> Self {
        self.retry_initial = retry;
        self
    }

    /// The client name the server shows (`nats server report connections`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Subscribes every pattern that starts with `subjects` (e.g.
    /// `component.`) in the NATS queue group `group`: when two hosts of the
    /// application subscribe the same such subject, the server gives each
    /// message to one of them, never to both. A cluster host uses this for
    /// component subjects, so that while a component moves from one host to
    /// another (both subscribed for a moment) no message is handled twice
    /// or lost. Default: none (every subscriber gets every message).
    pub fn queue_group(mut self, subjects: impl Into<String>, group: impl Into<String>) -> Self {
        self.queue_group = Some(QueueGroup {
            subjects: subjects.into(),
            group: group.into(),
        });
        self
    }

    /// TLS and credentials, all at once (replacing what the methods below
    /// set). Default [`ConnectSecurity::default`]: TLS only if the server
    /// asks for it, no credentials but the URL's.
    pub fn security(mut self, security: ConnectSecurity) -> Self {
        self.security = security;
        self
    }

    /// If `true`, refuse to connect without TLS. Default `false`, but TLS
    /// is required anyway once a CA or a client certificate is set (see
    /// [`ConnectSecurity::tls_required`]).
    pub fn require_tls(mut self, require: bool) -> Self {
        self.security.require_tls = require;
        self
    }

    /// The CA certificate(s), a PEM file, that the server's certificate
    /// must chain to, instead of the system's root certificates. Default
    /// none (the system's roots).
    pub fn tls_root_certificates(mut self, ca: impl Into<PathBuf>) -> Self {
        self.security.tls_ca = Some(ca.into());
        self
    }

    /// A client certificate and its private key (PEM files), for a server
    /// that verifies its clients (mutual TLS). Default none.
    pub fn tls_client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.security.client_cert = Some(ClientCert {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Authenticate with a credentials file (a user JWT and its NKey seed,
    /// as `nsc` writes it), for servers in operator mode. Replaces any
    /// other credentials set here. Default none.
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.security.auth = Some(Auth::CredentialsFile(path.into()));
        self
    }

    /// Authenticate with the NKey user seed (`SU…`) held in a file.
    /// Replaces any other credentials set here. Default none.
    pub fn nkey_seed_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.security.auth = Some(Auth::NkeySeedFile(path.into()));
        self
    }

    /// Authenticate with the token held in a file. Replaces any other
    /// credentials set here. Default none.
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.security.auth = Some(Auth::TokenFile(path.into()));
        self
    }

    /// Authenticate as `user` with the password held in a file. Replaces
    /// any other credentials set here. Default none.
    pub fn user_password_file(
        mut self,
        user: impl Into<String>,
        password_file: impl Into<PathBuf>,
    ) -> Self {
        self.security.auth = Some(Auth::UserPassword {
            user: user.into(),
            password_file: password_file.into(),
        });
        self
    }

    /// Connects. Must run inside a tokio runtime; the broker's tasks run on it.
    ///
    /// # Errors
    /// [`NatsError::InvalidSubject`] for a bad prefix or dead-letter subject;
    /// [`NatsError::SecurityFile`] for a CA, certificate, key or secret file
    /// that cannot be used (nothing is sent then);
    /// [`NatsError::Unauthorized`] if the server refuses the credentials;
    /// [`NatsError::Tls`] if the TLS handshake fails;
    /// [`NatsError::Connect`] if the first connection fails otherwise.
    pub async fn connect(self) -> Result<NatsBroker<M>, NatsError> {
        for s in [&self.prefix, &self.dead_letter_subject] {
            subject::validate_subject(s).map_err(|e| NatsError::InvalidSubject {
                subject: s.clone(),
                reason: e.to_string(),
            })?;
        }
        let (status_tx, status_rx) = watch::channel(ConnectionStatus::new());
        let connected = Arc::new(AtomicBool::new(false));
        let status_tx = Status {
            watch: status_tx,
            connected: Arc::clone(&connected),
        };
        let events_tx = status_tx.clone();
        let counters = Counters::default();
        let slow_consumer_dropped = Arc::clone(&counters.slow_consumer_dropped);
        let (initial, max) = self.reconnect;
        let mut options = async_nats::ConnectOptions::new()
            .max_reconnects(None)
            .connection_timeout(self.connect_timeout)
            .subscription_capacity(self.client_subscription_capacity)
            // Every subject this broker publishes on was checked already,
            // by airssys's stricter rules (no whitespace or control
            // characters at all), once per name (`WireNames`): the client
            // need not scan it again on every publish.
            .skip_subject_validation(true)
            .reconnect_delay_callback(move |attempts| backoff(attempts, initial, max))
            .event_callback(move |event| {
                let status_tx = events_tx.clone();
                let slow_consumer_dropped = Arc::clone(&slow_consumer_dropped);
                async move { on_event(&status_tx, &slow_consumer_dropped, &event) }
            });
        if self.retry_initial {
            options = options.retry_on_initial_connect();
        }
        if let Some(name) = &self.name {
            options = options.name(name);
        }
        let options = self.security.apply(&self.url, options).await?;
        let client = options
            .connect(self.url.as_str())
            .await
            .map_err(|e| self.security.connect_error(&self.url, &e))?;
        if client.connection_state() == async_nats::connection::State::Connected {
            // The `Connected` event may still be on its way; the state is known now.
            set_state(&status_tx, ConnectionState::Connected);
        }
        let (outbox, queue) = Outbox::new(
            client.clone(),
            self.outbound_capacity,
            Arc::clone(&counters.lost),
        );
        let inner = Arc::new(Inner {
            client,
            codec: self.codec,
            prefix: self.prefix,
            dead_letter_subject: self.dead_letter_subject,
            subscription_capacity: self.subscription_capacity,
            outbox,
            names: WireNames::new(),
            status: status_rx,
            connected,
            counters,
            queue_group: self.queue_group,
        });
        tokio::spawn(drain(queue));
        Ok(NatsBroker { inner })
    }
}

/// Where the connection's state is recorded: the watch behind `status()`
/// and `/health`, and the flag every publish reads.
#[derive(Clone)]
struct Status {
    watch: watch::Sender<ConnectionStatus>,
    connected: Arc<AtomicBool>,
}

fn on_event(status: &Status, slow_consumer_dropped: &AtomicU64, event: &async_nats::Event) {
    let state = match event {
        async_nats::Event::Connected => ConnectionState::Connected,
        async_nats::Event::Disconnected => ConnectionState::Disconnected,
        async_nats::Event::Closed => ConnectionState::Closed,
        async_nats::Event::SlowConsumer(sid) => {
            // One event per message dropped: log the 1st, 2nd, 4th, ... so
            // a storm is visible without flooding the log.
            let dropped = slow_consumer_dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(
                    sid,
                    dropped,
                    "the NATS client dropped a message: its queue for a subscription is full (the receiving task fell behind)"
                );
            }
            return;
        }
        other => {
            tracing::warn!(event = %other, "NATS client event");
            return;
        }
    };
    set_state(status, state);
}

/// Records a state change; a repeated state (the first `Connected` event
/// after `connect` already said so) changes nothing.
fn set_state(status: &Status, state: ConnectionState) {
    status
        .connected
        .store(state == ConnectionState::Connected, Ordering::Release);
    status.watch.send_if_modified(|s| {
        if s.state == state {
            return false;
        }
        s.since = tokio::time::Instant::now();
        match state {
            ConnectionState::Connected => {
                s.connects += 1;
                tracing::info!(connects = s.connects, "connected to NATS");
            }
            ConnectionState::Disconnected => {
                s.disconnects += 1;
                tracing::warn!(
                    disconnects = s.disconnects,
                    "lost the NATS connection; reconnecting"
                );
            }
            _ => tracing::warn!("NATS client closed"),
        }
        s.state = state;
        true
    });
}

impl<M: Clone + Send + 'static> NatsBroker<M> {
    /// Starts configuring a broker for the server at `url`
    /// (`nats://host:4222`), with the codec for `M`.
    pub fn builder(url: impl Into<String>, codec: Arc<dyn WireCodec<M>>) -> NatsBrokerBuilder<M> {
        NatsBrokerBuilder {
            url: url.into(),
            codec,
            prefix: DEFAULT_PREFIX.to_owned(),
            dead_letter_subject: DEFAULT_DEAD_LETTER_SUBJECT.to_owned(),
            outbound_capacity: DEFAULT_OUTBOUND_CAPACITY,
            subscription_capacity: DEFAULT_SUBSCRIPTION_CAPACITY,
            client_subscription_capacity: DEFAULT_CLIENT_SUBSCRIPTION_CAPACITY,
            reconnect: (DEFAULT_RECONNECT_INITIAL, DEFAULT_RECONNECT_MAX),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry_initial: false,
            name: None,
            security: ConnectSecurity::default(),
            queue_group: None,
        }
    }

    /// The application prefix.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The connection state now.
    pub fn connection_state(&self) -> ConnectionState {
        self.inner.status.borrow().state
    }

    /// The connection's status, to watch for changes (`changed().await`).
    pub fn connection_status(&self) -> watch::Receiver<ConnectionStatus> {
        self.inner.status.clone()
    }

    /// Counters since the broker was connected.
    pub fn stats(&self) -> NatsStats {
        let c = &self.inner.counters;
        NatsStats {
            published: c.published.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            direct: c.direct.load(Ordering::Relaxed),
            dropped_full: c.dropped_full.load(Ordering::Relaxed),
            undecodable: c.undecodable.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            slow_consumer_dropped: c.slow_consumer_dropped.load(Ordering::Relaxed),
        }
    }

    /// The underlying `async-nats` client (e.g. for a raw baseline).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The subject on the wire for `subject`: `<prefix>.<subject>`, or the
    /// subject itself for a reply inbox (`_INBOX.…`).
    pub fn wire_subject(&self, subject: &str) -> String {
        wire(&self.inner.prefix, subject)
    }

    /// Waits until the server has processed every publish and subscribe made
    /// through this broker before the call (one round trip through the
    /// outbound queue and the server). Use it after subscribing, before
    /// another host publishes.
    ///
    /// # Errors
    /// [`NatsError::Transport`] if the outbound queue is full or gone;
    /// [`NatsError::Timeout`] after 5 s without an answer.
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future leaves nothing behind but one
    /// short-lived inbox subscription.
    pub async fn sync(&self) -> Result<(), NatsError> {
        const TIMEOUT: Duration = Duration::from_secs(5);
        let (tx, rx) = oneshot::channel();
        self.inner
            .outbox
            .try_queue(Outbound::Barrier(tx))
            .map_err(|e| NatsError::Transport {
                reason: e.to_string(),
            })?;
        match tokio::time::timeout(TIMEOUT, rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(NatsError::Transport {
                reason: "the outbound task is gone".into(),
            }),
            Err(_) => Err(NatsError::Timeout { timeout: TIMEOUT }),
        }
    }

    /// Counts a refused publish and says why.
    fn refused(&self, subject: &str, reason: String) -> BrokerError {
        self.inner.counters.refused.fetch_add(1, Ordering::Relaxed);
        BrokerError::Transport {
            subject: subject.to_owned(),
            reason,
        }
    }

    /// The validated wire subject of `subject` (`<prefix>.<subject>`, or
    /// a reply inbox as is), from the cache of recent ones.
    fn wire_of(&self, subject: &str) -> Result<Subject, BrokerError> {
        self.inner.names.get_or_make(subject, || {
            subject::validate_subject(subject).map_err(|e| invalid_subject(subject, e))?;
            Ok(Subject::from(wire(&self.inner.prefix, subject)))
        })
    }

    /// Checks the subjects, encodes `msg`, and makes the publish for the
    /// wire; refused at once when not connected. `subject` may be given
    /// as its wire subject already (dead letters).
    fn prepare(
        &self,
        subject: &str,
        reply: Option<&str>,
        msg: M,
        dead_letter: Option<(&str, &Undelivered)>,
    ) -> Result<Publish, BrokerError> {
        let (mut headers, payload) = self.encode(subject, msg)?;
        if let Some((original, reason)) = dead_letter {
            put_dead_letter(&mut headers, original, reason);
        }
        self.prepare_encoded(subject, reply, headers, payload)
    }

    /// As [`prepare`](Self::prepare), for headers and payload already
    /// made.
    fn prepare_encoded(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<Publish, BrokerError> {
        let wire_subject = self.wire_of(subject)?;
        let wire_reply = reply.map(|r| self.wire_of(r)).transpose()?;
        self.check_connected(subject)?;
        Ok(Publish {
            subject: wire_subject,
            reply: wire_reply,
            headers,
            payload,
        })
    }

    /// Refused at once (and counted) unless connected.
    fn check_connected(&self, subject: &str) -> Result<(), BrokerError> {
        if self.inner.connected.load(Ordering::Acquire) {
            return Ok(());
        }
        let state = self.inner.status.borrow().state;
        Err(self.refused(
            subject,
            format!("not connected to NATS ({})", state.as_str()),
        ))
    }

    /// As [`prepare`](Self::prepare), for subjects whose wire form a
    /// [`NatsPublisher`] made already.
    fn prepare_bound(
        &self,
        subject: &str,
        wire: &Subject,
        reply: Option<&Subject>,
        msg: M,
    ) -> Result<Publish, BrokerError> {
        let (headers, payload) = self.encode(subject, msg)?;
        self.check_connected(subject)?;
        Ok(Publish {
            subject: wire.clone(),
            reply: reply.cloned(),
            headers,
            payload,
        })
    }

    /// Hands `publish` to the client now, or returns the wait for room;
    /// counts the outcome.
    fn hand_over_waiting<'a>(&'a self, subject: &'a str, publish: Publish) -> PublishWaiting<'a> {
        let done = move |outcome| {
            self.accepted(subject, outcome)
                .map(|()| PublishReport::default())
        };
        match self.inner.outbox.publish_now(publish) {
            Now::Done(outcome) => PublishWaiting::done(done(outcome)),
            Now::NotNow(publish) => PublishWaiting::waiting(async move {
                let outcome = self.inner.outbox.publish_waiting(publish).await;
                done(outcome)
            }),
        }
    }

    /// Hands a publish to the client, or queues it; never waits.
    fn enqueue(&self, subject: &str, publish: Publish) -> Result<(), BrokerError> {
        self.accepted(subject, self.inner.outbox.publish(publish))
    }

    /// Counts the outcome of a publish: accepted, or refused with the reason.
    fn accepted(&self, subject: &str, outcome: Result<(), Refused>) -> Result<(), BrokerError> {
        match outcome {
            Ok(()) => {
                self.count_published();
                Ok(())
            }
            Err(refused) => Err(self.refused(subject, refused.to_string())),
        }
    }

    /// Counts a message the client or the outbound queue accepted.
    fn count_published(&self) {
        self.inner
            .counters
            .published
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Subscribes `pattern` with a queue of `capacity`, and `direct` as its
    /// fast path if given.
    fn subscribe_route(
        &self,
        pattern: &str,
        capacity: usize,
        direct: Option<DirectDelivery<M>>,
    ) -> Result<Subscription<M>, BrokerError> {
        subject::validate_pattern(pattern).map_err(|e| BrokerError::InvalidPattern {
            pattern: pattern.to_owned(),
            reason: e,
        })?;
        if capacity == 0 {
            return Err(BrokerError::ZeroCapacity {
                pattern: pattern.to_owned(),
            });
        }
        let (queue, rx) = mpsc::channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let pattern: Arc<str> = Arc::from(pattern);
        let backlog = Backlog::new();
        let (drain, drained) = oneshot::channel();
        let route = Route {
            queue,
            pattern: Arc::clone(&pattern),
            dropped: Arc::clone(&dropped),
            direct,
            backlog: backlog.clone(),
            drain: drained,
        };
        let wire_pattern = wire(&self.inner.prefix, &pattern);
        let queue_group = self
            .inner
            .queue_group
            .as_ref()
            .filter(|q| pattern.starts_with(q.subjects.as_str()))
            .map(|q| q.group.clone());
        let broker = self.clone();
        let subscribe = move |client: Client| -> BoxFuture<'static, ()> {
            Box::pin(async move {
                let subscribed = match queue_group {
                    Some(group) => client.queue_subscribe(wire_pattern.clone(), group).await,
                    None => client.subscribe(wire_pattern.clone()).await,
                };
                match subscribed {
                    Ok(nats) => {
                        tokio::spawn(pump(broker, nats, route));
                    }
                    Err(error) => {
                        tracing::warn!(pattern = %wire_pattern, %error, "NATS subscribe failed; the subscription is closed");
                    }
                }
            })
        };
        self.inner
            .outbox
            .try_queue(Outbound::Subscribe(Box::new(subscribe)))
            .map_err(|e| BrokerError::Transport {
                subject: pattern.to_string(),
                reason: format!("cannot queue the subscribe: {e}"),
            })?;
        // The pump notices the dropped receiver and unsubscribes.
        Ok(Subscription::from_parts(pattern, rx, dropped, || {})
            .with_backlog(backlog)
            .with_drain(move || {
                // The pump drains the subscription at the server, then ends.
                let _ = drain.send(());
            }))
    }

    fn encode(&self, subject: &str, msg: M) -> Result<(HeaderMap, Bytes), BrokerError> {
        let mut headers = HeaderMap::new();
        let payload =
            self.inner
                .codec
                .encode(msg, &mut headers)
                .map_err(|e| BrokerError::Transport {
                    subject: subject.to_owned(),
                    reason: format!("cannot encode the message: {e}"),
                })?;
        Ok((headers, payload))
    }
}

/// A [`NatsBroker`]'s [`SubjectPublisher`]: the wire subjects made and
/// checked once, so a message costs its encoding and the hand-over to the
/// client.
struct NatsPublisher<M> {
    broker: NatsBroker<M>,
    subject: Box<str>,
    wire: Subject,
    reply: Option<Subject>,
}

impl<M> NatsPublisher<M> {
    fn reply(&self, with_reply: bool) -> Option<&Subject> {
        self.reply.as_ref().filter(|_| with_reply)
    }
}

impl<M: Clone + Send + 'static> SubjectPublisher<M> for NatsPublisher<M> {
    fn subject(&self) -> &str {
        &self.subject
    }

    fn publish(&self, msg: M, with_reply: bool) -> Result<PublishReport, BrokerError> {
        let publish =
            self.broker
                .prepare_bound(&self.subject, &self.wire, self.reply(with_reply), msg)?;
        self.broker.enqueue(&self.subject, publish)?;
        Ok(PublishReport::default())
    }

    fn publish_waiting(&self, msg: M, with_reply: bool) -> PublishWaiting<'_> {
        match self
            .broker
            .prepare_bound(&self.subject, &self.wire, self.reply(with_reply), msg)
        {
            Ok(publish) => self.broker.hand_over_waiting(&self.subject, publish),
            Err(error) => PublishWaiting::done(Err(error)),
        }
    }
}

fn wire(prefix: &str, subject: &str) -> String {
    if subject.starts_with(INBOX) {
        subject.to_owned()
    } else {
        let mut s = String::with_capacity(prefix.len() + 1 + subject.len());
        s.push_str(prefix);
        s.push('.');
        s.push_str(subject);
        s
    }
}

/// The airssys subject of a wire subject: the prefix stripped.
pub(crate) fn local<'a>(prefix: &str, wire: &'a str) -> &'a str {
    wire.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(wire)
}

fn invalid_subject(subject: &str, reason: airssys_rt::broker::SubjectError) -> BrokerError {
    BrokerError::InvalidSubject {
        subject: subject.to_owned(),
        reason,
    }
}

/// Writes a dead letter's headers: its reason's stable label, what the
/// reason carries (one line), its target and the original subject.
fn put_dead_letter(headers: &mut HeaderMap, original: &str, undelivered: &Undelivered) {
    headers.insert(headers::DEAD_LETTER, undelivered.reason.label());
    headers.insert(headers::DEAD_LETTER_SUBJECT, original);
    headers.insert(headers::DEAD_LETTER_TARGET, &*undelivered.target);
    if let Some(detail) = undelivered.reason.detail() {
        // Header values are one line.
        headers.insert(
            headers::DEAD_LETTER_DETAIL,
            detail.replace(['\r', '\n'], " "),
        );
    }
}

impl<M: Clone + Send + 'static> MessageBroker<M> for NatsBroker<M> {
    /// Encodes `msg` and queues it for the server; never waits.
    ///
    /// The [`PublishReport`] is all zeros: the server does not say who
    /// matched.
    ///
    /// # Errors
    /// [`BrokerError::InvalidSubject`]; [`BrokerError::Transport`] if the
    /// client is not connected, the outbound queue is full, or `msg` cannot
    /// be encoded. The message was not accepted.
    fn publish(&self, subject: &str, msg: M) -> Result<PublishReport, BrokerError> {
        let publish = self.prepare(subject, None, msg, None)?;
        self.enqueue(subject, publish)?;
        Ok(PublishReport::default())
    }

    fn publish_with_reply(
        &self,
        subject: &str,
        reply_to: &str,
        msg: M,
    ) -> Result<PublishReport, BrokerError> {
        let publish = self.prepare(subject, Some(reply_to), msg, None)?;
        self.enqueue(subject, publish)?;
        Ok(PublishReport::default())
    }

    /// Waits while the client's channel is full (as a plain `async-nats`
    /// publisher does), or for room in the outbound queue if something is
    /// queued before it; refuses at once when not connected (as
    /// `publish_with_reply` does). When the client takes it at once, the
    /// returned future is ready (the common case costs no waiting state).
    fn publish_waiting<'a>(
        &'a self,
        subject: &'a str,
        reply_to: Option<&'a str>,
        msg: M,
    ) -> PublishWaiting<'a>
    where
        M: 'a,
    {
        match self.prepare(subject, reply_to, msg, None) {
            Ok(publish) => self.hand_over_waiting(subject, publish),
            Err(error) => PublishWaiting::done(Err(error)),
        }
    }

    /// A publisher whose wire subjects are made (and checked) once.
    fn publisher(
        self: Arc<Self>,
        subject: &str,
        reply_to: Option<&str>,
    ) -> Result<Arc<dyn SubjectPublisher<M>>, BrokerError>
    where
        Self: 'static,
    {
        let wire = self.wire_of(subject)?;
        let reply = reply_to.map(|r| self.wire_of(r)).transpose()?;
        Ok(Arc::new(NatsPublisher {
            broker: (*self).clone(),
            subject: Box::from(subject),
            wire,
            reply,
        }))
    }

    fn subscribe(&self, pattern: &str) -> Result<Subscription<M>, BrokerError> {
        self.subscribe_with_capacity(pattern, self.inner.subscription_capacity)
    }

    /// Subscribes on the server through the outbound queue (so in order with
    /// this broker's publishes). Use [`NatsBroker::sync`] to wait until the
    /// server has it.
    ///
    /// # Errors
    /// [`BrokerError::InvalidPattern`], [`BrokerError::ZeroCapacity`],
    /// [`BrokerError::Transport`] if the outbound queue is full or gone.
    fn subscribe_with_capacity(
        &self,
        pattern: &str,
        capacity: usize,
    ) -> Result<Subscription<M>, BrokerError> {
        self.subscribe_route(pattern, capacity, None)
    }

    /// As [`subscribe`](MessageBroker::subscribe); the
    /// subscription's receiving task offers each message to `direct` while
    /// nothing queued is waiting for the consumer, so a consumer that can
    /// take it at once (a mailbox with room) gets it without a hop through
    /// the queue and its own task.
    ///
    /// # Errors
    /// As [`subscribe_with_capacity`](Self::subscribe_with_capacity).
    fn subscribe_direct(
        &self,
        pattern: &str,
        direct: DirectDelivery<M>,
    ) -> Result<Subscription<M>, BrokerError> {
        self.subscribe_route(pattern, self.inner.subscription_capacity, Some(direct))
    }

    fn request<'a>(
        &'a self,
        subject: &'a str,
        msg: M,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<BrokerMessage<M>, BrokerError>> {
        Box::pin(async move {
            subject::validate_subject(subject).map_err(|e| invalid_subject(subject, e))?;
            let inner = &self.inner;
            if !inner.connected.load(Ordering::Acquire) {
                let state = inner.status.borrow().state;
                inner.counters.refused.fetch_add(1, Ordering::Relaxed);
                return Err(BrokerError::Transport {
                    subject: subject.to_owned(),
                    reason: format!("not connected to NATS ({})", state.as_str()),
                });
            }
            let (headers, payload) = self.encode(subject, msg)?;
            let request = async_nats::Request::new()
                .payload(payload)
                .headers(headers)
                .timeout(Some(timeout));
            self.count_published();
            let reply = inner
                .client
                .send_request(wire(&inner.prefix, subject), request)
                .await
                .map_err(|e| match e.kind() {
                    async_nats::client::RequestErrorKind::TimedOut => BrokerError::Timeout {
                        subject: subject.to_owned(),
                        timeout,
                    },
                    async_nats::client::RequestErrorKind::NoResponders => {
                        BrokerError::NoResponders {
                            subject: subject.to_owned(),
                        }
                    }
                    _ => BrokerError::Transport {
                        subject: subject.to_owned(),
                        reason: e.to_string(),
                    },
                })?;
            if let Some(failure) = reply.headers.as_ref().and_then(|h| h.get(headers::FAILURE)) {
                return Err(BrokerError::Failed {
                    subject: subject.to_owned(),
                    reason: failure.as_str().to_owned(),
                });
            }
            let payload = inner
                .codec
                .decode(reply.headers.as_ref(), reply.payload)
                .map_err(|e| {
                    inner.counters.undecodable.fetch_add(1, Ordering::Relaxed);
                    BrokerError::Transport {
                        subject: subject.to_owned(),
                        reason: format!("cannot decode the reply: {e}"),
                    }
                })?;
            Ok(BrokerMessage::new(
                Arc::from(local(&inner.prefix, &reply.subject)),
                payload,
            ))
        })
    }

    /// Publishes an empty message on the request's reply subject with the
    /// `Airssys-Failure` header carrying `reason`; the requesting broker's
    /// `request` reads it back as [`BrokerError::Failed`].
    ///
    /// # Errors
    /// [`BrokerError::NoReplyTo`]; [`BrokerError::Transport`] as
    /// [`publish`](Self::publish).
    fn reply_failure(&self, request: &BrokerMessage<M>, reason: &str) -> Result<(), BrokerError> {
        let Some(reply_to) = &request.reply_to else {
            return Err(BrokerError::NoReplyTo {
                subject: request.subject.to_string(),
            });
        };
        let mut headers = HeaderMap::new();
        // A header value is one line: a multi-line reason is folded.
        let one_line: String = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        headers.insert(headers::FAILURE, one_line.as_str());
        let publish = self.prepare_encoded(reply_to, None, headers, Bytes::new())?;
        self.enqueue(reply_to, publish)
    }

    /// Publishes `msg` on `<prefix>.<dead-letter subject>` with the
    /// `Airssys-Dead-Letter*` headers naming the reason, target and
    /// original subject.
    ///
    /// # Errors
    /// [`BrokerError::Transport`] as [`publish`](Self::publish).
    fn publish_dead_letter(
        &self,
        original_subject: Arc<str>,
        msg: M,
        undelivered: Undelivered,
    ) -> Result<(), BrokerError> {
        let subject = self.inner.dead_letter_subject.as_str();
        let publish = self.prepare(subject, None, msg, Some((&original_subject, &undelivered)))?;
        self.enqueue(subject, publish)?;
        self.inner
            .counters
            .dead_lettered
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn dead_letter_subject(&self) -> &str {
        &self.inner.dead_letter_subject
    }

    fn is_distributed(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::dead_letter_of;
    use airssys_rt::broker::DeadLetterReason;

    #[test]
    fn subjects_are_prefixed_except_inboxes() {
        assert_eq!(wire("app", "orders.new"), "app.orders.new");
        assert_eq!(wire("app", "_INBOX.abc"), "_INBOX.abc");
        assert_eq!(local("app", "app.orders.new"), "orders.new");
        assert_eq!(local("app", "_INBOX.abc"), "_INBOX.abc");
        assert_eq!(local("app", "apple.x"), "apple.x");
    }

    #[test]
    fn dead_letter_headers_round_trip() {
        let undelivered = Undelivered::new(
            "pricing",
            DeadLetterReason::HandlerFailed("trapped\nsecond line".into()),
        );
        let mut headers = HeaderMap::new();
        put_dead_letter(&mut headers, "orders.new.eu", &undelivered);
        assert_eq!(
            headers
                .get(crate::codec::headers::DEAD_LETTER)
                .map(|v| v.as_str()),
            Some("handler_failed"),
            "the wire carries the reason's label"
        );
        let (back, original) = dead_letter_of(&headers).unwrap();
        assert_eq!(original.as_deref(), Some("orders.new.eu"));
        assert_eq!(
            back,
            Undelivered::new(
                "pricing",
                DeadLetterReason::HandlerFailed("trapped second line".into())
            )
        );
        let full = Undelivered::new("jobs.*", DeadLetterReason::SubscriberFull { capacity: 8 });
        let mut headers = HeaderMap::new();
        put_dead_letter(&mut headers, "jobs.a", &full);
        assert_eq!(dead_letter_of(&headers).unwrap().0, full);
    }
}
