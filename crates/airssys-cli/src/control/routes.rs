//! The control API's routes: parse, authorise (done by the caller), act on
//! the host, answer JSON. See the table in the module above.

use std::sync::Arc;
use std::time::Duration;

use airssys_wasm::host::{ComponentInfo, HostError, UpgradeReport};
use airssys_wasm::ComponentId;
use serde_json::{json, Value};

pub(super) use super::answer::{audit, error, host_error, Answer, Request};
use super::{Controller, SpecState};

/// Default `timeout_ms` of a request: 5000.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Time a restart or one instance's upgrade may wait for the messages
/// queued before it: 30 s.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// Default wait of `GET /v1/components/{id}/down`: 60 s.
const DEFAULT_DOWN_WAIT: Duration = Duration::from_secs(60);

/// The next down of component `id`, within `wait`: 200 with
/// `{"component", "monitor", "reason", "detail"}` (reason `noproc` at
/// once for an id no host runs; `noconnection` when the other host that
/// runs it is lost), 504 when none comes in time.
async fn down(c: &Controller, id: &str, wait: Duration) -> Answer {
    match tokio::time::timeout(wait, c.host.monitor(id)).await {
        Ok(down) => {
            let notice = down.notice();
            (
                200,
                json!({
                    "component": notice.component,
                    "monitor": notice.monitor,
                    "reason": notice.reason,
                    "detail": notice.detail,
                }),
            )
        }
        Err(_) => error(504, format!("no down within {wait:?}"), Some(id)),
    }
}

fn info_json(c: &ComponentInfo) -> Value {
    let mut row = json!({
        "id": c.id.as_str(),
        "state": c.state.label(),
        "restarts": c.restarts,
        "handled": c.handled,
        "failed": c.failed,
        "mailbox": c.mailbox_len,
        "denied": c.denied,
        "upgrades": c.upgrades,
    });
    if let Some(pending) = c.restart {
        row["restart"] = json!({
            "attempt": pending.attempt,
            "backoff_ms": u64::try_from(pending.backoff.as_millis()).unwrap_or(u64::MAX),
            "text": pending.to_string(),
        });
    }
    row
}

fn upgraded_json(reports: &[UpgradeReport]) -> Value {
    let rows: Vec<Value> = reports
        .iter()
        .map(|r| {
            json!({
                "component": r.component.as_str(),
                "state_bytes": r.outcome.state_bytes,
                "upgrades": r.outcome.upgrades,
            })
        })
        .collect();
    json!({ "upgraded": rows })
}

pub(super) async fn route(c: &Controller, req: Request<'_>) -> Answer {
    let segments = req.segments;
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (req.method, segs.as_slice()) {
        ("GET", ["v1", "components"]) => list_components(c).await,
        ("GET", ["v1", "hosts"]) => super::cluster::hosts(c),
        ("GET", ["v1", "tree"]) => tree(c).await,
        ("GET", ["v1", "specs"]) => list_specs(c).await,
        ("POST", ["v1", "components", id, "send"]) => send(c, req, id).await,
        ("POST", ["v1", "components", id, "request"]) => request(c, req, id).await,
        ("POST", ["v1", "publish", subject]) => publish(c, req, subject).await,
        ("GET", ["v1", "components", id, "subscriptions"]) => super::subscriptions::list(c, id),
        // A component of the cluster that another host runs: done there.
        ("POST", ["v1", "components", id, verb @ ("subscribe" | "unsubscribe"), pattern])
            if !c.host.registry().contains(id) && cluster_of(c, id).is_some() =>
        {
            let subscribe = *verb == "subscribe";
            super::subscriptions::forward(c, &req, id, pattern, subscribe).await
        }
        ("POST", ["v1", "components", id, "subscribe", pattern]) => {
            subscribe(c, req, id, pattern).await
        }
        ("POST", ["v1", "components", id, "unsubscribe", pattern]) => {
            unsubscribe(c, req, id, pattern).await
        }
        ("GET", ["v1", "components", id, "down"]) => wait_down(c, req, id).await,
        ("POST", ["v1", "components", id, "stop"]) => stop(c, req, id).await,
        ("POST", ["v1", "components", id, "restart"]) => restart(c, req, id).await,
        ("POST", ["v1", "specs", name, "spawn"]) => spawn_instance(c, req, name).await,
        ("POST", ["v1", "specs", name, "scale"]) => scale_spec(c, req, name).await,
        ("POST", ["v1", "upgrade", target]) => upgrade(c, req, target).await,
        (_, ["v1", "components"] | ["v1", "specs"] | ["v1", "hosts"] | ["v1", "tree"]) => {
            error(405, "use GET", None)
        }
        (
            _,
            ["v1", "components", _, "send" | "request" | "stop" | "restart"]
            | ["v1", "components", _, "subscribe" | "unsubscribe", _]
            | ["v1", "publish", _]
            | ["v1", "specs", _, "spawn" | "scale"]
            | ["v1", "upgrade", _],
        ) => error(405, "use POST", None),
        _ => error(
            404,
            format!("no route {} /{}", req.method, segs.join("/")),
            None,
        ),
    }
}

