//! [`ActorRef`]: the typed handle used to reach an actor.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::envelope::{Envelope, HandlerFailure};
use super::error::{AskError, SendError, TrySendError};
use super::link::{self, LinkError};
use super::monitor::{self, Down, Monitor, MonitorRef};
use super::shared::{ActorCell, ActorId, ActorShared, ActorStats, LiveActor};
use super::watch::Recipient;
use super::Actor;
use crate::mailbox::{Mailbox, PushError, TryPushError};

/// A typed handle to an actor: send it messages, ask it questions, stop it.
///
/// Cloning is cheap (one reference-count increment). A handle stays valid
/// for the actor's whole life, across restarts by its supervisor: the mailbox
/// belongs to the actor's slot, not to one incarnation. Once the actor is
/// gone for good, every send fails at once with `ActorStopped`; none hangs.
pub struct ActorRef<A: Actor> {
    pub(crate) cell: Arc<ActorCell<A>>,
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        Self {
            cell: Arc::clone(&self.cell),
        }
    }
}

impl<A: Actor> fmt::Debug for ActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActorRef")
            .field("id", &self.shared().id)
            .field("name", &self.shared().name)
            .finish_non_exhaustive()
    }
}

impl<A: Actor> ActorRef<A> {
    /// A handle on a new actor's record and (empty, open) mailbox.
    pub(crate) fn new(shared: ActorShared, mailbox: Mailbox<Envelope<A>>) -> Self {
        Self {
            cell: Arc::new(ActorCell { mailbox, shared }),
        }
    }

    /// The untyped record: id, name, flags, counters.
    pub(crate) fn shared(&self) -> &ActorShared {
        &self.cell.shared
    }

    /// The actor's mailbox (handles only push to it).
    pub(crate) fn mailbox(&self) -> &Mailbox<Envelope<A>> {
        &self.cell.mailbox
    }

    /// The actor's process-unique id.
    pub fn id(&self) -> ActorId {
        self.shared().id
    }

    /// The name it was spawned with, if any.
    pub fn name(&self) -> Option<&str> {
        self.shared().name.as_deref()
    }

    /// Sends a message, waiting for mailbox room if the mailbox is full.
    ///
    /// # Errors
    /// [`SendError`] (with the message handed back) if the actor is gone for good.
    ///
    /// # Cancel safety
    /// If the future is dropped while waiting for room, the message is dropped
    /// with it and was never enqueued.
    pub async fn tell(&self, message: A::Message) -> Result<(), SendError<A::Message>> {
        self.mailbox()
            .push(Envelope::Tell(message))
            .await
            .map_err(|envelope| SendError {
                actor: self.shared().label(),
                message: into_message(envelope),
            })
    }

    /// Sends a message without waiting.
    ///
    /// # Errors
    /// [`TrySendError::MailboxFull`] when the bounded mailbox is full and
    /// [`TrySendError::ActorStopped`] when the actor is gone; both hand the
    /// message back.
    pub fn try_tell(&self, message: A::Message) -> Result<(), TrySendError<A::Message>> {
        self.mailbox()
            .try_push(Envelope::Tell(message))
            .map_err(|e| match e {
                TryPushError::Full(envelope) => self.refused(envelope, true),
                TryPushError::Closed(envelope) => self.refused(envelope, false),
            })
    }

    /// A tell the mailbox did not take, with the message handed back:
    /// `full` (no room, now or by the deadline) or the actor stopped.
    fn refused(&self, envelope: Envelope<A>, full: bool) -> TrySendError<A::Message> {
        let actor = self.shared().label();
        let message = into_message(envelope);
        if full {
            TrySendError::MailboxFull {
                actor,
                capacity: self.mailbox().capacity().unwrap_or(usize::MAX),
                message,
            }
        } else {
            TrySendError::ActorStopped { actor, message }
        }
    }

    /// Sends a message, waiting for mailbox room until `deadline` at the
    /// latest: between [`tell`](Self::tell), which waits as long as it
    /// takes, and [`try_tell`](Self::try_tell), which does not wait. For a
    /// sender that can afford a short wait but must not be held up by an
    /// actor that stopped taking messages (a receiving task that feeds
    /// several messages in order).
    ///
    /// # Errors
    /// [`TrySendError::MailboxFull`] when the deadline passed with the
    /// mailbox still full, [`TrySendError::ActorStopped`] when the actor is
    /// gone; both hand the message back.
    ///
    /// # Cancel safety
    /// If the future is dropped while waiting for room, the message is
    /// dropped with it and was never enqueued.
    pub async fn tell_until(
        &self,
        message: A::Message,
        deadline: tokio::time::Instant,
    ) -> Result<(), TrySendError<A::Message>> {
        self.mailbox()
            .push_until(Envelope::Tell(message), Some(deadline))
            .await
            .map_err(|e| match e {
                PushError::TimedOut(envelope) => self.refused(envelope, true),
                PushError::Closed(envelope) => self.refused(envelope, false),
            })
    }

