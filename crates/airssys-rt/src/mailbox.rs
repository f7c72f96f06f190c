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
use std::task::{Context, Poll, Waker};

use crate::loom::{fence, AtomicBool, AtomicUsize, Mutex, Notify, Ordering};

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

/// A drained buffer that grew past this many slots gives it back (keeping
/// [`KEPT_SLOTS`]), so a burst does not pin memory for good.
const SHRINK_ABOVE: usize = 256;
const KEPT_SLOTS: usize = 16;

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

#[cfg(all(test, airssys_loom))]
mod loom_model;

#[cfg(all(test, not(airssys_loom)))]
mod tests {
    use std::future::Future;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::testing::WakeFlag;

    /// Waits for the next value, as the actor loop does.
    async fn recv(mailbox: &Mailbox<u32>, buffer: &mut ReceiveBuffer<u32>) -> Option<u32> {
        std::future::poll_fn(|cx| mailbox.poll_recv(buffer, cx)).await
    }

    /// A one-slot mailbox holding 1, with a task waiting to push 2.
    async fn full_with_a_waiting_sender() -> (
        Arc<Mailbox<u32>>,
        ReceiveBuffer<u32>,
        tokio::task::JoinHandle<Result<(), u32>>,
    ) {
        let mailbox = bounded(1);
        mailbox.push(1).await.unwrap();
        let waiting = waiting_push(&mailbox, 2).await;
        (mailbox, ReceiveBuffer::new(), waiting)
    }

    fn bounded(capacity: usize) -> Arc<Mailbox<u32>> {
        Arc::new(Mailbox::new(MailboxConfig::Bounded(capacity)))
    }

    #[test]
    fn a_bounded_mailbox_holds_at_most_its_capacity() {
        let mailbox = bounded(3);
        let mut buffer = ReceiveBuffer::new();
        for n in 0..3 {
            assert!(mailbox.try_push(n).is_ok());
        }
        assert!(matches!(mailbox.try_push(3), Err(TryPushError::Full(3))));
        assert_eq!(mailbox.len(), 3);
        // Taking one moves the whole queue to the receiver's buffer, but
        // frees exactly one slot.
        assert_eq!(mailbox.try_recv(&mut buffer), Some(0));
        assert_eq!(mailbox.len(), 2);
        assert!(mailbox.try_push(3).is_ok());
        assert!(matches!(mailbox.try_push(4), Err(TryPushError::Full(4))));
        let rest: Vec<u32> = std::iter::from_fn(|| mailbox.try_recv(&mut buffer)).collect();
        assert_eq!(rest, vec![1, 2, 3]);
        assert_eq!(mailbox.len(), 0);
    }

    #[test]
    fn what_senders_write_and_what_the_receiver_writes_never_share_a_cache_line() {
        type M = Mailbox<u64>;
        let senders_end = std::mem::offset_of!(M, closed) + 1;
        let receivers_start = std::mem::offset_of!(M, waiting_senders);
        assert!(std::mem::offset_of!(M, pushed) < senders_end);
        assert!(std::mem::offset_of!(M, capacity) < senders_end);
        assert!(
            receivers_start - senders_end >= 64,
            "{} bytes between the sides",
            receivers_start - senders_end
        );
        assert!(std::mem::offset_of!(M, taken) > receivers_start);
    }

    #[test]
    fn an_unbounded_mailbox_never_reports_full() {
        let mailbox = Mailbox::new(MailboxConfig::Unbounded);
        for n in 0..10_000u32 {
            assert!(mailbox.try_push(n).is_ok());
        }
        assert_eq!(mailbox.len(), 10_000);
        assert_eq!(mailbox.capacity(), None);
    }

    #[tokio::test]
    async fn a_sender_waiting_for_room_is_woken_when_a_slot_frees() {
        let (mailbox, mut buffer, waiting) = full_with_a_waiting_sender().await;
        assert!(!waiting.is_finished(), "the mailbox was full");
        assert_eq!(recv(&mailbox, &mut buffer).await, Some(1));
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the waiting sender got the freed slot")
            .unwrap()
            .unwrap();
        assert_eq!(recv(&mailbox, &mut buffer).await, Some(2));
    }

    /// Spawns a task pushing `value`; returns once it waits for room.
    async fn waiting_push(
        mailbox: &Arc<Mailbox<u32>>,
        value: u32,
    ) -> tokio::task::JoinHandle<Result<(), u32>> {
        let waiting = tokio::spawn({
            let mailbox = Arc::clone(mailbox);
            async move { mailbox.push(value).await }
        });
        while mailbox.waiting_senders.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        waiting
    }

    #[test]
    fn waiting_senders_are_woken_once_an_eighth_of_the_capacity_is_free() {
        let mailbox = bounded(64);
        let mut buffer = ReceiveBuffer::new();
        for n in 0..64 {
            mailbox.try_push(n).unwrap();
        }
        let (waker, woken) = WakeFlag::waker();
        let mut cx = Context::from_waker(&waker);
        let mut waiting = std::pin::pin!(mailbox.push(64));
        assert!(waiting.as_mut().poll(&mut cx).is_pending(), "full");
        // The receiver's batch is the whole queue: 64 messages.
        for n in 0..7 {
            assert_eq!(mailbox.try_recv(&mut buffer), Some(n));
        }
        assert!(!woken.take(), "seven freed slots are not a batch yet");
        assert_eq!(mailbox.try_recv(&mut buffer), Some(7));
        assert!(woken.take(), "woken by the eighth");
        assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        assert_eq!(mailbox.len(), 57);
    }

