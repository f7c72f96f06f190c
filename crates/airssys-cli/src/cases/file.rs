//! A cases file: which manifest's components to start, and the cases to run
//! against them, read and checked before anything starts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use airssys_wasm::codec;
use bytes::Bytes;
use serde::Deserialize;

use crate::manifest::units::HumanDuration;
use crate::manifest::{ComponentDef, Manifest, ManifestError};

/// How long an expectation waits when the file does not say.
pub const DEFAULT_CASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a cases file cannot be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CasesFileError {
    /// The file could not be read.
    #[error("{}: cannot read the cases file: {source}", file.display())]
    Read {
        /// The cases file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the cases format.
    #[error("{}: {message}", file.display())]
    Parse {
        /// The cases file.
        file: PathBuf,
        /// toml's message, with the line and column.
        message: String,
    },
    /// The manifest it names is refused.
    #[error("{}: its manifest is refused: {source}", file.display())]
    Manifest {
        /// The cases file.
        file: PathBuf,
        /// Why the manifest was refused.
        source: Box<ManifestError>,
    },
    /// A case or step is inconsistent.
    #[error("{}: case `{case}`, step {step}: {message}", file.display())]
    Step {
        /// The cases file.
        file: PathBuf,
        /// The case's name.
        case: String,
        /// The step's number, from 1.
        step: usize,
        /// What is wrong.
        message: String,
    },
    /// Something outside the cases is inconsistent (no case, an unknown
    /// component in `components`, two cases with one name).
    #[error("{}: {message}", file.display())]
    Invalid {
        /// The cases file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCases {
    manifest: String,
    components: Option<Vec<String>>,
    timeout: Option<HumanDuration>,
    #[serde(default, rename = "case")]
    cases: Vec<RawCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    #[serde(default)]
    steps: Vec<RawStep>,
}

/// One step as written: exactly one action key, and the keys that go with it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    send: Option<String>,
    request: Option<String>,
    publish: Option<String>,
    crash: Option<String>,
    expect_publish: Option<String>,
    expect_no_publish: Option<String>,
    expect_dead_letter: Option<String>,
    expect_restart: Option<String>,
    expect_handled: Option<String>,
    count: Option<u64>,
    payload: Option<String>,
    json: Option<toml::Value>,
    reply: Option<String>,
    reply_json: Option<toml::Value>,
    error: Option<String>,
    from: Option<String>,
    target: Option<String>,
    within: Option<HumanDuration>,
}

/// What a step's payload is: text, or a value sent as multicodec JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadSpec {
    /// UTF-8 text as written.
    Text(String),
    /// A value, encoded as multicodec JSON.
    Json(serde_json::Value),
}

impl PayloadSpec {
    /// The bytes sent, or compared with.
    pub fn bytes(&self) -> Bytes {
        match self {
            PayloadSpec::Text(t) => Bytes::from(t.clone().into_bytes()),
            // A `serde_json::Value` always encodes.
            PayloadSpec::Json(v) => Bytes::from(codec::encode_json(v).unwrap_or_default()),
        }
    }

    /// Whether `actual` is this payload: the same text, or multicodec JSON
    /// of an equal value (key order and number spelling do not matter).
    pub fn matches(&self, actual: &[u8]) -> bool {
        match self {
            PayloadSpec::Text(t) => actual == t.as_bytes(),
            PayloadSpec::Json(v) => {
                codec::decode_json::<serde_json::Value>(actual).is_ok_and(|a| json_equal(&a, v))
            }
        }
    }
}

/// Equal JSON values, numbers compared by value (`-6` equals `-6.0`: a
/// JavaScript guest writes whole floats without the fraction).
fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| json_equal(a, b)))
        }
        _ => a == b,
    }
}

impl std::fmt::Display for PayloadSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayloadSpec::Text(t) => write!(f, "{t:?}"),
            PayloadSpec::Json(v) => write!(f, "json {v}"),
        }
    }
}

/// What a request step expects of the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyExpectation {
    /// Any answer, even a failure: the step only makes the request.
    Anything,
    /// A reply with this payload.
    Reply(PayloadSpec),
    /// A failed request whose error contains this text (`code 1`,
    /// `timed out`, ...).
    Error(String),
}

