//! The run while it runs: the status view refreshed, until the duration,
//! Ctrl-C, SIGTERM, the drives being done, or the root supervisor giving up.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use airssys_rt::supervisor::{FailureCause, SupervisorExit};

use super::{summary, EndReason, RunOptions, Running};
use crate::tree::GroupNode;

/// How often the broker's counters are copied into the metrics: 1 s.
const METRICS_EVERY: Duration = Duration::from_secs(1);

impl Running {
    /// Shows the status (unless `quiet`) until the run ends, and says why
    /// it did. `tree` and `member_of` group the live view by supervision
    /// group.
    pub(super) async fn watch(
        &self,
        opts: &RunOptions,
        tree: &[GroupNode],
        member_of: &HashMap<String, String>,
    ) -> EndReason {
        let root = self.host.supervisor().clone();
        let tty = std::io::stdout().is_terminal() && !opts.quiet;
        let mut view = summary::View::new(tty);
        let mut poll = tokio::time::interval(if tty {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(1)
        });
        let deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
        // Measured on the ticks' own schedule, so that the broker's
        // metrics are recorded on every second tick-for-tick (a wall-clock
        // measure a few microseconds short of 1 s skipped every other one).
        let mut last_metrics: Option<tokio::time::Instant> = None;
        let end = loop {
            tokio::select! {
                at = poll.tick() => {
                    if last_metrics.is_none_or(|last| at - last >= METRICS_EVERY) {
                        if let Some(nats) = &self.nats {
                            crate::telemetry::record_broker(nats);
                        }
                        last_metrics = Some(at);
                    }
                    if self.refresh(opts, &mut view, tty, (tree, member_of)).await {
                        break EndReason::DrivesDone;
                    }
                }
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => break EndReason::Duration,
                _ = tokio::signal::ctrl_c() => break EndReason::Interrupted,
                _ = super::terminated() => break EndReason::Terminated,
                exit = root.wait() => {
                    break match exit {
                        SupervisorExit::Failed(why) => EndReason::RootFailed(why),
                        other => EndReason::RootFailed(FailureCause::Other(format!("{other:?}"))),
                    };
                }
            }
        };
        view.finish();
        end
    }

    /// One refresh of the view; `true` when `--until-drives-done` and every
    /// drive is done with the mailboxes empty.
    async fn refresh(
        &self,
        opts: &RunOptions,
        view: &mut summary::View,
        tty: bool,
        (tree, member_of): (&[GroupNode], &HashMap<String, String>),
    ) -> bool {
        let list = self.host.list();
        if !opts.quiet {
            let last_dead = self.ledger.last_dead_letter();
            let mut headings = Vec::new();
            if tty {
                for node in tree {
                    headings.push((node.name.clone(), crate::tree::heading(node).await));
                }
            }
            view.show(
                self.started.elapsed(),
                &list,
                &self.host.dead_letter_stats(),
                &self.drives,
                last_dead.as_ref(),
                (&headings, member_of),
            );
        }
        opts.until_drives_done
            && !self.drives.is_empty()
            && self.drives.iter().all(|d| d.is_finished())
            && list.iter().all(|c| c.mailbox_len == 0)
    }
}
