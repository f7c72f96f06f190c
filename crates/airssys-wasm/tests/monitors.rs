//! Monitors between components on one host: a core-ABI guest monitors
//! another through the `monitor` import and receives its down as a message
//! with subject `_airssys.down` (docs/core-abi.md, "Monitors").

mod common;

use std::time::Duration;

use airssys_rt::broker::Subscription;
use airssys_rt::supervisor::ExitReason;
use airssys_wasm::{
    codec, codes, ComponentHost, ComponentRef, ComponentSpec, DownNotice, Permissions,
    SubjectPattern, TopicMessage,
};
use common::{component_fixture, fixture, host};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn spec(id: &str, fixture_name: &str) -> ComponentSpec {
    ComponentSpec::new(id, fixture(fixture_name).into_bytes())
}

/// A watcher that may monitor (and send to) `targets`, and publishes the
/// downs it receives on `watch.down`; the subscription sees them.
async fn watcher(
    host: &ComponentHost,
    targets: &[&str],
) -> (ComponentRef, Subscription<TopicMessage>) {
    let downs = host.broker().subscribe("watch.down").unwrap();
    let mut permissions =
        Permissions::deny_all().allow_subject(SubjectPattern::new("watch.>").unwrap());
    for target in targets {
        permissions = permissions.allow_target(*target);
    }
    let watcher = host
        .spawn(spec("watcher", "watcher").permissions(permissions))
        .await
        .unwrap();
    (watcher, downs)
}

/// Asks the watcher to monitor `target`; the import's result.
async fn monitor(watcher: &ComponentRef, target: &str) -> i64 {
    let reply = watcher
        .request(format!("m{target}").into_bytes(), WAIT)
        .await
        .unwrap()
        .expect("a reply");
    i64::from_le_bytes(reply[..8].try_into().unwrap())
}

/// Asks the watcher to demonitor `id`; the import's result.
async fn demonitor(watcher: &ComponentRef, id: i64) -> i32 {
    let mut payload = b"d".to_vec();
    payload.extend_from_slice(&id.to_le_bytes());
    let reply = watcher
        .request(payload, WAIT)
        .await
        .unwrap()
        .expect("a reply");
    i32::from_le_bytes(reply[..4].try_into().unwrap())
}

/// The next down the watcher's guest received.
async fn next_down(downs: &mut Subscription<TopicMessage>) -> DownNotice {
    let message = timeout(WAIT, downs.recv()).await.unwrap().unwrap();
    codec::decode_json(&message.payload.payload).unwrap()
}

