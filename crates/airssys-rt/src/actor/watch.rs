//! [`Watch`]: one actor's monitors and links, and what happens to them when
//! one of its incarnations ends or it is gone for good.
//!
//! Every actor that is monitored, monitors another or is linked gets one
//! `Watch`, allocated on first use and kept in its shared record; an actor
//! that never takes part pays one empty `OnceLock` (16 bytes) and one atomic
//! load when an incarnation ends. A `Watch` holds, behind one short lock:
//!
//! - `watchers`: the monitors *of* this actor, each with where its down goes;
//! - `watching`: the monitors this actor's running incarnation holds on
//!   others, kept until their down is handled (or they are demonitored), so
//!   a down already queued when the actor demonitors is dropped on receipt;
//! - `links`: this actor's links, one record on each side, with one id.
//!
//! No lock is held while another actor's lock is taken, except when a
//! monitor or a link is made: then both are taken in the order of the
//! actors' ids ([`lock_pair`]). An ending incarnation takes its lists out
//! under its own lock and then visits the others one lock at a time, so the
//! two never deadlock.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, MutexGuard};
use slab::Slab;
use tokio::sync::oneshot;

use super::signal::Signal;
use super::signal::{Down, LinkExit, MonitorRef, NO_KEY};
use crate::actor_id::ActorId;
use crate::supervisor::ExitReason;

/// Monitor and link ids: unique in the process, never reused, so a stale
/// reference never matches a newer monitor that took the same slab slot.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Slots an emptied monitor list keeps (see [`release_if_empty`]).
const KEPT_SLOTS: usize = 16;

pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// An actor as a monitor or a link reaches it, without its message type
/// (and without its shared record: the actor's own module implements this,
/// so a `Watch` never looks inside the actor that holds it).
pub(crate) trait Signalled: Send + Sync {
    /// The actor's id.
    fn actor_id(&self) -> ActorId;
    /// The actor's `Watch`, made on first use.
    fn watch(&self) -> &Arc<Watch>;
    /// The actor's `Watch` if it ever had one.
    fn watch_if_any(&self) -> Option<&Arc<Watch>>;
    /// Whether a linked peer's exit arrives as a message.
    fn traps_exits(&self) -> bool;
    /// Queues a down or a trapped exit for the actor's loop, past the
    /// mailbox's capacity if need be; dropped if the actor is gone.
    fn signal(&self, signal: Signal);
    /// Asks the actor to stop after its current message.
    fn request_stop(&self);
    /// `true` once the actor is gone for good (its mailbox is closed).
    fn is_gone(&self) -> bool;
}

/// One actor's monitors and links; see the module documentation.
pub(crate) struct Watch {
    id: ActorId,
    state: Mutex<State>,
}

/// What a [`Watch`] guards.
#[derive(Default)]
pub(crate) struct State {
    /// Set once the actor is gone for good: later monitors get `NoProc` at
    /// once, later links fail.
    pub(crate) gone: bool,
    /// Monitors of this actor, fired when its current (or next)
    /// incarnation ends.
    pub(crate) watchers: Slab<Watcher>,
    /// Monitors this actor holds on others, until their down is handled.
    pub(crate) watching: Slab<Watching>,
    /// This actor's links. Few per actor: searched linearly.
    pub(crate) links: Vec<Link>,
    /// The exit a linked peer's abnormal end left for this (non-trapping)
    /// actor, taken by its loop when it sees its stop flag.
    pub(crate) pending_exit: Option<ExitReason>,
}

/// A monitor of this actor and where its down goes.
pub(crate) struct Watcher {
    pub(crate) id: u64,
    pub(crate) to: Recipient,
}

/// Where a down goes.
pub(crate) enum Recipient {
    /// An actor's mailbox, handled by `Actor::handle_down`; `record` is the
    /// monitor's key in the watcher's `watching`.
    Actor {
        watcher: Weak<dyn Signalled>,
        record: usize,
    },
    /// A function, called once in the task that ends the incarnation.
    Callback(Box<dyn FnOnce(Down) + Send>),
    /// A [`Monitor`](super::Monitor) future.
    Channel(oneshot::Sender<Down>),
}

