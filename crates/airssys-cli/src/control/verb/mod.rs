//! The control API's verbs, defined once: `airssys ctl`'s subcommands
//! (clap derive), the request `ctl` sends for each ([`Verb::request`]) and
//! the verb the server reads back out of a request ([`Verb::from_http`]),
//! which the route table then matches. Adding a verb is a variant here,
//! its two arms below, and its handler in `routes.rs` (the compiler asks
//! for each).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::uri::percent_encode;

/// Default wait for a request's reply: 5 s (`ctl request --timeout`, and
/// the API's without `timeout_ms`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Default wait of one `monitor` poll: 60 s (the API answers 504 after it
/// and `ctl monitor` polls again).
pub const DEFAULT_DOWN_WAIT: Duration = Duration::from_secs(60);

/// A payload as sent: on the command line the text given (UTF-8), on the
/// server the request body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload(pub Vec<u8>);

/// A payload codec `ctl --encode` can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PayloadCodec {
    /// Multicodec JSON (prefix 80 04).
    Json,
    /// Multicodec CBOR (prefix 51).
    Cbor,
}

/// One operation of the control API.
#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
#[non_exhaustive]
pub enum Verb {
    /// Every component: state, restarts, counters, mailbox length, upgrades
    /// (on a cluster host: every component of the application, with its host).
    List {
        /// Grouped by supervision tree (this host's): each group with its
        /// strategy and the restart intensity it used of what it may.
        #[arg(long)]
        tree: bool,
    },
    /// The manifest's `[[component]]` specs and the instances of each that
    /// run.
    Specs,
    /// A cluster's live hosts: session, capacity, labels, version, control
    /// address, components, state, the units each owns.
    Hosts,
    /// Send a payload to a component (fire-and-forget).
    Send {
        /// The component id.
        component: String,
        /// The payload (UTF-8 text, or JSON with --encode).
        #[arg(value_parser = text_payload)]
        payload: Payload,
        /// Parse the payload as JSON and send it multicodec-encoded (json:
        /// prefix 80 04 then the JSON; cbor: prefix 51 then CBOR).
        #[arg(long, value_enum, value_name = "CODEC")]
        encode: Option<PayloadCodec>,
    },
    /// Send a request and print the reply (a multicodec JSON or CBOR reply
    /// decoded).
    Request {
        /// The component id.
        component: String,
        /// The payload (UTF-8 text, or JSON with --encode).
        #[arg(value_parser = text_payload)]
        payload: Payload,
        /// How long to wait for the reply.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        timeout: Duration,
        /// Parse the payload as JSON and send it multicodec-encoded.
        #[arg(long, value_enum, value_name = "CODEC")]
        encode: Option<PayloadCodec>,
    },
    /// Publish a payload on a subject.
    Publish {
        /// The subject.
        subject: String,
        /// The payload (UTF-8 text, or JSON with --encode).
        #[arg(value_parser = text_payload)]
        payload: Payload,
        /// Parse the payload as JSON and publish it multicodec-encoded.
        #[arg(long, value_enum, value_name = "CODEC")]
        encode: Option<PayloadCodec>,
    },
    /// Stop a component for good.
    Stop {
        /// The component id.
        component: String,
    },
    /// Restart a component after its queued messages (same mailbox).
    Restart {
        /// The component id.
        component: String,
    },
    /// Start the next instance of a manifest `[[component]]`.
    Spawn {
        /// The `[[component]]` name.
        spec: String,
    },
    /// Start or stop instances of a `[[component]]` until N run.
    Scale {
        /// The `[[component]]` name.
        spec: String,
        /// How many instances.
        instances: u32,
    },
    /// Print a component's downs as they happen (stop, crash, restart,
    /// with the reason), until it is gone for good. Each poll of the API
    /// waits for the component's next down.
    Monitor {
        /// The component id.
        component: String,
        /// How long one poll waits for a down before polling again.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        wait: Duration,
    },
    /// Subscribe a component to a topic pattern while it runs (`*` one
    /// token, a final `>` the rest). Allowed inside the component's
    /// `allow_subscribe` and `subscribe` patterns; kept across its restarts
    /// until it stops.
    Subscribe {
        /// The component id.
        component: String,
        /// The subject pattern.
        pattern: String,
    },
    /// End a component's subscription to exactly this pattern (one of its
    /// manifest `subscribe` patterns included).
    Unsubscribe {
        /// The component id.
        component: String,
        /// The subject pattern, as subscribed.
        pattern: String,
    },
    /// The topic patterns a component is subscribed to now.
    Subscriptions {
        /// The component id.
        component: String,
    },
    /// Replace the binary of a `[[component]]`'s instances (or of one
    /// component) while they run, without losing a message.
    Upgrade {
        /// A `[[component]]` name (every instance) or a component id.
        target: String,
        /// The new .wasm or .wat file (read when the command is parsed).
        #[arg(value_name = "FILE", value_parser = file_payload)]
        binary: Payload,
    },
}

