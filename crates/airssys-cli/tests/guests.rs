//! Guests written in Rust (`sdk/rust/airssys-guest`) and C (`sdk/c/airssys.h`
//! for core modules; wit-bindgen's C bindings and wasi-libc for the
//! `recorder` component, and for `tests/guests/down_watcher.c`, which
//! monitors through the world's `monitor` import), built from source by `examples/sensors/build.sh`
//! and run in the real host: each guest alone under the testkit, then the
//! whole example (with its Python and JavaScript components, tested alone in
//! `py_js_guests.rs`) with `airssys run`.
//!
//! The build needs Debian's `rustc` with the wasm32 standard library,
//! `clang`/`wasm-ld`, wasi-libc and wit-bindgen (docs/guests.md). Without
//! them every test here prints `skipped: <why>` and passes, unless
//! `AIRSSYS_REQUIRE_GUEST_TOOLCHAINS=1` (set by `.ci/run`), which makes a
//! missing toolchain a failure.

mod common;

use std::path::Path;
use std::process::Command;

use airssys_testkit::{spec_from_file, Counters, TestHost};
use airssys_wasm::{
    ComponentSpec, GuestHealth, Permissions, SubjectPattern, WasiGrants, WasmValue,
};

use common::{doc_files, guests, sensors};

fn converter(dir: &Path) -> ComponentSpec {
    spec_from_file("converter", dir.join("converter.wasm")).unwrap()
}

fn limits(dir: &Path) -> ComponentSpec {
    spec_from_file("limits", dir.join("limits.wasm"))
        .unwrap()
        .config("low", "0")
        .config("high", "30")
}

/// The aggregator as `airssys.toml` configures it, with `permissions`.
fn aggregator_with(dir: &Path, permissions: Permissions) -> ComponentSpec {
    spec_from_file("aggregator", dir.join("aggregator.wasm"))
        .unwrap()
        .subscribe("readings.*")
        .permissions(permissions)
}

fn aggregator(dir: &Path) -> ComponentSpec {
    aggregator_with(
        dir,
        Permissions::deny_all()
            .allow_target("converter")
            .allow_target("limits")
            .allow_subject(SubjectPattern::new("alerts.*").unwrap()),
    )
}

/// The recorder component as `airssys.toml` configures it, with `grants`
/// instead of the manifest's WASI grants.
fn recorder(dir: &Path, grants: WasiGrants) -> ComponentSpec {
    spec_from_file("recorder", dir.join("recorder.component.wasm"))
        .unwrap()
        .subscribe("alerts.>")
        .wasi(grants)
}

/// `data` granted read-write at `/data`, and the log's path in it.
fn recorder_grants(data: &Path) -> WasiGrants {
    WasiGrants::none()
        .read_write_dir(data, "/data")
        .env("RECORDER_LOG", "/data/alerts.log")
}

/// Counters of a component that handled `n` messages, none failed.
fn handled(n: u64) -> Counters {
    Counters {
        handled: n,
        ..Counters::default()
    }
}

/// A host running converter, limits and aggregator.
async fn sensors_host(dir: &Path) -> airssys_testkit::Result<TestHost> {
    let t = TestHost::new()?;
    t.spawn(converter(dir)).await?;
    t.spawn(limits(dir)).await?;
    t.spawn(aggregator(dir)).await?;
    Ok(t)
}

