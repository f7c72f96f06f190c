//! Faults injected from the host side (`ComponentHost::inject_fault`): a
//! crash fails the incarnation as a trap would, an unhealthy fault fails its
//! health checks until it is replaced.

mod common;

use std::time::Duration;

use airssys_rt::supervisor::{HealthConfig, SupervisionEvent};
use airssys_wasm::{
    ComponentFailure, ComponentHost, ComponentSpec, EngineConfig, Fault, GuestHealth, HostError,
};
use common::fixture;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn host() -> ComponentHost {
    ComponentHost::builder()
        .engine(EngineConfig::default().max_components(4))
        .build()
        .unwrap()
}

fn count(reply: Option<bytes::Bytes>) -> i32 {
    i32::from_le_bytes(reply.expect("a reply")[..4].try_into().unwrap())
}

async fn next_restart(events: &mut tokio::sync::broadcast::Receiver<SupervisionEvent>, id: &str) {
    timeout(WAIT, async {
        loop {
            if let SupervisionEvent::ChildRestarted { child, .. } = events.recv().await.unwrap() {
                if child == id {
                    return;
                }
            }
        }
    })
    .await
    .expect("a restart");
}

#[tokio::test]
async fn an_injected_crash_restarts_the_component_after_the_queued_messages() {
    let host = host();
    let mut events = host.supervisor().events();
    let counter = host
        .spawn(ComponentSpec::new(
            "counter",
            fixture("crashing_counter").into_bytes(),
        ))
        .await
        .unwrap();
    counter.send(&b"a"[..]).await.unwrap();
    host.inject_fault("counter", Fault::Crash("drill".into()))
        .await
        .unwrap();
    next_restart(&mut events, "counter").await;
    // The message queued before the fault was handled by the old
    // incarnation; the new one counts from zero.
    assert_eq!(count(counter.request(&b"b"[..], WAIT).await.unwrap()), 1);
    let stats = counter.stats();
    assert_eq!((stats.handled, stats.failed, stats.restarts), (2, 1, 1));
    // A fault loses no message: nothing is dead-lettered.
    assert_eq!(host.dead_letter_stats().total(), 0);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn an_injected_crash_answers_an_asker_with_the_typed_failure() {
    let host = host();
    let echo = host
        .spawn(ComponentSpec::new("echo", fixture("echo").into_bytes()))
        .await
        .unwrap();
    let actor = host
        .actor_system()
        .lookup::<airssys_wasm::ComponentActor>("echo")
        .unwrap();
    let answer = actor
        .ask(
            airssys_wasm::ComponentMessage::Inject(Fault::Crash("drill".into())),
            WAIT,
        )
        .await;
    match answer {
        Err(airssys_rt::AskError::HandlerFailed {
            error: ComponentFailure::Injected { component, reason },
            ..
        }) => {
            assert_eq!(component.as_str(), "echo");
            assert_eq!(reason, "drill");
        }
        other => panic!("expected an injected failure, got {other:?}"),
    }
    assert!(echo.request(&b"x"[..], WAIT).await.unwrap().is_some());
    host.shutdown(WAIT).await;
}

#[tokio::test(start_paused = true)]
async fn an_injected_unhealthy_fault_fails_health_checks_until_the_restart() {
    let host = host();
    let mut events = host.supervisor().events();
    let health = HealthConfig::new(Duration::from_secs(1), Duration::from_millis(500), 2);
    let echo = host
        .spawn(ComponentSpec::new("echo", fixture("echo").into_bytes()).health(health))
        .await
        .unwrap();
    host.inject_fault("echo", Fault::Unhealthy("drill".into()))
        .await
        .unwrap();
    assert_eq!(
        echo.health(WAIT).await.unwrap().guest,
        GuestHealth::Unhealthy("drill".into())
    );
    next_restart(&mut events, "echo").await;
    assert_eq!(echo.health(WAIT).await.unwrap().guest, GuestHealth::Healthy);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_fault_for_an_unknown_component_is_refused() {
    let host = host();
    let err = host
        .inject_fault("nobody", Fault::Crash("drill".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, HostError::UnknownComponent { .. }), "{err:?}");
    host.shutdown(WAIT).await;
}
