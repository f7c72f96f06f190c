//! Restart intensity, escalation and nested supervisors.

mod common;

use std::time::Duration;

use airssys_rt::supervisor::{
    BackoffPolicy, ChildSpec, ExitReason, FailureCause, RestartPolicy, RestartStrategy,
    SupervisionEvent, SupervisorError, SupervisorExit, SupervisorNode,
};
use common::{probe, restarted, strings, wait_for, Log};

#[tokio::test(start_paused = true)]
async fn exceeding_restart_intensity_stops_all_children_and_fails_the_root() {
    let log = Log::default();
    let sup = SupervisorNode::builder("root")
        .intensity(2, Duration::from_secs(5))
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = sup.events();
    let (a, a_ctl) = probe("a", &log);
    let (b, _b_ctl) = probe("b", &log);
    let (c, c_ctl) = probe("c", &log);
    sup.add_child(ChildSpec::new("a"), a).await.unwrap();
    sup.add_child(ChildSpec::new("b"), b).await.unwrap();
    sup.add_child(ChildSpec::new("c"), c).await.unwrap();

    a_ctl.crash();
    restarted(&mut events, "root", "a").await;
    c_ctl.crash();
    restarted(&mut events, "root", "c").await;
    log.take();
    a_ctl.crash();

    let exceeded = wait_for(&mut events, "intensity exceeded", |e| {
        matches!(e, SupervisionEvent::IntensityExceeded { .. })
    })
    .await;
    assert!(matches!(
        exceeded,
        SupervisionEvent::IntensityExceeded { restarts: 3, .. }
    ));
    let exit = tokio::time::timeout(Duration::from_secs(60), sup.wait())
        .await
        .unwrap();
    match exit {
        SupervisorExit::Failed(FailureCause::IntensityExceeded {
            restarts,
            within,
            max_restarts,
        }) => assert_eq!(
            (restarts, within, max_restarts),
            (3, Duration::from_secs(5), 2)
        ),
        other => panic!("expected failure, got {other:?}"),
    }
    // a had already crashed; the others are stopped in reverse start order.
    assert_eq!(log.entries(), strings(&["c:stop", "b:stop"]));
    let (d, _) = probe("d", &log);
    let err = sup.add_child(ChildSpec::new("d"), d).await.unwrap_err();
    assert!(matches!(err, SupervisorError::Failed { .. }), "{err}");
    // Shutting the failed root down later does not rewrite why it ended.
    sup.shutdown(Duration::from_secs(1)).await.unwrap();
    assert!(matches!(sup.wait().await, SupervisorExit::Failed(_)));
}

#[tokio::test(start_paused = true)]
async fn restarts_spread_wider_than_the_window_do_not_exceed_the_intensity() {
    let log = Log::default();
    let sup = SupervisorNode::builder("root")
        .intensity(1, Duration::from_secs(5))
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = sup.events();
    let (a, a_ctl) = probe("a", &log);
    sup.add_child(ChildSpec::new("a"), a).await.unwrap();

    for _ in 0..3 {
        a_ctl.crash();
        restarted(&mut events, "root", "a").await;
        tokio::time::advance(Duration::from_secs(5) + Duration::from_millis(1)).await;
    }

    assert_eq!(sup.exit_status(), None);
}

