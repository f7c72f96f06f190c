//! Links between components on one host: a guest links with another
//! through the `link` import (core ABI revision 3, the WIT world's
//! `messaging.link`); an abnormal end of one incarnation ends the other's,
//! unless it traps exits, when it gets an `_airssys.exit` message
//! (docs/core-abi.md, "Links"; docs/supervision.md).

mod common;

use std::time::Duration;

use airssys_rt::broker::Subscription;
use airssys_rt::supervisor::ExitReason;
use airssys_wasm::{
    codec, codes, ComponentHost, ComponentInfo, ComponentRef, ComponentSpec, ExitNotice,
    LifecycleState, Permissions, SubjectPattern, TopicMessage,
};
use common::{component_fixture, fixture, host};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// A linker component that may link with (and send to) `peers`, and
/// publishes the exits it receives on `link.exit`.
fn linker(id: &str, peers: &[&str]) -> ComponentSpec {
    let permissions = peers.iter().fold(
        Permissions::deny_all().allow_subject(SubjectPattern::new("link.>").unwrap()),
        |p, peer| p.allow_target(*peer),
    );
    ComponentSpec::new(id, fixture("linker").into_bytes()).permissions(permissions)
}

/// Asks `component` to link with `target`; the import's result.
async fn link(component: &ComponentRef, target: &str) -> i32 {
    call(component, 'l', target).await
}

/// Asks `component` to unlink `target`; the import's result.
async fn unlink(component: &ComponentRef, target: &str) -> i32 {
    call(component, 'u', target).await
}

async fn call(component: &ComponentRef, op: char, target: &str) -> i32 {
    let reply = component
        .request(format!("{op}{target}").into_bytes(), WAIT)
        .await
        .unwrap()
        .expect("a reply");
    i32::from_le_bytes(reply[..4].try_into().unwrap())
}

/// Crashes `component` (its guest traps) and waits until the host has
/// counted the failure.
async fn crash(host: &ComponentHost, component: &ComponentRef) {
    let down = host.monitor(component.id().as_str());
    component.send(&b"crash"[..]).await.unwrap();
    let reason = timeout(WAIT, down).await.unwrap().reason;
    assert!(matches!(reason, ExitReason::Failed(_)), "{reason:?}");
}

fn row(host: &ComponentHost, id: &str) -> ComponentInfo {
    host.list()
        .into_iter()
        .find(|c| c.id.as_str() == id)
        .unwrap()
}

