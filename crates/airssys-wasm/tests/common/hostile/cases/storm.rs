//! A trap storm: a guest that crashes faster than its group allows
//! restarts.

use std::time::Duration;

use airssys_rt::supervisor::{
    BackoffPolicy, ChildSpec, RestartPolicy, SupervisionEvent, SupervisorNode,
};
use airssys_wasm::HostError;

use crate::common::hostile::*;

/// Ten crashes in a group of intensity 2: three fail the component, the
/// group gives up and escalates, the rest are dead-lettered as stopped and
/// later sends are refused with the payload handed back; a component in
/// another group keeps its instance and its count.
pub async fn trap_storm(form: Form) {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, form.neighbour()).await;
    let group = |name: &'static str| {
        host.supervisor().add_supervisor(
            ChildSpec::new(name).restart(RestartPolicy::Temporary),
            SupervisorNode::builder(name)
                .intensity(2, Duration::from_secs(60))
                .backoff(BackoffPolicy::none()),
        )
    };
    let storm = group("storm").await.unwrap();
    let calm = group("calm").await.unwrap();
    let attacker = host
        .spawn_in(&storm, form.spec("attacker", "crashing_counter"))
        .await
        .unwrap();
    let bystander = host
        .spawn_in(&calm, form.spec("bystander", "crashing_counter"))
        .await
        .unwrap();
    bystander.send(&b"before"[..]).await.unwrap();
    let mut events = host.supervisor().events();
    const CRASHES: u64 = 10;
    let handle = attacker.clone();
    neighbour
        .under_attack(|_stop| async move {
            for _ in 0..CRASHES {
                handle.send(&b"!crash"[..]).await.unwrap();
            }
            loop {
                match events.recv().await.unwrap() {
                    SupervisionEvent::SupervisorFailed { supervisor, .. }
                        if supervisor == "storm" =>
                    {
                        break
                    }
                    _ => {}
                }
            }
        })
        .await;

    // Every crash message is accounted for: the ones that ran failed the
    // component, the ones still queued when the group gave up were
    // dead-lettered as stopped.
    settle(&host, "storm dead letters", |h| {
        h.dead_letter_stats().total() == CRASHES
    })
    .await;
    let dead = host.dead_letter_stats();
    assert_eq!(
        dead.handler_failed, 3,
        "intensity 2: the third crash escalates"
    );
    assert_eq!(dead.actor_stopped, CRASHES - 3);
    let crashed = info(&host, "attacker");
    assert_eq!((crashed.handled, crashed.failed), (0, 3));
    let refused = attacker.send(&b"late"[..]).await.unwrap_err();
    assert!(
        matches!(&refused, HostError::ComponentStopped { component, payload: Some(_) } if component.as_str() == "attacker"),
        "{refused:?}"
    );
    // The other group is untouched: same instance, state kept.
    let reply = bystander.request(&b"after"[..], WAIT).await.unwrap();
    assert_eq!(
        form.number(&reply.unwrap(), 0),
        2,
        "its count survived the storm"
    );
    assert_eq!(bystander.stats().restarts, 0);
    neighbour.host_alive_and_shutdown(&host).await;
}