#[tokio::test(start_paused = true)]
async fn the_rust_converter_answers_readings_in_celsius() -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = TestHost::new()?;
    t.spawn(converter(&dir)).await?;
    for (reading, celsius) in [
        ("21.5C", "21.5"),
        ("70.7F", "21.5"),
        ("98.6F", "37.0"),
        ("28.4F", "-2.0"),
        ("-40F", "-40.0"),
        ("0.04C", "0.0"),
    ] {
        assert_eq!(
            &t.expect_reply("converter", reading).await?[..],
            celsius.as_bytes(),
            "{reading}"
        );
    }
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_rust_converter_rejects_what_is_not_a_reading_and_keeps_serving(
) -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = TestHost::new()?;
    t.spawn(converter(&dir)).await?;
    let refused = t.request("converter", "warm").await.unwrap_err();
    assert!(refused.to_string().contains("code 1"), "{refused}");
    let dead = t.expect_dead_letter("rejected").await?;
    assert_eq!(
        (dead.target.as_str(), &dead.payload[..]),
        ("converter", &b"warm"[..])
    );
    assert_eq!(&t.expect_reply("converter", "50F").await?[..], b"10.0");
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_c_limits_guest_answers_against_its_configured_thresholds() -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = TestHost::new()?;
    t.spawn(limits(&dir).config("high", "25.5")).await?;
    for (check, verdict) in [
        ("kitchen 25.6", "high"),
        ("kitchen 25.5", "ok"),
        ("porch -2.0", "low"),
        ("hall 0", "ok"),
    ] {
        assert_eq!(
            &t.expect_reply("limits", check).await?[..],
            verdict.as_bytes(),
            "{check}"
        );
    }
    assert!(t.request("limits", "kitchen warm").await.is_err());
    t.expect_dead_letter("rejected").await?;
    assert_eq!(
        t.invoke("limits", "checks", vec![]).await?,
        vec![WasmValue::I64(4)]
    );
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_c_limits_guest_does_not_start_with_a_threshold_that_is_not_a_number(
) -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = TestHost::new()?;
    let refused = t
        .spawn(limits(&dir).config("high", "hot"))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("init failed with code 1"),
        "{refused}"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_rust_aggregator_keeps_running_statistics_and_answers_with_the_aggregate(
) -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = sensors_host(&dir).await?;
    for reading in ["19.5C", "23.5C", "70.7F"] {
        t.publish("readings.kitchen", reading)?;
    }
    t.publish("readings.porch", "41F")?;
    // Publishes reach the mailbox through the broker, requests directly:
    // wait until the readings are in.
    t.expect_counters("aggregator", handled(4)).await?;
    assert_eq!(
        &t.expect_reply("aggregator", "kitchen").await?[..],
        b"kitchen: n=3 min=19.5 max=23.5 mean=21.5 alerts=0"
    );
    assert_eq!(
        &t.expect_reply("aggregator", "porch").await?[..],
        b"porch: n=1 min=5.0 max=5.0 mean=5.0 alerts=0"
    );
    assert_eq!(
        &t.expect_reply("aggregator", "attic").await?[..],
        b"attic: no readings"
    );
    // Every reading was converted and checked: one request each.
    t.expect_counters("converter", handled(4)).await?;
    t.expect_counters("limits", handled(4)).await?;
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_rust_aggregator_publishes_an_alert_for_a_reading_out_of_range(
) -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = sensors_host(&dir).await?;
    t.publish("readings.kitchen", "31.5C")?;
    let alert = t.expect_published("alerts.*").await?;
    assert_eq!(
        (alert.subject.as_str(), &alert.payload[..]),
        ("alerts.kitchen", &b"kitchen high 31.5"[..])
    );
    t.publish("readings.porch", "28.4F")?;
    let alert = t.expect_published("alerts.*").await?;
    assert_eq!(
        (alert.subject.as_str(), &alert.payload[..]),
        ("alerts.porch", &b"porch low -2.0"[..])
    );
    assert_eq!(
        &t.expect_reply("aggregator", "kitchen").await?[..],
        b"kitchen: n=1 min=31.5 max=31.5 mean=31.5 alerts=1"
    );
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_rejected_reading_leaves_the_statistics_alone_and_degrades_health(
) -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = sensors_host(&dir).await?;
    t.publish("readings.kitchen", "warm")?;
    // converter refuses it (code 1); aggregator's request fails with
    // UNAVAILABLE (-9), which fails its handler: two dead letters.
    let mut rejected = vec![
        t.expect_dead_letter("rejected").await?.target,
        t.expect_dead_letter("rejected").await?.target,
    ];
    rejected.sort();
    assert_eq!(rejected, ["aggregator", "converter"]);
    t.expect_health(
        "aggregator",
        GuestHealth::Degraded("1 reading(s) rejected in a row, the last with code -9".into()),
    )
    .await?;
    // Healthy again once a reading goes through.
    t.publish("readings.kitchen", "20C")?;
    t.expect_health("aggregator", GuestHealth::Healthy).await?;
    assert_eq!(
        &t.expect_reply("aggregator", "kitchen").await?[..],
        b"kitchen: n=1 min=20.0 max=20.0 mean=20.0 alerts=0"
    );
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_host_call_outside_the_allow_list_is_denied_to_a_rust_guest() -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = TestHost::new()?;
    t.spawn(converter(&dir)).await?;
    t.spawn(limits(&dir)).await?;
    // May ask both services, may not publish alerts.
    t.spawn(aggregator_with(
        &dir,
        Permissions::deny_all()
            .allow_target("converter")
            .allow_target("limits"),
    ))
    .await?;
    t.publish("readings.kitchen", "31.5C")?;
    let dead = t.expect_dead_letter("rejected").await?;
    assert_eq!(dead.target, "aggregator");
    assert!(dead.reason.contains("code -1"), "DENIED: {}", dead.reason);
    assert_eq!(t.info("aggregator").unwrap().denied, 1);
    // The reading whose alert was denied is not counted; one in range is.
    t.publish("readings.kitchen", "21C")?;
    t.expect_counters(
        "aggregator",
        Counters {
            handled: 1,
            failed: 1,
            restarts: 0,
        },
    )
    .await?;
    assert_eq!(
        &t.expect_reply("aggregator", "kitchen").await?[..],
        b"kitchen: n=1 min=21.0 max=21.0 mean=21.0 alerts=0"
    );
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_restarted_rust_guest_starts_from_fresh_state() -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = sensors_host(&dir).await?;
    t.publish("readings.kitchen", "22C")?;
    t.expect_counters("aggregator", handled(1)).await?;
    assert_eq!(
        &t.expect_reply("aggregator", "kitchen").await?[..],
        b"kitchen: n=1 min=22.0 max=22.0 mean=22.0 alerts=0"
    );
    t.crash("aggregator").await?;
    t.expect_restart("aggregator").await?;
    assert_eq!(
        &t.expect_reply("aggregator", "kitchen").await?[..],
        b"kitchen: no readings"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_c_recorder_appends_each_alert_to_its_granted_file_and_answers_with_the_line_count(
) -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let data = tempfile::tempdir().unwrap();
    let t = TestHost::new()?;
    t.spawn(recorder(&dir, recorder_grants(data.path())))
        .await?;
    t.publish("alerts.kitchen", "kitchen high 31.5")?;
    // A newline in a payload does not split the line.
    t.publish("alerts.porch", "porch low\n-2.0")?;
    t.expect_counters("recorder", handled(2)).await?;
    assert_eq!(
        std::fs::read_to_string(data.path().join("alerts.log")).unwrap(),
        "alerts.kitchen kitchen high 31.5\nalerts.porch porch low -2.0\n"
    );
    assert_eq!(&t.expect_reply("recorder", "lines?").await?[..], b"2");
    assert_eq!(t.info("recorder").unwrap().denied, 0);
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_restarted_c_recorder_continues_the_log_it_finds() -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("alerts.log"), "earlier 1\nearlier 2\n").unwrap();
    let t = TestHost::new()?;
    t.spawn(recorder(&dir, recorder_grants(data.path())))
        .await?;
    assert_eq!(&t.expect_reply("recorder", "lines?").await?[..], b"2");
    t.publish("alerts.hall", "hall high 30.5")?;
    t.expect_counters("recorder", handled(2)).await?;
    t.crash("recorder").await?;
    t.expect_restart("recorder").await?;
    // The fresh instance counts the file again in `init`.
    assert_eq!(&t.expect_reply("recorder", "lines?").await?[..], b"3");
    assert_eq!(
        std::fs::read_to_string(data.path().join("alerts.log")).unwrap(),
        "earlier 1\nearlier 2\nalerts.hall hall high 30.5\n"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_c_recorder_does_not_start_without_its_environment_grant() -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let data = tempfile::tempdir().unwrap();
    let t = TestHost::new()?;
    let refused = t
        .spawn(recorder(
            &dir,
            WasiGrants::none().read_write_dir(data.path(), "/data"),
        ))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("init failed"), "{refused}");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_c_recorder_given_a_read_only_directory_rejects_each_alert_and_reports_degraded(
) -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let data = tempfile::tempdir().unwrap();
    let t = TestHost::new()?;
    t.spawn(recorder(
        &dir,
        WasiGrants::none()
            .read_only_dir(data.path(), "/data")
            .env("RECORDER_LOG", "/data/alerts.log"),
    ))
    .await?;
    t.publish("alerts.kitchen", "kitchen high 31.5")?;
    let dead = t.expect_dead_letter("rejected").await?;
    assert_eq!(dead.target, "recorder");
    assert!(dead.reason.contains("code 1"), "{}", dead.reason);
    t.expect_health(
        "recorder",
        GuestHealth::Degraded("Operation not permitted".into()),
    )
    .await?;
    assert!(!data.path().join("alerts.log").exists());
    assert_eq!(&t.expect_reply("recorder", "lines?").await?[..], b"0");
    // A refused write is not a counted denial: the path is there, the
    // directory's permissions refuse it inside WASI.
    assert_eq!(t.info("recorder").unwrap().denied, 0);
    Ok(())
}

