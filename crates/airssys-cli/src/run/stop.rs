//! The graceful end of a run: the sources stopped, a cluster host's units
//! handed over, the mailboxes drained, the host shut down, and the summary
//! of every message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_wasm::host::{ComponentHost, ComponentInfo};

use super::{drive, EndReason, Running, Summary};

impl Running {
    /// Stops the run that ended for `end` and accounts for it.
    pub(super) async fn stop(self, end: EndReason) -> Summary {
        tracing::info!(reason = ?end, "stopping");
        // From here a second Ctrl-C or SIGTERM stops at once, saying what it
        // leaves behind; the control API takes no new work.
        let force = tokio::spawn(stop_now_on_second_signal(self.host.clone()));
        let control_traffic = self.control.map(|served| {
            served.task.abort();
            served.traffic
        });
        // Graceful shutdown: stop the sources, hand the cluster's units over,
        // let the mailboxes drain, stop the host.
        let drive_stats: Vec<(String, Arc<drive::DriveStats>)> = self
            .drives
            .iter()
            .map(|d| (d.label(), Arc::clone(&d.stats)))
            .collect();
        for d in self.drives {
            d.stop(&self.stopping).await;
        }
        let mut retired = Vec::new();
        if let Some(cluster_run) = self.cluster_run {
            let report = cluster_run.leave().await;
            eprintln!(
                "left the cluster: {} units handed over, {} released",
                report.handed_over, report.released
            );
            retired = report.retired;
        }
        if !matches!(end, EndReason::RootFailed(_)) {
            drain(
                &self.host,
                &self.ledger,
                self.manifest.host.shutdown_timeout,
            )
            .await;
        }
        let components = with_retired(self.host.list(), retired);
        let report = self
            .host
            .shutdown(self.manifest.host.shutdown_timeout)
            .await;
        let tally = self.ledger.stop().await;
        if let Some(nats) = &self.nats {
            // What the components published on their way out reaches the
            // server before the process exits.
            if let Err(error) = nats.sync().await {
                tracing::warn!(%error, "could not flush the NATS connection at exit");
            }
        }
        if let Some(task) = self.endpoint {
            task.abort();
        }
        force.abort();

        let mut summary = Summary::new(
            &self.manifest,
            self.started.elapsed(),
            end,
            components,
            report,
            tally,
            drive_stats,
        );
        if self.durable {
            summary = summary.durable(&self.manifest);
        }
        if let Some(traffic) = &control_traffic {
            summary = summary.control(traffic);
        }
        if self.nats.is_some() {
            summary = summary.unenforced();
        }
        summary
    }
}

/// Waits, up to `timeout`, until the mailboxes are empty and nothing moved
/// (handled, failed, published) for three looks in a row.
async fn drain(host: &ComponentHost, ledger: &super::ledger::Ledger, timeout: Duration) {
    let drain_deadline = Instant::now() + timeout;
    let mut stable = 0;
    let mut last = None;
    while Instant::now() < drain_deadline && stable < 3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let list = host.list();
        let queued: usize = list.iter().map(|c| c.mailbox_len).sum();
        let seen = ledger.snapshot();
        let key = (
            queued,
            list.iter().map(|c| c.handled + c.failed).sum::<u64>(),
            seen.host_publishes + seen.guest_publishes,
        );
        if queued == 0 && last == Some(key) {
            stable += 1;
        } else {
            stable = 0;
        }
        last = Some(key);
    }
}

/// `now` with the counts of components that ran here earlier (a cluster
/// host's, moved away or stopped) added, one row per id.
fn with_retired(now: Vec<ComponentInfo>, retired: Vec<ComponentInfo>) -> Vec<ComponentInfo> {
    let mut rows = now;
    for r in retired {
        match rows.iter_mut().find(|c| c.id == r.id) {
            Some(row) => {
                row.restarts += r.restarts;
                row.handled += r.handled;
                row.failed += r.failed;
                row.denied += r.denied;
                row.upgrades += r.upgrades;
            }
            None => rows.push(r),
        }
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows
}

/// Waits for another Ctrl-C or SIGTERM during the graceful stop, then
/// says what a stop now abandons (messages still queued, components not
/// cleaned up) and exits with 130 at once.
async fn stop_now_on_second_signal(host: ComponentHost) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = super::terminated() => {}
    }
    let list = host.list();
    let queued: Vec<String> = list
        .iter()
        .filter(|c| c.mailbox_len > 0)
        .map(|c| format!("{} ({})", c.id, c.mailbox_len))
        .collect();
    let running = list
        .iter()
        .filter(|c| c.state != airssys_wasm::LifecycleState::Stopped)
        .count();
    eprintln!(
        "second signal: stopping now; abandoned {} queued message(s){}{}, {running} component(s) not cleaned up",
        list.iter().map(|c| c.mailbox_len).sum::<usize>(),
        if queued.is_empty() { "" } else { " in " },
        queued.join(", ")
    );
    std::process::exit(130);
}
