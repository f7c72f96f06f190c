//! `airssys bench --quick --json` measures every scenario and its baseline;
//! with `--nats` (a real server started here) the host-to-host ones too.

use std::process::Command;

use airssys_cli::bench::{
    percentile, BIG_GUEST_SCENARIOS, NATS_SCENARIOS, SCALE_SCENARIOS, SCENARIOS,
};
use airssys_testkit::NatsServer;

mod common;
use common::airssys_ok;

#[test]
fn quick_bench_writes_json_with_every_scenario_and_its_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.json");
    let server = NatsServer::start();
    let mut args = vec!["bench".to_owned(), "--quick".into(), "--json".into()];
    args.push(path.display().to_string());
    if let Some(server) = &server {
        args.extend(["--nats".to_owned(), server.url()]);
    }
    let stdout = airssys_ok(&args);

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(report["machine"]["cpus"].as_u64().unwrap() >= 1);
    assert_eq!(report["machine"]["mode"], "quick");
    let scenarios = report["scenarios"].as_array().unwrap();
    let names: Vec<&str> = scenarios
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    // The Python and JavaScript scenarios look for the example's guests in
    // `examples/sensors/build` under the working directory (here the
    // crate's): not there, so skipped with the reason (they run in
    // py_js_guests.rs with --guests).
    let mut expected: Vec<&str> = SCENARIOS
        .iter()
        .copied()
        .filter(|s| !BIG_GUEST_SCENARIOS.contains(s))
        .collect();
    if server.is_some() {
        expected.extend(NATS_SCENARIOS);
    }
    assert_eq!(names, expected);
    let skipped: Vec<(&str, &str)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        skipped.iter().map(|s| s.0).collect::<Vec<_>>(),
        BIG_GUEST_SCENARIOS
    );
    assert!(
        skipped
            .iter()
            .all(|s| s.1.contains("examples/sensors/build.sh")),
        "{skipped:?}"
    );
    for s in scenarios {
        let name = s["name"].as_str().unwrap();
        assert!(stdout.contains(name), "table lacks {name}:\n{stdout}");
        assert!(s["baseline"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty()));
        match s["unit"].as_str().unwrap() {
            "us" => {
                let (p50, p99) = (s["p50"].as_f64().unwrap(), s["p99"].as_f64().unwrap());
                let (b50, b99) = (
                    s["baseline"]["p50"].as_f64().unwrap(),
                    s["baseline"]["p99"].as_f64().unwrap(),
                );
                assert!(p50 > 0.0 && p99 >= p50 && b50 > 0.0 && b99 >= b50, "{s}");
                let ratio = s["ratio_p50"].as_f64().unwrap();
                match s["round_ratios"].as_array() {
                    // Interleaved rounds: the median of the rounds' p50 ratios.
                    Some(rounds) => assert_median(ratio, rounds, s),
                    None => assert!((ratio - p50 / b50).abs() < 1e-9, "{s}"),
                }
            }
            "msg/s" | "KiB" | "B" => {
                let (v, b) = (
                    s["value"].as_f64().unwrap(),
                    s["baseline"]["value"].as_f64().unwrap(),
                );
                assert!(v > 0.0 && b > 0.0, "{s}");
                let ratio = s["ratio"].as_f64().unwrap();
                match s["round_ratios"].as_array() {
                    // Interleaved rounds: the median of the rounds' ratios.
                    Some(rounds) => assert_median(ratio, rounds, s),
                    None => assert!((ratio - v / b).abs() < 1e-9, "{s}"),
                }
            }
            other => panic!("unexpected unit {other} in {s}"),
        }
    }
    let unit = |n: &str| scenarios.iter().find(|s| s["name"] == n).unwrap()["unit"].clone();
    assert_eq!(unit("spawn"), "us");
    assert_eq!(unit("tell_throughput"), "msg/s");
    assert_eq!(unit("broker_fanout"), "msg/s");
    let rounds =
        |n: &str| scenarios.iter().find(|s| s["name"] == n).unwrap()["round_ratios"].clone();
    for interleaved in [
        "tell_throughput",
        "tell_component",
        "broker_fanout",
        "request_rtt",
    ] {
        assert!(
            rounds(interleaved).is_array(),
            "{interleaved} is not measured in rounds"
        );
    }
}

#[test]
fn compare_exits_3_when_a_ratio_regressed_past_the_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved.json");
    // A saved run in which spawning cost a millionth of raw instantiation,
    // and one in which the tell throughput was a million times raw: this
    // run is worse on both.
    std::fs::write(
        &saved,
        r#"{"scenarios": [
            {"name": "spawn", "unit": "us", "ratio_p50": 0.000001},
            {"name": "tell_throughput", "unit": "msg/s", "ratio": 1000000.0}
        ]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(["bench", "--quick", "--compare"])
        .arg(&saved)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains("2 of 2 scenarios regressed past 15%"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("REGRESSED").count(), 2, "{stdout}");

    std::fs::write(&saved, "not json").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(["bench", "--quick", "--compare"])
        .arg(&saved)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad saved run is refused first"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("saved.json"));
}

