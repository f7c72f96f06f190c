//! [`Wakes`]: when a supervisor has work to do next (a restart whose
//! backoff ends, a health check that is due), without looking at every
//! child on every turn of its loop.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tokio::time::Instant;

use super::super::spec::ChildId;

/// A min-heap of (when, which child). An entry is a hint: the child may
/// have been stopped, restarted or removed since it was pushed, so the
/// supervisor checks each against the child's state when it comes up
/// (stale ones are dropped then). Pushing is O(log n).
#[derive(Default)]
pub(super) struct Wakes {
    heap: BinaryHeap<Reverse<(Instant, ChildId)>>,
}

impl Wakes {
    /// Something for child `id` is due at `at`.
    pub(super) fn push(&mut self, at: Instant, id: ChildId) {
        self.heap.push(Reverse((at, id)));
    }

    /// The earliest entry that `still_due` accepts, dropping those before
    /// it that it refuses.
    pub(super) fn next(&mut self, still_due: impl Fn(Instant, ChildId) -> bool) -> Option<Instant> {
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if still_due(at, id) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Takes every entry due at or before `now`, earliest first.
    pub(super) fn take_due(&mut self, now: Instant) -> Vec<(Instant, ChildId)> {
        let mut due = Vec::new();
        while let Some(&Reverse((at, id))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            due.push((at, id));
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn next_skips_what_is_no_longer_due_and_take_due_stops_at_now() {
        let now = Instant::now();
        let (a, b, c) = (ChildId::next(), ChildId::next(), ChildId::next());
        let mut wakes = Wakes::default();
        wakes.push(now + Duration::from_secs(3), c);
        wakes.push(now + Duration::from_secs(1), a);
        wakes.push(now + Duration::from_secs(2), b);
        assert_eq!(
            wakes.next(|_, id| id != a),
            Some(now + Duration::from_secs(2))
        );
        let due = wakes.take_due(now + Duration::from_secs(2));
        assert_eq!(due, vec![(now + Duration::from_secs(2), b)]);
        assert_eq!(wakes.next(|_, _| true), Some(now + Duration::from_secs(3)));
        assert_eq!(wakes.next(|_, _| false), None);
    }
}
