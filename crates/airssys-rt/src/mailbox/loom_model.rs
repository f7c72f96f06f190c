//! Loom model checks of the mailbox's wake-up protocol.
//!
//! Each model runs a few threads against one mailbox and lets loom try
//! their interleavings (with at most `LOOM_MAX_PREEMPTIONS` forced thread
//! switches, 3 unless set). A lost wake-up shows as a deadlock, which loom
//! reports as a failure, so every `block_on` here doubles as the check that
//! the wake-up it waits for comes.
//!
//! Modelled: the mailbox's own code (queue lock, the two length counters
//! and the stale `taken_seen` read, the waiting-sender count and the
//! batched wake-up of senders, the receiver's waker, close) with every
//! atomic ordering as written. Not modelled: tokio's `Notify` (a stand-in
//! with its documented semantics runs instead, see `crate::loom`; tokio
//! checks its own), `parking_lot` (loom's mutex runs instead), the actor
//! loop around the mailbox, and the buffer shrinking (never reached by
//! these small queues). Loom models SeqCst loads and stores only as
//! acquire/release, which is why the mailbox orders its one store-then-load
//! handshake (`take` against a waiting sender) with SeqCst fences, which
//! loom does model: written as a SeqCst store and load, the first model
//! below reports a lost wake-up that the real memory model rules out.
//!
//! Run with `crates/airssys-rt/loom.sh`.

use std::future::{poll_fn, Future};
use std::task::{Context, Poll};

use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;

use super::{Mailbox, MailboxConfig, Ordering, ReceiveBuffer, TryPushError};

/// Runs `f` under loom with the preemption bound from the environment, or
/// 3 when none is set (unbounded, some models would run for hours).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

fn bounded(capacity: usize) -> Arc<Mailbox<u32>> {
    Arc::new(Mailbox::new(MailboxConfig::Bounded(capacity)))
}

/// Waits for the next value, as the actor loop does.
fn recv(mailbox: &Mailbox<u32>, buffer: &mut ReceiveBuffer<u32>) -> Option<u32> {
    block_on(poll_fn(|cx| mailbox.poll_recv(buffer, cx)))
}

/// Spawns a thread that pushes `value` and returns the push's result.
fn spawn_push(mailbox: &Arc<Mailbox<u32>>, value: u32) -> thread::JoinHandle<Result<(), u32>> {
    let mailbox = Arc::clone(mailbox);
    thread::spawn(move || block_on(mailbox.push(value)))
}

#[test]
fn a_sender_waiting_on_a_full_mailbox_is_woken_when_the_receiver_frees_room() {
    model(|| {
        let mailbox = bounded(1);
        mailbox.try_push(1).unwrap();
        let sender = spawn_push(&mailbox, 2);
        let mut buffer = ReceiveBuffer::new();
        assert_eq!(recv(&mailbox, &mut buffer), Some(1));
        assert_eq!(sender.join().unwrap(), Ok(()));
        assert_eq!(mailbox.try_recv(&mut buffer), Some(2));
    });
}

#[test]
fn a_waiting_sender_is_woken_once_a_wake_batch_of_slots_is_free() {
    // Capacity 16: senders are woken every 2 freed slots. The receiver's
    // buffer holds all 16, so only the batch count can wake the sender.
    model(|| {
        let mailbox = bounded(16);
        for n in 0..16 {
            mailbox.try_push(n).unwrap();
        }
        let sender = spawn_push(&mailbox, 16);
        let mut buffer = ReceiveBuffer::new();
        assert_eq!(mailbox.try_recv(&mut buffer), Some(0));
        assert_eq!(mailbox.try_recv(&mut buffer), Some(1));
        assert_eq!(sender.join().unwrap(), Ok(()));
        let rest: Vec<u32> = std::iter::from_fn(|| mailbox.try_recv(&mut buffer)).collect();
        assert_eq!(rest, (2..17).collect::<Vec<_>>());
    });
}

#[test]
fn a_waiting_sender_is_woken_when_the_receivers_batch_ends() {
    // Capacity 16 (wake batch 2), the receiver's buffer down to its last
    // value: taking it frees one slot, short of a batch, but ends the batch.
    model(|| {
        let mailbox = bounded(16);
        let mut buffer = ReceiveBuffer::new();
        mailbox.try_push(0).unwrap();
        mailbox.try_push(1).unwrap();
        assert_eq!(mailbox.try_recv(&mut buffer), Some(0));
        for n in 2..17 {
            mailbox.try_push(n).unwrap();
        }
        let sender = spawn_push(&mailbox, 17);
        assert_eq!(mailbox.try_recv(&mut buffer), Some(1));
        assert_eq!(sender.join().unwrap(), Ok(()));
        let rest: Vec<u32> = std::iter::from_fn(|| mailbox.try_recv(&mut buffer)).collect();
        assert_eq!(rest, (2..18).collect::<Vec<_>>());
    });
}

