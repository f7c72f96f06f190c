//! `durable_tell`: sends to a durable component, stored in JetStream and
//! handed to the component by its owner's pump, which acknowledges each
//! after the handler returned; beside raw `async-nats` JetStream: the same
//! number of publishes, each awaited as stored, taken by a pull consumer
//! that acknowledges each. Both keep the same number of publishes in
//! flight and are timed from the first publish to the last message
//! acknowledged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_nats::async_nats::{self, jetstream};
use airssys_nats::cluster::durable::{DurableStore, Mailbox};
use airssys_nats::NatsBroker;
use airssys_wasm::host::ComponentHost;
use airssys_wasm::TopicMessage;
use futures::stream::FuturesUnordered;
use futures::StreamExt;

use super::super::{host_err, spec, BenchError, Scenario};
use super::fleet::nats_err;
use crate::cluster::durable::Pump;
use crate::nats::TopicCodec;

const S: &str = "durable_tell";

/// Publishes in flight at once, on both sides.
const WINDOW: usize = 256;

/// How long a run may take before the scenario fails.
const STALL: Duration = Duration::from_secs(120);

/// Rounds of each side, interleaved: one round's rate swings with what
/// else the machine and the server do; each side's figure is its median.
const ROUNDS: usize = 7;

/// `durable_tell` with `n` messages a side, in [`ROUNDS`] interleaved rounds.
pub(super) async fn durable_tell(url: &str, n: usize) -> Result<Scenario, BenchError> {
    let per_round = (n / ROUNDS).max(1);
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(per_round as f64 / airssys_side(url, per_round).await?.as_secs_f64());
        raw.push(per_round as f64 / raw_side(url, per_round).await?.as_secs_f64());
    }
    Ok(Scenario::value(
        S,
        "msg/s",
        (per_round * ROUNDS) as u64,
        median(&mut ours),
        "async-nats JetStream publish + pull consume + ack",
        median(&mut raw),
    ))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A unique prefix per run, so a shared server's streams never mix in.
fn prefix(side: &str) -> String {
    format!("airssys-bench-{side}-{}", std::process::id())
}

async fn airssys_side(url: &str, n: usize) -> Result<Duration, BenchError> {
    let prefix = prefix("durable");
    let broker: NatsBroker<TopicMessage> = NatsBroker::builder(url, Arc::new(TopicCodec))
        .prefix(prefix.clone())
        .connect()
        .await
        .map_err(nats_err(S))?;
    let host = ComponentHost::builder()
        .broker(Arc::new(broker.clone()))
        .build()
        .map_err(host_err(S))?;
    let component = host
        .spawn(spec("sink".to_owned()).mailbox_capacity(4096))
        .await
        .map_err(host_err(S))?;
    let store = DurableStore::open(broker.client().clone(), &prefix, true)
        .await
        .map_err(nats_err(S))?;
    let pump = Pump::start(
        store.clone(),
        host.clone(),
        "sink".to_owned(),
        vec![Mailbox::Component("sink".to_owned())],
        None,
    );
    // One message through before the clock starts: the pump has taken
    // its consumer (as the raw side's exists before its clock starts).
    store
        .publish("sink", None, bytes::Bytes::from_static(b"warm-up"))
        .await
        .map_err(nats_err(S))?;
    wait_handled(&component, 1).await?;
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for i in 0..n {
        if in_flight.len() >= WINDOW {
            if let Some(r) = in_flight.next().await {
                let r: Result<_, String> = r;
                r.map_err(nats_err(S))?;
            }
        }
        let store = store.clone();
        in_flight.push(async move {
            store
                .publish("sink", None, bytes::Bytes::from(i.to_string()))
                .await
        });
    }
    while let Some(r) = in_flight.next().await {
        let r: Result<_, String> = r;
        r.map_err(nats_err(S))?;
    }
    wait_handled(&component, n as u64 + 1).await?;
    // Handled is counted when the handler returns; the acknowledgement
    // follows at once: let the last ones go out before the clock stops.
    pump.finish().await;
    let took = started.elapsed();
    host.shutdown(Duration::from_secs(5)).await;
    drop_stream(broker.client(), &prefix).await;
    Ok(took)
}

