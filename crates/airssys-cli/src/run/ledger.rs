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

use airssys_rt::broker::{BrokerMessage, DeadLetterReason};
use airssys_wasm::host::ComponentHost;
use airssys_wasm::{SubjectPattern, TopicMessage};
use parking_lot::Mutex;
use tokio::sync::oneshot;
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
    /// Dead letters for components this host does not run (another host's,
    /// seen over NATS; counted by that host).
    pub remote_dead: u64,
}

/// The running observer.
pub struct Ledger {
    tally: Arc<Mutex<Tally>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("tally", &*self.tally.lock())
            .finish_non_exhaustive()
    }
}

/// Component ids with their subject patterns.
type Subscriptions = Vec<(String, Vec<SubjectPattern>)>;

impl Ledger {
    /// Subscribes to `>` on the host's broker. `subscriptions` maps each
    /// component id to its subject patterns.
    ///
    /// # Errors
    /// The broker's error if it refuses the subscription.
    pub fn start(
        host: &ComponentHost,
        subscriptions: Subscriptions,
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
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    msg = sub.recv() => match msg {
                        Some(msg) => record(&mut shared.lock(), &subscriptions, &msg),
                        None => return,
                    },
                    _ = &mut stopped => {
                        // Everything published before the stop is queued
                        // already (publishing never waits): count it all.
                        let mut t = shared.lock();
                        while let Some(msg) = sub.try_recv() {
                            record(&mut t, &subscriptions, &msg);
                        }
                        return;
                    }
                }
            }
        });
        Ok(Ledger { tally, stop, task })
    }

    /// A copy of the counts now.
    pub fn snapshot(&self) -> Tally {
        self.tally.lock().clone()
    }

    /// Stops observing, after counting every message published before this
    /// call (the dead letters of a shutdown that has returned included).
    pub async fn stop(self) -> Tally {
        // The task only ends on this signal or when the broker is gone;
        // either way it has counted all it will.
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::warn!(%error, "ledger task ended abnormally; its counts may be short");
        }
        let tally = self.tally.lock().clone();
        tally
    }
}

/// Counts one message the observer saw.
fn record(t: &mut Tally, subscriptions: &Subscriptions, msg: &BrokerMessage<TopicMessage>) {
    // Over NATS the observer sees the whole application: direct sends between
    // hosts (`component.<id>`) are not topic traffic, and the dead letters of
    // components another host runs are that host's to count.
    if msg
        .subject
        .starts_with(airssys_wasm::host::COMPONENT_SUBJECT_PREFIX)
        && msg.dead_letter.is_none()
    {
        return;
    }
    match &msg.dead_letter {
        Some(DeadLetterReason::Undeliverable { target, .. })
            if !t.components.contains_key(&**target) =>
        {
            t.remote_dead += 1;
        }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use airssys_wasm::{ComponentHost, EngineConfig, SubjectPattern};

    use super::Ledger;

    #[tokio::test(flavor = "current_thread")]
    async fn stop_counts_everything_published_before_it() {
        let host = ComponentHost::builder()
            .engine(EngineConfig::default().max_components(1))
            .build()
            .unwrap();
        let ledger = Ledger::start(
            &host,
            vec![(
                "watcher".into(),
                vec![SubjectPattern::new("jobs.>").unwrap()],
            )],
        )
        .unwrap();
        // On one thread the observer has not run yet: all of these are
        // still queued when stop is called.
        for _ in 0..1_000 {
            host.publish("jobs.new", &b"x"[..]).unwrap();
        }
        let tally = ledger.stop().await;
        assert_eq!(tally.host_publishes, 1_000);
        assert_eq!(tally.components["watcher"].topic, 1_000);
        host.shutdown(Duration::from_secs(5)).await;
    }
}
