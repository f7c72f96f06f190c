//! [`Fault`]: failures injected from the host side, so that tests and chaos
//! drills can exercise supervision without a guest written to fail.

use std::fmt;

/// A failure injected into a running component with
/// [`ComponentHost::inject_fault`](super::ComponentHost::inject_fault).
///
/// A fault travels through the component's mailbox like a message: it takes
/// effect after the messages queued before it, in the incarnation that
/// handles it, and never reaches the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Fails the incarnation as a trap would: the actor fails with
    /// [`ComponentFailure::Injected`](super::ComponentFailure::Injected),
    /// its counters count one failed message, and its supervisor restarts it
    /// per its restart policy (fresh guest state, the mailbox carries on).
    /// No message is lost, so nothing is dead-lettered.
    Crash(String),
    /// Makes every health check of the incarnation fail with this reason
    /// (the supervisor's periodic checks and
    /// [`ComponentHost::health`](super::ComponentHost::health)) until it is
    /// replaced. With health checks configured, the supervisor restarts the
    /// component after the threshold; the next incarnation is healthy again.
    Unhealthy(String),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Crash(reason) => write!(f, "injected crash: {reason}"),
            Fault::Unhealthy(reason) => write!(f, "injected unhealthy: {reason}"),
        }
    }
}
