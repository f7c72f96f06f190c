//! [`Sizes`]: how much work each scenario does, in quick and full mode.

/// How much work each scenario does.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Spawns timed.
    pub spawns: usize,
    /// Messages sent in `tell_throughput`.
    pub tells: usize,
    /// Requests timed.
    pub requests: usize,
    /// Components kept alive in `memory_per_component`.
    pub memory_components: usize,
    /// Restarts timed.
    pub restarts: usize,
    /// Messages published in `broker_fanout` (each to 8 subscribers).
    pub publishes: usize,
    /// Live instances of a Python or JavaScript component
    /// (`spawn_python`, `memory_js`, ...).
    pub big_instances: usize,
}

impl Sizes {
    /// `--quick`: a few seconds, even in a debug build.
    pub const QUICK: Sizes = Sizes {
        // 7 interleaved rounds of 50 on each side: with 100 (~15 a round)
        // one slowed round moved the median.
        spawns: 350,
        tells: 20_000,
        requests: 2_000,
        memory_components: 100,
        restarts: 50,
        // 7 rounds of ~2,900 publishes to 8 subscribers (~5 ms each): with
        // 5,000 a round lasted ~2 ms, shorter than a scheduler slice, and
        // the ratio swung 4x between runs on a loaded machine.
        publishes: 20_000,
        big_instances: 10,
    };
    /// The default.
    pub const FULL: Sizes = Sizes {
        spawns: 500,
        tells: 200_000,
        requests: 20_000,
        memory_components: 500,
        restarts: 200,
        publishes: 20_000,
        big_instances: 40,
    };
}
