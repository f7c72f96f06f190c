//! `airssys ctl` against a real `airssys run --control-addr`: one test per
//! verb, and the control API's authentication.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ECHO: &str = r#"(module
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param $ptr i32) (param $len i32) (result i32)
    (drop (call $reply
      (i32.add (i32.add (i32.add (local.get $ptr) (i32.const 24))
        (i32.load offset=4 (local.get $ptr))) (i32.load offset=8 (local.get $ptr)))
      (i32.load offset=12 (local.get $ptr))))
    i32.const 0))"#;

/// Replies `v2` to everything; `init` returns `init_code`.
fn v2(init_code: i32) -> String {
    format!(
        r#"(module
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "v2")
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "init") (result i32) (i32.const {init_code}))
  (func (export "handle-message") (param i32 i32) (result i32)
    (drop (call $reply (i32.const 16) (i32.const 2)))
    i32.const 0))"#
    )
}

const MANIFEST: &str = "[[component]]\nname = \"echo\"\npath = \"echo.wat\"\n\n\
[[component]]\nname = \"worker\"\npath = \"echo.wat\"\ninstances = 2\n\n\
[[component]]\nname = \"audit\"\npath = \"echo.wat\"\nsubscribe = [\"orders.>\"]\n";

/// A running `airssys run` with its control API; killed when dropped.
struct Host {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_with(extra: &[&str], token: Option<&str>) -> Host {
    start_manifest(MANIFEST, extra, token, Stdio::null())
}

fn start_manifest(text: &str, extra: &[&str], token: Option<&str>, stdout: Stdio) -> Host {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("echo.wat"), ECHO).unwrap();
    std::fs::write(dir.path().join("trapper.wat"), TRAPPER).unwrap();
    let manifest = dir.path().join("airssys.toml");
    std::fs::write(&manifest, text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airssys"));
    cmd.args([
        "run",
        manifest.to_str().unwrap(),
        "--duration",
        "60s",
        "--quiet",
    ])
    .args(extra)
    .env("RUST_LOG", "error")
    .env_remove("AIRSSYS_CONTROL_TOKEN")
    .stdout(stdout)
    .stderr(Stdio::piped());
    if let Some(t) = token {
        cmd.env("AIRSSYS_CONTROL_TOKEN", t);
    }
    let mut child = cmd.spawn().unwrap();
    let addr = common::announced(&mut child, "serving the control API on http://");
    Host { child, addr, dir }
}

fn start() -> Host {
    start_with(&["--control-addr", "127.0.0.1:0"], None)
}

impl Host {
    /// `airssys ctl <addr> <args>` with no token in the environment.
    fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_env(args, None)
    }

    fn ctl_env(&self, args: &[&str], token: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_airssys"));
        cmd.arg("ctl")
            .arg(&self.addr)
            .args(args)
            .env_remove("AIRSSYS_CONTROL_TOKEN");
        if let Some(t) = token {
            cmd.env("AIRSSYS_CONTROL_TOKEN", t);
        }
        cmd.output().unwrap()
    }