    /// Sends a request and waits up to `timeout` (including any wait for
    /// mailbox room) for the handler's reply.
    ///
    /// # Errors
    /// - [`AskError::Timeout`] when no reply came in time; the request is
    ///   handed back if it was still waiting for mailbox room. A later reply
    ///   is discarded and counted in [`SystemStats::late_replies`](crate::SystemStats).
    /// - [`AskError::HandlerFailed`] with the handler's own error, typed.
    /// - [`AskError::HandlerPanicked`] when the handler panicked.
    /// - [`AskError::ActorStopped`] when the actor is gone (the request is
    ///   handed back) or stopped before answering.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the request; a reply that comes after is
    /// discarded and counted as late.
    pub async fn ask(
        &self,
        message: A::Message,
        timeout: Duration,
    ) -> Result<A::Reply, AskError<A::Message, A::Error>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let (reply_tx, reply_rx) = oneshot::channel();
        let request = Envelope::Ask(Box::new((message, reply_tx)));
        if let Err(error) = self.mailbox().push_until(request, Some(deadline)).await {
            let actor = self.shared().label();
            return Err(match error {
                PushError::Closed(request) => AskError::ActorStopped {
                    actor,
                    message: Some(into_message(request)),
                },
                PushError::TimedOut(request) => AskError::Timeout {
                    actor,
                    timeout,
                    message: Some(into_message(request)),
                },
            });
        }
        match tokio::time::timeout_at(deadline, reply_rx).await {
            Ok(Ok(Ok(reply))) => Ok(reply),
            Ok(Ok(Err(HandlerFailure::Failed(error)))) => Err(AskError::HandlerFailed {
                actor: self.shared().label(),
                error,
            }),
            Ok(Ok(Err(HandlerFailure::Panicked(reason)))) => Err(AskError::HandlerPanicked {
                actor: self.shared().label(),
                reason,
            }),
            Ok(Err(_)) => Err(AskError::ActorStopped {
                actor: self.shared().label(),
                message: None,
            }),
            Err(_) => Err(AskError::Timeout {
                actor: self.shared().label(),
                timeout,
                message: None,
            }),
        }
    }

    /// Asks the actor to stop after the message it is handling now. Messages
    /// still queued stay queued: a supervisor's next incarnation receives
    /// them; an actor stopped for good dead-letters them. Returns at once.
    pub fn stop(&self) {
        self.cell.request_stop();
    }

    /// Messages waiting in the mailbox now. O(1).
    pub fn mailbox_len(&self) -> usize {
        self.mailbox().len()
    }

    /// The mailbox capacity; `None` for an unbounded mailbox.
    pub fn mailbox_capacity(&self) -> Option<usize> {
        self.mailbox().capacity()
    }

    /// `false` once the actor is gone for good and its mailbox closed.
    pub fn is_alive(&self) -> bool {
        !self.mailbox().is_closed()
    }

    /// The actor's counters: handled, failed, restarts.
    pub fn stats(&self) -> ActorStats {
        self.shared().stats()
    }

    /// Monitors the actor from anywhere: the returned [`Monitor`] resolves
    /// with a [`Down`] once its current incarnation ends (or, between two
    /// incarnations, the next one), with the reason; at once with
    /// [`ExitReason::NoProc`](crate::supervisor::ExitReason::NoProc) if it is
    /// gone for good already. Dropping the `Monitor` demonitors.
    ///
    /// A restarted actor keeps this handle: monitor again to watch the
    /// next incarnation. Costs a oneshot channel and a slot in the actor's
    /// monitor list; for many monitors prefer
    /// [`monitor_with`](Self::monitor_with).
    ///
    /// ```
    /// # use airssys_rt::{Actor, ActorContext, ActorSystem};
    /// # use airssys_rt::supervisor::ExitReason;
    /// # struct Idle;
    /// # impl Actor for Idle {
    /// #     type Message = ();
    /// #     type Reply = ();
    /// #     type Error = std::convert::Infallible;
    /// #     async fn handle_message(&mut self, _: (), _: &mut ActorContext<Self>) -> Result<(), Self::Error> { Ok(()) }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let system = ActorSystem::new();
    /// let idle = system.spawn(|| Idle).await.unwrap();
    /// let monitor = idle.monitor();
    /// idle.stop();
    /// let down = monitor.await;
    /// assert_eq!((down.actor, down.reason), (idle.id(), ExitReason::Shutdown));
    /// // Gone for good now: a new monitor fires at once.
    /// assert_eq!(idle.monitor().await.reason, ExitReason::NoProc);
    /// # }
    /// ```
    pub fn monitor(&self) -> Monitor {
        monitor::monitor_future(&self.cell)
    }

    /// Monitors the actor from anywhere, calling `notify` once with the
    /// [`Down`], as [`monitor`](Self::monitor) resolves. The cheapest
    /// monitor: one slot in the actor's monitor list and the boxed closure
    /// (no allocation for a closure that captures nothing); made for
    /// layers that keep many (see `docs/supervision.md` for the bytes).
    ///
    /// `notify` runs in the task that ends the incarnation (or, for
    /// `NoProc`, in this call), after its monitors are taken out and with
    /// no lock held: keep it short and non-blocking (send on a channel).
    /// A panic in it is caught and logged. The monitor stays armed until
    /// its down or [`demonitor`](Self::demonitor); dropping the returned
    /// reference does not remove it.
    pub fn monitor_with(&self, notify: impl FnOnce(Down) + Send + 'static) -> MonitorRef {
        monitor::monitor_from_outside(self.cell.as_ref(), Recipient::Callback(Box::new(notify)))
    }

    /// Removes a monitor made with [`monitor_with`](Self::monitor_with) on
    /// this actor. `true`: it was armed, and its callback will never run.
    /// `false`: its callback has run, or is running now, or the reference
    /// is not one of this actor's monitors made from outside. O(1).
    pub fn demonitor(&self, monitor: MonitorRef) -> bool {
        monitor::demonitor_from_outside(self.cell.as_ref(), monitor)
    }

    /// Links this actor with `peer`, both ways, on their behalf: what
    /// [`ActorContext::link`](super::ActorContext::link) does from inside
    /// one of them, for a layer that runs actors for others (the component
    /// host links two components when a guest asks). The link joins the
    /// two running incarnations (one between incarnations: its next), with
    /// the same semantics: an abnormal end of either stops the other with
    /// [`ExitReason::Linked`](crate::supervisor::ExitReason::Linked) unless
    /// it traps exits, a normal end just breaks it, and it ends with either
    /// incarnation. Idempotent; linking an actor with itself does nothing.
    /// Two lock acquisitions, one allocation per first monitor or link on
    /// either side.
    ///
    /// # Errors
    /// [`LinkError::NoProc`] naming whichever of the two is gone for good.
    pub fn link<B: Actor>(&self, peer: &ActorRef<B>) -> Result<(), LinkError> {
        link::link(&self.cell, &peer.cell)
    }

    /// Breaks the link between this actor and `peer`, as
    /// [`ActorContext::unlink`](super::ActorContext::unlink) does from
    /// inside: once it returns, no exit of either reaches the other over
    /// it, even one already queued. `true` if there was a link.
    pub fn unlink<B: Actor>(&self, peer: &ActorRef<B>) -> bool {
        link::unlink(self.cell.as_ref(), peer.cell.as_ref())
    }

    /// Monitors of this actor armed now: made, not fired, not removed.
    /// O(1) under one short lock; for metrics and leak checks.
    pub fn monitor_count(&self) -> usize {
        self.shared()
            .watch_if_any()
            .map_or(0, |watch| watch.lock().watchers.len())
    }

    /// Waits until the actor is gone for good.
    ///
    /// # Cancel safety
    /// Cancel-safe.
    pub async fn wait_for_stop(&self) {
        self.mailbox().closed().await
    }
}

/// Unwraps the message of an envelope the mailbox handed back. Only `Tell`
/// and `Ask` envelopes are pushed by the send paths that call this.
fn into_message<A: Actor>(envelope: Envelope<A>) -> A::Message {
    match envelope {
        Envelope::Tell(message) => message,
        Envelope::Ask(request) => request.0,
        // The send paths above only push Tell/Ask; Stop is pushed by `stop`,
        // which ignores the error and never calls this.
        Envelope::Stop | Envelope::Health(_) | Envelope::Signal(_) => {
            unreachable!("stop envelopes are never handed back to a sender")
        }
    }
}
