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
//!
//! Operating the cluster from one host: `ctl hosts` and `ctl list` show
//! every host and every component where it runs, `/health` and `/metrics`
//! the host's standing, and `ctl stop` of a component another host runs
//! stops it cluster-wide until `ctl restart`.

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
use parking_lot::Mutex;

const PREFIX: &str = "cl";

/// One test at a time: each runs several hosts, and the failover figures
/// mean something only on a machine the tests do not share with each other.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
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
allow_subscribe = ["jobs.>"]
"#
        ),
    )
    .unwrap();
    Some((server, dir))
}

fn worker_ids() -> Vec<String> {
    (0..WORKERS).map(|i| format!("worker-{i}")).collect()
}

/// Starts host `id` and waits until it says it is ready. Its log goes to
/// `<dir>/<id>.log` (info level), printed by [`show_logs`] when a test fails.
fn host(dir: &Path, url: &str, id: &str) -> Child {
    let manifest: PathBuf = dir.join("app.toml");
    let log = dir.join(format!("{id}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args([
            "run",
            manifest.to_str().unwrap(),
            "--nats",
            url,
            "--host-id",
            id,
            "--cluster",
            "--quiet",
            "--control-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info,airssys_wasm=warn,async_nats=warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("airssys starts");
    RUNNING.lock().push(child.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("ready: ")
    {
        assert!(Instant::now() < deadline, "host {id} never got ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// The three hosts most tests run.
const NAMES: [&str; 3] = ["h1", "h2", "h3"];

/// Starts hosts [`NAMES`] on the server at `url` (see [`host`]).
fn three_hosts(dir: &Path, url: &str) -> HashMap<&'static str, Child> {
    NAMES.iter().map(|n| (*n, host(dir, url, n))).collect()
}

/// `kill -9` of host `id`, taken out of `hosts`.
fn kill_9(hosts: &mut HashMap<&str, Child>, id: &str) {
    let mut child = hosts.remove(id).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    reaped(child.id());
}

/// Every payload `who` handled more than once (as recorded by
/// `tests/fixtures/recorder.wat`: led by `R` when flagged as a
/// redelivery) was flagged at least once.
fn assert_repeats_flagged(who: &str, handled: &[String]) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for s in handled {
        *counts.entry(s.trim_start_matches('R')).or_default() += 1;
    }
    for (payload, times) in counts {
        if times > 1 {
            assert!(
                handled.iter().any(|s| s == &format!("R{payload}")),
                "{who} handled {payload} {times} times, never flagged as a redelivery"
            );
        }
    }
}

/// The address host `id` (started by [`host`]) announced after `prefix`
/// in its log: `"serving the control API on http://"` or `"serving
/// /metrics and /health on http://"`.
fn announced(dir: &Path, id: &str, prefix: &str) -> String {
    let log = std::fs::read_to_string(dir.join(format!("{id}.log"))).unwrap();
    log.lines()
        .find_map(|l| l.split_once(prefix).map(|(_, addr)| addr.trim().to_owned()))
        .unwrap_or_else(|| panic!("host {id} did not announce `{prefix}`:\n{log}"))
}

/// `airssys ctl <addr> <args> --json`: its JSON answer (the command must
/// succeed).
fn ctl_json(addr: &str, args: &[&str]) -> serde_json::Value {
    let out = common::airssys_ok(["ctl", addr].iter().chain(args).chain(&["--json"]));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Host processes started and not yet waited for: a failing test kills
/// them (a `Child` does not kill its process when dropped).
static RUNNING: parking_lot::Mutex<Vec<u32>> = parking_lot::Mutex::new(Vec::new());

/// The host process `pid` was waited for: not to be killed again.
fn reaped(pid: u32) {
    RUNNING.lock().retain(|p| *p != pid);
}

/// Prints every host's log of the test in `dir` and kills the hosts still
/// running (on failure).
struct ShowLogs<'a>(&'a Path);

impl Drop for ShowLogs<'_> {
    fn drop(&mut self) {
        // `AIRSSYS_SHOW_LOGS=1` shows the hosts' logs of passing tests too.
        if !std::thread::panicking() && std::env::var_os("AIRSSYS_SHOW_LOGS").is_none() {
            return;
        }
        for pid in RUNNING.lock().drain(..) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        for entry in std::fs::read_dir(self.0).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log") {
                eprintln!("==== {}", path.display());
                eprintln!("{}", std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
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
    let status = child.wait().unwrap();
    reaped(child.id());
    assert!(status.success(), "{printed}");
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
/// the same in three answers in a row (hosts that just joined have taken
/// their share), and returns id → host.
async fn placed(client: &async_nats::Client, hosts: &[&str]) -> HashMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut expected = worker_ids();
    expected.sort();
    let mut same = 0;
    let mut last = Vec::new();
    loop {
        let r = reported(client, hosts).await;
        let ids: Vec<&str> = r.iter().map(|(id, _)| id.as_str()).collect();
        if ids == expected.iter().map(String::as_str).collect::<Vec<_>>() {
            same = if r == last { same + 1 } else { 0 };
            if same == 2 {
                return r.into_iter().collect();
            }
        }
        assert!(
            Instant::now() < deadline,
            "workers not each on exactly one host: {r:?}"
        );
        last = r;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Per worker, each answered request: when it was asked, when answered.
type Answers = Arc<Mutex<HashMap<String, Vec<(Instant, Instant)>>>>;

/// Requests to every worker from a plain NATS client: one task per
/// worker, one request at a time, each answered within `timeout` or
/// counted failed. Per worker: the instants of its answers and the number
/// of requests that failed.
struct Traffic {
    answered: Answers,
    failed: Arc<Mutex<HashMap<String, u64>>>,
    running: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<u64>>,
}

impl Traffic {
    fn start(client: async_nats::Client, timeout: Duration) -> Self {
        let answered: Answers = Arc::default();
        let failed: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let running = Arc::new(AtomicBool::new(true));
        let tasks = worker_ids()
            .into_iter()
            .map(|id| {
                let (a, f, r) = (
                    Arc::clone(&answered),
                    Arc::clone(&failed),
                    Arc::clone(&running),
                );
                let client = client.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while r.load(Ordering::Relaxed) {
                        let payload = format!("m{n}");
                        let asked_at = Instant::now();
                        let asked = client
                            .request(format!("{PREFIX}.component.{id}"), payload.clone().into());
                        let ok = match tokio::time::timeout(timeout, asked).await {
                            Ok(Ok(reply)) => {
                                reply
                                    .headers
                                    .as_ref()
                                    .is_none_or(|h| h.get("Airssys-Failure").is_none())
                                    && reply.payload.as_ref()
                                        == format!("priced:{payload}").as_bytes()
                            }
                            _ => false,
                        };
                        if ok {
                            a.lock()
                                .entry(id.clone())
                                .or_default()
                                .push((asked_at, Instant::now()));
                        } else {
                            *f.lock().entry(id.clone()).or_default() += 1;
                        }
                        n += 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    n
                })
            })
            .collect();
        Self {
            answered,
            failed,
            running,
            tasks,
        }
    }

    fn failed(&self) -> u64 {
        self.failed.lock().values().sum()
    }

    /// When `id` first answered a request asked after `since` (a reply in
    /// flight from before, e.g. from a host killed at `since`, does not
    /// count: it would make a failover look instant).
    fn first_answer_after(&self, id: &str, since: Instant) -> Option<Instant> {
        self.answered.lock().get(id).and_then(|v| {
            v.iter()
                .find(|(asked, _)| *asked > since)
                .map(|(_, at)| *at)
        })
    }

    /// Stops and returns how many requests were sent.
    async fn stop(self) -> u64 {
        self.running.store(false, Ordering::Relaxed);
        let mut sent = 0;
        for t in self.tasks {
            sent += t.await.unwrap();
        }
        sent
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_divide_the_components_and_survive_a_kill_9() {
    let _serial = SERIAL.lock().await;
    let Some((server, dir)) = setup() else {
        return;
    };
    let _logs = ShowLogs(dir.path());
    let url = server.url();
    let names = NAMES;
    let mut hosts = three_hosts(dir.path(), &url);
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

    // A request in flight to the killed host is never answered: a short
    // timeout, so that it does not hide when its worker is back.
    let traffic = Traffic::start(client.clone(), Duration::from_millis(300));
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
    reaped(child.id());

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
    // The target is p50 2 s (the release bench `failover` measures it:
    // 1.56 s); a debug build on a machine shared with other tests gets
    // some slack, never below the record's life (fencing).
    assert!(p50 <= Duration::from_secs(3), "failover p50 {p50:?}");
    assert!(
        p50 >= Duration::from_millis(1_000),
        "failover p50 {p50:?}: before the lease could end"
    );
    assert!(max <= Duration::from_secs(5), "failover max {max:?}");
    // Without durable delivery what is lost is what was sent to the dead
    // host's workers while nobody ran them: at most one request per 5 ms
    // per moved worker in that window (and one in flight at the kill).
    let window_requests = (max.as_millis() as u64 / 5 + 2) * moved.len() as u64;
    assert!(
        lost <= window_requests,
        "{lost} requests failed, more than the failover window explains ({window_requests})"
    );
    for (_, child) in hosts {
        terminate(child);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_leaving_on_sigterm_hands_its_components_over_without_losing_a_request() {
    let _serial = SERIAL.lock().await;
    let Some((server, dir)) = setup() else {
        return;
    };
    let _logs = ShowLogs(dir.path());
    let url = server.url();
    let names = NAMES;
    let mut hosts = three_hosts(dir.path(), &url);
    let client = async_nats::connect(&url).await.unwrap();
    let placement = placed(&client, &names).await;
    let traffic = Traffic::start(client.clone(), Duration::from_secs(2));
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
    let _serial = SERIAL.lock().await;
    let Some((server, dir)) = setup() else {
        return;
    };
    let _logs = ShowLogs(dir.path());
    let url = server.url();
    let names = ["h1", "h2"];
    let mut hosts: HashMap<&str, Child> = names
        .iter()
        .map(|n| (*n, host(dir.path(), &url, n)))
        .collect();
    let client = async_nats::connect(&url).await.unwrap();
    placed(&client, &names).await;
    let paused = "h1";
    // What h1 runs right before the pause (placement may still have been
    // settling a moment ago).
    let before: HashMap<String, u64> = handled(&client, paused).await;
    let owned: Vec<String> = before.keys().cloned().collect();
    assert!(!owned.is_empty(), "h1 runs nothing");

    let child = hosts.remove(paused).unwrap();
    signal(&child, "-STOP");
    // Sends to h1's workers while it is paused and still their owner on
    // record: the server hands them to h1's connection, where they wait.
    const SENDS: usize = 50;
    for id in &owned {
        for n in 0..SENDS {
            client
                .publish(format!("{PREFIX}.component.{id}"), format!("p{n}").into())
                .await
                .unwrap();
        }
    }
    client.flush().await.unwrap();
    // Past the record's life: h2 takes everything over meanwhile.
    let after = placed(&client, &["h2"]).await;
    assert!(after.values().all(|h| h == "h2"));
    signal(&child, "-CONT");
    tokio::time::sleep(Duration::from_secs(2)).await;
    // One lapse, one new session, renewed from there: not a new session on
    // every heartbeat (each one lapsed before the host accepted it).
    let log = std::fs::read_to_string(dir.path().join("h1.log")).unwrap();
    assert_eq!(
        log.matches("cluster lease lapsed").count(),
        1,
        "h1 rejoined more than once after one pause:\n{log}"
    );
    // h1 woke up with them, past its lease: none was handled there, each
    // was dead-lettered (`not_owner` if its component saw it first,
    // `actor_stopped` if h1 had stopped it already).
    let summary = terminate(child);
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
    let dead: usize = summary
        .lines()
        .find_map(|l| l.strip_prefix("dead letters: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no dead-letter line:\n{summary}"));
    assert!(
        dead >= SENDS * owned.len(),
        "{dead} dead letters for {} sends that reached the paused host:\n{summary}",
        SENDS * owned.len()
    );
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
    let _serial = SERIAL.lock().await;
    let Some((mut server, dir)) = setup() else {
        return;
    };
    let _logs = ShowLogs(dir.path());
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
    let traffic = Traffic::start(client.clone(), Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let failed = traffic.failed();
    traffic.stop().await;
    assert_eq!(failed, 0);
    for child in hosts {
        terminate(child);
    }
}

const CONTROL: &str = "serving the control API on http://";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_on_one_host_shows_every_host_and_every_component_where_it_runs() {
    let _serial = SERIAL.lock().await;
    let Some((server, dir)) = setup() else {
        return;
    };
    let _logs = ShowLogs(dir.path());
    let url = server.url();
    let names = ["h1", "h2", "h3"];
    let hosts: Vec<Child> = names.iter().map(|n| host(dir.path(), &url, n)).collect();
    let client = async_nats::connect(&url).await.unwrap();
    let placement = placed(&client, &names).await;
    let addr = announced(dir.path(), "h2", CONTROL);

    // `ctl hosts` from h2: all three, each with its control address and
    // the units it owns, which are what it runs.
    let answer = ctl_json(&addr, &["hosts"]);
    assert_eq!(answer["host"], "h2");
    let listed = answer["hosts"].as_array().unwrap();
    let ids: Vec<&str> = listed.iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(ids, names);
    for h in listed {
        let id = h["id"].as_str().unwrap();
        assert_eq!(h["control"], announced(dir.path(), id, CONTROL).as_str());
        assert_eq!(
            (h["ready"].as_bool(), h["leaving"].as_bool()),
            (Some(true), Some(false))
        );
        assert_eq!(h["this_host"], id == "h2");
        assert!(h["session"].as_str().is_some_and(|s| !s.is_empty()));
        let mut units: Vec<&str> = h["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap())
            .collect();
        units.sort();
        let mut expected: Vec<String> = placement
            .iter()
            .filter(|(_, on)| *on == id)
            .map(|(w, _)| format!("c.{w}"))
            .collect();
        expected.sort();
        assert_eq!(units, expected, "units of {id}");
    }
    let table = common::airssys_ok(["ctl", &addr, "hosts"]);
    for n in names {
        assert!(table.contains(n), "{table}");
    }

    // `ctl list` from h2: every worker exactly once, on its host.
    let answer = ctl_json(&addr, &["list"]);
    assert_eq!(answer["unreachable"], serde_json::json!([]));
    let rows = answer["components"].as_array().unwrap();
    let mut seen: Vec<(String, String)> = rows
        .iter()
        .map(|c| {
            assert_eq!(c["state"], "ready", "{c}");
            (
                c["id"].as_str().unwrap().to_owned(),
                c["host"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut expected: Vec<(String, String)> = placement.into_iter().collect();
    expected.sort();
    assert_eq!(seen, expected);
    let table = common::airssys_ok(["ctl", &addr, "list"]);
    assert!(table.starts_with("HOST"), "{table}");

    // `/health` and `/metrics` of h2: its standing in the cluster.
    let metrics = announced(dir.path(), "h2", "serving /metrics and /health on http://");
    let (code, body) = common::http_get(&metrics, "/health");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 200, "{body}");
    let here = expected.iter().filter(|(_, h)| h == "h2").count();
    assert_eq!(health["cluster"]["host"], "h2");
    assert_eq!(health["cluster"]["lease"], "holding");
    assert_eq!(health["cluster"]["live_hosts"], 3);
    assert_eq!(health["cluster"]["units_here"], here);
    let (_, text) = common::http_get(&metrics, "/metrics");
    assert!(text.contains("airssys_cluster_lease_holding 1"), "{text}");
    assert!(text.contains("airssys_cluster_live_hosts 3"), "{text}");
    assert!(
        text.contains(&format!("airssys_cluster_units_running {here}")),
        "{text}"
    );
    for child in hosts {
        terminate(child);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_stop_on_one_host_stops_a_component_another_runs_until_ctl_restart() {
    let _serial = SERIAL.lock().await;
    let Some((server, dir)) = setup() else {
        return;
    };
    let _logs = ShowLogs(dir.path());
    let url = server.url();
    let names = NAMES;
    let mut hosts = three_hosts(dir.path(), &url);
    let client = async_nats::connect(&url).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let placement = placed(&client, &names).await;
    let addr = announced(dir.path(), "h1", CONTROL);
    let (victim, runner) = placement
        .iter()
        .filter(|(_, h)| *h != "h1")
        .map(|(id, h)| (id.clone(), h.clone()))
        .min()
        .expect("h2 and h3 run some workers");

    let answer = ctl_json(&addr, &["stop", &victim]);
    assert_eq!(answer["host"], runner.as_str(), "{answer}");
    let record = &owners(&js).await[&format!("c.{victim}")];
    assert_eq!(record.state, UnitState::Stopped);
    // Still stopped after the host that ran it left (its other units
    // handed over): no host starts it again.
    terminate(hosts.remove(runner.as_str()).unwrap());
    let survivors: Vec<&str> = names.iter().copied().filter(|n| *n != runner).collect();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let running = reported(&client, &survivors).await;
        assert!(
            running.iter().all(|(id, _)| *id != victim),
            "{victim} runs again after ctl stop: {running:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = ctl_json(&addr, &["list"]);
    let row = listed["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == victim.as_str())
        .unwrap_or_else(|| panic!("{victim} not listed: {listed}"));
    assert_eq!(
        (&row["state"], &row["host"]),
        (&"stopped".into(), &serde_json::Value::Null)
    );

    // Restart from h1: placed again, on one of the hosts left.
    let answer = ctl_json(&addr, &["restart", &victim]);
    assert_eq!(answer["restarted"], true, "{answer}");
    let after = placed(&client, &survivors).await;
    assert!(survivors.contains(&after[&victim].as_str()));
    for (_, child) in hosts {
        terminate(child);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_restart_on_one_host_restarts_a_component_where_it_runs() {
    let _serial = SERIAL.lock().await;
    let Some((server, dir)) = setup() else {
        return;
    };
    let _logs = ShowLogs(dir.path());
    let url = server.url();
    let names = ["h1", "h2"];
    let hosts: Vec<Child> = names.iter().map(|n| host(dir.path(), &url, n)).collect();
    let client = async_nats::connect(&url).await.unwrap();
    let placement = placed(&client, &names).await;
    let addr = announced(dir.path(), "h1", CONTROL);
    let victim = placement
        .iter()
        .find(|(_, h)| *h == "h2")
        .map(|(id, _)| id.clone())
        .expect("h2 runs some workers");
    let restarts = |listed: &serde_json::Value| {
        listed["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == victim.as_str())
            .and_then(|c| c["restarts"].as_u64())
    };
    let before = restarts(&ctl_json(&addr, &["list"])).unwrap();
    let answer = ctl_json(&addr, &["restart", &victim]);
    assert_eq!(answer["host"], "h2", "{answer}");
    // The restart is counted once the fresh instance is up.
    let deadline = Instant::now() + Duration::from_secs(5);
    while restarts(&ctl_json(&addr, &["list"])) != Some(before + 1) {
        assert!(Instant::now() < deadline, "{victim} was not restarted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // It still runs on h2 alone, and answers.
    assert_eq!(placed(&client, &names).await[&victim], "h2");
    let reply = common::airssys_ok(["ctl", &addr, "request", &victim, "x"]);
    assert_eq!(reply.trim(), "priced:x");
    for child in hosts {
        terminate(child);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_subscribe_on_one_host_subscribes_a_component_another_runs() {
    let _serial = SERIAL.lock().await;
    let Some((server, dir)) = setup() else {
        return;
    };
    let _logs = ShowLogs(dir.path());
    let url = server.url();
    let names = ["h1", "h2"];
    let hosts: Vec<Child> = names.iter().map(|n| host(dir.path(), &url, n)).collect();
    let client = async_nats::connect(&url).await.unwrap();
    let placement = placed(&client, &names).await;
    let addr = announced(dir.path(), "h1", CONTROL);
    let victim = placement
        .iter()
        .find(|(_, h)| *h == "h2")
        .map(|(id, _)| id.clone())
        .expect("h2 runs some workers");

    // Asked of h1, done on h2, which says so.
    let answer = ctl_json(&addr, &["subscribe", &victim, "jobs.eu"]);
    assert_eq!(answer["host"], "h2", "{answer}");
    assert_eq!(answer["added"], true, "{answer}");
    assert_eq!(
        answer["subscriptions"],
        serde_json::json!(["jobs.eu"]),
        "{answer}"
    );
    let h2 = announced(dir.path(), "h2", CONTROL);
    let there = ctl_json(&h2, &["subscriptions", &victim]);
    assert_eq!(
        there["subscriptions"],
        serde_json::json!(["jobs.eu"]),
        "{there}"
    );
    // A publish from h1 reaches it on h2.
    let handled = |listed: &serde_json::Value| {
        listed["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == victim.as_str())
            .and_then(|c| c["handled"].as_u64())
    };
    let before = handled(&ctl_json(&addr, &["list"])).unwrap();
    ctl_json(&addr, &["publish", "jobs.eu", "x"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while handled(&ctl_json(&addr, &["list"])) != Some(before + 1) {
        assert!(
            Instant::now() < deadline,
            "{victim} did not get the publish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Outside its grants: h2's refusal comes back typed, as 403.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(["ctl", &addr, "subscribe", &victim, "orders.>"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("403") && err.contains(&victim), "{err}");

    let answer = ctl_json(&addr, &["unsubscribe", &victim, "jobs.eu"]);
    assert_eq!(
        (answer["removed"].clone(), answer["host"].clone()),
        (true.into(), "h2".into()),
        "{answer}"
    );
    for child in hosts {
        terminate(child);
    }
}

/// As [`setup`], with recorder workers (`tests/fixtures/recorder.wat`:
/// each publishes what it handled on `seen`) marked `durable = true`.
fn setup_durable() -> Option<(NatsServer, tempfile::TempDir)> {
    let (server, dir) = setup()?;
    let recorder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recorder.wat");
    std::fs::copy(recorder, dir.path().join("recorder.wat")).unwrap();
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
path = "recorder.wat"
instances = {WORKERS}
durable = true
publish = ["seen"]
"#
        ),
    )
    .unwrap();
    Some((server, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_sends_survive_a_kill_9_of_their_host_with_none_lost() {
    let _serial = SERIAL.lock().await;
    let Some((server, dir)) = setup_durable() else {
        return;
    };
    let _logs = ShowLogs(dir.path());
    let url = server.url();
    let names = NAMES;
    let mut hosts = three_hosts(dir.path(), &url);
    let client = async_nats::connect(&url).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let placement = placed(&client, &names).await;
    let mut seen_sub = client.subscribe(format!("{PREFIX}.seen")).await.unwrap();
    client.flush().await.unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let recorded = Arc::clone(&seen);
    let watcher = tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(m) = seen_sub.next().await {
            recorded
                .lock()
                .push(String::from_utf8_lossy(&m.payload).into_owned());
        }
    });

    // Stored sends, acknowledged by the stream one by one; a kill -9 of
    // the busiest host a third of the way in.
    const SENDS: usize = 600;
    let victim = *names
        .iter()
        .max_by_key(|n| placement.values().filter(|h| h == n).count())
        .unwrap();
    for n in 0..SENDS {
        if n == SENDS / 3 {
            kill_9(&mut hosts, victim);
        }
        let id = format!("worker-{}", n % WORKERS);
        js.publish(
            format!("{PREFIX}.durable.component.{id}"),
            format!("d{n}").into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    // Every stored send is handled, on one host or another, at least once.
    let deadline = Instant::now() + Duration::from_secs(20);
    let missing = loop {
        let handled: std::collections::HashSet<String> = seen
            .lock()
            .iter()
            .map(|s| s.trim_start_matches('R').to_owned())
            .collect();
        let missing: Vec<usize> = (0..SENDS)
            .filter(|n| !handled.contains(&format!("d{n}")))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let all = seen.lock().clone();
    let redelivered = all.iter().filter(|s| s.starts_with('R')).count();
    let duplicates = all.len() - SENDS.min(all.len());
    eprintln!(
        "durable: {SENDS} stored, {} handled ({redelivered} flagged redelivered, {duplicates} more than once), {} lost",
        all.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "lost: {missing:?}");
    // A message handled twice was handed out before the kill: the second
    // time it is flagged.
    assert_repeats_flagged("the workers", &all);
    watcher.abort();
    for (_, child) in hosts {
        terminate(child);
    }
}

/// Six single-instance recorders `worker-<i>` (each publishing what it
/// handled on its own subject `sw0<i>`), all subscribed to `jobs.*`, a
/// durable topic.
fn setup_durable_topic() -> Option<(NatsServer, tempfile::TempDir)> {
    let (server, dir) = setup()?;
    let recorder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recorder.wat");
    let text = std::fs::read_to_string(recorder).unwrap();
    let mut manifest = format!(
        r#"
[host]
max_components = 16
shutdown_timeout = "3s"

[broker]
prefix = "{PREFIX}"

[cluster]
topic_retention = "10m"

[[topic]]
subject = "jobs.>"
durable = true
"#
    );
    for i in 0..WORKERS {
        // Same length as `seen`: the guest's publish passes 4 bytes.
        let wat = text.replace("\"seen\"", &format!("\"sw0{i}\""));
        std::fs::write(dir.path().join(format!("recorder-{i}.wat")), wat).unwrap();
        manifest.push_str(&format!(
            r#"
[[component]]
name = "worker-{i}"
path = "recorder-{i}.wat"
subscribe = ["jobs.*"]
publish = ["sw0{i}"]
"#
        ));
    }
    std::fs::write(dir.path().join("app.toml"), manifest).unwrap();
    Some((server, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_topic_publishes_reach_every_subscriber_across_a_kill_9() {
    let _serial = SERIAL.lock().await;
    let Some((server, dir)) = setup_durable_topic() else {
        return;
    };
    let _logs = ShowLogs(dir.path());
    let url = server.url();
    let names = NAMES;
    let mut hosts = three_hosts(dir.path(), &url);
    let client = async_nats::connect(&url).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let placement = placed(&client, &names).await;
    // What each worker handled, by payload.
    let seen: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    let mut watchers = Vec::new();
    for id in worker_ids() {
        let i = id.trim_start_matches("worker-").to_owned();
        let mut sub = client.subscribe(format!("{PREFIX}.sw0{i}")).await.unwrap();
        let recorded = Arc::clone(&seen);
        watchers.push(tokio::spawn(async move {
            use futures::StreamExt;
            while let Some(m) = sub.next().await {
                recorded
                    .lock()
                    .entry(id.clone())
                    .or_default()
                    .push(String::from_utf8_lossy(&m.payload).into_owned());
            }
        }));
    }
    client.flush().await.unwrap();

    // Publishes stored by the stream one by one, a kill -9 of the busiest
    // host a third of the way in; then some through a surviving host's
    // control API (the host's own durable publish).
    const PUBLISHES: usize = 150;
    let victim = *names
        .iter()
        .max_by_key(|n| placement.values().filter(|h| h == n).count())
        .unwrap();
    let survivor = *names.iter().find(|n| **n != victim).unwrap();
    let addr = announced(dir.path(), survivor, "serving the control API on http://");
    let mut expected = Vec::new();
    for n in 0..PUBLISHES {
        if n == PUBLISHES / 3 {
            kill_9(&mut hosts, victim);
        }
        let payload = format!("p{n}");
        js.publish(
            format!("{PREFIX}.durable.topic.jobs.{n}"),
            payload.clone().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
        expected.push(payload);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for n in 0..5 {
        let payload = format!("c{n}");
        let answer = ctl_json(&addr, &["publish", "jobs.ctl", &payload]);
        assert_eq!(answer["matched"], WORKERS, "{answer}");
        expected.push(payload);
    }
    // Every worker handles every publish at least once, wherever it runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    let missing = loop {
        let handled = seen.lock().clone();
        let missing: Vec<(String, usize)> = worker_ids()
            .into_iter()
            .map(|id| {
                let got: std::collections::HashSet<&str> = handled
                    .get(&id)
                    .map(|v| v.iter().map(|s| s.trim_start_matches('R')).collect())
                    .unwrap_or_default();
                let lost = expected
                    .iter()
                    .filter(|p| !got.contains(p.as_str()))
                    .count();
                (id, lost)
            })
            .filter(|(_, lost)| *lost > 0)
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let handled = seen.lock().clone();
    let total: usize = handled.values().map(Vec::len).sum();
    let redelivered: usize = handled
        .values()
        .flatten()
        .filter(|s| s.starts_with('R'))
        .count();
    eprintln!(
        "durable topic: {} publishes x {WORKERS} subscribers, {total} handled ({redelivered} flagged redelivered), victim {victim} ran {:?}",
        expected.len(),
        placement.iter().filter(|(_, h)| *h == victim).map(|(id, _)| id).collect::<Vec<_>>()
    );
    assert!(
        missing.is_empty(),
        "not handled (worker, how many): {missing:?}"
    );
    // A worker handling a publish twice saw it flagged the second time.
    for (id, got) in &handled {
        assert_repeats_flagged(id, got);
    }
    for w in watchers {
        w.abort();
    }
    for (_, child) in hosts {
        terminate(child);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_nats_client_request_to_an_id_no_host_runs_fails_at_once() {
    let _serial = SERIAL.lock().await;
    let Some((server, dir)) = setup() else {
        return;
    };
    let _logs = ShowLogs(dir.path());
    let url = server.url();
    let h1 = host(dir.path(), &url, "h1");
    let client = async_nats::connect(&url).await.unwrap();
    placed(&client, &["h1"]).await;
    // The run's ledger and everything else of the host subscribe only what
    // they count: nobody answers for an id no host runs.
    let asked = Instant::now();
    let answer = client
        .request(format!("{PREFIX}.component.nosuch"), "x".into())
        .await;
    let error = answer.expect_err("nobody runs `nosuch`");
    assert_eq!(
        error.kind(),
        async_nats::client::RequestErrorKind::NoResponders,
        "{error}"
    );
    assert!(asked.elapsed() < Duration::from_secs(1));
    terminate(h1);
}

/// The count a `tally` component answers a request with.
async fn tally(client: &async_nats::Client) -> Option<u32> {
    let asked = client.request(format!("{PREFIX}.component.tally"), "count".into());
    match tokio::time::timeout(Duration::from_millis(500), asked).await {
        Ok(Ok(reply)) if reply.payload.len() == 4 => {
            Some(u32::from_le_bytes(reply.payload[..4].try_into().unwrap()))
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_keeps_its_count_across_a_kill_9_of_its_host() {
    const EVERY: u32 = 10;
    let _serial = SERIAL.lock().await;
    let Some((server, dir)) = setup() else {
        return;
    };
    let _logs = ShowLogs(dir.path());
    let tally_wat = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tally.wat");
    std::fs::copy(tally_wat, dir.path().join("tally.wat")).unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        format!(
            r#"
[host]
shutdown_timeout = "3s"

[broker]
prefix = "{PREFIX}"

[cluster]

[[component]]
name = "tally"
path = "tally.wat"
durable = true
snapshot_every = {EVERY}
"#
        ),
    )
    .unwrap();
    let url = server.url();
    let mut hosts: HashMap<&str, Child> = ["h1", "h2"]
        .iter()
        .map(|n| (*n, host(dir.path(), &url, n)))
        .collect();
    let client = async_nats::connect(&url).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let send = |n: u32| {
        let js = js.clone();
        async move {
            for i in 0..n {
                js.publish(
                    format!("{PREFIX}.durable.component.tally"),
                    format!("t{i}").into(),
                )
                .await
                .unwrap()
                .await
                .unwrap();
            }
        }
    };
    let wait_for = |at_least: u32| {
        let client = client.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(n) = tally(&client).await {
                    if n >= at_least {
                        return n;
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "the count never reached {at_least}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // 205 sends: 20 snapshots, 5 handled after the last.
    send(205).await;
    assert_eq!(wait_for(205).await, 205);
    let owner = owners(&js).await["c.tally"].host.clone();
    kill_9(&mut hosts, owner.as_str());
    send(100).await;
    // Restored from the last snapshot (200), the 5 handled after it
    // delivered again (unacknowledged until a snapshot covered them), then
    // the 100 new ones: exactly 305, or up to a snapshot's worth more if
    // the kill fell between a snapshot and its acknowledgements.
    let n = wait_for(305).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = tally(&client).await.unwrap();
    eprintln!("count after the kill: {settled} (305 sent)");
    assert!(
        (305..=305 + EVERY).contains(&settled),
        "count {settled} (first seen {n})"
    );
    for (_, child) in hosts {
        terminate(child);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_that_fails_on_every_host_is_marked_failed_not_moved_for_ever() {
    let _serial = SERIAL.lock().await;
    let Some((server, dir)) = setup() else {
        return;
    };
    let _logs = ShowLogs(dir.path());
    // `init` fails with code 7: the component never starts, on any host.
    std::fs::write(
        dir.path().join("broken.wat"),
        r#"(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "init") (result i32) (i32.const 7))
  (func (export "handle-message") (param i32 i32) (result i32) (i32.const 0)))"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("app.toml"),
        format!(
            r#"
[broker]
prefix = "{PREFIX}"

[cluster]
intensity = {{ max_restarts = 3, within = "60s" }}

[[component]]
name = "broken"
path = "broken.wat"
"#
        ),
    )
    .unwrap();
    let url = server.url();
    let hosts: Vec<Child> = ["h1", "h2"]
        .iter()
        .map(|n| host(dir.path(), &url, n))
        .collect();
    let client = async_nats::connect(&url).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let deadline = Instant::now() + Duration::from_secs(15);
    let record = loop {
        if let Some(r) = owners(&js).await.remove("c.broken") {
            if r.state == UnitState::Failed {
                break r;
            }
        }
        assert!(Instant::now() < deadline, "never marked failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(record.failures, 3, "{record:?}");
    assert!(
        record
            .last_failure
            .as_deref()
            .is_some_and(|f| f.contains("broken")),
        "{record:?}"
    );
    // And it stays so: nobody claims it again.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(owners(&js).await["c.broken"].state, UnitState::Failed);
    assert!(reported(&client, &["h1", "h2"]).await.is_empty());
    for child in hosts {
        terminate(child);
    }
}
