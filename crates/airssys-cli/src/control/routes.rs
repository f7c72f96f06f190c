//! The control API's routes: parse, authorise (done by the caller), act on
//! the host, answer JSON. See the table in the module above.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use airssys_wasm::host::{ComponentInfo, HostError, UpgradeReport};
use airssys_wasm::ComponentId;
use serde_json::{json, Value};

pub(super) use super::answer::{audit, error, host_error, Answer, Request};
use super::verb::{Verb, VerbError};
use super::{Controller, SpecState};

/// Time a restart or one instance's upgrade may wait for the messages
/// queued before it: 30 s.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

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
    // Ended on its own (docs/supervision.md, "A component that ends on its own").
    if let Some(ended) = &c.ended {
        row["ended"] = json!({ "label": ended.label(), "text": ended.to_string() });
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

/// The route table: the request read as a [`Verb`], each verb to its
/// handler.
pub(super) async fn route(c: &Controller, req: Request<'_>) -> Answer {
    let peer = req.peer;
    let verb = match Verb::from_http(req.method, req.segments, req.query, req.body) {
        Ok(verb) => verb,
        Err(refused) => return refusal(&refused),
    };
    match verb {
        Verb::List { tree: false } => list_components(c).await,
        Verb::List { tree: true } => tree(c).await,
        Verb::Hosts => super::cluster::hosts(c),
        Verb::Specs => list_specs(c).await,
        Verb::Send {
            component, payload, ..
        } => send(c, peer, &component, payload.0).await,
        Verb::Request {
            component,
            payload,
            timeout,
            ..
        } => request(c, peer, &component, payload.0, timeout).await,
        Verb::Publish {
            subject, payload, ..
        } => publish(c, peer, &subject, payload.0),
        Verb::Subscriptions { component } => super::subscriptions::list(c, &component),
        // A component of the cluster that another host runs: done there.
        Verb::Subscribe { component, pattern } if forwarded(c, &component) => {
            super::subscriptions::forward(c, peer, &component, &pattern, true).await
        }
        Verb::Unsubscribe { component, pattern } if forwarded(c, &component) => {
            super::subscriptions::forward(c, peer, &component, &pattern, false).await
        }
        Verb::Subscribe { component, pattern } => {
            super::subscriptions::subscribe(c, peer, &component, &pattern)
        }
        Verb::Unsubscribe { component, pattern } => {
            super::subscriptions::unsubscribe(c, peer, &component, &pattern).await
        }
        Verb::Monitor { component, wait } => down(c, &component, wait).await,
        Verb::Stop { component } => stop(c, peer, &component).await,
        Verb::Restart { component } => restart(c, peer, &component).await,
        Verb::Spawn { spec } => spawn_instance(c, peer, &spec).await,
        Verb::Scale { spec, instances } => scale_spec(c, peer, &spec, instances).await,
        Verb::Upgrade { target, binary } => upgrade(c, peer, &target, binary.0).await,
    }
}

/// The answer to a request that is not a verb.
fn refusal(refused: &VerbError) -> Answer {
    match refused {
        VerbError::NoRoute { .. } => error(404, refused.to_string(), None),
        VerbError::Method { .. } => error(405, refused.to_string(), None),
        VerbError::Query { message, target } => error(400, message.clone(), Some(target)),
        other => error(400, other.to_string(), None),
    }
}

/// Whether component `id` is the cluster's and another host runs it.
fn forwarded(c: &Controller, id: &str) -> bool {
    !c.host.registry().contains(id) && cluster_of(c, id).is_some()
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
async fn send(c: &Controller, peer: SocketAddr, id: &str, body: Vec<u8>) -> Answer {
    audit(peer, "send", id);
    match c.host.send(id, body).await {
        Ok(()) => {
            c.traffic.delivered(id);
            (202, json!({ "component": id, "accepted": true }))
        }
        Err(e) => host_error(&e, Some(id)),
    }
}

/// `POST /v1/components/{id}/request`: the body to `id`, its reply back.
async fn request(
    c: &Controller,
    peer: SocketAddr,
    id: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Answer {
    audit(peer, "request", id);
    let answer = c.host.request(id, body, timeout).await;
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
fn publish(c: &Controller, peer: SocketAddr, subject: &str, body: Vec<u8>) -> Answer {
    audit(peer, "publish", subject);
    match c.host.publish(subject, body) {
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

/// `POST /v1/components/{id}/stop`: stops `id` for good.
async fn stop(c: &Controller, peer: SocketAddr, id: &str) -> Answer {
    audit(peer, "stop", id);
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
async fn restart(c: &Controller, peer: SocketAddr, id: &str) -> Answer {
    audit(peer, "restart", id);
    if let Some(h) = cluster_of(c, id) {
        return super::cluster::operate(h, id, true).await;
    }
    match c.host.restart(id, QUEUE_TIMEOUT).await {
        Ok(()) => (200, json!({ "component": id, "restarted": true })),
        Err(e) => host_error(&e, Some(id)),
    }
}

/// `POST /v1/specs/{name}/spawn`: one more instance of a spec.
async fn spawn_instance(c: &Controller, peer: SocketAddr, name: &str) -> Answer {
    audit(peer, "spawn", name);
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
async fn scale_spec(c: &Controller, peer: SocketAddr, name: &str, n: u32) -> Answer {
    audit(peer, &format!("scale to {n}"), name);
    let specs = c.specs.lock().await;
    let Some(spec) = specs.get(name) else {
        return unknown_spec(name);
    };
    scale(c, spec, n).await
}

/// `POST /v1/upgrade/{target}`: a component or a spec to the body's binary.
async fn upgrade(c: &Controller, peer: SocketAddr, target: &str, body: Vec<u8>) -> Answer {
    if body.is_empty() {
        return error(
            400,
            "upgrade needs the new binary as the request body",
            Some(target),
        );
    }
    audit(peer, "upgrade", target);
    let mut specs = c.specs.lock().await;
    let binary: Arc<[u8]> = body.into();
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