#[test]
fn a_receiver_waiting_on_an_empty_mailbox_is_woken_by_a_push() {
    model(|| {
        let mailbox = bounded(2);
        let sender = {
            let mailbox = Arc::clone(&mailbox);
            thread::spawn(move || {
                assert!(mailbox.try_push(1).is_ok());
                assert!(mailbox.try_push(2).is_ok());
            })
        };
        let mut buffer = ReceiveBuffer::new();
        assert_eq!(recv(&mailbox, &mut buffer), Some(1));
        assert_eq!(recv(&mailbox, &mut buffer), Some(2));
        sender.join().unwrap();
    });
}

#[test]
fn closing_wakes_a_receiver_waiting_on_an_empty_mailbox() {
    model(|| {
        let mailbox = bounded(1);
        let closer = {
            let mailbox = Arc::clone(&mailbox);
            thread::spawn(move || mailbox.close())
        };
        assert_eq!(recv(&mailbox, &mut ReceiveBuffer::new()), None);
        closer.join().unwrap();
    });
}

#[test]
fn closing_wakes_waiting_senders_and_close_waiters_and_hands_values_back() {
    model(|| {
        let mailbox = bounded(1);
        mailbox.try_push(1).unwrap();
        let sender = spawn_push(&mailbox, 2);
        let close_waiter = {
            let mailbox = Arc::clone(&mailbox);
            thread::spawn(move || block_on(mailbox.closed()))
        };
        mailbox.close();
        assert_eq!(sender.join().unwrap(), Err(2), "the value is handed back");
        close_waiter.join().unwrap();
        let mut buffer = ReceiveBuffer::new();
        assert_eq!(recv(&mailbox, &mut buffer), Some(1), "queued values stay");
        assert_eq!(recv(&mailbox, &mut buffer), None);
    });
}

#[test]
fn a_push_racing_close_is_either_received_or_handed_back() {
    model(|| {
        let mailbox = bounded(1);
        let sender = {
            let mailbox = Arc::clone(&mailbox);
            thread::spawn(move || mailbox.try_push(1))
        };
        let closer = {
            let mailbox = Arc::clone(&mailbox);
            thread::spawn(move || mailbox.close())
        };
        let mut buffer = ReceiveBuffer::new();
        let received: Vec<u32> = std::iter::from_fn(|| recv(&mailbox, &mut buffer)).collect();
        closer.join().unwrap();
        match sender.join().unwrap() {
            Ok(()) => assert_eq!(received, vec![1]),
            Err(TryPushError::Closed(1)) => assert_eq!(received, Vec::<u32>::new()),
            Err(other) => panic!("unexpected push result {other:?}"),
        }
    });
}

#[test]
fn two_senders_and_a_receiver_never_lose_or_duplicate_a_value() {
    model(|| {
        let mailbox = bounded(1);
        let first = spawn_push(&mailbox, 1);
        let second = spawn_push(&mailbox, 2);
        let mut buffer = ReceiveBuffer::new();
        let mut received = vec![
            recv(&mailbox, &mut buffer).unwrap(),
            recv(&mailbox, &mut buffer).unwrap(),
        ];
        assert_eq!(first.join().unwrap(), Ok(()));
        assert_eq!(second.join().unwrap(), Ok(()));
        received.sort_unstable();
        assert_eq!(received, vec![1, 2]);
        assert_eq!(mailbox.try_recv(&mut buffer), None);
        assert_eq!(mailbox.len(), 0);
    });
}

#[test]
fn a_cancelled_wait_for_room_neither_swallows_a_wake_up_nor_stays_counted() {
    model(|| {
        let mailbox = bounded(1);
        mailbox.try_push(1).unwrap();
        let sender = spawn_push(&mailbox, 2);
        // Polls a push once and drops it: `true` if that one poll pushed.
        let cancelled = {
            let mailbox = Arc::clone(&mailbox);
            thread::spawn(move || {
                let mut push = Box::pin(mailbox.push(3));
                let mut cx = Context::from_waker(futures::task::noop_waker_ref());
                push.as_mut().poll(&mut cx) == Poll::Ready(Ok(()))
            })
        };
        let mut buffer = ReceiveBuffer::new();
        let mut received = Vec::new();
        while received.last() != Some(&2) {
            received.push(recv(&mailbox, &mut buffer).unwrap());
        }
        assert_eq!(sender.join().unwrap(), Ok(()));
        let pushed_by_the_cancelled = cancelled.join().unwrap();
        received.extend(std::iter::from_fn(|| mailbox.try_recv(&mut buffer)));
        received.sort_unstable();
        let expected = if pushed_by_the_cancelled {
            vec![1, 2, 3]
        } else {
            vec![1, 2]
        };
        assert_eq!(received, expected);
        assert_eq!(mailbox.waiting_senders.load(Ordering::SeqCst), 0);
    });
}