/// The HTTP request of a verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall<'a> {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path and query, percent-encoded.
    pub path: String,
    /// The body.
    pub body: Cow<'a, [u8]>,
}

/// Why a verb cannot be sent, or a request is not a verb.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerbError {
    /// `--encode` was given a payload that is not JSON, or one the codec
    /// cannot encode.
    #[error("--encode: {0}")]
    Encode(String),
    /// No verb has this path.
    #[error("no route {method} /{path}")]
    NoRoute {
        /// The request's method.
        method: String,
        /// Its path, decoded, without the leading `/`.
        path: String,
    },
    /// A verb has this path, with another method.
    #[error("use {wants}")]
    Method {
        /// The method the path takes.
        wants: &'static str,
    },
    /// A query parameter is missing or malformed.
    #[error("{message}")]
    Query {
        /// What is wrong, in words.
        message: String,
        /// The component or spec the request names.
        target: String,
    },
}

impl Verb {
    /// The request `ctl` sends for this verb: its method, its path (ids,
    /// subjects and patterns percent-encoded as one segment each) and its
    /// body, the payload encoded as `--encode` says.
    ///
    /// # Errors
    /// [`VerbError::Encode`] for an `--encode` payload that is not JSON.
    pub fn request(&self) -> Result<HttpCall<'_>, VerbError> {
        let c = |id: &str| percent_encode(id);
        let ms = |d: &Duration| d.as_millis().max(1);
        let (method, path, body): (_, _, Cow<'_, [u8]>) = match self {
            Verb::List { tree: false } => ("GET", "/v1/components".into(), Cow::Borrowed(&[])),
            Verb::List { tree: true } => ("GET", "/v1/tree".into(), Cow::Borrowed(&[])),
            Verb::Hosts => ("GET", "/v1/hosts".into(), Cow::Borrowed(&[])),
            Verb::Specs => ("GET", "/v1/specs".into(), Cow::Borrowed(&[])),
            Verb::Send {
                component,
                payload,
                encode,
            } => (
                "POST",
                format!("/v1/components/{}/send", c(component)),
                encoded(payload, *encode)?,
            ),
            Verb::Request {
                component,
                payload,
                timeout,
                encode,
            } => (
                "POST",
                format!(
                    "/v1/components/{}/request?timeout_ms={}",
                    c(component),
                    ms(timeout)
                ),
                encoded(payload, *encode)?,
            ),
            Verb::Publish {
                subject,
                payload,
                encode,
            } => (
                "POST",
                format!("/v1/publish/{}", c(subject)),
                encoded(payload, *encode)?,
            ),
            Verb::Stop { component } => (
                "POST",
                format!("/v1/components/{}/stop", c(component)),
                Cow::Borrowed(&[]),
            ),
            Verb::Restart { component } => (
                "POST",
                format!("/v1/components/{}/restart", c(component)),
                Cow::Borrowed(&[]),
            ),
            Verb::Spawn { spec } => (
                "POST",
                format!("/v1/specs/{}/spawn", c(spec)),
                Cow::Borrowed(&[]),
            ),
            Verb::Scale { spec, instances } => (
                "POST",
                format!("/v1/specs/{}/scale?instances={instances}", c(spec)),
                Cow::Borrowed(&[]),
            ),
            Verb::Monitor { component, wait } => (
                "GET",
                format!(
                    "/v1/components/{}/down?timeout_ms={}",
                    c(component),
                    ms(wait)
                ),
                Cow::Borrowed(&[]),
            ),
            Verb::Subscribe { component, pattern } => (
                "POST",
                format!("/v1/components/{}/subscribe/{}", c(component), c(pattern)),
                Cow::Borrowed(&[]),
            ),
            Verb::Unsubscribe { component, pattern } => (
                "POST",
                format!("/v1/components/{}/unsubscribe/{}", c(component), c(pattern)),
                Cow::Borrowed(&[]),
            ),
            Verb::Subscriptions { component } => (
                "GET",
                format!("/v1/components/{}/subscriptions", c(component)),
                Cow::Borrowed(&[]),
            ),
            Verb::Upgrade { target, binary } => (
                "POST",
                format!("/v1/upgrade/{}", c(target)),
                Cow::Borrowed(binary.0.as_slice()),
            ),
        };
        Ok(HttpCall { method, path, body })
    }

    /// The verb of a request to the control API: `method` on the decoded
    /// path `segments` with its `query`, `body` its payload (already
    /// encoded: `encode` is `None`).
    ///
    /// # Errors
    /// [`VerbError::NoRoute`] (404), [`VerbError::Method`] (405),
    /// [`VerbError::Query`] (400).
    pub fn from_http(
        method: &str,
        segments: &[String],
        query: &HashMap<String, String>,
        body: Vec<u8>,
    ) -> Result<Verb, VerbError> {
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let s = |v: &str| v.to_owned();
        let payload = Payload(body);
        let route = match segs.as_slice() {
            ["v1", "components", id, rest @ ..] if !rest.is_empty() => {
                component_route(id, rest, query, payload)
            }
            ["v1", "components"] => Some(("GET", Ok(Verb::List { tree: false }))),
            ["v1", "tree"] => Some(("GET", Ok(Verb::List { tree: true }))),
            ["v1", "hosts"] => Some(("GET", Ok(Verb::Hosts))),
            ["v1", "specs"] => Some(("GET", Ok(Verb::Specs))),
            ["v1", "publish", subject] => Some((
                "POST",
                Ok(Verb::Publish {
                    subject: s(subject),
                    payload,
                    encode: None,
                }),
            )),
            ["v1", "specs", name, "spawn"] => Some(("POST", Ok(Verb::Spawn { spec: s(name) }))),
            ["v1", "specs", name, "scale"] => Some((
                "POST",
                match query.get("instances").and_then(|n| n.parse::<u32>().ok()) {
                    Some(instances) => Ok(Verb::Scale {
                        spec: s(name),
                        instances,
                    }),
                    None => Err(VerbError::Query {
                        message: "scale needs ?instances=N (a non-negative integer)".into(),
                        target: s(name),
                    }),
                },
            )),
            ["v1", "upgrade", target] => Some((
                "POST",
                Ok(Verb::Upgrade {
                    target: s(target),
                    binary: payload,
                }),
            )),
            _ => None,
        };
        let Some((wants, verb)) = route else {
            return Err(VerbError::NoRoute {
                method: method.to_owned(),
                path: segs.join("/"),
            });
        };
        if method != wants {
            return Err(VerbError::Method { wants });
        }
        verb
    }
}

