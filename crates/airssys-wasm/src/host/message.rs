//! What a component's mailbox carries, and what comes back; how the host
//! builds the messages it hands a guest, and the subject a component is
//! reached on over a broker.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::down::ComponentDown;
use super::error::ComponentFailure;
use super::fault::Fault;
use crate::guest::{ComponentValue, GuestHealth, GuestMessage, GuestModule, WasmValue};
use crate::id::ComponentId;

/// Where the typed answer to a control request goes: the caller's end of
/// a oneshot channel of exactly the answer's type. Dropped unanswered
/// (the component stopped first), the caller sees the channel closed.
pub type Answer<T> = oneshot::Sender<Result<T, ComponentFailure>>;

/// One entry of a component's mailbox.
///
/// Data for the guest (a send, a request, a topic message, a down notice)
/// is answered through the actor's reply: the guest's reply to a
/// [`Request`](Self::Request), `None` otherwise. Every other request
/// carries its own [`Answer`] channel, typed for what it asks, so nobody
/// matches a reply of the wrong kind. Only messages for the guest and
/// export calls count as handled or failed in
/// [`ComponentInfo`](super::ComponentInfo); control requests do not.
#[derive(Debug)]
#[non_exhaustive]
pub enum ComponentMessage {
    /// A message for `handle-message` nobody awaits a reply to (a send,
    /// or a notice of the host's): the guest's reply, if it gives one, is dropped
    /// unread. Asked (to wait until it is handled), it answers `None`.
    Deliver(GuestMessage),
    /// A request for `handle-message`: the guest's reply (via the `reply`
    /// import, or returned) is the answer to the `ask`.
    Request(GuestMessage),
    /// A message published on a topic the component subscribes to, as
    /// [`Deliver`](Self::Deliver). A send or request was checked against
    /// the component's `max_message_bytes` before it was queued; a publish
    /// reaches many limits at once, so the component checks this one as it
    /// takes it (over the limit, it fails as a rejected message).
    Publish(GuestMessage),
    /// Calls an export by name with typed arguments; counted as a message.
    Invoke {
        /// The export to call.
        export: String,
        /// Its arguments.
        args: Vec<WasmValue>,
        /// Its results.
        answer: Answer<Vec<WasmValue>>,
    },
    /// Calls an export by name with dynamic (WIT-typed) values; counted as
    /// a message.
    InvokeDynamic {
        /// The export to call.
        export: String,
        /// Its arguments.
        args: Vec<ComponentValue>,
        /// Its results.
        answer: Answer<Vec<ComponentValue>>,
    },
    /// Asks the component's health (between messages): the one check the
    /// host's [`health`](super::ComponentHost::health) and the supervisor's
    /// health monitor both run. A check that failed the instance answers
    /// [`GuestHealth::Unhealthy`] with the cause and restarts it.
    Health(Answer<GuestHealth>),
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
        /// What the upgrade did.
        answer: Answer<UpgradeOutcome>,
    },
    /// Restarts the component once the messages queued before this one are
    /// handled: `cleanup` runs, and its supervisor makes a fresh instance
    /// (fresh state) that carries on with the same mailbox. It counts as a
    /// restart (and against the supervisor's restart intensity); a
    /// `Temporary` component is not restarted. `done` is answered as the
    /// incarnation ends. Use
    /// [`ComponentHost::restart`](super::ComponentHost::restart).
    Restart(oneshot::Sender<()>),
    /// Stops the component once the messages queued before this one are
    /// handled: `cleanup` runs, the instance is freed; messages queued after
    /// it are handled by the next incarnation if its restart policy restarts
    /// it (`Permanent`), or dead-lettered if not.
    Shutdown,
    /// Asks the guest's `snapshot` export for its state, between two
    /// messages (`None` when it exports none). Use
    /// [`ComponentHost::snapshot`](super::ComponentHost::snapshot).
    Snapshot(Answer<Option<Bytes>>),
    /// Injects a [`Fault`] into the incarnation that handles it (see
    /// [`ComponentHost::inject_fault`](super::ComponentHost::inject_fault)).
    /// Asked, a [`Fault::Crash`] answers with
    /// [`ComponentFailure::Injected`].
    Inject(Fault),
    /// A component this one's guest monitors went down. Handed to the
    /// guest's `handle-message` (subject [`DOWN_SUBJECT`](crate::DOWN_SUBJECT),
    /// payload [`DownNotice`](crate::DownNotice)) if its instance still
    /// holds the monitor; dropped if the guest demonitored it or an
    /// earlier instance made it. Queued by the host only.
    Down(ComponentDown),
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

