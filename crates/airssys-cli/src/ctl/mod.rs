//! `airssys ctl <addr> <verb>`: drive a running `airssys run` through its
//! control API ([`crate::control`]). Prints a table or a line by default,
//! the API's JSON with `--json`.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;

use crate::control::uri::percent_encode;

pub mod client;

/// One `ctl` command.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Verb {
    /// List components (on a cluster host: every component of the
    /// application, with the host it runs on).
    List,
    /// This host's components by supervision group.
    Tree,
    /// A cluster's live hosts.
    Hosts,
    /// Send a payload to a component.
    Send {
        /// Target component id.
        component: String,
        /// Payload.
        payload: Vec<u8>,
    },
    /// Request from a component and print its reply.
    Request {
        /// Target component id.
        component: String,
        /// Payload.
        payload: Vec<u8>,
        /// Time to wait for the reply.
        timeout: Duration,
    },
    /// Publish on a subject.
    Publish {
        /// The subject.
        subject: String,
        /// Payload.
        payload: Vec<u8>,
    },
    /// Stop a component for good.
    Stop {
        /// The component id.
        component: String,
    },
    /// Restart a component (same mailbox).
    Restart {
        /// The component id.
        component: String,
    },
    /// Start a spec's next instance.
    Spawn {
        /// The `[[component]]` name.
        spec: String,
    },
    /// Run `instances` instances of a spec.
    Scale {
        /// The `[[component]]` name.
        spec: String,
        /// How many.
        instances: u32,
    },
    /// Wait for a component's next down (one long poll; `airssys ctl
    /// monitor` repeats it to print downs as they happen).
    Down {
        /// The component id.
        component: String,
        /// How long the API waits before answering 504.
        wait: Duration,
    },
    /// Subscribe a component to a topic pattern at run time (within its
    /// grants; kept across its restarts).
    Subscribe {
        /// The component id.
        component: String,
        /// The subject pattern.
        pattern: String,
    },
    /// End a component's subscription to exactly a pattern.
    Unsubscribe {
        /// The component id.
        component: String,
        /// The subject pattern.
        pattern: String,
    },
    /// The topic patterns a component is subscribed to.
    Subscriptions {
        /// The component id.
        component: String,
    },
    /// Live-upgrade a spec's instances (or one component) to a binary.
    Upgrade {
        /// A `[[component]]` name or a component id.
        target: String,
        /// The new binary.
        binary: Vec<u8>,
    },
}

