//! Guests written in Python (`examples/sensors/advisor.py`, componentize-py)
//! and JavaScript (`examples/sensors/notifier.js`, componentize-js), built
//! from source by `examples/sensors/build.sh` and run in the real host under
//! the testkit: what they answer, what they publish, and how their failures
//! map (a handler error keeps the instance; anything that traps restarts it
//! with fresh state).
//!
//! The build needs Python >= 3.10 with venv, and node >= 18 with npm, besides
//! the Rust and C toolchains (docs/guests.md). Without them every test here
//! prints `skipped: <why>` and passes, unless
//! `AIRSSYS_REQUIRE_GUEST_TOOLCHAINS=1` (set by `.ci/run`).
//!
//! The tests run on real time: compiling an 18 MB component happens on a
//! blocking thread, and paused time would jump every timer meanwhile. The
//! testkit keeps compiled code in the user's compilation cache, so only the
//! first test of a fresh machine compiles (`build.sh` precompiles them).

mod common;

use std::path::Path;

use airssys_testkit::{spec_from_file, Counters, TestHost};
use airssys_wasm::{codec, ComponentLimits, ComponentSpec, Permissions, SubjectPattern};
use serde_json::{json, Value};

use common::guests;

/// Each instance carries a language runtime with tens of MB of memory.
fn big_limits() -> ComponentLimits {
    ComponentLimits::default().max_memory_bytes(64 << 20)
}

/// The advisor as `examples/sensors/airssys.toml` configures it.
fn advisor(dir: &Path) -> ComponentSpec {
    spec_from_file("advisor", dir.join("advisor.component.wasm"))
        .unwrap()
        .subscribe("notices.>")
        .config("severe", "5")
        .limits(big_limits())
}

/// The notifier as `examples/sensors/airssys.toml` configures it.
fn notifier(dir: &Path) -> ComponentSpec {
    spec_from_file("notifier", dir.join("notifier.component.wasm"))
        .unwrap()
        .subscribe("alerts.>")
        .config("advisor", "advisor")
        .config("timeout_ms", "2000")
        .permissions(
            Permissions::deny_all()
                .allow_target("advisor")
                .allow_subject(SubjectPattern::new("notices.*").unwrap()),
        )
        .limits(big_limits())
}

/// A host running the advisor, which has counted one notice for the
/// kitchen (handled: a topic message travels through the broker, so a
/// request made right after the publish could overtake it).
async fn advisor_with_a_notice(dir: &Path) -> airssys_testkit::Result<TestHost> {
    let t = TestHost::new()?;
    t.spawn(advisor(dir)).await?;
    t.publish(
        "notices.kitchen",
        codec::encode_json(&json!({"room": "kitchen"})).unwrap(),
    )?;
    t.expect_counters(
        "advisor",
        Counters {
            handled: 1,
            ..Counters::default()
        },
    )
    .await?;
    Ok(t)
}

fn json_of(payload: &[u8]) -> Value {
    codec::decode_json(payload).unwrap_or_else(|e| panic!("{e}: {payload:?}"))
}

