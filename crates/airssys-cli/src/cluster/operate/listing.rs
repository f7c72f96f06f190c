//! What a cluster host can say about the whole cluster: its own standing,
//! the live hosts with the units each owns, and every component of the
//! application with the host that runs it (or why none does).

use std::collections::HashSet;
use std::time::Duration;

use airssys_nats::cluster::{HostRecord, OwnerRecord, UnitState};
use serde::Serialize;

use super::ClusterHandle;
use crate::cluster::agent::ask_peer;
use crate::cluster::peer::{PeerComponent, PeerReply, PeerRequest};
use crate::cluster::units::Unit;

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

impl ClusterHandle {
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
}

/// A unit's owner, as a listing found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    /// Live, and answered.
    Answered,
    /// Live, and did not answer.
    Silent,
    /// Not live (expired, or under an older session).
    Gone,
}

/// The members of `units` not in `seen`, each with what its owner record
/// (`owner`) says; `owner_is(host, session)` tells how its owner fared.
pub(super) fn unreported(
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
