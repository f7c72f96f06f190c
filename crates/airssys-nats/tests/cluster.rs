//! The cluster's shared records on a real nats-server with JetStream:
//! membership, expiry of a dead host, compare-and-set ownership, fencing.

mod support;

use std::time::{Duration, Instant};

use airssys_nats::async_nats;
use airssys_nats::cluster::{Cluster, ClusterConfig, OwnerRecord};
use support::{within, NatsServer};

/// A nats-server with JetStream, storing in a temporary directory.
fn jetstream_server() -> Option<(NatsServer, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("js.conf");
    std::fs::write(
        &config,
        format!(
            "jetstream {{ store_dir: \"{}\" }}\n",
            dir.path().join("store").display()
        ),
    )
    .unwrap();
    NatsServer::start_with_config(&config).map(|s| (s, dir))
}

async fn host(url: &str, id: &str) -> (Cluster, async_nats::Client) {
    let client = async_nats::connect(url).await.unwrap();
    let cluster = Cluster::join(client.clone(), "app", ClusterConfig::new(id, 100))
        .await
        .unwrap();
    (cluster, client)
}

#[tokio::test]
async fn hosts_see_each_other_and_one_of_two_racing_claims_wins() {
    let Some((server, _dir)) = jetstream_server() else {
        return;
    };
    let (a, _ca) = host(&server.url(), "a").await;
    let (b, _cb) = host(&server.url(), "b").await;
    within("both hosts in both views", async {
        while a.live_hosts().len() < 2 || b.live_hosts().len() < 2 {
            a.changed(Duration::from_millis(50)).await;
        }
    })
    .await;
    let ids: Vec<String> = a.live_hosts().into_iter().map(|h| h.id).collect();
    assert_eq!(ids, ["a", "b"]);

    let ra = OwnerRecord::running("a", a.me().session);
    let rb = OwnerRecord::running("b", b.me().session);
    let (wa, wb) = tokio::join!(
        a.write_owner("u1", None, &ra),
        b.write_owner("u1", None, &rb)
    );
    let (wa, wb) = (wa.unwrap(), wb.unwrap());
    assert!(
        wa.is_some() != wb.is_some(),
        "exactly one claim wins: {wa:?} {wb:?}"
    );
    let winner = if wa.is_some() { "a" } else { "b" };
    within("the loser sees the winner", async {
        while b.owner("u1").map(|o| o.record.host) != Some(winner.to_owned())
            || a.owner("u1").map(|o| o.record.host) != Some(winner.to_owned())
        {
            b.changed(Duration::from_millis(50)).await;
        }
    })
    .await;
    // A compare-and-set against a stale revision changes nothing.
    let stale = a.owner("u1").unwrap().revision;
    let now = a
        .write_owner(
            "u1",
            Some(stale),
            &OwnerRecord::running("a", a.me().session),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(a
        .write_owner("u1", Some(stale), &ra)
        .await
        .unwrap()
        .is_none());
    assert!(a.release("u1", now).await.unwrap());
    assert!(a.owner("u1").is_none());
}

#[tokio::test]
async fn a_host_that_stops_beating_is_fenced_before_the_others_see_it_dead() {
    let Some((server, _dir)) = jetstream_server() else {
        return;
    };
    let (a, _ca) = host(&server.url(), "a").await;
    let (b, cb) = host(&server.url(), "b").await;
    within("both hosts in a's view", async {
        while a.live_hosts().len() < 2 {
            a.changed(Duration::from_millis(50)).await;
        }
    })
    .await;
    let b_lease = b.lease();
    assert!(b_lease.holds());
    // b's connection goes: no more heartbeats.
    cb.drain().await.unwrap();
    let cut = Instant::now();
    let fenced = within("b's lease to end", async {
        while b_lease.holds() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        cut.elapsed()
    })
    .await;
    let dead = within("a to see b dead", async {
        while a.live_hosts().iter().any(|h| h.id == "b") {
            a.changed(Duration::from_millis(20)).await;
        }
        cut.elapsed()
    })
    .await;
    let config = a.config();
    // A heartbeat sent just before the cut may still be confirmed after
    // it; the 5 ms polling adds its own lateness.
    assert!(
        fenced <= config.lease + config.heartbeat,
        "b fenced after {fenced:?}"
    );
    assert!(
        dead > fenced,
        "a saw b dead ({dead:?}) before b stopped acting ({fenced:?})"
    );
    assert!(
        dead < config.host_ttl + config.heartbeat * 3,
        "a saw b dead only after {dead:?}"
    );
    eprintln!("b fenced after {fenced:?}, seen dead after {dead:?}");
}

#[tokio::test]
async fn a_leaving_host_is_gone_at_once() {
    let Some((server, _dir)) = jetstream_server() else {
        return;
    };
    let (a, _ca) = host(&server.url(), "a").await;
    let (b, _cb) = host(&server.url(), "b").await;
    within("b in a's view", async {
        while a.live_hosts().len() < 2 {
            a.changed(Duration::from_millis(50)).await;
        }
    })
    .await;
    let left = Instant::now();
    b.leave().await;
    within("a to see b gone", async {
        while a.live_hosts().iter().any(|h| h.id == "b") {
            a.changed(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        left.elapsed() < a.config().host_ttl,
        "a saw the leave only after {:?}",
        left.elapsed()
    );
    assert!(!b.lease().holds());
}

/// A host that joins while an owner record is being rewritten sees the
/// last write: its first read of the owners bucket and its watch after it
/// leave no gap (a unit released in that moment must not stay "running
/// there" in the new host's view), and the first read does not stall on
/// a key overwritten while it is listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_joining_during_owner_writes_sees_the_last_one() {
    let Some((server, _dir)) = jetstream_server() else {
        return;
    };
    let url = server.url();
    let (a, _ca) = host(&url, "a").await;
    let mut record = OwnerRecord::running("a", a.me().session);
    let mut revision = a.write_owner("u", None, &record).await.unwrap();
    let writer = tokio::spawn(async move {
        for n in 0..300u32 {
            record.failures = n;
            revision = a
                .write_owner("u", revision, &record)
                .await
                .unwrap()
                .or(revision);
        }
        (a, revision)
    });
    let mut joined = Vec::new();
    for i in 0..8 {
        let started = Instant::now();
        let (b, cb) = host(&url, &format!("b{i}")).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "joining took {:?}",
            started.elapsed()
        );
        joined.push((b, cb));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (_a, last) = writer.await.unwrap();
    let last = last.unwrap();
    for (b, _) in &joined {
        within("the last owner write in every view", async {
            while b.owner("u").map(|o| o.revision) != Some(last) {
                b.changed(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert_eq!(b.owner("u").unwrap().record.failures, 299);
    }
}
