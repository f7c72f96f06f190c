//! What a cluster costs while idle: the NATS messages the server carried
//! and the CPU time of host processes, over a window.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_nats::async_nats;
use airssys_nats::cluster::BucketNames;
use futures::StreamExt;

use super::fleet::{cpu_time, nats_err};
use crate::bench::BenchError;

/// Messages seen by a subscriber on `>` (every subject of the account,
/// `$KV` and `$JS` ones and the watches' deliveries included), and those
/// that were writes to the application's hosts bucket (heartbeats).
#[derive(Debug, Default)]
struct Counts {
    all: AtomicU64,
    heartbeats: AtomicU64,
}

/// Counts over a window, per second.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rates {
    /// Every message the server carried in the account.
    pub(super) all: f64,
    /// Heartbeats (writes to `<p>_hosts`).
    pub(super) heartbeats: f64,
}

/// A subscriber on `>` on its own connection, counting.
pub(super) struct MessageCounter {
    counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

impl MessageCounter {
    /// Subscribes on `>` and returns once the subscription is at the
    /// server (a round trip on the same connection came back).
    pub(super) async fn start(
        url: &str,
        prefix: &str,
        scenario: &'static str,
    ) -> Result<Self, BenchError> {
        let client = async_nats::connect(url).await.map_err(nats_err(scenario))?;
        let mut all = client.subscribe(">").await.map_err(nats_err(scenario))?;
        // A round trip: once it is answered, `>` is subscribed.
        let inbox = client.new_inbox();
        let mut echo = client
            .subscribe(inbox.clone())
            .await
            .map_err(nats_err(scenario))?;
        client
            .publish(inbox, bytes::Bytes::new())
            .await
            .map_err(nats_err(scenario))?;
        if tokio::time::timeout(Duration::from_secs(5), echo.next())
            .await
            .ok()
            .flatten()
            .is_none()
        {
            return Err(BenchError::Stalled {
                scenario,
                timeout: Duration::from_secs(5),
            });
        }
        let names = BucketNames::for_prefix(prefix);
        let hosts = format!("$KV.{}.", names.hosts);
        let counts = Arc::new(Counts::default());
        let c = Arc::clone(&counts);
        let task = tokio::spawn(async move {
            // The client lives as long as the task.
            let _client = client;
            while let Some(m) = all.next().await {
                c.all.fetch_add(1, Ordering::Relaxed);
                if m.subject.starts_with(hosts.as_str()) {
                    c.heartbeats.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok(Self { counts, task })
    }

    /// The counts over the next `window`, per second.
    pub(super) async fn over(&self, window: Duration) -> Rates {
        let read = |c: &Counts| {
            (
                c.all.load(Ordering::Relaxed),
                c.heartbeats.load(Ordering::Relaxed),
            )
        };
        let before = read(&self.counts);
        let t = Instant::now();
        tokio::time::sleep(window).await;
        let after = read(&self.counts);
        let s = t.elapsed().as_secs_f64();
        Rates {
            all: (after.0 - before.0) as f64 / s,
            heartbeats: (after.1 - before.1) as f64 / s,
        }
    }
}

impl Drop for MessageCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// CPU seconds per second used by processes `pids` together over
/// `window`, and the messages counted meanwhile.
pub(super) async fn idle_window(
    pids: &[u32],
    counter: &MessageCounter,
    window: Duration,
    scenario: &'static str,
) -> Result<(f64, Rates), BenchError> {
    let cpu = |pids: &[u32]| -> Result<Duration, BenchError> {
        pids.iter()
            .map(|&pid| {
                cpu_time(pid).ok_or_else(|| BenchError::Nats {
                    scenario,
                    reason: format!("cannot read /proc/{pid}/stat (not Linux, or the host died)"),
                })
            })
            .sum()
    };
    let before = cpu(pids)?;
    let t = Instant::now();
    let rates = counter.over(window).await;
    let used = cpu(pids)? - before;
    Ok((used.as_secs_f64() / t.elapsed().as_secs_f64(), rates))
}
