//! Operating a cluster from any of its hosts: the hosts, every component
//! and where it runs, and stop/restart of a component wherever it runs.
//!
//! Stop in a cluster is for good, cluster-wide: the component is written
//! into its unit's owner record ([`OwnerRecord::stopped`]), so no host
//! starts it again (not its owner, not a host that takes the unit over or
//! claims it later) until an operator restarts it. A unit whose every
//! component is stopped is [`UnitState::Stopped`] and runs nowhere.
//! Restart of a stopped or failed component clears it from the record and
//! lets the unit be placed again; restart of a running component restarts
//! it on the host that runs it.
//!
//! Requests for a unit some host runs go to that host (its agent is the
//! only writer of a record it owns); the record of a unit that runs
//! nowhere is written here, by compare-and-set.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use airssys_nats::cluster::{Cluster, OwnerRecord, UnitState};
use airssys_nats::NatsBroker;
use airssys_wasm::TopicMessage;
use parking_lot::Mutex;

use super::agent::{ask_peer, Placement};
use super::peer::{PeerReply, PeerRequest};
use super::units::Unit;

mod listing;
mod owner;
mod subscriptions;

#[cfg(test)]
use listing::{unreported, Owner};
pub use listing::{ClusterStatus, HostView, Listing, Unreported};
pub use subscriptions::SubscriptionChange;

/// How long a stop or restart waits for the host that runs the component:
/// 35 s (a restart waits up to 30 s for the queued messages there).
const OWNER_TIMEOUT: Duration = Duration::from_secs(35);
/// How long a restart of a component that ran nowhere waits to see its
/// unit claimed by a host: 5 s.
const PLACE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperateError {
    /// No unit of the manifest has the component.
    #[error("component `{id}` is not one of the manifest's components")]
    UnknownComponent {
        /// The component.
        id: String,
    },
    /// The component's unit has no owner able to act on it now.
    #[error("component `{id}` (unit `{unit}`) cannot be acted on now: {why}")]
    NotPlaced {
        /// The component.
        id: String,
        /// Its unit's key.
        unit: String,
        /// Why, in words.
        why: String,
    },
    /// The host that runs the component did not answer.
    #[error("host `{host}`, which runs `{id}`, did not answer: {reason}")]
    Unreachable {
        /// The host.
        host: String,
        /// The component.
        id: String,
        /// Why.
        reason: String,
    },
    /// The host that runs the component refused.
    #[error("host `{host}` could not {action} `{id}`: {reason}")]
    Refused {
        /// The host.
        host: String,
        /// The component.
        id: String,
        /// `stop` or `restart`.
        action: &'static str,
        /// Its answer.
        reason: String,
    },
    /// The host that runs the component refused a subscription change.
    #[error("host `{host}` refused the subscription change of `{id}`: {reason}")]
    SubscriptionRefused {
        /// The host.
        host: String,
        /// The component.
        id: String,
        /// Why, typed.
        refusal: super::peer::SubscriptionRefusal,
        /// Its answer, in words.
        reason: String,
    },
    /// The unit's owner record could not be written.
    #[error("the owner record of unit `{unit}` could not be written: {reason}")]
    Record {
        /// The unit's key.
        unit: String,
        /// Why.
        reason: String,
    },
}

/// A cheap handle on a running cluster host, for the control API and the
/// endpoint. Cloning shares it.
#[derive(Debug, Clone)]
pub struct ClusterHandle {
    pub(super) cluster: Cluster,
    pub(super) broker: NatsBroker<TopicMessage>,
    pub(super) units: Arc<Vec<Unit>>,
    pub(super) placement: Arc<Mutex<Placement>>,
}

/// Where the control API and the endpoint find the cluster once it runs
/// (they start before it). Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct ClusterSlot(Arc<OnceLock<ClusterHandle>>);

impl ClusterSlot {
    /// Puts the handle in the slot; a second call changes nothing.
    pub fn set(&self, handle: ClusterHandle) {
        let _ = self.0.set(handle);
    }

    /// The handle, once the cluster runs.
    pub fn get(&self) -> Option<&ClusterHandle> {
        self.0.get()
    }
}

impl ClusterHandle {
    /// This host's id.
    pub fn me(&self) -> String {
        self.cluster.me().id
    }

    /// Whether component `id` is one of the cluster's units' members.
    pub fn has(&self, id: &str) -> bool {
        self.unit_of(id).is_some()
    }

