//! Strategies, restart policies, the handle and shutdown.

mod common;

use std::time::Duration;

use airssys_rt::supervisor::{
    BackoffPolicy, ChildSpec, ChildState, RestartPolicy, RestartStrategy, ShutdownPolicy,
    SupervisionEvent, SupervisorError, SupervisorExit, SupervisorNode, SupervisorRef,
};
use common::{probe, restarted, strings, wait_for, Log, ProbeHandle};

fn root(strategy: RestartStrategy) -> SupervisorRef {
    SupervisorNode::builder("root")
        .strategy(strategy)
        .intensity(10, Duration::from_secs(60))
        .backoff(BackoffPolicy::none())
        .start()
}

async fn add(sup: &SupervisorRef, log: &Log, name: &str) -> ProbeHandle {
    add_spec(sup, log, ChildSpec::new(name)).await
}

async fn add_spec(sup: &SupervisorRef, log: &Log, spec: ChildSpec) -> ProbeHandle {
    let (child, handle) = probe(spec.name(), log);
    sup.add_child(spec, child).await.unwrap();
    handle
}

#[test]
fn supervisor_ref_is_send_sync_clone() {
    fn assert_send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync_clone::<SupervisorRef>();
}

#[tokio::test(start_paused = true)]
async fn children_start_in_the_order_they_were_added() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForOne);
    for name in ["a", "b", "c"] {
        add(&sup, &log, name).await;
    }
    assert_eq!(log.entries(), strings(&["a:start", "b:start", "c:start"]));
    let names: Vec<String> = sup
        .children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, strings(&["a", "b", "c"]));
}

#[tokio::test(start_paused = true)]
async fn one_for_one_restarts_only_the_failed_child() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForOne);
    let mut events = sup.events();
    add(&sup, &log, "a").await;
    let b = add(&sup, &log, "b").await;
    add(&sup, &log, "c").await;
    log.take();

    b.crash();
    let (attempt, delay) = restarted(&mut events, "root", "b").await;

    assert_eq!((attempt, delay), (1, Duration::ZERO));
    assert_eq!(log.entries(), strings(&["b:start"]));
    let restarts: Vec<u32> = sup
        .children()
        .await
        .unwrap()
        .iter()
        .map(|c| c.restarts)
        .collect();
    assert_eq!(restarts, vec![0, 1, 0]);
}

#[tokio::test(start_paused = true)]
async fn one_for_all_restarts_every_sibling_in_order_after_stopping_them_in_reverse() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForAll);
    let mut events = sup.events();
    add(&sup, &log, "a").await;
    let b = add(&sup, &log, "b").await;
    add(&sup, &log, "c").await;
    add(&sup, &log, "d").await;
    log.take();

    b.crash();
    restarted(&mut events, "root", "d").await;

    assert_eq!(
        log.entries(),
        strings(&["d:stop", "c:stop", "a:stop", "a:start", "b:start", "c:start", "d:start"])
    );
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_restarts_the_failed_and_later_siblings_only() {
    let log = Log::default();
    let sup = root(RestartStrategy::RestForOne);
    let mut events = sup.events();
    add(&sup, &log, "a").await;
    let b = add(&sup, &log, "b").await;
    add(&sup, &log, "c").await;
    add(&sup, &log, "d").await;
    log.take();

    b.crash();
    restarted(&mut events, "root", "d").await;

    assert_eq!(
        log.entries(),
        strings(&["d:stop", "c:stop", "b:start", "c:start", "d:start"])
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanent_child_is_restarted_even_after_a_normal_exit() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForOne);
    let mut events = sup.events();
    let a = add(&sup, &log, "a").await;

    a.exit_normally();
    restarted(&mut events, "root", "a").await;

    assert_eq!(log.entries(), strings(&["a:start", "a:start"]));
}

#[tokio::test(start_paused = true)]
async fn a_transient_child_is_restarted_after_a_crash_but_not_after_a_normal_exit() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForAll);
    let mut events = sup.events();
    let t = add_spec(
        &sup,
        &log,
        ChildSpec::new("t").restart(RestartPolicy::Transient),
    )
    .await;
    add(&sup, &log, "other").await;

    t.crash();
    restarted(&mut events, "root", "t").await;
    restarted(&mut events, "root", "other").await;
    log.take();

    t.exit_normally();
    wait_for(
        &mut events,
        "t exited",
        |e| matches!(e, SupervisionEvent::ChildExited { child, .. } if child == "t"),
    )
    .await;

    let children = sup.children().await.unwrap();
    assert_eq!(
        children[0].state,
        ChildState::Exited(airssys_rt::supervisor::ExitReason::Normal)
    );
    assert_eq!(children[1].state, ChildState::Running);
    assert!(
        log.entries().is_empty(),
        "nothing restarted or stopped: {:?}",
        log.entries()
    );
}

#[tokio::test(start_paused = true)]
async fn a_temporary_child_is_never_restarted_and_is_removed_on_exit() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForOne);
    let mut events = sup.events();
    let t = add_spec(
        &sup,
        &log,
        ChildSpec::new("t").restart(RestartPolicy::Temporary),
    )
    .await;
    add(&sup, &log, "other").await;

    t.crash();
    wait_for(
        &mut events,
        "t removed",
        |e| matches!(e, SupervisionEvent::ChildRemoved { child, .. } if child == "t"),
    )
    .await;

    let names: Vec<String> = sup
        .children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, strings(&["other"]));
    assert_eq!(log.entries(), strings(&["t:start", "other:start"]));
}

