//! [`WireCodec`]: how a broker payload `M` becomes NATS headers and bytes,
//! and back; the [`headers`] every airssys host reads and writes.

use async_nats::HeaderMap;
use bytes::Bytes;

/// Names of the NATS headers airssys puts on the wire (see
/// `docs/distribution.md`). A plain NATS client may set or read them.
pub mod headers {
    /// The sending component's id (absent when a host or a plain client sent it).
    pub const SENDER: &str = "Airssys-Sender";
    /// The correlation id of a request, as the requesting host numbered it
    /// (informative: replies are routed by the NATS reply subject).
    pub const CORRELATION: &str = "Airssys-Correlation";
    /// The payload's multicodec name (`json`, `cbor`, `borsh`), when the
    /// sender tagged it; the payload itself is never re-encoded.
    pub const CODEC: &str = "Airssys-Codec";
    /// On a reply: the responder took the request and failed to handle it;
    /// the value says why, in words, and the payload is empty. The
    /// requesting host's `request` returns `BrokerError::Failed`.
    pub const FAILURE: &str = "Airssys-Failure";
    /// On a dead letter: why it was dead-lettered, as the reason's stable
    /// label (`DeadLetterReason::label`: `handler_failed`, `mailbox_full`,
    /// `subscriber_full`, ...).
    pub const DEAD_LETTER: &str = "Airssys-Dead-Letter";
    /// On a dead letter: the subject the message was first published on
    /// (without the application prefix).
    pub const DEAD_LETTER_SUBJECT: &str = "Airssys-Dead-Letter-Subject";
    /// On a dead letter: who it was for (a component id, or a subscription
    /// pattern).
    pub const DEAD_LETTER_TARGET: &str = "Airssys-Dead-Letter-Target";
    /// On a dead letter: what the reason carries (`DeadLetterReason::detail`:
    /// a failure's text, a queue capacity for `subscriber_full`); absent
    /// when it carries nothing.
    pub const DEAD_LETTER_DETAIL: &str = "Airssys-Dead-Letter-Detail";
    /// The W3C trace context of the span that sent the message
    /// (`00-<trace id>-<span id>-<flags>`), when it was traced.
    pub const TRACEPARENT: &str = "traceparent";
    /// The W3C vendor trace state that came with [`TRACEPARENT`].
    pub const TRACESTATE: &str = "tracestate";
}

/// A payload that could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct CodecError {
    /// What was wrong.
    pub reason: String,
}

impl CodecError {
    /// A codec error with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

/// Turns a broker payload `M` into NATS headers plus payload bytes, and back.
///
/// A [`NatsBroker`](crate::NatsBroker) is given one at connect time. airssys
/// itself never serializes on the local path; this runs only for messages that
/// cross the wire. The airssys-cli supplies the codec of the component host's
/// `TopicMessage` (sender in [`headers::SENDER`], payload as is).
///
/// `decode` must accept what `encode` wrote, and should accept a message from
/// a plain NATS client (no headers at all).
pub trait WireCodec<M>: Send + Sync + 'static {
    /// Writes `message` as headers (added to `headers`) and payload bytes.
    ///
    /// # Errors
    /// [`CodecError`] if `message` cannot be represented.
    fn encode(&self, message: M, headers: &mut HeaderMap) -> Result<Bytes, CodecError>;

    /// Reads a message from its headers (`None`: the sender set none) and
    /// payload.
    ///
    /// # Errors
    /// [`CodecError`] if the bytes are not a valid `M`; the broker counts and
    /// logs the message and drops it.
    fn decode(&self, headers: Option<&HeaderMap>, payload: Bytes) -> Result<M, CodecError>;
}

/// The identity codec for `Bytes` payloads: no headers, payload as is.
///
/// ```
/// use airssys_nats::{BytesCodec, WireCodec};
/// use bytes::Bytes;
///
/// let mut headers = async_nats::HeaderMap::new();
/// let wire = BytesCodec.encode(Bytes::from_static(b"hi"), &mut headers).unwrap();
/// assert!(headers.is_empty());
/// assert_eq!(BytesCodec.decode(None, wire).unwrap(), Bytes::from_static(b"hi"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesCodec;

impl WireCodec<Bytes> for BytesCodec {
    fn encode(&self, message: Bytes, _: &mut HeaderMap) -> Result<Bytes, CodecError> {
        Ok(message)
    }

    fn decode(&self, _: Option<&HeaderMap>, payload: Bytes) -> Result<Bytes, CodecError> {
        Ok(payload)
    }
}