/// A monitor this actor holds on `target`, at `entry` in its `watchers`
/// (`NO_KEY` when the down was `NoProc`, delivered at once).
pub(crate) struct Watching {
    pub(crate) id: u64,
    pub(crate) target: Arc<Watch>,
    pub(crate) entry: usize,
}

/// One side of a link.
pub(crate) struct Link {
    pub(crate) id: u64,
    pub(crate) peer_id: ActorId,
    pub(crate) peer: Weak<dyn Signalled>,
    /// The peer's exit was queued for this (trapping) actor as a message
    /// and is not handled yet.
    pub(crate) fired: bool,
}

/// What an ending incarnation takes out of its `Watch`.
struct Taken {
    watchers: Slab<Watcher>,
    watching: Slab<Watching>,
    links: Vec<Link>,
}

impl Watch {
    pub(crate) fn new(id: ActorId) -> Self {
        Self {
            id,
            state: Mutex::new(State::default()),
        }
    }

    /// The actor this is the watch of.
    pub(crate) fn id(&self) -> ActorId {
        self.id
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Removes the monitor `id` at `entry` of `watchers`, if it is still
    /// there (not fired, not removed).
    pub(crate) fn remove_watcher(&self, entry: usize, id: u64) -> Option<Watcher> {
        if entry == NO_KEY {
            return None;
        }
        let mut state = self.lock();
        match state.watchers.get(entry) {
            Some(watcher) if watcher.id == id => {
                let watcher = state.watchers.remove(entry);
                release_if_empty(&mut state.watchers);
                Some(watcher)
            }
            _ => None,
        }
    }

    /// An incarnation of this actor ended with `reason`: every monitor of
    /// it fires, every monitor it held is removed, every link is broken,
    /// carrying the exit to the peer.
    pub(crate) fn ended(&self, name: Option<&Arc<str>>, reason: &ExitReason) {
        let taken = {
            let mut state = self.lock();
            take(&mut state)
        };
        self.release(taken, name, reason);
    }

    /// The actor is gone for good (its mailbox is closed): what was made
    /// since its last incarnation ended fires with `NoProc`, and nothing
    /// attaches any more. Idempotent.
    pub(crate) fn gone(&self, name: Option<&Arc<str>>) {
        let taken = {
            let mut state = self.lock();
            if state.gone {
                return;
            }
            state.gone = true;
            state.pending_exit = None;
            take(&mut state)
        };
        self.release(taken, name, &ExitReason::NoProc);
    }

    /// Fires, removes and breaks what an ending incarnation took, with no
    /// lock of this watch held. `name` is the actor's, for the exits its
    /// links carry.
    fn release(&self, taken: Taken, name: Option<&Arc<str>>, reason: &ExitReason) {
        for (_, watching) in taken.watching {
            watching.target.remove_watcher(watching.entry, watching.id);
        }
        for link in taken.links {
            // A fired link's peer ended already: nothing to carry back.
            if link.fired {
                continue;
            }
            if let Some(peer) = link.peer.upgrade() {
                exit_over_link(self.id, name, peer.as_ref(), link.id, reason);
            }
        }
        for (entry, watcher) in taken.watchers {
            deliver(watcher, entry, self.id, reason.clone());
        }
    }

    /// The exit a linked peer left for this actor, if any; taken.
    pub(crate) fn take_pending_exit(&self) -> Option<ExitReason> {
        self.lock().pending_exit.take()
    }
}

/// A list that emptied gives its memory back once it grew past
/// [`KEPT_SLOTS`], so a burst of monitors that were demonitored does not
/// pin it for the actor's life (a small one is kept, so one monitor made
/// and removed over and over does not allocate each time). A list that is
/// not empty keeps its peak size; freed slots are reused by the next
/// monitors.
pub(crate) fn release_if_empty<T>(list: &mut Slab<T>) {
    if list.is_empty() && list.capacity() > KEPT_SLOTS {
        *list = Slab::new();
    }
}

fn take(state: &mut State) -> Taken {
    Taken {
        watchers: std::mem::take(&mut state.watchers),
        watching: std::mem::take(&mut state.watching),
        links: std::mem::take(&mut state.links),
    }
}

/// Locks two different actors' watches in the order of their ids (so two
/// callers never wait on each other) and returns the guards in argument
/// order.
pub(crate) fn lock_pair<'a>(
    a: &'a Watch,
    b: &'a Watch,
) -> (MutexGuard<'a, State>, MutexGuard<'a, State>) {
    debug_assert_ne!(a.id, b.id, "an actor's watch locked twice");
    if a.id < b.id {
        let first = a.lock();
        (first, b.lock())
    } else {
        let first = b.lock();
        (a.lock(), first)
    }
}