/// A core-module worker for the C watcher to monitor: answers "ok".
const WORKER: &str = r#"(module
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "ok")
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param i32 i32) (result i32)
    (drop (call $reply (i32.const 0) (i32.const 2)))
    i32.const 0))"#;

#[tokio::test(start_paused = true)]
async fn a_c_component_monitors_another_through_the_wit_import_and_reacts_to_its_downs(
) -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = TestHost::new()?;
    t.spawn(ComponentSpec::new("worker", WORKER.as_bytes().to_vec()))
        .await?;
    t.spawn(
        spec_from_file("watcher", dir.join("down_watcher.component.wasm"))?.permissions(
            Permissions::deny_all()
                .allow_target("worker")
                .allow_subject(SubjectPattern::new("watch.>").unwrap()),
        ),
    )
    .await?;
    // Outside its allow-list: the WIT error `denied` (case 4), counted.
    assert_eq!(
        &t.expect_reply("watcher", "watch billing").await?[..],
        b"err 4"
    );
    let reply = t.expect_reply("watcher", "watch worker").await?;
    assert!(reply.starts_with(b"ok "), "{reply:?}");

    // A crash of the worker: the guest reads the down's JSON, publishes
    // it, and monitors the restarted worker again.
    t.crash("worker").await?;
    let down = t.expect_published("watch.down").await?;
    assert_eq!(&down.payload[..], b"worker failed");
    t.expect_restart("worker").await?;
    // The stop reaches it through the monitor it made in reaction.
    t.stop("worker").await?;
    let down = t.expect_published("watch.down").await?;
    assert_eq!(&down.payload[..], b"worker shutdown");
    assert_eq!(
        &t.expect_reply("watcher", "downs").await?[..],
        b"worker failed;worker shutdown"
    );
    assert_eq!(t.info("watcher").unwrap().denied, 1);
    Ok(())
}