    #[test]
    fn waiting_senders_are_woken_when_the_receivers_batch_ends() {
        let mailbox = bounded(64);
        let mut buffer = ReceiveBuffer::new();
        for n in 0..3 {
            mailbox.try_push(n).unwrap();
        }
        // A batch of three, one of them taken; then the queue fills up.
        assert_eq!(mailbox.try_recv(&mut buffer), Some(0));
        for n in 3..65 {
            mailbox.try_push(n).unwrap();
        }
        let (waker, woken) = WakeFlag::waker();
        let mut cx = Context::from_waker(&waker);
        let mut waiting = std::pin::pin!(mailbox.push(65));
        assert!(waiting.as_mut().poll(&mut cx).is_pending(), "full");
        assert_eq!(mailbox.try_recv(&mut buffer), Some(1));
        assert!(!woken.take(), "one freed slot, batch not over");
        assert_eq!(mailbox.try_recv(&mut buffer), Some(2));
        assert!(
            woken.take(),
            "woken when the batch ended, two slots short of a wake batch"
        );
        assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        let rest: Vec<u32> = std::iter::from_fn(|| mailbox.try_recv(&mut buffer)).collect();
        assert_eq!(rest, (3..66).collect::<Vec<_>>());
    }

    /// `senders` tasks push `each` values through a mailbox of `capacity`
    /// while one receiver takes them all: nothing lost, per-sender order
    /// kept, no wake-up lost (every receive under a timeout).
    async fn senders_through(capacity: usize, senders: u32, each: u32) {
        let mailbox = bounded(capacity);
        let tasks: Vec<_> = (0..senders)
            .map(|sender| {
                let mailbox = Arc::clone(&mailbox);
                tokio::spawn(async move {
                    for n in 0..each {
                        mailbox.push(sender * each + n).await.unwrap();
                    }
                })
            })
            .collect();
        let mut buffer = ReceiveBuffer::new();
        let mut next = vec![0u32; senders as usize];
        for _ in 0..senders * each {
            let value = tokio::time::timeout(Duration::from_secs(10), recv(&mailbox, &mut buffer))
                .await
                .expect("no wake-up was lost")
                .unwrap();
            let (sender, n) = ((value / each) as usize, value % each);
            assert_eq!(n, next[sender], "per-sender order");
            next[sender] += 1;
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(mailbox.len(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_senders_on_a_mid_sized_mailbox_lose_nothing_and_keep_their_order() {
        senders_through(64, 4, 20_000).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_senders_on_a_tiny_mailbox_lose_nothing_and_keep_their_order() {
        senders_through(2, 8, 2_000).await;
    }

    #[tokio::test]
    async fn closing_fails_waiting_senders_and_keeps_what_is_queued() {
        let (mailbox, mut buffer, waiting) = full_with_a_waiting_sender().await;
        let closed = tokio::spawn({
            let mailbox = Arc::clone(&mailbox);
            async move { mailbox.closed().await }
        });
        mailbox.close();
        assert_eq!(waiting.await.unwrap(), Err(2), "the value is handed back");
        closed.await.unwrap();
        assert!(mailbox.is_closed());
        assert!(matches!(mailbox.try_push(3), Err(TryPushError::Closed(3))));
        assert_eq!(recv(&mailbox, &mut buffer).await, Some(1));
        assert_eq!(recv(&mailbox, &mut buffer).await, None);
    }

    #[test]
    fn a_receiver_waiting_on_an_empty_mailbox_wakes_when_it_is_closed() {
        let mailbox = bounded(4);
        let mut buffer = ReceiveBuffer::new();
        let (waker, woken) = WakeFlag::waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(mailbox.poll_recv(&mut buffer, &mut cx), Poll::Pending);
        assert!(!woken.take(), "nothing was queued");
        mailbox.close();
        assert!(woken.take(), "the close woke the receiver");
        assert_eq!(mailbox.poll_recv(&mut buffer, &mut cx), Poll::Ready(None));
    }

    #[test]
    fn a_receiver_waiting_on_an_empty_mailbox_wakes_when_a_value_is_pushed() {
        let mailbox = bounded(4);
        let mut buffer = ReceiveBuffer::new();
        let (waker, woken) = WakeFlag::waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(mailbox.poll_recv(&mut buffer, &mut cx), Poll::Pending);
        mailbox.try_push(1).unwrap();
        assert!(woken.take(), "the push woke the receiver");
        assert_eq!(
            mailbox.poll_recv(&mut buffer, &mut cx),
            Poll::Ready(Some(1))
        );
    }

    #[test]
    fn a_cancelled_wait_for_room_is_not_counted_as_waiting() {
        let mailbox = bounded(1);
        mailbox.try_push(1).unwrap();
        let mut waiting = Box::pin(mailbox.push(2));
        let (waker, _) = WakeFlag::waker();
        let mut cx = Context::from_waker(&waker);
        assert!(waiting.as_mut().poll(&mut cx).is_pending(), "full");
        assert_eq!(mailbox.waiting_senders.load(Ordering::SeqCst), 1);
        drop(waiting);
        assert_eq!(mailbox.waiting_senders.load(Ordering::SeqCst), 0);
        assert_eq!(mailbox.len(), 1);
    }

    #[test]
    fn a_drained_burst_gives_its_memory_back() {
        let mailbox = Mailbox::new(MailboxConfig::Unbounded);
        let mut buffer = ReceiveBuffer::new();
        for n in 0..10_000u32 {
            mailbox.try_push(n).unwrap();
        }
        while mailbox.try_recv(&mut buffer).is_some() {}
        assert!(buffer.items.capacity() <= SHRINK_ABOVE);
    }
}
