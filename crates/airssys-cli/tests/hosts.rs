//! Two component hosts on one NATS server: requests by component id reach
//! the host that runs it, topics fan out to every host, an id no host runs
//! is NO_SUCH_TARGET, and a plain NATS client talks to a component.

mod nats_host;

use std::time::Duration;

use airssys_nats::{headers, NatsBroker};
use airssys_testkit::NatsServer;
use airssys_wasm::{codes, ComponentHost, ComponentSpec, Permissions, TopicMessage};
use bytes::Bytes;
use nats_host::nats_host;

const WAIT: Duration = Duration::from_secs(5);

/// Fails the test if `fut` does not finish within [`WAIT`].
async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../airssys-wasm/tests/fixtures/{name}.wat",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).expect("fixture")
}

async fn host(server: &NatsServer) -> (ComponentHost, NatsBroker<TopicMessage>) {
    nats_host(&server.url(), "app", None).await
}

/// Spawns the echo fixture as `responder` on `host` and waits until the
/// server has its subject, so other hosts reach it at once.
async fn spawn_responder(host: &ComponentHost, broker: &NatsBroker<TopicMessage>) {
    host.spawn(ComponentSpec::new("responder", fixture("echo")))
        .await
        .unwrap();
    broker.sync().await.unwrap();
}

fn requester() -> ComponentSpec {
    ComponentSpec::new("requester", fixture("requester"))
        .permissions(Permissions::deny_all().allow_target("responder"))
}

#[tokio::test]
async fn a_request_by_component_id_reaches_the_host_that_runs_it() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, broker_a) = host(&server).await;
    let (b, _) = host(&server).await;
    spawn_responder(&a, &broker_a).await;
    let requester = b.spawn(requester()).await.unwrap();

    let reply = requester.request(&b"across"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"across"[..]));
    assert_eq!(a.list()[0].handled, 1, "the responder on host a handled it");
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_request_to_another_host_is_checked_against_the_allow_list_first() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, broker_a) = host(&server).await;
    let (b, _) = host(&server).await;
    spawn_responder(&a, &broker_a).await;
    // Allowed to request "elsewhere" only: "responder" is denied, on
    // whichever host it runs, before anything goes on the wire.
    let denied = ComponentSpec::new("requester", fixture("requester"))
        .permissions(Permissions::deny_all().allow_target("elsewhere"));
    let requester = b.spawn(denied).await.unwrap();
    let reply = requester
        .request(&b"may I?"[..], WAIT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        i32::from_le_bytes(reply[..4].try_into().unwrap()),
        codes::DENIED
    );
    assert_eq!(a.component("responder").unwrap().stats().handled, 0);
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_request_to_an_id_no_host_runs_is_no_such_target_without_waiting() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (b, _) = host(&server).await;
    let requester = b.spawn(requester()).await.unwrap();
    let started = std::time::Instant::now();
    let reply = requester
        .request(&b"anyone?"[..], WAIT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        i32::from_le_bytes(reply[..4].try_into().unwrap()),
        codes::NO_SUCH_TARGET
    );
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "must not wait for the 1 s timeout"
    );
    b.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_topic_published_on_one_host_reaches_subscribers_on_every_host() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, broker_a) = host(&server).await;
    let (b, broker_b) = host(&server).await;
    // The counter fixture counts what it receives and answers the count.
    for (host, id) in [(&a, "count-a"), (&b, "count-b")] {
        host.spawn(ComponentSpec::new(id, fixture("counter")).subscribe("events.>"))
            .await
            .unwrap();
    }
    broker_a.sync().await.unwrap();
    broker_b.sync().await.unwrap();
    a.publish("events.one", &b"1"[..]).unwrap();
    b.publish("events.two", &b"2"[..]).unwrap();
    for (host, id) in [(&a, "count-a"), (&b, "count-b")] {
        let deadline = tokio::time::Instant::now() + WAIT;
        while host.component(id).unwrap().stats().handled < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} did not get both"
            );
            broker_a.sync().await.unwrap();
        }
    }
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_plain_nats_client_requests_a_component_by_its_subject() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, broker_a) = host(&server).await;
    spawn_responder(&a, &broker_a).await;

    // No airssys code on this side: the async-nats crate alone.
    let plain = airssys_nats::async_nats::connect(server.url())
        .await
        .unwrap();
    let reply = within(
        "the reply",
        plain.request("app.component.responder", Bytes::from_static(b"hello")),
    )
    .await
    .unwrap();
    assert_eq!(reply.payload, Bytes::from_static(b"hello"));
    let sender = reply.headers.as_ref().and_then(|h| h.get(headers::SENDER));
    assert_eq!(sender.map(|v| v.as_str()), Some("responder"));
    a.shutdown(WAIT).await;
}

