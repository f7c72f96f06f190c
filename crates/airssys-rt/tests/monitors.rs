//! Monitors, with Erlang's semantics: one down per monitor, with the
//! target's id and typed exit reason; noproc at once for an actor already
//! gone; a restart is a down, and the monitor ends with it; demonitor wins
//! over a down not handled yet; monitors end with the monitoring side.

mod probe;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::supervisor::{
    BackoffPolicy, ChildSpec, ExitReason, ShutdownPolicy, SupervisionEvent, SupervisorNode,
};
use airssys_rt::{ActorSystem, Down, ErrorAction, LinkError, LinkExit, Monitor, MonitorRef};
use probe::{
    ask, boom, monitor, next, next_signal, no_signal, probe, Cmd, Event, Gate, Reply, WAIT,
};
use tokio::sync::mpsc;
use tokio::time::timeout;

#[test]
fn monitor_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Monitor>();
    send_sync::<MonitorRef>();
    send_sync::<Down>();
    send_sync::<LinkExit>();
    send_sync::<LinkError>();
}

#[tokio::test]
async fn a_monitor_of_an_actor_already_gone_fires_noproc_at_once() {
    let system = ActorSystem::new();
    let (tx, mut events) = mpsc::unbounded_channel();
    let target = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    let watcher = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    target.stop();
    target.wait_for_stop().await;

    // From outside: the future is ready at once, the callback ran in the call.
    let down = timeout(Duration::ZERO, target.monitor()).await.unwrap();
    assert_eq!((down.actor, down.reason), (target.id(), ExitReason::NoProc));
    let (called, mut called_rx) = mpsc::unbounded_channel();
    let monitor_ref = target.monitor_with(move |down| called.send(down).unwrap());
    let down = called_rx.try_recv().expect("called during monitor_with");
    assert_eq!(down.monitor, monitor_ref);
    assert_eq!(down.reason, ExitReason::NoProc);

    // From an actor: queued at once, handled by handle_down.
    let monitor_ref = monitor(&watcher, &target).await;
    let Event::Down(at, down) = next_signal(&mut events).await else {
        panic!("expected a down")
    };
    assert_eq!(at, watcher.id());
    assert_eq!(down.monitor, monitor_ref);
    assert_eq!((down.actor, down.reason), (target.id(), ExitReason::NoProc));
    assert_eq!(target.monitor_count(), 0);
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn every_monitor_gets_one_down_with_the_exit_reason() {
    let system = ActorSystem::new();
    let (tx, mut events) = mpsc::unbounded_channel();
    let cases = [
        (Cmd::Stop, ExitReason::Normal, ErrorAction::Stop),
        (
            Cmd::Fail,
            ExitReason::Escalated("boom".into()),
            ErrorAction::Escalate,
        ),
        (Cmd::Fail, ExitReason::Normal, ErrorAction::Stop),
    ];
    for (cmd, expected, action) in cases {
        let target = system.spawn(probe(&tx, action)).await.unwrap();
        let watcher = system.spawn(probe(&tx, action)).await.unwrap();
        let from_actor = monitor(&watcher, &target).await;
        let future = target.monitor();
        let (called, mut called_rx) = mpsc::unbounded_channel();
        target.monitor_with(move |down| called.send(down).unwrap());
        assert_eq!(target.monitor_count(), 3);

        let _ = target.ask(cmd, WAIT).await;
        let down = timeout(WAIT, future).await.unwrap();
        assert_eq!((down.actor, &down.reason), (target.id(), &expected));
        let down = timeout(WAIT, called_rx.recv()).await.unwrap().unwrap();
        assert_eq!(down.reason, expected);
        let Event::Down(_, down) = next_signal(&mut events).await else {
            panic!("expected a down")
        };
        assert_eq!((down.monitor, &down.reason), (from_actor, &expected));
        assert_eq!(target.monitor_count(), 0);

        // Only one: the callback's channel is closed, nothing else queued.
        assert!(called_rx.recv().await.is_none());
        ask(&watcher, Cmd::Ping).await;
        no_signal(&mut events);
    }

    // A stop from outside is a shutdown.
    let target = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    let down = target.monitor();
    target.stop();
    assert_eq!(
        timeout(WAIT, down).await.unwrap().reason,
        ExitReason::Shutdown
    );
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn an_in_place_restart_is_a_down_and_the_monitor_ends_with_it() {
    let system = ActorSystem::new();
    let (tx, _events) = mpsc::unbounded_channel();
    // Unsupervised, `Restart`: a fresh instance in place, same handle.
    let target = system
        .spawn(probe(&tx, ErrorAction::Restart))
        .await
        .unwrap();
    let first = target.monitor();
    let _ = target.ask(Cmd::Fail, WAIT).await;
    assert_eq!(timeout(WAIT, first).await.unwrap().reason, boom());
    assert!(target.is_alive());
    assert_eq!(target.monitor_count(), 0, "the monitor ended with its down");

    // Monitor again to watch the next incarnation.
    let second = target.monitor();
    ask(&target, Cmd::Stop).await;
    assert_eq!(
        timeout(WAIT, second).await.unwrap().reason,
        ExitReason::Normal
    );
    system.shutdown(WAIT).await;
}

#[tokio::test(start_paused = true)]
async fn a_supervised_restart_is_the_same_down_as_the_supervisors_child_failed() {
    let system = ActorSystem::new();
    let (tx, _events) = mpsc::unbounded_channel();
    let root = system.start_supervisor(
        SupervisorNode::builder("root").backoff(
            BackoffPolicy::exponential(Duration::from_millis(100), Duration::from_millis(100))
                .jitter(0.0),
        ),
    );
    let mut supervision = root.events();
    let target = system
        .spawn(probe(&tx, ErrorAction::Restart))
        .supervisor(&root, ChildSpec::new("target"))
        .await
        .unwrap();
    let first = target.monitor();
    let _ = target.ask(Cmd::Fail, WAIT).await;
    let down = timeout(WAIT, first).await.unwrap();
    // The down says what the supervisor's event says.
    let failed = loop {
        match timeout(WAIT, supervision.recv()).await.unwrap().unwrap() {
            SupervisionEvent::ChildFailed { reason, .. } => break reason,
            _ => continue,
        }
    };
    assert_eq!(down.reason, failed);
    assert_eq!(down.reason, boom());

    // Made between incarnations (during the backoff), a monitor watches
    // the next one.
    let second = target.monitor();
    loop {
        if let SupervisionEvent::ChildRestarted { .. } =
            timeout(WAIT, supervision.recv()).await.unwrap().unwrap()
        {
            break;
        }
    }
    ask(&target, Cmd::Ping).await;
    let _ = target.ask(Cmd::Fail, WAIT).await;
    assert_eq!(timeout(WAIT, second).await.unwrap().reason, boom());
    system.shutdown(WAIT).await;
}

#[tokio::test(start_paused = true)]
async fn a_monitor_between_incarnations_gets_noproc_when_the_supervisor_lets_go() {
    let system = ActorSystem::new();
    let (tx, _events) = mpsc::unbounded_channel();
    let root = system.start_supervisor(SupervisorNode::builder("root").backoff(
        BackoffPolicy::exponential(Duration::from_secs(1), Duration::from_secs(1)).jitter(0.0),
    ));
    let mut supervision = root.events();
    let target = system
        .spawn(probe(&tx, ErrorAction::Restart))
        .supervisor(&root, ChildSpec::new("target"))
        .await
        .unwrap();
    let _ = target.ask(Cmd::Fail, WAIT).await;
    loop {
        if let SupervisionEvent::ChildFailed { .. } =
            timeout(WAIT, supervision.recv()).await.unwrap().unwrap()
        {
            break;
        }
    }
    let waiting = target.monitor();
    root.terminate_child("target").await.unwrap();
    let down = timeout(WAIT, waiting).await.unwrap();
    assert_eq!(down.reason, ExitReason::NoProc);
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn demonitor_after_the_down_is_harmless() {
    let system = ActorSystem::new();
    let (tx, mut events) = mpsc::unbounded_channel();
    let target = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    let watcher = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    let from_actor = monitor(&watcher, &target).await;
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let from_outside = target.monitor_with(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    target.stop();
    target.wait_for_stop().await;
    assert!(matches!(next_signal(&mut events).await, Event::Down(..)));

    assert!(matches!(
        ask(&watcher, Cmd::Demonitor(from_actor)).await,
        Reply::Bool(false)
    ));
    assert!(!target.demonitor(from_outside));
    assert!(!target.demonitor(from_outside));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // A monitor made by an actor is not removed from outside, nor the reverse.
    assert!(!target.demonitor(from_actor));
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn after_demonitor_returns_a_down_already_queued_is_never_handled() {
    let system = ActorSystem::new();
    let (tx, mut events) = mpsc::unbounded_channel();
    let target = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    let watcher = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    let monitor_ref = monitor(&watcher, &target).await;

    // The watcher is busy; the target ends, its down queues behind.
    let gate = Gate::new();
    let answer = {
        let watcher = watcher.clone();
        let cmd = Cmd::WaitThenDemonitor(Arc::clone(&gate), monitor_ref);
        tokio::spawn(async move { watcher.ask(cmd, WAIT).await })
    };
    gate.entered().await;
    target.stop();
    target.wait_for_stop().await;
    assert_eq!(watcher.mailbox_len(), 1, "the down waits in the mailbox");
    gate.open();
    assert!(matches!(answer.await.unwrap(), Ok(Reply::Bool(true))));

    // The queued down was dropped: a ping after it comes back with no down.
    ask(&watcher, Cmd::Ping).await;
    no_signal(&mut events);
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_demonitored_callback_never_runs() {
    let system = ActorSystem::new();
    let (tx, _events) = mpsc::unbounded_channel();
    let target = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let monitor_ref = target.monitor_with(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    });
    assert!(target.demonitor(monitor_ref));
    assert_eq!(target.monitor_count(), 0);
    target.stop();
    target.wait_for_stop().await;
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // A dropped Monitor future is removed at once, too.
    let target = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    drop(target.monitor());
    assert_eq!(target.monitor_count(), 0);
    let monitor = target.monitor();
    assert!(monitor.demonitor());
    assert_eq!(target.monitor_count(), 0);
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_down_comes_after_the_messages_its_target_sent_before_ending() {
    let system = ActorSystem::new();
    let (tx, mut events) = mpsc::unbounded_channel();
    let target = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    // A mailbox of one, kept full: the down is not refused for want of room.
    let watcher = system
        .spawn(probe(&tx, ErrorAction::Stop))
        .mailbox_capacity(1)
        .await
        .unwrap();
    monitor(&watcher, &target).await;
    let gate = Gate::new();
    watcher.tell(Cmd::Wait(Arc::clone(&gate))).await.unwrap();
    gate.entered().await;
    ask(&target, Cmd::HelloThenStop(watcher.clone())).await;
    target.wait_for_stop().await;
    assert_eq!(
        watcher.mailbox_len(),
        2,
        "the hello and, past capacity, the down"
    );
    gate.open();
    assert_eq!(
        next_signal(&mut events).await,
        Event::Hello(watcher.id(), target.id())
    );
    let Event::Down(_, down) = next_signal(&mut events).await else {
        panic!("expected the down after the hello")
    };
    assert_eq!(down.reason, ExitReason::Normal);
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn monitors_end_with_the_monitoring_incarnation() {
    let system = ActorSystem::new();
    let (tx, mut events) = mpsc::unbounded_channel();
    let target = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    // A watcher that restarts in place: its monitors belong to the
    // incarnation that made them.
    let restarting = system
        .spawn(probe(&tx, ErrorAction::Restart))
        .await
        .unwrap();
    monitor(&restarting, &target).await;
    // A watcher that stops, itself monitored from outside.
    let stopping = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    monitor(&stopping, &target).await;
    let of_stopping = stopping.monitor();
    assert_eq!(target.monitor_count(), 2);

    let _ = restarting.ask(Cmd::Fail, WAIT).await;
    ask(&stopping, Cmd::Stop).await;
    assert_eq!(
        timeout(WAIT, of_stopping).await.unwrap().reason,
        ExitReason::Normal
    );
    ask(&restarting, Cmd::Ping).await;
    assert_eq!(
        target.monitor_count(),
        0,
        "both watchers' monitors were removed"
    );

    // The target's end reaches neither.
    target.stop();
    target.wait_for_stop().await;
    ask(&restarting, Cmd::Ping).await;
    no_signal(&mut events);
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_failing_down_hook_fails_the_actor_like_a_message() {
    let system = ActorSystem::new();
    let (tx, mut events) = mpsc::unbounded_channel();
    let target = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    let events_tx = tx.clone();
    let watcher = system
        .spawn(move || probe::Probe {
            events: events_tx.clone(),
            on_error: ErrorAction::Stop,
            fail_on_down: true,
        })
        .await
        .unwrap();
    monitor(&watcher, &target).await;
    let of_watcher = watcher.monitor();
    target.stop();
    assert!(matches!(next_signal(&mut events).await, Event::Down(..)));
    // `on_error` said Stop: the watcher stops (normally), losing no message.
    assert_eq!(
        timeout(WAIT, of_watcher).await.unwrap().reason,
        ExitReason::Normal
    );
    assert_eq!(system.stats().dead_letters.total(), 0);
    let _ = next(&mut events).await;
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_killed_supervised_incarnation_is_a_shutdown_down_not_noproc() {
    let system = ActorSystem::new();
    let (tx, _events) = mpsc::unbounded_channel();
    let root = system.start_supervisor(SupervisorNode::builder("root"));
    let spec = ChildSpec::new("target").shutdown(ShutdownPolicy::Immediate);
    let target = system
        .spawn(probe(&tx, ErrorAction::Stop))
        .supervisor(&root, spec)
        .await
        .unwrap();
    let down = target.monitor();
    // The supervisor kills the running incarnation and lets go of the slot
    // at once: the down names the kill, not the closed slot.
    root.terminate_child("target").await.unwrap();
    assert_eq!(
        timeout(WAIT, down).await.unwrap().reason,
        ExitReason::Shutdown
    );
    assert_eq!(
        timeout(WAIT, target.monitor()).await.unwrap().reason,
        ExitReason::NoProc
    );
    system.shutdown(WAIT).await;
}