#[test]
fn every_built_guest_imports_only_the_airssys_module() {
    let Some(dir) = guests() else { return };
    for guest in ["aggregator", "converter", "limits"] {
        let path = dir.join(format!("{guest}.wasm"));
        let out = common::airssys_ok(["inspect", "--json", path.to_str().unwrap()]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["form"], "core_module", "{guest}: {out}");
        assert_eq!(v["core_abi"], true, "{guest}: {out}");
        let imports = v["imports"].as_array().unwrap();
        assert!(!imports.is_empty(), "{guest}: {out}");
        for import in imports {
            assert_eq!(import["module"], "airssys", "{guest}: {import}");
        }
        let exports: Vec<&str> = v["exports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        for name in ["memory", "alloc", "handle-message", "init", "health"] {
            assert!(exports.contains(&name), "{guest} exports {exports:?}");
        }
    }
}

#[test]
fn the_c_components_import_only_the_world_and_wasi_without_sockets() {
    let Some(dir) = guests() else { return };
    for guest in ["recorder", "wasi_probe", "down_watcher"] {
        let path = dir.join(format!("{guest}.component.wasm"));
        let out = common::airssys_ok(["inspect", "--json", path.to_str().unwrap()]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["form"], "component", "{guest}: {out}");
        assert_eq!(v["airssys_world"], true, "{guest}: {out}");
        for import in v["imports"].as_array().unwrap() {
            let name = import["name"].as_str().unwrap();
            if import["ty"] == "instance" {
                assert!(
                    name.starts_with("airssys:component/") || name.starts_with("wasi:"),
                    "{guest} imports {name}"
                );
                // wasi-libc's WASI preview 1 has no way to open a socket.
                assert!(!name.starts_with("wasi:sockets/"), "{guest} imports {name}");
            }
        }
        let exports: Vec<&str> = v["exports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            exports,
            ["init", "handle-message", "health", "cleanup"],
            "{guest}"
        );
    }
}

/// The row of `id` in the summary, split on whitespace.
fn row<'a>(stdout: &'a str, id: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("no row for {id}:\n{stdout}"))
        .split_whitespace()
        .collect()
}

