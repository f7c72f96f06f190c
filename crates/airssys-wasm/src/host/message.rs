//! What a component's mailbox carries, and what comes back.

use bytes::Bytes;

use super::fault::Fault;
use crate::guest::{GuestHealth, GuestMessage, WasmValue};
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
    /// Asks the guest's `health` export (between messages).
    Health,
    /// Stops the component once the messages queued before this one are
    /// handled: `cleanup` runs, the instance is freed; messages queued after
    /// it are handled by the next incarnation if its restart policy restarts
    /// it (`Permanent`), or dead-lettered if not.
    Shutdown,
    /// Injects a [`Fault`] into the incarnation that handles it (see
    /// [`ComponentHost::inject_fault`](super::ComponentHost::inject_fault)).
    Inject(Fault),
}

/// The answer to a [`ComponentMessage`] sent with `ask`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ComponentReply {
    /// The guest handled the message; its reply, if it gave one.
    Delivered(Option<Bytes>),
    /// The export's results.
    Invoked(Vec<WasmValue>),
    /// The guest's health.
    Health(GuestHealth),
    /// The component is stopping.
    ShuttingDown,
    /// The fault was applied (a [`Fault::Crash`] answers with
    /// [`ComponentFailure::Injected`](super::ComponentFailure::Injected) instead).
    FaultInjected,
}

/// A message published on a topic: who sent it and the payload.
/// Cheap to clone (the payload is `Bytes`), as fan-out requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMessage {
    /// The publishing component; `None` when the host itself published.
    pub sender: Option<ComponentId>,
    /// The payload (optionally multicodec-prefixed, see [`codec`](crate::codec)).
    pub payload: Bytes,
}

impl TopicMessage {
    /// A message published by the host (no sender component).
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Self {
            sender: None,
            payload: payload.into(),
        }
    }
}
