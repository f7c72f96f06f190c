//! Monitors: learn when an actor's incarnation ends, and why.
//!
//! A monitor watches one incarnation of an actor and fires exactly once,
//! with a [`Down`] carrying the actor's id and its [`ExitReason`]: the
//! reason the incarnation ended (the same value its supervisor sees in
//! `ChildExited`/`ChildFailed`), or [`ExitReason::NoProc`] when no
//! incarnation ran after the monitor was made (the actor was gone for good
//! already: then the down comes at once). The monitor ends with its down;
//! a restarted actor keeps its [`ActorRef`](super::ActorRef), so monitor it
//! again to watch the next incarnation.
//!
//! Three ways to receive the down, one registry underneath:
//! - [`ActorContext::monitor`](super::ActorContext::monitor): an actor
//!   watches another; the down arrives in its mailbox, handled by
//!   [`Actor::handle_down`](super::Actor::handle_down).
//! - [`ActorRef::monitor`](super::ActorRef::monitor): a [`Monitor`] future
//!   from anywhere; dropping it demonitors.
//! - [`ActorRef::monitor_with`](super::ActorRef::monitor_with): a callback,
//!   the cheapest, for layers that keep many monitors (a component host).
//!
//! `docs/supervision.md` ("Monitors and links") states the semantics and
//! the measured costs.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use super::shared::ActorCell;
pub use super::signal::{Down, MonitorRef};
use super::signal::{Signal, NO_KEY};
use super::watch::{self, lock_pair, next_id, Recipient, Signalled, Watch, Watcher, Watching};
use super::Actor;
use crate::supervisor::ExitReason;

/// The down of a monitor made with [`ActorRef::monitor`](super::ActorRef::monitor):
/// a future that resolves once, with the [`Down`].
///
/// Dropping it (or calling [`demonitor`](Monitor::demonitor)) removes the
/// monitor from the target at once, so a forgotten monitor costs nothing
/// afterwards. `Unpin`; poll it by `&mut` in a `select!`.
///
/// # Cancel safety
/// Polling by `&mut` and dropping the poll is cancel-safe: the down stays
/// in the monitor until it is polled again.
#[must_use = "a Monitor demonitors when dropped"]
pub struct Monitor {
    monitor: MonitorRef,
    /// The target's watch, to demonitor from the drop.
    target: Arc<Watch>,
    down: oneshot::Receiver<Down>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("monitor", &self.monitor)
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// This monitor's reference, as its down will carry it.
    pub fn monitor_ref(&self) -> MonitorRef {
        self.monitor
    }

    /// Removes the monitor. `true` if it was still armed: no down is
    /// delivered. `false` if its down was sent already (it is dropped here
    /// unread).
    pub fn demonitor(self) -> bool {
        self.target
            .remove_watcher(self.monitor.entry, self.monitor.id)
            .is_some()
    }
}

