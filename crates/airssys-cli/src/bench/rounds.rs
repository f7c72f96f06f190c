//! Interleaved rounds: how a throughput scenario gets a figure that holds
//! still on a shared machine.
//!
//! Run once per side, one after the other, a throughput scenario's ratio
//! swings by a factor of two or three on a two-core machine with a
//! neighbour: a burst of someone else's work lands on one side only. So
//! each side runs [`ROUNDS`] rounds, in turn (ours then raw, raw then ours,
//! ...), on the same host and the same raw setup throughout; each round
//! gives a ratio against the raw round beside it, and the scenario's ratio
//! is the median of those. A neighbour's burst spoils a round or two, not
//! the median.

use super::{percentile, BenchError, Scenario};

/// Rounds per side of an interleaved scenario.
pub(super) const ROUNDS: usize = 7;

/// One side of a throughput scenario, set up once and run round after
/// round.
pub(super) trait Side {
    /// Runs `n` operations and returns their rate per second.
    async fn round(&mut self, n: usize) -> Result<f64, BenchError>;
}

/// One side of a latency scenario, set up once and sampled round after
/// round.
pub(super) trait Sampler {
    /// Times `n` operations, each pushed onto `out` in microseconds.
    async fn sample(&mut self, n: usize, out: &mut Vec<f64>) -> Result<(), BenchError>;
}

/// A latency scenario's samples in [`ROUNDS`] interleaved rounds: both
/// sides' samples pooled for the percentiles, and the median of the
/// rounds' p50 ratios as the scenario's `ratio_p50`.
pub(super) async fn latency_rounds(
    name: &'static str,
    ours: &mut impl Sampler,
    base_name: &str,
    base: &mut impl Sampler,
    n: usize,
) -> Result<Scenario, BenchError> {
    let (mut all_ours, mut all_base) = (Vec::new(), Vec::new());
    let mut round_ratios = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let (mut o, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
        if round % 2 == 0 {
            ours.sample(n, &mut o).await?;
            base.sample(n, &mut b).await?;
        } else {
            base.sample(n, &mut b).await?;
            ours.sample(n, &mut o).await?;
        }
        round_ratios.push(percentile(&mut o, 50.0) / percentile(&mut b, 50.0));
        all_ours.extend(o);
        all_base.extend(b);
    }
    let mut row = Scenario::latency(name, &mut all_ours, base_name, &mut all_base);
    row.ratio_p50 = Some(percentile(&mut round_ratios.clone(), 50.0));
    row.round_ratios = Some(round_ratios);
    Ok(row)
}

/// The rates of both sides, round by round.
#[derive(Debug, Default)]
pub(super) struct Rounds {
    ours: Vec<f64>,
    base: Vec<f64>,
}

impl Rounds {
    /// Runs [`ROUNDS`] rounds of `n` operations on each side, alternating
    /// which side goes first.
    pub(super) async fn run(
        ours: &mut impl Side,
        base: &mut impl Side,
        n: usize,
    ) -> Result<Self, BenchError> {
        let mut rounds = Rounds::default();
        for round in 0..ROUNDS {
            if round % 2 == 0 {
                rounds.ours.push(ours.round(n).await?);
                rounds.base.push(base.round(n).await?);
            } else {
                rounds.base.push(base.round(n).await?);
                rounds.ours.push(ours.round(n).await?);
            }
        }
        Ok(rounds)
    }

    /// The scenario's row: each side's median rate, and the median of the
    /// per-round ratios (not the ratio of the medians: a round's two
    /// sides saw the same machine).
    pub(super) fn scenario(
        mut self,
        name: &'static str,
        unit: &'static str,
        samples: u64,
        base_name: &str,
    ) -> Scenario {
        let round_ratios: Vec<f64> = self
            .ours
            .iter()
            .zip(&self.base)
            .map(|(ours, base)| ours / base)
            .collect();
        let ratio = percentile(&mut round_ratios.clone(), 50.0);
        let mut row = Scenario::value(
            name,
            unit,
            samples,
            percentile(&mut self.ours, 50.0),
            base_name,
            percentile(&mut self.base, 50.0),
        );
        row.ratio = Some(ratio);
        row.round_ratios = Some(round_ratios);
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A side whose rate is given per round.
    struct Scripted(std::vec::IntoIter<f64>);

    impl Side for Scripted {
        async fn round(&mut self, _n: usize) -> Result<f64, BenchError> {
            Ok(self.0.next().unwrap_or(1.0))
        }
    }

    #[tokio::test]
    async fn the_ratio_is_the_median_of_the_rounds_ratios_so_one_slowed_round_does_not_move_it() {
        // Round 3 of ours and round 5 of the raw side were slowed 4x by a
        // neighbour; every other round, ours runs at 0.9 of raw.
        let mut ours = Scripted(vec![90.0, 90.0, 22.5, 90.0, 90.0, 90.0, 90.0].into_iter());
        let mut base = Scripted(vec![100.0, 100.0, 100.0, 100.0, 25.0, 100.0, 100.0].into_iter());
        let rounds = Rounds::run(&mut ours, &mut base, 10).await.expect("rounds");
        let row = rounds.scenario("tell_throughput", "msg/s", 70, "raw");
        let ratio = row.ratio.expect("a ratio");
        assert!((ratio - 0.9).abs() < 1e-9, "{ratio}");
        assert_eq!(row.value, Some(90.0));
        assert_eq!(row.baseline.value, Some(100.0));
        assert_eq!(row.round_ratios.map(|r| r.len()), Some(ROUNDS));
    }
}
