//! What a component's life looks like from outside: when it is listed
//! (once its spawn returned, never while it is being made), and what is
//! left of one that ended on its own (a `Transient` component's normal
//! exit, a `Temporary` one's failure, a group that gave up): it stays
//! listed with its state and why, a send to it is refused naming it, and
//! a spawn of its id replaces it. `docs/supervision.md` states the rules.

mod common;

use std::time::Duration;

use airssys_rt::supervisor::{
    BackoffPolicy, ChildSpec, ExitReason, FailureCause, RestartPolicy, SupervisionEvent,
    SupervisorNode,
};
use airssys_wasm::{
    ComponentEnd, ComponentHost, ComponentInfo, ComponentLimits, ComponentSpec, HostError,
    LifecycleState, Permissions,
};
use common::{fixture, host};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn spec(id: &str, fixture_name: &str) -> ComponentSpec {
    ComponentSpec::new(id, fixture(fixture_name).into_bytes())
}

fn count(reply: Option<bytes::Bytes>) -> i32 {
    i32::from_le_bytes(reply.expect("a reply")[..4].try_into().unwrap())
}

/// The row of `id` once `ready` holds for it, within [`WAIT`].
async fn row_when(
    host: &ComponentHost,
    id: &str,
    ready: impl Fn(&ComponentInfo) -> bool,
) -> ComponentInfo {
    timeout(WAIT, async {
        loop {
            if let Some(row) = host.list().into_iter().find(|c| c.id.as_str() == id) {
                if ready(&row) {
                    return row;
                }
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{id} never got there: {:#?}", host.list()))
}

/// `error` is the refusal of a send to the component `id` that is not
/// running, with the payload handed back.
fn refused_stopped(error: &HostError, id: &str, payload: &[u8]) -> bool {
    matches!(error, HostError::ComponentStopped { component, payload: Some(p) }
        if component.as_str() == id && &p[..] == payload)
}

#[tokio::test]
async fn a_transient_component_that_exits_normally_stays_listed_stopped_until_its_id_is_spawned_again(
) {
    let host = host(8);
    let worker = host
        .spawn(spec("worker", "crashing_counter").restart(RestartPolicy::Transient))
        .await
        .unwrap();
    worker.send(&b"a"[..]).await.unwrap();
    // While it runs, its id is taken.
    let taken = host
        .spawn(spec("worker", "crashing_counter"))
        .await
        .unwrap_err();
    assert!(
        matches!(&taken, HostError::AlreadyExists { component } if component.as_str() == "worker"),
        "{taken:?}"
    );
    worker.stop_after_queued().await.unwrap();

    let row = row_when(&host, "worker", |r| r.ended.is_some()).await;
    assert_eq!(row.state, LifecycleState::Stopped);
    assert_eq!(row.ended, Some(ComponentEnd::Exited(ExitReason::Normal)));
    assert_eq!((row.handled, row.restarts), (1, 0));
    let refused = host.send("worker", &b"late"[..]).await.unwrap_err();
    assert!(refused_stopped(&refused, "worker", b"late"), "{refused:?}");
    let refused = host
        .request("worker", &b"late"[..], WAIT)
        .await
        .unwrap_err();
    assert!(refused_stopped(&refused, "worker", b"late"), "{refused:?}");

    // Its id is free: a spawn replaces it with a fresh component.
    let again = host
        .spawn(spec("worker", "crashing_counter"))
        .await
        .unwrap();
    assert_eq!(count(again.request(&b"x"[..], WAIT).await.unwrap()), 1);
    let row = row_when(&host, "worker", |_| true).await;
    assert_eq!(
        (row.state, row.ended, row.handled),
        (LifecycleState::Ready, None, 1)
    );
    assert_eq!(host.list().len(), 1);
    assert_eq!(
        host.dead_letter_stats().total(),
        0,
        "the refused sends were handed back, nothing was queued for nobody"
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_temporary_component_that_failed_stays_listed_failed_until_it_is_stopped() {
    let host = host(8);
    let once = host
        .spawn(spec("once", "crashing_counter").restart(RestartPolicy::Temporary))
        .await
        .unwrap();
    once.send(&b"!crash"[..]).await.unwrap();
    let row = row_when(&host, "once", |r| r.ended.is_some()).await;
    assert_eq!(row.state, LifecycleState::Failed);
    assert!(
        matches!(
            &row.ended,
            Some(ComponentEnd::Exited(ExitReason::Failed(_)))
        ),
        "{row:?}"
    );
    assert_eq!(row.ended.as_ref().map(ComponentEnd::label), Some("exited"));
    // Its supervisor let go of it (OTP drops a temporary child's spec);
    // `stop` still removes what the host shows.
    host.stop("once").await.unwrap();
    assert!(!host.registry().contains("once"));
    let unknown = host.send("once", &b"x"[..]).await.unwrap_err();
    assert!(
        matches!(&unknown, HostError::UnknownComponent { component, .. } if component.as_str() == "once"),
        "{unknown:?}"
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn the_components_of_a_group_that_gave_up_show_why_refuse_sends_and_can_be_spawned_again() {
    let host = host(8);
    // A transient group: having given up on its intensity it exits
    // `shutdown` (OTP), so the root keeps it, stopped, with its children.
    let group = host
        .supervisor()
        .add_supervisor(
            ChildSpec::new("pipeline").restart(RestartPolicy::Transient),
            SupervisorNode::builder("pipeline")
                .intensity(1, Duration::from_secs(60))
                .backoff(BackoffPolicy::none()),
        )
        .await
        .unwrap();
    let stage = host
        .spawn_in(&group, spec("stage", "crashing_counter"))
        .await
        .unwrap();
    host.spawn_in(&group, spec("sink", "crashing_counter"))
        .await
        .unwrap();
    let mut events = host.supervisor().events();
    // Intensity 1: the second crash makes the group give up.
    stage.send(&b"!1"[..]).await.unwrap();
    stage.send(&b"!2"[..]).await.unwrap();
    timeout(WAIT, async {
        loop {
            if let SupervisionEvent::SupervisorFailed { supervisor, .. } =
                events.recv().await.unwrap()
            {
                if supervisor == "pipeline" {
                    return;
                }
            }
        }
    })
    .await
    .unwrap();

    for (id, state) in [
        ("stage", LifecycleState::Failed),
        ("sink", LifecycleState::Stopped),
    ] {
        let row = row_when(&host, id, |r| r.ended.is_some()).await;
        assert_eq!(row.state, state, "{row:?}");
        assert!(
            matches!(&row.ended, Some(ComponentEnd::GroupGaveUp { group, cause: FailureCause::IntensityExceeded { .. } }) if group == "pipeline"),
            "{row:?}"
        );
        assert_eq!(
            row.ended.as_ref().map(ComponentEnd::label),
            Some("group_gave_up")
        );
        // The group still holds its mailbox; the host refuses for it.
        let refused = host.send(id, &b"late"[..]).await.unwrap_err();
        assert!(refused_stopped(&refused, id, b"late"), "{refused:?}");
    }
    let dead = host.dead_letter_stats();
    assert_eq!(
        (dead.handler_failed, dead.total()),
        (2, 2),
        "the two crashes, nothing else"
    );

    // Its id is free again: spawned under the root, a fresh component.
    let sink = host.spawn(spec("sink", "crashing_counter")).await.unwrap();
    assert_eq!(count(sink.request(&b"x"[..], WAIT).await.unwrap()), 1);
    let row = row_when(&host, "sink", |_| true).await;
    assert_eq!((row.state, row.ended), (LifecycleState::Ready, None));
    // The other stays as it was until it too is stopped or replaced.
    assert!(row_when(&host, "stage", |_| true).await.ended.is_some());
    host.stop("stage").await.unwrap();
    assert_eq!(host.list().len(), 1);
    host.shutdown(WAIT).await;
}

/// A guest whose `init` sends to "gate" until the send succeeds: its spawn
/// lasts until the test spawns "gate".
const WAITS_FOR_GATE: &str = r#"(module
  (import "airssys" "send" (func $send (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "gate")
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "init") (result i32)
    (loop $wait
      (br_if $wait (call $send (i32.const 100) (i32.const 4) (i32.const 100) (i32.const 4))))
    (i32.const 0))
  (func (export "handle-message") (param i32 i32) (result i32) i32.const 0))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_is_neither_listed_nor_addressable_until_its_spawn_returns() {
    let host = host(8);
    let slow = ComponentSpec::new("slow", WAITS_FOR_GATE.as_bytes().to_vec())
        .permissions(Permissions::deny_all().allow_target("gate"))
        .limits(ComponentLimits::default().execution_timeout(Duration::from_secs(60)));
    let spawning = tokio::spawn({
        let host = host.clone();
        async move { host.spawn(slow).await.map(|_| ()) }
    });
    // Its first instance exists and its `init` runs (when the pool can say so).
    timeout(WAIT, async {
        while host
            .engine()
            .pool_usage()
            .is_some_and(|usage| usage.core_instances_in_use == 0)
        {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    // The spawn cannot return before "gate" exists: this is during it.
    assert!(host.list().is_empty(), "{:?}", host.list());
    assert_eq!(host.registry().state("slow"), None);
    let unknown = host.send("slow", &b"early"[..]).await.unwrap_err();
    assert!(
        matches!(&unknown, HostError::UnknownComponent { component, payload: Some(_) } if component.as_str() == "slow"),
        "{unknown:?}"
    );
    assert!(!spawning.is_finished());

    host.spawn(spec("gate", "echo")).await.unwrap();
    timeout(WAIT, spawning).await.unwrap().unwrap().unwrap();
    assert_eq!(host.registry().state("slow"), Some(LifecycleState::Ready));
    host.shutdown(WAIT).await;
}
