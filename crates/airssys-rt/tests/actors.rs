//! The actor core: spawning, addressing, mailboxes, failure handling, shutdown.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::{
    Actor, ActorContext, ActorRef, ActorSystem, AskError, DeadLetterReason, ErrorAction,
    MailboxConfig, SpawnError, TrySendError,
};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
#[error("boom: {0}")]
struct Boom(String);

/// What a [`Probe`] does with a message.
enum Cmd {
    Add(u64),
    Get,
    Fail(&'static str),
    Panic,
    /// Blocks until the notify fires.
    Block(Arc<Notify>),
    /// Replies with the value after the given delay.
    Slow(Duration, u64),
    StopSelf,
}

/// A test actor: a counter whose failures follow `action`.
struct Probe {
    total: u64,
    action: ErrorAction,
    starts: Arc<AtomicU32>,
    stops: Arc<AtomicU32>,
}

impl Actor for Probe {
    type Message = Cmd;
    type Reply = u64;
    type Error = Boom;

    async fn pre_start(&mut self, _: &mut ActorContext<Self>) -> Result<(), Boom> {
        self.starts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn handle_message(
        &mut self,
        cmd: Cmd,
        ctx: &mut ActorContext<Self>,
    ) -> Result<u64, Boom> {
        match cmd {
            Cmd::Add(n) => self.total += n,
            Cmd::Get => {}
            Cmd::Fail(why) => return Err(Boom(why.to_owned())),
            Cmd::Panic => panic!("probe panicked"),
            Cmd::Block(gate) => gate.notified().await,
            Cmd::Slow(delay, value) => {
                tokio::time::sleep(delay).await;
                return Ok(value);
            }
            Cmd::StopSelf => ctx.stop(),
        }
        Ok(self.total)
    }

    async fn post_stop(&mut self, _: &mut ActorContext<Self>) {
        self.stops.fetch_add(1, Ordering::SeqCst);
    }

    fn on_error(&mut self, _: &Boom, _: &mut ActorContext<Self>) -> ErrorAction {
        self.action
    }
}

struct Counters {
    starts: Arc<AtomicU32>,
    stops: Arc<AtomicU32>,
}

fn probe(action: ErrorAction) -> (impl FnMut() -> Probe + Send + 'static, Counters) {
    let starts = Arc::new(AtomicU32::new(0));
    let stops = Arc::new(AtomicU32::new(0));
    let counters = Counters {
        starts: Arc::clone(&starts),
        stops: Arc::clone(&stops),
    };
    let factory = move || Probe {
        total: 0,
        action,
        starts: Arc::clone(&starts),
        stops: Arc::clone(&stops),
    };
    (factory, counters)
}

async fn get(actor: &ActorRef<Probe>) -> u64 {
    actor.ask(Cmd::Get, WAIT).await.unwrap()
}

#[tokio::test]
async fn tell_then_ask_sees_messages_in_order() {
    let system = ActorSystem::new();
    let (factory, _) = probe(ErrorAction::Resume);
    let actor = system.spawn(factory).await.unwrap();
    for n in 1..=100 {
        actor.tell(Cmd::Add(n)).await.unwrap();
    }
    assert_eq!(get(&actor).await, 5050);
    assert_eq!(actor.stats().handled, 101);
}

/// Makes the actor block in its handler with an empty mailbox; notify the
/// returned gate to let it go on.
async fn occupy(actor: &ActorRef<Probe>) -> Arc<Notify> {
    let gate = Arc::new(Notify::new());
    actor.tell(Cmd::Block(Arc::clone(&gate))).await.unwrap();
    timeout(WAIT, async {
        while actor.mailbox_len() != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    gate
}

#[tokio::test]
async fn try_tell_on_full_mailbox_returns_the_message() {
    let system = ActorSystem::new();
    let (factory, _) = probe(ErrorAction::Resume);
    let actor = system.spawn(factory).mailbox_capacity(2).await.unwrap();
    // Occupy the actor, then fill its two slots.
    let gate = occupy(&actor).await;
    actor.try_tell(Cmd::Add(1)).unwrap();
    actor.try_tell(Cmd::Add(2)).unwrap();
    assert_eq!(actor.mailbox_len(), 2);
    match actor.try_tell(Cmd::Add(40)) {
        Err(TrySendError::MailboxFull {
            capacity,
            message: Cmd::Add(40),
            ..
        }) => assert_eq!(capacity, 2),
        other => panic!("expected MailboxFull with the message back, got {other:?}"),
    }
    gate.notify_one();
    assert_eq!(get(&actor).await, 3);
}

#[tokio::test(start_paused = true)]
async fn tell_until_waits_for_room_and_hands_the_message_back_at_its_deadline() {
    let system = ActorSystem::new();
    let (factory, _) = probe(ErrorAction::Resume);
    let actor = system.spawn(factory).mailbox_capacity(1).await.unwrap();
    let gate = occupy(&actor).await;
    actor.tell(Cmd::Add(1)).await.unwrap();

    // Full until the deadline: the message comes back, never enqueued.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
    match actor.tell_until(Cmd::Add(40), deadline).await {
        Err(TrySendError::MailboxFull {
            capacity,
            message: Cmd::Add(40),
            ..
        }) => assert_eq!(capacity, 1),
        other => panic!("expected MailboxFull with the message back, got {other:?}"),
    }
    assert!(tokio::time::Instant::now() >= deadline);
    assert_eq!(actor.mailbox_len(), 1);

    // Room frees up before the deadline: taken.
    let waiting = {
        let actor = actor.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            actor.tell_until(Cmd::Add(2), deadline).await
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    gate.notify_one();
    waiting.await.unwrap().unwrap();
    assert_eq!(get(&actor).await, 3);

    // Stopped: handed back as such.
    actor.stop();
    actor.wait_for_stop().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    assert!(matches!(
        actor.tell_until(Cmd::Add(5), deadline).await,
        Err(TrySendError::ActorStopped {
            message: Cmd::Add(5),
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn an_ask_that_times_out_waiting_for_mailbox_room_hands_the_request_back() {
    let system = ActorSystem::new();
    let (factory, _) = probe(ErrorAction::Resume);
    let actor = system.spawn(factory).mailbox_capacity(1).await.unwrap();
    let gate = occupy(&actor).await;
    actor.tell(Cmd::Add(1)).await.unwrap();
    let err = actor
        .ask(Cmd::Add(2), Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AskError::Timeout {
                message: Some(Cmd::Add(2)),
                ..
            }
        ),
        "never enqueued, so handed back: {err:?}"
    );
    gate.notify_one();
    assert_eq!(
        get(&actor).await,
        1,
        "the handed-back request was never handled"
    );
}

#[tokio::test]
async fn unbounded_mailbox_reports_its_length() {
    let system = ActorSystem::new();
    let (factory, _) = probe(ErrorAction::Resume);
    let actor = system
        .spawn(factory)
        .mailbox(MailboxConfig::Unbounded)
        .await
        .unwrap();
    let gate = Arc::new(Notify::new());
    actor.tell(Cmd::Block(Arc::clone(&gate))).await.unwrap();
    timeout(WAIT, async {
        while actor.mailbox_len() != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    for n in 0..10_000 {
        actor.try_tell(Cmd::Add(n)).unwrap();
    }
    assert_eq!(actor.mailbox_len(), 10_000);
    assert_eq!(actor.mailbox_capacity(), None);
    gate.notify_one();
    assert_eq!(get(&actor).await, (0..10_000).sum::<u64>());
    assert_eq!(actor.mailbox_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn ask_times_out_and_the_late_reply_is_counted() {
    let system = ActorSystem::new();
    let (factory, _) = probe(ErrorAction::Resume);
    let actor = system.spawn(factory).await.unwrap();
    let err = actor
        .ask(
            Cmd::Slow(Duration::from_secs(10), 7),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, AskError::Timeout { timeout, .. } if timeout == Duration::from_secs(1)));
    assert_eq!(system.stats().late_replies, 0);
    // The next ask is answered after the slow one, whose reply came too late.
    assert_eq!(
        actor.ask(Cmd::Get, Duration::from_secs(60)).await.unwrap(),
        0
    );
    assert_eq!(system.stats().late_replies, 1);
}

#[tokio::test]
async fn stopped_actor_fails_sends_at_once() {
    let system = ActorSystem::new();
    let (factory, counters) = probe(ErrorAction::Resume);
    let actor = system.spawn(factory).mailbox_capacity(1).await.unwrap();
    actor.stop();
    timeout(WAIT, actor.wait_for_stop()).await.unwrap();
    assert!(!actor.is_alive());
    assert_eq!(counters.stops.load(Ordering::SeqCst), 1);
    let err = timeout(WAIT, actor.tell(Cmd::Add(1)))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err.message, Cmd::Add(1)));
    assert!(matches!(
        actor.try_tell(Cmd::Get),
        Err(TrySendError::ActorStopped { .. })
    ));
    let err = timeout(WAIT, actor.ask(Cmd::Get, WAIT))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            AskError::ActorStopped {
                message: Some(Cmd::Get),
                ..
            }
        ),
        "the request is handed back: {err:?}"
    );
}

#[tokio::test]
async fn lookup_by_name_and_names_are_unique() {
    let system = ActorSystem::new();
    let (factory, _) = probe(ErrorAction::Resume);
    let actor = system.spawn(factory).name("counter").await.unwrap();
    actor.tell(Cmd::Add(5)).await.unwrap();
    let found = system.lookup::<Probe>("counter").expect("registered");
    assert_eq!(found.id(), actor.id());
    assert_eq!(get(&found).await, 5);
    assert!(system.lookup::<Probe>("nobody").is_none());

    let (factory, _) = probe(ErrorAction::Resume);
    let err = system.spawn(factory).name("counter").await.unwrap_err();
    assert_eq!(
        err,
        SpawnError::NameTaken {
            name: "counter".into()
        }
    );

    actor.stop();
    timeout(WAIT, actor.wait_for_stop()).await.unwrap();
    timeout(WAIT, async {
        while system.lookup::<Probe>("counter").is_some() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("name freed after stop");
}

#[tokio::test]
async fn resume_keeps_state_and_answers_the_asker_with_the_error() {
    let system = ActorSystem::new();
    let (factory, counters) = probe(ErrorAction::Resume);
    let actor = system.spawn(factory).await.unwrap();
    actor.tell(Cmd::Add(3)).await.unwrap();
    let err = actor.ask(Cmd::Fail("bad input"), WAIT).await.unwrap_err();
    assert!(
        matches!(err, AskError::HandlerFailed { error: Boom(ref why), .. } if why == "bad input"),
        "the handler's error comes back typed: {err:?}"
    );
    assert_eq!(get(&actor).await, 3);
    assert_eq!(counters.starts.load(Ordering::SeqCst), 1);
    assert_eq!(system.stats().dead_letters.total(), 0);
}

#[tokio::test]
async fn restart_gives_fresh_state_keeps_the_queue_and_dead_letters_the_crashing_message() {
    let system = ActorSystem::new();
    let mut dead = system.dead_letters();
    let (factory, counters) = probe(ErrorAction::Restart);
    let actor = system.spawn(factory).name("restarter").await.unwrap();
    let gate = Arc::new(Notify::new());
    actor.tell(Cmd::Add(10)).await.unwrap();
    actor.tell(Cmd::Block(Arc::clone(&gate))).await.unwrap();
    actor.tell(Cmd::Fail("crash")).await.unwrap();
    actor.tell(Cmd::Add(1)).await.unwrap();
    actor.tell(Cmd::Add(2)).await.unwrap();
    gate.notify_one();
    // The two messages queued behind the crash reach the new incarnation.
    assert_eq!(get(&actor).await, 3);
    assert_eq!(actor.stats().restarts, 1);
    assert_eq!(counters.starts.load(Ordering::SeqCst), 2);
    assert_eq!(counters.stops.load(Ordering::SeqCst), 1);
    let letter = timeout(WAIT, dead.recv()).await.unwrap().unwrap();
    assert_eq!(letter.actor, actor.id());
    assert_eq!(letter.actor_name.as_deref(), Some("restarter"));
    assert_eq!(
        letter.reason,
        DeadLetterReason::HandlerFailed("boom: crash".into())
    );
    assert!(letter.message_type.ends_with("Cmd"));
}

#[tokio::test]
async fn a_panic_restarts_the_actor_without_losing_it() {
    let system = ActorSystem::new();
    let mut dead = system.dead_letters();
    let (factory, counters) = probe(ErrorAction::Resume);
    let actor = system.spawn(factory).await.unwrap();
    actor.tell(Cmd::Add(4)).await.unwrap();
    let err = actor.ask(Cmd::Panic, WAIT).await.unwrap_err();
    assert!(
        matches!(err, AskError::HandlerPanicked { ref reason, .. } if reason.contains("probe panicked"))
    );
    assert_eq!(get(&actor).await, 0, "state is fresh after a panic");
    assert_eq!(counters.starts.load(Ordering::SeqCst), 2);
    let letter = timeout(WAIT, dead.recv()).await.unwrap().unwrap();
    assert!(
        matches!(letter.reason, DeadLetterReason::HandlerFailed(ref r) if r.contains("probe panicked"))
    );
}

#[tokio::test]
async fn stop_action_stops_and_dead_letters_what_was_queued() {
    let system = ActorSystem::new();
    let mut dead = system.dead_letters();
    let (factory, counters) = probe(ErrorAction::Stop);
    let actor = system.spawn(factory).await.unwrap();
    let gate = Arc::new(Notify::new());
    actor.tell(Cmd::Block(Arc::clone(&gate))).await.unwrap();
    actor.tell(Cmd::Fail("fatal")).await.unwrap();
    actor.tell(Cmd::Add(7)).await.unwrap();
    actor.tell(Cmd::Add(8)).await.unwrap();
    gate.notify_one();
    timeout(WAIT, actor.wait_for_stop()).await.unwrap();
    assert_eq!(counters.stops.load(Ordering::SeqCst), 1);
    let first = timeout(WAIT, dead.recv()).await.unwrap().unwrap();
    assert!(matches!(first.reason, DeadLetterReason::HandlerFailed(_)));
    let mut left = Vec::new();
    for _ in 0..2 {
        let letter = timeout(WAIT, dead.recv()).await.unwrap().unwrap();
        assert_eq!(letter.reason, DeadLetterReason::ActorStopped);
        match letter.take_message::<Cmd>() {
            Some(Cmd::Add(n)) => left.push(n),
            _ => panic!("the queued message itself is in the dead letter"),
        }
    }
    assert_eq!(left, vec![7, 8]);
    let counts = system.stats().dead_letters;
    assert_eq!((counts.handler_failed, counts.actor_stopped), (1, 2));
}

#[tokio::test]
async fn escalate_without_a_supervisor_stops_the_actor() {
    let system = ActorSystem::new();
    let (factory, _) = probe(ErrorAction::Escalate);
    let actor = system.spawn(factory).await.unwrap();
    actor.tell(Cmd::Fail("escalate me")).await.unwrap();
    timeout(WAIT, actor.wait_for_stop()).await.unwrap();
    assert_eq!(system.stats().dead_letters.handler_failed, 1);
}

#[tokio::test]
async fn an_actor_can_stop_itself() {
    let system = ActorSystem::new();
    let (factory, counters) = probe(ErrorAction::Resume);
    let actor = system.spawn(factory).await.unwrap();
    actor.tell(Cmd::StopSelf).await.unwrap();
    timeout(WAIT, actor.wait_for_stop()).await.unwrap();
    assert_eq!(counters.stops.load(Ordering::SeqCst), 1);
}

struct FailsToStart;

impl Actor for FailsToStart {
    type Message = ();
    type Reply = ();
    type Error = Boom;

    async fn pre_start(&mut self, _: &mut ActorContext<Self>) -> Result<(), Boom> {
        Err(Boom("no config".into()))
    }

    async fn handle_message(&mut self, _: (), _: &mut ActorContext<Self>) -> Result<(), Boom> {
        Ok(())
    }
}

#[tokio::test]
async fn failing_pre_start_fails_the_spawn_and_frees_the_name() {
    let system = ActorSystem::new();
    let err = system
        .spawn(|| FailsToStart)
        .name("fragile")
        .await
        .unwrap_err();
    assert!(
        matches!(err, SpawnError::PreStartFailed { ref reason, .. } if reason == "boom: no config")
    );
    assert!(system.lookup::<FailsToStart>("fragile").is_none());
}

/// Waits in `pre_start` until its gate opens.
struct SlowStarter(Arc<Notify>);

impl Actor for SlowStarter {
    type Message = u64;
    type Reply = ();
    type Error = Boom;

    async fn pre_start(&mut self, _: &mut ActorContext<Self>) -> Result<(), Boom> {
        self.0.notified().await;
        Ok(())
    }

    async fn handle_message(&mut self, _: u64, _: &mut ActorContext<Self>) -> Result<(), Boom> {
        Ok(())
    }
}

#[tokio::test]
async fn a_spawn_dropped_during_pre_start_frees_the_name_and_dead_letters_what_was_queued() {
    let system = ActorSystem::new();
    let mut dead = system.dead_letters();
    let gate = Arc::new(Notify::new());
    let mut spawn = Box::pin(
        system
            .spawn(move || SlowStarter(Arc::clone(&gate)))
            .name("slow")
            .into_future(),
    );
    assert!(
        futures::poll!(spawn.as_mut()).is_pending(),
        "waits in pre_start"
    );
    // The name is taken from the start, so others can already queue messages.
    let early = system.lookup::<SlowStarter>("slow").expect("named");
    early.tell(7).await.unwrap();

    drop(spawn);

    assert!(system.lookup::<SlowStarter>("slow").is_none());
    assert!(!early.is_alive());
    assert!(
        early.tell(8).await.is_err(),
        "a cancelled actor refuses messages"
    );
    let letter = timeout(WAIT, dead.recv()).await.unwrap().unwrap();
    assert_eq!(letter.reason, DeadLetterReason::ActorStopped);
    assert_eq!(letter.take_message::<u64>(), Some(7));
    assert_eq!(system.stats().live, 0);
}

/// Forwards every number it gets to a test channel.
struct Reporter(mpsc::UnboundedSender<u64>);

impl Actor for Reporter {
    type Message = u64;
    type Reply = ();
    type Error = std::convert::Infallible;

    async fn handle_message(
        &mut self,
        n: u64,
        _: &mut ActorContext<Self>,
    ) -> Result<(), Self::Error> {
        let _ = self.0.send(n);
        Ok(())
    }
}

#[tokio::test]
async fn shutdown_stops_idle_actors_and_aborts_stuck_ones() {
    let system = ActorSystem::new();
    let (factory, idle_counters) = probe(ErrorAction::Resume);
    let idle = system.spawn(factory).name("idle").await.unwrap();
    let (factory, _) = probe(ErrorAction::Resume);
    let stuck = system.spawn(factory).name("stuck").await.unwrap();
    let never = Arc::new(Notify::new());
    stuck.tell(Cmd::Block(never)).await.unwrap();
    stuck.tell(Cmd::Add(1)).await.unwrap();
    timeout(WAIT, async {
        while stuck.mailbox_len() != 1 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();

    let report = system.shutdown(Duration::from_millis(200)).await;
    // Both were stopped, the stuck one by abort.
    assert_eq!(report.stopped.len(), 2, "{report:?}");
    assert!(report.stopped.iter().any(|s| s.starts_with("idle")));
    assert_eq!(report.aborted.len(), 1);
    assert!(report.aborted[0].starts_with("stuck"));
    assert_eq!(idle_counters.stops.load(Ordering::SeqCst), 1);
    timeout(WAIT, stuck.wait_for_stop()).await.unwrap();
    assert!(!idle.is_alive());
    // The message queued behind the stuck one was dead-lettered, not lost.
    assert_eq!(system.stats().dead_letters.actor_stopped, 1);
    assert_eq!(system.stats().live, 0);
    let (tx, _rx) = mpsc::unbounded_channel();
    let err = system
        .spawn(move || Reporter(tx.clone()))
        .await
        .unwrap_err();
    assert_eq!(err, SpawnError::ShuttingDown);
}

#[tokio::test]
async fn many_senders_each_keep_their_order() {
    let system = ActorSystem::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let actor = system
        .spawn(move || Reporter(tx.clone()))
        .mailbox_capacity(16)
        .await
        .unwrap();
    let mut senders = Vec::new();
    for sender in 0..4u64 {
        let actor = actor.clone();
        senders.push(tokio::spawn(async move {
            for seq in 0..500u64 {
                actor.tell(sender * 1_000_000 + seq).await.unwrap();
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    let mut last = [None::<u64>; 4];
    for _ in 0..2000 {
        let n = timeout(WAIT, rx.recv()).await.unwrap().unwrap();
        let (sender, seq) = ((n / 1_000_000) as usize, n % 1_000_000);
        if let Some(prev) = last[sender] {
            assert!(seq > prev, "sender {sender} out of order");
        }
        last[sender] = Some(seq);
    }
}

#[test]
fn public_handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ActorSystem>();
    assert_send_sync::<ActorRef<Probe>>();
    assert_send_sync::<airssys_rt::DeadLetter>();
    let _ = oneshot::channel::<()>();
}
