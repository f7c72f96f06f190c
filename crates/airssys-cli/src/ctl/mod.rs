//! `airssys ctl <addr> <verb>`: drive a running `airssys run` through its
//! control API ([`crate::control`]). Prints a table or a line by default,
//! the API's JSON with `--json`.

use std::time::Duration;

use serde_json::Value;

pub use crate::control::verb::{Payload, PayloadCodec, Verb, VerbError};
pub use render::render;

pub mod client;
mod render;

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
    /// The verb cannot be sent as given (`--encode` of a payload that is
    /// not JSON).
    #[error(transparent)]
    Verb(#[from] VerbError),
    /// The answer was not JSON.
    #[error("the control API answered {status} with something that is not JSON")]
    NotJson {
        /// The HTTP status.
        status: u16,
    },
}

/// Runs `verb` against the control API at `addr` and returns its JSON answer.
///
/// # Errors
/// [`CtlError`]: a payload `--encode` cannot encode, unreachable, an error
/// status (with the API's message), or a non-JSON answer.
pub async fn call(
    addr: &str,
    token: Option<&str>,
    ca: Option<&std::path::Path>,
    verb: &Verb,
) -> Result<Value, CtlError> {
    let request = verb.request()?;
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
        method: request.method,
        path: request.path,
        body: &request.body,
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
    wait: Duration,
    json: bool,
) -> Result<(), CtlError> {
    let verb = Verb::Monitor {
        component: component.to_owned(),
        wait,
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
