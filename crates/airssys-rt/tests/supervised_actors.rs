//! Actors under supervisors: the handle and the mailbox survive restarts.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::supervisor::{
    BackoffPolicy, ChildHealth, ChildSpec, FailureCause, HealthConfig, RestartPolicy,
    RestartStrategy, ShutdownPolicy, SupervisionEvent, SupervisorExit, SupervisorNode,
    SupervisorRef,
};
use airssys_rt::{
    Actor, ActorContext, ActorRef, ActorSystem, AskError, DeadLetterReason, ErrorAction, SpawnError,
};
use tokio::sync::Notify;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
#[error("boom: {0}")]
struct Boom(&'static str);

enum Cmd {
    Add(u64),
    Get,
    Fail(&'static str),
    Panic,
    Block(Arc<Notify>),
    Sick,
    /// Answers the id of the tokio task running the actor.
    Task,
}

struct Worker {
    total: u64,
    action: ErrorAction,
    sick: bool,
    starts: Arc<AtomicU32>,
}

impl Actor for Worker {
    type Message = Cmd;
    type Reply = u64;
    type Error = Boom;

    async fn pre_start(&mut self, _: &mut ActorContext<Self>) -> Result<(), Boom> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn handle_message(&mut self, cmd: Cmd, _: &mut ActorContext<Self>) -> Result<u64, Boom> {
        match cmd {
            Cmd::Add(n) => self.total += n,
            Cmd::Get => {}
            Cmd::Fail(why) => return Err(Boom(why)),
            Cmd::Panic => panic!("worker panicked"),
            Cmd::Block(gate) => gate.notified().await,
            Cmd::Sick => self.sick = true,
            Cmd::Task => return Ok(task_id()),
        }
        Ok(self.total)
    }

    async fn health_check(&mut self, _: &mut ActorContext<Self>) -> ChildHealth {
        if self.sick {
            ChildHealth::Failed("sick".into())
        } else {
            ChildHealth::Healthy
        }
    }

    fn on_error(&mut self, _: &Boom, _: &mut ActorContext<Self>) -> ErrorAction {
        self.action
    }
}

fn worker(action: ErrorAction) -> (impl FnMut() -> Worker + Send + 'static, Arc<AtomicU32>) {
    let starts = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&starts);
    let factory = move || Worker {
        total: 0,
        action,
        sick: false,
        starts: Arc::clone(&counter),
    };
    (factory, starts)
}

/// The running task's id, as a number.
fn task_id() -> u64 {
    tokio::task::id()
        .to_string()
        .parse()
        .expect("a task id is a number")
}

fn supervisor(name: &str) -> SupervisorRef {
    SupervisorNode::builder(name)
        .intensity(5, Duration::from_secs(10))
        .backoff(BackoffPolicy::none())
        .start()
}

async fn next_restart(events: &mut tokio::sync::broadcast::Receiver<SupervisionEvent>) {
    timeout(WAIT, async {
        loop {
            if let SupervisionEvent::ChildRestarted { .. } = events.recv().await.unwrap() {
                return;
            }
        }
    })
    .await
    .expect("a restart event");
}

#[tokio::test]
async fn queued_messages_survive_restart_in_order_and_the_crashing_message_is_dead_lettered() {
    let system = ActorSystem::new();
    let sup = supervisor("root");
    let mut events = sup.events();
    let mut dead = system.dead_letters();
    let (factory, starts) = worker(ErrorAction::Restart);
    let actor = system
        .spawn(factory)
        .name("worker")
        .supervisor(&sup, ChildSpec::new("worker"))
        .await
        .unwrap();
    let gate = Arc::new(Notify::new());
    actor.tell(Cmd::Add(100)).await.unwrap();
    actor.tell(Cmd::Block(Arc::clone(&gate))).await.unwrap();
    actor.tell(Cmd::Fail("bad record")).await.unwrap();
    for n in 1..=10 {
        actor.tell(Cmd::Add(n)).await.unwrap();
    }
    gate.notify_one();
    next_restart(&mut events).await;
    // Fresh state, and all ten queued messages reached the new incarnation.
    assert_eq!(actor.ask(Cmd::Get, WAIT).await.unwrap(), 55);
    assert_eq!(starts.load(Ordering::SeqCst), 2);
    assert_eq!(actor.stats().restarts, 1);
    let letter = timeout(WAIT, dead.recv()).await.unwrap().unwrap();
    assert_eq!(letter.actor, actor.id());
    assert_eq!(
        letter.reason,
        DeadLetterReason::HandlerFailed("boom: bad record".into())
    );
}

#[tokio::test]
async fn a_panicking_supervised_actor_is_restarted_by_its_supervisor() {
    let system = ActorSystem::new();
    let sup = supervisor("root");
    let mut events = sup.events();
    let (factory, starts) = worker(ErrorAction::Resume);
    let actor = system
        .spawn(factory)
        .supervisor(&sup, ChildSpec::new("panicky"))
        .await
        .unwrap();
    actor.tell(Cmd::Add(5)).await.unwrap();
    let err = actor.ask(Cmd::Panic, WAIT).await.unwrap_err();
    assert!(matches!(err, AskError::HandlerPanicked { .. }));
    next_restart(&mut events).await;
    assert_eq!(actor.ask(Cmd::Get, WAIT).await.unwrap(), 0);
    assert_eq!(starts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn escalate_fails_the_supervisor() {
    let system = ActorSystem::new();
    let sup = supervisor("root");
    let (factory, _) = worker(ErrorAction::Escalate);
    let actor = system
        .spawn(factory)
        .supervisor(&sup, ChildSpec::new("escalator"))
        .await
        .unwrap();
    actor.tell(Cmd::Fail("cannot cope")).await.unwrap();
    match timeout(WAIT, sup.wait()).await.unwrap() {
        SupervisorExit::Failed(FailureCause::ChildEscalated(escalation)) => {
            assert_eq!(escalation.child, "escalator");
            assert!(escalation.reason.contains("cannot cope"), "{escalation:?}");
        }
        other => panic!("expected the supervisor to fail, got {other:?}"),
    }
}

#[tokio::test]
async fn a_transient_actor_that_stops_normally_is_not_restarted_and_its_mailbox_is_dead_lettered() {
    let system = ActorSystem::new();
    let sup = supervisor("root");
    let (factory, starts) = worker(ErrorAction::Stop);
    let actor = system
        .spawn(factory)
        .supervisor(
            &sup,
            ChildSpec::new("transient").restart(RestartPolicy::Transient),
        )
        .await
        .unwrap();
    let gate = Arc::new(Notify::new());
    actor.tell(Cmd::Block(Arc::clone(&gate))).await.unwrap();
    actor.tell(Cmd::Fail("done")).await.unwrap();
    actor.tell(Cmd::Add(1)).await.unwrap();
    gate.notify_one();
    timeout(WAIT, actor.wait_for_stop()).await.unwrap();
    assert_eq!(starts.load(Ordering::SeqCst), 1);
    let counts = system.stats().dead_letters;
    assert_eq!((counts.handler_failed, counts.actor_stopped), (1, 1));
    assert!(matches!(
        actor.try_tell(Cmd::Get),
        Err(airssys_rt::TrySendError::ActorStopped { .. })
    ));
}

#[tokio::test]
async fn terminating_a_supervised_actor_dead_letters_its_queue_and_fails_later_sends() {
    let system = ActorSystem::new();
    let sup = supervisor("root");
    let (factory, _) = worker(ErrorAction::Resume);
    let actor = system
        .spawn(factory)
        .name("doomed")
        .supervisor(
            &sup,
            ChildSpec::new("doomed").shutdown(ShutdownPolicy::Graceful(Duration::from_millis(100))),
        )
        .await
        .unwrap();
    // Stuck on a message that never finishes, with two more queued behind it:
    // the graceful stop overruns, the incarnation is killed, the slot dropped.
    let never = Arc::new(Notify::new());
    actor.tell(Cmd::Block(never)).await.unwrap();
    actor.tell(Cmd::Add(1)).await.unwrap();
    actor.tell(Cmd::Add(2)).await.unwrap();
    timeout(WAIT, sup.terminate_child("doomed"))
        .await
        .unwrap()
        .unwrap();
    timeout(WAIT, actor.wait_for_stop()).await.unwrap();
    assert_eq!(system.stats().dead_letters.actor_stopped, 2);
    assert!(system.lookup::<Worker>("doomed").is_none());
    assert!(actor.tell(Cmd::Get).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn an_actor_reporting_unhealthy_is_restarted_after_the_threshold() {
    let system = ActorSystem::new();
    let sup = supervisor("root");
    let mut events = sup.events();
    let (factory, starts) = worker(ErrorAction::Resume);
    let health = HealthConfig::new(Duration::from_secs(1), Duration::from_millis(100), 2);
    let actor = system
        .spawn(factory)
        .supervisor(&sup, ChildSpec::new("sickly").health(health))
        .await
        .unwrap();
    actor.tell(Cmd::Add(9)).await.unwrap();
    actor.tell(Cmd::Sick).await.unwrap();
    next_restart(&mut events).await;
    assert_eq!(starts.load(Ordering::SeqCst), 2);
    assert_eq!(actor.ask(Cmd::Get, WAIT).await.unwrap(), 0);
}

#[tokio::test]
async fn a_child_name_taken_in_the_supervisor_fails_the_spawn() {
    let system = ActorSystem::new();
    let sup = supervisor("root");
    let (factory, _) = worker(ErrorAction::Resume);
    system
        .spawn(factory)
        .supervisor(&sup, ChildSpec::new("twin"))
        .await
        .unwrap();
    let (factory, _) = worker(ErrorAction::Resume);
    let err = system
        .spawn(factory)
        .name("other")
        .supervisor(&sup, ChildSpec::new("twin"))
        .await
        .unwrap_err();
    assert!(matches!(err, SpawnError::Supervisor { .. }));
    // The refused actor's name was released.
    assert!(system.lookup::<Worker>("other").is_none());
}

/// Records its name when it stops.
struct Named(&'static str, Arc<parking_lot::Mutex<Vec<&'static str>>>);

impl Actor for Named {
    type Message = ();
    type Reply = ();
    type Error = Boom;

    async fn handle_message(&mut self, _: (), _: &mut ActorContext<Self>) -> Result<(), Boom> {
        Ok(())
    }

    async fn post_stop(&mut self, _: &mut ActorContext<Self>) {
        self.1.lock().push(self.0);
    }
}

#[tokio::test]
async fn system_shutdown_stops_supervised_children_in_reverse_start_order_then_the_rest() {
    let system = ActorSystem::new();
    let sup = system.start_supervisor(SupervisorNode::builder("root"));
    let log = Arc::new(parking_lot::Mutex::new(Vec::new()));
    for name in ["first", "second", "third"] {
        let log = Arc::clone(&log);
        system
            .spawn(move || Named(name, Arc::clone(&log)))
            .supervisor(&sup, ChildSpec::new(name))
            .await
            .unwrap();
    }
    let loose_log = Arc::clone(&log);
    let loose = system
        .spawn(move || Named("loose", Arc::clone(&loose_log)))
        .await
        .unwrap();
    let report = system.shutdown(WAIT).await;
    assert_eq!(*log.lock(), vec!["third", "second", "first", "loose"]);
    assert_eq!(report.stopped.len(), 4);
    assert!(report.aborted.is_empty());
    assert!(!loose.is_alive());
    assert!(matches!(sup.wait().await, SupervisorExit::Shutdown));
}

/// A worker named `worker` under `sup` that restarts on failure; and its
/// count of starts.
async fn restarting_worker(
    system: &ActorSystem,
    sup: &SupervisorRef,
) -> (ActorRef<Worker>, Arc<AtomicU32>) {
    let (factory, starts) = worker(ErrorAction::Restart);
    let actor = system
        .spawn(factory)
        .name("worker")
        .supervisor(sup, ChildSpec::new("worker"))
        .await
        .unwrap();
    (actor, starts)
}

/// The supervision events of one child's failure, as (failed incarnation,
/// restart attempt, delay, restarted incarnation).
async fn failure_and_restart(
    events: &mut tokio::sync::broadcast::Receiver<SupervisionEvent>,
) -> (u64, u32, Duration, u64) {
    let mut failed = None;
    let mut restarting = None;
    timeout(WAIT, async {
        loop {
            match events.recv().await.unwrap() {
                SupervisionEvent::ChildFailed { incarnation, .. } => failed = Some(incarnation),
                SupervisionEvent::ChildRestarting { attempt, delay, .. } => {
                    restarting = Some((attempt, delay));
                }
                SupervisionEvent::ChildRestarted { incarnation, .. } => {
                    let (attempt, delay) = restarting.expect("restarting before restarted");
                    return (
                        failed.expect("failed before restarting"),
                        attempt,
                        delay,
                        incarnation,
                    );
                }
                _ => {}
            }
        }
    })
    .await
    .expect("a failure and its restart")
}

#[tokio::test]
async fn a_one_for_one_restart_without_backoff_runs_in_place_and_is_reported_as_any_restart() {
    let system = ActorSystem::new();
    let sup = supervisor("root");
    let mut events = sup.events();
    let (actor, starts) = restarting_worker(&system, &sup).await;
    actor.tell(Cmd::Add(7)).await.unwrap();
    let task = actor.ask(Cmd::Task, WAIT).await.unwrap();

    for round in 1..=2u64 {
        actor.tell(Cmd::Fail("crash")).await.unwrap();
        // Fresh state, in the same task: no new task, no supervisor round trip.
        assert_eq!(actor.ask(Cmd::Get, WAIT).await.unwrap(), 0);
        assert_eq!(actor.ask(Cmd::Task, WAIT).await.unwrap(), task);
        // Reported as the supervisor's own restart would be: incarnations
        // counted alike, so the second failure is not taken for a stale one.
        assert_eq!(
            failure_and_restart(&mut events).await,
            (
                round,
                u32::try_from(round).unwrap(),
                Duration::ZERO,
                round + 1
            )
        );
    }
    assert_eq!(starts.load(Ordering::SeqCst), 3);
    let children = sup.children().await.unwrap();
    assert_eq!(children[0].restarts, 2);
    assert_eq!(sup.intensity().await.unwrap().used, 2);
    assert_eq!(actor.stats().restarts, 2);
}

#[tokio::test]
async fn restarts_in_place_count_towards_the_intensity_and_the_one_past_it_fails_the_supervisor() {
    let system = ActorSystem::new();
    let sup = SupervisorNode::builder("root")
        .intensity(2, Duration::from_secs(10))
        .backoff(BackoffPolicy::none())
        .start();
    let (actor, starts) = restarting_worker(&system, &sup).await;
    let task = actor.ask(Cmd::Task, WAIT).await.unwrap();
    for _ in 0..2 {
        actor.tell(Cmd::Fail("crash")).await.unwrap();
        assert_eq!(actor.ask(Cmd::Task, WAIT).await.unwrap(), task);
    }
    actor.tell(Cmd::Fail("once too often")).await.unwrap();
    let exit = timeout(WAIT, sup.wait()).await.unwrap();
    assert!(
        matches!(
            exit,
            SupervisorExit::Failed(FailureCause::IntensityExceeded { restarts: 3, .. })
        ),
        "{exit:?}"
    );
    assert_eq!(starts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_restart_the_supervisor_must_decide_for_more_than_the_child_runs_in_a_new_task() {
    for builder in [
        SupervisorNode::builder("one_for_all").strategy(RestartStrategy::OneForAll),
        SupervisorNode::builder("backoff").backoff(BackoffPolicy::exponential(
            Duration::from_millis(1),
            Duration::from_millis(1),
        )),
    ] {
        let system = ActorSystem::new();
        let sup = builder.intensity(5, Duration::from_secs(10)).start();
        let mut events = sup.events();
        let (actor, _) = restarting_worker(&system, &sup).await;
        let task = actor.ask(Cmd::Task, WAIT).await.unwrap();
        actor.tell(Cmd::Fail("crash")).await.unwrap();
        let (failed, attempt, _, restarted) = failure_and_restart(&mut events).await;
        assert_eq!((failed, attempt, restarted), (1, 1, 2));
        assert_ne!(actor.ask(Cmd::Task, WAIT).await.unwrap(), task);
    }
}