async fn raw_side(url: &str, n: usize) -> Result<Duration, BenchError> {
    let prefix = prefix("raw");
    let client = async_nats::connect(url).await.map_err(nats_err(S))?;
    let js = jetstream::new(client.clone());
    let stream_name = format!("{}_durable", prefix.replace('.', "_"));
    let subject = format!("{prefix}.durable.component.sink");
    let stream = js
        .create_stream(jetstream::stream::Config {
            name: stream_name.clone(),
            subjects: vec![format!("{prefix}.durable.component.>")],
            retention: jetstream::stream::RetentionPolicy::WorkQueue,
            storage: jetstream::stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .map_err(nats_err(S))?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("c-sink".into()),
            filter_subject: subject.clone(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            max_ack_pending: 64,
            ..Default::default()
        })
        .await
        .map_err(nats_err(S))?;
    let mut messages = consumer.messages().await.map_err(nats_err(S))?;
    // One message through before the clock starts, as on our side.
    js.publish(subject.clone(), bytes::Bytes::from_static(b"warm-up"))
        .await
        .map_err(nats_err(S))?
        .await
        .map_err(nats_err(S))?;
    match messages.next().await {
        Some(Ok(m)) => m.ack().await.map_err(nats_err(S))?,
        other => {
            return Err(BenchError::Nats {
                scenario: S,
                reason: format!(
                    "the raw consumer's warm-up: {:?}",
                    other.map(|r| r.map(|_| ()))
                ),
            })
        }
    }
    let started = Instant::now();
    let consume = tokio::spawn(async move {
        let mut acked = 0usize;
        while acked < n {
            match messages.next().await {
                Some(Ok(m)) => {
                    if m.ack().await.is_ok() {
                        acked += 1;
                    }
                }
                Some(Err(_)) => {}
                None => break,
            }
        }
        acked
    });
    let mut in_flight = FuturesUnordered::new();
    for i in 0..n {
        if in_flight.len() >= WINDOW {
            if let Some(r) = in_flight.next().await {
                let r: Result<_, String> = r;
                r.map_err(nats_err(S))?;
            }
        }
        let js = js.clone();
        let subject = subject.clone();
        in_flight.push(async move {
            js.publish(subject, i.to_string().into())
                .await
                .map_err(|e| e.to_string())?
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    }
    while let Some(r) = in_flight.next().await {
        let r: Result<_, String> = r;
        r.map_err(nats_err(S))?;
    }
    let acked = tokio::time::timeout(STALL, consume)
        .await
        .map_err(|_| BenchError::Stalled {
            scenario: S,
            timeout: STALL,
        })?
        .map_err(nats_err(S))?;
    let took = started.elapsed();
    if acked < n {
        return Err(BenchError::Nats {
            scenario: S,
            reason: format!("the raw consumer ended after {acked} of {n}"),
        });
    }
    let _ = js.delete_stream(&stream_name).await;
    Ok(took)
}

/// Waits until `component` handled `n` messages.
async fn wait_handled(
    component: &airssys_wasm::host::ComponentRef,
    n: u64,
) -> Result<(), BenchError> {
    let deadline = Instant::now() + STALL;
    while component.stats().handled < n {
        if Instant::now() > deadline {
            return Err(BenchError::Stalled {
                scenario: S,
                timeout: STALL,
            });
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Deletes a run's stream, so benches leave nothing on a shared server.
async fn drop_stream(client: &async_nats::Client, prefix: &str) {
    let js = jetstream::new(client.clone());
    let _ = js
        .delete_stream(format!("{}_durable", prefix.replace('.', "_")))
        .await;
}