/// One step of a case.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send `payload` to component `to`.
    Send {
        /// The component id.
        to: String,
        /// The payload.
        payload: PayloadSpec,
    },
    /// Request from `to` and check the answer.
    Request {
        /// The component id.
        to: String,
        /// The payload.
        payload: PayloadSpec,
        /// What the answer must be.
        expect: ReplyExpectation,
    },
    /// Publish `payload` on `subject` (as the host: every subscriber gets it).
    Publish {
        /// A concrete subject.
        subject: String,
        /// The payload.
        payload: PayloadSpec,
    },
    /// Crash component `id`'s current instance (its supervisor restarts it).
    Crash {
        /// The component id.
        id: String,
    },
    /// A publish on a subject matching `pattern`, optionally from `from`
    /// and with `payload`.
    ExpectPublish {
        /// A subject pattern.
        pattern: String,
        /// The publishing component, if it matters.
        from: Option<String>,
        /// The payload, if it matters.
        payload: Option<PayloadSpec>,
    },
    /// Nothing published on `pattern` within `within`.
    ExpectNoPublish {
        /// A subject pattern.
        pattern: String,
        /// How long to watch.
        within: Duration,
    },
    /// A dead letter with reason label (or reason text) `reason`,
    /// optionally for `target` and with `payload`.
    ExpectDeadLetter {
        /// A reason label (`rejected`, `handler_failed`, ...) or text.
        reason: String,
        /// The component it was for, if it matters.
        target: Option<String>,
        /// The payload, if it matters.
        payload: Option<PayloadSpec>,
    },
    /// Component `id` has handled at least `count` messages (its `handled`
    /// counter; health checks are not messages): a point to wait for, e.g. before
    /// a crash, since a topic message travels through the broker and a
    /// request does not.
    ExpectHandled {
        /// The component id.
        id: String,
        /// How many, at least.
        count: u64,
    },
    /// A restart of component `id` within `within` (default: the timeout).
    ExpectRestart {
        /// The component id.
        id: String,
        /// How long to wait.
        within: Option<Duration>,
    },
}

impl std::fmt::Display for Step {
    /// The step as a line of a report: `request advisor "report"`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Send { to, payload } => write!(f, "send {to} {payload}"),
            Step::Request { to, payload, .. } => write!(f, "request {to} {payload}"),
            Step::Publish { subject, payload } => write!(f, "publish {subject} {payload}"),
            Step::Crash { id } => write!(f, "crash {id}"),
            Step::ExpectPublish { pattern, .. } => write!(f, "expect a publish on {pattern}"),
            Step::ExpectNoPublish { pattern, within } => {
                write!(f, "expect nothing published on {pattern} within {within:?}")
            }
            Step::ExpectDeadLetter { reason, .. } => write!(f, "expect a dead letter `{reason}`"),
            Step::ExpectRestart { id, .. } => write!(f, "expect a restart of {id}"),
            Step::ExpectHandled { id, count } => {
                write!(f, "expect {id} to have handled {count} message(s)")
            }
        }
    }
}

/// A named list of steps, run on a fresh host.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Its name, unique in the file.
    pub name: String,
    /// Its steps, in order.
    pub steps: Vec<Step>,
}

