//! What travels through a mailbox.

use tokio::sync::oneshot;

use super::Actor;
use crate::supervisor::ChildHealth;

/// The answer to an `ask`: the reply, or why there is none.
pub(crate) type ReplyResult<A> = Result<<A as Actor>::Reply, HandlerFailure<<A as Actor>::Error>>;

/// Why a handler gave no reply: its own typed error, or a panic.
pub(crate) enum HandlerFailure<E> {
    /// The handler returned this error.
    Failed(E),
    /// The handler panicked; the panic's text.
    Panicked(String),
}

/// A request and where its answer goes.
pub(crate) type AskRequest<A> = (<A as Actor>::Message, oneshot::Sender<ReplyResult<A>>);

/// One mailbox entry. A told message is stored inline: no boxing per message.
///
/// A request is boxed with its reply channel. An ask already allocates its
/// oneshot, and keeping the reply channel out of line keeps every mailbox
/// slot one pointer smaller.
pub(crate) enum Envelope<A: Actor> {
    /// Fire-and-forget.
    Tell(A::Message),
    /// Request/reply: the handler's result goes back through the oneshot.
    Ask(Box<AskRequest<A>>),
    /// A health check from the supervisor, answered between messages.
    Health(oneshot::Sender<ChildHealth>),
    /// A down or a trapped link exit, for the actor's hooks. Boxed: rare,
    /// and it keeps every mailbox slot as small as a message.
    Signal(Box<super::signal::Signal>),
    /// Wakes an idle loop so it sees its stop flag. Ignored when the flag is
    /// not set (a leftover from an earlier incarnation).
    Stop,
}
