//! Subscriptions made at run time across two hosts on one NATS server: a
//! component on host A that subscribes while it runs (its guest's
//! `subscribe` call, or `ComponentHost::subscribe`) receives what is
//! published on host B, keeps it across a restart, and stops receiving it
//! once unsubscribed.

mod nats_host;

use std::time::Duration;

use airssys_nats::NatsBroker;
use airssys_rt::broker::{MessageBroker, Subscription};
use airssys_testkit::NatsServer;
use airssys_wasm::{
    codes, ComponentHost, ComponentRef, ComponentSpec, Permissions, SubjectPattern, TopicMessage,
};
use nats_host::nats_host;

const WAIT: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The core fixture that subscribes on request (`s<pattern>`,
/// `u<pattern>`) and republishes each topic message, subject then payload,
/// on `seen`.
fn subscriber() -> ComponentSpec {
    let path = format!(
        "{}/../airssys-wasm/tests/fixtures/subscriber.wat",
        env!("CARGO_MANIFEST_DIR")
    );
    let grants = Permissions::deny_all()
        .allow_subject(SubjectPattern::new("seen").unwrap())
        .allow_subscribe(SubjectPattern::new("orders.>").unwrap());
    ComponentSpec::new("sub", std::fs::read(path).expect("fixture")).permissions(grants)
}

/// Two hosts under one prefix, and a subscription of B's broker to `seen`
/// that the server already has.
async fn two_hosts(
    server: &NatsServer,
    prefix: &str,
) -> (
    (ComponentHost, NatsBroker<TopicMessage>),
    (ComponentHost, NatsBroker<TopicMessage>),
    Subscription<TopicMessage>,
) {
    let a = nats_host(&server.url(), prefix, None).await;
    let b = nats_host(&server.url(), prefix, None).await;
    let seen = b.1.subscribe("seen").unwrap();
    b.1.sync().await.unwrap();
    (a, b, seen)
}

async fn call(component: &ComponentRef, op: char, pattern: &str) -> i32 {
    let reply = component
        .request(format!("{op}{pattern}").into_bytes(), WAIT)
        .await
        .unwrap()
        .expect("a reply");
    i32::from_le_bytes(reply[..4].try_into().unwrap())
}

async fn next_seen(seen: &mut Subscription<TopicMessage>) -> String {
    let message = within("a republished message", seen.recv()).await.unwrap();
    String::from_utf8(message.payload.payload.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_subscribed_at_run_time_receives_what_another_host_publishes() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let prefix = format!("remote-subs-{}", std::process::id());
    let ((a, a_broker), (b, b_broker), mut seen) = two_hosts(&server, &prefix).await;
    let guest = a.spawn(subscriber()).await.unwrap();
    assert_eq!(call(&guest, 's', "orders.*").await, codes::OK);
    // The server has A's subscription once A's outbound queue is through.
    a_broker.sync().await.unwrap();
    b.publish("orders.eu", &b"from b"[..]).unwrap();
    assert_eq!(next_seen(&mut seen).await, "orders.eufrom b");

    // Still subscribed after a restart of the component.
    a.restart("sub", WAIT).await.unwrap();
    b.publish("orders.us", &b"after restart"[..]).unwrap();
    assert_eq!(next_seen(&mut seen).await, "orders.usafter restart");

    // Unsubscribed: what B publishes next reaches it no more. Proved in
    // one subscription's order: had A kept it, the next message on it
    // would be the one published before subscribing again.
    assert_eq!(call(&guest, 'u', "orders.*").await, 1);
    a_broker.sync().await.unwrap();
    b.publish("orders.eu", &b"after unsubscribe"[..]).unwrap();
    b_broker.sync().await.unwrap();
    assert_eq!(call(&guest, 's', "orders.*").await, codes::OK);
    a_broker.sync().await.unwrap();
    b.publish("orders.eu", &b"again"[..]).unwrap();
    assert_eq!(next_seen(&mut seen).await, "orders.euagain");
    assert_eq!(a.dead_letter_stats().total(), 0);
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_api_subscribes_a_component_to_what_another_host_publishes() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let prefix = format!("remote-subs-api-{}", std::process::id());
    let ((a, a_broker), (b, _b_broker), mut seen) = two_hosts(&server, &prefix).await;
    a.spawn(subscriber()).await.unwrap();
    assert!(a.subscribe("sub", "orders.>").unwrap());
    a_broker.sync().await.unwrap();
    b.publish("orders.eu.new", &b"via api"[..]).unwrap();
    assert_eq!(next_seen(&mut seen).await, "orders.eu.newvia api");
    // B's own components do not see A's subscription as theirs.
    assert_eq!(b.subscribers_of("orders.eu.new"), 0);
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}
