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
//! running on this host 404.

use serde_json::json;

use super::answer::{audit, host_error, Answer, Request};
use super::Controller;

/// `GET /v1/components/{id}/subscriptions`.
pub(super) fn list(c: &Controller, id: &str) -> Answer {
    match c.host.subscriptions(id) {
        Ok(patterns) => (200, json!({ "component": id, "subscriptions": patterns })),
        Err(e) => host_error(&e, Some(id)),
    }
}

/// `POST /v1/components/{id}/subscribe/{pattern}`.
pub(super) fn subscribe(c: &Controller, req: &Request<'_>, id: &str, pattern: &str) -> Answer {
    audit(req, &format!("subscribe {pattern}"), id);
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
    req: &Request<'_>,
    id: &str,
    pattern: &str,
) -> Answer {
    audit(req, &format!("unsubscribe {pattern}"), id);
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
