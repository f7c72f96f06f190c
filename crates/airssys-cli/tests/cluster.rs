//! Three `airssys run --cluster` processes on one manifest and a real
//! nats-server with JetStream: the hosts divide the components, a host
//! killed with `kill -9` has its components running again on the others
//! within the failover target, a host leaving on `SIGTERM` hands its
//! components over without losing a request, a host paused past its lease
//! handles nothing for components it no longer owns, and a restart of the
//! NATS server leaves every component running exactly once.
//!
//! Traffic is a plain NATS client's requests to every component, round
//! robin: each answered request is a message its component handled.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_nats::async_nats;
use airssys_nats::cluster::{OwnerRecord, UnitState};
use airssys_testkit::NatsServer;
use common::{announcements, spawn_airssys};
use parking_lot::Mutex;

const PREFIX: &str = "cl";
const WORKERS: usize = 6;

/// A nats-server with JetStream in a temporary directory, and that
/// directory (with the manifest beside it).
fn setup() -> Option<(NatsServer, tempfile::TempDir)> {
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
    let server = NatsServer::start_with_config(&config)?;
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orders/pricing.wat");
    std::fs::copy(example, dir.path().join("worker.wat")).unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        format!(
            r#"
[host]
max_components = 16
shutdown_timeout = "3s"

[broker]
prefix = "{PREFIX}"

[cluster]

[[component]]
name = "worker"
path = "worker.wat"
instances = {WORKERS}
"#
        ),
    )
    .unwrap();
    Some((server, dir))
}

fn worker_ids() -> Vec<String> {
    (0..WORKERS).map(|i| format!("worker-{i}")).collect()
}

/// Starts host `id` and waits until it says it is ready.
fn host(dir: &Path, url: &str, id: &str) -> Child {
    let manifest: PathBuf = dir.join("app.toml");
    let mut child = spawn_airssys([
        "run",
        manifest.to_str().unwrap(),
        "--nats",
        url,
        "--host-id",
        id,
        "--cluster",
        "--quiet",
    ]);
    announcements(&mut child, &["ready: "]);
    child
}

