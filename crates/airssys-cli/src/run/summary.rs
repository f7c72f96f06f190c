//! The live status view and the final summary of `airssys run`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use airssys_wasm::host::{ComponentInfo, DeadLetterStats, HostShutdownReport};

use super::drive::{Drive, DriveStats};
use super::ledger::{LastDeadLetter, Tally};
use super::{write_lines, EndReason};
use crate::manifest::{DriveTarget, Manifest};

/// The status view: a table redrawn in place on a terminal, one plain log
/// line per second otherwise.
pub(crate) struct View {
    tty: bool,
    drawn: usize,
    last: Option<(Duration, u64)>,
    rate: f64,
    /// The number of the last dead letter printed (plain output prints
    /// each new latest one once).
    dead_shown: u64,
}

impl View {
    pub(crate) fn new(tty: bool) -> Self {
        View {
            tty,
            drawn: 0,
            last: None,
            rate: 0.0,
            dead_shown: 0,
        }
    }

    pub(crate) fn show(
        &mut self,
        elapsed: Duration,
        list: &[ComponentInfo],
        dead: &DeadLetterStats,
        drives: &[Drive],
        last_dead: Option<&LastDeadLetter>,
        (headings, member_of): (&[(String, String)], &HashMap<String, String>),
    ) {
        let last_dead_line = last_dead.map(|d| {
            format!(
                "last dead letter: {} ({}): {}",
                d.target, d.label, d.payload
            )
        });
        let handled: u64 = list.iter().map(|c| c.handled).sum();
        let restarts: u64 = list.iter().map(|c| c.restarts).sum();
        let queued: usize = list.iter().map(|c| c.mailbox_len).sum();
        let ready = list.iter().filter(|c| c.state.label() == "ready").count();
        if let Some((t, h)) = self.last {
            let dt = (elapsed - t).as_secs_f64();
            if dt >= 0.9 {
                self.rate = (handled - h) as f64 / dt;
                self.last = Some((elapsed, handled));
            }
        } else {
            self.last = Some((elapsed, handled));
        }
        let secs = elapsed.as_secs_f64();
        if !self.tty {
            write_lines(&[format!(
                "[{secs:6.1}s] components {}/{} ready | handled {handled} ({:.0}/s) | dead letters {} | restarts {restarts} | queued {queued}",
                ready,
                list.len(),
                self.rate,
                dead.total()
            )]);
            if let (Some(d), Some(line)) = (last_dead, &last_dead_line) {
                if d.number != self.dead_shown {
                    self.dead_shown = d.number;
                    write_lines(std::slice::from_ref(line));
                }
            }
            return;
        }
        let mut lines = vec![
            format!(
                "airssys run  {secs:6.1}s   handled {handled} ({:.0}/s)   dead letters {}   restarts {restarts}   queued {queued}",
                self.rate,
                dead.total()
            ),
            format!(
                "  {:<20} {:<10} {:>10} {:>8} {:>9} {:>8}",
                "component", "state", "handled", "failed", "restarts", "mailbox"
            ),
        ];
        let row = |c: &ComponentInfo| {
            let mut line = format!(
                "{:<20} {:<10} {:>10} {:>8} {:>9} {:>8}",
                c.id.as_str(),
                c.state.label(),
                c.handled,
                c.failed,
                c.restarts,
                c.mailbox_len
            );
            if let Some(pending) = c.restart {
                line.push_str(&format!("  ({pending})"));
            }
            line
        };
        // By supervision group, with each group's strategy and restart
        // intensity used of allowed.
        lines.extend(crate::tree::grouped_rows(
            list,
            |c| c.id.as_str(),
            headings,
            member_of,
            row,
        ));
        let d: Vec<String> = drives
            .iter()
            .map(|d| format!("{} {}", d.label(), d.stats.accepted.load(Ordering::Relaxed)))
            .collect();
        if !d.is_empty() {
            lines.push(format!("drives: {}", d.join(" | ")));
        }
        lines.extend(last_dead_line);
        // Move up over the previous frame and clear it.
        if self.drawn > 0 {
            print!("\x1b[{}A\x1b[J", self.drawn);
        }
        self.drawn = lines.len();
        write_lines(&lines);
    }

    pub(crate) fn finish(&mut self) {
        self.drawn = 0;
    }
}

