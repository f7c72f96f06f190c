//! The loop that runs one actor: take a message, handle it, act on failure.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;

use futures::FutureExt;

use super::envelope::{Envelope, ReplyResult};
use super::inbox::Inbox;
use super::{Actor, ActorContext, ErrorAction};
use crate::dead_letter::{DeadLetter, DeadLetterReason};
use crate::supervisor::ExitReason;

/// Who restarts the actor when it asks for a restart.
pub(crate) enum RestartBy<'a, F> {
    /// The loop itself, with a fresh instance from the factory.
    InPlace(&'a mut F),
    /// The supervisor: the loop returns a failed exit.
    Supervisor,
}

/// Runs `actor` on messages from `mailbox` until it stops; returns why.
/// `shared` is the actor's shared record, passed in (rather than cloned
/// here from `ctx`) so that a new actor's first poll on a worker thread does
/// not write to a cache line the spawning thread is still using.
///
/// The mailbox is borrowed, never owned: whoever runs the loop keeps it, so
/// messages left in it survive the incarnation.
pub(crate) async fn run<A, F>(
    mut actor: A,
    mut restart_by: RestartBy<'_, F>,
    ctx: &mut ActorContext<A>,
    mailbox: &mut Inbox<A>,
    shared: &super::ActorShared,
) -> ExitReason
where
    A: Actor,
    F: FnMut() -> A,
{
    loop {
        if shared.stop_requested.load(Ordering::Acquire) {
            actor.post_stop(ctx).await;
            return ExitReason::Shutdown;
        }
        if ctx.stop_self {
            actor.post_stop(ctx).await;
            return ExitReason::Normal;
        }
        let (message, reply) = match mailbox.recv().await {
            Some(Envelope::Tell(message)) => (message, None),
            Some(Envelope::Ask(request)) => {
                let (message, reply) = *request;
                (message, Some(reply))
            }
            Some(Envelope::Health(answer)) => {
                let health = actor.health_check(ctx).await;
                let _ = answer.send(health);
                continue;
            }
            // A wake-up for a stop request (or a stale one); the flag decides.
            Some(Envelope::Stop) => continue,
            // The mailbox was closed and is empty: nothing more will come.
            None => {
                actor.post_stop(ctx).await;
                return ExitReason::Normal;
            }
        };

        let outcome = AssertUnwindSafe(actor.handle_message(message, ctx))
            .catch_unwind()
            .await;
        let failure = match outcome {
            Ok(Ok(value)) => {
                shared.handled.fetch_add(1, Ordering::Relaxed);
                answer::<A>(ctx, reply, Ok(value));
                continue;
            }
            Ok(Err(error)) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                let reason = error.to_string();
                answer::<A>(ctx, reply, Err(reason.clone()));
                let action = actor.on_error(&error, ctx);
                Failure {
                    reason,
                    action,
                    panicked: false,
                }
            }
            Err(panic) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                let reason = format!("panicked: {}", panic_message(&*panic));
                answer::<A>(ctx, reply, Err(reason.clone()));
                // A panic may have left the state half-updated: never resume it.
                Failure {
                    reason,
                    action: ErrorAction::Restart,
                    panicked: true,
                }
            }
        };

        if failure.action == ErrorAction::Resume {
            tracing::warn!(actor = %shared.label(), error = %failure.reason, "handler failed; resuming");
            continue;
        }
        ctx.system()
            .dead_letters_office()
            .post(DeadLetter::new::<A::Message>(
                shared.id,
                shared.name.clone(),
                DeadLetterReason::HandlerFailed(failure.reason.clone()),
                None,
            ));
        if !failure.panicked {
            actor.post_stop(ctx).await;
        }
        match failure.action {
            ErrorAction::Stop => return ExitReason::Normal,
            ErrorAction::Escalate => return ExitReason::Escalated(failure.reason),
            _ => {}
        }
        // Restart.
        let RestartBy::InPlace(factory) = &mut restart_by else {
            return ExitReason::Failed(failure.reason);
        };
        tracing::info!(actor = %shared.label(), error = %failure.reason, "restarting actor in place");
        actor = factory();
        shared.restarts.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = actor.pre_start(ctx).await {
            return ExitReason::Failed(format!("pre_start failed on restart: {error}"));
        }
    }
}

struct Failure {
    reason: String,
    action: ErrorAction,
    panicked: bool,
}

/// Sends the outcome to an asker, counting a reply nobody waits for.
fn answer<A: Actor>(
    ctx: &ActorContext<A>,
    reply: Option<tokio::sync::oneshot::Sender<ReplyResult<A>>>,
    result: ReplyResult<A>,
) {
    if let Some(reply) = reply {
        if reply.send(result).is_err() {
            ctx.system().count_late_reply();
        }
    }
}

/// The text of a panic payload, when it is a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Closes the mailbox and dead-letters everything left in it: the actor is
/// gone for good. Queued asks are answered with "actor stopped" by dropping
/// their reply channel.
pub(crate) fn close_and_drain<A: Actor>(
    mailbox: &mut Inbox<A>,
    ctx_system: &crate::system::ActorSystem,
    shared: &super::ActorShared,
) {
    shared.terminated.store(true, Ordering::SeqCst);
    mailbox.close();
    while let Some(envelope) = mailbox.try_recv() {
        let message = match envelope {
            Envelope::Tell(message) => message,
            Envelope::Ask(request) => request.0,
            Envelope::Stop | Envelope::Health(_) => continue,
        };
        ctx_system.dead_letters_office().post(DeadLetter::new(
            shared.id,
            shared.name.clone(),
            DeadLetterReason::ActorStopped,
            Some(message),
        ));
    }
}