/// Sends `signal` to `child`.
fn signal(child: &Child, signal: &str) {
    assert!(Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

/// Stops `child` with `SIGTERM` and returns its summary; it must exit 0.
fn terminate(mut child: Child) -> String {
    signal(&child, "-TERM");
    let mut printed = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{printed}");
    printed
}

/// The owner record of every unit, read from the bucket.
async fn owners(js: &async_nats::jetstream::Context) -> BTreeMap<String, OwnerRecord> {
    use futures::TryStreamExt;
    let kv = js.get_key_value(format!("{PREFIX}_owners")).await.unwrap();
    let keys: Vec<String> = kv.keys().await.unwrap().try_collect().await.unwrap();
    let mut out = BTreeMap::new();
    for key in keys {
        if let Some(value) = kv.get(&key).await.unwrap() {
            out.insert(key, serde_json::from_slice(&value).unwrap());
        }
    }
    out
}

/// Which host runs each component, as each host in `hosts` reports it
/// (asked over its host subject): a component on two hosts appears twice.
async fn reported(client: &async_nats::Client, hosts: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for h in hosts {
        let subject = format!("{PREFIX}._airssys.host.{h}");
        let Ok(Ok(answer)) = tokio::time::timeout(
            Duration::from_secs(2),
            client.request(subject, r#"{"op":"list"}"#.into()),
        )
        .await
        else {
            continue;
        };
        let v: serde_json::Value = serde_json::from_slice(&answer.payload).unwrap();
        for c in v["components"].as_array().unwrap() {
            if c["state"] != "stopped" {
                out.push((c["id"].as_str().unwrap().to_owned(), (*h).to_owned()));
            }
        }
    }
    out.sort();
    out
}

/// Waits until every worker runs on exactly one of `hosts` (each asked),
/// and returns id → host.
async fn placed(client: &async_nats::Client, hosts: &[&str]) -> HashMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = reported(client, hosts).await;
        let ids: Vec<&String> = r.iter().map(|(id, _)| id).collect();
        let mut expected = worker_ids();
        expected.sort();
        if ids
            .iter()
            .map(|s| s.as_str())
            .eq(expected.iter().map(|s| s.as_str()))
        {
            return r.into_iter().collect();
        }
        assert!(
            Instant::now() < deadline,
            "workers not each on exactly one host: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Requests to every worker, round robin, every 2 ms, from a plain NATS
/// client: per worker, the instants of its successful answers and the
/// number of requests that failed.
struct Traffic {
    answered: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
    failed: Arc<Mutex<HashMap<String, u64>>>,
    running: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl Traffic {
    fn start(client: async_nats::Client) -> Self {
        let answered: Arc<Mutex<HashMap<String, Vec<Instant>>>> = Arc::default();
        let failed: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let running = Arc::new(AtomicBool::new(true));
        let (a, f, r) = (
            Arc::clone(&answered),
            Arc::clone(&failed),
            Arc::clone(&running),
        );
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            while r.load(Ordering::Relaxed) {
                let id = format!("worker-{}", n as usize % WORKERS);
                let payload = format!("m{n}");
                let asked =
                    client.request(format!("{PREFIX}.component.{id}"), payload.clone().into());
                let ok = match tokio::time::timeout(Duration::from_secs(2), asked).await {
                    Ok(Ok(reply)) => {
                        reply.headers.is_none()
                            && reply.payload.as_ref() == format!("priced:{payload}").as_bytes()
                    }
                    _ => false,
                };
                if ok {
                    a.lock().entry(id).or_default().push(Instant::now());
                } else {
                    *f.lock().entry(id).or_default() += 1;
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            n
        });
        Self {
            answered,
            failed,
            running,
            task,
        }
    }

    fn failed(&self) -> u64 {
        self.failed.lock().values().sum()
    }

    /// When `id` first answered after `since`.
    fn first_answer_after(&self, id: &str, since: Instant) -> Option<Instant> {
        self.answered
            .lock()
            .get(id)
            .and_then(|v| v.iter().find(|t| **t > since).copied())
    }

    async fn stop(self) -> u64 {
        self.running.store(false, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_divide_the_components_and_survive_a_kill_9() {
    let Some((server, dir)) = setup() else {
        return;
    };
    let url = server.url();
    let names = ["h1", "h2", "h3"];
    let mut hosts: HashMap<&str, Child> = names
        .iter()
        .map(|n| (*n, host(dir.path(), &url, n)))
        .collect();
    let client = async_nats::connect(&url).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let placement = placed(&client, &names).await;
    // Spread: every host runs some (the ranking of these ids is fixed).
    for n in names {
        assert!(
            placement.values().any(|h| h == n),
            "host {n} runs nothing: {placement:?}"
        );
    }
    // The records agree.
    let records = owners(&js).await;
    for (id, h) in &placement {
        let r = &records[&format!("c.{id}")];
        assert_eq!((&r.host, r.state), (h, UnitState::Running));
    }

    let traffic = Traffic::start(client.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(traffic.failed(), 0, "requests failed before any kill");

    // Kill the host with the most workers.
    let victim = *names
        .iter()
        .max_by_key(|n| placement.values().filter(|h| h == n).count())
        .unwrap();
    let moved: Vec<String> = placement
        .iter()
        .filter(|(_, h)| *h == victim)
        .map(|(id, _)| id.clone())
        .collect();
    let mut child = hosts.remove(victim).unwrap();
    let killed = Instant::now();
    child.kill().unwrap();
    child.wait().unwrap();

    let survivors: Vec<&str> = names.iter().copied().filter(|n| *n != victim).collect();
    let after = placed(&client, &survivors).await;
    for id in &moved {
        assert_ne!(after[id], victim);
    }
    // Kill to first handled message of each moved worker.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut failover = Vec::new();
    for id in &moved {
        loop {
            if let Some(t) = traffic.first_answer_after(id, killed) {
                failover.push(t - killed);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never answered after the kill"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lost = traffic.failed();
    let sent = traffic.stop().await;
    failover.sort();
    let (p50, max) = (percentile(&failover, 0.5), *failover.last().unwrap());
    eprintln!(
        "failover of {} workers: p50 {p50:?}, max {max:?}; {lost} of {sent} requests failed",
        moved.len()
    );
    assert!(p50 <= Duration::from_secs(2), "failover p50 {p50:?}");
    assert!(max <= Duration::from_secs(5), "failover max {max:?}");
    // Without durable delivery what is lost is what was sent to the dead
    // host's workers while nobody ran them: bounded by that window.
    let window_requests = (max.as_millis() as u64 / 2 + 1) * moved.len() as u64 / WORKERS as u64;
    assert!(
        lost <= window_requests + moved.len() as u64 * 2,
        "{lost} requests failed, more than the failover window explains ({window_requests})"
    );
    for (_, child) in hosts {
        terminate(child);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_leaving_on_sigterm_hands_its_components_over_without_losing_a_request() {
    let Some((server, dir)) = setup() else {
        return;
    };
    let url = server.url();
    let names = ["h1", "h2", "h3"];
    let mut hosts: HashMap<&str, Child> = names
        .iter()
        .map(|n| (*n, host(dir.path(), &url, n)))
        .collect();
    let client = async_nats::connect(&url).await.unwrap();
    let placement = placed(&client, &names).await;
    let traffic = Traffic::start(client.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let leaving = *names
        .iter()
        .max_by_key(|n| placement.values().filter(|h| h == n).count())
        .unwrap();
    let summary = terminate(hosts.remove(leaving).unwrap());
    assert!(summary.contains("accounted:"), "{summary}");
    let survivors: Vec<&str> = names.iter().copied().filter(|n| *n != leaving).collect();
    let after = placed(&client, &survivors).await;
    assert!(after.values().all(|h| h != leaving));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let failed = traffic.failed();
    let sent = traffic.stop().await;
    assert!(sent > 200, "only {sent} requests were sent");
    assert_eq!(
        failed, 0,
        "{failed} of {sent} requests failed across the hand-over"
    );
    for (_, child) in hosts {
        terminate(child);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_paused_past_its_lease_handles_nothing_it_no_longer_owns() {
    let Some((server, dir)) = setup() else {
        return;
    };
    let url = server.url();
    let names = ["h1", "h2"];
    let mut hosts: HashMap<&str, Child> = names
        .iter()
        .map(|n| (*n, host(dir.path(), &url, n)))
        .collect();
    let client = async_nats::connect(&url).await.unwrap();
    let placement = placed(&client, &names).await;
    let paused = "h1";
    let owned: Vec<String> = placement
        .iter()
        .filter(|(_, h)| *h == paused)
        .map(|(id, _)| id.clone())
        .collect();
    assert!(!owned.is_empty(), "{placement:?}");
    let before: HashMap<String, u64> = handled(&client, paused).await;

    let child = hosts.remove(paused).unwrap();
    signal(&child, "-STOP");
    let traffic = Traffic::start(client.clone());
    // Past the record's life: h2 takes everything over meanwhile.
    let after = placed(&client, &["h2"]).await;
    assert!(after.values().all(|h| h == "h2"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    // No new traffic from here: what h1 finds when it wakes up is what
    // reached it while it was paused.
    traffic.stop().await;
    signal(&child, "-CONT");
    tokio::time::sleep(Duration::from_secs(2)).await;
    // It was not handled there: dead-lettered `not_owner` instead.
    let summary = terminate(child);
    assert!(
        !summary.contains("not_owner=0"),
        "nothing reached the paused host?\n{summary}"
    );
    for id in &owned {
        let row = summary
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no row for {id}:\n{summary}"));
        let handled: u64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert_eq!(
            handled, before[id],
            "{id} handled messages on the fenced host:\n{summary}"
        );
    }
    // Each worker runs once, on h2 or (after it rejoined) h1.
    placed(&client, &names).await;
    for (_, child) in hosts {
        terminate(child);
    }
}

/// Component id → messages handled, as host `h` reports.
async fn handled(client: &async_nats::Client, h: &str) -> HashMap<String, u64> {
    let subject = format!("{PREFIX}._airssys.host.{h}");
    let answer = client
        .request(subject, r#"{"op":"list"}"#.into())
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&answer.payload).unwrap();
    v["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["handled"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_the_nats_server_leaves_every_component_running_once() {
    let Some((mut server, dir)) = setup() else {
        return;
    };
    let url = server.url();
    let names = ["h1", "h2"];
    let mut hosts: Vec<Child> = names.iter().map(|n| host(dir.path(), &url, n)).collect();
    let client = async_nats::connect(&url).await.unwrap();
    placed(&client, &names).await;
    server.restart().unwrap();
    // The client reconnects by itself.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = placed(&client, &names).await;
    assert_eq!(after.len(), WORKERS);
    for child in &mut hosts {
        assert!(child.try_wait().unwrap().is_none(), "a host exited");
    }
    let traffic = Traffic::start(client.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let failed = traffic.failed();
    traffic.stop().await;
    assert_eq!(failed, 0);
    for child in hosts {
        terminate(child);
    }
}