impl Future for Monitor {
    type Output = Down;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Down> {
        match Pin::new(&mut self.down).poll(cx) {
            Poll::Ready(Ok(down)) => Poll::Ready(down),
            // Every armed monitor fires exactly once (at the incarnation's
            // end or when the actor is gone for good); a sender dropped
            // without a down means there was nothing left to watch.
            Poll::Ready(Err(_)) => Poll::Ready(Down {
                monitor: self.monitor,
                actor: self.monitor.target,
                reason: ExitReason::NoProc,
            }),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.target
            .remove_watcher(self.monitor.entry, self.monitor.id);
    }
}

/// Registers a monitor of `target` whose down goes to `to`, or delivers
/// `NoProc` to it at once when the target is gone for good. The one path
/// of every monitor made from outside an actor.
pub(crate) fn monitor_from_outside(target: &dyn Signalled, to: Recipient) -> MonitorRef {
    let watch = watch::attach(target);
    let id = next_id();
    let tid = watch.id();
    let mut state = watch.lock();
    if state.gone || target.is_gone() {
        drop(state);
        let monitor = MonitorRef::new(id, tid, NO_KEY, NO_KEY);
        watch::deliver(Watcher { id, to }, NO_KEY, tid, ExitReason::NoProc);
        return monitor;
    }
    let entry = state.watchers.insert(Watcher { id, to });
    MonitorRef::new(id, tid, entry, NO_KEY)
}

/// A [`Monitor`] future on `target`.
pub(crate) fn monitor_future<B: Actor>(target: &Arc<ActorCell<B>>) -> Monitor {
    let (sender, down) = oneshot::channel();
    let monitor = monitor_from_outside(target.as_ref(), Recipient::Channel(sender));
    Monitor {
        monitor,
        target: Arc::clone(target.shared.watch()),
        down,
    }
}

/// Removes a monitor made from outside an actor; see
/// [`ActorRef::demonitor`](super::ActorRef::demonitor).
pub(crate) fn demonitor_from_outside(target: &dyn Signalled, monitor: MonitorRef) -> bool {
    if monitor.record != NO_KEY || monitor.target != target.actor_id() {
        return false;
    }
    match target.watch_if_any() {
        Some(watch) => watch.remove_watcher(monitor.entry, monitor.id).is_some(),
        None => false,
    }
}

/// The actor `watcher` monitors `target`; the down goes to the watcher's
/// mailbox. An actor monitoring itself gets a reference that never fires
/// (it is not around to receive its own down).
pub(crate) fn monitor_from_actor<A: Actor, B: Actor>(
    watcher: &Arc<ActorCell<A>>,
    target: &Arc<ActorCell<B>>,
) -> MonitorRef {
    let id = next_id();
    let tid = target.shared.id;
    if watcher.shared.id == tid {
        return MonitorRef::new(id, tid, NO_KEY, NO_KEY);
    }
    let own = watch::attach(watcher.as_ref());
    let theirs = watch::attach(target.as_ref());
    let (mut mine, mut state) = lock_pair(own, theirs);
    let record = mine.watching.vacant_key();
    if state.gone || target.is_gone() {
        // Recorded like any monitor, so a demonitor before the down is
        // handled drops it, as for a down that fired later.
        mine.watching.insert(Watching {
            id,
            target: Arc::clone(theirs),
            entry: NO_KEY,
        });
        drop((mine, state));
        let monitor = MonitorRef::new(id, tid, NO_KEY, record);
        watcher.signal(Signal::Down(Down {
            monitor,
            actor: tid,
            reason: ExitReason::NoProc,
        }));
        return monitor;
    }
    let weak: Weak<dyn Signalled> = Arc::downgrade(watcher) as Weak<dyn Signalled>;
    let entry = state.watchers.insert(Watcher {
        id,
        to: Recipient::Actor {
            watcher: weak,
            record,
        },
    });
    mine.watching.insert(Watching {
        id,
        target: Arc::clone(theirs),
        entry,
    });
    MonitorRef::new(id, tid, entry, record)
}

/// Removes a monitor the actor of `own` made; see
/// [`ActorContext::demonitor`](super::ActorContext::demonitor).
pub(crate) fn demonitor_from_actor(own: &dyn Signalled, monitor: MonitorRef) -> bool {
    let Some(watch) = own.watch_if_any() else {
        return false;
    };
    let record = {
        let mut state = watch.lock();
        match state.watching.get(monitor.record) {
            Some(record) if record.id == monitor.id => {
                let record = state.watching.remove(monitor.record);
                watch::release_if_empty(&mut state.watching);
                record
            }
            _ => return false,
        }
    };
    record.target.remove_watcher(record.entry, record.id);
    true
}

/// A down taken from the mailbox: `true` if its monitor is still held (its
/// record is removed now), `false` if it was demonitored or belongs to an
/// earlier incarnation (the down is dropped).
pub(crate) fn accept_down(own: &dyn Signalled, down: &Down) -> bool {
    let Some(watch) = own.watch_if_any() else {
        return false;
    };
    let mut state = watch.lock();
    match state.watching.get(down.monitor.record) {
        Some(record) if record.id == down.monitor.id => {
            state.watching.remove(down.monitor.record);
            watch::release_if_empty(&mut state.watching);
            true
        }
        _ => false,
    }
}
