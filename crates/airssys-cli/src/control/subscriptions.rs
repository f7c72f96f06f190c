//! The control API's subscription routes: a component's topic
//! subscriptions, listed and changed at run time
//! ([`ComponentHost::subscribe`](airssys_wasm::host::ComponentHost::subscribe)),
//! within the component's subscribe grants.
//!
//! | method | path | answers |
//! |---|---|---|
//! | GET | `/v1/components/{id}/subscriptions` | `{component, subscriptions}` |
//! | POST | `/v1/components/{id}/subscribe/{pattern}` | `{component, pattern, added, subscriptions}` (`added` false: it had it) |
//! | POST | `/v1/components/{id}/unsubscribe/{pattern}` | `{component, pattern, removed, subscriptions}` (`removed` false: it had no such subscription) |
//!
//! A pattern outside the grants is 403, a malformed one 400, an id not
//! running on this host 404. On a cluster host, a component of the
//! cluster that another host runs is subscribed there (the answer adds
//! its `host`; 504 when that host does not answer, 409 while its unit
//! runs nowhere).

use serde_json::json;

use std::net::SocketAddr;

use super::answer::{audit, error, host_error, Answer};
use super::Controller;
use crate::cluster::operate::OperateError;
use crate::cluster::peer::SubscriptionRefusal;

/// `GET /v1/components/{id}/subscriptions`.
pub(super) fn list(c: &Controller, id: &str) -> Answer {
    match c.host.subscriptions(id) {
        Ok(patterns) => (200, json!({ "component": id, "subscriptions": patterns })),
        Err(e) => host_error(&e, Some(id)),
    }
}

/// `POST /v1/components/{id}/subscribe/{pattern}`.
pub(super) fn subscribe(c: &Controller, peer: SocketAddr, id: &str, pattern: &str) -> Answer {
    audit(peer, &format!("subscribe {pattern}"), id);
    match c.host.subscribe(id, pattern) {
        Ok(added) => (
            200,
            json!({
                "component": id,
                "pattern": pattern,
                "added": added,
                "subscriptions": c.host.subscriptions(id).unwrap_or_default(),
            }),
        ),
        Err(e) => host_error(&e, Some(id)),
    }
}

/// `POST /v1/components/{id}/unsubscribe/{pattern}`: answers once the
/// topic has let go of the component.
pub(super) async fn unsubscribe(
    c: &Controller,
    peer: SocketAddr,
    id: &str,
    pattern: &str,
) -> Answer {
    audit(peer, &format!("unsubscribe {pattern}"), id);
    match c.host.unsubscribe(id, pattern).await {
        Ok(removed) => (
            200,
            json!({
                "component": id,
                "pattern": pattern,
                "removed": removed,
                "subscriptions": c.host.subscriptions(id).unwrap_or_default(),
            }),
        ),
        Err(e) => host_error(&e, Some(id)),
    }
}

/// `POST /v1/components/{id}/subscribe|unsubscribe/{pattern}` on a cluster
/// host for a component another host runs: done there, the answer as that
/// host's control API would give it, with its `host`.
pub(super) async fn forward(
    c: &Controller,
    peer: SocketAddr,
    id: &str,
    pattern: &str,
    subscribe: bool,
) -> Answer {
    let verb = if subscribe {
        "subscribe"
    } else {
        "unsubscribe"
    };
    audit(peer, &format!("{verb} {pattern}"), id);
    let h = match super::cluster::handle(c) {
        Ok(h) => h,
        Err(answer) => return answer,
    };
    match h.subscription(id, pattern, subscribe).await {
        Ok(change) => {
            let mut body = json!({
                "component": id,
                "pattern": pattern,
                "subscriptions": change.subscriptions,
                "host": change.host,
            });
            body[if subscribe { "added" } else { "removed" }] = change.changed.into();
            (200, body)
        }
        Err(e) => {
            let code = match &e {
                OperateError::UnknownComponent { .. } => 404,
                OperateError::SubscriptionRefused { refusal, .. } => match refusal {
                    SubscriptionRefusal::Denied => 403,
                    SubscriptionRefusal::Invalid => 400,
                    SubscriptionRefusal::Unknown => 404,
                    _ => 502,
                },
                OperateError::Unreachable { .. } => 504,
                _ => 409,
            };
            error(code, e.to_string(), Some(id))
        }
    }
}
