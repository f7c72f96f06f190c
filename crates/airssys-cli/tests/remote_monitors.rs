//! Monitors across hosts, over a real NATS server: a host, and a guest on
//! it through the `monitor` import, monitor a component that runs on
//! another host; its crash, its stop, an id no host runs, and a demonitor
//! (docs/distribution.md, "Monitors across hosts"). The loss of a host
//! (`noconnection`) needs a cluster: `cluster_monitors.rs`.

mod nats_host;

use std::time::Duration;

use airssys_nats::NatsBroker;
use airssys_rt::supervisor::ExitReason;
use airssys_testkit::NatsServer;
use airssys_wasm::host::{ComponentHost, ComponentRef};
use airssys_wasm::{codec, ComponentSpec, DownNotice, Permissions, SubjectPattern, TopicMessage};
use nats_host::nats_host;

const WAIT: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn wat(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../airssys-wasm/tests/fixtures/{name}.wat",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Two hosts of one application on `server`.
async fn two_hosts(
    server: &NatsServer,
) -> (
    (ComponentHost, NatsBroker<TopicMessage>),
    (ComponentHost, NatsBroker<TopicMessage>),
) {
    let prefix = format!("remote-monitors-{}-{}", std::process::id(), rand_suffix());
    (
        nats_host(&server.url(), &prefix, None).await,
        nats_host(&server.url(), &prefix, None).await,
    )
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Waits until `target` (on its own host) holds `n` monitors: the ones
/// another host asked for are armed.
async fn armed(target: &ComponentRef, n: usize) {
    within("the monitor to be armed on the target's host", async {
        while target.monitor_count() != n {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_monitors_a_component_of_another_host_through_a_crash_and_a_stop() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let ((a, _a_broker), (b, b_broker)) = two_hosts(&server).await;
    let crasher = b
        .spawn(ComponentSpec::new("crasher", wat("crasher")))
        .await
        .unwrap();
    b_broker.sync().await.unwrap();

    // A crash: the monitored incarnation ends `failed`, with the cause.
    let monitor = a.monitor("crasher");
    armed(&crasher, 1).await;
    assert_eq!(a.remote_monitor_count(), 1);
    crasher.send(&b"crash"[..]).await.unwrap();
    let down = within("the crash's down", monitor).await;
    assert_eq!(down.component.as_str(), "crasher");
    let ExitReason::Failed(cause) = &down.reason else {
        panic!("{:?}", down.reason)
    };
    assert!(cause.to_string().contains("unreachable"), "{cause}");
    assert_eq!(a.remote_monitor_count(), 0, "a fired monitor is gone");

    // The restarted incarnation is watched by a new monitor; a stop ends
    // it `shutdown`.
    let monitor = a.monitor("crasher");
    armed(&crasher, 1).await;
    b.stop("crasher").await.unwrap();
    assert_eq!(
        within("the stop's down", monitor).await.reason,
        ExitReason::Shutdown
    );

    // No host runs it any more: `noproc`, as for an id nobody has.
    assert_eq!(
        within("a noproc", a.monitor("crasher")).await.reason,
        ExitReason::NoProc
    );
    assert_eq!(
        within("a noproc", a.monitor("ghost")).await.reason,
        ExitReason::NoProc
    );
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_monitor_lets_go_of_the_component_on_its_host() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let ((a, _a_broker), (b, b_broker)) = two_hosts(&server).await;
    let echo = b
        .spawn(ComponentSpec::new("echo", wat("echo")))
        .await
        .unwrap();
    b_broker.sync().await.unwrap();
    let monitor = a.monitor("echo");
    armed(&echo, 1).await;
    drop(monitor);
    assert_eq!(a.remote_monitor_count(), 0);
    armed(&echo, 0).await;
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_monitors_a_component_of_another_host_through_the_import() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let ((a, a_broker), (b, b_broker)) = two_hosts(&server).await;
    let crasher = b
        .spawn(ComponentSpec::new("crasher", wat("crasher")))
        .await
        .unwrap();
    b_broker.sync().await.unwrap();
    let mut downs = a.broker().subscribe("watch.down").unwrap();
    let permissions = Permissions::deny_all()
        .allow_target("crasher")
        .allow_target("ghost")
        .allow_subject(SubjectPattern::new("watch.>").unwrap());
    let watcher = a
        .spawn(ComponentSpec::new("watcher", wat("watcher")).permissions(permissions))
        .await
        .unwrap();
    a_broker.sync().await.unwrap();
    let monitor = |target: &'static str| {
        let watcher = watcher.clone();
        async move {
            let reply = watcher
                .request(format!("m{target}").into_bytes(), WAIT)
                .await
                .unwrap()
                .expect("a reply");
            i64::from_le_bytes(reply[..8].try_into().unwrap())
        }
    };

    let id = monitor("crasher").await;
    assert!(id > 0, "a monitor id, got {id}");
    armed(&crasher, 1).await;
    crasher.send(&b"crash"[..]).await.unwrap();
    let down = next_down(&mut downs).await;
    assert_eq!(
        (down.monitor, down.component.as_str(), down.reason.as_str()),
        (u64::try_from(id).unwrap(), "crasher", "failed")
    );
    assert!(down.detail.contains("unreachable"), "{}", down.detail);

    let id = monitor("ghost").await;
    let down = next_down(&mut downs).await;
    assert_eq!(
        (down.monitor, down.reason.as_str()),
        (u64::try_from(id).unwrap(), "noproc")
    );

    // The watcher's own restart ends its monitors, here and there.
    monitor("crasher").await;
    armed(&crasher, 1).await;
    a.restart("watcher", WAIT).await.unwrap();
    armed(&crasher, 0).await;
    assert_eq!(a.remote_monitor_count(), 0);
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}

async fn next_down(downs: &mut airssys_rt::broker::Subscription<TopicMessage>) -> DownNotice {
    let message = within("a down at the guest", downs.recv()).await.unwrap();
    codec::decode_json(&message.payload.payload).unwrap()
}
