//! Delay between a child's failure and its restart: exponential, capped,
//! with jitter.

use std::time::Duration;

use rand::Rng;

/// How long a supervisor waits before the k-th consecutive restart of a child:
/// `min(initial × multiplier^(k-1), max)`, then ± `jitter` × that delay.
///
/// Default: `initial` 100 ms, `multiplier` 2.0, `max` 10 s, `jitter` 0.1.
/// k goes back to 1 once an incarnation has run for a whole restart-intensity
/// window. The wait is a timer; the supervisor serves its handle meanwhile.
///
/// ```
/// use std::time::Duration;
/// use airssys_rt::supervisor::BackoffPolicy;
///
/// let b = BackoffPolicy::exponential(Duration::from_millis(50), Duration::from_secs(1))
///     .multiplier(3.0)
///     .jitter(0.0);
/// assert_eq!(b.delay(1), Duration::from_millis(50));
/// assert_eq!(b.delay(2), Duration::from_millis(150));
/// assert_eq!(b.delay(5), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    initial: Duration,
    multiplier: f64,
    max: Duration,
    jitter: f64,
}

impl BackoffPolicy {
    /// Default first delay: 100 ms.
    pub const DEFAULT_INITIAL: Duration = Duration::from_millis(100);
    /// Default growth factor: 2.0.
    pub const DEFAULT_MULTIPLIER: f64 = 2.0;
    /// Default cap: 10 s.
    pub const DEFAULT_MAX: Duration = Duration::from_secs(10);
    /// Default jitter fraction: 0.1 (±10 %).
    pub const DEFAULT_JITTER: f64 = 0.1;

    /// Exponential backoff from `initial` up to `max`, with the default
    /// multiplier (2.0) and jitter (0.1).
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            multiplier: Self::DEFAULT_MULTIPLIER,
            max,
            jitter: Self::DEFAULT_JITTER,
        }
    }

    /// No delay at all: restart at once.
    pub fn none() -> Self {
        Self {
            initial: Duration::ZERO,
            multiplier: 1.0,
            max: Duration::ZERO,
            jitter: 0.0,
        }
    }

    /// Sets the growth factor between consecutive delays (default 2.0;
    /// values below 1.0 are taken as 1.0).
    #[must_use]
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// Sets the jitter as a fraction of the delay (default 0.1, clamped to
    /// 0.0..=1.0). 0.0 makes delays exact.
    #[must_use]
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Whether every restart goes ahead at once (no delay for any attempt).
    pub(crate) fn never_waits(&self) -> bool {
        self.initial.is_zero() || self.max.is_zero()
    }

    /// The delay before the `attempt`-th consecutive restart (1-based),
    /// without jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(i32::MAX as u32) as i32;
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exp);
        let max = self.max.as_secs_f64();
        if !secs.is_finite() || secs >= max {
            self.max
        } else {
            Duration::from_secs_f64(secs.max(0.0))
        }
    }

    /// The delay before the `attempt`-th consecutive restart (1-based), with
    /// jitter applied (uniform in ± `jitter` × base delay).
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.base_delay(attempt);
        if self.jitter == 0.0 || base.is_zero() {
            return base;
        }
        let factor = 1.0 + rand::thread_rng().gen_range(-self.jitter..=self.jitter);
        Duration::from_secs_f64((base.as_secs_f64() * factor).max(0.0))
    }
}

impl Default for BackoffPolicy {
    /// 100 ms × 2^(k-1), capped at 10 s, ±10 % jitter.
    fn default() -> Self {
        Self::exponential(Self::DEFAULT_INITIAL, Self::DEFAULT_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_up_to_the_cap() {
        let b = BackoffPolicy::default().jitter(0.0);
        assert_eq!(b.delay(1), Duration::from_millis(100));
        assert_eq!(b.delay(2), Duration::from_millis(200));
        assert_eq!(b.delay(3), Duration::from_millis(400));
        assert_eq!(b.delay(20), Duration::from_secs(10));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let b = BackoffPolicy::default();
        for _ in 0..200 {
            let d = b.delay(2);
            assert!(d >= Duration::from_millis(180) && d <= Duration::from_millis(220));
        }
    }

    proptest::proptest! {
        #[test]
        fn delays_never_shrink_and_never_pass_the_cap(
            initial_ms in 0u64..10_000,
            max_ms in 0u64..100_000,
            multiplier in 0.0f64..10.0,
            k in 1u32..200,
        ) {
            let b = BackoffPolicy::exponential(
                Duration::from_millis(initial_ms),
                Duration::from_millis(max_ms),
            )
            .multiplier(multiplier)
            .jitter(0.0);
            proptest::prop_assert!(b.base_delay(k) <= b.base_delay(k + 1));
            proptest::prop_assert!(b.base_delay(k) <= Duration::from_millis(max_ms));
            proptest::prop_assert_eq!(b.delay(k), b.base_delay(k));
        }

        #[test]
        fn jittered_delays_stay_within_the_jitter_band(k in 1u32..50, jitter in 0.0f64..1.0) {
            let b = BackoffPolicy::default().jitter(jitter);
            let base = b.base_delay(k).as_secs_f64();
            let d = b.delay(k).as_secs_f64();
            proptest::prop_assert!(d >= base * (1.0 - jitter) - 1e-9);
            proptest::prop_assert!(d <= base * (1.0 + jitter) + 1e-9);
        }
    }

    #[test]
    fn none_never_waits() {
        assert_eq!(BackoffPolicy::none().delay(7), Duration::ZERO);
    }
}
