//! Mailboxes: the queue in front of every actor.
//!
//! Bounded by default ([`DEFAULT_MAILBOX_CAPACITY`] messages). When a bounded
//! mailbox is full, [`tell`](crate::ActorRef::tell) waits for room
//! (backpressure on the sender) and [`try_tell`](crate::ActorRef::try_tell)
//! fails at once with [`TrySendError::MailboxFull`](crate::TrySendError),
//! handing the message back. Unbounded mailboxes never push back; use them
//! only where the producer is known to be slower than the actor.
//!
//! A mailbox is stored inline in the actor's shared record (one allocation
//! per actor for handle, counters and queue). Its queue is a `VecDeque`
//! behind a short lock, allocated on the first message and given back when
//! a large backlog drains, so an idle actor's mailbox costs no heap at all.
//! The receiver takes the whole queue at once (swapping in its own empty
//! buffer), so under load it touches the lock once per batch, not once per
//! message. Its length is two counters, one written only by senders (under
//! the lock) and one only by the receiver, so a message costs no contended
//! atomic beyond the lock; a slot counts as free once the actor takes its
//! message, so at most `capacity` messages wait, however they are split
//! between the two buffers. The sender side and the receiver side of the
//! record sit on different cache lines.
//!
//! The wake-up protocol (waiting senders woken in batches, the receiver's
//! waker, close) is model-checked with [loom](https://docs.rs/loom): the
//! mailbox takes its atomics, mutex and `Notify` from `crate::loom`, which
//! are `std`'s, `parking_lot`'s and tokio's in a normal build and loom's
//! under `--cfg airssys_loom`. The models are in `mailbox/loom_model.rs`;
//! `crates/airssys-rt/loom.sh` runs them.

use std::collections::VecDeque;
use std::task::Waker;

use crate::loom::{AtomicBool, AtomicUsize, Mutex, Notify, Ordering};

/// Capacity of a mailbox when the spawn does not set one: 1024 messages.
pub const DEFAULT_MAILBOX_CAPACITY: usize = 1024;

/// How an actor's mailbox is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailboxConfig {
    /// At most this many queued messages (at least 1).
    Bounded(usize),
    /// No limit; senders never wait.
    Unbounded,
}

impl Default for MailboxConfig {
    /// `Bounded(DEFAULT_MAILBOX_CAPACITY)`.
    fn default() -> Self {
        MailboxConfig::Bounded(DEFAULT_MAILBOX_CAPACITY)
    }
}

/// Why a non-blocking push failed; the value is handed back.
#[derive(Debug)]
pub(crate) enum TryPushError<T> {
    Full(T),
    Closed(T),
}

/// Why a push with a deadline failed; the value is handed back.
#[derive(Debug)]
pub(crate) enum PushError<T> {
    /// The mailbox is closed.
    Closed(T),
    /// The deadline passed before room freed up.
    TimedOut(T),
}

/// A multi-producer, single-consumer queue. Any number of handles push; the
/// one task that owns the actor's loop receives (the receiving methods are
/// only called by that owner, which the actor module guarantees).
///
/// The fields are in a fixed order (`repr(C)`): first what senders write on
/// every push, then the two wake-up lists (64 bytes, touched only under
/// backpressure and at close), then what the receiver writes on every take.
/// The cold middle keeps the two hot ends on different cache lines without
/// padding, and without raising the record's alignment (which would make
/// every spawn's allocation an aligned one, a slow path in glibc).
#[repr(C)]
pub(crate) struct Mailbox<T> {
    // Written by senders.
    queue: Mutex<Queue<T>>,
    /// Messages ever enqueued; written under the queue lock.
    pushed: AtomicUsize,
    /// Read by senders at every push; never written after creation.
    capacity: Option<usize>,
    /// Set (under the queue lock) once the mailbox refuses messages.
    closed: AtomicBool,
    // Cold: used only while senders wait for room, and at close.
    /// Wakes senders waiting for room (once per batch of freed slots, see
    /// `take`) and, on close, fails them.
    room: Notify,
    /// Woken when the mailbox closes, for [`closed`](Self::closed).
    on_close: Notify,
    // Written by the receiver (or rarely).
    /// Senders waiting for room; rarely non-zero, read at every take.
    waiting_senders: AtomicUsize,
    /// Messages ever handed to the actor; written only by the receiver.
    taken: AtomicUsize,
    /// Slots freed while senders waited, since they were last woken;
    /// written only by the receiver.
    freed_unannounced: AtomicUsize,
}

struct Queue<T> {
    items: VecDeque<T>,
    /// The receiver's waker while it waits on an empty queue.
    receiver: Option<Waker>,
    /// `taken` as senders last read it. It only grows, so a stale value
    /// overstates the length: senders re-read the receiver's counter only
    /// when the mailbox looks full, not at every push.
    taken_seen: usize,
}
impl<T> Mailbox<T> {
    /// An empty, open mailbox of the given shape. Allocates nothing.
    pub(crate) fn new(config: MailboxConfig) -> Self {
        let capacity = match config {
            MailboxConfig::Bounded(capacity) => Some(capacity.max(1)),
            MailboxConfig::Unbounded => None,
        };
        Self {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                receiver: None,
                taken_seen: 0,
            }),
            pushed: AtomicUsize::new(0),
            capacity,
            closed: AtomicBool::new(false),
            room: Notify::new(),
            on_close: Notify::new(),
            waiting_senders: AtomicUsize::new(0),
            taken: AtomicUsize::new(0),
            freed_unannounced: AtomicUsize::new(0),
        }
    }

    /// Refuses new values, failing waiting senders; queued ones can still
    /// be taken. Idempotent.
    pub(crate) fn close(&self) {
        let receiver = {
            let mut queue = self.queue.lock();
            if self.closed.swap(true, Ordering::SeqCst) {
                return;
            }
            queue.receiver.take()
        };
        // A receiver waiting on an empty queue learns it is closed.
        if let Some(receiver) = receiver {
            receiver.wake();
        }
        self.room.notify_waiters();
        self.on_close.notify_waiters();
    }

    /// Values not yet taken by the receiver. O(1), lock-free.
    pub(crate) fn len(&self) -> usize {
        let taken = self.taken.load(Ordering::Acquire);
        let pushed = self.pushed.load(Ordering::Acquire);
        pushed.wrapping_sub(taken).min(isize::MAX as usize)
    }

    /// The capacity, `None` for unbounded.
    pub(crate) fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    /// `true` once closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Waits until the mailbox is closed.
    ///
    /// # Cancel safety
    /// Cancel-safe.
    pub(crate) async fn closed(&self) {
        loop {
            let notified = self.on_close.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a close in between wakes it.
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }
}

/// The receiver's side buffer: what it took from the queue in one go and
/// has not handed to the actor yet. Owned by the single receiver.
pub(crate) struct ReceiveBuffer<T> {
    items: VecDeque<T>,
}

impl<T> ReceiveBuffer<T> {
    /// Empty; allocates nothing.
    pub(crate) fn new() -> Self {
        Self {
            items: VecDeque::new(),
        }
    }
}

mod receive;
mod send;

#[cfg(all(test, airssys_loom))]
mod loom_model;

#[cfg(all(test, not(airssys_loom)))]
mod tests;
