//! What a control API route is given (a parsed request) and answers (a
//! status and a JSON body), the shape of an error and of a host error, and
//! the audit line of a mutating call. Shared by the routes, the cluster's
//! routes and the subscription routes.

use std::collections::HashMap;
use std::net::SocketAddr;

use airssys_wasm::host::HostError;
use serde_json::{json, Value};

/// A status code and its JSON body.
pub(super) type Answer = (u16, Value);

/// `{"error": message, "component": component}`.
pub(super) fn error_body(message: &str, component: Option<&str>) -> Value {
    json!({ "error": message, "component": component })
}

/// An error answer with `code`.
pub(super) fn error(code: u16, message: impl Into<String>, component: Option<&str>) -> Answer {
    (code, error_body(&message.into(), component))
}

/// One parsed request.
pub(super) struct Request<'a> {
    pub(super) peer: SocketAddr,
    pub(super) method: &'a str,
    pub(super) segments: &'a [String],
    pub(super) query: &'a HashMap<String, String>,
    pub(super) body: Vec<u8>,
}

/// The status a host error maps to.
pub(super) fn host_error(error: &HostError, component: Option<&str>) -> Answer {
    let code = match error {
        HostError::UnknownComponent { .. } => 404,
        HostError::AlreadyExists { .. }
        | HostError::ComponentStopped { .. }
        | HostError::ShuttingDown => 409,
        HostError::MessageTooLarge { .. } => 413,
        HostError::InvalidSubject { .. } | HostError::InvalidSubscription { .. } => 400,
        HostError::SubscriptionDenied { .. } => 403,
        HostError::Wasm(_) | HostError::UpgradeFailed { .. } | HostError::Guest(_) => 422,
        HostError::Timeout { .. } => 504,
        _ => 502,
    };
    let mut body = error_body(&error.to_string(), component);
    if let HostError::UpgradeFailed { rolled_back, .. } = error {
        body["rolled_back"] = rolled_back.iter().map(|c| c.as_str()).collect();
    }
    (code, body)
}

/// Logs a mutating call: who, what, on what.
pub(super) fn audit(peer: SocketAddr, action: &str, target: &str) {
    tracing::info!(%peer, action, component = target, "control");
}