    /// The key of component `id`'s unit, if it is one of the cluster's.
    pub fn unit_key(&self, id: &str) -> Option<&str> {
        self.unit_of(id).map(|u| u.key.as_str())
    }

    fn unit_of(&self, id: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.has(id))
    }

    /// Stops component `id` for good, cluster-wide, wherever it runs.
    /// `Ok(Some(host))`: the host that ran it; `Ok(None)`: it ran nowhere
    /// (it is marked stopped all the same, or was already).
    ///
    /// # Errors
    /// [`OperateError`]: not a component of the manifest, its unit being
    /// placed or moved, its host unreachable or refusing, the record not
    /// written.
    pub async fn stop(&self, id: &str) -> Result<Option<String>, OperateError> {
        self.operate(id, false).await
    }

    /// Restarts component `id`: on the host that runs it, or, when it was
    /// stopped or its unit failed, by letting its unit be placed again
    /// (waiting up to 5 s for a host to claim it). Returns the host that
    /// runs it, if known.
    ///
    /// # Errors
    /// As [`ClusterHandle::stop`].
    pub async fn restart(&self, id: &str) -> Result<Option<String>, OperateError> {
        self.operate(id, true).await
    }

    /// The live host that runs component `id` now.
    ///
    /// # Errors
    /// [`OperateError::UnknownComponent`]; [`OperateError::NotPlaced`] when
    /// no live host runs its unit now.
    fn running_host(&self, id: &str) -> Result<String, OperateError> {
        let unit = self
            .unit_of(id)
            .ok_or_else(|| OperateError::UnknownComponent { id: id.to_owned() })?;
        let not_placed = |why: String| OperateError::NotPlaced {
            id: id.to_owned(),
            unit: unit.key.clone(),
            why,
        };
        let owned = self
            .cluster
            .owner(&unit.key)
            .ok_or_else(|| not_placed("no host has claimed its unit yet".into()))?;
        let record = owned.record;
        if !matches!(record.state, UnitState::Running | UnitState::HandingOver) {
            return Err(not_placed(format!(
                "its unit is {:?}, not running",
                record.state
            )));
        }
        if !self.cluster.is_live(&record.host, &record.session) {
            return Err(not_placed(format!(
                "its host `{}` is gone; another host is taking it over",
                record.host
            )));
        }
        Ok(record.host)
    }

    async fn operate(&self, id: &str, restart: bool) -> Result<Option<String>, OperateError> {
        let action = if restart { "restart" } else { "stop" };
        let unit = self
            .unit_of(id)
            .ok_or_else(|| OperateError::UnknownComponent { id: id.to_owned() })?;
        let not_placed = |why: &str| OperateError::NotPlaced {
            id: id.to_owned(),
            unit: unit.key.clone(),
            why: why.to_owned(),
        };
        let owned = self
            .cluster
            .owner(&unit.key)
            .ok_or_else(|| not_placed("no host has claimed its unit yet"))?;
        let record = &owned.record;
        let runs = matches!(record.state, UnitState::Running | UnitState::HandingOver);
        if runs && !self.cluster.is_live(&record.host, &record.session) {
            return Err(not_placed(&format!(
                "its host `{}` is gone; another host is taking it over",
                record.host
            )));
        }
        if runs {
            return self.ask_owner(record.host.clone(), id, restart).await;
        }
        // The unit runs nowhere: its record is changed here.
        let mut next = record.clone();
        if restart {
            if record.state == UnitState::Released && !record.stopped.iter().any(|s| s == id) {
                return Err(not_placed("its unit is being placed on a host"));
            }
            next.stopped.retain(|s| s != id);
            next.state = UnitState::Released;
            next.failures = 0;
            next.failures_since_ms = None;
            next.last_failure = None;
        } else {
            mark_stopped(&mut next, unit, id);
        }
        if next == *record {
            return Ok(None);
        }
        match self
            .cluster
            .write_owner(&unit.key, Some(owned.revision), &next)
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => return Err(not_placed("its owner record changed meanwhile; try again")),
            Err(e) => {
                return Err(OperateError::Record {
                    unit: unit.key.clone(),
                    reason: e.to_string(),
                })
            }
        }
        tracing::info!(component = %id, unit = %unit.key, action, "recorded in the unit's owner record");
        if !restart {
            return Ok(None);
        }
        Ok(self.placed_within(&unit.key, PLACE_TIMEOUT).await)
    }

    /// Asks `host`, which runs component `id`, to stop or restart it.
    async fn ask_owner(
        &self,
        host: String,
        id: &str,
        restart: bool,
    ) -> Result<Option<String>, OperateError> {
        let (request, action) = if restart {
            (PeerRequest::Restart { id: id.to_owned() }, "restart")
        } else {
            (PeerRequest::Stop { id: id.to_owned() }, "stop")
        };
        match ask_peer(&self.broker, &host, &request, OWNER_TIMEOUT).await {
            Ok(PeerReply::Ok) => Ok(Some(host)),
            Ok(PeerReply::Error { error }) => Err(OperateError::Refused {
                host,
                id: id.to_owned(),
                action,
                reason: error,
            }),
            Ok(other) => Err(OperateError::Refused {
                host,
                id: id.to_owned(),
                action,
                reason: format!("unexpected answer {other:?}"),
            }),
            Err(reason) => Err(OperateError::Unreachable {
                host,
                id: id.to_owned(),
                reason,
            }),
        }
    }

    /// The host that runs unit `key` once one does, waiting up to `wait`;
    /// `None` if none does by then.
    async fn placed_within(&self, key: &str, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(o) = self.cluster.owner(key) {
                if o.record.state == UnitState::Running {
                    return Some(o.record.host);
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            self.cluster
                .changed(left.min(Duration::from_millis(200)))
                .await;
        }
    }
}

