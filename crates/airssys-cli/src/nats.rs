//! `airssys run --nats <url>`: the host's broker is a [`NatsBroker`] and the
//! component host's [`TopicMessage`] travels as described in
//! `docs/distribution.md`.

use std::sync::Arc;

use airssys_nats::async_nats::HeaderMap;
use airssys_nats::{headers, CodecError, NatsBroker, NatsError, WireCodec};
use airssys_wasm::{ComponentId, TopicMessage};
use bytes::Bytes;

/// The wire codec of [`TopicMessage`]: the sender's component id in the
/// `Airssys-Sender` header (absent for the host or a plain client), the
/// payload bytes as they are (with their multicodec prefix, if any).
#[derive(Debug, Clone, Copy, Default)]
pub struct TopicCodec;

impl WireCodec<TopicMessage> for TopicCodec {
    fn encode(&self, message: TopicMessage, h: &mut HeaderMap) -> Result<Bytes, CodecError> {
        if let Some(sender) = &message.sender {
            h.insert(headers::SENDER, sender.as_str());
        }
        Ok(message.payload)
    }

    fn decode(&self, h: Option<&HeaderMap>, payload: Bytes) -> Result<TopicMessage, CodecError> {
        let sender = h
            .and_then(|h| h.get(headers::SENDER))
            .map(|v| ComponentId::new(v.as_str()));
        Ok(TopicMessage { sender, payload })
    }
}

/// Connects a host's broker to the server at `url` under `prefix`.
///
/// # Errors
/// [`NatsError`] if the first connection fails or the prefix is invalid.
pub async fn connect(
    url: &str,
    prefix: &str,
    dead_letter_subject: &str,
) -> Result<NatsBroker<TopicMessage>, NatsError> {
    NatsBroker::builder(url, Arc::new(TopicCodec))
        .prefix(prefix)
        .dead_letter_subject(dead_letter_subject)
        .name(format!("airssys-{}", std::process::id()))
        .connect()
        .await
}