#[tokio::test]
async fn a_component_learns_that_a_component_it_monitors_stopped() {
    let host = host(8);
    host.spawn(spec("echo", "echo")).await.unwrap();
    let (watcher, mut downs) = watcher(&host, &["echo"]).await;
    let id = monitor(&watcher, "echo").await;
    assert!(id > 0, "a monitor id, got {id}");
    // Data still reaches the guest as data.
    let reply = watcher.request(&b"hello"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"data"[..]));
    host.stop("echo").await.unwrap();
    let down = next_down(&mut downs).await;
    assert_eq!(
        down,
        DownNotice {
            monitor: u64::try_from(id).unwrap(),
            component: "echo".into(),
            reason: "shutdown".into(),
            detail: String::new(),
        }
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_crash_is_a_down_with_reason_failed_and_ends_the_monitor() {
    let host = host(8);
    let crasher = host.spawn(spec("crasher", "crasher")).await.unwrap();
    let (watcher, mut downs) = watcher(&host, &["crasher"]).await;
    let first = monitor(&watcher, "crasher").await;
    crasher.send(&b"crash"[..]).await.unwrap();
    let down = next_down(&mut downs).await;
    assert_eq!(down.monitor, u64::try_from(first).unwrap());
    assert_eq!(
        (down.component.as_str(), down.reason.as_str()),
        ("crasher", "failed")
    );
    assert!(!down.detail.is_empty(), "the cause is in the detail");
    // The restart ended the monitor: the next crash reaches only the
    // monitor made after the restart.
    let second = monitor(&watcher, "crasher").await;
    crasher.send(&b"crash"[..]).await.unwrap();
    let down = next_down(&mut downs).await;
    assert_eq!(down.monitor, u64::try_from(second).unwrap());
    assert_eq!(down.reason, "failed");
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn monitoring_a_component_that_does_not_exist_gives_a_noproc_down_at_once() {
    let host = host(8);
    let (watcher, mut downs) = watcher(&host, &["ghost"]).await;
    let id = monitor(&watcher, "ghost").await;
    assert!(id > 0);
    let down = next_down(&mut downs).await;
    assert_eq!(
        (down.monitor, down.component.as_str(), down.reason.as_str()),
        (u64::try_from(id).unwrap(), "ghost", "noproc")
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn monitoring_a_component_outside_the_allow_list_is_denied_and_counted() {
    let host = host(8);
    host.spawn(spec("echo", "echo")).await.unwrap();
    let (watcher, _downs) = watcher(&host, &["billing"]).await;
    assert_eq!(monitor(&watcher, "echo").await, i64::from(codes::DENIED));
    let row = host
        .list()
        .into_iter()
        .find(|c| c.id.as_str() == "watcher")
        .unwrap();
    assert_eq!(row.denied, 1);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_demonitored_component_sends_no_down() {
    let host = host(8);
    host.spawn(spec("echo", "echo")).await.unwrap();
    let (watcher, mut downs) = watcher(&host, &["echo", "ghost"]).await;
    let id = monitor(&watcher, "echo").await;
    assert_eq!(demonitor(&watcher, id).await, 1);
    // Harmless the second time.
    assert_eq!(demonitor(&watcher, id).await, 0);
    host.stop("echo").await.unwrap();
    // Had echo's down been delivered, it would come before this one.
    let ghost = monitor(&watcher, "ghost").await;
    let down = next_down(&mut downs).await;
    assert_eq!(
        (down.monitor, down.reason.as_str()),
        (u64::try_from(ghost).unwrap(), "noproc")
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_down_queued_before_the_demonitor_is_dropped() {
    let host = host(8);
    let (watcher, mut downs) = watcher(&host, &["ghost"]).await;
    // In one call: monitor a component that does not exist (its noproc
    // down is queued at once, behind this call), then demonitor it.
    let reply = watcher
        .request(&b"xghost"[..], WAIT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(i32::from_le_bytes(reply[..4].try_into().unwrap()), 1);
    // Had the queued down reached the guest, it would come before this one.
    let ghost = monitor(&watcher, "ghost").await;
    let down = next_down(&mut downs).await;
    assert_eq!(down.monitor, u64::try_from(ghost).unwrap());
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn the_monitoring_component_s_restart_ends_its_monitors() {
    let host = host(8);
    host.spawn(spec("echo", "echo")).await.unwrap();
    let (watcher, mut downs) = watcher(&host, &["echo", "ghost"]).await;
    monitor(&watcher, "echo").await;
    host.restart("watcher", WAIT).await.unwrap();
    host.stop("echo").await.unwrap();
    let ghost = monitor(&watcher, "ghost").await;
    let down = next_down(&mut downs).await;
    assert_eq!(
        (down.monitor, down.reason.as_str()),
        (u64::try_from(ghost).unwrap(), "noproc"),
        "the earlier instance's monitor of echo ended with it"
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn monitors_leave_nothing_behind_on_demonitor_and_when_the_monitoring_side_stops() {
    let host = host(8);
    let echo = host.spawn(spec("echo", "echo")).await.unwrap();
    let (watcher, _downs) = watcher(&host, &["echo"]).await;
    let first = monitor(&watcher, "echo").await;
    monitor(&watcher, "echo").await;
    assert_eq!(echo.monitor_count(), 2);
    assert_eq!(demonitor(&watcher, first).await, 1);
    assert_eq!(echo.monitor_count(), 1);
    host.stop("watcher").await.unwrap();
    assert_eq!(
        echo.monitor_count(),
        0,
        "the stopped watcher's monitor is gone"
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn the_host_monitors_a_component_and_gets_its_down() {
    let host = host(8);
    let crasher = host.spawn(spec("crasher", "crasher")).await.unwrap();
    let monitor = host.monitor("crasher");
    assert_eq!(monitor.component().as_str(), "crasher");
    crasher.send(&b"crash"[..]).await.unwrap();
    let down = timeout(WAIT, monitor).await.unwrap();
    assert!(
        matches!(down.reason, ExitReason::Failed(_)),
        "{:?}",
        down.reason
    );
    // Stopped for good: the next one is a shutdown.
    let monitor = host.monitor("crasher");
    host.stop("crasher").await.unwrap();
    assert_eq!(
        timeout(WAIT, monitor).await.unwrap().reason,
        ExitReason::Shutdown
    );
    assert_eq!(
        timeout(WAIT, host.monitor("crasher")).await.unwrap().reason,
        ExitReason::NoProc
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_component_model_guest_monitors_through_the_wit_import() {
    let host = host(8);
    host.spawn(spec("echo", "echo")).await.unwrap();
    let mut downs = host.broker().subscribe("watch.down").unwrap();
    let permissions = Permissions::deny_all()
        .allow_target("echo")
        .allow_subject(SubjectPattern::new("watch.>").unwrap());
    let watcher = host
        .spawn(ComponentSpec::new("watcher", component_fixture("watcher")).permissions(permissions))
        .await
        .unwrap();
    let area = |reply: Option<bytes::Bytes>| {
        let area = reply.expect("a reply");
        (area[0], u64::from_le_bytes(area[8..16].try_into().unwrap()))
    };
    // Denied: not in the allow-list (host-error case 4), and counted.
    let denied = area(watcher.request(&b"mbilling"[..], WAIT).await.unwrap());
    assert_eq!((denied.0, denied.1 & 0xff), (1, 4));
    let (tag, id) = area(watcher.request(&b"mecho"[..], WAIT).await.unwrap());
    assert_eq!(tag, 0, "monitor succeeded");
    host.stop("echo").await.unwrap();
    let down = next_down(&mut downs).await;
    assert_eq!(
        (down.monitor, down.component.as_str(), down.reason.as_str()),
        (id, "echo", "shutdown")
    );
    // Its down was delivered: demonitor says false.
    let mut payload = b"d".to_vec();
    payload.extend_from_slice(&id.to_le_bytes());
    let reply = watcher.request(payload, WAIT).await.unwrap().unwrap();
    assert_eq!(&reply[..], &[0]);
    let row = host
        .list()
        .into_iter()
        .find(|c| c.id.as_str() == "watcher")
        .unwrap();
    assert_eq!(row.denied, 1);
    host.shutdown(WAIT).await;
}