    /// `ctl` that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "ctl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The `list --json` row of `id`, if it runs.
    fn row(&self, id: &str) -> Option<serde_json::Value> {
        let list: serde_json::Value = serde_json::from_str(&self.ok(&["list", "--json"])).unwrap();
        list["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
    }

    /// Polls `list` until `check` holds for `id`'s row, or fails after 15 s.
    fn wait_for(&self, id: &str, what: &str, check: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let row = self.row(id).unwrap_or_default();
            if check(&row) {
                return;
            }
            assert!(Instant::now() < deadline, "{id}: never {what}: {row}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Traps on every message.
const TRAPPER: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param i32 i32) (result i32) unreachable))"#;

#[test]
fn a_component_waiting_out_its_backoff_is_restarting_not_failed() {
    let manifest = "[host]\nbackoff = { initial = \"4s\", max = \"4s\", jitter = 0.0 }\n\n\
        [[component]]\nname = \"flaky\"\npath = \"trapper.wat\"\n\n\
        [[component]]\nname = \"once\"\npath = \"trapper.wat\"\nrestart = \"temporary\"\n";
    let host = start_manifest(
        manifest,
        &["--control-addr", "127.0.0.1:0"],
        None,
        Stdio::null(),
    );
    host.ok(&["send", "flaky", "x"]);
    host.wait_for("flaky", "restarting", |r| r["state"] == "restarting");
    let row = host.row("flaky").unwrap();
    assert_eq!(row["restart"]["attempt"], 1, "{row}");
    assert_eq!(row["restart"]["backoff_ms"], 4000, "{row}");
    let table = host.ok(&["list"]);
    let line = table.lines().find(|l| l.starts_with("flaky")).unwrap();
    assert!(
        line.contains("restarting") && line.contains("(backoff 4s, 1st in a row)"),
        "{line}"
    );
    // Nobody restarts a temporary component: failed means given up. It
    // stays listed, saying why, until it is stopped or spawned again.
    host.ok(&["send", "once", "x"]);
    host.wait_for("once", "failed, ended", |r| {
        r["state"] == "failed" && r["ended"]["label"] == "exited"
    });
    let table = host.ok(&["list"]);
    let line = table.lines().find(|l| l.starts_with("once")).unwrap();
    assert!(line.contains("(exited: failed"), "{line}");
    // Once the backoff is over, a fresh incarnation.
    host.wait_for("flaky", "ready again", |r| {
        r["state"] == "ready" && r["restarts"] == 1
    });
}

#[test]
fn ctl_list_tree_shows_groups_with_strategy_intensity_and_components() {
    let manifest = "[host]\nintensity = { max_restarts = 4, within = \"10s\" }\n\n\
        [[group]]\nname = \"pipeline\"\nstrategy = \"rest_for_one\"\nintensity = { max_restarts = 2, within = \"5s\" }\n\n\
        [[component]]\nname = \"edge\"\npath = \"echo.wat\"\n\n\
        [[component]]\nname = \"stage\"\npath = \"trapper.wat\"\ngroup = \"pipeline\"\n";
    let host = start_manifest(
        manifest,
        &["--control-addr", "127.0.0.1:0"],
        None,
        Stdio::null(),
    );
    // One restart inside the group.
    host.ok(&["send", "stage", "x"]);
    host.wait_for("stage", "restarted", |r| r["restarts"] == 1);
    let tree = host.ok(&["list", "--tree"]);
    let lines: Vec<&str> = tree.lines().collect();
    assert!(
        lines[0].starts_with("components  one_for_one  restarts 0/4 in 10000ms"),
        "{tree}"
    );
    assert!(lines[1].trim_start().starts_with("edge"), "{tree}");
    assert!(
        lines[2].starts_with("  pipeline  rest_for_one  restarts 1/2 in 5000ms"),
        "{tree}"
    );
    assert!(lines[3].trim_start().starts_with("stage"), "{tree}");
}

#[test]
fn ctl_list_prints_a_table_and_json() {
    let host = start();
    let table = host.ok(&["list"]);
    assert!(table.starts_with("COMPONENT"), "{table}");
    for id in ["audit", "echo", "worker-0", "worker-1"] {
        let row = table
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{table}"));
        assert!(row.contains("ready"), "{row}");
    }
    let row = host.row("echo").unwrap();
    assert_eq!(row["state"], "ready");
    for field in ["restarts", "handled", "failed", "mailbox", "upgrades"] {
        assert_eq!(row[field], 0, "{row}");
    }
}

#[test]
fn ctl_hosts_on_a_host_outside_a_cluster_says_so() {
    let host = start();
    let out = host.ctl(&["hosts"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("409") && stderr.contains("this host is not part of a cluster"),
        "{stderr}"
    );
    // And `list` off a cluster names no host.
    let list: serde_json::Value = serde_json::from_str(&host.ok(&["list", "--json"])).unwrap();
    assert!(list.get("host").is_none(), "{list}");
}

#[test]
fn ctl_send_delivers_to_the_component() {
    let host = start();
    assert_eq!(host.ok(&["send", "echo", "hello"]).trim(), "sent to echo");
    host.wait_for("echo", "handled the message", |r| r["handled"] == 1);

    let out = host.ctl(&["send", "nobody", "hello"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("404") && stderr.contains("nobody"),
        "{stderr}"
    );
}

#[test]
fn ctl_request_prints_the_reply() {
    let host = start();
    assert_eq!(host.ok(&["request", "echo", "ping"]).trim(), "ping");
    let json: serde_json::Value = serde_json::from_str(&host.ok(&[
        "request",
        "worker-1",
        "pong",
        "--json",
        "--timeout",
        "2s",
    ]))
    .unwrap();
    assert_eq!(json["reply"], "pong");
    assert_eq!(json["component"], "worker-1");
}

#[test]
fn ctl_encodes_json_payloads_and_decodes_a_prefixed_reply() {
    let host = start();
    // echo replies with what it got: the multicodec JSON comes back and is
    // shown decoded.
    let out = host.ok(&[
        "request",
        "echo",
        r#"{"room": "porch", "n": [1, 2]}"#,
        "--encode",
        "json",
    ]);
    assert_eq!(out.trim(), r#"json {"n":[1,2],"room":"porch"}"#);
    let out = host.ok(&["request", "echo", r#"{"n": 5}"#, "--encode", "cbor"]);
    assert_eq!(out.trim(), r#"cbor {"n":5}"#);
    let json: serde_json::Value = serde_json::from_str(
        &host.ok(&["request", "echo", "[true]", "--encode", "json", "--json"]),
    )
    .unwrap();
    assert_eq!(json["reply_json"], serde_json::json!([true]));
    // Plain text stays plain.
    assert_eq!(host.ok(&["request", "echo", "ping"]).trim(), "ping");
    let refused = host.ctl(&["send", "echo", "{not json", "--encode", "json"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("the payload is not JSON"));
}

#[test]
fn ctl_publish_reaches_the_subscribers() {
    let host = start();
    let out = host.ok(&["publish", "orders.eu.new", "{}"]);
    // Components, not the run's own observers.
    assert!(
        out.starts_with("published on orders.eu.new: 1 subscriber(s) matched"),
        "{out}"
    );
    host.wait_for("audit", "handled the publication", |r| r["handled"] == 1);

    let out = host.ctl(&["publish", "orders.*", "{}"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("400"));
}

#[test]
fn what_enters_through_the_control_api_is_in_the_run_ledger() {
    let mut host = start_manifest(
        MANIFEST,
        &["--control-addr", "127.0.0.1:0"],
        None,
        Stdio::piped(),
    );
    host.ok(&["send", "worker-0", "a"]);
    host.ok(&["request", "worker-1", "b"]);
    host.ok(&["request", "echo", "c"]);
    host.ok(&["publish", "orders.eu", "d"]);
    host.wait_for("audit", "handled the publication", |r| r["handled"] == 1);
    // A graceful stop: the summary follows.
    let pid = host.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut host.child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(host.child.wait().unwrap().success(), "{stdout}");
    assert!(
        stdout.contains("control API: 3 sends and requests, 1 publishes"),
        "{stdout}"
    );
    assert!(
        stdout.contains("accounted: handled 4 + dead-lettered 0 = 4 of 4 delivered: ok"),
        "{stdout}"
    );
}

#[test]
fn ctl_stop_stops_the_component_for_good() {
    let host = start();
    assert_eq!(host.ok(&["stop", "worker-1"]).trim(), "stopped worker-1");
    assert!(host.row("worker-1").is_none());
    let out = host.ctl(&["stop", "worker-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
}

#[test]
fn ctl_restart_restarts_in_place() {
    let host = start();
    assert_eq!(host.ok(&["restart", "echo"]).trim(), "restarted echo");
    host.wait_for("echo", "restarted and ready", |r| {
        r["restarts"] == 1 && r["state"] == "ready"
    });
    assert_eq!(
        host.ok(&["request", "echo", "still here"]).trim(),
        "still here"
    );
}

#[test]
fn ctl_spawn_and_scale_follow_the_manifest_naming() {
    let host = start();
    assert_eq!(
        host.ok(&["spawn", "worker"]).trim(),
        "spawned worker-2 from worker"
    );
    assert_eq!(host.ok(&["request", "worker-2", "hi"]).trim(), "hi");

    let out = host.ok(&["scale", "echo", "3"]);
    assert_eq!(
        out.trim(),
        "echo: running [echo, echo-1, echo-2]; started [echo-1, echo-2]; stopped []"
    );
    let out = host.ok(&["scale", "worker", "1"]);
    assert_eq!(
        out.trim(),
        "worker: running [worker-0]; started []; stopped [worker-2, worker-1]"
    );
    assert!(host.row("worker-1").is_none());
    // `ctl specs`: each spec with the instances that run.
    let specs = host.ok(&["specs"]);
    assert!(specs.contains("echo: [echo, echo-1, echo-2]"), "{specs}");
    assert!(specs.contains("worker: [worker-0]"), "{specs}");

    let out = host.ctl(&["scale", "nothing", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
}

#[test]
fn ctl_upgrade_swaps_the_binary_and_a_failing_version_changes_nothing() {
    let host = start();
    let bad = host.dir.path().join("bad.wat");
    std::fs::write(&bad, v2(3)).unwrap();
    let out = host.ctl(&["upgrade", "worker", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("422") && stderr.contains("init failed with code 3"),
        "{stderr}"
    );
    assert_eq!(host.ok(&["request", "worker-0", "old"]).trim(), "old");
    assert_eq!(host.ok(&["request", "worker-1", "old"]).trim(), "old");

    let good = host.dir.path().join("v2.wat");
    std::fs::write(&good, v2(0)).unwrap();
    let out = host.ok(&["upgrade", "worker", good.to_str().unwrap()]);
    assert!(
        out.contains("upgraded worker-0 (upgrade #1; no state hand-over)"),
        "{out}"
    );
    assert!(out.contains("upgraded worker-1 (upgrade #1"), "{out}");
    assert_eq!(host.ok(&["request", "worker-0", "x"]).trim(), "v2");
    assert_eq!(host.row("worker-1").unwrap()["upgrades"], 1);
    // New instances of the spec run the new version.
    host.ok(&["scale", "worker", "3"]);
    assert_eq!(host.ok(&["request", "worker-2", "x"]).trim(), "v2");
}

#[test]
fn ctl_upgrade_under_a_drive_keeps_the_run_ledger_exact() {
    let manifest =
        format!("{MANIFEST}\n[[drive]]\nsend = \"worker\"\nevery = \"1ms\"\ncount = 600\n");
    let mut host = start_manifest(
        &manifest,
        &["--control-addr", "127.0.0.1:0", "--until-drives-done"],
        None,
        Stdio::piped(),
    );
    host.wait_for("worker-0", "got traffic", |r| {
        r["handled"].as_u64().is_some_and(|n| n >= 20)
    });
    let good = host.dir.path().join("v2.wat");
    std::fs::write(&good, v2(0)).unwrap();
    let out = host.ok(&["upgrade", "worker", good.to_str().unwrap()]);
    assert!(out.contains("upgraded worker-1"), "{out}");

    // The run ends by itself once the drive has sent its count.
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut host.child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(host.child.wait().unwrap().success(), "{stdout}");
    assert!(stdout.contains("ended: drives done"), "{stdout}");
    assert!(
        stdout.contains("injected 600 (600 deliveries, 0 refused)"),
        "{stdout}"
    );
    for id in ["worker-0", "worker-1"] {
        let row = stdout.lines().find(|l| l.starts_with(id)).unwrap();
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1..3], ["300", "300"], "{row}");
        assert_eq!(cols[5], "ok", "{row}");
    }
    assert!(stdout.contains("delivered: ok"), "{stdout}");
}

#[test]
fn the_control_api_refuses_a_missing_or_wrong_token() {
    let host = start_with(&["--control-addr", "127.0.0.1:0"], Some("s3cret"));
    for token in [None, Some("wrong"), Some("s3cre")] {
        let out = host.ctl_env(&["list"], token);
        assert_eq!(out.status.code(), Some(1), "{token:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("401"), "{token:?}: {stderr}");
    }
    let out = host.ctl_env(&["list"], Some("s3cret"));
    assert!(out.status.success());

    let file = host.dir.path().join("token");
    std::fs::write(&file, "s3cret\n").unwrap();
    assert!(host
        .ctl(&["list", "--token-file", file.to_str().unwrap()])
        .status
        .success());
}

/// One raw HTTP exchange with the control API at `addr` (`host:port`): the
/// status code and the body.
fn raw_http(addr: &str, request: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).unwrap().parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_control_api_bounds_the_head_and_the_body_and_answers_bad_requests_by_status() {
    let host = start();
    let addr = host.addr.as_str();
    // A head past 8 KiB: 431, nothing read further.
    let big = format!(
        "GET /v1/components HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(9000)
    );
    assert_eq!(raw_http(addr, big.as_bytes()).0, 431);
    // A body declared past 64 MiB: 413 at once, in JSON.
    let (code, body) = raw_http(
        addr,
        b"POST /v1/upgrade/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
    );
    assert_eq!(code, 413);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("exceeds the limit"));
    // Not HTTP: 400.
    assert_eq!(raw_http(addr, b"GARBAGE\r\n\r\n").0, 400);
    // A route with the wrong method: 405 naming the right one; none: 404.
    let (code, body) = raw_http(addr, b"PUT /v1/components HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (code, body.trim()),
        (405, r#"{"component":null,"error":"use GET"}"#)
    );
    let (code, _) = raw_http(addr, b"GET /v2 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(code, 404);
    // A chunked body is read (within the same bound).
    let (code, body) = raw_http(
        addr,
        b"POST /v1/components/echo/request HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""reply":"hello""#), "{body}");
}

#[test]
fn a_non_loopback_control_address_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("echo.wat"), ECHO).unwrap();
    let manifest = dir.path().join("airssys.toml");
    std::fs::write(&manifest, MANIFEST).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args([
            "run",
            manifest.to_str().unwrap(),
            "--duration",
            "1s",
            "--quiet",
        ])
        .args(["--control-addr", "0.0.0.0:0"])
        .env_remove("AIRSSYS_CONTROL_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("0.0.0.0:0") && stderr.contains("token"),
        "{stderr}"
    );
}

/// `airssys run` with its control API on every interface, `token` in the
/// environment, and `extra` arguments.
fn run_off_loopback(dir: &std::path::Path, extra: &[&str]) -> std::process::Child {
    std::fs::write(dir.join("echo.wat"), ECHO).unwrap();
    let manifest = dir.join("airssys.toml");
    std::fs::write(&manifest, MANIFEST).unwrap();
    Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args([
            "run",
            manifest.to_str().unwrap(),
            "--duration",
            "20s",
            "--quiet",
        ])
        .args(["--control-addr", "0.0.0.0:0"])
        .args(extra)
        .env("AIRSSYS_CONTROL_TOKEN", "s3cret")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn off_loopback_the_control_api_is_served_over_tls_and_ctl_checks_the_server() {
    let dir = tempfile::tempdir().unwrap();
    // A token alone is not enough: it would cross the network in clear.
    let out = run_off_loopback(dir.path(), &[])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("clear text") && stderr.contains("--control-tls-cert"),
        "{stderr}"
    );

    let pki = airssys_testkit::TestPki::generate(dir.path()).unwrap();
    let (cert, key) = (
        pki.server_cert.to_str().unwrap(),
        pki.server_key.to_str().unwrap(),
    );
    let mut child = run_off_loopback(
        dir.path(),
        &["--control-tls-cert", cert, "--control-tls-key", key],
    );
    let bound = common::announced(&mut child, "serving the control API on https://");
    let port = bound.rsplit_once(':').unwrap().1;
    let https = format!("https://127.0.0.1:{port}");
    let ctl = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_airssys"))
            .arg("ctl")
            .args(args)
            .env("AIRSSYS_CONTROL_TOKEN", "s3cret")
            .output()
            .unwrap()
    };
    let ca = pki.ca.to_str().unwrap();
    let out = ctl(&[&https, "list", "--ca-file", ca]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("echo"));
    // A server certificate nobody vouches for is refused, saying so.
    let out = ctl(&[&https, "list"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");
    // Plain HTTP to it gets no answer.
    let out = ctl(&[&format!("http://127.0.0.1:{port}"), "list"]);
    assert!(!out.status.success());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn ctl_monitor_prints_downs_as_they_happen_until_the_component_is_gone() {
    let host = start();
    // No such component: one noproc line at once, and done.
    assert_eq!(host.ok(&["monitor", "ghost"]).trim(), "ghost down: noproc");

    let mut monitor = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(["ctl", &host.addr, "monitor", "echo"])
        .env_remove("AIRSSYS_CONTROL_TOKEN")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = monitor.stdout.take().unwrap();
    let (lines, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    // Each restart is a down; restart until the monitor (made when its
    // request reaches the host) has seen one.
    let deadline = Instant::now() + Duration::from_secs(15);
    let first = loop {
        host.ok(&["restart", "echo"]);
        if let Ok(line) = printed.recv_timeout(Duration::from_millis(300)) {
            break line;
        }
        assert!(Instant::now() < deadline, "ctl monitor printed nothing");
    };
    assert_eq!(first, "echo down: failed (restart requested)");
    host.ok(&["stop", "echo"]);
    // Then the stop (or, if it came before the next poll, noproc), and
    // the command ends.
    let mut last = first;
    while let Ok(line) = printed.recv_timeout(Duration::from_secs(15)) {
        last = line;
        if !last.contains("failed") {
            break;
        }
    }
    assert!(
        last == "echo down: shutdown" || last == "echo down: noproc",
        "{last}"
    );
    assert!(monitor.wait().unwrap().success());
}

#[test]
fn ctl_subscribe_and_unsubscribe_change_a_components_topics_within_its_grants() {
    let manifest = "[[component]]\nname = \"quotes\"\npath = \"echo.wat\"\n\
        subscribe = [\"orders.>\"]\nallow_subscribe = [\"prices.>\"]\n";
    let host = start_manifest(
        manifest,
        &["--control-addr", "127.0.0.1:0"],
        None,
        Stdio::null(),
    );
    assert_eq!(
        host.ok(&["subscribe", "quotes", "prices.*"]).trim(),
        "quotes subscribed to prices.*; subscriptions: orders.>, prices.*"
    );
    assert_eq!(
        host.ok(&["subscribe", "quotes", "prices.*"]).trim(),
        "quotes subscribed to prices.* (already); subscriptions: orders.>, prices.*"
    );
    let out = host.ok(&["publish", "prices.eu", "1.5"]);
    assert!(out.contains(": 1 subscriber(s) matched"), "{out}");
    host.wait_for("quotes", "handled the price", |r| r["handled"] == 1);

    // Outside the grants: 403, naming the component and the pattern.
    let out = host.ctl(&["subscribe", "quotes", "audit.>"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("403") && err.contains("quotes") && err.contains("audit.>"),
        "{err}"
    );
    // Malformed: 400. No such component: 404.
    let out = host.ctl(&["subscribe", "quotes", "prices.>.x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("400"));
    let out = host.ctl(&["subscribe", "ghost", "prices.eu"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));

    // A restart keeps it.
    host.ok(&["restart", "quotes"]);
    host.wait_for("quotes", "restarted and ready", |r| {
        r["restarts"] == 1 && r["state"] == "ready"
    });
    assert_eq!(
        host.ok(&["subscriptions", "quotes"]).trim(),
        "quotes: orders.>, prices.*"
    );
    let out = host.ok(&["publish", "prices.us", "1.6"]);
    assert!(out.contains(": 1 subscriber(s) matched"), "{out}");
    host.wait_for("quotes", "handled the second price", |r| r["handled"] == 2);

    // Unsubscribed: nothing published afterwards reaches it; a spec
    // pattern can be ended too.
    assert_eq!(
        host.ok(&["unsubscribe", "quotes", "prices.*"]).trim(),
        "quotes unsubscribed from prices.*; subscriptions: orders.>"
    );
    let out = host.ok(&["publish", "prices.eu", "1.7"]);
    assert!(out.contains(": 0 subscriber(s) matched"), "{out}");
    assert_eq!(
        host.ok(&["unsubscribe", "quotes", "prices.*"]).trim(),
        "quotes was not subscribed to prices.*; subscriptions: orders.>"
    );
    let json: serde_json::Value =
        serde_json::from_str(&host.ok(&["unsubscribe", "quotes", "orders.>", "--json"])).unwrap();
    assert_eq!(json["removed"], true);
    assert_eq!(json["subscriptions"], serde_json::json!([]));
}
