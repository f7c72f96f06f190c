//! The message ledger: what was delivered to each component, from the host's
//! side of the broker, so the summary can prove every message ended handled
//! or dead-lettered.
//!
//! One broker subscription per distinct subject pattern of the components,
//! and one on the dead-letter subject, see every publish that reaches a
//! component (the drives' and the guests') and every dead letter; nothing
//! else. In particular the ledger never subscribes a component's own
//! subject (`component.<id>`): over NATS, a request to an id no host runs
//! must find no subscriber at all, so that the server answers "no
//! responders" at once. A message on pattern P counts one delivery for each
//! component subscribed with P, and counts as one publish on the first of
//! the patterns it matches; a dead letter counts against its target. Direct
//! sends between guests do not pass the broker: components that can
//! receive them (named in another component's `send` allow-list) are shown
//! but not checked.
//!
//! On a cluster host, where components come and go, a delivery or a dead
//! letter counts for a component only while it runs on this host.

use std::collections::BTreeMap;
use std::sync::Arc;

use airssys_rt::broker::{BrokerMessage, DeadLetterReason, Undelivered};
use airssys_wasm::host::ComponentHost;
use airssys_wasm::{SubjectPattern, TopicMessage};
use futures::{FutureExt, StreamExt};
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
    /// The latest dead letter of a component this host runs, for the live
    /// view.
    pub last_dead: Option<LastDeadLetter>,
}

/// A dead letter as the live view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastDeadLetter {
    /// Which one it was, counting from 1 (a new one has a new number).
    pub number: u64,
    /// The component it was for.
    pub target: String,
    /// The reason's label (`rejected`, `handler_failed`, ...).
    pub label: &'static str,
    /// Its payload, decoded where the multicodec prefix says how
    /// ([`airssys_wasm::codec::display`]).
    pub payload: String,
}

