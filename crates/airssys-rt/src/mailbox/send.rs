//! The sender side of a [`Mailbox`]: enqueueing with or without waiting
//! for room, and the count of senders waiting (see the wake-up protocol in
//! the [module docs](super)).

use super::{Mailbox, PushError, TryPushError};
use crate::loom::{fence, AtomicUsize, Ordering};

impl<T> Mailbox<T> {
    /// Waits for room, then enqueues. Fails (handing the value back) only
    /// when the mailbox is closed.
    ///
    /// # Cancel safety
    /// Dropped while waiting for room, the value is dropped with it and was
    /// never enqueued.
    pub(crate) async fn push(&self, value: T) -> Result<(), T> {
        self.push_until(value, None).await.map_err(|e| match e {
            PushError::Closed(value) | PushError::TimedOut(value) => value,
        })
    }

    /// Waits for room until `deadline` (forever when `None`), then
    /// enqueues. Fails, handing the value back, when the mailbox is closed
    /// or the deadline passes first.
    ///
    /// # Cancel safety
    /// Dropped while waiting for room, the value is dropped with it and was
    /// never enqueued.
    pub(crate) async fn push_until(
        &self,
        value: T,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<(), PushError<T>> {
        // A unit of tokio's cooperative budget per send, as a tokio
        // channel's: a task that sends in a loop and always finds room
        // yields every so often, and the other tasks of its worker (the
        // actors it sends to among them) get their turn. Dropped here,
        // nothing was sent.
        tokio::task::coop::consume_budget().await;
        let mut value = match self.try_push(value) {
            Ok(()) => return Ok(()),
            Err(TryPushError::Closed(value)) => return Err(PushError::Closed(value)),
            Err(TryPushError::Full(value)) => value,
        };
        // Slow path: announce the wait, then re-check, so a slot freed in
        // between is either seen here or answered with a wake-up.
        let _waiting = WaitingSender::new(&self.waiting_senders);
        loop {
            let room = self.room.notified();
            let mut room = std::pin::pin!(room);
            room.as_mut().enable();
            value = match self.try_push(value) {
                Ok(()) => return Ok(()),
                Err(TryPushError::Closed(value)) => return Err(PushError::Closed(value)),
                Err(TryPushError::Full(value)) => value,
            };
            match deadline {
                None => room.await,
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, room).await.is_err() {
                        return Err(PushError::TimedOut(value));
                    }
                }
            }
        }
    }

    /// Enqueues without waiting, and wakes the receiver if it waits.
    pub(crate) fn try_push(&self, value: T) -> Result<(), TryPushError<T>> {
        self.enqueue(value, self.capacity)
    }

    /// Enqueues even when the mailbox is full; fails (handing the value
    /// back) only when it is closed. For control signals whose number is
    /// bounded elsewhere (one per monitor or link): the length may then
    /// exceed the capacity by that many, and senders wait until it is back
    /// under.
    pub(crate) fn push_past_capacity(&self, value: T) -> Result<(), T> {
        self.enqueue(value, None).map_err(|e| match e {
            TryPushError::Closed(value) | TryPushError::Full(value) => value,
        })
    }

    /// Enqueues if fewer than `capacity` values wait (any number when
    /// `None`), and wakes the receiver if it waits.
    fn enqueue(&self, value: T, capacity: Option<usize>) -> Result<(), TryPushError<T>> {
        let waiting = {
            let mut queue = self.queue.lock();
            if self.closed.load(Ordering::Relaxed) {
                return Err(TryPushError::Closed(value));
            }
            let pushed = self.pushed.load(Ordering::Relaxed);
            if let Some(capacity) = capacity {
                if pushed.wrapping_sub(queue.taken_seen) >= capacity {
                    // A waiting sender's announcement fence orders this
                    // load against the receiver's: see `take`.
                    queue.taken_seen = self.taken.load(Ordering::Acquire);
                    if pushed.wrapping_sub(queue.taken_seen) >= capacity {
                        return Err(TryPushError::Full(value));
                    }
                }
            }
            queue.items.push_back(value);
            self.pushed.store(pushed.wrapping_add(1), Ordering::Relaxed);
            queue.receiver.take()
        };
        if let Some(receiver) = waiting {
            receiver.wake();
        }
        Ok(())
    }
}

/// Counts a sender as waiting for room for as long as it lives, including
/// when its push is cancelled.
struct WaitingSender<'a>(&'a AtomicUsize);

impl<'a> WaitingSender<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        // Pairs with the receiver's fence in `take`: every later read of
        // `taken` by this sender either sees a take, or that take sees
        // this announcement.
        fence(Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for WaitingSender<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