/// Why a `ctl` command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtlError {
    /// The control API could not be reached: the connection or its TLS
    /// handshake failed (a server certificate not signed by the CA says so).
    #[error("cannot reach the control API at {addr}: {source}")]
    Connect {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The address cannot be used (an unknown scheme, a host name TLS
    /// cannot check, a token that cannot be a header).
    #[error("cannot use the control API address {addr}: {reason}")]
    Address {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The connection was made but the HTTP exchange broke off (a plain
    /// `http://` request to a TLS port, a server that closed early).
    #[error("the control API at {addr} broke off the exchange: {reason}")]
    Exchange {
        /// The address.
        addr: String,
        /// hyper's error and its causes.
        reason: String,
    },
    /// The API answered with an error.
    #[error("{status}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The API's `error` text.
        message: String,
        /// The whole JSON answer.
        body: Value,
    },
    /// The TLS setup of `https://` could not be made (a CA file).
    #[error("cannot set up TLS for {addr}: {source}")]
    Tls {
        /// The address.
        addr: String,
        /// Why.
        source: crate::control::tls::TlsError,
    },
    /// The answer was not JSON.
    #[error("the control API answered {status} with something that is not JSON")]
    NotJson {
        /// The HTTP status.
        status: u16,
    },
}

impl Verb {
    fn request(&self) -> (&'static str, String, &[u8]) {
        let c = |id: &str| percent_encode(id);
        match self {
            Verb::List => ("GET", "/v1/components".into(), &[]),
            Verb::Tree => ("GET", "/v1/tree".into(), &[]),
            Verb::Hosts => ("GET", "/v1/hosts".into(), &[]),
            Verb::Send { component, payload } => (
                "POST",
                format!("/v1/components/{}/send", c(component)),
                payload,
            ),
            Verb::Request {
                component,
                payload,
                timeout,
            } => (
                "POST",
                format!(
                    "/v1/components/{}/request?timeout_ms={}",
                    c(component),
                    timeout.as_millis().max(1)
                ),
                payload,
            ),
            Verb::Publish { subject, payload } => {
                ("POST", format!("/v1/publish/{}", c(subject)), payload)
            }
            Verb::Stop { component } => {
                ("POST", format!("/v1/components/{}/stop", c(component)), &[])
            }
            Verb::Restart { component } => (
                "POST",
                format!("/v1/components/{}/restart", c(component)),
                &[],
            ),
            Verb::Spawn { spec } => ("POST", format!("/v1/specs/{}/spawn", c(spec)), &[]),
            Verb::Scale { spec, instances } => (
                "POST",
                format!("/v1/specs/{}/scale?instances={instances}", c(spec)),
                &[],
            ),
            Verb::Upgrade { target, binary } => {
                ("POST", format!("/v1/upgrade/{}", c(target)), binary)
            }
            Verb::Subscribe { component, pattern } => (
                "POST",
                format!("/v1/components/{}/subscribe/{}", c(component), c(pattern)),
                &[],
            ),
            Verb::Unsubscribe { component, pattern } => (
                "POST",
                format!("/v1/components/{}/unsubscribe/{}", c(component), c(pattern)),
                &[],
            ),
            Verb::Subscriptions { component } => (
                "GET",
                format!("/v1/components/{}/subscriptions", c(component)),
                &[],
            ),
            Verb::Down { component, wait } => (
                "GET",
                format!(
                    "/v1/components/{}/down?timeout_ms={}",
                    c(component),
                    wait.as_millis().max(1)
                ),
                &[],
            ),
        }
    }
}

/// Runs `verb` against the control API at `addr` and returns its JSON answer.
///
/// # Errors
/// [`CtlError`]: unreachable, an error status (with the API's message), or
/// a non-JSON answer.
pub async fn call(
    addr: &str,
    token: Option<&str>,
    ca: Option<&std::path::Path>,
    verb: &Verb,
) -> Result<Value, CtlError> {
    let (method, path, body) = verb.request();
    // `https://…`: the server's certificate checked against `ca`, or the
    // system's roots.
    let tls = if addr.starts_with("https://") {
        Some(
            crate::control::tls::connector(ca).map_err(|source| CtlError::Tls {
                addr: addr.to_owned(),
                source,
            })?,
        )
    } else {
        None
    };
    let call = client::Call {
        method,
        path,
        body,
        token,
    };
    let response = client::send(addr, tls.as_ref(), &call).await?;
    let status = response.status;
    let json: Value =
        serde_json::from_slice(&response.body).map_err(|_| CtlError::NotJson { status })?;
    if !(200..300).contains(&status) {
        let message = json["error"].as_str().unwrap_or("error").to_owned();
        return Err(CtlError::Api {
            status,
            message,
            body: json,
        });
    }
    Ok(json)
}

/// `airssys ctl monitor`: prints each down of `component` as it happens,
/// one line each (or its JSON with `json`), monitoring again after every
/// restart, until the component is gone for good (a `noproc` or
/// `shutdown` down ends it). Each poll monitors the incarnation running
/// when it reaches the host: a restart between two polls (while a line is
/// printed) is not printed.
///
/// # Errors
/// As [`call`]; a 504 (no down within the poll's wait) just polls again.
pub async fn monitor(
    addr: &str,
    token: Option<&str>,
    ca: Option<&std::path::Path>,
    component: &str,
    json: bool,
) -> Result<(), CtlError> {
    let verb = Verb::Down {
        component: component.to_owned(),
        wait: Duration::from_secs(60),
    };
    loop {
        let answer = match call(addr, token, ca, &verb).await {
            Ok(answer) => answer,
            Err(CtlError::Api { status: 504, .. }) => continue,
            Err(other) => return Err(other),
        };
        if json {
            println!("{answer}");
        } else {
            println!("{}", render(&verb, &answer));
        }
        if matches!(answer["reason"].as_str(), Some("noproc" | "shutdown")) {
            return Ok(());
        }
    }
}

/// The human-readable form of a successful answer to `verb`.
pub fn render(verb: &Verb, answer: &Value) -> String {
    let s = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    match verb {
        Verb::Tree => render_tree(answer),
        Verb::List => {
            let rows: Vec<&Value> = answer["components"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            // A cluster host names each component's host.
            let cluster = answer.get("host").is_some();
            let mut out = String::new();
            if cluster {
                let _ = write!(out, "{:<16} ", "HOST");
            }
            let _ = writeln!(
                out,
                "{:<24} {:<9} {:>8} {:>9} {:>7} {:>8} {:>7} {:>8}",
                "COMPONENT",
                "STATE",
                "RESTARTS",
                "HANDLED",
                "FAILED",
                "MAILBOX",
                "DENIED",
                "UPGRADES"
            );
            for c in rows {
                if cluster {
                    let _ = write!(out, "{:<16} ", s(&c["host"]));
                }
                let _ = write!(
                    out,
                    "{:<24} {:<9} {:>8} {:>9} {:>7} {:>8} {:>7} {:>8}",
                    s(&c["id"]),
                    s(&c["state"]),
                    s(&c["restarts"]),
                    s(&c["handled"]),
                    s(&c["failed"]),
                    s(&c["mailbox"]),
                    s(&c["denied"]),
                    s(&c["upgrades"]),
                );
                if let Some(why) = c["last_failure"].as_str() {
                    let _ = write!(out, "  ({why})");
                }
                if let Some(pending) = c["restart"]["text"].as_str() {
                    let _ = write!(out, "  ({pending})");
                }
                out.push('\n');
            }
            for u in answer["unreachable"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "host {} did not answer: {}",
                    s(&u["host"]),
                    s(&u["error"])
                );
            }
            out.trim_end().to_owned()
        }
        Verb::Hosts => {
            let mut out = format!(
                "{:<16} {:<10} {:>8} {:>10} {:<8} {:<22} {:<20} {:<9} UNITS\n",
                "HOST",
                "SESSION",
                "CAPACITY",
                "COMPONENTS",
                "VERSION",
                "CONTROL",
                "LABELS",
                "STATE"
            );
            for h in answer["hosts"].as_array().into_iter().flatten() {
                let list = |v: &Value| {
                    v.as_array()
                        .map(|a| a.iter().map(s).collect::<Vec<_>>().join(","))
                        .filter(|l| !l.is_empty())
                        .unwrap_or_else(|| "-".into())
                };
                let state = if h["leaving"] == true {
                    "leaving"
                } else if h["ready"] == true {
                    "ready"
                } else {
                    "joining"
                };
                let mut id = s(&h["id"]);
                if h["this_host"] == true {
                    id.push('*');
                }
                let session: String = s(&h["session"]).chars().take(10).collect();
                let _ = writeln!(
                    out,
                    "{:<16} {:<10} {:>8} {:>10} {:<8} {:<22} {:<20} {:<9} {}",
                    id,
                    session,
                    s(&h["capacity"]),
                    s(&h["components"]),
                    s(&h["version"]),
                    s(&h["control"]),
                    list(&h["labels"]),
                    state,
                    list(&h["units"]),
                );
            }
            out.trim_end().to_owned()
        }
        Verb::Send { component, .. } => format!("sent to {component}"),
        // Decoded when the reply says how (multicodec JSON or CBOR); the
        // text otherwise.
        Verb::Request { .. } => match (&answer["reply_decoded"], &answer["reply"]) {
            (_, Value::Null) => "(no reply)".into(),
            (Value::String(shown), _) => shown.clone(),
            (_, reply) => s(reply),
        },
        Verb::Publish { subject, .. } => format!(
            "published on {subject}: {} subscriber(s) matched, {} delivered",
            s(&answer["matched"]),
            s(&answer["delivered"])
        ),
        Verb::Stop { component } => format!("stopped {component}"),
        Verb::Subscribe { component, pattern } => {
            let already = if answer["added"] == false {
                " (already)"
            } else {
                ""
            };
            format!(
                "{component} subscribed to {pattern}{already}; subscriptions: {}",
                patterns(&answer["subscriptions"])
            )
        }
        Verb::Unsubscribe { component, pattern } => {
            let what = if answer["removed"] == true {
                "unsubscribed from"
            } else {
                "was not subscribed to"
            };
            format!(
                "{component} {what} {pattern}; subscriptions: {}",
                patterns(&answer["subscriptions"])
            )
        }
        Verb::Subscriptions { component } => {
            format!("{component}: {}", patterns(&answer["subscriptions"]))
        }
        Verb::Down { .. } => {
            let mut line = format!("{} down: {}", s(&answer["component"]), s(&answer["reason"]));
            if let Some(detail) = answer["detail"].as_str().filter(|d| !d.is_empty()) {
                let _ = write!(line, " ({detail})");
            }
            line
        }
        Verb::Restart { component } => format!("restarted {component}"),
        Verb::Spawn { spec } => format!("spawned {} from {spec}", s(&answer["component"])),
        Verb::Scale { spec, .. } => {
            let list = |v: &Value| {
                v.as_array()
                    .map(|a| a.iter().map(s).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            };
            format!(
                "{spec}: running [{}]; started [{}]; stopped [{}]",
                list(&answer["instances"]),
                list(&answer["started"]),
                list(&answer["stopped"])
            )
        }
        Verb::Upgrade { .. } => {
            let mut out = String::new();
            for r in answer["upgraded"].as_array().into_iter().flatten() {
                let state = match r["state_bytes"].as_u64() {
                    Some(n) => format!("{n} bytes of state handed over"),
                    None => "no state hand-over".into(),
                };
                let _ = writeln!(
                    out,
                    "upgraded {} (upgrade #{}; {state})",
                    s(&r["component"]),
                    s(&r["upgrades"])
                );
            }
            if out.is_empty() {
                out = "no running instance; new instances will run the new binary".into();
            }
            out.trim_end().to_owned()
        }
    }
}

/// A JSON list of patterns as `a, b`, or `none`.
fn patterns(list: &Value) -> String {
    let all: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

/// `list --tree`: each group indented under its parent, its components
/// under it.
fn render_tree(answer: &Value) -> String {
    let groups: Vec<&Value> = answer["groups"].as_array().into_iter().flatten().collect();
    let mut out = String::new();
    fn walk(groups: &[&Value], parent: Option<&str>, depth: usize, out: &mut String) {
        for g in groups.iter().filter(|g| g["parent"].as_str() == parent) {
            let name = g["name"].as_str().unwrap_or("?");
            let i = &g["intensity"];
            let _ = writeln!(
                out,
                "{:indent$}{name}  {}  restarts {}/{} in {}ms",
                "",
                g["strategy"].as_str().unwrap_or("?"),
                i["used"],
                i["max"],
                i["within_ms"],
                indent = depth * 2
            );
            for c in g["components"].as_array().into_iter().flatten() {
                let _ = write!(
                    out,
                    "{:indent$}{:<24} {}",
                    "",
                    c["id"].as_str().unwrap_or("?"),
                    c["state"].as_str().unwrap_or("?"),
                    indent = depth * 2 + 2
                );
                if let Some(pending) = c["restart"]["text"].as_str() {
                    let _ = write!(out, "  ({pending})");
                }
                out.push('\n');
            }
            walk(groups, Some(name), depth + 1, out);
        }
    }
    walk(&groups, None, 0, &mut out);
    out.trim_end().to_owned()
}