#[tokio::test(start_paused = true)]
async fn a_restart_exactly_at_the_window_edge_still_counts_as_in_otp() {
    let log = Log::default();
    let sup = SupervisorNode::builder("root")
        .intensity(1, Duration::from_secs(5))
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = sup.events();
    let (a, a_ctl) = probe("a", &log);
    sup.add_child(ChildSpec::new("a"), a).await.unwrap();

    a_ctl.crash();
    restarted(&mut events, "root", "a").await;
    tokio::time::advance(Duration::from_secs(5)).await;
    a_ctl.crash();

    let exit = tokio::time::timeout(Duration::from_secs(60), sup.wait())
        .await
        .unwrap();
    assert!(
        matches!(
            exit,
            SupervisorExit::Failed(FailureCause::IntensityExceeded { restarts: 2, .. })
        ),
        "{exit:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn intensity_says_how_many_restarts_the_window_holds_now() {
    let log = Log::default();
    let sup = SupervisorNode::builder("root")
        .intensity(3, Duration::from_secs(5))
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = sup.events();
    let (a, a_ctl) = probe("a", &log);
    sup.add_child(ChildSpec::new("a"), a).await.unwrap();
    let fresh = sup.intensity().await.unwrap();
    assert_eq!((fresh.used, fresh.limit.max_restarts), (0, 3));
    assert_eq!(fresh.limit.within, Duration::from_secs(5));
    for _ in 0..2 {
        a_ctl.crash();
        restarted(&mut events, "root", "a").await;
    }
    assert_eq!(sup.intensity().await.unwrap().used, 2);
    // Out of the window, they no longer count.
    tokio::time::advance(Duration::from_secs(5) + Duration::from_millis(1)).await;
    assert_eq!(sup.intensity().await.unwrap().used, 0);
}

#[tokio::test(start_paused = true)]
async fn an_escalated_exit_stops_the_siblings_and_fails_the_supervisor() {
    let log = Log::default();
    let sup = SupervisorNode::builder("root")
        .backoff(BackoffPolicy::none())
        .start();
    let (a, a_ctl) = probe("a", &log);
    let (b, _) = probe("b", &log);
    sup.add_child(ChildSpec::new("a"), a).await.unwrap();
    sup.add_child(ChildSpec::new("b"), b).await.unwrap();
    log.take();

    a_ctl.escalate();
    let exit = tokio::time::timeout(Duration::from_secs(60), sup.wait())
        .await
        .unwrap();

    match exit {
        SupervisorExit::Failed(FailureCause::ChildEscalated(escalation)) => {
            assert_eq!(escalation.child, "a")
        }
        other => panic!("expected failure, got {other:?}"),
    }
    assert_eq!(log.entries(), strings(&["b:stop"]));
}

/// root ─┬─ s (worker)
///       └─ mid (supervisor, intensity 0) ── leaf (supervisor, intensity 0) ── w (worker)
#[tokio::test(start_paused = true)]
async fn escalation_climbs_two_levels_and_the_root_restarts_the_failed_subtree_until_it_gives_up() {
    let log = Log::default();
    let root = SupervisorNode::builder("root")
        .strategy(RestartStrategy::OneForOne)
        .intensity(1, Duration::from_secs(60))
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = root.events();
    let (s, _) = probe("s", &log);
    root.add_child(ChildSpec::new("s"), s).await.unwrap();
    let mid = root
        .add_supervisor(
            ChildSpec::new("mid"),
            SupervisorNode::builder("mid").intensity(0, Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let leaf = mid
        .add_supervisor(
            ChildSpec::new("leaf"),
            SupervisorNode::builder("leaf").intensity(0, Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let (w, w_ctl) = probe("w", &log);
    leaf.add_child(ChildSpec::new("w"), w).await.unwrap();
    log.take();

    // First crash: leaf gives up, mid gives up, root restarts mid (1 of 1).
    w_ctl.crash();
    wait_for(&mut events, "leaf exceeded", |e| {
        matches!(e, SupervisionEvent::IntensityExceeded { supervisor, .. } if supervisor == "leaf")
    })
    .await;
    wait_for(&mut events, "mid failed", |e| {
        matches!(e, SupervisionEvent::SupervisorFailed { supervisor, .. } if supervisor == "mid")
    })
    .await;
    restarted(&mut events, "root", "mid").await;
    assert_eq!(
        log.take(),
        strings(&["w:start"]),
        "w started afresh, s untouched"
    );
    assert_eq!(root.exit_status(), None);

    // Second crash: the root's own intensity is exceeded and it fails.
    w_ctl.crash();
    let exit = tokio::time::timeout(Duration::from_secs(60), root.wait())
        .await
        .unwrap();
    assert!(
        matches!(
            exit,
            SupervisorExit::Failed(FailureCause::IntensityExceeded { .. })
        ),
        "{exit:?}"
    );
    assert_eq!(log.take(), strings(&["s:stop"]));
}

#[tokio::test(start_paused = true)]
async fn a_parent_restarting_a_nested_supervisor_restarts_its_children_in_order() {
    let log = Log::default();
    let root = SupervisorNode::builder("root")
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = root.events();
    let nested = root
        .add_supervisor(ChildSpec::new("nested"), SupervisorNode::builder("nested"))
        .await
        .unwrap();
    let (a, _) = probe("a", &log);
    let (b, b_ctl) = probe("b", &log);
    nested.add_child(ChildSpec::new("a"), a).await.unwrap();
    nested.add_child(ChildSpec::new("b"), b).await.unwrap();
    log.take();

    // b escalates: nested stops a and fails; root restarts nested.
    b_ctl.escalate();
    restarted(&mut events, "root", "nested").await;

    assert_eq!(log.entries(), strings(&["a:stop", "a:start", "b:start"]));
    let states: Vec<_> = nested
        .children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.state)
        .collect();
    assert!(states
        .iter()
        .all(|s| *s == airssys_rt::supervisor::ChildState::Running));
}

#[tokio::test(start_paused = true)]
async fn nested_supervisors_publish_on_the_root_event_stream() {
    let log = Log::default();
    let root = SupervisorNode::builder("root").start();
    let mut events = root.events();
    let nested = root
        .add_supervisor(ChildSpec::new("nested"), SupervisorNode::builder("nested"))
        .await
        .unwrap();
    let (a, _) = probe("a", &log);
    nested.add_child(ChildSpec::new("a"), a).await.unwrap();

    let started = wait_for(
        &mut events,
        "a started in nested",
        |e| matches!(e, SupervisionEvent::ChildStarted { child, .. } if child == "a"),
    )
    .await;
    assert_eq!(started.supervisor(), "nested");
}

#[tokio::test(start_paused = true)]
async fn an_observer_sees_every_event_of_the_tree_in_order_before_the_supervisor_answers() {
    let log = Log::default();
    // A broadcast of one event: its subscriber lags and misses most of
    // what follows; the observer misses nothing.
    let root = SupervisorNode::builder("root").event_capacity(1).start();
    let seen = Log::default();
    let observed = seen.clone();
    root.observe_events(move |event| {
        if let SupervisionEvent::ChildStarted { child, .. } = event {
            observed.push(format!("{}/{child}", event.supervisor()));
        }
    });
    let mut lagging = root.events();
    let nested = root
        .add_supervisor(ChildSpec::new("nested"), SupervisorNode::builder("nested"))
        .await
        .unwrap();
    assert_eq!(seen.take(), strings(&["root/nested"]));
    let mut expected = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let (child, _) = probe(name, &log);
        nested.add_child(ChildSpec::new(name), child).await.unwrap();
        // Seen in place: the supervisor observed the start before answering.
        expected.push(format!("nested/{name}"));
        assert_eq!(seen.entries(), expected);
    }
    assert!(matches!(
        lagging.recv().await,
        Err(tokio::sync::broadcast::error::RecvError::Lagged(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn shutting_down_the_root_stops_nested_children_too() {
    let log = Log::default();
    let root = SupervisorNode::builder("root").start();
    let (a, _) = probe("a", &log);
    root.add_child(ChildSpec::new("a"), a).await.unwrap();
    let nested = root
        .add_supervisor(ChildSpec::new("nested"), SupervisorNode::builder("nested"))
        .await
        .unwrap();
    let (b, _) = probe("b", &log);
    let (c, _) = probe("c", &log);
    nested.add_child(ChildSpec::new("b"), b).await.unwrap();
    nested.add_child(ChildSpec::new("c"), c).await.unwrap();
    log.take();

    let report = root.shutdown(Duration::from_secs(10)).await.unwrap();

    assert_eq!(report.stopped, strings(&["nested", "a"]));
    assert_eq!(log.entries(), strings(&["c:stop", "b:stop", "a:stop"]));
    let exit = tokio::time::timeout(Duration::from_secs(60), nested.wait())
        .await
        .unwrap();
    assert_eq!(exit, SupervisorExit::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn a_nested_supervisor_that_gives_up_on_its_intensity_exits_shutdown_to_its_parent() {
    let log = Log::default();
    let root = SupervisorNode::builder("root")
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = root.events();
    let nested = root
        .add_supervisor(
            ChildSpec::new("nested"),
            SupervisorNode::builder("nested").intensity(0, Duration::from_secs(1)),
        )
        .await
        .unwrap();
    let (a, a_ctl) = probe("a", &log);
    nested.add_child(ChildSpec::new("a"), a).await.unwrap();

    a_ctl.crash();
    let gave_up = wait_for(&mut events, "nested gives up", |e| {
        matches!(e, SupervisionEvent::SupervisorFailed { supervisor, .. } if supervisor == "nested")
    })
    .await;
    assert!(
        matches!(
            gave_up,
            SupervisionEvent::SupervisorFailed {
                cause: FailureCause::IntensityExceeded { restarts: 1, .. },
                ..
            }
        ),
        "{gave_up:?}"
    );
    let exited = wait_for(&mut events, "root sees nested exit", |e| {
        matches!(e, SupervisionEvent::ChildExited { supervisor, child, .. } if supervisor == "root" && child == "nested")
    })
    .await;
    assert!(
        matches!(
            exited,
            SupervisionEvent::ChildExited {
                reason: ExitReason::Shutdown,
                ..
            }
        ),
        "{exited:?}"
    );
    // Permanent: its parent restarts it all the same.
    restarted(&mut events, "root", "nested").await;
}

#[tokio::test(start_paused = true)]
async fn a_transient_nested_supervisor_that_gives_up_is_not_restarted_by_its_parent() {
    let log = Log::default();
    let root = SupervisorNode::builder("root")
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = root.events();
    let nested = root
        .add_supervisor(
            ChildSpec::new("nested").restart(RestartPolicy::Transient),
            SupervisorNode::builder("nested").intensity(0, Duration::from_secs(1)),
        )
        .await
        .unwrap();
    let (a, a_ctl) = probe("a", &log);
    nested.add_child(ChildSpec::new("a"), a).await.unwrap();

    a_ctl.crash();
    wait_for(&mut events, "root sees nested exit", |e| {
        matches!(e, SupervisionEvent::ChildExited { supervisor, child, .. } if supervisor == "root" && child == "nested")
    })
    .await;

    let children = root.children().await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(
        children[0].state,
        airssys_rt::supervisor::ChildState::Exited(ExitReason::Shutdown),
        "not restarted"
    );
    assert_eq!(
        root.intensity().await.unwrap().used,
        0,
        "no restart counted"
    );
}

#[tokio::test(start_paused = true)]
async fn a_nested_supervisor_failed_by_an_escalation_reports_failed_to_its_parent() {
    let log = Log::default();
    let root = SupervisorNode::builder("root")
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = root.events();
    let nested = root
        .add_supervisor(ChildSpec::new("nested"), SupervisorNode::builder("nested"))
        .await
        .unwrap();
    let (a, a_ctl) = probe("a", &log);
    nested.add_child(ChildSpec::new("a"), a).await.unwrap();

    a_ctl.escalate();
    let failed = wait_for(&mut events, "root sees nested fail", |e| {
        matches!(e, SupervisionEvent::ChildFailed { supervisor, child, .. } if supervisor == "root" && child == "nested")
    })
    .await;
    match failed {
        SupervisionEvent::ChildFailed {
            reason: ExitReason::Failed(FailureCause::ChildEscalated(escalation)),
            ..
        } => assert_eq!(escalation.child, "a"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_nested_supervisor_shut_down_through_its_own_handle_tells_its_parent() {
    let root = SupervisorNode::builder("root").start();
    let mut events = root.events();
    let nested = root
        .add_supervisor(
            ChildSpec::new("nested").restart(airssys_rt::supervisor::RestartPolicy::Transient),
            SupervisorNode::builder("nested"),
        )
        .await
        .unwrap();

    nested.shutdown(Duration::from_secs(1)).await.unwrap();

    let exited = wait_for(&mut events, "root sees nested exit", |e| {
        matches!(e, SupervisionEvent::ChildExited { supervisor, child, .. } if supervisor == "root" && child == "nested")
    })
    .await;
    assert!(matches!(
        exited,
        SupervisionEvent::ChildExited {
            reason: ExitReason::Shutdown,
            ..
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn add_children_starts_a_batch_in_order_with_one_answer_per_child() {
    let log = Log::default();
    let sup = SupervisorNode::builder("root").start();
    let (taken, _) = probe("taken", &log);
    sup.add_child(ChildSpec::new("taken"), taken).await.unwrap();
    log.take();

    let (a, _) = probe("a", &log);
    let (dup, _) = probe("taken", &log);
    let (bad, bad_ctl) = probe("bad", &log);
    bad_ctl.fail_next_starts(1);
    let (b, b_ctl) = probe("b", &log);
    // Sent at the call, answered later: a second batch sent before the
    // first is awaited starts after it.
    let first = sup.add_children(vec![
        (ChildSpec::new("a"), a),
        (ChildSpec::new("taken"), dup),
        (ChildSpec::new("bad"), bad),
    ]);
    let second = sup.add_children(vec![(ChildSpec::new("b"), b)]);
    let (first, second) = (first.await.unwrap(), second.await.unwrap());

    assert!(first[0].is_ok());
    assert!(
        matches!(&first[1], Err(SupervisorError::DuplicateChild { child, .. }) if child == "taken"),
        "{:?}",
        first[1]
    );
    assert!(
        matches!(&first[2], Err(SupervisorError::StartFailed { child, .. }) if child == "bad"),
        "{:?}",
        first[2]
    );
    assert!(second[0].is_ok());
    assert_eq!(
        log.take(),
        strings(&["a:start", "bad:start-failed", "b:start"])
    );
    let names: Vec<String> = sup
        .children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, strings(&["taken", "a", "b"]));

    // A batch child is supervised as any other: it restarts.
    let mut events = sup.events();
    b_ctl.crash();
    restarted(&mut events, "root", "b").await;

    sup.shutdown(Duration::from_secs(1)).await.unwrap();
    let (late, _) = probe("late", &log);
    let refused = sup
        .add_children(vec![(ChildSpec::new("late"), late)])
        .await
        .unwrap_err();
    assert!(
        matches!(refused, SupervisorError::NotRunning { .. }),
        "{refused}"
    );
}
