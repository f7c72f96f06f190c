//! Monitors across the hosts of a cluster: two `airssys run --cluster`
//! processes on a real nats-server with JetStream, a `watcher` component
//! on host `a` monitoring a `target` that runs on host `b` (placed there by
//! labels), through its guest's `monitor` import and through `airssys ctl
//! monitor` on `a` (`ComponentHost::monitor`). A restart of the target is
//! a down (`failed`) at both; `kill -9` of host `b` is a `noconnection`
//! down at both within the cluster's detection time, and `ctl monitor`
//! then finds the target nowhere (`noproc`: it requires host `b`'s label)
//! and ends.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use airssys_nats::async_nats;
use airssys_testkit::NatsServer;
use futures::StreamExt;

const PREFIX: &str = "clm";

/// The detection time of the cluster's default timings (`host_ttl` 1.5 s
/// after the last heartbeat, noticed within half a heartbeat), with room
/// for a shared machine; under [`airssys_wasm::host::ARM_WAIT`], so a
/// `noconnection` within it came from the host's loss, not from a request
/// nobody answered.
const DETECTION_BOUND: Duration = Duration::from_millis(4500);

/// Kills the hosts when the test ends, however it ends, and prints their
/// logs if it failed.
struct Hosts<'a> {
    dir: &'a Path,
    running: Vec<Child>,
}

impl Drop for Hosts<'_> {
    fn drop(&mut self) {
        for child in &mut self.running {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            for id in ["a", "b"] {
                let log = std::fs::read_to_string(self.dir.join(format!("{id}.log")));
                eprintln!("==== host {id}\n{}", log.unwrap_or_default());
            }
        }
    }
}

