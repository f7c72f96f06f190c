//! A supervisor that fails for good takes its children's mailboxes with it:
//! queued messages are dead-lettered and every later send fails at once.
//! One that its parent restarts keeps them.

use std::sync::Arc;
use std::time::Duration;

use airssys_rt::supervisor::{
    BackoffPolicy, ChildSpec, RestartPolicy, ShutdownPolicy, SupervisionEvent, SupervisorExit,
    SupervisorNode, SupervisorRef,
};
use airssys_rt::{
    Actor, ActorContext, ActorRef, ActorSystem, AskError, DeadLetter, DeadLetterReason, ErrorAction,
};
use tokio::sync::{broadcast, Notify};
use tokio::time::{timeout, Instant};

const WAIT: Duration = Duration::from_secs(60);
/// Long enough that an `ask` waiting it out is plain to see on a paused clock.
const ASK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
#[error("boom")]
struct Boom;

enum Cmd {
    Add(u64),
    Get,
    /// Handled until the gate opens (never, in these tests).
    Block(Arc<Notify>),
    Fail,
}

/// An actor that adds numbers, blocks on request, and on failure gives its
/// supervisor the answer it was built with.
struct Worker {
    total: u64,
    on_failure: ErrorAction,
}

impl Actor for Worker {
    type Message = Cmd;
    type Reply = u64;
    type Error = Boom;

    async fn handle_message(&mut self, cmd: Cmd, _: &mut ActorContext<Self>) -> Result<u64, Boom> {
        match cmd {
            Cmd::Add(n) => self.total += n,
            Cmd::Get => {}
            Cmd::Block(gate) => gate.notified().await,
            Cmd::Fail => return Err(Boom),
        }
        Ok(self.total)
    }

    fn on_error(&mut self, _: &Boom, _: &mut ActorContext<Self>) -> ErrorAction {
        self.on_failure
    }
}

/// Spawns a worker named `name` under `sup`, stopped at once when its
/// supervisor stops it (so a blocked one does not hold the test up).
async fn spawn(
    system: &ActorSystem,
    sup: &SupervisorRef,
    spec: ChildSpec,
    on_failure: ErrorAction,
) -> ActorRef<Worker> {
    system
        .spawn(move || Worker {
            total: 0,
            on_failure,
        })
        .name(spec.name().to_owned())
        .supervisor(sup, spec.shutdown(ShutdownPolicy::Immediate))
        .await
        .unwrap()
}

/// Leaves `actor` stuck on a message with `Add(1)` and `Add(2)` queued behind it.
async fn block_with_two_queued(actor: &ActorRef<Worker>) {
    actor
        .tell(Cmd::Block(Arc::new(Notify::new())))
        .await
        .unwrap();
    actor.tell(Cmd::Add(1)).await.unwrap();
    actor.tell(Cmd::Add(2)).await.unwrap();
}

