//! A component host on a NATS server, for the tests that run several.

use std::sync::Arc;

use airssys_cli::nats::TopicCodec;
use airssys_nats::NatsBroker;
use airssys_wasm::{ComponentHost, TopicMessage};

/// A host whose broker is a [`NatsBroker`] on `url` under `prefix`, and
/// that broker; `capacity` sizes each subscription's queue when given.
pub async fn nats_host(
    url: &str,
    prefix: &str,
    capacity: Option<usize>,
) -> (ComponentHost, NatsBroker<TopicMessage>) {
    let mut builder = NatsBroker::builder(url, Arc::new(TopicCodec)).prefix(prefix);
    if let Some(capacity) = capacity {
        builder = builder.subscription_capacity(capacity);
    }
    let broker = builder.connect().await.unwrap();
    let host = ComponentHost::builder()
        .broker(Arc::new(broker.clone()))
        .build()
        .unwrap();
    (host, broker)
}