/// Waits until component `id` is ready again after `restarts` restarts.
async fn ready_after(host: &ComponentHost, id: &str, restarts: u64) {
    timeout(WAIT, async {
        loop {
            let row = row(host, id);
            if row.restarts >= restarts && row.state == LifecycleState::Ready {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{id} did not come back after {restarts} restarts"));
}

/// The next exit the linker's guest published.
async fn next_exit(exits: &mut Subscription<TopicMessage>) -> ExitNotice {
    let message = timeout(WAIT, exits.recv()).await.unwrap().unwrap();
    codec::decode_json(&message.payload.payload).unwrap()
}

#[tokio::test]
async fn an_abnormal_end_of_a_linked_component_restarts_its_peer() {
    let host = host(8);
    let a = host.spawn(linker("a", &["b"])).await.unwrap();
    let b = host.spawn(linker("b", &[])).await.unwrap();
    assert_eq!(link(&a, "b").await, codes::OK);
    // Linking twice is harmless.
    assert_eq!(link(&a, "b").await, codes::OK);
    let a_down = host.monitor("a");
    crash(&host, &b).await;
    // a's incarnation ended because of the link, and its supervisor
    // restarted it, as it would after its own failure.
    let reason = timeout(WAIT, a_down).await.unwrap().reason;
    let ExitReason::Linked { reason: cause, .. } = &reason else {
        panic!("a ended with {reason:?}")
    };
    assert!(matches!(**cause, ExitReason::Failed(_)), "{cause:?}");
    ready_after(&host, "a", 1).await;
    ready_after(&host, "b", 1).await;
    let reply = a.request(&b"ping"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"data"[..]));

    // The link belonged to the incarnations that ended: b crashing again
    // leaves the fresh a alone.
    crash(&host, &b).await;
    ready_after(&host, "b", 2).await;
    let reply = a.request(&b"ping"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"data"[..]));
    assert_eq!(row(&host, "a").restarts, 1);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_peer_that_traps_exits_gets_each_end_as_a_message_and_stays_up() {
    let host = host(8);
    let mut exits = host.broker().subscribe("link.exit").unwrap();
    let trapper = host
        .spawn(linker("trapper", &["crasher", "quitter"]).trap_exits(true))
        .await
        .unwrap();
    let crasher = host.spawn(linker("crasher", &[])).await.unwrap();
    host.spawn(linker("quitter", &[])).await.unwrap();
    assert_eq!(link(&trapper, "crasher").await, codes::OK);
    assert_eq!(link(&trapper, "quitter").await, codes::OK);

    crash(&host, &crasher).await;
    let exit = next_exit(&mut exits).await;
    assert_eq!(
        (exit.component.as_str(), exit.reason.as_str()),
        ("crasher", "failed")
    );
    assert!(
        exit.detail.contains("unreachable"),
        "the cause: {}",
        exit.detail
    );

    // A normal end arrives too, when trapping.
    host.stop("quitter").await.unwrap();
    let exit = next_exit(&mut exits).await;
    assert_eq!(
        exit,
        ExitNotice {
            component: "quitter".into(),
            reason: "shutdown".into(),
            detail: String::new(),
        }
    );
    let reply = trapper.request(&b"ping"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"data"[..]));
    let row = row(&host, "trapper");
    assert_eq!(row.restarts, 0, "a trapping peer stays up");
    assert_eq!(row.failed, 0);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_normal_stop_does_not_propagate_over_a_link() {
    let host = host(8);
    let a = host.spawn(linker("a", &["b"])).await.unwrap();
    host.spawn(linker("b", &[])).await.unwrap();
    assert_eq!(link(&a, "b").await, codes::OK);
    host.stop("b").await.unwrap();
    // Anything b's end left for a is handled before this answer.
    let reply = a.request(&b"ping"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"data"[..]));
    assert_eq!(row(&host, "a").restarts, 0);
    assert_eq!(row(&host, "a").state, LifecycleState::Ready);
    // b is gone for good now: linking with it is no such target.
    assert_eq!(link(&a, "b").await, codes::NO_SUCH_TARGET);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_link_outside_the_allow_list_is_denied_and_counted() {
    let host = host(8);
    let a = host.spawn(linker("a", &["ghost"])).await.unwrap();
    let b = host.spawn(linker("b", &[])).await.unwrap();
    assert_eq!(link(&a, "b").await, codes::DENIED);
    assert_eq!(row(&host, "a").denied, 1);
    // Allowed, but no such component on this host.
    assert_eq!(link(&a, "ghost").await, codes::NO_SUCH_TARGET);
    assert_eq!(row(&host, "a").denied, 1);
    // The refused link made nothing: b's crash leaves a alone.
    crash(&host, &b).await;
    ready_after(&host, "b", 1).await;
    let reply = a.request(&b"ping"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"data"[..]));
    assert_eq!(row(&host, "a").restarts, 0);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn unlink_stops_the_propagation() {
    let host = host(8);
    let a = host.spawn(linker("a", &["b"])).await.unwrap();
    let b = host.spawn(linker("b", &[])).await.unwrap();
    assert_eq!(link(&a, "b").await, codes::OK);
    assert_eq!(unlink(&a, "b").await, 1);
    assert_eq!(unlink(&a, "b").await, 0, "no link any more");
    // Unlinking needs no allow-list entry (the other side may have made
    // the link): b has none, and is answered.
    assert_eq!(unlink(&b, "a").await, 0);
    assert_eq!(row(&host, "b").denied, 0);
    crash(&host, &b).await;
    ready_after(&host, "b", 1).await;
    let reply = a.request(&b"ping"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"data"[..]));
    assert_eq!(row(&host, "a").restarts, 0);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn the_host_links_two_components() {
    let host = host(8);
    let a = host.spawn(linker("a", &[])).await.unwrap();
    let b = host.spawn(linker("b", &[])).await.unwrap();
    assert!(matches!(
        host.link("a", "ghost"),
        Err(airssys_wasm::HostError::UnknownComponent { ref component, .. }) if component.as_str() == "ghost"
    ));
    host.link("a", "b").unwrap();
    let a_down = host.monitor("a");
    crash(&host, &b).await;
    assert!(matches!(
        timeout(WAIT, a_down).await.unwrap().reason,
        ExitReason::Linked { .. }
    ));
    ready_after(&host, "a", 1).await;
    // Linked again and unlinked from the host: nothing travels.
    host.link("a", "b").unwrap();
    assert!(host.unlink("b", "a"));
    assert!(!host.unlink("a", "b"));
    crash(&host, &b).await;
    ready_after(&host, "b", 2).await;
    let reply = a.request(&b"ping"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"data"[..]));
    assert_eq!(row(&host, "a").restarts, 1);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_component_model_guest_links_through_the_wit_import() {
    let host = host(8);
    let mut exits = host.broker().subscribe("link.exit").unwrap();
    let permissions = Permissions::deny_all()
        .allow_target("crasher")
        .allow_subject(SubjectPattern::new("link.>").unwrap());
    let trapper = host
        .spawn(
            ComponentSpec::new("trapper", component_fixture("linker"))
                .permissions(permissions)
                .trap_exits(true),
        )
        .await
        .unwrap();
    let crasher = host.spawn(linker("crasher", &[])).await.unwrap();
    let area = |reply: Option<bytes::Bytes>| {
        let area = reply.expect("a reply");
        (area[0], area[4])
    };
    // Denied (host-error case 4), and counted.
    let denied = area(trapper.request(&b"lbilling"[..], WAIT).await.unwrap());
    assert_eq!(denied, (1, 4));
    assert_eq!(
        area(trapper.request(&b"lcrasher"[..], WAIT).await.unwrap()).0,
        0,
        "linked"
    );
    crash(&host, &crasher).await;
    let exit = next_exit(&mut exits).await;
    assert_eq!(
        (exit.component.as_str(), exit.reason.as_str()),
        ("crasher", "failed")
    );
    assert_eq!(row(&host, "trapper").denied, 1);
    assert_eq!(row(&host, "trapper").restarts, 0);
    host.shutdown(WAIT).await;
}
