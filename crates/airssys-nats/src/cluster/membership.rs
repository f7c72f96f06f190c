//! Membership: each host's record in the hosts bucket, kept alive by its
//! heartbeat, and every host's view of the others.
//!
//! A host's record is one key (its id) in a key-value bucket whose entries
//! expire `host_ttl` after their last write. The host rewrites it every
//! `heartbeat`; each write the server confirms extends the host's
//! [`Lease`] to `lease` after the moment the write was *sent*. Because
//! `lease < host_ttl`, the lease has always ended on the host before its
//! record can have expired on the server: by the time another host sees the
//! record gone (and may take over its components), this one has stopped
//! acting on them.
//!
//! A host whose lease lapsed (it was cut off or paused) comes back under a
//! new *session*: ownership records naming its old session are stale, and
//! it claims what it runs again like any other host. Its lease is renewed
//! again only once its owner has accepted the new session (stopped what
//! it ran under the old one, see [`Cluster::accept_session`](super::Cluster::accept_session)).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::ClusterInner;

/// What a host announces about itself: the value of its key in the hosts
/// bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostRecord {
    /// The host's id, unique in the application.
    pub id: String,
    /// This run of the host (changes when it rejoins after losing its lease).
    pub session: String,
    /// Most components it will run.
    pub capacity: u32,
    /// Labels a component may require (`gpu`, `zone=eu`).
    #[serde(default)]
    pub labels: Vec<String>,
    /// The airssys version it runs.
    pub version: String,
    /// Where its control API listens, if it serves one.
    #[serde(default)]
    pub control: Option<String>,
    /// Components it runs now.
    #[serde(default)]
    pub components: u32,
    /// It is leaving (handing its components over): place nothing new on it.
    #[serde(default)]
    pub leaving: bool,
    /// It serves requests from other hosts (it can take a hand-over).
    #[serde(default)]
    pub ready: bool,
}

impl HostRecord {
    /// A record with no labels, no control address, no components.
    pub fn new(
        id: impl Into<String>,
        session: impl Into<String>,
        capacity: u32,
        version: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            session: session.into(),
            capacity,
            labels: Vec::new(),
            version: version.into(),
            control: None,
            components: 0,
            leaving: false,
            ready: false,
        }
    }
}

/// One host as this host last saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) record: HostRecord,
    pub(crate) revision: u64,
    pub(crate) at: Instant,
}

/// Id → the last record seen of each live host.
pub(crate) type HostView = HashMap<String, Seen>;

/// A fresh session id.
pub(crate) fn new_session() -> String {
    nuid::next().to_string()
}

/// Rewrites this host's record every `heartbeat` and renews the lease on
/// each confirmed write. Ends when the cluster is left.
pub(crate) async fn heartbeat(inner: Arc<ClusterInner>) {
    let mut tick = tokio::time::interval(inner.config.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if inner.leaving_done() {
            return;
        }
        // A lapsed lease: whatever this host owned may be someone else's by
        // now. It comes back under a new session, once: until that session
        // is accepted and renewed, the lease has not held under it, and a
        // new session on every beat would never be renewed at all.
        if !inner.lease.holds() && inner.lease.remaining().is_some() {
            let mut me = inner.me.write();
            if me.session == *inner.accepted_session.read()
                && me.session == *inner.leased_session.read()
            {
                let old = std::mem::replace(&mut me.session, new_session());
                tracing::warn!(host = %me.id, old_session = %old, session = %me.session,
                    "cluster lease lapsed: this host stopped acting on its components and rejoins under a new session");
            }
        }
        let record = inner.me.read().clone();
        let Ok(value) = serde_json::to_vec(&record) else {
            continue;
        };
        let sent = Instant::now();
        match tokio::time::timeout(
            inner.config.lease,
            inner.hosts.put(&record.id, value.into()),
        )
        .await
        {
            Ok(Ok(revision)) => {
                inner.note_host(record.clone(), revision);
                if *inner.accepted_session.read() == record.session {
                    inner.lease.renew_until(sent + inner.config.lease);
                    inner.leased_session.write().clone_from(&record.session);
                    inner
                        .renewals
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Ok(Err(error)) => {
                tracing::warn!(host = %record.id, %error, "cluster heartbeat not stored");
            }
            Err(_) => {
                tracing::warn!(host = %record.id, "cluster heartbeat not confirmed in time");
            }
        }
    }
}

/// Follows the hosts bucket from `watch` (made where the first read of the
/// bucket ended): new and updated records join the view, deleted ones leave
/// it. Records that expire make no event: [`sweep`] finds them. A watch that
/// fails is made again from each host's latest record, so nothing written
/// while it was down is missed.
pub(crate) async fn watch_hosts(inner: Arc<ClusterInner>, mut watch: kv::Watch) {
    loop {
        while let Some(entry) = watch.next().await {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    tracing::warn!(%error, "the cluster's hosts watch failed; watching again");
                    break;
                }
            };
            // A heartbeat that changes nothing wakes nobody: whoever acts
            // on the view looks again at least once a heartbeat anyway.
            if apply_host(&inner, &entry) {
                inner.changed.notify_waiters();
            }
        }
        if inner.leaving_done() {
            return;
        }
        watch = super::follow::rewatch(&inner.hosts, "hosts", inner.config.heartbeat).await;
    }
}

