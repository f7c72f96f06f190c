//! The message ledger: what was delivered to each component, from the host's
//! side of the broker, so the summary can prove every message ended handled
//! or dead-lettered.
//!
//! One broker subscription on `>` sees every publish (the drives' and the
//! guests') and every dead letter. A publish counts one delivery for each
//! component subscription whose pattern matches the subject; a dead letter
//! counts against its target. Direct sends between guests do not pass the
//! broker: components that can receive them (named in another component's
//! `send` allow-list) are shown but not checked.

use std::collections::BTreeMap;
use std::sync::Arc;

use airssys_rt::broker::{DeadLetterReason, MessageBroker};
use airssys_wasm::host::ComponentHost;
use airssys_wasm::SubjectPattern;
use parking_lot::Mutex;
use tokio::task::JoinHandle;

/// Capacity of the ledger's subscription: large, so that the observer never
/// makes the broker drop (and dead-letter) its copy.
const OBSERVER_CAPACITY: usize = 1 << 18;

/// Counts per component id.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Deliveries by topic (drives and guests publishing).
    pub topic: u64,
    /// Dead letters addressed to it, by reason label.
    pub dead: BTreeMap<String, u64>,
}

impl Entry {
    /// All dead letters addressed to it.
    pub fn dead_total(&self) -> u64 {
        self.dead.values().sum()
    }
}

/// The ledger's counts.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Per component id.
    pub components: BTreeMap<String, Entry>,
    /// Messages published by the host (the drives).
    pub host_publishes: u64,
    /// Messages published by guests.
    pub guest_publishes: u64,
    /// Mailbox deliveries of guest publishes.
    pub guest_deliveries: u64,
    /// Broker-level dead letters (a subscriber's queue full or closed).
    pub broker_dead: u64,
}

/// The running observer.
pub struct Ledger {
    tally: Arc<Mutex<Tally>>,
    task: JoinHandle<()>,
}

impl Ledger {
    /// Subscribes to `>` on the host's broker. `subscriptions` maps each
    /// component id to its subject patterns.
    ///
    /// # Errors
    /// The broker's error if it refuses the subscription.
    pub fn start(
        host: &ComponentHost,
        subscriptions: Vec<(String, Vec<SubjectPattern>)>,
    ) -> Result<Ledger, airssys_rt::broker::BrokerError> {
        let mut sub = host
            .broker()
            .subscribe_with_capacity(">", OBSERVER_CAPACITY)?;
        let tally = Arc::new(Mutex::new(Tally {
            components: subscriptions
                .iter()
                .map(|(id, _)| (id.clone(), Entry::default()))
                .collect(),
            ..Tally::default()
        }));
        let shared = Arc::clone(&tally);
        let task = tokio::spawn(async move {
            while let Some(msg) = sub.recv().await {
                let mut t = shared.lock();
                match &msg.dead_letter {
                    Some(DeadLetterReason::Undeliverable { target, reason }) => {
                        let entry = t.components.entry(target.to_string()).or_default();
                        *entry
                            .dead
                            .entry(reason_label(reason).to_owned())
                            .or_default() += 1;
                    }
                    Some(_) => t.broker_dead += 1,
                    None => {
                        let matched: Vec<&String> = subscriptions
                            .iter()
                            .flat_map(|(id, patterns)| {
                                patterns
                                    .iter()
                                    .filter(|p| p.matches(&msg.subject))
                                    .map(move |_| id)
                            })
                            .collect();
                        let n = matched.len() as u64;
                        for id in matched {
                            t.components.entry(id.clone()).or_default().topic += 1;
                        }
                        if msg.payload.sender.is_some() {
                            t.guest_publishes += 1;
                            t.guest_deliveries += n;
                        } else {
                            t.host_publishes += 1;
                        }
                    }
                }
            }
        });
        Ok(Ledger { tally, task })
    }

    /// A copy of the counts now.
    pub fn snapshot(&self) -> Tally {
        self.tally.lock().clone()
    }

    /// Stops observing.
    pub fn stop(self) -> Tally {
        self.task.abort();
        let tally = self.tally.lock().clone();
        tally
    }
}

/// Maps the host's dead-letter reason text to its metric label.
fn reason_label(reason: &str) -> &'static str {
    if reason.starts_with("component failed") {
        "component_failed"
    } else if reason.starts_with("rejected") {
        "rejected"
    } else if reason.starts_with("mailbox full") {
        "mailbox_full"
    } else if reason.starts_with("component stopped") {
        "component_stopped"
    } else {
        "other"
    }
}
