//! The NATS scenarios of `airssys bench --nats <url>`: two component hosts
//! in this process, each on its own connection to the server, beside the
//! same traffic between two plain `async-nats` clients.
//!
//! | scenario | airssys | raw baseline | unit |
//! |---|---|---|---|
//! | `nats_tell` | host B's `send` to a component on host A, until all handled; median of [`TELL_ROUNDS`] rounds interleaved with the baseline's | client B publishes, client A's subscription receives all; median of as many rounds | msg/s |
//! | `nats_request` | host B's `request` to an echo component on host A | client B's `request` to client A echoing on its subscription | µs (p50/p99) |

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_nats::{async_nats, NatsBroker};
use airssys_rt::broker::DEFAULT_SUBSCRIPTION_CAPACITY;
use airssys_wasm::host::ComponentHost;
use airssys_wasm::TopicMessage;
use bytes::Bytes;
use futures::StreamExt;

use super::{host_err, micros, percentile, spec, BenchError, Scenario};
use crate::nats::TopicCodec;

/// How long a throughput run may take before the scenario fails.
const STALL: Duration = Duration::from_secs(120);

/// How long one request may take before the scenario fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A host on its own connection, under an application prefix unique to
/// this run (so a shared server's other traffic never mixes in).
///
/// `queue` is the capacity of each of its subscriptions, and of the
/// client's own queue ahead of them: core NATS has no flow control, so
/// what arrives while a subscription is full is dead-lettered
/// (`subscriber_full`), and what arrives while the client's queue is full
/// is dropped by the client (counted, `slow_consumer_dropped`).
async fn host_on(
    url: &str,
    scenario: &'static str,
    queue: usize,
) -> Result<(ComponentHost, NatsBroker<TopicMessage>), BenchError> {
    let broker: NatsBroker<TopicMessage> = NatsBroker::builder(url, Arc::new(TopicCodec))
        .prefix(prefix())
        .subscription_capacity(queue)
        .client_subscription_capacity(queue)
        .connect()
        .await
        .map_err(nats_err(scenario))?;
    let host = ComponentHost::builder()
        .broker(Arc::new(broker.clone()))
        .build()
        .map_err(host_err(scenario))?;
    Ok((host, broker))
}

fn prefix() -> String {
    format!("airssys-bench-{}", std::process::id())
}

fn nats_err<E: std::fmt::Display>(scenario: &'static str) -> impl Fn(E) -> BenchError {
    move |e| BenchError::Nats {
        scenario,
        reason: e.to_string(),
    }
}

/// A round trip to the server on `client`'s connection: once it returns,
/// the server has processed what the client sent before (publishes,
/// subscriptions).
///
/// `Client::flush` is not enough: it only empties the socket's write
/// buffer, so another connection's publish could still reach the server
/// before this one's `SUB` (the raw baseline then lost its first messages,
/// or its first request met "no responders"). An echo through a fresh
/// inbox is answered only after everything before it was processed.
async fn settle(client: &async_nats::Client, scenario: &'static str) -> Result<(), BenchError> {
    let inbox = client.new_inbox();
    let mut echo = client
        .subscribe(inbox.clone())
        .await
        .map_err(nats_err(scenario))?;
    client
        .publish(inbox, Bytes::new())
        .await
        .map_err(nats_err(scenario))?;
    match tokio::time::timeout(REQUEST_TIMEOUT, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(BenchError::Nats {
            scenario,
            reason: "the connection closed during a round trip to the server".into(),
        }),
        Err(_) => Err(BenchError::Stalled {
            scenario,
            timeout: REQUEST_TIMEOUT,
        }),
    }
}

