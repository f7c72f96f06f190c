//! Periodic health checks and the consecutive-failure count that turns them
//! into restarts.

use std::time::Duration;

use super::child::ChildHealth;

/// Health monitoring for one child (set with
/// [`ChildSpec::health`](super::ChildSpec::health); off by default).
///
/// Every `interval` while the child runs, the supervisor calls
/// [`Child::health_check`](super::Child::health_check) bounded by `timeout`.
/// `Failed` or a timeout counts as a failure, `Healthy` resets the count,
/// `Degraded` does neither. At `threshold` consecutive failures the child is
/// stopped and handled as failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    /// Time between checks. Default 10 s.
    pub interval: Duration,
    /// Time a check may take before it counts as failed. Default 1 s.
    pub timeout: Duration,
    /// Consecutive failed checks that trigger a restart. Default 3 (0 is taken as 1).
    pub threshold: u32,
}

impl HealthConfig {
    /// Default interval: 10 s.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
    /// Default check timeout: 1 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
    /// Default threshold: 3 consecutive failures.
    pub const DEFAULT_THRESHOLD: u32 = 3;

    /// Checks every `interval`, each bounded by `timeout`, restarting after
    /// `threshold` consecutive failures.
    pub fn new(interval: Duration, timeout: Duration, threshold: u32) -> Self {
        Self {
            interval,
            timeout,
            threshold,
        }
    }
}

impl Default for HealthConfig {
    /// Every 10 s, 1 s timeout, threshold 3.
    fn default() -> Self {
        Self::new(
            Self::DEFAULT_INTERVAL,
            Self::DEFAULT_TIMEOUT,
            Self::DEFAULT_THRESHOLD,
        )
    }
}

/// What one health check concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HealthVerdict {
    /// Nothing to do.
    Fine,
    /// A failed check, the `consecutive`-th in a row; `restart` when the
    /// threshold is reached.
    Failed {
        consecutive: u32,
        reason: String,
        restart: bool,
    },
}

/// Consecutive-failure count for one child.
#[derive(Debug, Default)]
pub(crate) struct HealthTracker {
    consecutive: u32,
}

impl HealthTracker {
    /// Folds in one check result (`None` for a check that timed out).
    pub(crate) fn observe(
        &mut self,
        config: &HealthConfig,
        result: Option<ChildHealth>,
    ) -> HealthVerdict {
        let reason = match result {
            Some(ChildHealth::Healthy) => {
                self.consecutive = 0;
                return HealthVerdict::Fine;
            }
            Some(ChildHealth::Degraded(_)) => return HealthVerdict::Fine,
            Some(ChildHealth::Failed(why)) => why,
            None => format!("health check timed out after {:?}", config.timeout),
        };
        self.consecutive = self.consecutive.saturating_add(1);
        let consecutive = self.consecutive;
        let restart = consecutive >= config.threshold.max(1);
        if restart {
            self.consecutive = 0;
        }
        HealthVerdict::Failed {
            consecutive,
            reason,
            restart,
        }
    }

    /// Forgets past failures (a new incarnation).
    pub(crate) fn reset(&mut self) {
        self.consecutive = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degraded_neither_counts_nor_resets() {
        let cfg = HealthConfig::new(Duration::from_secs(1), Duration::from_secs(1), 2);
        let mut t = HealthTracker::default();
        assert!(matches!(
            t.observe(&cfg, Some(ChildHealth::Failed("x".into()))),
            HealthVerdict::Failed {
                consecutive: 1,
                restart: false,
                ..
            }
        ));
        assert_eq!(
            t.observe(&cfg, Some(ChildHealth::Degraded("slow".into()))),
            HealthVerdict::Fine
        );
        assert!(matches!(
            t.observe(&cfg, None),
            HealthVerdict::Failed {
                consecutive: 2,
                restart: true,
                ..
            }
        ));
    }

    #[test]
    fn healthy_resets_the_count() {
        let cfg = HealthConfig::new(Duration::from_secs(1), Duration::from_secs(1), 2);
        let mut t = HealthTracker::default();
        t.observe(&cfg, None);
        t.observe(&cfg, Some(ChildHealth::Healthy));
        assert!(matches!(
            t.observe(&cfg, None),
            HealthVerdict::Failed {
                consecutive: 1,
                restart: false,
                ..
            }
        ));
    }
}
