//! [`Inbox`]: the receiving side of an actor's mailbox.

use std::task::{Context, Poll};

use super::envelope::Envelope;
use super::shared::ActorCell;
use super::Actor;
use crate::mailbox::ReceiveBuffer;

/// The one receiving side of an actor's mailbox: the messages taken from
/// the queue in one go and not handed to the actor yet. Owned by whoever
/// runs the actor's loop (its task, or its supervised slot between
/// incarnations), so messages already taken survive a restart. There is
/// exactly one per actor, created with its record, so the mailbox has a
/// single consumer; every method takes the record of that same actor.
///
/// It holds no handle of its own: the loop reaches the record through its
/// context, which keeps every actor's task one pointer smaller. Whoever owns
/// the inbox closes the mailbox when the actor is gone for good
/// ([`runner::close_and_drain`](super::runner::close_and_drain)).
pub(crate) struct Inbox<A: Actor> {
    buffer: ReceiveBuffer<Envelope<A>>,
}

impl<A: Actor> Inbox<A> {
    /// The receiving side of a new actor's mailbox; call once per actor.
    pub(crate) fn new() -> Self {
        Self {
            buffer: ReceiveBuffer::new(),
        }
    }

    /// Polls `cell`'s mailbox for the next envelope; `Ready(None)` once
    /// closed and empty. The actor loop waits on this through `poll_fn`, so
    /// the future it keeps while idle is one pointer.
    ///
    /// # Cancel safety
    /// An envelope is either returned or stays queued.
    pub(crate) fn poll_recv(
        &mut self,
        cell: &ActorCell<A>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Envelope<A>>> {
        cell.mailbox.poll_recv(&mut self.buffer, cx)
    }

    /// Takes the next envelope of `cell`'s mailbox if one is queued.
    pub(crate) fn try_recv(&mut self, cell: &ActorCell<A>) -> Option<Envelope<A>> {
        cell.mailbox.try_recv(&mut self.buffer)
    }
}

/// Whatever holds an actor's inbox for the length of one incarnation: the
/// inbox itself (an unsupervised actor's task owns it), or the supervised
/// slot's lock on it (given back when the incarnation ends).
pub(crate) trait HoldsInbox<A: Actor>: Send {
    /// The inbox held.
    fn inbox(&mut self) -> &mut Inbox<A>;
}

impl<A: Actor> HoldsInbox<A> for Inbox<A> {
    fn inbox(&mut self) -> &mut Inbox<A> {
        self
    }
}

impl<A: Actor> HoldsInbox<A> for tokio::sync::OwnedMutexGuard<Inbox<A>> {
    fn inbox(&mut self) -> &mut Inbox<A> {
        self
    }
}