#[tokio::test]
async fn the_facade_sends_and_requests_components_on_another_host() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, broker_a) = host(&server).await;
    let (b, broker_b) = host(&server).await;
    spawn_responder(&a, &broker_a).await;

    b.send("responder", &b"told"[..]).await.unwrap();
    let reply = b.request("responder", &b"asked"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"asked"[..]));
    // The request went after the send on one connection, so the send was
    // handled first.
    assert_eq!(a.component("responder").unwrap().stats().handled, 2);
    assert_eq!(b.dead_letter_stats().total(), 0);
    broker_b.sync().await.unwrap();
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_request_that_fails_on_the_other_host_is_a_typed_failure_at_once_not_a_timeout() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (a, broker_a) = host(&server).await;
    let (b, _) = host(&server).await;
    // The crasher traps on "crash" and returns code 7 on "fail".
    a.spawn(ComponentSpec::new("responder", fixture("crasher")))
        .await
        .unwrap();
    broker_a.sync().await.unwrap();

    // From the façade: the failure and its cause, long before the timeout.
    let timeout = Duration::from_secs(30);
    let started = std::time::Instant::now();
    let error = b
        .request("responder", &b"fail"[..], timeout)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, airssys_wasm::HostError::RemoteFailed { component, reason }
            if component.as_str() == "responder" && reason.contains('7')),
        "{error:?}"
    );
    assert!(started.elapsed() < WAIT, "took {:?}", started.elapsed());

    // From a guest: UNAVAILABLE, as for a local request whose handler
    // fails, within the requester's 1 s timeout.
    let requester = b.spawn(requester()).await.unwrap();
    let reply = requester
        .request(&b"crash"[..], WAIT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        i32::from_le_bytes(reply[..4].try_into().unwrap()),
        codes::UNAVAILABLE
    );
    // Both failures were dead-lettered where they happened, once each.
    let dead = a.dead_letter_stats();
    assert_eq!(dead.total(), 2, "{dead:?}");
    assert_eq!(b.dead_letter_stats().total(), 0);
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_facade_request_to_an_id_no_host_runs_is_unknown_and_hands_the_payload_back() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (b, _) = host(&server).await;
    let error = b.request("ghost", &b"anyone?"[..], WAIT).await.unwrap_err();
    assert!(
        matches!(&error, airssys_wasm::HostError::UnknownComponent { component, .. } if component.as_str() == "ghost"),
        "{error:?}"
    );
    assert_eq!(error.into_payload(), Some(Bytes::from_static(b"anyone?")));
    b.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_facade_send_to_an_id_that_makes_no_subject_is_unknown_and_hands_the_payload_back() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (b, broker_b) = host(&server).await;
    // `a.*` is no subject a component could be reached on: refused before
    // anything reaches the broker, with the payload.
    let error = b.send("a.*", &b"kept"[..]).await.unwrap_err();
    assert!(
        matches!(&error, airssys_wasm::HostError::UnknownComponent { component, .. } if component.as_str() == "a.*"),
        "{error:?}"
    );
    assert_eq!(error.into_payload(), Some(Bytes::from_static(b"kept")));
    assert_eq!(broker_b.stats().published, 0);
    b.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_send_to_an_id_no_host_runs_is_a_no_such_target_dead_letter() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let (b, broker_b) = host(&server).await;
    // Accepted: the sender cannot know at once whether some host runs it.
    b.send("ghost", &b"lost?"[..]).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while b.dead_letter_stats().no_such_target < 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server's no-responders answer was not counted"
        );
        // A round trip to the server: the no-responders answer, sent before
        // the pong, has arrived by the time it returns.
        broker_b.sync().await.unwrap();
        tokio::task::yield_now().await;
    }
    assert_eq!(b.dead_letter_stats().total(), 1);
    b.shutdown(WAIT).await;
}

#[tokio::test]
async fn hosts_survive_a_server_restart_and_resume_requests_by_id() {
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let (a, broker_a) = host(&server).await;
    let (b, broker_b) = host(&server).await;
    spawn_responder(&a, &broker_a).await;
    let reply = b.request("responder", &b"before"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"before"[..]));

    server.kill();
    for broker in [&broker_a, &broker_b] {
        let mut status = broker.connection_status();
        within(
            "the outage to be seen",
            status.wait_for(|s| s.state == airssys_nats::ConnectionState::Disconnected),
        )
        .await
        .unwrap();
    }
    let during = b.request("responder", &b"during"[..], WAIT).await;
    assert!(
        matches!(during, Err(airssys_wasm::HostError::Broker { .. })),
        "a request during the outage is a broker error at once: {during:?}"
    );

    server.restart().unwrap();
    for broker in [&broker_a, &broker_b] {
        let mut status = broker.connection_status();
        within(
            "the reconnection",
            status.wait_for(|s| s.state == airssys_nats::ConnectionState::Connected),
        )
        .await
        .unwrap();
        // The client subscribes again on reconnect; sync makes sure the
        // server has it.
        broker.sync().await.unwrap();
    }
    let reply = b.request("responder", &b"after"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"after"[..]));
    assert_eq!(a.component("responder").unwrap().stats().handled, 2);
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}
