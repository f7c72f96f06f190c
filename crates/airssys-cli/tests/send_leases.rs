//! Send leases between hosts, over a real NATS server: once the host that
//! runs a component has acknowledged a send, the next sends to it carry no
//! reply subject; when the component stops, every send is still accounted
//! for, on one host or the other.

mod nats_host;

use std::time::Duration;

use airssys_nats::async_nats;
use airssys_testkit::NatsServer;
use airssys_wasm::host::{ComponentHost, SEND_LEASE};
use airssys_wasm::ComponentSpec;
use futures::StreamExt;
use nats_host::nats_host;

/// Handles every message and does nothing else.
const SINK: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param i32 i32) (result i32) i32.const 0))"#;

const WAIT: Duration = Duration::from_secs(20);

/// Host A runs `sink`, host B sends to it; a plain client taps the sink's
/// subject and reports each message's reply subject.
async fn pair(
    server: &NatsServer,
    prefix: &str,
) -> (
    ComponentHost,
    airssys_wasm::ComponentRef,
    ComponentHost,
    (async_nats::Client, async_nats::Subscriber),
) {
    let (a, a_broker) = nats_host(&server.url(), prefix, None).await;
    let (b, b_broker) = nats_host(&server.url(), prefix, None).await;
    let tap_client = async_nats::connect(server.url()).await.unwrap();
    let tap = tap_client
        .subscribe(format!("{prefix}.component.sink"))
        .await
        .unwrap();
    tap_client.flush().await.unwrap();
    let sink = a
        .spawn(ComponentSpec::new("sink", SINK.as_bytes()))
        .await
        .unwrap();
    a_broker.sync().await.unwrap();
    b_broker.sync().await.unwrap();
    (a, sink, b, (tap_client, tap))
}

/// Sends from B until the tap sees one without a reply subject: the lease
/// B got from A's acknowledgement. Returns how many were sent.
async fn until_leased(b: &ComponentHost, tap: &mut async_nats::Subscriber) -> u64 {
    let mut sent = 0;
    tokio::time::timeout(WAIT, async {
        loop {
            b.send("sink", &b"x"[..]).await.unwrap();
            sent += 1;
            let seen = tap.next().await.unwrap();
            if seen.reply.is_none() {
                return;
            }
            let reply = seen.reply.unwrap();
            assert!(reply.starts_with("_INBOX.airssys-send."), "{reply}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("a send without a reply subject, once acknowledged");
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_acknowledged_sends_carry_no_reply_subject_until_the_lease_is_renewed() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let prefix = format!("leases-{}", std::process::id());
    let (a, sink, b, (_tap_client, mut tap)) = pair(&server, &prefix).await;
    let first = until_leased(&b, &mut tap).await;
    // Within the lease, sends do not ask.
    for _ in 0..100 {
        b.send("sink", &b"y"[..]).await.unwrap();
    }
    let mut asked = 0;
    for _ in 0..100 {
        if tap.next().await.unwrap().reply.is_some() {
            asked += 1;
        }
    }
    assert_eq!(
        asked, 0,
        "sends within a fresh lease carry no reply subject"
    );
    // Past the lease's renewal point, one send asks and the lease goes on:
    // sends keep flowing without a reply subject.
    tokio::time::sleep(SEND_LEASE + Duration::from_millis(100)).await;
    let renewed = until_leased(&b, &mut tap).await;
    let total = first + 100 + renewed;
    tokio::time::timeout(WAIT, async {
        while sink.stats().handled < total {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("every send handled");
    assert_eq!(sink.stats().handled, total);
    assert_eq!(
        a.dead_letter_stats().total() + b.dead_letter_stats().total(),
        0
    );
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_to_a_component_that_stopped_are_dead_lettered_on_one_host_or_the_other() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let prefix = format!("leases-stop-{}", std::process::id());
    let (a, sink, b, (tap_client, mut tap)) = pair(&server, &prefix).await;
    let mut sent = until_leased(&b, &mut tap).await;
    // The tap is an interest in the subject too: gone, so that the server
    // says "no responders" once the host's subscription goes.
    tap.unsubscribe().await.unwrap();
    tap_client.flush().await.unwrap();
    a.stop("sink").await.unwrap();
    // Longer than a lease and the host's grace after it: first the sends
    // reach A's subject still (A dead-letters them), then none does and
    // the server answers "no responders" (B dead-letters them).
    let sending = 2 * SEND_LEASE + Duration::from_millis(500);
    let until = tokio::time::Instant::now() + sending;
    while tokio::time::Instant::now() < until {
        b.send("sink", &b"z"[..]).await.unwrap();
        sent += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let accounted = || {
        sink.stats().handled
            + a.dead_letter_stats().actor_stopped
            + b.dead_letter_stats().no_such_target
    };
    tokio::time::timeout(WAIT, async {
        while accounted() < sent {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{} of {sent} sends accounted for: handled {}, A {:?}, B {:?}",
            accounted(),
            sink.stats().handled,
            a.dead_letter_stats(),
            b.dead_letter_stats()
        )
    });
    assert_eq!(accounted(), sent, "each send counted once");
    assert!(
        a.dead_letter_stats().actor_stopped > 0,
        "sends within the lease reach the stopped component's host"
    );
    assert!(
        b.dead_letter_stats().no_such_target > 0,
        "after the grace the server says no host runs it"
    );
    a.shutdown(WAIT).await;
    b.shutdown(WAIT).await;
}
