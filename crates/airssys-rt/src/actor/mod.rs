//! Actors: the [`Actor`] trait, its handle ([`ActorRef`]), its context, and
//! the loop that runs it.

mod actor_ref;
mod context;
mod envelope;
mod error;
mod inbox;
mod incarnation;
mod link;
mod live;
mod monitor;
mod runner;
mod shared;
mod signal;
mod spawn;
mod supervised;
mod watch;

pub use actor_ref::ActorRef;
pub use context::ActorContext;
pub use error::{AskError, SendError, SpawnError, TrySendError};
pub use link::{LinkError, LinkExit};
pub use monitor::{Down, Monitor, MonitorRef};
pub use shared::{ActorId, ActorStats};
pub use spawn::SpawnBuilder;

#[allow(unused_imports)] // used by the supervised-actor adapter
pub(crate) use envelope::Envelope;
pub(crate) use shared::{ActorCell, ActorShared, LiveActor};

use std::future::Future;

use crate::supervisor::ChildHealth;

/// What to do after [`Actor::handle_message`] returned an error.
///
/// Every action is carried out by the runtime:
///
/// | action | unsupervised actor | supervised actor |
/// |---|---|---|
/// | `Resume` | keep the state, take the next message | same |
/// | `Stop` | run `post_stop`, close the mailbox, dead-letter what is left | exit as failed; the supervisor applies the child's restart policy |
/// | `Restart` | run `post_stop`, build a fresh instance from the factory, run `pre_start`, continue with the same mailbox | exit as failed; the supervisor restarts it (counted against its intensity) |
/// | `Escalate` | as `Stop`, reported as escalated | exit as escalated; the supervisor fails itself to its parent |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorAction {
    /// Ignore the failure and handle the next message with the same state.
    Resume,
    /// Stop the actor.
    Stop,
    /// Replace the actor's state with a fresh instance.
    Restart,
    /// Hand the failure to the supervisor's supervisor.
    Escalate,
}

/// A unit of state that handles messages one at a time.
///
/// An actor owns its state; the runtime calls [`handle_message`](Actor::handle_message)
/// for each message in its mailbox, in order, never concurrently. Messages are
/// plain owned Rust values: sending one moves it into the mailbox, with no
/// boxing or serialization.
///
/// ```
/// use airssys_rt::{Actor, ActorContext};
///
/// #[derive(Default)]
/// struct Counter(u64);
///
/// impl Actor for Counter {
///     type Message = u64;
///     type Reply = u64;
///     type Error = std::convert::Infallible;
///
///     async fn handle_message(
///         &mut self,
///         add: u64,
///         _ctx: &mut ActorContext<Self>,
///     ) -> Result<u64, Self::Error> {
///         self.0 += add;
///         Ok(self.0)
///     }
/// }
/// ```
pub trait Actor: Send + Sized + 'static {
    /// The messages this actor accepts (usually an enum).
    type Message: Send + 'static;
    /// What [`handle_message`](Actor::handle_message) answers; returned to an
    /// [`ask`](ActorRef::ask), discarded for a [`tell`](ActorRef::tell).
    type Reply: Send + 'static;
    /// The error a handler can fail with.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether the runtime dead-letters a message whose handler failed the
    /// actor ([`DeadLetterReason::HandlerFailed`](crate::DeadLetterReason::HandlerFailed),
    /// without the message: the handler consumed it). Default `true`.
    ///
    /// An actor that dead-letters its own failed messages, with the
    /// message and more context than the runtime has (the component host
    /// does), sets it `false`, so that each failure is dead-lettered once.
    const DEAD_LETTERS_FAILURES: bool = true;

    /// Runs once per incarnation before the first message. An error here
    /// fails the spawn (or the supervised start) with the error's text.
    fn pre_start(
        &mut self,
        ctx: &mut ActorContext<Self>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Handles one message.
    fn handle_message(
        &mut self,
        message: Self::Message,
        ctx: &mut ActorContext<Self>,
    ) -> impl Future<Output = Result<Self::Reply, Self::Error>> + Send;

    /// Runs once per incarnation after the last message, on stop and before a
    /// restart. Not run when the actor is aborted.
    fn post_stop(&mut self, ctx: &mut ActorContext<Self>) -> impl Future<Output = ()> + Send {
        let _ = ctx;
        async {}
    }

    /// Reports this actor's health to its supervisor's health monitor
    /// (asked through the mailbox, so it runs between messages). Default:
    /// healthy.
    fn health_check(
        &mut self,
        ctx: &mut ActorContext<Self>,
    ) -> impl Future<Output = ChildHealth> + Send {
        let _ = ctx;
        async { ChildHealth::Healthy }
    }

    /// Handles the [`Down`] of a monitor this actor made with
    /// [`ActorContext::monitor`], between messages, in mailbox order. Called
    /// once per monitor, never after [`ActorContext::demonitor`] returned,
    /// never in a later incarnation than the one that made the monitor. An
    /// error is handled as a failed message's (`on_error`). Default: ignore.
    fn handle_down(
        &mut self,
        down: Down,
        ctx: &mut ActorContext<Self>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = (down, ctx);
        async { Ok(()) }
    }

    /// Handles the end of a linked actor while this one traps exits
    /// ([`ActorContext::set_trap_exits`]): every end, normal or not, arrives
    /// here instead of stopping this actor. Not called after
    /// [`ActorContext::unlink`] returned. An error is handled as a failed
    /// message's (`on_error`). Default: ignore.
    fn handle_link_exit(
        &mut self,
        exit: LinkExit,
        ctx: &mut ActorContext<Self>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = (exit, ctx);
        async { Ok(()) }
    }

    /// Decides what happens after `handle_message` failed with `error`.
    /// The default restarts the actor with fresh state ("let it crash").
    fn on_error(&mut self, error: &Self::Error, ctx: &mut ActorContext<Self>) -> ErrorAction {
        let _ = (error, ctx);
        ErrorAction::Restart
    }
}