#[tokio::test]
async fn the_python_advisor_answers_alerts_and_counts_notices() -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = TestHost::new()?;
    t.spawn(advisor(&dir)).await?;
    let advice = t.expect_reply("advisor", "kitchen high 31.5").await?;
    assert_eq!(&advice[..], b"open a window in the kitchen");
    let advice = t.expect_reply("advisor", "porch low -6.0").await?;
    assert_eq!(&advice[..], b"the porch pipes may freeze");
    t.publish(
        "notices.kitchen",
        codec::encode_json(&json!({"room": "kitchen"})).unwrap(),
    )?;
    t.expect_counters(
        "advisor",
        Counters {
            handled: 3,
            ..Counters::default()
        },
    )
    .await?;
    let report = t.expect_reply("advisor", "report").await?;
    assert_eq!(json_of(&report), json!({"kitchen": 1}));
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test]
async fn the_javascript_notifier_asks_the_python_advisor_and_publishes_a_json_notice(
) -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = TestHost::new()?;
    t.spawn(advisor(&dir)).await?;
    t.spawn(notifier(&dir)).await?;
    t.publish("alerts.porch", "porch low -2.0")?;
    let notice = t.expect_published("notices.porch").await?;
    assert_eq!(notice.sender.as_deref(), Some("notifier"));
    assert_eq!(
        json_of(&notice.payload),
        json!({"room": "porch", "level": "low", "celsius": -2, "advice": "close the porch door"})
    );
    assert_eq!(&t.expect_reply("notifier", "count").await?[..], b"1");
    // The advisor counted the notice it was sent through the topic (after
    // the notifier's request: two messages handled).
    t.expect_counters(
        "advisor",
        Counters {
            handled: 2,
            ..Counters::default()
        },
    )
    .await?;
    let report = t.expect_reply("advisor", "report").await?;
    assert_eq!(json_of(&report), json!({"porch": 1}));
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test]
async fn a_python_err_handler_error_is_dead_lettered_and_keeps_the_instance(
) -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = advisor_with_a_notice(&dir).await?;
    let refused = t.request("advisor", "kitchen high warm").await.unwrap_err();
    assert!(refused.to_string().contains("code 1"), "{refused}");
    let dead = t.expect_dead_letter("rejected").await?;
    assert_eq!(
        (dead.target.as_str(), &dead.payload[..]),
        ("advisor", &b"kitchen high warm"[..])
    );
    // Same instance, same state: the notice counted before is still there.
    let report = t.expect_reply("advisor", "report").await?;
    assert_eq!(json_of(&report), json!({"kitchen": 1}));
    assert_eq!(t.info("advisor").map(|i| i.restarts), Some(0));
    Ok(())
}

#[tokio::test]
async fn an_uncaught_python_exception_traps_and_restarts_with_fresh_state(
) -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = advisor_with_a_notice(&dir).await?;
    assert!(t.request("advisor", "crash").await.is_err());
    t.expect_restart("advisor").await?;
    let report = t.expect_reply("advisor", "report").await?;
    assert_eq!(json_of(&report), json!({}));
    Ok(())
}

#[tokio::test]
async fn a_javascript_thrown_handler_error_is_dead_lettered_and_a_thrown_error_restarts(
) -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = TestHost::new()?;
    t.spawn(advisor(&dir)).await?;
    t.spawn(notifier(&dir)).await?;
    t.publish("alerts.kitchen", "kitchen high 31.5")?;
    t.expect_published("notices.kitchen").await?;

    // `throw {code, reason}` is the world's handler-error: dead-lettered
    // with its code, the instance and its count kept.
    let refused = t.request("notifier", "what?").await.unwrap_err();
    assert!(refused.to_string().contains("code 1"), "{refused}");
    let dead = t.expect_dead_letter("rejected").await?;
    assert_eq!(dead.target, "notifier");
    assert_eq!(&t.expect_reply("notifier", "count").await?[..], b"1");

    // `throw new Error(...)` is not a handler-error: the instance traps and
    // its supervisor restarts it with fresh state.
    assert!(t.request("notifier", "crash").await.is_err());
    t.expect_restart("notifier").await?;
    assert_eq!(&t.expect_reply("notifier", "count").await?[..], b"0");
    Ok(())
}

#[test]
fn the_example_cases_of_the_python_and_javascript_components_pass() {
    let Some(_) = guests() else { return };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args([
            "test",
            common::sensors().join("cases.toml").to_str().unwrap(),
        ])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("7 passed, 0 failed"), "{stdout}");
}

#[test]
fn the_python_and_javascript_bench_scenarios_run_beside_bare_wasmtime() {
    let Some(dir) = guests() else { return };
    let json = tempfile::tempdir().unwrap();
    let path = json.path().join("bench.json");
    let mut args = vec!["bench", "--quick", "--guests", dir.to_str().unwrap()];
    args.extend(["--json", path.to_str().unwrap()]);
    for s in ["spawn_python", "memory_python", "spawn_js", "memory_js"] {
        args.extend(["--scenario", s]);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(&args)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let rows = report["scenarios"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "{report}");
    for row in rows {
        let baseline = row["baseline"]["name"].as_str().unwrap();
        assert!(
            baseline.contains("Python") || baseline.contains("JavaScript"),
            "{row}"
        );
        let ratio = row["ratio_p50"].as_f64().or(row["ratio"].as_f64()).unwrap();
        assert!(ratio > 0.0, "{row}");
    }
}