/// Waits for the dead letters of `actor` until `n` were seen; returns them.
async fn dead_letters_of(
    rx: &mut broadcast::Receiver<Arc<DeadLetter>>,
    actor: &ActorRef<Worker>,
    n: usize,
) -> Vec<Arc<DeadLetter>> {
    let mut seen = Vec::new();
    timeout(WAIT, async {
        while seen.len() < n {
            let letter = rx.recv().await.unwrap();
            if letter.actor == actor.id() {
                seen.push(letter);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} of {n} dead letters for {actor:?}", seen.len()));
    seen
}

/// Every kind of send to `actor` fails, and none of them waits.
async fn sends_fail_at_once(actor: &ActorRef<Worker>) {
    let before = Instant::now();
    assert!(!actor.is_alive(), "{actor:?} still has an open mailbox");
    let told = actor.tell(Cmd::Get).await;
    assert!(told.is_err(), "tell to {actor:?} was accepted");
    assert!(matches!(
        actor.try_tell(Cmd::Get),
        Err(airssys_rt::TrySendError::ActorStopped { .. })
    ));
    let asked = actor.ask(Cmd::Get, ASK_TIMEOUT).await;
    assert!(
        matches!(asked, Err(AskError::ActorStopped { .. })),
        "ask to {actor:?}: {asked:?}"
    );
    assert_eq!(before.elapsed(), Duration::ZERO, "a send waited");
}

fn is_queued_add(letter: &DeadLetter, n: u64) -> bool {
    letter.reason == DeadLetterReason::ActorStopped
        && matches!(letter.take_message::<Cmd>(), Some(Cmd::Add(m)) if m == n)
}

#[tokio::test(start_paused = true)]
async fn when_the_root_gives_up_its_childrens_queues_are_dead_lettered_and_sends_fail_at_once() {
    let system = ActorSystem::new();
    let root = SupervisorNode::builder("root")
        .intensity(0, Duration::from_secs(60))
        .backoff(BackoffPolicy::none())
        .start();
    let mut dead = system.dead_letters();
    let busy = spawn(&system, &root, ChildSpec::new("busy"), ErrorAction::Resume).await;
    let crasher = spawn(
        &system,
        &root,
        ChildSpec::new("crasher"),
        ErrorAction::Restart,
    )
    .await;
    block_with_two_queued(&busy).await;

    crasher.tell(Cmd::Fail).await.unwrap();
    let exit = timeout(WAIT, root.wait()).await.unwrap();

    assert!(matches!(exit, SupervisorExit::Failed(_)), "{exit:?}");
    sends_fail_at_once(&busy).await;
    sends_fail_at_once(&crasher).await;
    let letters = dead_letters_of(&mut dead, &busy, 2).await;
    assert!(is_queued_add(&letters[0], 1), "{:?}", letters[0]);
    assert!(is_queued_add(&letters[1], 2), "{:?}", letters[1]);
    assert!(system.lookup::<Worker>("busy").is_none());
}

/// root (intensity 0) ── mid (intensity 0) ─┬─ busy
///                                          └─ crasher
#[tokio::test(start_paused = true)]
async fn when_a_failure_escalates_to_a_root_that_gives_up_the_nested_childrens_sends_fail_at_once()
{
    let system = ActorSystem::new();
    let root = SupervisorNode::builder("root")
        .intensity(0, Duration::from_secs(60))
        .backoff(BackoffPolicy::none())
        .start();
    let mid = root
        .add_supervisor(
            ChildSpec::new("mid"),
            SupervisorNode::builder("mid").intensity(0, Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let mut dead = system.dead_letters();
    let busy = spawn(&system, &mid, ChildSpec::new("busy"), ErrorAction::Resume).await;
    let crasher = spawn(
        &system,
        &mid,
        ChildSpec::new("crasher"),
        ErrorAction::Restart,
    )
    .await;
    block_with_two_queued(&busy).await;

    crasher.tell(Cmd::Fail).await.unwrap();
    let exit = timeout(WAIT, root.wait()).await.unwrap();

    assert!(matches!(exit, SupervisorExit::Failed(_)), "{exit:?}");
    sends_fail_at_once(&busy).await;
    sends_fail_at_once(&crasher).await;
    let letters = dead_letters_of(&mut dead, &busy, 2).await;
    assert!(is_queued_add(&letters[0], 1), "{:?}", letters[0]);
    assert!(is_queued_add(&letters[1], 2), "{:?}", letters[1]);
}

/// root ── mid (Temporary, intensity 0) ─┬─ busy
///                                       └─ crasher
#[tokio::test(start_paused = true)]
async fn when_a_failed_nested_supervisor_is_temporary_its_childrens_sends_fail_once_it_is_removed()
{
    let system = ActorSystem::new();
    let root = SupervisorNode::builder("root")
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = root.events();
    let mid = root
        .add_supervisor(
            ChildSpec::new("mid").restart(RestartPolicy::Temporary),
            SupervisorNode::builder("mid").intensity(0, Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let mut dead = system.dead_letters();
    let busy = spawn(&system, &mid, ChildSpec::new("busy"), ErrorAction::Resume).await;
    let crasher = spawn(
        &system,
        &mid,
        ChildSpec::new("crasher"),
        ErrorAction::Restart,
    )
    .await;
    block_with_two_queued(&busy).await;

    crasher.tell(Cmd::Fail).await.unwrap();
    timeout(WAIT, async {
        loop {
            if let SupervisionEvent::ChildRemoved { supervisor, child } =
                events.recv().await.unwrap()
            {
                if supervisor == "root" && child == "mid" {
                    return;
                }
            }
        }
    })
    .await
    .expect("root removes mid");

    assert_eq!(root.exit_status(), None, "the root itself carries on");
    sends_fail_at_once(&busy).await;
    sends_fail_at_once(&crasher).await;
    let letters = dead_letters_of(&mut dead, &busy, 2).await;
    assert!(is_queued_add(&letters[0], 1), "{:?}", letters[0]);
    assert!(is_queued_add(&letters[1], 2), "{:?}", letters[1]);
}

/// root ── mid (Permanent, intensity 0) ─┬─ keeper
///                                       └─ crasher
#[tokio::test(start_paused = true)]
async fn a_nested_supervisor_its_parent_restarts_keeps_its_childrens_mailboxes_and_queues() {
    let system = ActorSystem::new();
    let root = SupervisorNode::builder("root")
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = root.events();
    let mid = root
        .add_supervisor(
            ChildSpec::new("mid"),
            SupervisorNode::builder("mid").intensity(0, Duration::from_secs(60)),
        )
        .await
        .unwrap();
    // Stopped gracefully, keeper overruns its grace on the blocking message
    // and is aborted: that message is lost, the two queued behind it are not.
    let keeper = system
        .spawn(|| Worker {
            total: 0,
            on_failure: ErrorAction::Resume,
        })
        .supervisor(
            &mid,
            ChildSpec::new("keeper").shutdown(ShutdownPolicy::Graceful(Duration::from_millis(100))),
        )
        .await
        .unwrap();
    let crasher = spawn(
        &system,
        &mid,
        ChildSpec::new("crasher"),
        ErrorAction::Restart,
    )
    .await;
    block_with_two_queued(&keeper).await;

    crasher.tell(Cmd::Fail).await.unwrap();
    timeout(WAIT, async {
        loop {
            if let SupervisionEvent::ChildRestarted {
                supervisor, child, ..
            } = events.recv().await.unwrap()
            {
                if supervisor == "root" && child == "mid" {
                    return;
                }
            }
        }
    })
    .await
    .expect("root restarts mid");

    assert!(keeper.is_alive());
    assert!(crasher.is_alive());
    assert_eq!(keeper.ask(Cmd::Get, ASK_TIMEOUT).await.unwrap(), 3);
    assert_eq!(crasher.ask(Cmd::Get, ASK_TIMEOUT).await.unwrap(), 0);
    assert_eq!(system.stats().dead_letters.actor_stopped, 0);
}
