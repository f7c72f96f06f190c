//! What a component's mailbox carries, and what comes back.

use bytes::Bytes;

use super::down::ComponentDown;
use super::fault::Fault;
use crate::guest::{ComponentValue, GuestHealth, GuestMessage, GuestModule, WasmValue};
use crate::id::ComponentId;

/// One entry of a component's mailbox.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ComponentMessage {
    /// An inter-component or topic message for `handle-message`. Sent with
    /// `tell` it is fire-and-forget; sent with `ask` the guest's reply (via
    /// the `reply` import) comes back as [`ComponentReply::Delivered`].
    Deliver(GuestMessage),
    /// Calls an export by name with typed arguments.
    Invoke {
        /// The export to call.
        export: String,
        /// Its arguments.
        args: Vec<WasmValue>,
    },
    /// Calls an export by name with dynamic (WIT-typed) values.
    InvokeDynamic {
        /// The export to call.
        export: String,
        /// Its arguments.
        args: Vec<ComponentValue>,
    },
    /// Asks the guest's `health` export (between messages).
    Health,
    /// Live upgrade: once the messages queued before this one are handled,
    /// replaces the instance with one of `module` (made and `init`ed first,
    /// state handed over through `snapshot`/`restore` when both versions
    /// export them), runs the old instance's `cleanup`, and makes later
    /// incarnations use `module`. The mailbox and the `ActorRef` stay. On
    /// failure the old instance keeps serving. Use
    /// [`ComponentHost::upgrade`](super::ComponentHost::upgrade).
    Upgrade {
        /// The new version, loaded and checked by the host's engine.
        module: GuestModule,
    },
    /// Restarts the component once the messages queued before this one are
    /// handled: `cleanup` runs, and its supervisor makes a fresh instance
    /// (fresh state) that carries on with the same mailbox. It counts as a
    /// restart (and against the supervisor's restart intensity); a
    /// `Temporary` component is not restarted. Use
    /// [`ComponentHost::restart`](super::ComponentHost::restart).
    Restart,
    /// Stops the component once the messages queued before this one are
    /// handled: `cleanup` runs, the instance is freed; messages queued after
    /// it are handled by the next incarnation if its restart policy restarts
    /// it (`Permanent`), or dead-lettered if not.
    Shutdown,
    /// Asks the guest's `snapshot` export for its state, between two
    /// messages (`None` when it exports none). Use
    /// [`ComponentHost::snapshot`](super::ComponentHost::snapshot).
    Snapshot,
    /// Injects a [`Fault`] into the incarnation that handles it (see
    /// [`ComponentHost::inject_fault`](super::ComponentHost::inject_fault)).
    Inject(Fault),
    /// A component this one's guest monitors went down. Handed to the
    /// guest's `handle-message` (subject [`DOWN_SUBJECT`](crate::DOWN_SUBJECT),
    /// payload [`DownNotice`](crate::DownNotice)) if its instance still
    /// holds the monitor; dropped if the guest demonitored it or an
    /// earlier instance made it. Queued by the host only.
    Down(ComponentDown),
}

/// The answer to a [`ComponentMessage`] sent with `ask`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ComponentReply {
    /// The guest handled the message; its reply, if it gave one.
    Delivered(Option<Bytes>),
    /// The export's results.
    Invoked(Vec<WasmValue>),
    /// The export's results, as dynamic values.
    InvokedDynamic(Vec<ComponentValue>),
    /// The guest's health.
    Health(GuestHealth),
    /// The component is stopping.
    ShuttingDown,
    /// The fault was applied (a [`Fault::Crash`] answers with
    /// [`ComponentFailure::Injected`](super::ComponentFailure::Injected) instead).
    FaultInjected,
    /// The live upgrade was applied.
    Upgraded(UpgradeOutcome),
    /// The guest's state, from its `snapshot` export (`None`: it exports none).
    Snapshot(Option<Bytes>),
}

/// What one component's live upgrade did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpgradeOutcome {
    /// Bytes of state handed from the old version's `snapshot` to the new
    /// version's `restore`; `None` when the pair was not exported by both.
    pub state_bytes: Option<usize>,
    /// Live upgrades this component has had, this one included.
    pub upgrades: u64,
}

/// A message published on a topic: who sent it and the payload.
/// Cheap to clone (the payload is `Bytes`), as fan-out requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMessage {
    /// The publishing component; `None` when the host itself published.
    pub sender: Option<ComponentId>,
    /// The payload (optionally multicodec-prefixed, see [`codec`](crate::codec)).
    pub payload: Bytes,
    /// The trace context of the span that published or sent it (see
    /// [`trace`](crate::trace)); `None` when not traced. The
    /// `traceparent`/`tracestate` headers on the wire.
    pub trace: Option<crate::trace::TraceContext>,
}

impl TopicMessage {
    /// A message published by the host (no sender component).
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Self {
            sender: None,
            payload: payload.into(),
            trace: None,
        }
    }
}