/// One component's line in the summary.
#[derive(Debug, Clone)]
pub struct ComponentLedger {
    /// Its id and counters when the run ended.
    pub info: ComponentInfo,
    /// Messages delivered to it that the run could observe (topics and
    /// drives); `None` when other components may also send to it directly.
    pub delivered: Option<u64>,
    /// Dead letters addressed to it.
    pub dead: u64,
}

/// What happened during a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// How long it ran.
    pub elapsed: Duration,
    /// Why it ended.
    pub end: EndReason,
    /// Per component.
    pub components: Vec<ComponentLedger>,
    /// Dead letters by reason (the host's counts).
    pub dead_letters: DeadLetterStats,
    /// Per drive: label, accepted, deliveries, refused.
    pub drives: Vec<(String, u64, u64, u64)>,
    /// Messages the guests published, and their deliveries.
    pub guest_publishes: (u64, u64),
    /// Components the shutdown had to abort.
    pub aborted: Vec<String>,
    /// Sends and requests, and publishes, that came in through the
    /// control API (when it was served).
    pub control: Option<(u64, u64)>,
    /// Whether a mismatch fails the run (exit code 2): not on NATS, where
    /// other hosts and plain clients reach components on their subjects
    /// past this host's ledger.
    pub enforced: bool,
}

impl Summary {
    pub(crate) fn new(
        manifest: &Manifest,
        elapsed: Duration,
        end: EndReason,
        list: Vec<ComponentInfo>,
        report: HostShutdownReport,
        tally: Tally,
        drives: Vec<(String, Arc<DriveStats>)>,
    ) -> Summary {
        let direct: HashSet<&str> = manifest
            .components
            .iter()
            .flat_map(|c| c.send.iter().map(String::as_str))
            .collect();
        let mut from_drives: BTreeMap<String, u64> = BTreeMap::new();
        for (def, (_, stats)) in manifest.drives.iter().zip(&drives) {
            let targets = match &def.target {
                DriveTarget::Send(t) | DriveTarget::Request(t) => t,
                DriveTarget::Publish(_) => continue,
            };
            for (t, n) in targets.iter().zip(stats.per_target.iter()) {
                *from_drives.entry(t.clone()).or_default() += n.load(Ordering::Relaxed);
            }
        }
        let components = list
            .into_iter()
            .map(|info| {
                let id = info.id.as_str().to_owned();
                let entry = tally.components.get(&id).cloned().unwrap_or_default();
                let delivered = (!direct.contains(id.as_str()))
                    .then(|| entry.topic + from_drives.get(&id).copied().unwrap_or(0));
                ComponentLedger {
                    info,
                    delivered,
                    dead: entry.dead_total(),
                }
            })
            .collect();
        Summary {
            elapsed,
            end,
            components,
            dead_letters: report.dead_letters,
            drives: drives
                .iter()
                .map(|(label, s)| {
                    (
                        label.clone(),
                        s.accepted.load(Ordering::Relaxed),
                        s.deliveries.load(Ordering::Relaxed),
                        s.refused.load(Ordering::Relaxed),
                    )
                })
                .collect(),
            guest_publishes: (tally.guest_publishes, tally.guest_deliveries),
            aborted: report.aborted,
            control: None,
            enforced: true,
        }
    }

    /// Adds what came in through the control API to the deliveries it
    /// checks, like drive traffic.
    pub(crate) fn control(mut self, traffic: &crate::control::ControlTraffic) -> Summary {
        let per_target = traffic.per_target();
        for c in &mut self.components {
            if let (Some(delivered), Some(n)) =
                (c.delivered.as_mut(), per_target.get(c.info.id.as_str()))
            {
                *delivered += n;
            }
        }
        self.control = Some((per_target.values().sum(), traffic.publishes()));
        self
    }

    /// Prints the check but does not fail the run on a mismatch (a host
    /// on NATS: see [`enforced`](Self::enforced)).
    pub(crate) fn unenforced(mut self) -> Summary {
        self.enforced = false;
        self
    }

    /// Leaves out of the check the components that take durable messages
    /// (a cluster host's, durable components and durable topics'
    /// subscribers): JetStream keeps each of those until it is handled, so
    /// the stream is their ledger, not this host's broker.
    pub(crate) fn durable(mut self, manifest: &Manifest) -> Summary {
        let topics = manifest.durable_topics();
        let takes_durable: HashSet<String> = manifest
            .components
            .iter()
            .flat_map(|def| {
                def.instance_ids()
                    .into_iter()
                    .filter(|id| !crate::cluster::durable::mailboxes(def, id, &topics).is_empty())
            })
            .collect();
        for c in &mut self.components {
            if takes_durable.contains(c.info.id.as_str()) {
                c.delivered = None;
            }
        }
        self
    }