/// `GET /v1/components`: this host's components, or a cluster's.
async fn list_components(c: &Controller) -> Answer {
    if let Some(h) = c.cluster.as_ref().and_then(|s| s.get()) {
        return super::cluster::list(c, h).await;
    }
    let rows: Vec<Value> = c.host.list().iter().map(info_json).collect();
    (200, json!({ "components": rows }))
}

/// `GET /v1/specs`: the specs and their running instances.
async fn list_specs(c: &Controller) -> Answer {
    let specs = c.specs.lock().await;
    let rows: Vec<Value> = specs
        .values()
        .map(|s| {
            let ids: Vec<String> = s.running(&c.host).into_iter().map(|(_, id)| id).collect();
            json!({ "name": s.def.name, "instances": ids })
        })
        .collect();
    (200, json!({ "specs": rows }))
}

/// `POST /v1/components/{id}/send`: the body to `id`.
async fn send(c: &Controller, req: Request<'_>, id: &str) -> Answer {
    audit(&req, "send", id);
    match c.host.send(id, req.body).await {
        Ok(()) => {
            c.traffic.delivered(id);
            (202, json!({ "component": id, "accepted": true }))
        }
        Err(e) => host_error(&e, Some(id)),
    }
}

/// `POST /v1/components/{id}/request`: the body to `id`, its reply back.
async fn request(c: &Controller, req: Request<'_>, id: &str) -> Answer {
    let timeout = match req.query.get("timeout_ms") {
        None => DEFAULT_REQUEST_TIMEOUT,
        Some(ms) => match ms.parse::<u64>() {
            Ok(ms) if ms > 0 => Duration::from_millis(ms),
            _ => {
                return error(
                    400,
                    format!("bad timeout_ms `{ms}`: a positive integer"),
                    Some(id),
                )
            }
        },
    };
    audit(&req, "request", id);
    let answer = c.host.request(id, req.body, timeout).await;
    if matches!(
        answer,
        Ok(_) | Err(HostError::HandlerFailed { .. } | HostError::Timeout { .. })
    ) {
        // It reached the component: handled, or dead-lettered there.
        c.traffic.delivered(id);
    }
    match answer {
        Ok(reply) => (
            200,
            json!({
                "component": id,
                "reply": reply.as_ref().map(|r| String::from_utf8_lossy(r).into_owned()),
                "reply_bytes": reply.as_ref().map(|r| r.len()),
                // For people, when the reply is multicodec JSON or
                // CBOR: decoded (`json {...}`).
                "reply_decoded": reply.as_ref().and_then(|r| airssys_wasm::codec::decoded_display(r)),
                // A multicodec JSON reply's value, for programs.
                "reply_json": reply.as_ref().and_then(|r| airssys_wasm::codec::decode_json::<serde_json::Value>(r).ok()),
            }),
        ),
        Err(e) => host_error(&e, Some(id)),
    }
}

/// `POST /v1/publish/{subject}`: the body on `subject`.
async fn publish(c: &Controller, req: Request<'_>, subject: &str) -> Answer {
    audit(&req, "publish", subject);
    match c.host.publish(subject, req.body) {
        Ok(report) => {
            c.traffic.published();
            // Components, not subscriptions (the host's own
            // observers among them): here, or for a durable topic
            // every subscriber's consumer.
            let matched = if c.host.is_durable_topic(subject) {
                report.matched
            } else {
                c.host.subscribers_of(subject)
            };
            (
                200,
                json!({ "subject": subject, "matched": matched, "delivered": matched.saturating_sub(report.dropped), "dropped": report.dropped }),
            )
        }
        Err(e) => host_error(&e, None),
    }
}

