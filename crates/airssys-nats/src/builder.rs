//! [`NatsBrokerBuilder`]: a [`NatsBroker`]'s settings, their defaults,
//! and the connection it makes (with the client's events recorded).

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{subject, DEFAULT_DEAD_LETTER_SUBJECT, DEFAULT_SUBSCRIPTION_CAPACITY};
use tokio::sync::watch;

use crate::broker::{Inner, NatsBroker, QueueGroup};
use crate::codec::WireCodec;
use crate::connection::{backoff, ConnectionState, ConnectionStatus};
use crate::error::NatsError;
use crate::outbound::{drain, Outbox};
use crate::security::{Auth, ClientCert, ConnectSecurity};
use crate::stats::Counters;
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
        let counters = Arc::new(Counters::default());
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
            prefix: Arc::from(self.prefix),
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
}