#[test]
fn percentile_is_nearest_rank() {
    let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
    assert_eq!(percentile(&mut v, 50.0), 50.0);
    assert_eq!(percentile(&mut v, 99.0), 99.0);
    assert_eq!(percentile(&mut [7.0], 99.0), 7.0);
    assert!(percentile(&mut [], 50.0).is_nan());
}

/// CI's sized-down `--scale` run: 50,000 live components, each its own
/// actor and instance, every one of them answering, all shut down cleanly
/// (the run fails otherwise). Needs the kernel to allow the pool's memory
/// mappings: `.ci/run` raises `vm.max_map_count`; elsewhere the test says
/// why it did not run.
#[test]
fn scale_bench_keeps_50_000_components_live_and_shuts_them_all_down() {
    const N: u32 = 50_000;
    let needed = airssys_wasm::pool_mappings_needed(N + 8);
    if let Some(limit) = airssys_wasm::max_map_count().filter(|&l| l < needed) {
        eprintln!("skipped: vm.max_map_count is {limit}, the pool needs about {needed}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scale.json");
    airssys_ok([
        "bench".as_ref(),
        "--scale".as_ref(),
        N.to_string().as_ref(),
        "--json".as_ref(),
        path.as_os_str(),
    ]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let scenarios = report["scenarios"].as_array().unwrap();
    let names: Vec<&str> = scenarios
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names, SCALE_SCENARIOS,
        "--scale alone runs the scale scenarios"
    );
    let get = |name: &str| scenarios.iter().find(|s| s["name"] == name).unwrap();
    for name in ["scale_spawn", "scale_memory", "scale_shutdown"] {
        assert_eq!(get(name)["samples"].as_u64(), Some(u64::from(N)), "{name}");
    }
    let memory = get("scale_memory")["value"].as_f64().unwrap();
    assert!(
        memory > 0.0 && memory <= 64.0,
        "{memory} KiB per live component"
    );
    assert!(get("scale_spawn")["value"].as_f64().unwrap() > 0.0);
    let request = get("scale_request");
    assert!(request["p99"].as_f64().unwrap() >= request["p50"].as_f64().unwrap());
    assert!(get("scale_shutdown")["value"].as_f64().unwrap() > 0.0);
}

/// `--scenario failover --quick`: three `kill -9`s of the host owning a
/// component among three `airssys run --cluster` children of the bench, on
/// a JetStream server started here; the row has the kill-to-answered
/// p50/p99 (in ms, within the failover target) beside a fresh process's
/// spawn-to-answered. (The quick run above names no scenario and has no
/// cluster row: they run only when named.)
#[test]
fn failover_bench_kills_three_hosts_and_reports_kill_to_answered() {
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
    let path = dir.path().join("failover.json");
    let stdout = airssys_ok([
        "bench".as_ref(),
        "--quick".as_ref(),
        "--nats".as_ref(),
        server.url().as_ref(),
        "--scenario".as_ref(),
        "failover".as_ref(),
        "--json".as_ref(),
        path.as_os_str(),
    ]);
    assert!(stdout.contains("failover"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 1, "{report}");
    let row = &scenarios[0];
    assert_eq!(
        (row["name"].as_str(), row["unit"].as_str()),
        (Some("failover"), Some("ms"))
    );
    assert_eq!(row["samples"].as_u64(), Some(3), "{row}");
    let (p50, p99) = (row["p50"].as_f64().unwrap(), row["p99"].as_f64().unwrap());
    // Not before the dead host's record can have expired (host_ttl 1.5 s,
    // less the heartbeat it may have just missed). The target (p50 2 s)
    // is the release bench's to show; here, on a debug build that shares
    // the machine with other tests, only a bound that a loaded run keeps.
    assert!(
        (1_000.0..=3_000.0).contains(&p50) && (p50..=5_000.0).contains(&p99),
        "{row}"
    );
    let (b50, b99) = (
        row["baseline"]["p50"].as_f64().unwrap(),
        row["baseline"]["p99"].as_f64().unwrap(),
    );
    assert!(b50 > 0.0 && b99 >= b50 && b50 < p50, "{row}");
    assert!((row["ratio_p50"].as_f64().unwrap() - p50 / b50).abs() < 1e-9);
}

/// `ratio` is the median of an odd number of round ratios.
fn assert_median(ratio: f64, rounds: &[serde_json::Value], scenario: &serde_json::Value) {
    let mut rounds: Vec<f64> = rounds.iter().map(|r| r.as_f64().unwrap()).collect();
    assert_eq!(rounds.len() % 2, 1, "{scenario}");
    rounds.sort_by(f64::total_cmp);
    assert!(
        (ratio - rounds[rounds.len() / 2]).abs() < 1e-9,
        "{scenario}"
    );
}