/// `POST /v1/components/{id}/subscribe/{pattern}`.
async fn subscribe(c: &Controller, req: Request<'_>, id: &str, pattern: &str) -> Answer {
    super::subscriptions::subscribe(c, &req, id, pattern)
}

/// `POST /v1/components/{id}/unsubscribe/{pattern}`.
async fn unsubscribe(c: &Controller, req: Request<'_>, id: &str, pattern: &str) -> Answer {
    super::subscriptions::unsubscribe(c, &req, id, pattern).await
}

/// `GET /v1/components/{id}/down`: waits for `id` to end.
async fn wait_down(c: &Controller, req: Request<'_>, id: &str) -> Answer {
    let wait = match req.query.get("timeout_ms") {
        None => DEFAULT_DOWN_WAIT,
        Some(ms) => match ms.parse::<u64>() {
            Ok(ms) if ms > 0 => Duration::from_millis(ms),
            _ => return error(400, "timeout_ms must be a positive integer", Some(id)),
        },
    };
    down(c, id, wait).await
}

/// `POST /v1/components/{id}/stop`: stops `id` for good.
async fn stop(c: &Controller, req: Request<'_>, id: &str) -> Answer {
    audit(&req, "stop", id);
    if let Some(h) = cluster_of(c, id) {
        return super::cluster::operate(h, id, false).await;
    }
    let _queue = c.specs.lock().await;
    match c.host.stop(id).await {
        Ok(()) => (200, json!({ "component": id, "stopped": true })),
        Err(e) => host_error(&e, Some(id)),
    }
}

/// `POST /v1/components/{id}/restart`.
async fn restart(c: &Controller, req: Request<'_>, id: &str) -> Answer {
    audit(&req, "restart", id);
    if let Some(h) = cluster_of(c, id) {
        return super::cluster::operate(h, id, true).await;
    }
    match c.host.restart(id, QUEUE_TIMEOUT).await {
        Ok(()) => (200, json!({ "component": id, "restarted": true })),
        Err(e) => host_error(&e, Some(id)),
    }
}

/// `POST /v1/specs/{name}/spawn`: one more instance of a spec.
async fn spawn_instance(c: &Controller, req: Request<'_>, name: &str) -> Answer {
    audit(&req, "spawn", name);
    let specs = c.specs.lock().await;
    let Some(spec) = specs.get(name) else {
        return unknown_spec(name);
    };
    let running = spec.running(&c.host);
    let slot = (0..)
        .find(|i| !running.iter().any(|(s, _)| s == i))
        .unwrap_or(0);
    let id = spec.slot_id(slot);
    match spawn(c, spec, &id).await {
        Ok(()) => (201, json!({ "spec": name, "component": id })),
        Err(e) => host_error(&e, Some(&id)),
    }
}

/// `POST /v1/specs/{name}/scale`: a spec's instances to a count.
async fn scale_spec(c: &Controller, req: Request<'_>, name: &str) -> Answer {
    let Some(n) = req
        .query
        .get("instances")
        .and_then(|n| n.parse::<u32>().ok())
    else {
        return error(
            400,
            "scale needs ?instances=N (a non-negative integer)",
            Some(name),
        );
    };
    audit(&req, &format!("scale to {n}"), name);
    let specs = c.specs.lock().await;
    let Some(spec) = specs.get(name) else {
        return unknown_spec(name);
    };
    scale(c, spec, n).await
}

/// `POST /v1/upgrade/{target}`: a component or a spec to the body's binary.
async fn upgrade(c: &Controller, req: Request<'_>, target: &str) -> Answer {
    if req.body.is_empty() {
        return error(
            400,
            "upgrade needs the new binary as the request body",
            Some(target),
        );
    }
    audit(&req, "upgrade", target);
    let mut specs = c.specs.lock().await;
    let binary: Arc<[u8]> = req.body.into();
    if let Some(spec) = specs.get_mut(target) {
        let ids: Vec<String> = spec
            .running(&c.host)
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        // Checked even with no instance running, so that a bad
        // binary never becomes the spec's.
        if ids.is_empty() {
            if let Err(e) = c
                .host
                .engine()
                .load_async(ComponentId::new(target), Arc::clone(&binary))
                .await
            {
                return host_error(&HostError::Wasm(e), Some(target));
            }
        }
        match c
            .host
            .upgrade_all(&ids, Arc::clone(&binary), QUEUE_TIMEOUT)
            .await
        {
            Ok(reports) => {
                spec.bytes = binary;
                let mut body = upgraded_json(&reports);
                body["spec"] = json!(target);
                (200, body)
            }
            Err(e) => {
                let component = match &e {
                    HostError::UpgradeFailed { component, .. } => {
                        Some(component.as_str().to_owned())
                    }
                    _ => None,
                };
                host_error(&e, Some(component.as_deref().unwrap_or(target)))
            }
        }
    } else {
        drop(specs);
        match c.host.upgrade(target, binary, QUEUE_TIMEOUT).await {
            Ok(report) => (200, upgraded_json(&[report])),
            Err(e) => host_error(&e, Some(target)),
        }
    }
}

