//! `ComponentHost::spawn_many`: a fleet started in batches, each component
//! as `spawn` would start it, each failure in its own place.

mod common;

use std::time::Duration;

use airssys_wasm::{ComponentSpec, GuestError, HostError, LifecycleState, WasmError, SPAWN_BATCH};
use common::{fixture, host};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_fleet_of_one_spec_starts_loaded_once_and_every_member_answers() {
    // More than two batches, the last one partial.
    let n = 2 * SPAWN_BATCH + 44;
    let host = host(n as u32 + 4);
    let one = ComponentSpec::new("w0", fixture("echo").into_bytes());
    let fleet = host
        .spawn_many((0..n).map(|i| one.clone().with_id(format!("w{i}"))))
        .await;
    assert_eq!(fleet.len(), n);
    for (i, member) in fleet.iter().enumerate() {
        let member = member.as_ref().unwrap();
        assert_eq!(
            member.id().as_str(),
            format!("w{i}"),
            "outcomes keep the order"
        );
    }
    assert_eq!(host.engine().compile_count(), 1);
    assert_eq!(host.registry().len(), n);
    assert_eq!(host.supervisor().children().await.unwrap().len(), n);
    for i in [0, SPAWN_BATCH - 1, SPAWN_BATCH, n - 1] {
        let id = format!("w{i}");
        assert_eq!(host.registry().state(&id), Some(LifecycleState::Ready));
        let reply = host.request(&id, &b"ping"[..], WAIT).await.unwrap();
        assert_eq!(reply.as_deref(), Some(&b"ping"[..]), "{id}");
    }
    let report = host.shutdown(WAIT).await;
    assert_eq!(report.stopped, n);
    assert!(report.aborted.is_empty());
}

#[tokio::test]
async fn each_failure_is_typed_in_its_own_place_and_the_rest_start() {
    let host = host(16);
    host.spawn(ComponentSpec::new("running", fixture("echo").into_bytes()))
        .await
        .unwrap();
    let echo = ComponentSpec::new("a", fixture("echo").into_bytes());
    let specs = vec![
        echo.clone(),
        echo.clone(),
        echo.clone().with_id("running"),
        ComponentSpec::new("garbage", &b"not wasm"[..]),
        ComponentSpec::new("init-fails", fixture("init_fails").into_bytes()),
        echo.clone().with_id("bad-pattern").subscribe("a..b"),
        echo.clone().with_id("b"),
    ];
    let outcomes = host.spawn_many(specs).await;
    assert_eq!(outcomes.len(), 7);
    assert_eq!(outcomes[0].as_ref().unwrap().id().as_str(), "a");
    for i in [1, 2] {
        assert!(
            matches!(&outcomes[i], Err(HostError::AlreadyExists { .. })),
            "{i}: {:?}",
            outcomes[i].as_ref().err()
        );
    }
    match &outcomes[3] {
        Err(HostError::Wasm(WasmError::InvalidBinary { component, .. })) => {
            assert_eq!(component.as_str(), "garbage")
        }
        other => panic!("expected InvalidBinary, got {:?}", other.as_ref().err()),
    }
    match &outcomes[4] {
        Err(HostError::Guest(GuestError::InitFailed { component, .. })) => {
            assert_eq!(component.as_str(), "init-fails")
        }
        other => panic!("expected InitFailed, got {:?}", other.as_ref().err()),
    }
    assert!(
        matches!(&outcomes[5], Err(HostError::InvalidSubject { .. })),
        "{:?}",
        outcomes[5].as_ref().err()
    );
    assert_eq!(outcomes[6].as_ref().unwrap().id().as_str(), "b");
    let mut running: Vec<String> = host.list().into_iter().map(|c| c.id.to_string()).collect();
    running.sort();
    assert_eq!(running, ["a", "b", "running"]);
    assert!(host.registry().state("init-fails").is_none());
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn past_the_pool_only_the_excess_fails_with_a_capacity_error() {
    let host = host(5);
    let one = ComponentSpec::new("c0", fixture("echo").into_bytes());
    let outcomes = host
        .spawn_many((0..8).map(|i| one.clone().with_id(format!("c{i}"))))
        .await;
    for (i, outcome) in outcomes.iter().enumerate() {
        match (i < 5, outcome) {
            (true, Ok(_)) => {}
            (false, Err(HostError::Wasm(WasmError::Capacity { component, .. }))) => {
                assert_eq!(component.as_str(), format!("c{i}"))
            }
            (_, other) => panic!("{i}: {:?}", other.as_ref().err()),
        }
    }
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_batch_member_is_supervised_and_restarts_after_a_trap() {
    let host = host(8);
    let one = ComponentSpec::new("k0", fixture("crashing_counter").into_bytes());
    let fleet = host
        .spawn_many((0..3).map(|i| one.clone().with_id(format!("k{i}"))))
        .await;
    assert!(fleet.iter().all(Result::is_ok));
    // crashing_counter traps on "!" and counts everything else.
    let err = host.request("k1", &b"!"[..], WAIT).await.unwrap_err();
    assert!(matches!(err, HostError::HandlerFailed { .. }), "{err:?}");
    tokio::time::timeout(WAIT, async {
        while host.registry().state("k1") != Some(LifecycleState::Ready) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let reply = host.request("k1", &b"x"[..], WAIT).await.unwrap();
    assert!(reply.is_some());
    let restarted = host
        .supervisor()
        .children()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == "k1")
        .unwrap();
    assert_eq!(restarted.restarts, 1);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn after_shutdown_every_spec_is_refused() {
    let host = host(4);
    host.shutdown(WAIT).await;
    let one = ComponentSpec::new("late0", fixture("echo").into_bytes());
    let outcomes = host
        .spawn_many((0..3).map(|i| one.clone().with_id(format!("late{i}"))))
        .await;
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Err(HostError::ShuttingDown))));
}