/// A cases file, checked: the manifest loaded, the components to start
/// chosen, every step well-formed.
#[derive(Debug)]
pub struct CasesFile {
    /// The cases file's path.
    pub path: PathBuf,
    /// The manifest it names.
    pub manifest: Manifest,
    /// The manifest's components each case starts.
    pub components: Vec<ComponentDef>,
    /// How long each expectation waits.
    pub timeout: Duration,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

impl CasesFile {
    /// Reads and checks the cases file at `path` (the manifest path in it is
    /// relative to the file's folder).
    ///
    /// # Errors
    /// [`CasesFileError`], naming the file, the case and the step.
    pub fn load(path: &Path) -> Result<CasesFile, CasesFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| CasesFileError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let raw: RawCases = toml::from_str(&text).map_err(|e| CasesFileError::Parse {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', "\n  "),
        })?;
        let invalid = |message: String| CasesFileError::Invalid {
            file: path.to_path_buf(),
            message,
        };
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let manifest =
            Manifest::load(base.join(&raw.manifest)).map_err(|e| CasesFileError::Manifest {
                file: path.to_path_buf(),
                source: Box::new(e),
            })?;
        let components = match &raw.components {
            None => manifest.components.clone(),
            Some(names) => names
                .iter()
                .map(|n| {
                    manifest
                        .components
                        .iter()
                        .find(|c| &c.name == n)
                        .cloned()
                        .ok_or_else(|| {
                            invalid(format!(
                                "`components` names `{n}`, which {} does not have",
                                manifest.path.display()
                            ))
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        if raw.cases.is_empty() {
            return Err(invalid("no `[[case]]` to run".into()));
        }
        let mut cases: Vec<Case> = Vec::with_capacity(raw.cases.len());
        for c in raw.cases {
            if cases.iter().any(|seen| seen.name == c.name) {
                return Err(invalid(format!("two cases are named `{}`", c.name)));
            }
            let steps = c
                .steps
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    step(s).map_err(|message| CasesFileError::Step {
                        file: path.to_path_buf(),
                        case: c.name.clone(),
                        step: i + 1,
                        message,
                    })
                })
                .collect::<Result<_, _>>()?;
            cases.push(Case {
                name: c.name,
                steps,
            });
        }
        Ok(CasesFile {
            path: path.to_path_buf(),
            manifest,
            components,
            timeout: raw.timeout.map_or(DEFAULT_CASE_TIMEOUT, |t| t.0),
            cases,
        })
    }
}

/// The one action step `s` names, or why it names none or several.
fn action_of(s: &RawStep) -> Result<&'static str, String> {
    let actions = [
        ("send", s.send.is_some()),
        ("request", s.request.is_some()),
        ("publish", s.publish.is_some()),
        ("crash", s.crash.is_some()),
        ("expect_publish", s.expect_publish.is_some()),
        ("expect_no_publish", s.expect_no_publish.is_some()),
        ("expect_dead_letter", s.expect_dead_letter.is_some()),
        ("expect_restart", s.expect_restart.is_some()),
        ("expect_handled", s.expect_handled.is_some()),
    ];
    let given: Vec<&str> = actions.iter().filter(|a| a.1).map(|a| a.0).collect();
    match given.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!(
            "a step needs one of {}",
            actions.map(|a| format!("`{}`", a.0)).join(", ")
        )),
        many => Err(format!(
            "a step takes one action, this one has {}",
            many.join(" and ")
        )),
    }
}

/// Refuses an optional key that `action` does not read (`payload` and
/// `reply` tell whether either form of those was given).
fn check_keys(action: &str, s: &RawStep, payload: bool, reply: bool) -> Result<(), String> {
    // Which optional keys each action reads; any other given is an error.
    let allowed: &[&str] = match action {
        "send" | "publish" => &["payload"],
        "request" => &["payload", "reply", "error"],
        "crash" => &[],
        "expect_publish" => &["payload", "from"],
        "expect_no_publish" => &["within"],
        "expect_dead_letter" => &["payload", "target"],
        "expect_handled" => &["count"],
        _ => &["within"],
    };
    let present = [
        ("payload", payload),
        ("reply", reply),
        ("error", s.error.is_some()),
        ("from", s.from.is_some()),
        ("target", s.target.is_some()),
        ("within", s.within.is_some()),
        ("count", s.count.is_some()),
    ];
    if let Some((key, _)) = present.iter().find(|(k, p)| *p && !allowed.contains(k)) {
        let key = match *key {
            "payload" => "payload` or `json",
            "reply" => "reply` or `reply_json",
            other => other,
        };
        return Err(format!("`{action}` does not take `{key}`"));
    }
    Ok(())
}