/// The cluster that acts on component `id`, when this host is in one and
/// `id` is one of its units' (an instance started with `spawn` beyond
/// the manifest's is this host's alone).
fn cluster_of<'c>(
    c: &'c Controller,
    id: &str,
) -> Option<&'c crate::cluster::operate::ClusterHandle> {
    c.cluster
        .as_ref()
        .and_then(|s| s.get())
        .filter(|h| h.has(id))
}

fn unknown_spec(name: &str) -> Answer {
    error(
        404,
        format!("no [[component]] spec named `{name}` in the manifest"),
        Some(name),
    )
}

async fn spawn(c: &Controller, spec: &SpecState, id: &str) -> Result<(), HostError> {
    let component = crate::manifest::spec::component_spec(&spec.def, id, Arc::clone(&spec.bytes));
    match &spec.group {
        Some(group) => c.host.spawn_in(group, component).await.map(|_| ()),
        None => c.host.spawn(component).await.map(|_| ()),
    }
}

/// Starts the missing slots below `n`, or stops the slots from `n` up.
/// All or nothing: a failed start stops the instances this call started.
async fn scale(c: &Controller, spec: &SpecState, n: u32) -> Answer {
    let name = spec.def.name.as_str();
    let running = spec.running(&c.host);
    let mut started: Vec<String> = Vec::new();
    for slot in 0..n {
        if running.iter().any(|(s, _)| *s == slot) {
            continue;
        }
        let id = spec.slot_id(slot);
        if let Err(e) = spawn(c, spec, &id).await {
            for undo in started.iter().rev() {
                if let Err(stop) = c.host.stop(undo).await {
                    tracing::error!(component = %undo, error = %stop, "could not undo a partial scale");
                }
            }
            return host_error(&e, Some(&id));
        }
        started.push(id);
    }
    let mut stopped = Vec::new();
    for (_, id) in running.iter().rev().filter(|(slot, _)| *slot >= n) {
        match c.host.stop(id).await {
            Ok(()) => stopped.push(id.clone()),
            Err(e) => return host_error(&e, Some(id)),
        }
    }
    let instances: Vec<String> = spec
        .running(&c.host)
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    (
        200,
        json!({ "spec": name, "instances": instances, "started": started, "stopped": stopped }),
    )
}

/// `GET /v1/tree`: this host's supervision groups (root first, parents
/// before children), each with its strategy, the restart intensity it used
/// of what it may, and its components.
async fn tree(c: &Controller) -> (u16, Value) {
    let list = c.host.list();
    let specs = c.specs.lock().await;
    let root = c.tree.first().map(|g| g.name.clone()).unwrap_or_default();
    let mut rows = Vec::with_capacity(c.tree.len());
    for g in c.tree.iter() {
        let intensity = match g.supervisor.intensity().await {
            Ok(i) => json!({
                "used": i.used,
                "max": i.limit.max_restarts,
                "within_ms": u64::try_from(i.limit.within.as_millis()).unwrap_or(u64::MAX),
            }),
            Err(e) => json!({ "error": e.to_string() }),
        };
        let members: Vec<Value> = specs
            .values()
            .filter(|s| s.def.group.as_deref().unwrap_or(root.as_str()) == g.name)
            .flat_map(|s| s.running(&c.host))
            .filter_map(|(_, id)| list.iter().find(|i| i.id.as_str() == id))
            .map(info_json)
            .collect();
        rows.push(json!({
            "name": g.name,
            "parent": g.parent,
            "strategy": g.strategy,
            "intensity": intensity,
            "components": members,
        }));
    }
    (200, json!({ "groups": rows }))
}
