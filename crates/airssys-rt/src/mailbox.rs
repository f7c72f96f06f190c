//! Mailboxes: the queue in front of every actor.
//!
//! Bounded by default ([`DEFAULT_MAILBOX_CAPACITY`] messages). When a bounded
//! mailbox is full, [`tell`](crate::ActorRef::tell) waits for room
//! (backpressure on the sender) and [`try_tell`](crate::ActorRef::try_tell)
//! fails at once with [`TrySendError::MailboxFull`](crate::TrySendError),
//! handing the message back. Unbounded mailboxes never push back; use them
//! only where the producer is known to be slower than the actor.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

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
pub(crate) enum TryPushError<T> {
    Full(T),
    Closed(T),
}

/// The sending side of a mailbox. Cloning it is one atomic increment.
pub(crate) enum MailboxSender<T> {
    Bounded(mpsc::Sender<T>),
    Unbounded {
        tx: mpsc::UnboundedSender<T>,
        len: Arc<AtomicUsize>,
    },
}

impl<T> Clone for MailboxSender<T> {
    fn clone(&self) -> Self {
        match self {
            MailboxSender::Bounded(tx) => MailboxSender::Bounded(tx.clone()),
            MailboxSender::Unbounded { tx, len } => MailboxSender::Unbounded {
                tx: tx.clone(),
                len: Arc::clone(len),
            },
        }
    }
}

/// The receiving side of a mailbox, owned by the actor's slot.
pub(crate) enum MailboxReceiver<T> {
    Bounded(mpsc::Receiver<T>),
    Unbounded {
        rx: mpsc::UnboundedReceiver<T>,
        len: Arc<AtomicUsize>,
    },
}

/// Creates a mailbox of the given shape.
pub(crate) fn mailbox<T>(config: MailboxConfig) -> (MailboxSender<T>, MailboxReceiver<T>) {
    match config {
        MailboxConfig::Bounded(capacity) => {
            let (tx, rx) = mpsc::channel(capacity.max(1));
            (MailboxSender::Bounded(tx), MailboxReceiver::Bounded(rx))
        }
        MailboxConfig::Unbounded => {
            let (tx, rx) = mpsc::unbounded_channel();
            let len = Arc::new(AtomicUsize::new(0));
            (
                MailboxSender::Unbounded {
                    tx,
                    len: Arc::clone(&len),
                },
                MailboxReceiver::Unbounded { rx, len },
            )
        }
    }
}

impl<T> MailboxSender<T> {
    /// Waits for room, then enqueues. Fails only when the mailbox is closed.
    pub(crate) async fn push(&self, value: T) -> Result<(), T> {
        match self {
            MailboxSender::Bounded(tx) => tx.send(value).await.map_err(|e| e.0),
            MailboxSender::Unbounded { tx, len } => {
                len.fetch_add(1, Ordering::Relaxed);
                tx.send(value).map_err(|e| {
                    len.fetch_sub(1, Ordering::Relaxed);
                    e.0
                })
            }
        }
    }

    /// Enqueues without waiting.
    pub(crate) fn try_push(&self, value: T) -> Result<(), TryPushError<T>> {
        match self {
            MailboxSender::Bounded(tx) => tx.try_send(value).map_err(|e| match e {
                mpsc::error::TrySendError::Full(v) => TryPushError::Full(v),
                mpsc::error::TrySendError::Closed(v) => TryPushError::Closed(v),
            }),
            MailboxSender::Unbounded { tx, len } => {
                len.fetch_add(1, Ordering::Relaxed);
                tx.send(value).map_err(|e| {
                    len.fetch_sub(1, Ordering::Relaxed);
                    TryPushError::Closed(e.0)
                })
            }
        }
    }

    /// Messages waiting in the mailbox now. O(1).
    pub(crate) fn len(&self) -> usize {
        match self {
            MailboxSender::Bounded(tx) => tx.max_capacity() - tx.capacity(),
            MailboxSender::Unbounded { len, .. } => len.load(Ordering::Relaxed),
        }
    }

    /// The capacity, `None` for unbounded.
    pub(crate) fn capacity(&self) -> Option<usize> {
        match self {
            MailboxSender::Bounded(tx) => Some(tx.max_capacity()),
            MailboxSender::Unbounded { .. } => None,
        }
    }

    /// `true` once the receiving side is closed or gone.
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            MailboxSender::Bounded(tx) => tx.is_closed(),
            MailboxSender::Unbounded { tx, .. } => tx.is_closed(),
        }
    }
}

impl<T> MailboxReceiver<T> {
    /// Waits for the next message; `None` once closed and empty.
    ///
    /// # Cancel safety
    /// Cancel-safe: a message is either returned or stays queued.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        match self {
            MailboxReceiver::Bounded(rx) => rx.recv().await,
            MailboxReceiver::Unbounded { rx, len } => {
                let value = rx.recv().await;
                if value.is_some() {
                    len.fetch_sub(1, Ordering::Relaxed);
                }
                value
            }
        }
    }

    /// Takes the next message if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        match self {
            MailboxReceiver::Bounded(rx) => rx.try_recv().ok(),
            MailboxReceiver::Unbounded { rx, len } => {
                let value = rx.try_recv().ok();
                if value.is_some() {
                    len.fetch_sub(1, Ordering::Relaxed);
                }
                value
            }
        }
    }

    /// Refuses new messages; queued ones can still be taken.
    pub(crate) fn close(&mut self) {
        match self {
            MailboxReceiver::Bounded(rx) => rx.close(),
            MailboxReceiver::Unbounded { rx, .. } => rx.close(),
        }
    }
}
