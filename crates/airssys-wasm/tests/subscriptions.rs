//! Topic subscriptions made at run time: a guest's `subscribe` /
//! `unsubscribe` calls (core ABI revision 4, and the WIT world's `topics`
//! interface) and `ComponentHost::subscribe` / `unsubscribe`, checked
//! against the component's subscribe grants, kept for the component across
//! its restarts (docs/components.md, "Subscriptions at run time").

mod common;

use std::time::Duration;

use airssys_rt::broker::Subscription;
use airssys_wasm::{
    codes, ComponentHost, ComponentRef, ComponentSpec, HostError, Permissions, SubjectPattern,
    TopicMessage,
};
use common::{component_fixture, fixture, host};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn pattern(p: &str) -> SubjectPattern {
    SubjectPattern::new(p).unwrap()
}

/// May publish what it receives on `seen`, and subscribe inside `grants`.
fn grants(grants: &[&str]) -> Permissions {
    grants.iter().fold(
        Permissions::deny_all().allow_subject(pattern("seen")),
        |p, g| p.allow_subscribe(pattern(g)),
    )
}

/// The core fixture `subscriber` as `id`, with `permissions`.
fn core_spec(id: &str, permissions: Permissions) -> ComponentSpec {
    ComponentSpec::new(id, fixture("subscriber").into_bytes()).permissions(permissions)
}

/// Spawns `spec` and subscribes the test to `seen`, where the guest
/// republishes each topic message it handles.
async fn spawn(
    host: &ComponentHost,
    spec: ComponentSpec,
) -> (ComponentRef, Subscription<TopicMessage>) {
    let seen = host.broker().subscribe("seen").unwrap();
    (host.spawn(spec).await.unwrap(), seen)
}

/// The guest's `subscribe` (`s`) or `unsubscribe` (`u`) of `pattern`: the
/// import's i32 result.
async fn call(component: &ComponentRef, op: char, pattern: &str) -> i32 {
    let reply = component
        .request(format!("{op}{pattern}").into_bytes(), WAIT)
        .await
        .unwrap()
        .expect("a reply");
    i32::from_le_bytes(reply[..4].try_into().unwrap())
}

/// The next thing the guest republished on `seen`.
async fn next_seen(seen: &mut Subscription<TopicMessage>) -> String {
    let message = timeout(WAIT, seen.recv()).await.expect("in time").unwrap();
    String::from_utf8(message.payload.payload.to_vec()).unwrap()
}

fn denied(host: &ComponentHost, id: &str) -> u64 {
    host.list()
        .into_iter()
        .find(|c| c.id.as_str() == id)
        .unwrap()
        .denied
}

