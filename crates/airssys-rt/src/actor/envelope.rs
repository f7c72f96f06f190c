//! What travels through a mailbox.

use tokio::sync::oneshot;

use super::Actor;
use crate::supervisor::ChildHealth;

/// The answer to an `ask`: the reply, or why there is none.
pub(crate) type ReplyResult<A> = Result<<A as Actor>::Reply, String>;

/// One mailbox entry. The message is stored inline: no boxing per message.
pub(crate) enum Envelope<A: Actor> {
    /// Fire-and-forget.
    Tell(A::Message),
    /// Request/reply: the handler's result goes back through the oneshot.
    Ask(A::Message, oneshot::Sender<ReplyResult<A>>),
    /// A health check from the supervisor, answered between messages.
    Health(oneshot::Sender<ChildHealth>),
    /// Wakes an idle loop so it sees its stop flag. Ignored when the flag is
    /// not set (a leftover from an earlier incarnation).
    Stop,
}
