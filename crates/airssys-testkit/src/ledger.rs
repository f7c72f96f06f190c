//! [`Ledger`]: proof that every message reaching a component ended
//! handled, failed (and dead-lettered) or dead-lettered undelivered.

use std::collections::HashMap;
use std::fmt;

use crate::host::TestHost;
use crate::probe::PROBE_SUBJECT;
use crate::record::Event;

/// One component's line of the [`Ledger`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LedgerRow {
    /// The component.
    pub id: String,
    /// Messages that reached its mailbox: the test's sends, requests and
    /// invokes, plus every recorded publish
    /// matching one of its subscriptions. `None` when another component may
    /// send to it directly (not observable, so not checked).
    pub delivered: Option<u64>,
    /// Handled successfully.
    pub handled: u64,
    /// Failed (trap, error code); a failed message is also dead-lettered,
    /// except a failed invoke. Health checks and injected faults are
    /// control, not messages: counted on neither side.
    pub failed: u64,
    /// Dead-lettered without being handled (mailbox full, component stopped).
    pub undelivered: u64,
    /// Still in its mailbox.
    pub mailbox_len: usize,
}

impl LedgerRow {
    /// `true` when everything delivered is accounted for and nothing is
    /// queued, or when the row is not checked.
    pub fn is_balanced(&self) -> bool {
        match self.delivered {
            None => true,
            Some(delivered) => {
                self.mailbox_len == 0 && delivered == self.handled + self.failed + self.undelivered
            }
        }
    }
}

/// Per component: what was delivered, and how each message ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ledger {
    /// One row per component the test spawned and has not stopped, by id.
    pub rows: Vec<LedgerRow>,
}

impl Ledger {
    /// `true` when every checked row balances.
    pub fn is_balanced(&self) -> bool {
        self.rows.iter().all(LedgerRow::is_balanced)
    }

    /// The row of `id`.
    pub fn row(&self, id: &str) -> Option<&LedgerRow> {
        self.rows.iter().find(|r| r.id == id)
    }
}

impl fmt::Display for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "  {:<20} {:>9} {:>8} {:>7} {:>11} {:>7}  balance",
            "component", "delivered", "handled", "failed", "undelivered", "queued"
        )?;
        for r in &self.rows {
            let delivered = r
                .delivered
                .map_or_else(|| "direct".to_owned(), |d| d.to_string());
            let balance = match (r.delivered, r.is_balanced()) {
                (None, _) => "-",
                (Some(_), true) => "ok",
                (Some(_), false) => "MISSING",
            };
            write!(
                f,
                "\n  {:<20} {:>9} {:>8} {:>7} {:>11} {:>7}  {balance}",
                r.id, delivered, r.handled, r.failed, r.undelivered, r.mailbox_len
            )?;
        }
        Ok(())
    }
}

impl TestHost {
    /// The ledger now (see
    /// [`expect_ledger_balanced`](Self::expect_ledger_balanced), which waits
    /// for it to balance).
    pub fn ledger(&self) -> Ledger {
        let spawned = self.spawned.lock().clone();
        let inputs = self.inputs.lock().clone();
        let mut topic: HashMap<&str, u64> = HashMap::new();
        let mut undelivered: HashMap<String, u64> = HashMap::new();
        self.log.scan(|index, event| {
            let subject = match event {
                Event::Published(p) => p.subject.as_str(),
                Event::Sent(_) => PROBE_SUBJECT,
                Event::DeadLetter(d) => {
                    if matches!(d.label, "mailbox_full" | "actor_stopped") {
                        *undelivered.entry(d.target.clone()).or_default() += 1;
                    }
                    return;
                }
                _ => return,
            };
            for s in spawned.iter().filter(|s| index >= s.since) {
                let n = s.patterns.iter().filter(|p| p.matches(subject)).count() as u64;
                if n > 0 {
                    *topic.entry(s.id.as_str()).or_default() += n;
                }
            }
        });
        let list = self.host.list();
        let rows = spawned
            .iter()
            .filter_map(|s| {
                let info = list.iter().find(|c| c.id.as_str() == s.id)?;
                let direct = spawned.iter().any(|o| o.permissions.may_send(&s.id));
                Some(LedgerRow {
                    id: s.id.clone(),
                    delivered: (!direct).then(|| {
                        inputs.get(&s.id).copied().unwrap_or(0)
                            + topic.get(s.id.as_str()).copied().unwrap_or(0)
                    }),
                    handled: info.handled,
                    failed: info.failed,
                    undelivered: undelivered.get(&s.id).copied().unwrap_or(0),
                    mailbox_len: info.mailbox_len,
                })
            })
            .collect();
        Ledger { rows }
    }
}