#[tokio::test]
async fn a_guest_subscribes_at_run_time_and_receives_what_is_published() {
    let host = host(8);
    let (guest, mut seen) = spawn(&host, core_spec("sub", grants(&["orders.>"]))).await;
    assert_eq!(call(&guest, 's', "orders.*").await, codes::OK);
    assert_eq!(host.subscriptions("sub").unwrap(), ["orders.*"]);
    assert_eq!(host.subscribers_of("orders.eu"), 1);
    host.publish("orders.eu", &b"hello"[..]).unwrap();
    // The subject arrives with the payload.
    assert_eq!(next_seen(&mut seen).await, "orders.euhello");
    // Subscribing again changes nothing: one copy per publish.
    assert_eq!(call(&guest, 's', "orders.*").await, codes::OK);
    assert_eq!(host.subscribers_of("orders.eu"), 1);
    assert_eq!(denied(&host, "sub"), 0);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_subscription_outside_the_grants_is_denied_and_counted() {
    let host = host(8);
    let (guest, _seen) = spawn(&host, core_spec("sub", grants(&["orders.*"]))).await;
    // Wider than the grant, or beside it: denied, counted.
    assert_eq!(call(&guest, 's', "orders.>").await, codes::DENIED);
    assert_eq!(call(&guest, 's', "audit.eu").await, codes::DENIED);
    assert_eq!(denied(&host, "sub"), 2);
    // Malformed: an invalid argument, not a denial.
    assert_eq!(
        call(&guest, 's', "orders..eu").await,
        codes::INVALID_ARGUMENT
    );
    assert_eq!(
        call(&guest, 's', "orders.>.eu").await,
        codes::INVALID_ARGUMENT
    );
    assert_eq!(call(&guest, 'u', "").await, codes::INVALID_ARGUMENT);
    assert_eq!(denied(&host, "sub"), 2);
    assert!(host.subscriptions("sub").unwrap().is_empty());
    assert_eq!(host.subscribers_of("audit.eu"), 0);
    // Nothing granted at all: denied too.
    let (bare, _seen) = spawn(&host, core_spec("bare", Permissions::deny_all())).await;
    assert_eq!(call(&bare, 's', "orders.eu").await, codes::DENIED);
    assert_eq!(denied(&host, "bare"), 1);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_subscription_survives_restarts_and_a_live_upgrade_of_the_component() {
    let host = host(8);
    let (guest, mut seen) = spawn(&host, core_spec("sub", grants(&["orders.>"]))).await;
    assert_eq!(call(&guest, 's', "orders.*").await, codes::OK);
    host.restart("sub", WAIT).await.unwrap();
    assert_eq!(guest.stats().restarts, 1);
    host.publish("orders.eu", &b"after restart"[..]).unwrap();
    assert_eq!(next_seen(&mut seen).await, "orders.euafter restart");
    host.upgrade("sub", fixture("subscriber").into_bytes(), WAIT)
        .await
        .unwrap();
    host.publish("orders.us", &b"after upgrade"[..]).unwrap();
    assert_eq!(next_seen(&mut seen).await, "orders.usafter upgrade");
    assert_eq!(host.subscriptions("sub").unwrap(), ["orders.*"]);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn unsubscribe_stops_delivery_once_it_returns() {
    let host = host(8);
    let (guest, mut seen) = spawn(&host, core_spec("sub", grants(&["orders.>"]))).await;
    assert_eq!(call(&guest, 's', "orders.*").await, codes::OK);
    host.publish("orders.eu", &b"before"[..]).unwrap();
    assert_eq!(call(&guest, 'u', "orders.*").await, 1);
    // Published before: delivered. After: no subscription matches.
    assert_eq!(next_seen(&mut seen).await, "orders.eubefore");
    let report = host.publish("orders.eu", &b"after"[..]).unwrap();
    assert_eq!(report.matched, 0);
    assert_eq!(host.subscribers_of("orders.eu"), 0);
    assert!(host.subscriptions("sub").unwrap().is_empty());
    // Not subscribed (any more, or to a pattern never written so): 0.
    assert_eq!(call(&guest, 'u', "orders.*").await, 0);
    assert_eq!(call(&guest, 'u', "orders.eu").await, 0);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_component_leaving_a_shared_topic_leaves_the_others_on_it() {
    let host = host(8);
    let (a, mut seen) = spawn(&host, core_spec("a", grants(&["orders.>"]))).await;
    let b = host
        .spawn(core_spec("b", grants(&["orders.>"])))
        .await
        .unwrap();
    assert_eq!(call(&a, 's', "orders.*").await, codes::OK);
    assert_eq!(call(&b, 's', "orders.*").await, codes::OK);
    assert_eq!(host.subscribers_of("orders.eu"), 2);
    assert_eq!(call(&a, 'u', "orders.*").await, 1);
    assert_eq!(host.subscribers_of("orders.eu"), 1);
    host.publish("orders.eu", &b"one"[..]).unwrap();
    assert_eq!(next_seen(&mut seen).await, "orders.euone");
    // b handled it; a did not (both republish on `seen`).
    b.request(&b"sync"[..], WAIT).await.unwrap();
    a.request(&b"sync"[..], WAIT).await.unwrap();
    assert!(seen.try_recv().is_none(), "only b received it");
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn spawn_time_patterns_are_granted_and_can_be_ended_for_good() {
    let host = host(8);
    let spec = core_spec("sub", grants(&[])).subscribe("prices.*");
    let (guest, mut seen) = spawn(&host, spec).await;
    assert_eq!(host.subscriptions("sub").unwrap(), ["prices.*"]);
    assert_eq!(call(&guest, 'u', "prices.*").await, 1);
    // Ended, and a restart does not bring it back.
    host.restart("sub", WAIT).await.unwrap();
    assert!(host.subscriptions("sub").unwrap().is_empty());
    assert_eq!(host.publish("prices.eu", &b"x"[..]).unwrap().matched, 0);
    // Inside the spec's pattern: granted. Wider: not.
    assert_eq!(call(&guest, 's', "prices.eu").await, codes::OK);
    assert_eq!(call(&guest, 's', "prices.>").await, codes::DENIED);
    host.publish("prices.eu", &b"again"[..]).unwrap();
    assert_eq!(next_seen(&mut seen).await, "prices.euagain");
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_subscription_made_in_the_first_init_is_in_place_once_spawned() {
    let host = host(8);
    let spec = core_spec("sub", grants(&["jobs.>"])).config("subscribe", "jobs.*");
    let (_guest, mut seen) = spawn(&host, spec).await;
    assert_eq!(host.subscriptions("sub").unwrap(), ["jobs.*"]);
    host.publish("jobs.build", &b"go"[..]).unwrap();
    assert_eq!(next_seen(&mut seen).await, "jobs.buildgo");
    // Its restarts subscribe again in `init`: still one subscription.
    host.restart("sub", WAIT).await.unwrap();
    assert_eq!(host.subscribers_of("jobs.build"), 1);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn subscriptions_end_when_the_component_stops() {
    let host = host(8);
    let (guest, _seen) = spawn(&host, core_spec("sub", grants(&["orders.>"]))).await;
    assert_eq!(call(&guest, 's', "orders.*").await, codes::OK);
    host.stop("sub").await.unwrap();
    assert_eq!(host.subscribers_of("orders.eu"), 0);
    // A new component of the same id starts from its spec's list.
    host.spawn(core_spec("sub", grants(&["orders.>"])).subscribe("orders.us"))
        .await
        .unwrap();
    assert_eq!(host.subscriptions("sub").unwrap(), ["orders.us"]);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn the_host_api_subscribes_within_the_same_grants_and_names_what_it_refused() {
    let host = host(8);
    let (_guest, mut seen) = spawn(&host, core_spec("sub", grants(&["orders.>"]))).await;
    assert!(host.subscribe("sub", "orders.*").unwrap());
    assert!(!host.subscribe("sub", "orders.*").unwrap(), "already");
    host.publish("orders.eu", &b"host"[..]).unwrap();
    assert_eq!(next_seen(&mut seen).await, "orders.euhost");
    match host.subscribe("sub", "audit.>") {
        Err(HostError::SubscriptionDenied { component, pattern }) => {
            assert_eq!((component.as_str(), pattern.as_str()), ("sub", "audit.>"));
        }
        other => panic!("expected SubscriptionDenied, got {other:?}"),
    }
    // The counter counts the guest's own calls only.
    assert_eq!(denied(&host, "sub"), 0);
    match host.subscribe("sub", "orders.>.x") {
        Err(HostError::InvalidSubscription {
            component, pattern, ..
        }) => assert_eq!(
            (component.as_str(), pattern.as_str()),
            ("sub", "orders.>.x")
        ),
        other => panic!("expected InvalidSubscription, got {other:?}"),
    }
    assert!(matches!(
        host.subscribe("ghost", "orders.eu"),
        Err(HostError::UnknownComponent { .. })
    ));
    assert!(matches!(
        host.unsubscribe("ghost", "orders.eu").await,
        Err(HostError::UnknownComponent { .. })
    ));
    let error = host.subscribe("sub", "audit.>").unwrap_err().to_string();
    assert!(
        error.contains("sub") && error.contains("audit.>"),
        "{error}"
    );
    assert!(host.unsubscribe("sub", "orders.*").await.unwrap());
    assert!(!host.unsubscribe("sub", "orders.*").await.unwrap());
    assert_eq!(host.publish("orders.eu", &b"gone"[..]).unwrap().matched, 0);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_component_model_guest_subscribes_through_the_wit_import() {
    let host = host(8);
    let spec = ComponentSpec::new("sub", component_fixture("subscriber"))
        .permissions(grants(&["orders.>"]));
    let (guest, mut seen) = spawn(&host, spec).await;
    // (tag, the bool or the host-error case)
    let result = |reply: Option<bytes::Bytes>| {
        let area = reply.expect("a reply");
        (area[0], area[4])
    };
    let ask = |op: &'static str, p: &'static str| {
        let guest = guest.clone();
        async move {
            result(
                guest
                    .request(format!("{op}{p}").into_bytes(), WAIT)
                    .await
                    .unwrap(),
            )
        }
    };
    assert_eq!(ask("s", "audit.x").await, (1, 4), "denied");
    assert_eq!(ask("s", "orders..x").await, (1, 5), "invalid-argument");
    assert_eq!(denied(&host, "sub"), 1);
    assert_eq!(ask("s", "orders.*").await.0, 0);
    host.restart("sub", WAIT).await.unwrap();
    host.publish("orders.eu", &b"wit"[..]).unwrap();
    assert_eq!(next_seen(&mut seen).await, "wit");
    assert_eq!(ask("u", "orders.*").await, (0, 1));
    assert_eq!(ask("u", "orders.*").await, (0, 0));
    assert_eq!(host.publish("orders.eu", &b"gone"[..]).unwrap().matched, 0);
    host.shutdown(WAIT).await;
}
