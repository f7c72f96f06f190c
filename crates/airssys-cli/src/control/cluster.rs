//! The control API on a cluster host: `GET /v1/hosts`, the cluster-wide
//! `GET /v1/components`, and stop/restart done on whichever host runs the
//! component ([`crate::cluster::operate`]).

use std::time::Duration;

use serde_json::{json, Value};

use super::answer::{error, Answer};
use super::Controller;
use crate::cluster::operate::{ClusterHandle, OperateError};
use crate::cluster::peer::PeerComponent;

/// How long a listing waits for each other host: 2 s.
const LIST_TIMEOUT: Duration = Duration::from_secs(2);

/// The controller's cluster, or the answer for a host that is in none (or
/// still joining its cluster).
pub(super) fn handle(c: &Controller) -> Result<&ClusterHandle, Answer> {
    match &c.cluster {
        None => Err(error(409, "this host is not part of a cluster", None)),
        Some(slot) => slot
            .get()
            .ok_or_else(|| error(503, "this host is still joining its cluster", None)),
    }
}

/// `GET /v1/hosts`.
pub(super) fn hosts(c: &Controller) -> Answer {
    match handle(c) {
        Ok(h) => (200, json!({ "host": h.me(), "hosts": h.hosts() })),
        Err(answer) => answer,
    }
}

/// `GET /v1/components` on a cluster host: each host's components with
/// their `host`, then those no host runs, sorted by id; the hosts that did
/// not answer under `unreachable`.
pub(super) async fn list(c: &Controller, h: &ClusterHandle) -> Answer {
    let local: Vec<PeerComponent> = c.host.list().iter().map(PeerComponent::from).collect();
    let listing = h.components(local, LIST_TIMEOUT).await;
    let mut rows: Vec<Value> = Vec::new();
    for (host, components) in &listing.hosts {
        for p in components {
            rows.push(json!({
                "id": p.id,
                "host": host,
                "unit": h.unit_key(&p.id),
                "state": p.state,
                "restarts": p.restarts,
                "handled": p.handled,
                "failed": p.failed,
                "mailbox": p.mailbox,
                "denied": p.denied,
                "upgrades": p.upgrades,
            }));
        }
    }
    for u in &listing.unreported {
        rows.push(json!({
            "id": u.id,
            "host": u.host,
            "unit": u.unit,
            "state": u.state,
            "last_failure": u.last_failure,
        }));
    }
    rows.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let unreachable: Vec<Value> = listing
        .unreachable
        .iter()
        .map(|(host, why)| json!({ "host": host, "error": why }))
        .collect();
    (
        200,
        json!({ "host": h.me(), "components": rows, "unreachable": unreachable }),
    )
}

/// `POST /v1/components/{id}/stop|restart` for a component of the
/// cluster's units.
pub(super) async fn operate(h: &ClusterHandle, id: &str, restart: bool) -> Answer {
    let done = if restart {
        h.restart(id).await
    } else {
        h.stop(id).await
    };
    match done {
        Ok(host) if restart => (
            200,
            json!({ "component": id, "restarted": true, "host": host }),
        ),
        Ok(host) => (
            200,
            json!({ "component": id, "stopped": true, "host": host }),
        ),
        Err(e) => {
            let code = match &e {
                OperateError::UnknownComponent { .. } => 404,
                OperateError::NotPlaced { .. } | OperateError::Refused { .. } => 409,
                OperateError::Unreachable { .. } => 504,
                _ => 503,
            };
            error(code, e.to_string(), Some(id))
        }
    }
}
