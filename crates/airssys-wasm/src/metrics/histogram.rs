//! [`Histogram`]: a fixed-bucket latency histogram recorded with two
//! relaxed atomic adds, read (and made cumulative) only when scraped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in nanoseconds: 1 µs to 10 s, about three
/// per decade, the last bucket (`+Inf`) implied. Shared by every latency
/// histogram of the host, so histograms of several components add up.
pub const BUCKET_BOUNDS_NANOS: [u64; 22] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Buckets including `+Inf`.
const BUCKETS: usize = BUCKET_BOUNDS_NANOS.len() + 1;

/// A latency histogram with the fixed [`BUCKET_BOUNDS_NANOS`].
///
/// Recording costs a search of 22 bounds and two relaxed atomic adds (one
/// bucket, the sum): no lock, no allocation, no label lookup, so it can sit
/// on the message path. The count is the sum of the buckets, computed when
/// read. Readers see each bucket exactly, the sum at most one sample apart.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Records one observation. O(log buckets), two atomic adds.
    pub fn record(&self, elapsed: Duration) {
        let (i, nanos) = Self::bucket(elapsed);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Records one observation standing for `weight` (one message timed
    /// in `weight`, see `metrics/sampling.rs`), from the histogram's only
    /// writer: a plain load and store per counter instead of a locked add
    /// (on x86 a locked add is ~20 cycles, and the message path records
    /// three observations per timed message). Readers still see whole
    /// values. Only for a histogram one task writes at a time — a
    /// component's, written by the task handling its messages one after
    /// another (and by the request it awaits while handling); two
    /// concurrent writers could lose an observation.
    pub fn record_sole_writer(&self, elapsed: Duration, weight: u64) {
        let (i, nanos) = Self::bucket(elapsed);
        let bucket = &self.buckets[i];
        bucket.store(bucket.load(Ordering::Relaxed) + weight, Ordering::Relaxed);
        let sum = self.sum_nanos.load(Ordering::Relaxed);
        self.sum_nanos.store(
            sum.saturating_add(nanos.saturating_mul(weight)),
            Ordering::Relaxed,
        );
    }

    /// The bucket `elapsed` falls in, and `elapsed` in nanoseconds.
    #[inline]
    fn bucket(elapsed: Duration) -> (usize, u64) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let i = BUCKET_BOUNDS_NANOS.partition_point(|&bound| bound < nanos);
        (i, nanos)
    }

    /// A copy of the counts, for rendering or adding up.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            sum_nanos: self.sum_nanos.load(Ordering::Relaxed),
        }
    }
}

/// The counts of a [`Histogram`] at one moment (per bucket, not
/// cumulative). Snapshots of several histograms add up with
/// [`merge`](Self::merge), which is how components are aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistogramSnapshot {
    buckets: [u64; BUCKETS],
    sum_nanos: u64,
}

impl Default for HistogramSnapshot {
    fn default() -> Self {
        HistogramSnapshot {
            buckets: [0; BUCKETS],
            sum_nanos: 0,
        }
    }
}

impl HistogramSnapshot {
    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Sum of the observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_nanos as f64 / 1e9
    }

    /// `(upper bound in seconds, observations at or below it)`, cumulative
    /// as Prometheus wants them, the last bound `f64::INFINITY`.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let bounds = BUCKET_BOUNDS_NANOS
            .iter()
            .map(|&b| b as f64 / 1e9)
            .chain(std::iter::once(f64::INFINITY));
        bounds.zip(self.buckets.iter().scan(0u64, |total, &n| {
            *total += n;
            Some(*total)
        }))
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *mine += theirs;
        }
        self.sum_nanos = self.sum_nanos.saturating_add(other.sum_nanos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sole_writer_records_what_record_does() {
        let (shared, sole) = (Histogram::default(), Histogram::default());
        for d in [
            Duration::from_nanos(10),
            Duration::from_micros(3),
            Duration::from_micros(3),
            Duration::from_secs(60),
            Duration::from_secs(3_600),
        ] {
            shared.record(d);
            sole.record_sole_writer(d, 1);
        }
        assert_eq!(shared.snapshot(), sole.snapshot());
        assert_eq!(sole.snapshot().count(), 5);
    }

    #[test]
    fn a_weighted_observation_counts_as_that_many() {
        let h = Histogram::default();
        h.record_sole_writer(Duration::from_micros(3), 4);
        let s = h.snapshot();
        assert_eq!(s.count(), 4);
        assert!((s.sum_seconds() - 12e-6).abs() < 1e-12);
    }

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::default();
        h.record(Duration::from_nanos(1_000));
        h.record(Duration::from_micros(3));
        h.record(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count(), 3);
        let cumulative: Vec<_> = s.cumulative().collect();
        assert_eq!(cumulative[0], (1e-6, 1));
        assert_eq!(cumulative[1].1, 1);
        assert_eq!(cumulative[2].1, 2);
        assert_eq!(cumulative[BUCKETS - 2].1, 2);
        assert_eq!(cumulative[BUCKETS - 1], (f64::INFINITY, 3));
        assert!((s.sum_seconds() - 60.000004).abs() < 1e-9);
    }

    #[test]
    fn merged_snapshots_add_up() {
        let (a, b) = (Histogram::default(), Histogram::default());
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(1));
        b.record(Duration::from_millis(7));
        let mut total = a.snapshot();
        total.merge(&b.snapshot());
        assert_eq!(total.count(), 3);
        assert!((total.sum_seconds() - 0.009).abs() < 1e-12);
    }
}