/// How much of a dead letter's payload the live view shows.
const DEAD_PAYLOAD_SHOWN: usize = 80;

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
    /// Subscribes each distinct pattern of `subscriptions` (component id →
    /// its subject patterns) and the dead-letter subject on the host's
    /// broker. With `dynamic`, counts only for components running on
    /// `host` at the time (a cluster host).
    ///
    /// # Errors
    /// The broker's error if it refuses a subscription.
    pub fn start(
        host: &ComponentHost,
        subscriptions: Subscriptions,
        dynamic: bool,
    ) -> Result<Ledger, airssys_rt::broker::BrokerError> {
        let mut patterns: Vec<SubjectPattern> = Vec::new();
        for (_, ps) in &subscriptions {
            for p in ps {
                if !patterns.iter().any(|q| q.as_str() == p.as_str()) {
                    patterns.push(p.clone());
                }
            }
        }
        let broker = host.broker();
        let mut subs = Vec::with_capacity(patterns.len() + 1);
        for p in &patterns {
            subs.push(broker.subscribe_with_capacity(p.as_str(), OBSERVER_CAPACITY)?);
        }
        subs.push(broker.subscribe_with_capacity(broker.dead_letter_subject(), OBSERVER_CAPACITY)?);
        let observed = Observed {
            subscriptions,
            patterns,
            host: dynamic.then(|| host.clone()),
        };
        let tally = Arc::new(Mutex::new(Tally {
            components: observed
                .subscriptions
                .iter()
                .map(|(id, _)| (id.clone(), Entry::default()))
                .collect(),
            ..Tally::default()
        }));
        let shared = Arc::clone(&tally);
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut merged =
                futures::stream::select_all(subs.into_iter().enumerate().map(|(i, sub)| {
                    futures::stream::unfold(sub, move |mut sub| async move {
                        sub.recv().await.map(|m| ((i, m), sub))
                    })
                    .boxed()
                }));
            loop {
                tokio::select! {
                    biased;
                    msg = merged.next() => match msg {
                        Some((i, msg)) => record(&mut shared.lock(), &observed, i, &msg),
                        None => return,
                    },
                    _ = &mut stopped => {
                        // Everything published before the stop is queued
                        // already (publishing never waits): count it all.
                        let mut t = shared.lock();
                        while let Some(Some((i, msg))) = merged.next().now_or_never() {
                            record(&mut t, &observed, i, &msg);
                        }
                        return;
                    }
                }
            }
        });
        Ok(Ledger { tally, stop, task })
    }

    /// The latest dead letter of a component this host runs, if any (what
    /// the live view shows; cheaper than a [`snapshot`](Self::snapshot)).
    pub fn last_dead_letter(&self) -> Option<LastDeadLetter> {
        self.tally.lock().last_dead.clone()
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

/// What the observer counts against.
struct Observed {
    subscriptions: Subscriptions,
    /// The distinct patterns, in the order of the ledger's subscriptions
    /// (the dead-letter subscription comes after them).
    patterns: Vec<SubjectPattern>,
    /// On a cluster host: count only for components running here.
    host: Option<ComponentHost>,
}

impl Observed {
    fn runs(&self, t: &Tally, id: &str) -> bool {
        match &self.host {
            Some(host) => host.registry().contains(id),
            None => t.components.contains_key(id),
        }
    }
}

/// Counts one message the observer saw on its subscription `i`.
fn record(t: &mut Tally, o: &Observed, i: usize, msg: &BrokerMessage<TopicMessage>) {
    let Some(pattern) = o.patterns.get(i) else {
        // The dead-letter subscription.
        match &msg.dead_letter {
            Some(Undelivered {
                reason: DeadLetterReason::SubscriberFull { .. } | DeadLetterReason::SubscriberClosed,
                ..
            }) => t.broker_dead += 1,
            Some(Undelivered { target, .. }) if !o.runs(t, target) => {
                t.remote_dead += 1;
            }
            Some(Undelivered { target, reason, .. }) => {
                let label = reason.label();
                let entry = t.components.entry(target.to_string()).or_default();
                *entry.dead.entry(label.to_owned()).or_default() += 1;
                t.last_dead = Some(LastDeadLetter {
                    number: t.last_dead.as_ref().map_or(1, |d| d.number + 1),
                    target: target.to_string(),
                    label,
                    payload: airssys_wasm::codec::display(&msg.payload.payload, DEAD_PAYLOAD_SHOWN),
                });
            }
            None => {}
        }
        return;
    };
    // A pattern as wide as `>` also sees dead letters and component
    // subjects: those are not topic traffic.
    if msg.dead_letter.is_some()
        || msg
            .subject
            .starts_with(airssys_wasm::host::COMPONENT_SUBJECT_PREFIX)
    {
        return;
    }
    let mut n = 0u64;
    for (id, patterns) in &o.subscriptions {
        let times = patterns
            .iter()
            .filter(|p| p.as_str() == pattern.as_str())
            .count() as u64;
        if times > 0 && (o.host.is_none() || o.runs(t, id)) {
            t.components.entry(id.clone()).or_default().topic += times;
            n += times;
        }
    }
    let first = o.patterns.iter().position(|p| p.matches(&msg.subject));
    if first == Some(i) {
        if msg.payload.sender.is_some() {
            t.guest_publishes += 1;
        } else {
            t.host_publishes += 1;
        }
    }
    if msg.payload.sender.is_some() {
        t.guest_deliveries += n;
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
            false,
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

    /// Refuses every message with code 1.
    const REFUSER: &str = r#"(module
      (memory (export "memory") 1)
      (func (export "alloc") (param i32) (result i32) i32.const 1024)
      (func (export "handle-message") (param i32 i32) (result i32) i32.const 1))"#;

    #[tokio::test]
    async fn the_latest_dead_letter_is_kept_with_its_payload_decoded() {
        let host = ComponentHost::builder()
            .engine(EngineConfig::default().max_components(2))
            .dead_letter_subject("_airssys.deadletter")
            .build()
            .unwrap();
        host.spawn(airssys_wasm::host::ComponentSpec::new(
            "refuser",
            REFUSER.as_bytes(),
        ))
        .await
        .unwrap();
        // Every component the run spawned is listed, with its patterns.
        let ledger = Ledger::start(&host, vec![("refuser".into(), Vec::new())], false).unwrap();
        assert_eq!(ledger.last_dead_letter(), None);
        let wait_for = |n: u64| {
            let ledger = &ledger;
            async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                loop {
                    match ledger.last_dead_letter() {
                        Some(d) if d.number == n => return d,
                        _ if tokio::time::Instant::now() > deadline => {
                            panic!("no dead letter {n} within 10 s")
                        }
                        _ => tokio::time::sleep(Duration::from_millis(2)).await,
                    }
                }
            }
        };
        let json = airssys_wasm::codec::encode_json(&serde_json::json!({"room": "porch"})).unwrap();
        host.send("refuser", json).await.unwrap();
        let first = wait_for(1).await;
        assert_eq!(
            (first.target.as_str(), first.label, first.payload.as_str()),
            ("refuser", "rejected", r#"json {"room":"porch"}"#)
        );
        host.send("refuser", &b"plain"[..]).await.unwrap();
        assert_eq!(wait_for(2).await.payload, "\"plain\"");
        ledger.stop().await;
        host.shutdown(Duration::from_secs(5)).await;
    }
}
