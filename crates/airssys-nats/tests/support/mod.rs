//! What the NATS tests share: a real `nats-server` (from airssys-testkit)
//! and a bounded wait.
#![allow(dead_code)]

use std::time::Duration;

pub use airssys_testkit::NatsServer;

/// Fails the test if `fut` does not finish within 10 s.
pub async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}
