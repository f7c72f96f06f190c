//! Links, with Erlang's semantics: an abnormal end stops the linked actor
//! with a linked reason, along a chain; a normal end does not propagate;
//! an actor that traps exits gets every end as a message; unlink wins over
//! an exit not handled yet; a link to an actor already gone fails.

mod probe;

use std::sync::Arc;

use airssys_rt::supervisor::{ChildSpec, ExitReason, SupervisionEvent, SupervisorNode};
use airssys_rt::{ActorSystem, ErrorAction, LinkError};
use probe::{ask, boom, link, next_signal, no_signal, probe, Cmd, Event, Gate, Reply, WAIT};
use tokio::sync::mpsc;
use tokio::time::timeout;

#[tokio::test]
async fn an_abnormal_exit_stops_a_linked_actor_with_a_linked_reason() {
    let system = ActorSystem::new();
    let (tx, _events) = mpsc::unbounded_channel();
    let failing = system
        .spawn(probe(&tx, ErrorAction::Escalate))
        .await
        .unwrap();
    let linked = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    link(&linked, &failing).await;
    let down = linked.monitor();
    let _ = failing.ask(Cmd::Fail, WAIT).await;
    let down = timeout(WAIT, down).await.unwrap();
    assert_eq!(
        down.reason,
        ExitReason::Linked {
            peer: failing.id(),
            reason: Box::new(ExitReason::Escalated("boom".into())),
        }
    );
    assert!(down.reason.is_abnormal());
    assert!(!linked.is_alive());
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_linked_exit_travels_along_a_chain_of_links() {
    let system = ActorSystem::new();
    let (tx, _events) = mpsc::unbounded_channel();
    // a - b - c; a fails and restarts in place (a failed incarnation).
    let a = system
        .spawn(probe(&tx, ErrorAction::Restart))
        .await
        .unwrap();
    let b = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    let c = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    link(&b, &a).await;
    link(&c, &b).await;
    let c_down = c.monitor();
    let _ = a.ask(Cmd::Fail, WAIT).await;
    let reason = timeout(WAIT, c_down).await.unwrap().reason;
    let from_a = ExitReason::Linked {
        peer: a.id(),
        reason: Box::new(boom()),
    };
    assert_eq!(
        reason,
        ExitReason::Linked {
            peer: b.id(),
            reason: Box::new(from_a),
        }
    );
    // The link ended with a's incarnation; a's fresh instance runs on.
    assert!(a.is_alive());
    ask(&a, Cmd::Ping).await;
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_normal_exit_or_a_shutdown_does_not_propagate() {
    let system = ActorSystem::new();
    let (tx, _events) = mpsc::unbounded_channel();
    let stays = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    let normal = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    let shut = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    link(&stays, &normal).await;
    link(&stays, &shut).await;
    ask(&normal, Cmd::Stop).await;
    shut.stop();
    normal.wait_for_stop().await;
    shut.wait_for_stop().await;
    ask(&stays, Cmd::Ping).await;
    assert!(stays.is_alive());
    // The links are gone with them: nothing left to unlink.
    assert!(matches!(
        ask(&stays, Cmd::Unlink(normal.clone())).await,
        Reply::Bool(false)
    ));
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn trapping_exits_turns_every_linked_end_into_a_message() {
    let system = ActorSystem::new();
    let (tx, mut events) = mpsc::unbounded_channel();
    let trapper = system
        .spawn(probe(&tx, ErrorAction::Stop))
        .trap_exits(true)
        .await
        .unwrap();
    let failing = system
        .spawn(probe(&tx, ErrorAction::Escalate))
        .await
        .unwrap();
    let normal = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    link(&trapper, &failing).await;
    link(&normal, &trapper).await;

    let _ = failing.ask(Cmd::Fail, WAIT).await;
    let Event::Exit(at, exit) = next_signal(&mut events).await else {
        panic!("expected a trapped exit")
    };
    assert_eq!((at, exit.peer), (trapper.id(), failing.id()));
    assert_eq!(exit.reason, ExitReason::Escalated("boom".into()));

    ask(&normal, Cmd::Stop).await;
    let Event::Exit(_, exit) = next_signal(&mut events).await else {
        panic!("expected a trapped exit")
    };
    assert_eq!((exit.peer, exit.reason), (normal.id(), ExitReason::Normal));
    ask(&trapper, Cmd::Ping).await;
    assert!(trapper.is_alive());

    // Trapping turned off at run time: the next abnormal end stops it.
    ask(&trapper, Cmd::TrapExits(false)).await;
    let other = system
        .spawn(probe(&tx, ErrorAction::Escalate))
        .await
        .unwrap();
    link(&trapper, &other).await;
    let down = trapper.monitor();
    let _ = other.ask(Cmd::Fail, WAIT).await;
    assert!(matches!(
        timeout(WAIT, down).await.unwrap().reason,
        ExitReason::Linked { .. }
    ));
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn after_unlink_returns_an_exit_already_queued_is_never_handled() {
    let system = ActorSystem::new();
    let (tx, mut events) = mpsc::unbounded_channel();
    let trapper = system
        .spawn(probe(&tx, ErrorAction::Stop))
        .trap_exits(true)
        .await
        .unwrap();
    let failing = system
        .spawn(probe(&tx, ErrorAction::Escalate))
        .await
        .unwrap();
    link(&trapper, &failing).await;
    let gate = Gate::new();
    let answer = {
        let trapper = trapper.clone();
        let cmd = Cmd::WaitThenUnlink(Arc::clone(&gate), failing.clone());
        tokio::spawn(async move { trapper.ask(cmd, WAIT).await })
    };
    gate.entered().await;
    let _ = failing.ask(Cmd::Fail, WAIT).await;
    failing.wait_for_stop().await;
    assert_eq!(trapper.mailbox_len(), 1, "the exit waits in the mailbox");
    gate.open();
    assert!(matches!(answer.await.unwrap(), Ok(Reply::Bool(true))));
    ask(&trapper, Cmd::Ping).await;
    no_signal(&mut events);
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_link_to_an_actor_already_gone_fails_with_noproc() {
    let system = ActorSystem::new();
    let (tx, _events) = mpsc::unbounded_channel();
    let me = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    let gone = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    gone.stop();
    gone.wait_for_stop().await;
    let Reply::Link(result) = ask(&me, Cmd::Link(gone.clone())).await else {
        panic!("expected a link reply")
    };
    assert_eq!(result, Err(LinkError::NoProc { peer: gone.id() }));
    // Linking with oneself does nothing.
    let Reply::Link(result) = ask(&me, Cmd::Link(me.clone())).await else {
        panic!("expected a link reply")
    };
    assert_eq!(result, Ok(()));
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_supervised_actor_stopped_by_a_link_is_restarted_as_failed() {
    let system = ActorSystem::new();
    let (tx, _events) = mpsc::unbounded_channel();
    let root = system.start_supervisor(SupervisorNode::builder("root"));
    let mut supervision = root.events();
    let worker = system
        .spawn(probe(&tx, ErrorAction::Stop))
        .supervisor(&root, ChildSpec::new("worker"))
        .await
        .unwrap();
    let failing = system
        .spawn(probe(&tx, ErrorAction::Escalate))
        .await
        .unwrap();
    link(&worker, &failing).await;
    let down = worker.monitor();
    let _ = failing.ask(Cmd::Fail, WAIT).await;
    let linked = ExitReason::Linked {
        peer: failing.id(),
        reason: Box::new(ExitReason::Escalated("boom".into())),
    };
    assert_eq!(timeout(WAIT, down).await.unwrap().reason, linked);
    loop {
        match timeout(WAIT, supervision.recv()).await.unwrap().unwrap() {
            SupervisionEvent::ChildFailed { reason, .. } => {
                assert_eq!(reason, linked);
                break;
            }
            _ => continue,
        }
    }
    loop {
        if let SupervisionEvent::ChildRestarted { .. } =
            timeout(WAIT, supervision.recv()).await.unwrap().unwrap()
        {
            break;
        }
    }
    ask(&worker, Cmd::Ping).await;
    system.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_link_made_from_the_handles_behaves_as_one_made_inside() {
    let system = ActorSystem::new();
    let (tx, mut events) = mpsc::unbounded_channel();
    // Made by a layer that runs both (as the component host does): an
    // abnormal end stops the other side.
    let failing = system
        .spawn(probe(&tx, ErrorAction::Escalate))
        .await
        .unwrap();
    let linked = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    failing.link(&linked).unwrap();
    let down = linked.monitor();
    let _ = failing.ask(Cmd::Fail, WAIT).await;
    assert!(matches!(
        timeout(WAIT, down).await.unwrap().reason,
        ExitReason::Linked { .. }
    ));

    // A trapping side gets the exit as a message, naming the peer by the
    // name it was spawned with.
    let trapper = system
        .spawn(probe(&tx, ErrorAction::Stop))
        .trap_exits(true)
        .await
        .unwrap();
    let named = system
        .spawn(probe(&tx, ErrorAction::Escalate))
        .name("worker-7")
        .await
        .unwrap();
    named.link(&trapper).unwrap();
    let _ = named.ask(Cmd::Fail, WAIT).await;
    let Event::Exit(at, exit) = next_signal(&mut events).await else {
        panic!("expected a trapped exit")
    };
    assert_eq!((at, exit.peer), (trapper.id(), named.id()));
    assert_eq!(exit.peer_name.as_deref(), Some("worker-7"));

    // Unlinked from the handle: nothing travels any more.
    let other = system
        .spawn(probe(&tx, ErrorAction::Escalate))
        .await
        .unwrap();
    other.link(&trapper).unwrap();
    assert!(trapper.unlink(&other));
    assert!(!trapper.unlink(&other));
    let _ = other.ask(Cmd::Fail, WAIT).await;
    other.wait_for_stop().await;
    // Anything queued for the trapper is handled before this answer.
    ask(&trapper, Cmd::Ping).await;
    no_signal(&mut events);

    // Either side gone for good: noproc, naming it.
    let gone = system.spawn(probe(&tx, ErrorAction::Stop)).await.unwrap();
    gone.stop();
    gone.wait_for_stop().await;
    assert_eq!(
        gone.link(&trapper),
        Err(LinkError::NoProc { peer: gone.id() })
    );
    assert_eq!(
        trapper.link(&gone),
        Err(LinkError::NoProc { peer: gone.id() })
    );
    system.shutdown(WAIT).await;
}
