//! [`Signal`]: what a monitor or a link puts in an actor's mailbox beside
//! its messages.
//!
//! Signals travel in the mailbox, so they keep their order with the
//! messages sent before them, but past its capacity: a down is never
//! refused for want of room (there is one per monitor at most, so the
//! overshoot is bounded by the monitors and links the actor holds). The
//! loop checks each against the actor's records before calling its hook,
//! so a down of a monitor demonitored meanwhile, or one left over from an
//! earlier incarnation, is dropped.
//!
//! The values signals carry ([`MonitorRef`], [`Down`], [`LinkExit`]) live
//! here too: the monitor and link machinery and the actor's records all
//! use them, and none of it needs to be imported to name them.

use crate::actor_id::ActorId;
use crate::supervisor::ExitReason;

/// A down or a trapped link exit, on its way to the actor's hook.
pub(crate) enum Signal {
    /// For `Actor::handle_down`.
    Down(Down),
    /// For `Actor::handle_link_exit`.
    Exit(LinkExit),
}

/// A slab key meaning "not registered there".
pub(crate) const NO_KEY: usize = usize::MAX;

/// Names one monitor: returned when it is made, carried by its [`Down`],
/// given back to demonitor it. A plain value (copy it, compare it, use it
/// as a map key); it holds nothing alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MonitorRef {
    pub(super) id: u64,
    pub(super) target: ActorId,
    /// Key in the target's monitors.
    pub(super) entry: usize,
    /// Key in the watching actor's records; `NO_KEY` for a monitor made
    /// from outside an actor.
    pub(super) record: usize,
}

impl MonitorRef {
    pub(crate) fn new(id: u64, target: ActorId, entry: usize, record: usize) -> Self {
        Self {
            id,
            target,
            entry,
            record,
        }
    }

    /// The monitored actor.
    pub fn target(&self) -> ActorId {
        self.target
    }

    /// A number unique to this monitor in the process.
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// A monitored actor's incarnation ended (or there was none to watch).
/// Exactly one per monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Down {
    /// The monitor that fired.
    pub monitor: MonitorRef,
    /// The monitored actor.
    pub actor: ActorId,
    /// Why its incarnation ended: `Normal`, `Shutdown`, `Failed`,
    /// `Escalated`, `Linked`, or `NoProc` when no incarnation ran after the
    /// monitor was made.
    pub reason: ExitReason,
}

/// A linked actor's incarnation ended, delivered as a message to an actor
/// that traps exits (Erlang's `{'EXIT', From, Reason}`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkExit {
    /// The link that broke, to tell a late exit from a newer link.
    pub(crate) link: u64,
    /// The linked actor that ended.
    pub peer: ActorId,
    /// The name it was spawned with, if any (a layer that names its actors,
    /// as the component host does with component ids, tells the peer by it).
    pub peer_name: Option<std::sync::Arc<str>>,
    /// Why it ended (`NoProc` when it was linked between incarnations and
    /// no incarnation came).
    pub reason: ExitReason,
}
