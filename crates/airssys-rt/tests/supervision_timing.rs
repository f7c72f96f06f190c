//! Backoff, health checks and failed restarts, on a paused clock.

mod common;

use std::time::Duration;

use airssys_rt::supervisor::{
    BackoffPolicy, ChildHealth, ChildSpec, ChildState, ExitReason, FailureCause, HealthConfig,
    SupervisionEvent, SupervisorExit, SupervisorNode,
};
use common::{probe, restarted, strings, wait_for, Log};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn restarts_wait_the_computed_exponential_backoff_and_not_less() {
    let log = Log::default();
    let backoff =
        BackoffPolicy::exponential(Duration::from_millis(100), Duration::from_millis(500))
            .multiplier(2.0)
            .jitter(0.0);
    let sup = SupervisorNode::builder("root")
        .intensity(10, Duration::from_secs(60))
        .backoff(backoff)
        .start();
    let mut events = sup.events();
    let (a, a_ctl) = probe("a", &log);
    sup.add_child(ChildSpec::new("a"), a).await.unwrap();

    let expected = [100, 200, 400, 500, 500];
    for (k, ms) in expected.into_iter().enumerate() {
        let crashed_at = Instant::now();
        a_ctl.crash();
        let (attempt, delay) = restarted(&mut events, "root", "a").await;
        assert_eq!(attempt, k as u32 + 1);
        assert_eq!(delay, Duration::from_millis(ms));
        assert_eq!(
            crashed_at.elapsed(),
            Duration::from_millis(ms),
            "restart {attempt}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_supervisor_keeps_answering_while_a_restart_waits_out_its_backoff() {
    let log = Log::default();
    let backoff =
        BackoffPolicy::exponential(Duration::from_secs(3), Duration::from_secs(3)).jitter(0.0);
    let sup = SupervisorNode::builder("root").backoff(backoff).start();
    let mut events = sup.events();
    let (a, a_ctl) = probe("a", &log);
    sup.add_child(ChildSpec::new("a"), a).await.unwrap();
    let crashed_at = Instant::now();

    a_ctl.crash();
    wait_for(&mut events, "a failed", |e| {
        matches!(e, SupervisionEvent::ChildFailed { .. })
    })
    .await;
    let children = sup.children().await.unwrap();
    let (b, _) = probe("b", &log);
    sup.add_child(ChildSpec::new("b"), b).await.unwrap();

    assert_eq!(children[0].state, ChildState::Restarting);
    assert_eq!(
        crashed_at.elapsed(),
        Duration::ZERO,
        "answered before the backoff ended"
    );
    restarted(&mut events, "root", "a").await;
    assert_eq!(crashed_at.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn the_backoff_resets_after_the_child_ran_for_a_whole_intensity_window() {
    let log = Log::default();
    let backoff =
        BackoffPolicy::exponential(Duration::from_millis(100), Duration::from_secs(10)).jitter(0.0);
    let sup = SupervisorNode::builder("root")
        .intensity(3, Duration::from_secs(5))
        .backoff(backoff)
        .start();
    let mut events = sup.events();
    let (a, a_ctl) = probe("a", &log);
    sup.add_child(ChildSpec::new("a"), a).await.unwrap();

    a_ctl.crash();
    assert_eq!(restarted(&mut events, "root", "a").await.0, 1);
    a_ctl.crash();
    assert_eq!(restarted(&mut events, "root", "a").await.0, 2);
    tokio::time::advance(Duration::from_secs(5)).await;
    a_ctl.crash();

    assert_eq!(
        restarted(&mut events, "root", "a").await,
        (1, Duration::from_millis(100))
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_during_a_restart_is_retried_and_counted() {
    let log = Log::default();
    let backoff =
        BackoffPolicy::exponential(Duration::from_millis(10), Duration::from_secs(1)).jitter(0.0);
    let sup = SupervisorNode::builder("root")
        .intensity(3, Duration::from_secs(60))
        .backoff(backoff)
        .start();
    let mut events = sup.events();
    let (a, a_ctl) = probe("a", &log);
    sup.add_child(ChildSpec::new("a"), a).await.unwrap();
    log.take();

    a_ctl.fail_next_starts(2);
    a_ctl.crash();
    let (attempt, delay) = restarted(&mut events, "root", "a").await;

    assert_eq!((attempt, delay), (3, Duration::from_millis(40)));
    assert_eq!(
        log.entries(),
        strings(&["a:start-failed", "a:start-failed", "a:start"])
    );
    assert_eq!(sup.children().await.unwrap()[0].restarts, 3);

    // Three restarts used up; one more failed start exceeds the intensity.
    a_ctl.fail_next_starts(1);
    a_ctl.crash();
    let exit = tokio::time::timeout(Duration::from_secs(60), sup.wait())
        .await
        .unwrap();
    assert!(matches!(exit, SupervisorExit::Failed(_)), "{exit:?}");
}

#[tokio::test(start_paused = true)]
async fn a_start_that_never_returns_times_out_and_counts_as_a_failed_start() {
    struct Stuck;
    #[async_trait::async_trait]
    impl airssys_rt::supervisor::Child for Stuck {
        async fn start(
            &mut self,
            _exit: airssys_rt::supervisor::ExitSignal,
        ) -> Result<(), airssys_rt::supervisor::ChildError> {
            std::future::pending().await
        }
        async fn stop(&mut self, _t: Duration) -> Result<(), airssys_rt::supervisor::ChildError> {
            Ok(())
        }
        fn kill(&mut self) {}
    }
    let sup = SupervisorNode::builder("root").start();
    let began = Instant::now();

    let err = sup
        .add_child(
            ChildSpec::new("stuck").start_timeout(Duration::from_secs(2)),
            Box::new(Stuck),
        )
        .await
        .unwrap_err();

    assert!(err.to_string().contains("did not start within"), "{err}");
    assert_eq!(began.elapsed(), Duration::from_secs(2));
}

fn health(threshold: u32) -> HealthConfig {
    HealthConfig::new(
        Duration::from_secs(1),
        Duration::from_millis(100),
        threshold,
    )
}

#[tokio::test(start_paused = true)]
async fn failing_health_checks_restart_the_child_after_threshold_consecutive_failures() {
    let log = Log::default();
    let sup = SupervisorNode::builder("root")
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = sup.events();
    let (a, a_ctl) = probe("a", &log);
    sup.add_child(ChildSpec::new("a").health(health(3)), a)
        .await
        .unwrap();
    let started = Instant::now();
    log.take();

    a_ctl.report_health(ChildHealth::Failed("disk full".into()));
    for n in 1..=3 {
        let event = wait_for(&mut events, "health check failed", |e| {
            matches!(e, SupervisionEvent::HealthCheckFailed { .. })
        })
        .await;
        assert!(
            matches!(event, SupervisionEvent::HealthCheckFailed { consecutive, .. } if consecutive == n),
            "{event:?}"
        );
        if n < 3 {
            assert!(log.entries().is_empty(), "no restart before the threshold");
        }
    }
    let failed = wait_for(&mut events, "a failed", |e| {
        matches!(e, SupervisionEvent::ChildFailed { .. })
    })
    .await;
    restarted(&mut events, "root", "a").await;

    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert!(
        matches!(
            &failed,
            SupervisionEvent::ChildFailed {
                reason: ExitReason::Failed(FailureCause::HealthCheckFailed { consecutive: 3, .. }),
                ..
            }
        ),
        "{failed:?}"
    );
    assert_eq!(log.entries(), strings(&["a:stop", "a:start"]));
}

#[tokio::test(start_paused = true)]
async fn a_health_check_that_times_out_counts_as_failed() {
    let log = Log::default();
    let sup = SupervisorNode::builder("root")
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = sup.events();
    let (a, a_ctl) = probe("a", &log);
    sup.add_child(ChildSpec::new("a").health(health(1)), a)
        .await
        .unwrap();
    log.take();

    a_ctl.hang_in_health_check();
    let event = wait_for(&mut events, "health check failed", |e| {
        matches!(e, SupervisionEvent::HealthCheckFailed { .. })
    })
    .await;
    restarted(&mut events, "root", "a").await;

    assert!(
        matches!(&event, SupervisionEvent::HealthCheckFailed { consecutive: 1, reason, .. } if reason.contains("timed out")),
        "{event:?}"
    );
    assert_eq!(log.entries(), strings(&["a:stop", "a:start"]));
}

#[tokio::test(start_paused = true)]
async fn a_healthy_check_between_failures_resets_the_count() {
    let log = Log::default();
    let sup = SupervisorNode::builder("root")
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = sup.events();
    let (a, a_ctl) = probe("a", &log);
    sup.add_child(ChildSpec::new("a").health(health(2)), a)
        .await
        .unwrap();
    let started = Instant::now();

    a_ctl.report_health(ChildHealth::Failed("flaky".into()));
    wait_for(&mut events, "first failure", |e| {
        matches!(e, SupervisionEvent::HealthCheckFailed { .. })
    })
    .await;
    a_ctl.report_health(ChildHealth::Healthy);
    // A healthy check raises no event. On the paused clock the check due at
    // 2 s runs before this sleep (to 2.5 s) ends: exact, not a guess.
    tokio::time::sleep_until(started + Duration::from_millis(2500)).await;
    a_ctl.report_health(ChildHealth::Failed("flaky".into()));
    let event = wait_for(&mut events, "next failure", |e| {
        matches!(e, SupervisionEvent::HealthCheckFailed { .. })
    })
    .await;

    assert!(
        matches!(
            event,
            SupervisionEvent::HealthCheckFailed { consecutive: 1, .. }
        ),
        "{event:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_start_in_a_one_for_all_group_restarts_the_whole_group_again_in_order() {
    let log = Log::default();
    let sup = SupervisorNode::builder("root")
        .strategy(airssys_rt::supervisor::RestartStrategy::OneForAll)
        .intensity(10, Duration::from_secs(60))
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = sup.events();
    let (a, a_ctl) = probe("a", &log);
    let (b, b_ctl) = probe("b", &log);
    let (c, _) = probe("c", &log);
    for (name, child) in [("a", a), ("b", b), ("c", c)] {
        sup.add_child(ChildSpec::new(name), child).await.unwrap();
    }
    log.take();

    b_ctl.fail_next_starts(1);
    a_ctl.crash();
    restarted(&mut events, "root", "c").await;

    assert_eq!(
        log.entries(),
        strings(&[
            "c:stop",
            "b:stop",
            "a:start",
            "b:start-failed",
            "a:stop",
            "a:start",
            "b:start",
            "c:start"
        ])
    );
}