/// Host A running component `id` (its subscriptions `queue` deep) and
/// host B, both on `url`; returns once one request from B reached the
/// component and came back (A's subscription is on the server, and both
/// paths are warm).
async fn serving_pair(
    url: &str,
    scenario: &'static str,
    queue: usize,
    id: &str,
) -> Result<(ComponentHost, NatsBroker<TopicMessage>, ComponentHost), BenchError> {
    let ((a, a_broker), (b, _)) = (
        host_on(url, scenario, queue).await?,
        host_on(url, scenario, DEFAULT_SUBSCRIPTION_CAPACITY).await?,
    );
    a.spawn(spec(id.into())).await.map_err(host_err(scenario))?;
    a_broker.sync().await.map_err(nats_err(scenario))?;
    b.request(id, Bytes::from_static(b"warm-up"), REQUEST_TIMEOUT)
        .await
        .map_err(host_err(scenario))?;
    Ok((a, a_broker, b))
}

/// Rounds of `nats_tell`, each side in turn: a single round's rate on two
/// cores shared with the server swings by a sixth either way, so each
/// side's figure is the median of its rounds.
const TELL_ROUNDS: usize = 5;

/// How often a throughput round looks whether everything arrived (both
/// sides alike).
const POLL: Duration = Duration::from_micros(200);

/// `nats_tell`: [`TELL_ROUNDS`] rounds of `n` messages on each side,
/// interleaved (airssys, raw, airssys, ...), on the same two hosts and the
/// same two raw clients throughout.
pub(super) async fn tell(url: &str, n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "nats_tell";
    let payload = Bytes::from(vec![0xabu8; 64]);
    let total = n * TELL_ROUNDS;
    // The receiving subscriptions hold the whole run, so each figure is
    // the rate at which everything sent is handled, none dropped.
    let (a, a_broker, b) = serving_pair(url, S, total + 16, "sink").await?;
    let sink = a.component("sink").ok_or_else(|| BenchError::Nats {
        scenario: S,
        reason: "the sink is gone".into(),
    })?;
    // Dead letters on either host, and what host A's client dropped before
    // its receiving task saw it (a run under a profiler can fall that far
    // behind): each fails the run rather than stalling it.
    let lost = || {
        let received = a_broker.stats();
        a.dead_letter_stats().total()
            + b.dead_letter_stats().total()
            + received.dropped_full
            + received.slow_consumer_dropped
    };
    let mut raw = RawPair::connect(url, total + 16, S).await?;

    let (mut ours, mut base) = (Vec::new(), Vec::new());
    // The warm-up request of `serving_pair` was handled too.
    let mut handled = 1;
    for _ in 0..TELL_ROUNDS {
        let t = Instant::now();
        for _ in 0..n {
            b.send("sink", payload.clone()).await.map_err(host_err(S))?;
        }
        handled += n as u64;
        // Every message ends handled or dead-lettered: wait for all of them.
        until(S, || sink.stats().handled + lost() >= handled).await?;
        ours.push(n as f64 / t.elapsed().as_secs_f64());
        if lost() > 0 {
            break;
        }
        base.push(raw.round(&payload, n).await?);
    }
    let lost = lost();
    a.shutdown(Duration::from_secs(10)).await;
    b.shutdown(Duration::from_secs(10)).await;
    if lost > 0 {
        return Err(BenchError::Nats {
            scenario: S,
            reason: format!("{lost} messages were dead-lettered or dropped"),
        });
    }
    Ok(Scenario::value(
        S,
        "msg/s",
        total as u64,
        percentile(&mut ours, 50.0),
        "async-nats publish → subscription",
        percentile(&mut base, 50.0),
    ))
}

