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

use common::{doc_files, guests};

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

/// A toolchain `build.sh` installed: `$var`, or the newest match of
/// `~/.cache/airssys/<prefix>*/<tail>`.
fn installed_tool(var: &str, prefix: &str, tail: &str) -> std::path::PathBuf {
    if let Some(given) = std::env::var_os(var) {
        return given.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap()).join(".cache"))
        .join("airssys");
    std::fs::read_dir(&cache)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path().join(tail))
        .filter(|p| p.exists())
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .unwrap_or_else(|| panic!("no {prefix}* with {tail} in {}", cache.display()))
}

/// Writes the walk-through's files into a fresh folder with the WIT file
/// and the payload helper, builds the component with `build`, and runs the
/// page's `cases.toml` with `airssys test`.
fn walk_through(dir: &str, helper: &str, build: &mut std::process::Command) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let files = doc_files(dir);
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert!(
        names.contains(&"cases.toml") && names.contains(&"airssys.toml"),
        "{names:?}"
    );
    let work = tempfile::tempdir().unwrap();
    for (name, body) in &files {
        std::fs::write(work.path().join(name), body).unwrap();
    }
    std::fs::create_dir(work.path().join("wit")).unwrap();
    std::fs::create_dir(work.path().join("data")).unwrap();
    std::fs::copy(
        root.join("wit/airssys-component.wit"),
        work.path().join("wit/airssys-component.wit"),
    )
    .unwrap();
    let helper_name = Path::new(helper).file_name().unwrap();
    std::fs::copy(root.join(helper), work.path().join(helper_name)).unwrap();
    let built = build.current_dir(work.path()).output().unwrap();
    assert!(
        built.status.success(),
        "{dir}: build failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airssys"))
        .arg("test")
        .arg(work.path().join("cases.toml"))
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{dir}:\n{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

#[test]
fn the_python_walk_through_of_docs_guests_md_builds_and_passes_its_cases() {
    let Some(_) = guests() else { return };
    let componentize_py = installed_tool(
        "AIRSSYS_COMPONENTIZE_PY",
        "componentize-py-",
        "bin/componentize-py",
    );
    walk_through(
        "python",
        "sdk/python/airssys_payload.py",
        std::process::Command::new(componentize_py).args([
            "-d",
            "wit",
            "-w",
            "component",
            "componentize",
            "app",
            "-o",
            "kv.wasm",
        ]),
    );
}

#[test]
fn the_javascript_walk_through_of_docs_guests_md_builds_and_passes_its_cases() {
    let Some(_) = guests() else { return };
    let componentize_js = installed_tool(
        "AIRSSYS_COMPONENTIZE_JS",
        "componentize-js-",
        "node_modules/.bin/componentize-js",
    );
    // What the page's `npm run build` runs.
    let package = doc_files("js")
        .into_iter()
        .find(|f| f.0 == "package.json")
        .expect("the page's package.json");
    let package: Value = serde_json::from_str(&package.1).unwrap();
    assert_eq!(
        package["scripts"]["build"],
        "componentize-js app.js --wit wit --world-name component --disable http fetch-event -o counter.wasm"
    );
    walk_through(
        "js",
        "sdk/js/airssys-payload.js",
        std::process::Command::new(componentize_js).args([
            "app.js",
            "--wit",
            "wit",
            "--world-name",
            "component",
            "--disable",
            "http",
            "fetch-event",
            "-o",
            "counter.wasm",
        ]),
    );
}
