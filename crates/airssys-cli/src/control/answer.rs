//! What a control API route answers: a status and a JSON body, and the
//! shape of an error. Shared by the routes and the cluster's routes.

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
