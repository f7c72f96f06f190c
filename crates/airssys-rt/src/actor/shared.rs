//! State shared between an actor's handles and its running loop.

use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::envelope::Envelope;
use super::signal::Signal;
use super::watch::{Signalled, Watch};
use super::Actor;
pub use crate::actor_id::ActorId;
use crate::mailbox::Mailbox;
use crate::supervisor::ExitReason;

/// A snapshot of one actor's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActorStats {
    /// Messages whose handler returned `Ok`.
    pub handled: u64,
    /// Messages whose handler returned an error or panicked.
    pub failed: u64,
    /// Times the actor got a fresh instance (in place or by its supervisor).
    pub restarts: u64,
}

/// The one allocation every [`ActorRef`](super::ActorRef) clone points at:
/// the actor's typed mailbox beside its untyped shared record.
///
/// Keeping both in one `Arc` makes a handle clone one atomic increment, and
/// lets the system's registries hold the same allocation type-erased (as
/// [`LiveActor`] or `dyn Any`) instead of boxing a handle per actor.
///
/// In a fixed order (`repr(C)`): the mailbox, whose receiver side comes
/// last, then the shared record, whose receiver-written counters come first,
/// so what the actor's loop writes per message sits together at the end, away
/// from what senders write at the start. 280 bytes with the `Arc` counts for
/// a small message type (a unit test holds it within 288), of which 16 are
/// the empty slot of the monitors and links (`watch`).
#[repr(C)]
pub(crate) struct ActorCell<A: Actor> {
    pub(crate) mailbox: Mailbox<Envelope<A>>,
    pub(crate) shared: ActorShared,
}

/// An actor as the system's registries see it, without its message type.
pub(crate) trait LiveActor: Send + Sync {
    /// The untyped record: id, name, flags, counters.
    fn shared(&self) -> &ActorShared;
    /// Asks the actor to stop after its current message (see `ActorRef::stop`).
    fn request_stop(&self);
}

impl<A: Actor> LiveActor for ActorCell<A> {
    fn shared(&self) -> &ActorShared {
        &self.shared
    }

    fn request_stop(&self) {
        self.shared.stop_requested.store(true, Ordering::Release);
        // Wake an idle loop. If the mailbox is full the loop is busy and will
        // see the flag after its current message; if closed, it is gone.
        let _ = self.mailbox.try_push(Envelope::Stop);
    }
}

impl<A: Actor> Signalled for ActorCell<A> {
    fn actor_id(&self) -> ActorId {
        self.shared.id
    }

    fn watch(&self) -> &Arc<Watch> {
        self.shared.watch()
    }

    fn watch_if_any(&self) -> Option<&Arc<Watch>> {
        self.shared.watch_if_any()
    }

    fn traps_exits(&self) -> bool {
        self.shared.traps_exits()
    }

    fn signal(&self, signal: Signal) {
        // Refused only once the mailbox is closed: the actor is gone, and
        // its own end removed (or will remove) what it watched.
        let _ = self
            .mailbox
            .push_past_capacity(Envelope::Signal(Box::new(signal)));
    }

    fn request_stop(&self) {
        LiveActor::request_stop(self);
    }

    fn is_gone(&self) -> bool {
        self.mailbox.is_closed()
    }
}

/// Per-actor state that does not depend on the message type. In a fixed
/// order (`repr(C)`): the counters the actor's loop writes come first, next
/// to the receiver side of the mailbox before it (see [`ActorCell`]).
#[repr(C)]
pub(crate) struct ActorShared {
    pub(crate) handled: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) restarts: AtomicU64,
    /// Set when a stop was requested; the loop checks it between messages.
    pub(crate) stop_requested: AtomicBool,
    /// Whether a linked peer's exit arrives as a message (`true`) or stops
    /// this actor when abnormal (`false`). Kept across restarts.
    pub(crate) trap_exits: AtomicBool,
    pub(crate) id: ActorId,
    pub(crate) name: Option<Arc<str>>,
    /// The actor's slot in the system's live registry, while it holds one
    /// (unsupervised actors only); `NO_SLOT` otherwise.
    pub(crate) live_slot: AtomicUsize,
    /// Monitors and links, made on first use (see `watch`).
    watch: OnceLock<Arc<Watch>>,
}

impl ActorShared {
    pub(crate) fn new(id: ActorId, name: Option<Arc<str>>) -> Self {
        Self {
            id,
            name,
            stop_requested: AtomicBool::new(false),
            trap_exits: AtomicBool::new(false),
            handled: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            live_slot: AtomicUsize::new(crate::live_registry::NO_SLOT),
            watch: OnceLock::new(),
        }
    }

    /// The actor's monitors and links, made on first use (one allocation
    /// per actor that ever takes part).
    pub(crate) fn watch(&self) -> &Arc<Watch> {
        self.watch.get_or_init(|| Arc::new(Watch::new(self.id)))
    }

    /// The actor's monitors and links if it ever had any.
    pub(crate) fn watch_if_any(&self) -> Option<&Arc<Watch>> {
        self.watch.get()
    }

    /// Whether a linked peer's exit arrives as a message.
    pub(crate) fn traps_exits(&self) -> bool {
        self.trap_exits.load(Ordering::Acquire)
    }

    /// An incarnation of this actor ended with `reason`: its monitors
    /// fire, its links carry the exit. One atomic load for an actor that
    /// never took part in a monitor or a link.
    pub(crate) fn end_incarnation(&self, reason: &ExitReason) {
        if let Some(watch) = self.watch_if_any() {
            watch.ended(self.name.as_ref(), reason);
        }
    }

    /// This actor is gone for good; call after closing its mailbox.
    pub(crate) fn gone_for_good(&self) {
        // Pairs with the fence in `watch::attach`: either this load sees
        // the watch a new monitor made, or that monitor sees the closed
        // mailbox.
        fence(Ordering::SeqCst);
        if let Some(watch) = self.watch_if_any() {
            watch.gone(self.name.as_ref());
        }
    }

    /// A label for errors and logs: the name if there is one, else the id.
    pub(crate) fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} ({})", self.id),
            None => self.id.to_string(),
        }
    }

    pub(crate) fn stats(&self) -> ActorStats {
        ActorStats {
            handled: self.handled.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
        }
    }
}
