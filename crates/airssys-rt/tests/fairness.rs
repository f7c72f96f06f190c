//! Sharing a worker: a busy actor and a task that sends in a loop each
//! spend tokio's cooperative budget, as tokio's own channels do, so
//! neither keeps the other tasks of its worker waiting until it is done.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use airssys_rt::{Actor, ActorContext, ActorRef, ActorSystem, MailboxConfig};
use tokio::sync::Notify;

/// Messages queued or sent in one go: far more than tokio's budget of 128
/// per poll.
const BURST: u64 = 1_000;

/// Counts what it handles; a `Some` message waits for the gate first.
struct Counter;

impl Actor for Counter {
    type Message = Option<Arc<Notify>>;
    type Reply = ();
    type Error = std::convert::Infallible;

    async fn handle_message(
        &mut self,
        gate: Option<Arc<Notify>>,
        _: &mut ActorContext<Self>,
    ) -> Result<(), Self::Error> {
        if let Some(gate) = gate {
            gate.notified().await;
        }
        Ok(())
    }
}

/// A [`Counter`] whose mailbox never pushes back.
async fn counter(system: &ActorSystem) -> ActorRef<Counter> {
    system
        .spawn(|| Counter)
        .mailbox(MailboxConfig::Unbounded)
        .await
        .expect("spawn")
}

#[tokio::test(flavor = "current_thread")]
async fn an_actor_with_a_full_queue_lets_the_other_tasks_of_its_worker_run() {
    let system = ActorSystem::new();
    let actor = counter(&system).await;
    // Held in its first message while the burst is queued behind it.
    let gate = Arc::new(Notify::new());
    actor.tell(Some(Arc::clone(&gate))).await.expect("tell");
    while actor.mailbox_len() != 0 {
        tokio::task::yield_now().await;
    }
    for _ in 0..BURST {
        actor.try_tell(None).expect("room");
    }
    gate.notify_one();
    // Queued behind the actor's wake-up on this one worker.
    let watcher = actor.clone();
    let seen = tokio::spawn(async move { watcher.stats().handled })
        .await
        .expect("the watcher ran");
    assert!(
        seen < BURST,
        "the actor handled {seen} of {BURST} queued messages before another task got the worker"
    );
    while actor.stats().handled < BURST + 1 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_task_sending_in_a_loop_lets_the_other_tasks_of_its_worker_run() {
    let system = ActorSystem::new();
    let actor = counter(&system).await;
    let sent = Arc::new(AtomicU64::new(0));
    let seen_by_watcher = {
        let sent = Arc::clone(&sent);
        tokio::spawn(async move { sent.load(Ordering::Relaxed) })
    };
    for _ in 0..BURST {
        actor.tell(None).await.expect("tell");
        sent.fetch_add(1, Ordering::Relaxed);
    }
    let seen = seen_by_watcher.await.expect("the watcher ran");
    assert!(
        seen < BURST,
        "{seen} of {BURST} sends went out before another task got the worker"
    );
}