/// Waits until `done` holds, looking every [`POLL`]; fails past [`STALL`].
async fn until(scenario: &'static str, done: impl Fn() -> bool) -> Result<(), BenchError> {
    let deadline = Instant::now() + STALL;
    while !done() {
        if Instant::now() > deadline {
            return Err(BenchError::Stalled {
                scenario,
                timeout: STALL,
            });
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// The raw baseline of `nats_tell`: a plain publisher and a plain
/// subscriber that only counts, each on its own connection.
struct RawPair {
    sender: async_nats::Client,
    subject: String,
    seen: Arc<AtomicUsize>,
    sent: usize,
    scenario: &'static str,
    /// Ends with the pair: the counting task's subscription.
    _receiver: async_nats::Client,
}

impl RawPair {
    /// `capacity` is the receiving client's queue: it holds the whole run,
    /// as host A's does (a sender faster than the counting task would
    /// otherwise lose the excess in the client).
    async fn connect(
        url: &str,
        capacity: usize,
        scenario: &'static str,
    ) -> Result<Self, BenchError> {
        let subject = format!("{}.raw.tell", prefix());
        let receiver = async_nats::ConnectOptions::new()
            .subscription_capacity(capacity)
            .connect(url)
            .await
            .map_err(nats_err(scenario))?;
        let sender = async_nats::connect(url).await.map_err(nats_err(scenario))?;
        let mut subscription = receiver
            .subscribe(subject.clone())
            .await
            .map_err(nats_err(scenario))?;
        settle(&receiver, scenario).await?;
        let seen = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                std::hint::black_box(message);
                counted.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(Self {
            sender,
            subject,
            seen,
            sent: 0,
            scenario,
            _receiver: receiver,
        })
    }

    /// Publishes `n` messages and waits until the subscriber has counted
    /// them all; the rate in messages per second.
    async fn round(&mut self, payload: &Bytes, n: usize) -> Result<f64, BenchError> {
        let scenario = self.scenario;
        let target = self.sent + n;
        let t = Instant::now();
        for _ in 0..n {
            self.sender
                .publish(self.subject.clone(), payload.clone())
                .await
                .map_err(nats_err(scenario))?;
        }
        until(scenario, || self.seen.load(Ordering::Relaxed) >= target).await?;
        self.sent = target;
        Ok(n as f64 / t.elapsed().as_secs_f64())
    }
}

/// `nats_request`.
pub(super) async fn request(url: &str, n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "nats_request";
    let payload = Bytes::from(vec![0xabu8; 64]);
    let (a, _, b) = serving_pair(url, S, DEFAULT_SUBSCRIPTION_CAPACITY, "echo").await?;
    let mut ours = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let reply = b
            .request("echo", payload.clone(), REQUEST_TIMEOUT)
            .await
            .map_err(host_err(S))?;
        ours.push(micros(t.elapsed()));
        std::hint::black_box(reply);
    }
    a.shutdown(Duration::from_secs(10)).await;
    b.shutdown(Duration::from_secs(10)).await;

    let subject = format!("{}.raw.echo", prefix());
    let responder = async_nats::connect(url).await.map_err(nats_err(S))?;
    let requester = async_nats::connect(url).await.map_err(nats_err(S))?;
    let mut subscription = responder
        .subscribe(subject.clone())
        .await
        .map_err(nats_err(S))?;
    settle(&responder, S).await?;
    let answering = responder.clone();
    let echo = tokio::spawn(async move {
        while let Some(message) = subscription.next().await {
            if let Some(reply) = message.reply {
                // A lost reply shows as the requester's timeout.
                let _ = answering.publish(reply, message.payload).await;
            }
        }
    });
    let ask = |subject: String| {
        let requester = requester.clone();
        let payload = payload.clone();
        async move {
            tokio::time::timeout(REQUEST_TIMEOUT, requester.request(subject, payload))
                .await
                .map_err(|_| BenchError::Stalled {
                    scenario: S,
                    timeout: REQUEST_TIMEOUT,
                })?
                .map_err(nats_err(S))
        }
    };
    ask(subject.clone()).await?;
    let mut base = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let reply = ask(subject.clone()).await?;
        base.push(micros(t.elapsed()));
        std::hint::black_box(reply);
    }
    echo.abort();
    Ok(Scenario::latency(
        S,
        &mut ours,
        "async-nats request → echoing subscription",
        &mut base,
    ))
}
