//! The loop that runs one actor: take a message, handle it, act on failure.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;

use std::future::{poll_fn, Future};
use std::pin::Pin;

use futures::FutureExt;

use super::envelope::{Envelope, HandlerFailure, ReplyResult};
use super::inbox::{HoldsInbox, Inbox};
use super::incarnation::{Incarnation, Restart};
use super::shared::ActorCell;
use super::signal::Signal;
use super::{link, monitor, Actor, ActorContext, ErrorAction};
use crate::dead_letter::{DeadLetter, DeadLetterReason};
use crate::supervisor::{ExitReason, FailureCause};

/// Runs the actor of `incarnation` on messages from its mailbox until it
/// stops; returns why.
///
/// The incarnation is borrowed, never owned: whoever runs the loop keeps the
/// inbox, so messages left in it survive the incarnation.
///
/// This future sits inside every actor's task, idle or not, so it holds as
/// little as possible across its awaits: one pointer to the incarnation,
/// the reply channel and the handler's future. The cold paths (stopping,
/// failures and restarts, health checks) run in boxed futures of their own,
/// allocated only when taken, and every value they need is moved into them.
///
/// A function returning an `async` block rather than an `async fn`, which
/// would keep a second copy of its argument in the future.
#[allow(clippy::manual_async_fn)]
pub(crate) fn run<A, M, R>(
    incarnation: &mut Incarnation<A, M, R>,
) -> impl Future<Output = ExitReason> + Send + '_
where
    A: Actor,
    M: HoldsInbox<A>,
    R: Restart<A>,
{
    async move {
        loop {
            if let Some(stopping) = stopping(incarnation) {
                return stopping.await;
            }
            let (message, reply) = match poll_fn(|cx| {
                // Each message taken spends a unit of tokio's cooperative
                // budget, as a tokio channel's receive does: an actor whose
                // queue never empties yields every so often, and the other
                // tasks of its worker get their turn.
                let budget = std::task::ready!(tokio::task::coop::poll_proceed(cx));
                let Incarnation { ctx, mailbox, .. } = &mut *incarnation;
                let polled = mailbox.inbox().poll_recv(&ctx.myself().cell, cx);
                if polled.is_ready() {
                    budget.made_progress();
                }
                polled
            })
            .await
            {
                Some(Envelope::Tell(message)) => (message, None),
                Some(Envelope::Ask(request)) => {
                    let (message, reply) = *request;
                    (message, Some(reply))
                }
                other => {
                    let aside = Box::pin(aside(incarnation, other));
                    match aside.await {
                        Some(exit) => return exit,
                        None => continue,
                    }
                }
            };

            let Incarnation { actor, ctx, .. } = &mut *incarnation;
            let outcome = AssertUnwindSafe(actor.handle_message(message, ctx))
                .catch_unwind()
                .await;
            let settled = settle(incarnation, outcome, |ctx, result| {
                answer::<A>(ctx, reply, result)
            });
            let recovery = match settled {
                Some(failure) => Box::pin(recover(incarnation, failure)),
                None => continue,
            };
            if let Some(exit) = recovery.await {
                return exit;
            }
        }
    }
}

/// The boxed stop (`post_stop`, then the exit) when the loop must stop
/// before taking another message. Built here, so the loop's future keeps
/// only the box across the await.
fn stopping<A, M, R>(
    incarnation: &mut Incarnation<A, M, R>,
) -> Option<Pin<Box<impl Future<Output = ExitReason> + Send + '_>>>
where
    A: Actor,
    M: Send,
    R: Send,
{
    let reason = incarnation.stop_reason()?;
    Some(Box::pin(stop_with(incarnation, reason)))
}

/// What a handler's call ended in: its result (`T` is the reply of a
/// message, `()` for a down or exit hook), or a panic.
type Outcome<A, T> =
    Result<Result<T, <A as Actor>::Error>, Box<dyn std::any::Any + Send + 'static>>;

/// Counts the outcome of one handler call and hands its result to
/// `deliver` (the asker of a message; nobody for a hook). Returns the
/// failure the loop must recover from, or `None` to go on (success, or a
/// failure the actor resumes from).
fn settle<A, M, R, T>(
    incarnation: &mut Incarnation<A, M, R>,
    outcome: Outcome<A, T>,
    deliver: impl FnOnce(&ActorContext<A>, Result<T, HandlerFailure<A::Error>>),
) -> Option<Failure>
where
    A: Actor,
    M: Send,
    R: Send,
{
    let Incarnation { actor, ctx, .. } = incarnation;
    let shared = ctx.myself().shared();
    let failure = match outcome {
        Ok(Ok(value)) => {
            shared.handled.fetch_add(1, Ordering::Relaxed);
            deliver(ctx, Ok(value));
            return None;
        }
        Ok(Err(error)) => {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            let reason = FailureCause::Other(error.to_string());
            let action = actor.on_error(&error, ctx);
            deliver(ctx, Err(HandlerFailure::Failed(error)));
            Failure {
                reason,
                action,
                panicked: false,
                dead_letter: true,
            }
        }
        Err(panic) => {
            shared.failed.fetch_add(1, Ordering::Relaxed);
            let reason = FailureCause::Panicked(panic_message(&*panic));
            deliver(ctx, Err(HandlerFailure::Panicked(reason.to_string())));
            // A panic may have left the state half-updated: never resume it.
            Failure {
                reason,
                action: ErrorAction::Restart,
                panicked: true,
                dead_letter: true,
            }
        }
    };
    if failure.action == ErrorAction::Resume {
        tracing::warn!(actor = %ctx.myself().shared().label(), error = %failure.reason, "handler failed; resuming");
        return None;
    }
    Some(failure)
}

