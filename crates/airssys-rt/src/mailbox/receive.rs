//! The receiver side of a [`Mailbox`]: taking a batch of values into the
//! receiver's [`ReceiveBuffer`], freeing their slots, and waking waiting
//! senders once per batch (see the wake-up protocol in the
//! [module docs](super)).

use std::collections::VecDeque;
use std::task::{Context, Poll};

use super::{Mailbox, ReceiveBuffer};
use crate::loom::{fence, Ordering};

/// A drained buffer that grew past this many slots gives it back (keeping
/// [`KEPT_SLOTS`]), so a burst does not pin memory for good.
pub(super) const SHRINK_ABOVE: usize = 256;
const KEPT_SLOTS: usize = 16;

impl<T> Mailbox<T> {
    /// Polls for the next value; `Ready(None)` once closed and empty.
    /// Receiver only, always with the same `buffer`. Poll-style, so the
    /// actor loop waits on a future of one pointer.
    ///
    /// # Cancel safety
    /// A value is either returned or stays queued.
    pub(crate) fn poll_recv(
        &self,
        buffer: &mut ReceiveBuffer<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<T>> {
        if let Some(value) = self.take(buffer) {
            return Poll::Ready(Some(value));
        }
        match self.poll_refill(buffer, cx) {
            Poll::Ready(Some(())) => Poll::Ready(self.take(buffer)),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Takes the next value if one is queued. Receiver only, always with
    /// the same `buffer`.
    pub(crate) fn try_recv(&self, buffer: &mut ReceiveBuffer<T>) -> Option<T> {
        if buffer.items.is_empty() {
            let mut queue = self.queue.lock();
            std::mem::swap(&mut queue.items, &mut buffer.items);
        }
        self.take(buffer)
    }

    /// Moves everything queued into the empty `buffer`; `Ready(None)` once
    /// closed with nothing left, `Pending` (waker stored) while empty.
    fn poll_refill(&self, buffer: &mut ReceiveBuffer<T>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let mut queue = self.queue.lock();
        if !queue.items.is_empty() {
            std::mem::swap(&mut queue.items, &mut buffer.items);
            return Poll::Ready(Some(()));
        }
        if self.closed.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        match &mut queue.receiver {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        drop(queue);
        // Going idle: the receiver's (empty) buffer is given back, so an
        // idle actor holds no queue memory at all (a million idle actors
        // would otherwise keep a few hundred bytes each). The next batch
        // brings its own buffer: one allocation per idle-to-busy turn.
        buffer.items = VecDeque::new();
        Poll::Pending
    }

    /// Takes the front of the receiver's buffer and frees its slot.
    fn take(&self, buffer: &mut ReceiveBuffer<T>) -> Option<T> {
        let value = buffer.items.pop_front()?;
        if buffer.items.is_empty() && buffer.items.capacity() > SHRINK_ABOVE {
            buffer.items.shrink_to(KEPT_SLOTS);
        }
        // Only this receiver writes `taken`. A store then a load of another
        // counter, mirrored by a waiting sender (announce, then re-read
        // `taken`): with a SeqCst fence between the two on both sides,
        // either the sender sees the freed slot, or this load sees the
        // sender and wakes it. A fence rather than a SeqCst store and load:
        // the same one locked instruction on x86 (`lock or` instead of
        // `xchg`), and a pattern loom models (it treats SeqCst loads and
        // stores as AcqRel, so it would report the store-and-load form as a
        // lost wake-up).
        let taken = self.taken.load(Ordering::Relaxed);
        self.taken.store(taken.wrapping_add(1), Ordering::Release);
        fence(Ordering::SeqCst);
        if self.waiting_senders.load(Ordering::Relaxed) > 0 {
            // Waiting senders are woken once per batch of freed slots, not
            // once per slot: at the end of the receiver's batch, or once
            // an eighth of the capacity is free. Every woken sender checks
            // for room again and waits again if there is none; a sender that
            // looked before this store sees the freed slot, one that looked
            // after is counted by the load above and woken by a later take
            // (the mailbox was full, so later takes come).
            // Only the receiver touches this counter: plain load and store.
            let freed = self.freed_unannounced.load(Ordering::Relaxed) + 1;
            if buffer.items.is_empty() || freed >= self.wake_batch() {
                self.freed_unannounced.store(0, Ordering::Relaxed);
                self.room.notify_waiters();
            } else {
                self.freed_unannounced.store(freed, Ordering::Relaxed);
            }
        }
        Some(value)
    }

    /// How many freed slots make waiting senders worth waking before the
    /// receiver's batch ends: an eighth of the capacity, at least one.
    fn wake_batch(&self) -> usize {
        self.capacity.map_or(1, |capacity| (capacity / 8).max(1))
    }
}
