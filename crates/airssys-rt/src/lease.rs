//! [`Lease`]: a right to act that lasts until a deadline its holder keeps
//! pushing forward, checked where the action happens.
//!
//! A host of a cluster may run a component only while it can prove, to the
//! others, that it still owns it: it renews a record in shared storage, and
//! the others take the component over once that record has expired. The
//! host's side of that proof is a `Lease`: each confirmed renewal extends it
//! to a deadline measured from *before* the renewal was sent, shorter than
//! the record's life, so the lease has always ended here before the record
//! can have ended there. Whatever must not happen without ownership (handing
//! a message to a component) checks [`holds`](Lease::holds) first: a process
//! that was paused past its deadline does not act on the first thing it
//! reads when it wakes up, whichever of its tasks runs first.
//!
//! Checking costs one atomic load and one monotonic clock read (no lock, no
//! allocation), so it can sit on the message path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A deadline shared between whoever renews it and whoever checks it.
///
/// Cheap to clone (one reference count); every clone is the same lease.
/// A new lease holds for ever until the first [`renew_until`](Self::renew_until)
/// or [`end`](Self::end): a host that is not in a cluster never loses it.
///
/// ```
/// use std::time::{Duration, Instant};
/// use airssys_rt::Lease;
///
/// let lease = Lease::new();
/// assert!(lease.holds());
/// lease.renew_until(Instant::now() + Duration::from_millis(50));
/// assert!(lease.holds());
/// lease.end();
/// assert!(!lease.holds());
/// ```
#[derive(Clone, Debug)]
pub struct Lease {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// What deadlines are measured from.
    epoch: Instant,
    /// Nanoseconds after `epoch`; `u64::MAX`: holds for ever; 0: ended.
    deadline: AtomicU64,
}

impl Default for Lease {
    fn default() -> Self {
        Self::new()
    }
}

impl Lease {
    /// A lease that holds until it is first renewed with a deadline or ended.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Shared {
                epoch: Instant::now(),
                deadline: AtomicU64::new(u64::MAX),
            }),
        }
    }

    /// Whether the lease holds now. One atomic load and one clock read.
    pub fn holds(&self) -> bool {
        let deadline = self.inner.deadline.load(Ordering::Acquire);
        if deadline == u64::MAX {
            return true;
        }
        self.nanos(Instant::now()) < deadline
    }

    /// How long the lease still holds (`None`: for ever; zero: it ended).
    pub fn remaining(&self) -> Option<Duration> {
        let deadline = self.inner.deadline.load(Ordering::Acquire);
        if deadline == u64::MAX {
            return None;
        }
        Some(Duration::from_nanos(
            deadline.saturating_sub(self.nanos(Instant::now())),
        ))
    }

    /// Extends the lease to `deadline`. A deadline earlier than the present
    /// one is ignored (a late confirmation of an older renewal never
    /// shortens a newer one), except that a lease that held for ever now
    /// has this deadline.
    pub fn renew_until(&self, deadline: Instant) {
        let at = self.nanos(deadline).max(1);
        let _ = self
            .inner
            .deadline
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (now == u64::MAX || now == 0 || at > now).then_some(at)
            });
    }

    /// Ends the lease now: [`holds`](Self::holds) is `false` until the next
    /// [`renew_until`](Self::renew_until).
    pub fn end(&self) {
        self.inner.deadline.store(0, Ordering::Release);
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.inner.epoch).as_nanos())
            .unwrap_or(u64::MAX - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_ends_at_its_deadline() {
        let lease = Lease::new();
        lease.renew_until(Instant::now() + Duration::from_millis(30));
        assert!(lease.holds());
        std::thread::sleep(Duration::from_millis(40));
        assert!(!lease.holds());
        assert_eq!(lease.remaining(), Some(Duration::ZERO));
    }

    #[test]
    fn an_older_renewal_never_shortens_a_newer_one() {
        let lease = Lease::new();
        let now = Instant::now();
        lease.renew_until(now + Duration::from_secs(10));
        lease.renew_until(now + Duration::from_millis(1));
        assert!(lease
            .remaining()
            .is_some_and(|r| r > Duration::from_secs(9)));
    }

    #[test]
    fn an_ended_lease_is_renewed_by_the_next_deadline() {
        let lease = Lease::new();
        lease.end();
        assert!(!lease.holds());
        lease.renew_until(Instant::now() + Duration::from_secs(5));
        assert!(lease.holds());
    }
}
