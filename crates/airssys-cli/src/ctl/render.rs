//! The human-readable form of the control API's answers: a table for the
//! listings, a line for the operations.

use std::fmt::Write as _;

use serde_json::Value;

use super::Verb;

/// A JSON value as a table cell: strings bare, null `-`.
fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// A JSON list as `a<sep>b`, or `none_text` when empty or absent.
fn joined(v: &Value, sep: &str, none_text: &str) -> String {
    v.as_array()
        .map(|a| a.iter().map(cell).collect::<Vec<_>>().join(sep))
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| none_text.into())
}

/// The human-readable form of a successful answer to `verb`.
pub fn render(verb: &Verb, answer: &Value) -> String {
    match verb {
        Verb::List { tree: true } => tree(answer),
        Verb::List { tree: false } => components(answer),
        Verb::Hosts => hosts(answer),
        Verb::Specs => answer["specs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                format!(
                    "{}: [{}]",
                    cell(&s["name"]),
                    joined(&s["instances"], ", ", "")
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Verb::Send { component, .. } => format!("sent to {component}"),
        // Decoded when the reply says how (multicodec JSON or CBOR); the
        // text otherwise.
        Verb::Request { .. } => match (&answer["reply_decoded"], &answer["reply"]) {
            (_, Value::Null) => "(no reply)".into(),
            (Value::String(shown), _) => shown.clone(),
            (_, reply) => cell(reply),
        },
        Verb::Publish { subject, .. } => format!(
            "published on {subject}: {} subscriber(s) matched, {} delivered",
            cell(&answer["matched"]),
            cell(&answer["delivered"])
        ),
        Verb::Stop { component } => format!("stopped {component}"),
        Verb::Restart { component } => format!("restarted {component}"),
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
        Verb::Monitor { .. } => down(answer),
        Verb::Spawn { spec } => format!("spawned {} from {spec}", cell(&answer["component"])),
        Verb::Scale { spec, .. } => format!(
            "{spec}: running [{}]; started [{}]; stopped [{}]",
            joined(&answer["instances"], ", ", ""),
            joined(&answer["started"], ", ", ""),
            joined(&answer["stopped"], ", ", "")
        ),
        Verb::Upgrade { .. } => upgraded(answer),
    }
}

/// `list`: one row per component (a cluster host adds its `HOST`), then
/// the hosts that did not answer.
fn components(answer: &Value) -> String {
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
        "COMPONENT", "STATE", "RESTARTS", "HANDLED", "FAILED", "MAILBOX", "DENIED", "UPGRADES"
    );
    for c in rows {
        if cluster {
            let _ = write!(out, "{:<16} ", cell(&c["host"]));
        }
        let _ = write!(
            out,
            "{:<24} {:<9} {:>8} {:>9} {:>7} {:>8} {:>7} {:>8}",
            cell(&c["id"]),
            cell(&c["state"]),
            cell(&c["restarts"]),
            cell(&c["handled"]),
            cell(&c["failed"]),
            cell(&c["mailbox"]),
            cell(&c["denied"]),
            cell(&c["upgrades"]),
        );
        if let Some(why) = c["last_failure"].as_str() {
            let _ = write!(out, "  ({why})");
        }
        if let Some(pending) = c["restart"]["text"].as_str() {
            let _ = write!(out, "  ({pending})");
        }
        if let Some(ended) = c["ended"]["text"].as_str() {
            let _ = write!(out, "  ({ended})");
        }
        out.push('\n');
    }
    for u in answer["unreachable"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "host {} did not answer: {}",
            cell(&u["host"]),
            cell(&u["error"])
        );
    }
    out.trim_end().to_owned()
}

/// `hosts`: one row per live host, this one starred.
fn hosts(answer: &Value) -> String {
    let mut out = format!(
        "{:<16} {:<10} {:>8} {:>10} {:<8} {:<22} {:<20} {:<9} UNITS\n",
        "HOST", "SESSION", "CAPACITY", "COMPONENTS", "VERSION", "CONTROL", "LABELS", "STATE"
    );
    for h in answer["hosts"].as_array().into_iter().flatten() {
        let state = if h["leaving"] == true {
            "leaving"
        } else if h["ready"] == true {
            "ready"
        } else {
            "joining"
        };
        let mut id = cell(&h["id"]);
        if h["this_host"] == true {
            id.push('*');
        }
        let session: String = cell(&h["session"]).chars().take(10).collect();
        let _ = writeln!(
            out,
            "{:<16} {:<10} {:>8} {:>10} {:<8} {:<22} {:<20} {:<9} {}",
            id,
            session,
            cell(&h["capacity"]),
            cell(&h["components"]),
            cell(&h["version"]),
            cell(&h["control"]),
            joined(&h["labels"], ",", "-"),
            state,
            joined(&h["units"], ",", "-"),
        );
    }
    out.trim_end().to_owned()
}

/// `monitor`: one down, `id down: reason (detail)`.
fn down(answer: &Value) -> String {
    let mut line = format!(
        "{} down: {}",
        cell(&answer["component"]),
        cell(&answer["reason"])
    );
    if let Some(detail) = answer["detail"].as_str().filter(|d| !d.is_empty()) {
        let _ = write!(line, " ({detail})");
    }
    line
}

/// `upgrade`: a line per upgraded instance.
fn upgraded(answer: &Value) -> String {
    let mut out = String::new();
    for r in answer["upgraded"].as_array().into_iter().flatten() {
        let state = match r["state_bytes"].as_u64() {
            Some(n) => format!("{n} bytes of state handed over"),
            None => "no state hand-over".into(),
        };
        let _ = writeln!(
            out,
            "upgraded {} (upgrade #{}; {state})",
            cell(&r["component"]),
            cell(&r["upgrades"])
        );
    }
    if out.is_empty() {
        out = "no running instance; new instances will run the new binary".into();
    }
    out.trim_end().to_owned()
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
fn tree(answer: &Value) -> String {
    let groups: Vec<&Value> = answer["groups"].as_array().into_iter().flatten().collect();
    let mut out = String::new();
    walk(&groups, None, 0, &mut out);
    out.trim_end().to_owned()
}

/// The groups whose parent is `parent`, at `depth`, then their children.
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
