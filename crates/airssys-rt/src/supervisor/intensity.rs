//! Restart intensity: at most `max_restarts` restarts within `within`.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The most restarts a supervisor may make within a sliding time window
/// before it gives up, stops all its children and fails to its parent.
///
/// Default: 3 restarts within 5 s (see `docs/supervision.md` for why not
/// OTP's 1 in 5 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartIntensity {
    /// Restarts allowed within the window; one more fails the supervisor.
    /// Default 3. Zero means the first failure fails the supervisor.
    pub max_restarts: u32,
    /// The sliding window. Default 5 s.
    pub within: Duration,
}

impl RestartIntensity {
    /// Default restarts allowed per window: 3.
    pub const DEFAULT_MAX_RESTARTS: u32 = 3;
    /// Default window: 5 s.
    pub const DEFAULT_WITHIN: Duration = Duration::from_secs(5);

    /// At most `max_restarts` restarts within `within`.
    pub fn new(max_restarts: u32, within: Duration) -> Self {
        Self {
            max_restarts,
            within,
        }
    }
}

impl Default for RestartIntensity {
    /// 3 restarts within 5 s.
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_RESTARTS, Self::DEFAULT_WITHIN)
    }
}

/// Records restart times and says when the intensity is exceeded.
/// O(max_restarts) memory.
#[derive(Debug)]
pub(crate) struct IntensityTracker {
    limit: RestartIntensity,
    restarts: VecDeque<Instant>,
}

impl IntensityTracker {
    pub(crate) fn new(limit: RestartIntensity) -> Self {
        Self {
            limit,
            restarts: VecDeque::new(),
        }
    }

    /// Records a restart at `now`. Returns the number of restarts in the
    /// window if that exceeds the limit, `None` if the restart may go ahead.
    ///
    /// The window is closed at both ends, as OTP's: a restart exactly
    /// `within` before `now` still counts.
    pub(crate) fn record(&mut self, now: Instant) -> Option<usize> {
        self.forget_before(now);
        self.restarts.push_back(now);
        let count = self.restarts.len();
        (count > self.limit.max_restarts as usize).then_some(count)
    }

    /// Records a restart at `now` if it stays within the limit, for a
    /// child restarting itself in place: `true` and counted, or `false`
    /// and nothing recorded (the supervisor's own [`record`](Self::record)
    /// of the same failure then finds the limit exceeded).
    pub(crate) fn admit(&mut self, now: Instant) -> bool {
        self.forget_before(now);
        if self.restarts.len() >= self.limit.max_restarts as usize {
            return false;
        }
        self.restarts.push_back(now);
        true
    }

    /// Forgets the restarts that fell out of the window ending at `now`.
    fn forget_before(&mut self, now: Instant) {
        while let Some(&oldest) = self.restarts.front() {
            if now.saturating_duration_since(oldest) > self.limit.within {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
    }

    /// Restarts within the window ending `now`.
    pub(crate) fn used(&self, now: Instant) -> usize {
        self.restarts
            .iter()
            .filter(|&&at| now.saturating_duration_since(at) <= self.limit.within)
            .count()
    }

    /// Forgets every recorded restart (a supervisor's fresh incarnation).
    pub(crate) fn reset(&mut self) {
        self.restarts.clear();
    }

    pub(crate) fn limit(&self) -> RestartIntensity {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_restart_past_the_limit_within_the_window_exceeds() {
        let mut t = IntensityTracker::new(RestartIntensity::new(2, Duration::from_secs(5)));
        let start = Instant::now();
        assert_eq!(t.record(start), None);
        assert_eq!(t.record(start + Duration::from_secs(1)), None);
        assert_eq!(t.record(start + Duration::from_secs(2)), Some(3));
    }

    #[tokio::test(start_paused = true)]
    async fn restarts_older_than_the_window_are_forgotten() {
        let mut t = IntensityTracker::new(RestartIntensity::new(1, Duration::from_secs(5)));
        let start = Instant::now();
        let past_the_edge = Duration::from_secs(5) + Duration::from_millis(1);
        assert_eq!(t.record(start), None);
        assert_eq!(t.record(start + past_the_edge), None);
        assert_eq!(
            t.record(start + past_the_edge * 2 - Duration::from_secs(1)),
            Some(2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_restart_exactly_at_the_window_edge_still_counts() {
        let mut t = IntensityTracker::new(RestartIntensity::new(1, Duration::from_secs(5)));
        let start = Instant::now();
        assert_eq!(t.record(start), None);
        assert_eq!(t.record(start + Duration::from_secs(5)), Some(2));
        assert_eq!(t.used(start + Duration::from_secs(5)), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_in_place_restart_is_admitted_only_within_the_limit_and_counts_like_one_recorded() {
        let mut t = IntensityTracker::new(RestartIntensity::new(2, Duration::from_secs(5)));
        let start = Instant::now();
        assert!(t.admit(start));
        assert!(t.admit(start + Duration::from_secs(1)));
        // A third would exceed: refused, and not counted.
        assert!(!t.admit(start + Duration::from_secs(2)));
        assert_eq!(t.used(start + Duration::from_secs(2)), 2);
        // The supervisor's own record of that failure then exceeds.
        assert_eq!(t.record(start + Duration::from_secs(2)), Some(3));
        // Once the window has passed, room again.
        let mut t = IntensityTracker::new(RestartIntensity::new(1, Duration::from_secs(5)));
        assert!(t.admit(start));
        assert!(!t.admit(start + Duration::from_secs(5)));
        assert!(t.admit(start + Duration::from_secs(6)));
        // A limit of zero admits nothing.
        let mut t = IntensityTracker::new(RestartIntensity::new(0, Duration::from_secs(5)));
        assert!(!t.admit(start));
    }
}

/// How much of its restart intensity a supervisor has used, from
/// [`SupervisorRef::intensity`](super::SupervisorRef::intensity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntensityUse {
    /// Restarts within the window ending now.
    pub used: usize,
    /// The limit and its window.
    pub limit: RestartIntensity,
}