/// The step `s` is, or why it is none.
fn step(s: RawStep) -> Result<Step, String> {
    let action = action_of(&s)?;
    let payload = payload_of(s.payload.clone(), s.json.clone(), "payload", "json")?;
    let reply = payload_of(s.reply.clone(), s.reply_json.clone(), "reply", "reply_json")?;
    check_keys(action, &s, payload.is_some(), reply.is_some())?;
    let text = |p: Option<PayloadSpec>| p.unwrap_or(PayloadSpec::Text(String::new()));
    Ok(match action {
        "send" => Step::Send {
            to: s.send.unwrap_or_default(),
            payload: text(payload),
        },
        "request" => Step::Request {
            to: s.request.unwrap_or_default(),
            payload: text(payload),
            expect: match (reply, s.error) {
                (Some(_), Some(_)) => {
                    return Err("a request expects a `reply` or an `error`, not both".into())
                }
                (Some(r), None) => ReplyExpectation::Reply(r),
                (None, Some(e)) => ReplyExpectation::Error(e),
                (None, None) => ReplyExpectation::Anything,
            },
        },
        "publish" => {
            let subject = s.publish.unwrap_or_default();
            if subject.contains(['*', '>']) {
                return Err(format!("cannot publish on a pattern: `{subject}`"));
            }
            Step::Publish {
                subject,
                payload: text(payload),
            }
        }
        "crash" => Step::Crash {
            id: s.crash.unwrap_or_default(),
        },
        "expect_publish" => Step::ExpectPublish {
            pattern: s.expect_publish.unwrap_or_default(),
            from: s.from,
            payload,
        },
        "expect_no_publish" => Step::ExpectNoPublish {
            pattern: s.expect_no_publish.unwrap_or_default(),
            within: s
                .within
                .map(|w| w.0)
                .ok_or("`expect_no_publish` needs `within` (how long to watch)")?,
        },
        "expect_dead_letter" => Step::ExpectDeadLetter {
            reason: s.expect_dead_letter.unwrap_or_default(),
            target: s.target,
            payload,
        },
        "expect_handled" => Step::ExpectHandled {
            id: s.expect_handled.unwrap_or_default(),
            count: s
                .count
                .ok_or("`expect_handled` needs `count` (how many, at least)")?,
        },
        _ => Step::ExpectRestart {
            id: s.expect_restart.unwrap_or_default(),
            within: s.within.map(|w| w.0),
        },
    })
}

/// `text` or `json` (not both) as a payload.
fn payload_of(
    text: Option<String>,
    json: Option<toml::Value>,
    text_key: &str,
    json_key: &str,
) -> Result<Option<PayloadSpec>, String> {
    match (text, json) {
        (Some(_), Some(_)) => Err(format!("`{text_key}` or `{json_key}`, not both")),
        (Some(t), None) => Ok(Some(PayloadSpec::Text(t))),
        (None, Some(v)) => serde_json::to_value(v)
            .map(|v| Some(PayloadSpec::Json(v)))
            .map_err(|e| format!("`{json_key}` is not a JSON value: {e}")),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawStep {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_request_with_a_json_reply_is_read() {
        let s = step(raw(
            "request = \"a\"\npayload = \"report\"\nreply_json = { n = 1 }\n",
        ));
        assert_eq!(
            s.unwrap(),
            Step::Request {
                to: "a".into(),
                payload: PayloadSpec::Text("report".into()),
                expect: ReplyExpectation::Reply(PayloadSpec::Json(serde_json::json!({"n": 1}))),
            }
        );
    }

    #[test]
    fn a_step_with_two_actions_or_a_foreign_key_is_refused() {
        let two = step(raw("send = \"a\"\npublish = \"b\"\n")).unwrap_err();
        assert_eq!(
            two,
            "a step takes one action, this one has send and publish"
        );
        let foreign = step(raw("crash = \"a\"\npayload = \"x\"\n")).unwrap_err();
        assert_eq!(foreign, "`crash` does not take `payload` or `json`");
        let none = step(raw("payload = \"x\"\n")).unwrap_err();
        assert!(none.starts_with("a step needs one of `send`"), "{none}");
        let watch = step(raw("expect_no_publish = \"a.>\"\n")).unwrap_err();
        assert!(watch.contains("needs `within`"), "{watch}");
    }

    #[test]
    fn json_payloads_match_by_value() {
        let p = PayloadSpec::Json(serde_json::json!({"celsius": -6.0, "room": "porch"}));
        let js = codec::encode_json(&serde_json::json!({"room": "porch", "celsius": -6})).unwrap();
        assert!(p.matches(&js));
        assert!(!p.matches(b"porch"));
        assert!(PayloadSpec::Text("ok".into()).matches(b"ok"));
    }
}