/// Starts host `id` with label `id` and waits until it is ready; its log
/// goes to `<dir>/<id>.log`.
fn host(dir: &Path, url: &str, id: &str) -> Child {
    let log = dir.join(format!("{id}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args([
            "run",
            dir.join("app.toml").to_str().unwrap(),
            "--nats",
            url,
            "--cluster",
            "--host-id",
            id,
            "--label",
            id,
            "--quiet",
            "--control-addr",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info,airssys_wasm=warn,async_nats=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("airssys starts");
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

/// Host `id`'s control address, from its log.
fn control(dir: &Path, id: &str) -> String {
    let log = std::fs::read_to_string(dir.join(format!("{id}.log"))).unwrap();
    log.lines()
        .find_map(|l| {
            l.split_once("serving the control API on http://")
                .map(|(_, addr)| addr.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("host {id} did not announce its control API:\n{log}"))
}

/// A NATS request to component `id` until it answers (it runs somewhere).
async fn answers(client: &async_nats::Client, id: &str, payload: &'static [u8]) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let asked = client.request(format!("{PREFIX}.component.{id}"), payload.into());
        if let Ok(Ok(reply)) = tokio::time::timeout(Duration::from_secs(1), asked).await {
            return reply.payload.to_vec();
        }
        assert!(Instant::now() < deadline, "{id} never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_of_a_component_on_a_killed_host_fires_noconnection() {
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
    let Some(server) = NatsServer::start_with_config(&config) else {
        return;
    };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../airssys-wasm/tests/fixtures");
    for guest in ["watcher", "echo"] {
        std::fs::copy(
            fixtures.join(format!("{guest}.wat")),
            dir.path().join(format!("{guest}.wat")),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("app.toml"),
        format!(
            r#"
[host]
max_components = 8
shutdown_timeout = "3s"

[broker]
prefix = "{PREFIX}"

[cluster]

[[component]]
name = "watcher"
path = "watcher.wat"
requires = ["a"]
send = ["target"]
publish = ["watch.>"]

[[component]]
name = "target"
path = "echo.wat"
requires = ["b"]
"#
        ),
    )
    .unwrap();
    let url = server.url();
    let mut hosts = Hosts {
        dir: dir.path(),
        running: Vec::new(),
    };
    hosts.running.push(host(dir.path(), &url, "a"));
    hosts.running.push(host(dir.path(), &url, "b"));
    let a = control(dir.path(), "a");

    let client = async_nats::connect(&url).await.unwrap();
    let mut downs = client
        .subscribe(format!("{PREFIX}.watch.down"))
        .await
        .unwrap();
    client.flush().await.unwrap();
    assert_eq!(answers(&client, "target", b"ping").await, b"ping");
    assert_eq!(answers(&client, "watcher", b"hello").await, b"data");

    // `airssys ctl monitor target` on host a: its monitor lives on b.
    let mut monitor = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(["ctl", &a, "monitor", "target"])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = monitor.stdout.take().unwrap();
    let (lines, printed) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if lines.send((Instant::now(), line.unwrap())).is_err() {
                return;
            }
        }
    });
    // The watcher's guest monitors the target through its import.
    let monitor_from_guest = || async {
        let id = answers(&client, "watcher", b"mtarget").await;
        i64::from_le_bytes(id[..8].try_into().unwrap())
    };
    let first = monitor_from_guest().await;
    assert!(first > 0, "a monitor id, got {first}");

    // A restart of the target on b is a down at both; restart until the
    // monitors (armed on b when their requests arrive) have seen one.
    let deadline = Instant::now() + Duration::from_secs(15);
    let line = loop {
        common::airssys_ok(["ctl", &a, "restart", "target"]);
        if let Ok((_, line)) = printed.recv_timeout(Duration::from_millis(300)) {
            break line;
        }
        assert!(Instant::now() < deadline, "ctl monitor printed nothing");
    };
    assert_eq!(line, "target down: failed (restart requested)");
    let down = tokio::time::timeout(Duration::from_secs(10), downs.next())
        .await
        .expect("the guest's down")
        .unwrap();
    let notice: serde_json::Value = serde_json::from_slice(&down.payload[2..]).unwrap();
    assert_eq!(notice["monitor"], first);
    assert_eq!(notice["component"], "target");
    assert_eq!(notice["reason"], "failed");
    // Further restarts (of the loop above) are not this monitor's.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), downs.next()).await {}
    while printed.try_recv().is_ok() {}

    // Watch the next incarnation from the guest (ctl monitor polls again
    // by itself); a request to the target over a's connection, after the
    // monitor requests, comes back once they are armed on b.
    let second = monitor_from_guest().await;
    common::airssys_ok(["ctl", &a, "request", "target", "ping"]);

    // kill -9 of host b: both monitors fire `noconnection` once the
    // cluster sees b gone.
    let mut b = hosts.running.pop().unwrap();
    let killed = Instant::now();
    b.kill().unwrap();
    b.wait().unwrap();
    let (at, line) = printed
        .recv_timeout(Duration::from_secs(10))
        .expect("ctl monitor's noconnection");
    assert_eq!(line, "target down: noconnection");
    eprintln!(
        "noconnection at ctl monitor {:?} after the kill",
        at.duration_since(killed)
    );
    assert!(
        at.duration_since(killed) < DETECTION_BOUND,
        "noconnection {:?} after the kill",
        at.duration_since(killed)
    );
    let down = tokio::time::timeout(Duration::from_secs(10), downs.next())
        .await
        .expect("the guest's noconnection")
        .unwrap();
    let seen = killed.elapsed();
    let notice: serde_json::Value = serde_json::from_slice(&down.payload[2..]).unwrap();
    assert_eq!(notice["monitor"], second);
    assert_eq!(notice["reason"], "noconnection");
    eprintln!("noconnection at the guest within {seen:?} of the kill");
    assert!(
        seen < DETECTION_BOUND,
        "noconnection {seen:?} after the kill"
    );
    // The target requires b's label: it runs nowhere now, so the next poll
    // of ctl monitor finds no such component, and it ends.
    let (_, line) = printed.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(line, "target down: noproc");
    assert!(monitor.wait().unwrap().success());
}
