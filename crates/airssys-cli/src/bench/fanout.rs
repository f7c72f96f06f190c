//! The `broker_fanout` scenario: publish to subscribed components until all
//! are handled, against a tokio mpsc fan-out to as many tasks;
//! [`ROUNDS`] interleaved rounds on each side.

#[allow(clippy::wildcard_imports)]
use super::*;

const S: &str = "broker_fanout";

/// The host's side: publishes on a topic [`FANOUT`] components subscribe
/// to, until each has handled every message of the round.
struct HostFanout {
    host: ComponentHost,
    ids: Vec<String>,
    refs: Vec<airssys_wasm::ComponentRef>,
    payload: bytes::Bytes,
    /// Messages published so far (each handled by every subscriber).
    published: u64,
}

impl HostFanout {
    /// Messages every subscriber has finished with.
    fn slowest(&self) -> u64 {
        self.refs
            .iter()
            .map(|r| {
                let s = r.stats();
                s.handled + s.failed
            })
            .min()
            .unwrap_or(0)
    }
}

impl Side for HostFanout {
    async fn round(&mut self, n: usize) -> Result<f64, BenchError> {
        // At most WINDOW messages in flight per subscriber: the topic
        // fan-out never waits, so a flood would be dead-lettered as
        // mailbox_full instead of measured.
        const WINDOW: u64 = 256;
        let t = Instant::now();
        for i in 0..n as u64 {
            if i % 64 == 0 {
                while self.published - self.slowest().min(self.published) >= WINDOW {
                    tokio::task::yield_now().await;
                }
            }
            self.host
                .publish("bench.fanout", self.payload.clone())
                .map_err(host_err(S))?;
            self.published += 1;
        }
        let target = self.published * FANOUT as u64;
        wait_handled(&self.host, &self.ids, target, S).await?;
        Ok((n * FANOUT) as f64 / t.elapsed().as_secs_f64())
    }
}

/// The raw side: one producer, [`FANOUT`] consumer tasks on bounded mpsc
/// channels, each reporting when it has seen a round's messages.
struct RawFanout {
    senders: Vec<tokio::sync::mpsc::Sender<bytes::Bytes>>,
    done: tokio::sync::mpsc::UnboundedReceiver<()>,
    payload: bytes::Bytes,
}

impl RawFanout {
    fn start(per_round: usize, payload: bytes::Bytes) -> Self {
        let (done_tx, done) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut senders = Vec::with_capacity(FANOUT);
        for _ in 0..FANOUT {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4096);
            let done = done_tx.clone();
            tokio::spawn(async move {
                let mut seen = 0usize;
                while let Some(m) = rx.recv().await {
                    std::hint::black_box(m);
                    seen += 1;
                    if seen % per_round == 0 {
                        let _ = done.send(());
                    }
                }
            });
            senders.push(tx);
        }
        RawFanout {
            senders,
            done,
            payload,
        }
    }
}

impl Side for RawFanout {
    async fn round(&mut self, n: usize) -> Result<f64, BenchError> {
        let t = Instant::now();
        for _ in 0..n {
            for tx in &self.senders {
                if tx.send(self.payload.clone()).await.is_err() {
                    return Err(wasm_err(S)("a fan-out task ended"));
                }
            }
        }
        for _ in 0..FANOUT {
            if self.done.recv().await.is_none() {
                return Err(wasm_err(S)("the fan-out tasks ended"));
            }
        }
        Ok((n * FANOUT) as f64 / t.elapsed().as_secs_f64())
    }
}

pub(super) async fn broker_fanout(n: usize) -> Result<Scenario, BenchError> {
    let payload = bytes::Bytes::from(vec![0xabu8; 64]);
    let host = host(S, FANOUT + 4)?;
    let ids: Vec<String> = (0..FANOUT).map(|i| format!("sub{i}")).collect();
    for id in &ids {
        host.spawn(
            spec(id.clone())
                .subscribe("bench.fanout")
                .mailbox_capacity(4096),
        )
        .await
        .map_err(host_err(S))?;
    }
    let refs = ids.iter().filter_map(|id| host.component(id)).collect();
    let mut ours = HostFanout {
        host: host.clone(),
        ids,
        refs,
        payload: payload.clone(),
        published: 0,
    };
    let per_round = n.div_ceil(ROUNDS);
    let mut base = RawFanout::start(per_round, payload);
    let rounds = Rounds::run(&mut ours, &mut base, per_round).await?;
    host.shutdown(Duration::from_secs(10)).await;
    Ok(rounds.scenario(
        S,
        "msg/s",
        (per_round * ROUNDS * FANOUT) as u64,
        "tokio mpsc fan-out to 8 tasks",
    ))
}