/// Sends one down to where it goes. A callback that panics is logged, not
/// carried into the ending actor's task.
pub(crate) fn deliver(watcher: Watcher, entry: usize, target: ActorId, reason: ExitReason) {
    let record = match &watcher.to {
        Recipient::Actor { record, .. } => *record,
        Recipient::Callback(_) | Recipient::Channel(_) => NO_KEY,
    };
    let down = Down {
        monitor: MonitorRef::new(watcher.id, target, entry, record),
        actor: target,
        reason,
    };
    match watcher.to {
        Recipient::Actor { watcher, .. } => {
            if let Some(watcher) = watcher.upgrade() {
                watcher.signal(Signal::Down(down));
            }
        }
        Recipient::Callback(notify) => {
            if std::panic::catch_unwind(AssertUnwindSafe(|| notify(down))).is_err() {
                tracing::error!(actor = %target, "a down callback panicked");
            }
        }
        Recipient::Channel(channel) => {
            // The receiver dropped means the caller let go of the monitor.
            let _ = channel.send(down);
        }
    }
}

/// Carries the end of `from` (with `reason`) over link `link` to `peer`:
/// a message if the peer traps exits; else, for an abnormal reason, the
/// peer stops with `ExitReason::Linked`; a normal end just breaks the link.
fn exit_over_link(
    from: ActorId,
    name: Option<&Arc<str>>,
    peer: &dyn Signalled,
    link: u64,
    reason: &ExitReason,
) {
    let Some(watch) = peer.watch_if_any() else {
        return;
    };
    let traps = peer.traps_exits();
    let mut state = watch.lock();
    // Gone: the peer unlinked, or ended and broke the link itself.
    let Some(i) = state.links.iter().position(|l| l.id == link) else {
        return;
    };
    if traps {
        state.links[i].fired = true;
        drop(state);
        peer.signal(Signal::Exit(LinkExit {
            link,
            peer: from,
            peer_name: name.cloned(),
            reason: reason.clone(),
        }));
        return;
    }
    state.links.swap_remove(i);
    if !reason.is_abnormal() {
        return;
    }
    if state.pending_exit.is_none() {
        state.pending_exit = Some(ExitReason::Linked {
            peer: from,
            reason: Box::new(reason.clone()),
        });
    }
    drop(state);
    peer.request_stop();
}

/// The watch of `actor` (made if needed), for attaching a monitor or a
/// link; then check [`State::gone`] and `actor.is_gone()` under its lock.
pub(crate) fn attach(actor: &dyn Signalled) -> &Arc<Watch> {
    let watch = actor.watch();
    // Pairs with the fence in `ActorShared::gone_for_good`.
    std::sync::atomic::fence(Ordering::SeqCst);
    watch
}

#[cfg(test)]
mod tests {
    use super::{Link, Watch};

    #[test]
    fn a_watch_is_one_small_allocation_and_a_link_a_small_record() {
        // `docs/supervision.md` quotes these: what the first monitor or
        // link of an actor allocates, with the `Arc`'s two counts, and a
        // link's record on each side.
        let size = std::mem::size_of::<Watch>() + 16;
        assert!(size <= 176, "a watch takes {size} bytes");
        let size = std::mem::size_of::<Link>();
        assert!(size <= 40, "a link record takes {size} bytes");
    }
}
