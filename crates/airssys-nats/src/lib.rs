//! A [`MessageBroker`](airssys_rt::broker::MessageBroker) over a real NATS
//! server: many airssys hosts, one application.
//!
//! [`NatsBroker`] speaks core NATS through `async-nats`. Subject syntax is
//! NATS's own (`orders.*`, `orders.>`), so code written against
//! `Arc<dyn MessageBroker<M>>` means the same thing on the in-memory broker and
//! on this one. Every subject is put under an application prefix on the wire
//! (`<prefix>.<subject>`), so several applications share one server safely.
//! A [`WireCodec`] given at connect time turns `M` into NATS headers and bytes.
//!
//! The wire format, what happens while the server is unreachable, and how
//! hosts find each other's components are in `docs/distribution.md`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use airssys_nats::{BytesCodec, NatsBroker};
//! use airssys_rt::broker::MessageBroker;
//! use bytes::Bytes;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // Two hosts of application "shop" (here in one process).
//! let a = NatsBroker::builder("nats://127.0.0.1:4222", Arc::new(BytesCodec)).prefix("shop").connect().await?;
//! let b = NatsBroker::builder("nats://127.0.0.1:4222", Arc::new(BytesCodec)).prefix("shop").connect().await?;
//!
//! // b answers requests on `prices`.
//! let mut prices = b.subscribe("prices")?;
//! b.sync().await?;
//! tokio::spawn(async move {
//!     while let Some(req) = prices.recv().await {
//!         let _ = b.reply(&req, Bytes::from_static(b"42"));
//!     }
//! });
//! let reply = a.request("prices", Bytes::from_static(b"apple"), Duration::from_secs(1)).await?;
//! assert_eq!(reply.payload, Bytes::from_static(b"42"));
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod broker;
mod builder;
pub mod cluster;
mod codec;
mod connection;
mod dead_letter_wire;
mod error;
mod inbound;
mod message_broker;
mod outbound;
mod security;
mod stats;
mod subjects;
mod wire_names;

pub use async_nats;
pub use broker::NatsBroker;
pub use builder::{
    NatsBrokerBuilder, DEFAULT_CLIENT_SUBSCRIPTION_CAPACITY, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_OUTBOUND_CAPACITY, DEFAULT_PREFIX, DEFAULT_RECONNECT_INITIAL, DEFAULT_RECONNECT_MAX,
};
pub use codec::{headers, BytesCodec, CodecError, WireCodec};
pub use connection::{ConnectionState, ConnectionStatus};
pub use error::{NatsError, SecurityFile};
pub use security::{Auth, ClientCert, ConnectSecurity};
pub use stats::NatsStats;