/// Adds `id` to the record's stopped members; with every member of `unit`
/// stopped, the unit is [`UnitState::Stopped`].
fn mark_stopped(record: &mut OwnerRecord, unit: &Unit, id: &str) {
    if !record.stopped.iter().any(|s| s == id) {
        record.stopped.push(id.to_owned());
    }
    if unit.members.iter().all(|m| record.stopped.contains(&m.id)) {
        record.state = UnitState::Stopped;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::cluster::units::Member;

    fn unit(key: &str, ids: &[&str]) -> Unit {
        Unit {
            key: key.into(),
            group: None,
            nested: Vec::new(),
            members: ids
                .iter()
                .map(|id| Member {
                    component: 0,
                    id: (*id).into(),
                    group: None,
                })
                .collect(),
            requires: Vec::new(),
        }
    }

    #[test]
    fn stopping_every_member_marks_the_unit_stopped() {
        let u = unit("g.pair", &["a", "b"]);
        let mut record = OwnerRecord::running("h1", "s1");
        mark_stopped(&mut record, &u, "a");
        assert_eq!(record.state, UnitState::Running);
        assert_eq!(record.stopped, ["a"]);
        mark_stopped(&mut record, &u, "a");
        assert_eq!(record.stopped, ["a"], "a stop twice is recorded once");
        mark_stopped(&mut record, &u, "b");
        assert_eq!(record.state, UnitState::Stopped);
    }

    #[test]
    fn a_component_no_host_reported_is_listed_with_what_its_owner_record_says() {
        let units = [
            unit("c.up", &["up"]),
            unit("c.new", &["new"]),
            unit("c.bad", &["bad"]),
            unit("g.pair", &["a", "b"]),
            unit("c.dead", &["dead"]),
            unit("c.far", &["far"]),
            unit("c.soon", &["soon"]),
        ];
        let seen: HashSet<&str> = ["up", "a"].into_iter().collect();
        let owner = |key: &str| {
            let mut r = OwnerRecord::running("h1", "s1");
            match key {
                "c.new" => return None,
                "c.bad" => {
                    r.state = UnitState::Failed;
                    r.last_failure = Some("trap".into());
                }
                "g.pair" => r.stopped = vec!["b".into()],
                "c.dead" => r.session = "old".into(),
                "c.far" => r.host = "h2".into(),
                _ => {}
            }
            Some(r)
        };
        let rows = unreported(&units, &seen, owner, |h, s| match (h, s) {
            (_, "old") => Owner::Gone,
            ("h2", _) => Owner::Silent,
            _ => Owner::Answered,
        });
        let got: Vec<(&str, &str, Option<&str>, Option<&str>)> = rows
            .iter()
            .map(|u| {
                (
                    u.id.as_str(),
                    u.state,
                    u.host.as_deref(),
                    u.last_failure.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("new", "unplaced", None, None),
                ("bad", "failed", None, Some("trap")),
                ("b", "stopped", None, None),
                ("dead", "orphaned", None, None),
                ("far", "unknown", Some("h2"), None),
                ("soon", "starting", Some("h1"), None),
            ]
        );
    }
}
