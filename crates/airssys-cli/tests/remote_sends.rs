//! Sends from one host to a component on another, over a real NATS
//! server: those that find the mailbox with room go straight into it,
//! those that find it full wait in the host's subscription queue, and the
//! component handles every one, in the order they were sent.

mod nats_host;

use std::sync::Arc;
use std::time::Duration;

use airssys_nats::{BytesCodec, NatsBroker};
use airssys_rt::broker::MessageBroker;
use airssys_testkit::NatsServer;
use airssys_wasm::host::ComponentHost;
use airssys_wasm::{ComponentSpec, Permissions, SubjectPattern, TopicMessage};
use bytes::Bytes;
use nats_host::nats_host;

/// Messages sent after the first.
const N: u32 = 2000;

/// Republishes every payload on `seen`; a one-byte payload first keeps it
/// busy (a long loop), so that the sends behind it find the mailbox full.
const SLOW_FIRST: &str = r#"(module
  (import "airssys" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "seen")
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param $m i32) (param $len i32) (result i32)
    (local $p i32) (local $n i32) (local $i i32)
    ;; the payload is at m + 24 + sender_len + subject_len, its length at m + 12
    (local.set $p (i32.add (i32.add (i32.add (local.get $m) (i32.const 24))
      (i32.load offset=4 (local.get $m))) (i32.load offset=8 (local.get $m))))
    (local.set $n (i32.load offset=12 (local.get $m)))
    (if (i32.eq (local.get $n) (i32.const 1))
      (then (loop $spin
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $spin (i32.lt_u (local.get $i) (i32.const 100000000))))))
    (drop (call $publish (i32.const 0) (i32.const 4) (local.get $p) (local.get $n)))
    i32.const 0))"#;

async fn host(url: &str, prefix: &str) -> (ComponentHost, NatsBroker<TopicMessage>) {
    nats_host(url, prefix, Some(N as usize + 16)).await
}

async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_that_find_the_mailbox_full_wait_in_the_queue_and_keep_their_order() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let prefix = format!("remote-sends-{}", std::process::id());
    let (a, a_broker) = host(&server.url(), &prefix).await;
    let (b, _b_broker) = host(&server.url(), &prefix).await;
    let observer = NatsBroker::builder(server.url(), Arc::new(BytesCodec))
        .prefix(prefix.as_str())
        .connect()
        .await
        .unwrap();
    let mut seen = observer
        .subscribe_with_capacity("seen", N as usize + 16)
        .unwrap();
    observer.sync().await.unwrap();

    let may_publish = Permissions::deny_all().allow_subject(SubjectPattern::new("seen").unwrap());
    a.spawn(
        ComponentSpec::new("slow", SLOW_FIRST.as_bytes())
            .mailbox_capacity(2)
            .permissions(may_publish),
    )
    .await
    .unwrap();
    a_broker.sync().await.unwrap();

    b.send("slow", Bytes::from_static(b"s")).await.unwrap();
    for i in 0..N {
        b.send("slow", Bytes::from(i.to_be_bytes().to_vec()))
            .await
            .unwrap();
    }

    let first = within("the first message", seen.recv()).await.unwrap();
    assert_eq!(first.payload, Bytes::from_static(b"s"));
    for i in 0..N {
        let next = within("the next message", seen.recv()).await.unwrap();
        assert_eq!(next.payload[..], i.to_be_bytes(), "order kept");
    }
    let stats = a_broker.stats();
    let total = u64::from(N) + 1;
    assert!(stats.direct >= 1, "the first send went direct: {stats:?}");
    assert!(
        stats.direct < total,
        "some sends found the mailbox full and were queued: {stats:?}"
    );
    assert_eq!(stats.dropped_full, 0);
    assert_eq!(a.dead_letter_stats().total(), 0);
    a.shutdown(Duration::from_secs(10)).await;
    b.shutdown(Duration::from_secs(10)).await;
}
