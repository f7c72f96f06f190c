//! The example application split over two `airssys run --nats` processes on
//! one real NATS server: host A runs the `pipeline` group (validator,
//! pricing) and the drives, host B the `downstream` group (audit, two
//! shipping instances). The end-to-end result is the one a single host
//! gives (`run.rs`): every order accounted for, on both hosts. And a host
//! whose server is killed and restarted mid-run keeps running, reports the
//! outage on `/health` and `/metrics`, and resumes.

mod common;

use std::io::Read;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use airssys_testkit::NatsServer;
use common::{airssys_ok, announcements, example, http_get, number_after, spawn_airssys};

/// The value of `airssys_messages_handled_total{component="<id>"}` in a
/// Prometheus scrape (0 before the component's first report).
fn handled(metrics: &str, id: &str) -> u64 {
    let series = format!("airssys_messages_handled_total{{component=\"{id}\"}}");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// Stops a running `airssys run` as Ctrl-C would and returns what it
/// printed (its summary); it must exit successfully.
fn interrupt(mut run: Child) -> String {
    let pid = run.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let mut printed = String::new();
    run.stdout
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    assert!(run.wait().unwrap().success(), "{printed}");
    printed
}

/// The handled column of `id`'s row in a run summary.
fn summary_handled(summary: &str, id: &str) -> u64 {
    let row = summary
        .lines()
        .find(|l| l.starts_with(&format!("{id} ")))
        .unwrap_or_else(|| panic!("no row for {id} in:\n{summary}"));
    row.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn the_example_split_over_two_processes_accounts_for_every_order() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let url = server.url();

    // Host B first: it says it is ready once the server has all its
    // subscriptions, so it misses nothing host A publishes.
    let mut downstream = spawn_airssys([
        "run",
        &example(),
        "--nats",
        &url,
        "--only",
        "downstream",
        "--no-drives",
        "--quiet",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    let said = announcements(
        &mut downstream,
        &["serving /metrics and /health on http://", "ready: "],
    );
    let metrics_addr = said[0].clone();
    assert_eq!(
        said[1], "3 components running",
        "audit, shipping-0, shipping-1"
    );

    // Host A: the pipeline and the traffic, for a fixed time.
    let a = airssys_ok([
        "run",
        &example(),
        "--nats",
        &url,
        "--only",
        "pipeline",
        "--duration",
        "3s",
        "--quiet",
    ]);
    let eu = number_after(&a, "drive publish orders.new.eu: injected");
    let us = number_after(&a, "drive publish orders.new.us: injected");
    let poison = eu / 10;
    let valid = eu + us - poison;
    assert!(poison >= 2, "{a}");
    assert_eq!(summary_handled(&a, "validator"), eu + us - poison, "{a}");
    assert_eq!(summary_handled(&a, "pricing"), valid, "{a}");
    assert_eq!(number_after(&a, "handler_failed="), poison, "{a}");
    assert!(a.contains("delivered: ok"), "{a}");
    assert!(!a.contains("audit "), "host A does not run audit:\n{a}");

    // Host B receives what A published before A exited (A flushed its
    // connection); wait until its components report having handled it.
    let audit_expected = (eu + us) + valid;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, metrics) = http_get(&metrics_addr, "/metrics");
        if handled(&metrics, "audit") == audit_expected
            && handled(&metrics, "shipping-0") == valid
            && handled(&metrics, "shipping-1") == valid
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "host B did not handle A's orders in 30 s:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let b = interrupt(downstream);

    // The same result as one host: audit saw every new and every priced
    // order, both shipping instances every priced one, nothing dead.
    assert_eq!(summary_handled(&b, "audit"), audit_expected, "{b}");
    assert_eq!(summary_handled(&b, "shipping-0"), valid, "{b}");
    assert_eq!(summary_handled(&b, "shipping-1"), valid, "{b}");
    assert!(b.contains("delivered: ok"), "{b}");
    assert!(
        !b.contains("validator "),
        "host B does not run validator:\n{b}"
    );
}

/// Polls `/health` on `addr` until its `broker.state` is `state`, and
/// returns that body.
fn wait_for_broker_state(addr: &str, state: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, body) = http_get(addr, "/health");
        let health: serde_json::Value = serde_json::from_str(&body).unwrap();
        if health["broker"]["state"] == state {
            return health;
        }
        assert!(
            Instant::now() < deadline,
            "the broker never became {state}: {health}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_host_survives_the_server_restarting_mid_run_and_reports_the_outage() {
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let mut host = spawn_airssys([
        "run",
        &example(),
        "--nats",
        &server.url(),
        "--quiet",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    let said = announcements(
        &mut host,
        &["serving /metrics and /health on http://", "ready: "],
    );
    let addr = said[0].clone();
    let up = wait_for_broker_state(&addr, "connected");
    assert_eq!(up["broker"]["disconnects"], 0, "{up}");

    server.kill();
    let down = wait_for_broker_state(&addr, "disconnected");
    assert_eq!(down["status"], "degraded", "{down}");
    let (code, _) = http_get(&addr, "/health");
    assert_eq!(code, 503, "an outage is a degraded host");

    server.restart().unwrap();
    let back = wait_for_broker_state(&addr, "connected");
    assert_eq!(back["broker"]["disconnects"], 1, "{back}");
    // The traffic resumes: audit (a topic subscriber) handles more.
    let (_, metrics) = http_get(&addr, "/metrics");
    let before = handled(&metrics, "audit");
    let deadline = Instant::now() + Duration::from_secs(15);
    // The broker's counters reach the metrics once a second: wait for the
    // disconnect to be counted there too.
    loop {
        let (_, metrics) = http_get(&addr, "/metrics");
        let counted = metrics.contains("airssys_broker_disconnects_total 1");
        if handled(&metrics, "audit") > before && counted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the traffic did not resume, or the disconnect was not counted: {metrics}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let summary = interrupt(host);
    assert!(summary.contains("ended: interrupted"), "{summary}");
}