    /// Messages handled by every component.
    pub fn handled(&self) -> u64 {
        self.components.iter().map(|c| c.info.handled).sum()
    }

    /// Restarts of every component.
    pub fn restarts(&self) -> u64 {
        self.components.iter().map(|c| c.info.restarts).sum()
    }

    /// Over the components whose deliveries were observable:
    /// (handled, dead-lettered, delivered).
    pub fn accounted(&self) -> (u64, u64, u64) {
        self.components
            .iter()
            .filter_map(|c| c.delivered.map(|d| (c.info.handled, c.dead, d)))
            .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
    }

    /// `true` when every observable delivery ended handled or dead-lettered.
    pub fn balanced(&self) -> bool {
        let (h, d, e) = self.accounted();
        h + d == e
    }

    /// The process exit code: 1 when the root supervisor gave up, 2 when
    /// the ledger does not add up (a message unaccounted for), 0 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self.end {
            EndReason::RootFailed(_) => 1,
            _ if self.enforced && !self.balanced() => 2,
            _ => 0,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== summary ==")?;
        let end = match &self.end {
            EndReason::Duration => "duration elapsed".to_owned(),
            EndReason::Interrupted => "interrupted".to_owned(),
            EndReason::Terminated => "terminated (SIGTERM)".to_owned(),
            EndReason::DrivesDone => "drives done".to_owned(),
            EndReason::RootFailed(why) => format!("ROOT SUPERVISOR GAVE UP: {why}"),
        };
        writeln!(f, "ran {:.1}s, ended: {end}", self.elapsed.as_secs_f64())?;
        writeln!(
            f,
            "{:<20} {:>10} {:>8} {:>6} {:>9} {:>10}",
            "component", "delivered", "handled", "dead", "restarts", "balance"
        )?;
        for c in &self.components {
            let (delivered, balance) = match c.delivered {
                Some(d) if c.info.handled + c.dead == d => (d.to_string(), "ok".to_owned()),
                Some(d) => (
                    d.to_string(),
                    format!("off by {}", d as i64 - (c.info.handled + c.dead) as i64),
                ),
                None => ("direct".to_owned(), "-".to_owned()),
            };
            writeln!(
                f,
                "{:<20} {:>10} {:>8} {:>6} {:>9} {:>10}",
                c.info.id.as_str(),
                delivered,
                c.info.handled,
                c.dead,
                c.info.restarts,
                balance
            )?;
        }
        for (label, accepted, deliveries, refused) in &self.drives {
            writeln!(
                f,
                "drive {label}: injected {accepted} ({deliveries} deliveries, {refused} refused)"
            )?;
        }
        if let Some((messages, publishes)) = self.control {
            writeln!(
                f,
                "control API: {messages} sends and requests, {publishes} publishes"
            )?;
        }
        let injected: u64 = self.drives.iter().map(|d| d.1).sum();
        let injected_deliveries: u64 = self.drives.iter().map(|d| d.2).sum();
        writeln!(
            f,
            "injected: {injected} messages, {injected_deliveries} deliveries; published by components: {} messages, {} deliveries",
            self.guest_publishes.0, self.guest_publishes.1
        )?;
        writeln!(f, "messages handled: {}", self.handled())?;
        let reasons: Vec<String> = self
            .dead_letters
            .by_reason()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        writeln!(
            f,
            "dead letters: {} ({})",
            self.dead_letters.total(),
            reasons.join(" ")
        )?;
        writeln!(f, "restarts: {}", self.restarts())?;
        if !self.aborted.is_empty() {
            writeln!(f, "aborted at shutdown: {}", self.aborted.join(", "))?;
        }
        let (h, d, e) = self.accounted();
        let direct: Vec<&str> = self
            .components
            .iter()
            .filter(|c| c.delivered.is_none())
            .map(|c| c.info.id.as_str())
            .collect();
        write!(
            f,
            "accounted: handled {h} + dead-lettered {d} = {} of {e} delivered: {}",
            h + d,
            if h + d == e { "ok" } else { "MISMATCH" }
        )?;
        if !direct.is_empty() {
            write!(
                f,
                "\n(not checked, as other components may send to them directly, or JetStream keeps their durable messages until handled: {})",
                direct.join(", ")
            )?;
        }
        Ok(())
    }
}