/// Whether the sender waits for the guest's reply: the explicit flag a
/// message travels with through the mailbox
/// ([`ComponentMessage::Request`] or [`ComponentMessage::Deliver`]), so
/// that the guest's reply is copied out only when someone reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expects {
    /// A send: the guest's reply, if it gives one, is dropped unread.
    Nothing,
    /// A request: the guest's reply is kept and answered.
    Reply,
}

impl Expects {
    /// The mailbox entry carrying `message` with this expectation.
    pub(crate) fn mail(self, message: GuestMessage) -> ComponentMessage {
        match self {
            Expects::Nothing => ComponentMessage::Deliver(message),
            Expects::Reply => ComponentMessage::Request(message),
        }
    }
}

/// The message for a component's `handle-message`, built once per
/// delivery: the time it enters the mailbox is taken now. A request
/// carries a process-unique correlation id, which is what its guest sees
/// (the core ABI's flags bit 0 and header field, the WIT record's
/// `correlation-id`); the host itself goes by [`Expects`].
pub(crate) fn message(
    sender: Option<ComponentId>,
    payload: Bytes,
    expects: Expects,
    trace: Option<crate::trace::TraceContext>,
) -> GuestMessage {
    GuestMessage {
        sender,
        subject: None,
        correlation_id: match expects {
            Expects::Nothing => None,
            Expects::Reply => Some(next_correlation_id()),
        },
        redelivered: false,
        payload,
        enqueued: crate::metrics::Enqueued::now(),
        trace,
    }
}

/// A notice the host itself hands a guest (a down, a trapped exit) on
/// `subject`: no sender, no trace, not timed in the mailbox.
pub(crate) fn notice(subject: Arc<str>, payload: Bytes) -> GuestMessage {
    GuestMessage {
        sender: None,
        subject: Some(subject),
        correlation_id: None,
        redelivered: false,
        payload,
        enqueued: crate::metrics::Enqueued::default(),
        trace: None,
    }
}

/// A topic message published on `subject`, for the subscribers' mailboxes
/// (cloned once per subscriber). Not checked against any one limit here:
/// each subscriber's guest instance refuses what is over its own, and that
/// counts as a failed message of that subscriber.
pub(crate) fn published(subject: Arc<str>, published: TopicMessage) -> GuestMessage {
    GuestMessage {
        sender: published.sender,
        subject: Some(subject),
        correlation_id: None,
        redelivered: false,
        payload: published.payload,
        enqueued: crate::metrics::Enqueued::now(),
        trace: published.trace,
    }
}

/// A process-unique correlation id for a request's guest.
fn next_correlation_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The payload of a mailbox entry the runtime handed back.
pub(crate) fn payload_of(message: ComponentMessage) -> Option<Bytes> {
    match message {
        ComponentMessage::Deliver(message)
        | ComponentMessage::Request(message)
        | ComponentMessage::Publish(message) => Some(message.payload),
        _ => None,
    }
}

/// The subject a component is reached on: `component.<id>`.
pub const COMPONENT_SUBJECT_PREFIX: &str = "component.";

/// `component.<id>`.
pub(crate) fn component_subject(id: &str) -> String {
    format!("{COMPONENT_SUBJECT_PREFIX}{id}")
}
