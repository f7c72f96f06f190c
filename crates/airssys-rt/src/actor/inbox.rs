//! [`Inbox`]: the receiving side of an actor's mailbox.

use std::sync::Arc;
use std::task::{Context, Poll};

use super::envelope::Envelope;
use super::shared::ActorCell;
use super::Actor;
use crate::mailbox::ReceiveBuffer;

/// The one receiving handle of an actor's mailbox, owned by whoever runs the
/// actor's loop (its task, or its supervised slot between incarnations).
/// There is exactly one per actor, so the mailbox has a single consumer.
///
/// Dropping it closes the mailbox: a mailbox nobody will read must refuse
/// messages rather than swallow them.
pub(crate) struct Inbox<A: Actor> {
    cell: Arc<ActorCell<A>>,
    /// Messages taken from the mailbox in one go, not yet handed out.
    buffer: ReceiveBuffer<Envelope<A>>,
}

impl<A: Actor> Inbox<A> {
    /// The receiving handle of `cell`'s mailbox; call once per actor.
    pub(crate) fn new(cell: Arc<ActorCell<A>>) -> Self {
        Self {
            cell,
            buffer: ReceiveBuffer::new(),
        }
    }

    /// Polls for the next envelope; `Ready(None)` once closed and empty.
    /// The actor loop waits on this through `poll_fn`, so the future it
    /// keeps while idle is one pointer.
    ///
    /// # Cancel safety
    /// An envelope is either returned or stays queued.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Envelope<A>>> {
        self.cell.mailbox.poll_recv(&mut self.buffer, cx)
    }

    /// Takes the next envelope if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<Envelope<A>> {
        self.cell.mailbox.try_recv(&mut self.buffer)
    }

    /// Refuses new messages; queued ones can still be taken.
    pub(crate) fn close(&mut self) {
        self.cell.mailbox.close();
    }
}

impl<A: Actor> Drop for Inbox<A> {
    fn drop(&mut self) {
        self.cell.mailbox.close();
    }
}
