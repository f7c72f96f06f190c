//! What the NATS tests share: a real `nats-server` (from airssys-testkit),
//! a bounded wait, and JWTs for a server in operator mode ([`jwt`]).
#![allow(dead_code)]

pub mod jwt;

use std::time::Duration;

pub use airssys_testkit::NatsServer;

/// Fails the test if `fut` does not finish within 10 s.
pub async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