#[tokio::test(start_paused = true)]
async fn a_temporary_sibling_stopped_by_one_for_all_is_removed_not_restarted() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForAll);
    let mut events = sup.events();
    let a = add(&sup, &log, "a").await;
    add_spec(
        &sup,
        &log,
        ChildSpec::new("t").restart(RestartPolicy::Temporary),
    )
    .await;
    log.take();

    a.crash();
    restarted(&mut events, "root", "a").await;

    assert_eq!(log.entries(), strings(&["t:stop", "a:start"]));
    assert_eq!(sup.children().await.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_exit_signal_from_a_replaced_incarnation_is_ignored() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForAll);
    let mut events = sup.events();
    let a = add(&sup, &log, "a").await;
    let b = add(&sup, &log, "b").await;
    let stale = a.steal_signal();
    b.crash();
    restarted(&mut events, "root", "a").await;
    restarted(&mut events, "root", "b").await;

    // a runs a newer incarnation; its first incarnation now reports a crash.
    // Exit signals are handled in the order they were fired, so every event
    // the stale one could cause comes before b's next restart.
    stale.exit(airssys_rt::supervisor::ExitReason::Failed("late".into()));
    b.crash();
    let mut seen = Vec::new();
    wait_for(&mut events, "b restarted", |e| {
        seen.push(e.clone());
        matches!(e, SupervisionEvent::ChildRestarted { child, .. } if child == "b")
    })
    .await;

    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, SupervisionEvent::ChildFailed { child, .. } if child == "a")),
        "stale exit was acted on: {seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn adding_a_child_with_a_taken_name_is_rejected() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForOne);
    add(&sup, &log, "a").await;
    let (child, _h) = probe("a", &log);
    let err = sup.add_child(ChildSpec::new("a"), child).await.unwrap_err();
    assert!(
        matches!(err, SupervisorError::DuplicateChild { .. }),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_whose_first_start_fails_is_not_added() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForOne);
    let (child, h) = probe("a", &log);
    h.fail_next_starts(1);
    let err = sup.add_child(ChildSpec::new("a"), child).await.unwrap_err();
    assert!(
        matches!(&err, SupervisorError::StartFailed { child, .. } if child == "a"),
        "{err}"
    );
    assert!(sup.children().await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn terminate_child_stops_and_removes_it() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForOne);
    add(&sup, &log, "a").await;
    add(&sup, &log, "b").await;
    log.take();

    sup.terminate_child("a").await.unwrap();

    assert_eq!(log.entries(), strings(&["a:stop"]));
    assert_eq!(sup.children().await.unwrap().len(), 1);
    let err = sup.terminate_child("a").await.unwrap_err();
    assert!(
        matches!(err, SupervisorError::ChildNotFound { .. }),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_children_in_reverse_start_order() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForOne);
    for name in ["a", "b", "c"] {
        add(&sup, &log, name).await;
    }
    log.take();

    let report = sup.shutdown(Duration::from_secs(5)).await.unwrap();

    assert_eq!(log.entries(), strings(&["c:stop", "b:stop", "a:stop"]));
    assert_eq!(report.stopped, strings(&["c", "b", "a"]));
    assert!(report.aborted.is_empty());
    assert_eq!(sup.wait().await, SupervisorExit::Shutdown);
    assert!(matches!(
        sup.children().await,
        Err(SupervisorError::NotRunning { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_child_that_hangs_in_stop_is_killed_after_its_graceful_timeout_and_reported_aborted() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForOne);
    add(&sup, &log, "a").await;
    let grace = Duration::from_secs(2);
    let b = add_spec(
        &sup,
        &log,
        ChildSpec::new("b").shutdown(ShutdownPolicy::Graceful(grace)),
    )
    .await;
    b.hang_in_stop();
    log.take();

    let began = tokio::time::Instant::now();
    let report = sup.shutdown(Duration::from_secs(30)).await.unwrap();

    assert_eq!(began.elapsed(), grace);
    assert_eq!(report.aborted, strings(&["b"]));
    assert_eq!(report.stopped, strings(&["b", "a"]));
    assert_eq!(log.entries(), strings(&["b:stop", "b:kill", "a:stop"]));
}

#[tokio::test(start_paused = true)]
async fn shutdown_kills_children_still_stopping_at_its_deadline() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForOne);
    add(&sup, &log, "a").await;
    let b = add(&sup, &log, "b").await; // Graceful(5 s) by default
    b.hang_in_stop();
    log.take();

    let began = tokio::time::Instant::now();
    let report = sup.shutdown(Duration::from_secs(1)).await.unwrap();

    assert_eq!(began.elapsed(), Duration::from_secs(1));
    assert_eq!(report.aborted, strings(&["b", "a"]));
    assert_eq!(log.entries(), strings(&["b:stop", "b:kill", "a:kill"]));
}

#[tokio::test(start_paused = true)]
async fn an_immediate_shutdown_policy_kills_without_stopping() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForOne);
    add_spec(
        &sup,
        &log,
        ChildSpec::new("a").shutdown(ShutdownPolicy::Immediate),
    )
    .await;
    log.take();

    let report = sup.shutdown(Duration::from_secs(1)).await.unwrap();

    assert_eq!(log.entries(), strings(&["a:kill"]));
    assert!(report.aborted.is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_shuts_the_supervisor_down() {
    let log = Log::default();
    let sup = root(RestartStrategy::OneForOne);
    add(&sup, &log, "a").await;
    let mut events = sup.events();
    drop(sup);

    wait_for(
        &mut events,
        "a stopped",
        |e| matches!(e, SupervisionEvent::ChildStopped { child, .. } if child == "a"),
    )
    .await;
    assert_eq!(log.entries(), strings(&["a:start", "a:stop"]));
}
