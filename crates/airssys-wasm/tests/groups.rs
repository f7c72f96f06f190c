//! Components spawned into supervisor groups under the host's root.

mod common;

use std::time::Duration;

use airssys_rt::supervisor::{ChildSpec, ShutdownPolicy, SupervisorNode};
use airssys_wasm::{ComponentHost, ComponentLimits, ComponentSpec, EngineConfig, HostError};
use common::fixture;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn host() -> ComponentHost {
    ComponentHost::builder()
        .engine(EngineConfig::default().max_components(8))
        .build()
        .unwrap()
}

#[tokio::test]
async fn stop_ends_a_component_spawned_in_a_group_and_dead_letters_its_queue() {
    let host = host();
    let group = host
        .supervisor()
        .add_supervisor(
            ChildSpec::new("workers").shutdown(ShutdownPolicy::Graceful(WAIT)),
            SupervisorNode::builder("workers"),
        )
        .await
        .unwrap();
    let limits = ComponentLimits::default().execution_timeout(Duration::from_millis(300));
    let looper = host
        .spawn_in(
            &group,
            ComponentSpec::new("looper", fixture("infinite_loop").into_bytes()).limits(limits),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        looper.send(&b"spin"[..]).await.unwrap();
    }
    timeout(WAIT, async {
        while looper.mailbox_len() != 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();

    host.stop("looper").await.unwrap();

    assert!(
        group.children().await.unwrap().is_empty(),
        "stopped through its own group, which no longer holds it"
    );
    let stats = host.dead_letter_stats();
    assert_eq!(stats.handler_failed, 1, "the message that was running");
    assert_eq!(stats.actor_stopped, 2, "the two queued behind it");
    let late = host.send("looper", &b"late"[..]).await.unwrap_err();
    assert!(
        matches!(late, HostError::UnknownComponent { .. }),
        "{late:?}"
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_component_stopped_in_a_group_can_be_spawned_again_under_its_id() {
    let host = host();
    let group = host
        .supervisor()
        .add_supervisor(
            ChildSpec::new("workers"),
            SupervisorNode::builder("workers"),
        )
        .await
        .unwrap();
    let echo = || ComponentSpec::new("echo", fixture("echo").into_bytes());
    host.spawn_in(&group, echo()).await.unwrap();
    host.stop("echo").await.unwrap();
    let again = host.spawn_in(&group, echo()).await.unwrap();
    let reply = again.request(&b"back"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"back"[..]));
    host.shutdown(WAIT).await;
}
