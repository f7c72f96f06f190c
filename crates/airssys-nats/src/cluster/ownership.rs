//! Ownership: which host runs each unit, one key per unit in the owners
//! bucket, changed only by compare-and-set on the key's revision.
//!
//! An owner record names a host *and its session*. It is valid while that
//! host's record (same session) is live in the hosts bucket; once the
//! host's record has expired (or the host came back under a new session)
//! the unit is orphaned, and any host may take it with a compare-and-set
//! against the revision it read. Two hosts that race for one unit both
//! write against the same revision: the server keeps one write, the other
//! gets "wrong last revision" and runs nothing. Owner records do not expire
//! and are not renewed one by one: a host's single heartbeat keeps all of
//! its units, so the cost of ownership does not grow with their number.

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::jetstream::kv;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::ClusterInner;

/// Where a unit stands, as its owner record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UnitState {
    /// Its owner runs it.
    Running,
    /// Its owner is handing it to the host named in `to`.
    HandingOver,
    /// It failed on too many hosts in a row (the cluster's restart
    /// intensity): nobody runs it until an operator restarts it.
    Failed,
    /// Its last host let it go (it failed there, or the host left with no
    /// other host to hand it to): any host may claim it, carrying its
    /// failure count.
    Released,
    /// An operator stopped every component of it (`airssys ctl stop`):
    /// nobody runs it until an operator restarts one of them.
    Stopped,
}

/// The value of a unit's key in the owners bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OwnerRecord {
    /// The owning host's id.
    pub host: String,
    /// The owning host's session.
    pub session: String,
    /// Where the unit stands.
    pub state: UnitState,
    /// With [`UnitState::HandingOver`]: the host it goes to.
    #[serde(default)]
    pub to: Option<String>,
    /// Times in a row the unit failed on a host (its group gave up), the
    /// cluster's restart intensity counts these.
    #[serde(default)]
    pub failures: u32,
    /// Why it last failed, in words.
    #[serde(default)]
    pub last_failure: Option<String>,
    /// When the first of `failures` happened (milliseconds since the Unix
    /// epoch): the cluster's restart intensity counts failures within a
    /// window from there.
    #[serde(default)]
    pub failures_since_ms: Option<u64>,
    /// Components of the unit an operator stopped (`airssys ctl stop`):
    /// whichever host runs the unit does not start them until an operator
    /// restarts them. With every member here the unit is
    /// [`UnitState::Stopped`].
    #[serde(default)]
    pub stopped: Vec<String>,
}

impl OwnerRecord {
    /// A unit run by `host` in `session`.
    pub fn running(host: impl Into<String>, session: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            session: session.into(),
            state: UnitState::Running,
            to: None,
            failures: 0,
            last_failure: None,
            failures_since_ms: None,
            stopped: Vec::new(),
        }
    }
}

/// An owner record with the revision it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Owned {
    /// The record.
    pub record: OwnerRecord,
    /// Its revision: what a compare-and-set must name.
    pub revision: u64,
}

/// Unit → its owner, as last seen.
pub(crate) type OwnerView = HashMap<String, Owned>;

/// Follows the owners bucket into the view.
pub(crate) async fn watch_owners(inner: Arc<ClusterInner>, mut watch: kv::Watch) {
    loop {
        while let Some(entry) = watch.next().await {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) => {
                    tracing::warn!(%error, "the cluster's owners watch failed; watching again");
                    break;
                }
            };
            apply(&inner, &entry);
            inner.changed.notify_waiters();
        }
        if inner.leaving_done() {
            return;
        }
        // Again from each unit's latest record: whatever was written while
        // the watch was down is in it ([`apply`] skips what is older).
        watch = super::follow::rewatch(&inner.owners, "owners", inner.config.heartbeat).await;
    }
}

/// Records one entry of the owners bucket in the view, unless the view
/// already holds a newer revision of it (a write of this host's own,
/// noted when the server confirmed it).
pub(crate) fn apply(inner: &ClusterInner, entry: &kv::Entry) {
    let mut owners = inner.owners_view.write();
    if owners
        .get(&entry.key)
        .is_some_and(|o| o.revision > entry.revision)
    {
        return;
    }
    match entry.operation {
        kv::Operation::Put => match serde_json::from_slice::<OwnerRecord>(&entry.value) {
            Ok(record) => {
                owners.insert(
                    entry.key.clone(),
                    Owned {
                        record,
                        revision: entry.revision,
                    },
                );
            }
            Err(error) => {
                tracing::warn!(unit = %entry.key, %error, "unreadable owner record ignored");
            }
        },
        kv::Operation::Delete | kv::Operation::Purge => {
            owners.remove(&entry.key);
        }
    }
}