/// The routes under `/v1/components/{id}/...`: the method each wants and
/// the verb (or the query's error); `None` for no such route.
fn component_route(
    id: &str,
    rest: &[&str],
    query: &HashMap<String, String>,
    payload: Payload,
) -> Option<(&'static str, Result<Verb, VerbError>)> {
    let component = id.to_owned();
    Some(match rest {
        ["send"] => (
            "POST",
            Ok(Verb::Send {
                component,
                payload,
                encode: None,
            }),
        ),
        ["request"] => (
            "POST",
            millis(query, id, DEFAULT_REQUEST_TIMEOUT, |ms| {
                format!("bad timeout_ms `{ms}`: a positive integer")
            })
            .map(|timeout| Verb::Request {
                component,
                payload,
                timeout,
                encode: None,
            }),
        ),
        ["stop"] => ("POST", Ok(Verb::Stop { component })),
        ["restart"] => ("POST", Ok(Verb::Restart { component })),
        ["down"] => (
            "GET",
            millis(query, id, DEFAULT_DOWN_WAIT, |_| {
                "timeout_ms must be a positive integer".into()
            })
            .map(|wait| Verb::Monitor { component, wait }),
        ),
        ["subscribe", pattern] => (
            "POST",
            Ok(Verb::Subscribe {
                component,
                pattern: (*pattern).to_owned(),
            }),
        ),
        ["unsubscribe", pattern] => (
            "POST",
            Ok(Verb::Unsubscribe {
                component,
                pattern: (*pattern).to_owned(),
            }),
        ),
        ["subscriptions"] => ("GET", Ok(Verb::Subscriptions { component })),
        _ => return None,
    })
}

/// `timeout_ms` of `query` as a duration, `default` without one.
fn millis(
    query: &HashMap<String, String>,
    target: &str,
    default: Duration,
    bad: impl FnOnce(&str) -> String,
) -> Result<Duration, VerbError> {
    match query.get("timeout_ms") {
        None => Ok(default),
        Some(ms) => match ms.parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
            _ => Err(VerbError::Query {
                message: bad(ms),
                target: target.to_owned(),
            }),
        },
    }
}

/// The body of a payload: as given, or parsed as JSON and encoded with
/// `codec`.
fn encoded(payload: &Payload, codec: Option<PayloadCodec>) -> Result<Cow<'_, [u8]>, VerbError> {
    let Some(codec) = codec else {
        return Ok(Cow::Borrowed(&payload.0));
    };
    let value: serde_json::Value = serde_json::from_slice(&payload.0)
        .map_err(|e| VerbError::Encode(format!("the payload is not JSON: {e}")))?;
    match codec {
        PayloadCodec::Json => airssys_wasm::codec::encode_json(&value),
        PayloadCodec::Cbor => airssys_wasm::codec::encode_cbor(&value),
    }
    .map(Cow::Owned)
    .map_err(|e| VerbError::Encode(e.to_string()))
}

/// A payload given on the command line: its UTF-8 bytes.
fn text_payload(text: &str) -> Result<Payload, std::convert::Infallible> {
    Ok(Payload(text.as_bytes().to_vec()))
}

/// A payload named by its file: the file's bytes.
fn file_payload(path: &str) -> Result<Payload, String> {
    std::fs::read(PathBuf::from(path))
        .map(Payload)
        .map_err(|e| format!("cannot read {path}: {e}"))
}

/// A duration in the manifest's notation ("5s", "2m").
fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::manifest::units::parse_duration(s)
}

#[cfg(test)]
mod tests;