/// Whatever the mailbox gave that is not a message: a health check from
/// the supervisor (answered between messages), a down or a trapped link
/// exit (handed to the actor's hook), a stop wake-up (the flag decides, at
/// the top of the loop), or the end of a closed mailbox (the loop stops:
/// `Some`).
async fn aside<A, M, R>(
    incarnation: &mut Incarnation<A, M, R>,
    envelope: Option<Envelope<A>>,
) -> Option<ExitReason>
where
    A: Actor,
    M: Send,
    R: Restart<A>,
{
    match envelope {
        Some(Envelope::Signal(signal)) => {
            let Incarnation { actor, ctx, .. } = &mut *incarnation;
            let own = ctx.myself().cell.as_ref();
            let outcome = match *signal {
                Signal::Down(down) => {
                    if !monitor::accept_down(own, &down) {
                        return None;
                    }
                    AssertUnwindSafe(actor.handle_down(down, ctx))
                        .catch_unwind()
                        .await
                }
                Signal::Exit(exit) => {
                    if !link::accept_exit(own, &exit) {
                        return None;
                    }
                    AssertUnwindSafe(actor.handle_link_exit(exit, ctx))
                        .catch_unwind()
                        .await
                }
            };
            let failure = settle(incarnation, outcome, |_, _| {})?;
            // A hook's failure is the actor's, but no message was lost.
            let failure = Failure {
                dead_letter: false,
                ..failure
            };
            recover(incarnation, failure).await
        }
        Some(Envelope::Health(answer)) => {
            let health = incarnation.actor.health_check(&mut incarnation.ctx).await;
            let _ = answer.send(health);
            None
        }
        // Closed and empty: nothing more will come.
        None => Some(stop_with(incarnation, ExitReason::Normal).await),
        // A wake-up for a stop request (or a stale one); the flag decides.
        Some(Envelope::Stop) => None,
        // The loop hands messages to the handler itself and passes only
        // the other envelopes here.
        Some(Envelope::Tell(_) | Envelope::Ask(_)) => {
            unreachable!("messages are handled by the loop, never set aside")
        }
    }
}

/// Runs `post_stop` and ends the loop with `reason`.
async fn stop_with<A, M, R>(
    incarnation: &mut Incarnation<A, M, R>,
    reason: ExitReason,
) -> ExitReason
where
    A: Actor,
    M: Send,
    R: Send,
{
    incarnation.actor.post_stop(&mut incarnation.ctx).await;
    reason
}

/// After a failed message the actor does not resume from: dead-letters it,
/// runs `post_stop` (unless the handler panicked), then either ends the loop
/// (`Some`) or puts a fresh instance in place (`None`).
async fn recover<A, M, R>(
    incarnation: &mut Incarnation<A, M, R>,
    failure: Failure,
) -> Option<ExitReason>
where
    A: Actor,
    R: Restart<A>,
{
    let Incarnation {
        actor,
        ctx,
        restart,
        ..
    } = incarnation;
    let shared = ctx.myself().shared();
    if failure.dead_letter && A::DEAD_LETTERS_FAILURES {
        ctx.system()
            .dead_letters_office()
            .post(DeadLetter::new::<A::Message>(
                shared.id,
                shared.name.clone(),
                DeadLetterReason::HandlerFailed(failure.reason.to_string()),
                None,
            ));
    }
    if !failure.panicked {
        actor.post_stop(ctx).await;
    }
    match failure.action {
        ErrorAction::Stop => return Some(ExitReason::Normal),
        ErrorAction::Escalate => return Some(ExitReason::Escalated(failure.reason.to_string())),
        _ => {}
    }
    // Restart: in place, or by the supervisor (the loop ends as failed).
    let Some(fresh) = restart.fresh_instance() else {
        return Some(ExitReason::Failed(failure.reason));
    };
    let shared = ctx.myself().shared();
    // The failed incarnation ends here: its monitors fire, its links carry
    // the failure, and the fresh instance starts with neither.
    shared.end_incarnation(&ExitReason::Failed(failure.reason.clone()));
    tracing::info!(actor = %shared.label(), error = %failure.reason, "restarting actor in place");
    *actor = fresh;
    shared.restarts.fetch_add(1, Ordering::Relaxed);
    if let Err(error) = actor.pre_start(ctx).await {
        return Some(ExitReason::Failed(
            format!("pre_start failed on restart: {error}").into(),
        ));
    }
    restart.restarted(&failure.reason);
    None
}

struct Failure {
    reason: FailureCause,
    action: ErrorAction,
    panicked: bool,
    /// Whether a message was lost with the failure (not for a hook's).
    dead_letter: bool,
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

/// Closes `cell`'s mailbox and dead-letters everything left in it and in
/// its inbox: the actor is gone for good. Queued asks are answered with
/// "actor stopped" by dropping their reply channel.
pub(crate) fn close_and_drain<A: Actor>(
    inbox: &mut Inbox<A>,
    cell: &ActorCell<A>,
    system: &crate::system::ActorSystem,
) {
    cell.mailbox.close();
    let shared = &cell.shared;
    shared.gone_for_good();
    while let Some(envelope) = inbox.try_recv(cell) {
        let message = match envelope {
            Envelope::Tell(message) => message,
            Envelope::Ask(request) => request.0,
            // Signals are not messages: a down for a gone actor goes nowhere.
            Envelope::Stop | Envelope::Health(_) | Envelope::Signal(_) => continue,
        };
        system.dead_letters_office().post(DeadLetter::new(
            shared.id,
            shared.name.clone(),
            DeadLetterReason::ActorStopped,
            Some(message),
        ));
    }
}