/// Applies one entry of the hosts bucket to the view; whether the view
/// changed beyond a heartbeat's rewrite.
pub(crate) fn apply_host(inner: &ClusterInner, entry: &kv::Entry) -> bool {
    match entry.operation {
        kv::Operation::Put => match serde_json::from_slice::<HostRecord>(&entry.value) {
            Ok(record) => inner.note_host(record, entry.revision),
            Err(error) => {
                tracing::warn!(key = %entry.key, %error, "unreadable host record ignored");
                false
            }
        },
        kv::Operation::Delete | kv::Operation::Purge => {
            let gone = inner.view.write().remove(&entry.key).is_some();
            if gone {
                tracing::info!(host = %entry.key, "host left the cluster");
            }
            gone
        }
    }
}

/// Every `heartbeat`, asks the server about each host not heard from for
/// more than 1.5 heartbeats: a record that is gone has expired, and that
/// host is dead to this one.
pub(crate) async fn sweep(inner: Arc<ClusterInner>) {
    let mut tick = tokio::time::interval(inner.config.heartbeat / 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let late = inner.config.heartbeat + inner.config.heartbeat / 2;
    loop {
        tick.tick().await;
        if inner.leaving_done() {
            return;
        }
        let suspects: Vec<(String, u64)> = inner
            .view
            .read()
            .values()
            .filter(|s| s.at.elapsed() > late)
            .map(|s| (s.record.id.clone(), s.revision))
            .collect();
        for (id, revision) in suspects {
            let asked = Instant::now();
            match inner.hosts.entry(id.clone()).await {
                Ok(Some(entry)) if entry.operation == kv::Operation::Put => {
                    // Still there: not expired yet (or rewritten meanwhile).
                    if entry.revision != revision {
                        if let Ok(record) = serde_json::from_slice::<HostRecord>(&entry.value) {
                            inner.note_host(record, entry.revision);
                        }
                    }
                }
                Ok(_) => {
                    let gone = {
                        let mut view = inner.view.write();
                        match view.get(&id) {
                            // Not rewritten since it was asked about.
                            Some(s) if s.revision == revision && s.at < asked => {
                                view.remove(&id).is_some()
                            }
                            _ => false,
                        }
                    };
                    if gone {
                        tracing::warn!(host = %id, "host's record expired: it is dead to the cluster");
                        inner.changed.notify_waiters();
                    }
                }
                Err(error) => {
                    tracing::debug!(host = %id, %error, "cannot ask about a late host");
                }
            }
        }
    }
}

/// How long a record lives past its last write, as the bucket is
/// configured; `None` when it has no such limit (not a hosts bucket).
pub(crate) fn bucket_ttl(config: &async_nats::jetstream::stream::Config) -> Option<Duration> {
    (!config.max_age.is_zero()).then_some(config.max_age)
}
