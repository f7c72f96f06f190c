//! `airssys run` end to end: the example application, the endpoint, a root
//! supervisor that gives up, a binary refused before anything starts.

mod common;

use common::{airssys_ok, example, http_get, number_after};

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn example_runs_and_accounts_for_every_message() {
    let stdout = airssys_ok(["run", &example(), "--duration", "3s", "--quiet"]);
    assert!(stdout.contains("== summary =="), "{stdout}");
    assert!(stdout.contains("ended: duration elapsed"), "{stdout}");

    // Every observable delivery ended handled or dead-lettered.
    let handled = number_after(&stdout, "accounted: handled");
    let dead = number_after(&stdout, "+ dead-lettered");
    let delivered = number_after(&stdout, " of ");
    assert!(handled > 100, "{stdout}");
    assert_eq!(handled + dead, delivered, "{stdout}");
    assert!(stdout.contains("delivered: ok"), "{stdout}");

    // Exactly the poison orders (1 in 10 European ones, n % 10 == 9) were
    // dead-lettered, each crashed validator once, and the orders queued
    // behind them were handled by the restarted incarnation.
    let eu = number_after(&stdout, "drive publish orders.new.eu: injected");
    let us = number_after(&stdout, "drive publish orders.new.us: injected");
    let poison = eu / 10;
    assert!(poison >= 2, "{stdout}");
    assert_eq!(number_after(&stdout, "handler_failed="), poison, "{stdout}");
    // (A health check timing out on a loaded machine may add a restart.)
    assert!(number_after(&stdout, "restarts:") >= poison, "{stdout}");
    let validator = stdout
        .lines()
        .find(|l| l.starts_with("validator "))
        .unwrap();
    let cols: Vec<&str> = validator.split_whitespace().collect();
    assert_eq!(cols[1].parse::<u64>().unwrap(), eu + us, "{validator}");
    assert_eq!(
        cols[2].parse::<u64>().unwrap(),
        eu + us - poison,
        "{validator}"
    );
    assert_eq!(cols[5], "ok", "{validator}");
    // Every valid order was priced (request/reply) and shipped by both
    // shipping instances (fan-out on orders.priced.*).
    for id in ["pricing ", "shipping-0 ", "shipping-1 "] {
        let row = stdout.lines().find(|l| l.starts_with(id)).unwrap();
        let handled: u64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert_eq!(handled, eu + us - poison, "{row}");
    }
    // audit (orders.>) saw every new and every priced order.
    let audit = stdout.lines().find(|l| l.starts_with("audit ")).unwrap();
    let seen: u64 = audit.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(seen, (eu + us) + (eu + us - poison), "{audit}");
}

#[test]
fn metrics_and_health_are_served_during_a_run() {
    let (mut child, addr) = run_with_endpoint(&example(), "10s");

    let (code, body) = http_get(&addr, "/health");
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ready");
    for id in ["audit", "pricing", "shipping-0", "shipping-1", "validator"] {
        assert!(health["components"][id].is_string(), "{body}");
    }

    // Messages flow: the handled counter of audit grows between scrapes.
    let handled = |body: &str| -> Option<u64> {
        body.lines()
            .find(|l| l.starts_with("airssys_messages_handled_total{component=\"audit\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    let first = loop {
        let (code, body) = http_get(&addr, "/metrics");
        assert_eq!(code, 200);
        if let Some(n) = handled(&body).filter(|n| *n > 0) {
            assert!(body.contains("airssys_live_components 5"), "{body}");
            assert!(
                body.contains("airssys_dead_letters_total{reason=\"handler_failed\"}"),
                "{body}"
            );
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "audit never handled a message:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, body) = http_get(&addr, "/metrics");
        if handled(&body).unwrap() > first {
            break;
        }
        assert!(Instant::now() < deadline, "the counter did not move");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(http_get(&addr, "/nope").0, 404);

    let status = child.wait().unwrap();
    assert!(status.success());
}

fn write_app(dir: &std::path::Path, manifest: &str, guest: &str) -> String {
    std::fs::write(dir.join("guest.wat"), guest).unwrap();
    let path = dir.join("airssys.toml");
    std::fs::write(&path, manifest).unwrap();
    path.display().to_string()
}

const CRASHER: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param i32 i32) (result i32) unreachable))"#;

/// Handles a message of at most one byte of payload at once (its length is
/// at offset 12 of the message, docs/core-abi.md); a longer one spins until
/// its fuel runs out.
const SPINNER: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param i32 i32) (result i32)
    (if (i32.le_u (i32.load (i32.const 1036)) (i32.const 1)) (then (return (i32.const 0))))
    (loop $spin (br $spin))
    i32.const 0))"#;

