//! The loop that runs one actor: take a message, handle it, act on failure.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;

use std::future::poll_fn;

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
///
/// The mailbox is borrowed, never owned: whoever runs the loop keeps it, so
/// messages left in it survive the incarnation.
///
/// This future sits inside every actor's task, idle or not, so it is kept
/// small: the hot path holds the arguments, the reply channel and the
/// handler's future; the cold paths (stopping, failures and restarts, health
/// checks) run in boxed futures of their own, allocated only when taken.
pub(crate) async fn run<A, F>(
    mut actor: A,
    mut restart_by: RestartBy<'_, F>,
    ctx: &mut ActorContext<A>,
    mailbox: &mut Inbox<A>,
) -> ExitReason
where
    A: Actor,
    F: FnMut() -> A,
{
    loop {
        let stop = if ctx.myself().shared().stop_requested.load(Ordering::Acquire) {
            Some(ExitReason::Shutdown)
        } else if ctx.stop_self {
            Some(ExitReason::Normal)
        } else {
            None
        };
        if let Some(reason) = stop {
            return Box::pin(stop_with(&mut actor, ctx, reason)).await;
        }
        let (message, reply) = match poll_fn(|cx| mailbox.poll_recv(cx)).await {
            Some(Envelope::Tell(message)) => (message, None),
            Some(Envelope::Ask(request)) => {
                let (message, reply) = *request;
                (message, Some(reply))
            }
            Some(Envelope::Health(answer)) => {
                let health = Box::pin(actor.health_check(ctx)).await;
                let _ = answer.send(health);
                continue;
            }
            // A wake-up for a stop request (or a stale one); the flag decides.
            Some(Envelope::Stop) => continue,
            // The mailbox was closed and is empty: nothing more will come.
            None => return Box::pin(stop_with(&mut actor, ctx, ExitReason::Normal)).await,
        };

        let outcome = AssertUnwindSafe(actor.handle_message(message, ctx))
            .catch_unwind()
            .await;
        let failure = match outcome {
            Ok(Ok(value)) => {
                ctx.myself()
                    .shared()
                    .handled
                    .fetch_add(1, Ordering::Relaxed);
                answer::<A>(ctx, reply, Ok(value));
                continue;
            }
            Ok(Err(error)) => {
                ctx.myself().shared().failed.fetch_add(1, Ordering::Relaxed);
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
                ctx.myself().shared().failed.fetch_add(1, Ordering::Relaxed);
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
            tracing::warn!(actor = %ctx.myself().shared().label(), error = %failure.reason, "handler failed; resuming");
            continue;
        }
        if let Some(exit) = Box::pin(recover(&mut actor, &mut restart_by, ctx, failure)).await {
            return exit;
        }
    }
}

/// Runs `post_stop` and ends the loop with `reason`.
async fn stop_with<A: Actor>(
    actor: &mut A,
    ctx: &mut ActorContext<A>,
    reason: ExitReason,
) -> ExitReason {
    actor.post_stop(ctx).await;
    reason
}

/// After a failed message the actor does not resume from: dead-letters it,
/// runs `post_stop` (unless the handler panicked), then either ends the loop
/// (`Some`) or puts a fresh instance in place (`None`).
async fn recover<A, F>(
    actor: &mut A,
    restart_by: &mut RestartBy<'_, F>,
    ctx: &mut ActorContext<A>,
    failure: Failure,
) -> Option<ExitReason>
where
    A: Actor,
    F: FnMut() -> A,
{
    let shared = ctx.myself().shared();
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
        ErrorAction::Stop => return Some(ExitReason::Normal),
        ErrorAction::Escalate => return Some(ExitReason::Escalated(failure.reason)),
        _ => {}
    }
    // Restart.
    let RestartBy::InPlace(factory) = restart_by else {
        return Some(ExitReason::Failed(failure.reason));
    };
    let shared = ctx.myself().shared();
    tracing::info!(actor = %shared.label(), error = %failure.reason, "restarting actor in place");
    *actor = factory();
    shared.restarts.fetch_add(1, Ordering::Relaxed);
    if let Err(error) = actor.pre_start(ctx).await {
        return Some(ExitReason::Failed(format!(
            "pre_start failed on restart: {error}"
        )));
    }
    None
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