#[test]
fn the_sensors_example_runs_to_the_end_of_its_drives_with_the_stated_outcome() {
    let Some(_) = guests() else { return };
    let manifest = sensors().join("airssys.toml");
    // The recorder's log is cumulative: start it empty.
    let log = sensors().join("data/alerts.log");
    match std::fs::remove_file(&log) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot remove {}: {e}", log.display()),
    }
    let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args([
            "run",
            manifest.to_str().unwrap(),
            "--duration",
            "60s",
            "--quiet",
            "--until-drives-done",
        ])
        // The guests' own log lines, their stdout, and errors.
        .env(
            "RUST_LOG",
            "error,airssys_wasm::guest::host_imports=info,airssys_wasm::guest::component::wasi=info",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("ended: drives done"), "{stdout}");

    // 40 readings (4 not temperatures) and 4 requests reached aggregator;
    // the 36 temperatures were converted and checked; 9 were alerts.
    //                         delivered  handled  dead  restarts  balance
    assert_eq!(
        row(&stdout, "aggregator")[1..],
        ["44", "40", "4", "0", "ok"]
    );
    assert_eq!(
        row(&stdout, "converter")[1..],
        ["direct", "36", "4", "0", "-"]
    );
    assert_eq!(row(&stdout, "limits")[1..], ["direct", "36", "0", "0", "-"]);
    assert_eq!(row(&stdout, "pager")[1..], ["9", "9", "0", "0", "ok"]);
    assert_eq!(row(&stdout, "recorder")[1..], ["9", "9", "0", "0", "ok"]);
    // The JavaScript notifier asked the Python advisor about each alert and
    // published a notice; the advisor counted the 9 notices and answered 2
    // reports.
    assert_eq!(row(&stdout, "notifier")[1..], ["9", "9", "0", "0", "ok"]);
    assert_eq!(
        row(&stdout, "advisor")[1..],
        ["direct", "20", "0", "0", "-"]
    );
    // `show_replies`: the first report at the start, the second after the
    // alerts, decoded from multicodec JSON.
    assert!(
        stdout.contains(r#"reply from advisor to "report": json {}"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"reply from advisor to "report": json {"kitchen":4,"porch":5}"#),
        "{stdout}"
    );
    assert!(
        stdout.contains("drive request advisor: injected 2 (2 deliveries, 0 refused)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("drive request aggregator: injected 4 (4 deliveries, 0 refused)"),
        "{stdout}"
    );
    assert!(stdout.contains("dead letters: 8 ("), "{stdout}");
    assert!(stdout.contains(" rejected=8 "), "{stdout}");
    assert!(
        stdout.contains("published by components: 18 messages, 36 deliveries"),
        "{stdout}"
    );
    assert!(stdout.contains("restarts: 0"), "{stdout}");
    assert!(stdout.contains("delivered: ok"), "{stdout}");

    // The aggregator's cleanup logs its final statistics at shutdown.
    assert!(
        stderr.contains(
            "stopping; kitchen: n=16 min=19.5 max=31.5 mean=23.9 alerts=4; \
             porch: n=20 min=-2.0 max=16.0 mean=7.3 alerts=5"
        ),
        "{stderr}"
    );

    // The recorder appended the 9 alerts to the granted directory, printed
    // each to stdout (a tracing event), and logged its count at cleanup.
    let mut lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    let mut expected = vec!["alerts.kitchen kitchen high 31.5"; 4];
    expected.extend(["alerts.porch porch low -2.0"; 5]);
    assert_eq!(lines, expected);
    assert!(stderr.contains("recorded line 9: "), "{stderr}");
    assert!(
        stderr.contains("recorder: stopping; /data/alerts.log holds 9 line(s)"),
        "{stderr}"
    );
}

/// The Rust and C guests docs/guests.md writes from an empty directory are
/// the templates `build.sh` compiles with `-D warnings` / `-Werror` (the
/// Rust one after the template's header comment): the page cannot show
/// code that no longer builds.
#[test]
fn the_rust_and_c_walk_throughs_of_docs_guests_md_are_the_compiled_templates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    let rust = doc_files("rust");
    let (_, lib) = rust
        .iter()
        .find(|f| f.0 == "src/lib.rs")
        .expect("rust/src/lib.rs");
    assert!(
        read("sdk/rust/template/src/lib.rs")
            .trim_end()
            .ends_with(lib.trim_end()),
        "docs/guests.md's src/lib.rs is not sdk/rust/template/src/lib.rs"
    );
    let c = doc_files("c");
    let (_, counter) = c.iter().find(|f| f.0 == "counter.c").expect("c/counter.c");
    assert_eq!(counter, &read("sdk/c/template/counter.c"));
}
