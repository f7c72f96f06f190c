//! Which children a restart touches ([`RestartStrategy`]), which exits are
//! restarted ([`RestartPolicy`]) and how a child is stopped ([`ShutdownPolicy`]).

use std::time::Duration;

use super::child::ExitReason;

/// Which children a supervisor restarts when one of them is to be restarted.
///
/// Stopping happens in reverse start order, restarting in start order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RestartStrategy {
    /// Restart only the failed child. The default.
    #[default]
    OneForOne,
    /// Stop every other child, then restart all of them.
    OneForAll,
    /// Stop the children started after the failed one, then restart the
    /// failed child and those after it.
    RestForOne,
}

/// Which exits of a child are followed by a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RestartPolicy {
    /// Always restarted, whatever the exit reason. The default.
    #[default]
    Permanent,
    /// Restarted only after an abnormal exit ([`ExitReason::is_abnormal`]).
    Transient,
    /// Never restarted; removed from the supervisor when it exits.
    Temporary,
}

impl RestartPolicy {
    /// Whether a child with this policy is restarted after exiting with `reason`.
    pub fn restarts_after(self, reason: &ExitReason) -> bool {
        match self {
            RestartPolicy::Permanent => true,
            RestartPolicy::Transient => reason.is_abnormal(),
            RestartPolicy::Temporary => false,
        }
    }
}

/// How a supervisor stops a child (for a restart, `terminate_child` or shutdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShutdownPolicy {
    /// Call [`Child::stop`](super::Child::stop) with this timeout, bounded by
    /// the same timeout; on overrun call [`Child::kill`](super::Child::kill)
    /// and report the child as aborted.
    Graceful(Duration),
    /// Call [`Child::kill`](super::Child::kill) at once.
    Immediate,
}

impl ShutdownPolicy {
    /// The default graceful timeout: 5 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
}

impl Default for ShutdownPolicy {
    /// `Graceful(5 s)`.
    fn default() -> Self {
        ShutdownPolicy::Graceful(Self::DEFAULT_TIMEOUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_restarts_only_after_abnormal_exits() {
        let p = RestartPolicy::Transient;
        assert!(!p.restarts_after(&ExitReason::Normal));
        assert!(!p.restarts_after(&ExitReason::Shutdown));
        assert!(p.restarts_after(&ExitReason::Failed("x".into())));
        assert!(p.restarts_after(&ExitReason::Escalated("x".into())));
        assert!(RestartPolicy::Permanent.restarts_after(&ExitReason::Normal));
        assert!(!RestartPolicy::Temporary.restarts_after(&ExitReason::Failed("x".into())));
    }
}
