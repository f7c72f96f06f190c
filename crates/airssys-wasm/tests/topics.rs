//! Topic fan-out when subscribers leave: nothing published to a component
//! while it was subscribed is lost when it stops.

mod common;

use std::time::Duration;

use airssys_wasm::{ComponentHost, ComponentSpec, EngineConfig};
use common::fixture;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "current_thread")]
async fn topic_messages_queued_when_a_component_stops_are_handled_or_dead_lettered() {
    let host = ComponentHost::builder()
        .engine(EngineConfig::default().max_components(4))
        .build()
        .unwrap();
    let spec = ComponentSpec::new("listener", fixture("crashing_counter").into_bytes())
        .subscribe("events.*");
    let listener = host.spawn(spec).await.unwrap();
    // On one thread the topic's pump has not run yet: all 50 copies are
    // still queued on the host's broker subscription when the stop begins.
    for _ in 0..50 {
        let report = host.publish("events.x", &b"e"[..]).unwrap();
        assert_eq!(report.delivered, 1);
    }
    host.stop("listener").await.unwrap();
    timeout(WAIT, async {
        loop {
            let handled = listener.stats().handled;
            let dead = host.dead_letter_stats().actor_stopped;
            if handled + dead == 50 {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "unaccounted: handled {} + dead-lettered {:?} != 50 published",
            listener.stats().handled,
            host.dead_letter_stats()
        )
    });
    host.shutdown(WAIT).await;
}
