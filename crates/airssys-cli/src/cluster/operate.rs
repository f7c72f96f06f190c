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

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use airssys_nats::cluster::{Cluster, HostRecord, OwnerRecord, UnitState};
use airssys_nats::NatsBroker;
use airssys_wasm::TopicMessage;
use parking_lot::Mutex;
use serde::Serialize;

use super::agent::{ask_peer, Placement};
use super::peer::{PeerComponent, PeerReply, PeerRequest};
use super::units::Unit;

mod owner;
mod subscriptions;

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

/// A live host, as `GET /v1/hosts` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HostView {
    /// Its record (id, session, capacity, labels, version, control
    /// address, components, leaving, ready).
    #[serde(flatten)]
    pub record: HostRecord,
    /// The units it owns (running or being handed over), sorted.
    pub units: Vec<String>,
    /// Whether it is the host that answered.
    pub this_host: bool,
}

/// A component no host reported running, with what its unit's owner
/// record says.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unreported {
    /// The component.
    pub id: String,
    /// Its unit's key.
    pub unit: String,
    /// Its unit's owner, when that is a live host (`starting`, `unknown`).
    pub host: Option<String>,
    /// `unplaced` (never claimed), `released`, `failed`, `stopped`,
    /// `starting` (claimed by a live host that does not run it yet),
    /// `unknown` (its live owner did not answer) or `orphaned` (its owner
    /// is gone; another host takes it over).
    pub state: &'static str,
    /// Why its unit last failed, from its owner record.
    pub last_failure: Option<String>,
}

/// Every component of the application: the rows each host reported, the
/// hosts that did not answer, and the components that run nowhere.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Host id → its components (this host's included).
    pub hosts: Vec<(String, Vec<PeerComponent>)>,
    /// Hosts that did not answer, with why.
    pub unreachable: Vec<(String, String)>,
    /// Components no host reported running.
    pub unreported: Vec<Unreported>,
}

/// `/health`'s view of this host in the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// This host's id.
    pub host: String,
    /// Its session.
    pub session: String,
    /// Whether its lease holds (it may act on its units; `false`: fenced).
    pub lease_holds: bool,
    /// Live hosts, this one included.
    pub live_hosts: usize,
    /// Units running here.
    pub units_here: usize,
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

    /// This host's standing, for `/health` and `/metrics`. O(hosts).
    pub fn status(&self) -> ClusterStatus {
        let me = self.cluster.me();
        ClusterStatus {
            host: me.id,
            session: me.session,
            lease_holds: self.cluster.lease().holds(),
            live_hosts: self.cluster.live_hosts().len(),
            units_here: self.placement.lock().running.len(),
        }
    }

    /// The live hosts, sorted by id, each with the units it owns.
    pub fn hosts(&self) -> Vec<HostView> {
        let me = self.cluster.me().id;
        let owners = self.cluster.owners();
        let mut hosts: Vec<HostView> = self
            .cluster
            .live_hosts()
            .into_iter()
            .map(|record| {
                let mut units: Vec<String> = owners
                    .iter()
                    .filter(|(_, o)| {
                        o.record.host == record.id
                            && o.record.session == record.session
                            && matches!(o.record.state, UnitState::Running | UnitState::HandingOver)
                    })
                    .map(|(key, _)| key.clone())
                    .collect();
                units.sort();
                HostView {
                    this_host: record.id == me,
                    record,
                    units,
                }
            })
            .collect();
        hosts.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        hosts
    }

    /// Every component: `local` (this host's), every other live host's
    /// (asked at once, each within `timeout`), and those that run nowhere.
    pub async fn components(&self, local: Vec<PeerComponent>, timeout: Duration) -> Listing {
        let me = self.me();
        let others: Vec<String> = self
            .cluster
            .live_hosts()
            .into_iter()
            .map(|h| h.id)
            .filter(|id| *id != me)
            .collect();
        let asked = others.iter().map(|h| async move {
            let answer = ask_peer(&self.broker, h, &PeerRequest::List, timeout).await;
            let listed = match answer {
                Ok(PeerReply::Components { components }) => Ok(components),
                Ok(other) => Err(format!("unexpected answer {other:?}")),
                Err(e) => Err(e),
            };
            (h.clone(), listed)
        });
        let mut listing = Listing {
            hosts: vec![(me, local)],
            ..Listing::default()
        };
        for (host, listed) in futures::future::join_all(asked).await {
            match listed {
                Ok(components) => listing.hosts.push((host, components)),
                Err(why) => listing.unreachable.push((host, why)),
            }
        }
        let seen: HashSet<&str> = listing
            .hosts
            .iter()
            .flat_map(|(_, cs)| cs.iter())
            .filter(|c| c.state != "stopped")
            .map(|c| c.id.as_str())
            .collect();
        let silent: HashSet<&str> = listing
            .unreachable
            .iter()
            .map(|(h, _)| h.as_str())
            .collect();
        listing.unreported = unreported(
            &self.units,
            &seen,
            |key| self.cluster.owner(key).map(|o| o.record),
            |h, s| {
                if !self.cluster.is_live(h, s) {
                    Owner::Gone
                } else if silent.contains(h) {
                    Owner::Silent
                } else {
                    Owner::Answered
                }
            },
        );
        listing
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
            let request = if restart {
                PeerRequest::Restart { id: id.to_owned() }
            } else {
                PeerRequest::Stop { id: id.to_owned() }
            };
            let host = record.host.clone();
            return match ask_peer(&self.broker, &host, &request, OWNER_TIMEOUT).await {
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
            };
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
        let deadline = tokio::time::Instant::now() + PLACE_TIMEOUT;
        loop {
            if let Some(o) = self.cluster.owner(&unit.key) {
                if o.record.state == UnitState::Running {
                    return Ok(Some(o.record.host));
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
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

/// A unit's owner, as a listing found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Live, and answered.
    Answered,
    /// Live, and did not answer.
    Silent,
    /// Not live (expired, or under an older session).
    Gone,
}

/// The members of `units` not in `seen`, each with what its owner record
/// (`owner`) says; `owner_is(host, session)` tells how its owner fared.
fn unreported(
    units: &[Unit],
    seen: &HashSet<&str>,
    owner: impl Fn(&str) -> Option<OwnerRecord>,
    owner_is: impl Fn(&str, &str) -> Owner,
) -> Vec<Unreported> {
    let mut out = Vec::new();
    for unit in units {
        let record = owner(&unit.key);
        for m in &unit.members {
            if seen.contains(m.id.as_str()) {
                continue;
            }
            let (state, host) = match &record {
                None => ("unplaced", None),
                Some(r) if r.stopped.contains(&m.id) => ("stopped", None),
                Some(r) => match r.state {
                    UnitState::Released => ("released", None),
                    UnitState::Failed => ("failed", None),
                    UnitState::Stopped => ("stopped", None),
                    _ => match owner_is(&r.host, &r.session) {
                        Owner::Answered => ("starting", Some(r.host.clone())),
                        Owner::Silent => ("unknown", Some(r.host.clone())),
                        Owner::Gone => ("orphaned", None),
                    },
                },
            };
            out.push(Unreported {
                id: m.id.clone(),
                unit: unit.key.clone(),
                host,
                state,
                last_failure: record.as_ref().and_then(|r| r.last_failure.clone()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
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
