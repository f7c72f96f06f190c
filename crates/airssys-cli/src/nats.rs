//! `airssys run --nats <url>`: the host's broker is a [`NatsBroker`] and the
//! component host's [`TopicMessage`] travels as described in
//! `docs/distribution.md`.

use std::path::PathBuf;
use std::sync::Arc;

use airssys_nats::async_nats::HeaderMap;
use airssys_nats::{
    headers, Auth, ClientCert, CodecError, ConnectSecurity, NatsBroker, NatsBrokerBuilder,
    NatsError, WireCodec,
};
use airssys_wasm::trace::TraceContext;
use airssys_wasm::{ComponentId, TopicMessage};
use bytes::Bytes;

/// The wire codec of [`TopicMessage`]: the sender's component id in the
/// `Airssys-Sender` header (absent for the host or a plain client), the
/// trace context in `traceparent`/`tracestate` (W3C; absent when not
/// traced), the payload bytes as they are (with their multicodec prefix,
/// if any).
#[derive(Debug, Clone, Copy, Default)]
pub struct TopicCodec;

impl WireCodec<TopicMessage> for TopicCodec {
    fn encode(&self, message: TopicMessage, h: &mut HeaderMap) -> Result<Bytes, CodecError> {
        if let Some(sender) = &message.sender {
            h.insert(headers::SENDER, sender.as_str());
        }
        if let Some(trace) = &message.trace {
            h.insert(headers::TRACEPARENT, trace.traceparent().as_str());
            if let Some(state) = &trace.state {
                h.insert(headers::TRACESTATE, &**state);
            }
        }
        Ok(message.payload)
    }

    fn decode(&self, h: Option<&HeaderMap>, payload: Bytes) -> Result<TopicMessage, CodecError> {
        let sender = h
            .and_then(|h| h.get(headers::SENDER))
            .map(|v| ComponentId::new(v.as_str()));
        // A malformed traceparent (from a plain client) is not a reason to
        // refuse the message: it travels untraced.
        let trace = h.and_then(|h| {
            let parent = h.get(headers::TRACEPARENT)?;
            let state = h.get(headers::TRACESTATE).map(|v| v.as_str());
            TraceContext::parse(parent.as_str(), state)
                .inspect_err(|error| tracing::debug!(%error, "traceparent ignored"))
                .ok()
        });
        Ok(TopicMessage {
            sender,
            payload,
            trace,
        })
    }
}

/// `airssys run`'s `--nats-*` flags: each one given replaces the
/// manifest's `[broker]` setting of the same kind. Secrets are never
/// flags, only the files that hold them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityFlags {
    /// `--nats-ca`: the CA (PEM) the server's certificate must chain to.
    pub ca: Option<PathBuf>,
    /// `--nats-cert` and `--nats-key`: the client certificate and key
    /// (mutual TLS), given together.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// `--nats-creds`, `--nats-nkey-file` or `--nats-token-file`: how the
    /// host authenticates (at most one).
    pub auth: Option<Auth>,
}

impl SecurityFlags {
    /// `manifest` (the `[broker]` settings, or the default) with these
    /// flags put over it.
    pub fn over(&self, manifest: ConnectSecurity) -> ConnectSecurity {
        let mut security = manifest;
        if let Some(ca) = &self.ca {
            security.tls_ca = Some(ca.clone());
        }
        if let Some((cert, key)) = &self.client_cert {
            security.client_cert = Some(ClientCert {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        if let Some(auth) = &self.auth {
            security.auth = Some(auth.clone());
        }
        security
    }
}

/// The NATS queue group component subjects are subscribed in, on every
/// cluster host: while a unit moves, each message reaches one host.
pub const QUEUE_GROUP: &str = "airssys";

/// Connects a host's broker to the server at `url` under `prefix`, with
/// the TLS and credentials of `security`.
///
/// # Errors
/// [`NatsError`] if the prefix is invalid, a file of `security` cannot be
/// used, the server refuses the credentials or the TLS handshake, or the
/// first connection fails otherwise.
pub async fn connect(
    url: &str,
    prefix: &str,
    dead_letter_subject: &str,
    security: &ConnectSecurity,
) -> Result<NatsBroker<TopicMessage>, NatsError> {
    builder(url, prefix, dead_letter_subject, security)
        .connect()
        .await
}

/// As [`connect`], for a cluster host: component subjects
/// (`component.<id>`) are subscribed in the queue group
/// [`QUEUE_GROUP`], so that while a component
/// moves between hosts each message reaches one of them.
///
/// # Errors
/// As [`connect`].
pub async fn connect_cluster_host(
    url: &str,
    prefix: &str,
    dead_letter_subject: &str,
    security: &ConnectSecurity,
) -> Result<NatsBroker<TopicMessage>, NatsError> {
    builder(url, prefix, dead_letter_subject, security)
        .queue_group(airssys_wasm::host::COMPONENT_SUBJECT_PREFIX, QUEUE_GROUP)
        .connect()
        .await
}

fn builder(
    url: &str,
    prefix: &str,
    dead_letter_subject: &str,
    security: &ConnectSecurity,
) -> NatsBrokerBuilder<TopicMessage> {
    NatsBroker::builder(url, Arc::new(TopicCodec))
        .prefix(prefix)
        .dead_letter_subject(dead_letter_subject)
        .name(format!("airssys-{}", std::process::id()))
        .security(security.clone())
}
