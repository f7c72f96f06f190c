//! Which messages the message path times.
//!
//! A timed message costs four clock reads (enqueue, handling start and
//! end, and the requester's two for a round trip's end and start, shared
//! as one pair per request); on a VM each read of the time-stamp counter
//! is ~20–25 ns, together several percent of a guest-to-guest round trip
//! of ~1.4 µs. So the host may time about one message in `n` and record
//! each timed one with weight `n` (its bucket and the sum grow by `n`
//! observations): the histograms' counts and sums stay estimates of every
//! message's, at a `n`-th of the clock reads. `n = 1` times every message
//! (exact counts, the library's default); `n = 0` times none.
//!
//! The draw is a per-thread pseudo-random one (xorshift), not a counter:
//! no shared cache line between senders, and no pattern a sender's
//! round-robin over `n` targets could line up with (a counter would time
//! the same target every time, and the others never).

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

static EVERY: AtomicU32 = AtomicU32::new(1);

/// Times about one message (and one request) in `n`, each recorded with
/// weight `n`, for the whole process: `1` times every one (the default),
/// `0` none (counters and gauges stay on).
pub fn set_timing_every(n: u32) {
    EVERY.store(n, Ordering::Relaxed);
}

/// The current `n` of [`set_timing_every`].
#[inline]
pub fn timing_every() -> u32 {
    EVERY.load(Ordering::Relaxed)
}

/// The weight of one timed observation: the `n` it stands for (at least 1,
/// should timing be switched off between the stamp and the record).
#[inline]
pub(crate) fn weight() -> u64 {
    u64::from(timing_every().max(1))
}

thread_local! {
    /// This thread's xorshift64 state, seeded from the standard library's
    /// random hasher keys.
    static DRAW: Cell<u64> = Cell::new({
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new().build_hasher().finish() | 1
    });
}

/// Whether to time the message or request at hand: always at `n = 1`,
/// never at 0, about one in `n` otherwise.
#[inline]
pub(crate) fn sampled() -> bool {
    match timing_every() {
        0 => false,
        1 => true,
        n => DRAW.with(|state| {
            let mut x = state.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            state.set(x);
            // The high 32 bits scaled to [0, n): uniform, no division.
            ((x >> 32) * u64::from(n)) >> 32 == 0
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_one_draw_in_n_is_timed() {
        // The only test in this binary that changes the process-wide n:
        // it sets it back before it ends.
        set_timing_every(8);
        let timed = (0..80_000).filter(|_| sampled()).count();
        set_timing_every(1);
        // 10,000 expected; the binomial's standard deviation is ~94.
        assert!((9_400..=10_600).contains(&timed), "{timed}");
        assert!((0..100).all(|_| sampled()));
    }
}