#[test]
fn a_component_with_fuel_per_call_runs_and_traps_when_its_fuel_is_spent() {
    let dir = tempfile::tempdir().unwrap();
    // execution_timeout is long: the spin ends by fuel, not by the clock.
    let manifest = write_app(
        dir.path(),
        "[[component]]\nname = \"spinner\"\npath = \"guest.wat\"\n\
         limits = { fuel_per_call = 1000000, execution_timeout = \"60s\" }\n\n\
         [[drive]]\nsend = \"spinner\"\nevery = \"20ms\"\ncount = 4\n\
         payloads = [\"a\", \"spin\"]\n",
        SPINNER,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args([
            "run",
            &manifest,
            "--duration",
            "30s",
            "--quiet",
            "--until-drives-done",
        ])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    //                     delivered  handled  dead  restarts  balance
    let row: Vec<&str> = stdout
        .lines()
        .find(|l| l.starts_with("spinner "))
        .unwrap_or_else(|| panic!("{stdout}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[1..], ["4", "2", "2", "2", "ok"], "{stdout}");
}

/// Sends "x" to the component named "pricing" on every message, and
/// fails the message with code 7 when that is refused.
const SENDER: &str = r#"(module
  (import "airssys" "send" (func $send (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "pricingx")
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param i32 i32) (result i32)
    (if (i32.lt_s (call $send (i32.const 0) (i32.const 7) (i32.const 7) (i32.const 1)) (i32.const 0))
      (then (return (i32.const 7))))
    i32.const 0))"#;

#[test]
fn a_denied_host_call_is_logged_with_the_grant_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(
        dir.path(),
        "[[component]]\nname = \"sender\"\npath = \"guest.wat\"\n\n\
         [[component]]\nname = \"pricing\"\npath = \"guest.wat\"\nsend = [\"sender\"]\n\n\
         [[drive]]\nsend = \"sender\"\nevery = \"10ms\"\ncount = 3\n",
        SENDER,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args([
            "run",
            &manifest,
            "--duration",
            "30s",
            "--quiet",
            "--until-drives-done",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(r#"host call denied: send "pricing" needs send = ["pricing"]"#),
        "{stderr}"
    );
    // The 1st and 2nd refusals at warn; the 3rd only at debug.
    assert_eq!(stderr.matches("host call denied").count(), 2, "{stderr}");
}

#[test]
fn exit_code_is_non_zero_when_the_root_supervisor_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(
        dir.path(),
        "[host]\nintensity = { max_restarts = 2, within = \"10s\" }\n\n\
         [[component]]\nname = \"crasher\"\npath = \"guest.wat\"\n\n\
         [[drive]]\nsend = \"crasher\"\nevery = \"20ms\"\n",
        CRASHER,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(["run", &manifest, "--duration", "20s", "--quiet"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("ended: ROOT SUPERVISOR GAVE UP"),
        "{stdout}"
    );
}

#[test]
fn a_bad_binary_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(
        dir.path(),
        "[[component]]\nname = \"broken\"\npath = \"guest.wat\"\n",
        "(module (memory (export \"memory\") 1))",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(["run", &manifest, "--duration", "1s"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: component `broken` ("),
        "{stderr}"
    );
    assert!(
        stderr.contains("alloc") && stderr.contains("handle-message"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing ran: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn ctrl_c_shuts_down_gracefully_with_a_summary() {
    stops_gracefully_on("-INT", "ended: interrupted");
}

/// What systemd, Docker and Kubernetes send to stop a service.
#[test]
fn sigterm_under_load_shuts_down_gracefully_with_a_summary() {
    stops_gracefully_on("-TERM", "ended: terminated (SIGTERM)");
}

/// Runs the orders example until traffic flows, sends `signal`, and
/// expects a graceful stop: exit 0, the summary saying why (`ended`),
/// every message accounted.
fn stops_gracefully_on(signal: &str, ended: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(["run", &example()])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // Wait for the second status line: everything started and traffic flows.
    let mut line = String::new();
    for _ in 0..2 {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0);
        assert!(line.contains("components"), "{line}");
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap()
        .success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
    assert!(rest.contains(ended), "{rest}");
    assert!(rest.contains("delivered: ok"), "{rest}");
}

#[test]
fn precompile_fills_the_compilation_cache_that_run_then_uses() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("xdg");
    let manifest = write_app(
        dir.path(),
        "[[component]]\nname = \"echo\"\npath = \"guest.wat\"\n",
        ECHO,
    );
    let precompile = || {
        let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
            .args(["precompile", &manifest])
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = precompile();
    assert!(first.contains("(1 compiled, 0 already there)"), "{first}");
    assert!(
        first.contains(&cache.join("airssys").join("compiled").display().to_string()),
        "{first}"
    );
    let second = precompile();
    assert!(second.contains("(0 compiled, 1 already there)"), "{second}");
    // A run with the cache, and one without it, both run.
    for extra in [None, Some("--no-cache")] {
        let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
            .args(["run", &manifest, "--duration", "200ms", "--quiet"])
            .args(extra)
            .env("XDG_CACHE_HOME", &cache)
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Spends tens of milliseconds on every message.
const SLOW: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param i32 i32) (result i32)
    (local $i i32)
    (local.set $i (i32.const 30000000))
    (loop $spin
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br_if $spin (local.get $i)))
    i32.const 0))"#;

fn signal(child: &std::process::Child, name: &str) {
    assert!(Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn a_second_signal_stops_at_once_and_says_what_it_abandons() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(
        dir.path(),
        "[host]\nshutdown_timeout = \"60s\"\n\n\
         [[component]]\nname = \"slow\"\npath = \"guest.wat\"\nmailbox = 10000\n\n\
         [[drive]]\nsend = \"slow\"\nevery = \"1ms\"\n",
        SLOW,
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(["run", &manifest, "--duration", "60s", "--quiet"])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready: ") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no ready line");
    }
    // A backlog builds up; the first signal starts a drain that would take
    // long, the second cuts it short.
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(500));
    let second = Instant::now();
    signal(&child, "-TERM");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(second.elapsed() < Duration::from_secs(5), "{rest}");
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(
        rest.contains("second signal: stopping now; abandoned "),
        "{rest}"
    );
    assert!(rest.contains(" in slow ("), "{rest}");
}

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

#[test]
fn a_run_whose_drives_are_done_keeps_serving_until_told_to_stop() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(
        dir.path(),
        "[[component]]\nname = \"echo\"\npath = \"guest.wat\"\n\n\
         [[drive]]\nsend = \"echo\"\nevery = \"1ms\"\ncount = 5\n",
        ECHO,
    );
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(["run", &manifest, "--duration", "2s", "--quiet"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // Its 5 sends went out in milliseconds; the run still took its 2 s.
    assert!(stdout.contains("ended: duration elapsed"), "{stdout}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    assert!(
        stdout.contains("drive send echo: injected 5 (5 deliveries, 0 refused)"),
        "{stdout}"
    );
}

#[test]
fn send_and_request_drives_reach_every_instance_and_end_when_counted() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_app(
        dir.path(),
        "[[component]]\nname = \"echo\"\npath = \"guest.wat\"\ninstances = 3\n\n\
         [[drive]]\nsend = \"echo\"\nevery = \"2ms\"\ncount = 30\n\n\
         [[drive]]\nrequest = \"echo-1\"\nevery = \"2ms\"\ncount = 20\n",
        ECHO,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args([
            "run",
            &manifest,
            "--duration",
            "30s",
            "--quiet",
            "--until-drives-done",
        ])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // Both drives sent their count, so the run ended on its own.
    assert!(stdout.contains("ended: drives done"), "{stdout}");
    assert!(
        stdout.contains("drive send echo-0,echo-1,echo-2: injected 30 (30 deliveries, 0 refused)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("drive request echo-1: injected 20 (20 deliveries, 0 refused)"),
        "{stdout}"
    );
    // Round robin: 10 sends each, plus the 20 requests on echo-1.
    for (id, n) in [("echo-0", 10), ("echo-1", 30), ("echo-2", 10)] {
        let row = stdout.lines().find(|l| l.starts_with(id)).unwrap();
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1..3], [n.to_string(), n.to_string()], "{row}");
        assert_eq!(cols[5], "ok", "{row}");
    }
    assert!(
        stdout.contains("handled 50 + dead-lettered 0 = 50 of 50 delivered: ok"),
        "{stdout}"
    );
}

#[test]
fn health_is_503_once_a_component_is_down() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("echo.wat"), ECHO).unwrap();
    let manifest = write_app(
        dir.path(),
        "[[component]]\nname = \"steady\"\npath = \"echo.wat\"\n\n\
         [[component]]\nname = \"fragile\"\npath = \"guest.wat\"\nrestart = \"temporary\"\n\n\
         [[drive]]\nsend = \"fragile\"\nevery = \"100ms\"\ncount = 1\n\n\
         [[drive]]\nsend = \"steady\"\nevery = \"50ms\"\n",
        CRASHER,
    );
    let (mut child, addr) = run_with_endpoint(&manifest, "8s");
    // The temporary component crashes on its one message and is not
    // restarted: from then on the host is not healthy.
    let deadline = Instant::now() + Duration::from_secs(15);
    let body = loop {
        let (code, body) = http_get(&addr, "/health");
        if code == 503 {
            break body;
        }
        assert_eq!(code, 200, "{body}");
        assert!(Instant::now() < deadline, "never became unhealthy: {body}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "degraded", "{body}");
    assert_eq!(health["components"]["fragile"], "failed", "{body}");
    assert_eq!(health["components"]["steady"], "ready", "{body}");

    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{stdout}");
    assert!(stdout.contains("handler_failed=1"), "{stdout}");
    assert!(stdout.contains("delivered: ok"), "{stdout}");
}

/// Starts `airssys run <manifest> --duration <duration> --metrics-addr
/// 127.0.0.1:0` and returns the child and the address it announced.
fn run_with_endpoint(manifest: &str, duration: &str) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args([
            "run",
            manifest,
            "--duration",
            duration,
            "--quiet",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = common::announced(&mut child, "serving /metrics and /health on http://");
    (child, addr)
}
