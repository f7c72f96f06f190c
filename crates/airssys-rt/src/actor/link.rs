//! Links: two actors that go down together, as Erlang processes do.
//!
//! A link joins the running incarnations of two actors, both ways. When one
//! incarnation ends, the link breaks and carries the end to the other side:
//!
//! - an abnormal end ([`ExitReason::is_abnormal`]: `Failed`, `Escalated`,
//!   `Linked`, `NoProc`) stops the other actor after its current message,
//!   with [`ExitReason::Linked`] (abnormal too, so it travels on over that
//!   actor's own links, and its supervisor restarts it per its policy);
//! - a normal end (`Normal`, `Shutdown`) just breaks the link;
//! - an actor that traps exits ([`ActorContext::set_trap_exits`](super::ActorContext::set_trap_exits),
//!   [`SpawnBuilder::trap_exits`](super::SpawnBuilder::trap_exits)) is not
//!   stopped: every end of a linked peer, normal or not, arrives as a
//!   [`LinkExit`] handled by [`Actor::handle_link_exit`](super::Actor::handle_link_exit).
//!
//! Links are made and broken from inside an actor
//! ([`ActorContext::link`](super::ActorContext::link), [`unlink`](super::ActorContext::unlink)),
//! where one side is the caller, or on an actor's behalf by a layer that
//! runs it ([`ActorRef::link`](super::ActorRef::link), [`ActorRef::unlink`](super::ActorRef::unlink):
//! the component host links two components for their guests).

use std::sync::{Arc, Weak};

use super::shared::ActorCell;
pub use super::signal::LinkExit;
use super::watch::{self, lock_pair, next_id, Link, Signalled};
use super::Actor;
use crate::actor_id::ActorId;

/// [`ActorContext::link`](super::ActorContext::link) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The actor to link with was already gone for good (Erlang's `noproc`);
    /// from [`ActorRef::link`](super::ActorRef::link), either of the two.
    #[error("cannot link with {peer}: it is gone for good")]
    NoProc {
        /// The actor asked for.
        peer: ActorId,
    },
}

/// Links the actor `me` with `peer`. Idempotent; linking with oneself does
/// nothing.
pub(crate) fn link<A: Actor, B: Actor>(
    me: &Arc<ActorCell<A>>,
    peer: &Arc<ActorCell<B>>,
) -> Result<(), LinkError> {
    let (my_id, peer_id) = (me.shared.id, peer.shared.id);
    if my_id == peer_id {
        return Ok(());
    }
    let own = watch::attach(me.as_ref());
    let theirs = watch::attach(peer.as_ref());
    let (mut mine, mut state) = lock_pair(own, theirs);
    if state.gone || peer.is_gone() {
        return Err(LinkError::NoProc { peer: peer_id });
    }
    // Never true from inside the actor; from its handle, it may be gone.
    if mine.gone || me.is_gone() {
        return Err(LinkError::NoProc { peer: my_id });
    }
    if mine.links.iter().any(|l| l.peer_id == peer_id && !l.fired) {
        return Ok(());
    }
    let id = next_id();
    mine.links.push(Link {
        id,
        peer_id,
        peer: Arc::downgrade(peer) as Weak<dyn Signalled>,
        fired: false,
    });
    state.links.push(Link {
        id,
        peer_id: my_id,
        peer: Arc::downgrade(me) as Weak<dyn Signalled>,
        fired: false,
    });
    Ok(())
}

/// Breaks the links between `me` and `peer`, including one whose exit is
/// queued for `me` and not handled yet (it is dropped on receipt). `true`
/// if there was one.
pub(crate) fn unlink(me: &dyn Signalled, peer: &dyn Signalled) -> bool {
    let theirs_id = peer.actor_id();
    if me.actor_id() == theirs_id {
        return false;
    }
    let (Some(own), Some(other)) = (me.watch_if_any(), peer.watch_if_any()) else {
        return false;
    };
    let (mut mine, mut state) = lock_pair(own, other);
    let mut removed = Vec::new();
    mine.links.retain(|l| {
        let ours = l.peer_id == theirs_id;
        if ours {
            removed.push(l.id);
        }
        !ours
    });
    state.links.retain(|l| !removed.contains(&l.id));
    !removed.is_empty()
}

/// A link exit taken from the mailbox: `true` if the link is still there
/// (its record is removed now), `false` if it was unlinked meanwhile or
/// belongs to an earlier incarnation (the exit is dropped).
pub(crate) fn accept_exit(own: &dyn Signalled, exit: &LinkExit) -> bool {
    let Some(watch) = own.watch_if_any() else {
        return false;
    };
    let mut state = watch.lock();
    match state
        .links
        .iter()
        .position(|l| l.id == exit.link && l.fired)
    {
        Some(i) => {
            state.links.swap_remove(i);
            true
        }
        None => false,
    }
}
