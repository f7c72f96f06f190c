//! `[[drive]]` sections: host-side traffic sources, one task each.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use airssys_wasm::codec;
use airssys_wasm::host::{ComponentHost, HostError};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::manifest::{DriveDef, DriveTarget};

/// Counters of one drive, shared with the status view and the summary.
#[derive(Debug, Default)]
pub struct DriveStats {
    /// Messages the host accepted (published, or queued for a send/request).
    pub accepted: AtomicU64,
    /// Mailbox deliveries of the accepted publishes (one per matching
    /// subscription); equal to `accepted` for sends and requests.
    pub deliveries: AtomicU64,
    /// Sends or requests the host refused at the sender (unknown or stopped
    /// component, too large), or requests that failed (timeout, handler
    /// error: the message itself is then accounted as a dead letter).
    pub refused: AtomicU64,
    /// Requests that got a reply.
    pub replies: AtomicU64,
    /// Accepted sends/requests per target, in the order of the drive's
    /// targets (empty for a publish drive).
    pub per_target: Vec<AtomicU64>,
}

impl DriveStats {
    fn accept(&self, target: usize) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.deliveries.fetch_add(1, Ordering::Relaxed);
        if let Some(n) = self.per_target.get(target) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A running drive.
#[derive(Debug)]
pub struct Drive {
    /// Its definition.
    pub def: DriveDef,
    /// Its counters.
    pub stats: Arc<DriveStats>,
    task: JoinHandle<()>,
}

impl Drive {
    /// A label: `publish orders.new.eu`, `send pricing`, ...
    pub fn label(&self) -> String {
        match &self.def.target {
            DriveTarget::Publish(s) => format!("publish {s}"),
            DriveTarget::Send(t) => format!("send {}", t.join(",")),
            DriveTarget::Request(t) => format!("request {}", t.join(",")),
        }
    }

    /// Whether it has sent its `count`.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops it and waits until it has stopped (an in-flight request is
    /// let finish, so every accepted message is counted).
    pub async fn stop(self, stopping: &AtomicBool) {
        stopping.store(true, Ordering::Release);
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "drive task ended abnormally");
        }
    }
}

/// Starts one task per drive. `stopping` ends them at their next tick.
pub fn start(host: &ComponentHost, defs: &[DriveDef], stopping: Arc<AtomicBool>) -> Vec<Drive> {
    defs.iter()
        .map(|def| {
            let targets = match &def.target {
                DriveTarget::Publish(_) => 0,
                DriveTarget::Send(t) | DriveTarget::Request(t) => t.len(),
            };
            let stats = Arc::new(DriveStats {
                per_target: (0..targets).map(|_| AtomicU64::new(0)).collect(),
                ..DriveStats::default()
            });
            let task = tokio::spawn(drive(
                host.clone(),
                def.clone(),
                Arc::clone(&stats),
                Arc::clone(&stopping),
            ));
            Drive {
                def: def.clone(),
                stats,
                task,
            }
        })
        .collect()
}

/// How much of a reply a request drive logs or prints.
const REPLY_SHOWN_CHARS: usize = 200;

async fn drive(
    host: ComponentHost,
    def: DriveDef,
    stats: Arc<DriveStats>,
    stopping: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(def.every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        if stopping.load(Ordering::Acquire) || def.count.is_some_and(|c| n >= c) {
            return;
        }
        let payload = def.payload(n);
        match &def.target {
            DriveTarget::Publish(subject) => match host.publish(subject, payload.into_bytes()) {
                Ok(report) => {
                    stats.accepted.fetch_add(1, Ordering::Relaxed);
                    stats
                        .deliveries
                        .fetch_add(report.matched as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%subject, error = %e, "drive: publish refused");
                }
            },
            DriveTarget::Send(targets) => {
                let i = usize::try_from(n % targets.len() as u64).unwrap_or(0);
                let to = &targets[i];
                match host.send(to, payload.into_bytes()).await {
                    Ok(()) => stats.accept(i),
                    Err(e) => {
                        stats.refused.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(component = %to, error = %e, "drive: send refused");
                    }
                }
            }
            DriveTarget::Request(targets) => {
                let i = usize::try_from(n % targets.len() as u64).unwrap_or(0);
                let to = &targets[i];
                // A request is accepted once queued: a reply, a handler
                // failure here or on the host that runs it (the message is
                // dead-lettered there) and a timeout (it is still queued)
                // all count as delivered.
                match host
                    .request(to, payload.clone().into_bytes(), def.timeout)
                    .await
                {
                    Ok(reply) => {
                        stats.accept(i);
                        stats.replies.fetch_add(1, Ordering::Relaxed);
                        let shown = reply.as_deref().map_or_else(
                            || "(no reply payload)".to_owned(),
                            |r| codec::display(r, REPLY_SHOWN_CHARS),
                        );
                        tracing::info!(component = %to, request = %payload, reply = %shown, "drive: reply");
                        if def.show_replies {
                            println!("reply from {to} to {payload:?}: {shown}");
                        }
                    }
                    Err(
                        e @ (HostError::HandlerFailed { .. }
                        | HostError::RemoteFailed { .. }
                        | HostError::Timeout { .. }),
                    ) => {
                        stats.accept(i);
                        tracing::debug!(component = %to, error = %e, "drive: request failed");
                        if def.show_replies {
                            println!("no reply from {to} to {payload:?}: {e}");
                        }
                    }
                    Err(e) => {
                        stats.refused.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(component = %to, error = %e, "drive: request failed");
                    }
                }
            }
        }
        n += 1;
    }
}
