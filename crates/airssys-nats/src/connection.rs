//! The state of a broker's connection to its NATS server, as a
//! [`tokio::sync::watch`] value a host can report (e.g. in `/health`).

use std::time::Duration;

use tokio::time::Instant;

/// Whether the broker is connected to its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Not connected yet (the first connection is being made).
    Connecting,
    /// Connected: publishes go to the server.
    Connected,
    /// The connection was lost; the client is reconnecting with backoff.
    /// Publishes fail with `BrokerError::Transport` meanwhile.
    Disconnected,
    /// The client was closed for good (drained, or gave up reconnecting).
    Closed,
}

impl ConnectionState {
    /// `"connecting"`, `"connected"`, `"disconnected"`, `"closed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::Closed => "closed",
        }
    }
}

/// The connection's state and its history since the broker was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStatus {
    /// The state now.
    pub state: ConnectionState,
    /// Since when (tokio's clock).
    pub since: Instant,
    /// Times the connection was lost.
    pub disconnects: u64,
    /// Times it was (re-)established, the first connection included.
    pub connects: u64,
}

impl ConnectionStatus {
    pub(crate) fn new() -> Self {
        Self {
            state: ConnectionState::Connecting,
            since: Instant::now(),
            disconnects: 0,
            connects: 0,
        }
    }

    /// How long the connection has been in its current state.
    pub fn for_how_long(&self) -> Duration {
        self.since.elapsed()
    }
}

/// Reconnect delay after `attempts` failed attempts: 0 for the first, then
/// doubling from `initial`, capped at `max`.
pub(crate) fn backoff(attempts: usize, initial: Duration, max: Duration) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(31);
    initial.saturating_mul(1u32 << exp).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_initial_up_to_max() {
        let (i, m) = (Duration::from_millis(10), Duration::from_millis(100));
        assert_eq!(backoff(1, i, m), Duration::ZERO);
        assert_eq!(backoff(2, i, m), Duration::from_millis(10));
        assert_eq!(backoff(3, i, m), Duration::from_millis(20));
        assert_eq!(backoff(5, i, m), Duration::from_millis(80));
        assert_eq!(backoff(6, i, m), m);
        assert_eq!(backoff(usize::MAX, i, m), m);
    }
}
