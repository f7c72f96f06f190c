//! Unit tests of the mailbox: capacity, cache-line layout, wake-ups, close, memory.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::receive::SHRINK_ABOVE;
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
