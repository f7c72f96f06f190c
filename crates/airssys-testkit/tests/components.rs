//! The testkit with Component Model guests: each expectation, fault and
//! the paused clock work for a component as they do for a core module.
//! The components are airssys-wasm's component fixtures (a core module
//! after a shared canonical-ABI prelude), made components with
//! [`component_from_module`].

use std::time::Duration;

use airssys_rt::supervisor::HealthConfig;
use airssys_testkit::{component_from_module, spec_from_file, Counters, Error, TestHost};
use airssys_wasm::{ComponentSpec, GuestHealth, Permissions, SubjectPattern};

/// The core module of airssys-wasm's component fixture `name`.
fn module(name: &str) -> String {
    let dir = format!(
        "{}/../airssys-wasm/tests/fixtures/components",
        env!("CARGO_MANIFEST_DIR")
    );
    let read = |file: &str| std::fs::read_to_string(format!("{dir}/{file}.wat")).unwrap();
    format!("(module\n{}\n{}\n)", read("prelude"), read(name))
}

/// Component fixture `name` as component `id`.
fn component(id: &str, name: &str) -> ComponentSpec {
    component_from_module(id, module(name)).unwrap()
}

#[tokio::test(start_paused = true)]
async fn expect_reply_returns_what_a_component_returned() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    t.spawn(component("echo", "echo")).await?;
    assert_eq!(&t.expect_reply("echo", "ping").await?[..], b"ping");
    t.expect_counters(
        "echo",
        Counters {
            handled: 1,
            ..Counters::default()
        },
    )
    .await?;
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn expect_published_sees_what_a_component_published() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    let may_publish = Permissions::deny_all().allow_subject(SubjectPattern::new("events.*")?);
    t.spawn(component("caller", "host_calls").permissions(may_publish))
        .await?;
    t.send("caller", "phello").await?;
    let out = t.expect_published("events.out").await?;
    assert_eq!(
        (out.sender.as_deref(), &out.payload[..]),
        (Some("caller"), &b"hello"[..])
    );
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_trapping_component_is_dead_lettered_and_restarted() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    t.spawn(component("crasher", "crasher")).await?;
    t.send("crasher", "crash").await?;
    assert_eq!(
        &t.expect_dead_letter("handler_failed").await?.payload[..],
        b"crash"
    );
    t.expect_restart("crasher").await?;
    assert_eq!(&t.expect_reply("crasher", "after").await?[..], b"after");
    t.expect_counters(
        "crasher",
        Counters {
            handled: 1,
            failed: 1,
            restarts: 1,
        },
    )
    .await?;
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_injected_crash_restarts_a_component_with_fresh_state() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    t.spawn(component("counter", "counter")).await?;
    t.send("counter", "x").await?;
    t.crash("counter").await?;
    t.expect_restart("counter").await?;
    assert_eq!(
        &t.expect_reply("counter", "x").await?[..],
        &1u32.to_le_bytes()
    );
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn expect_health_sees_the_health_a_component_reports() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    t.spawn(component("warm", "health")).await?;
    t.expect_health("warm", GuestHealth::Degraded("warming up".into()))
        .await?;
    t.send("warm", "go").await?;
    t.expect_health("warm", GuestHealth::Healthy).await?;
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn fail_health_restarts_a_component_under_health_checks() -> airssys_testkit::Result {
    let t = TestHost::new()?;
    let checks = HealthConfig::new(Duration::from_secs(1), Duration::from_millis(500), 3);
    t.spawn(component("echo", "echo").health(checks)).await?;
    t.fail_health("echo").await?;
    let injected = GuestHealth::Unhealthy("health failure injected by the test".into());
    t.expect_health("echo", injected).await?;
    t.expect_restart("echo").await?;
    t.expect_health("echo", GuestHealth::Healthy).await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_component_reads_the_paused_clock() -> airssys_testkit::Result {
    let started = std::time::Instant::now();
    let t = TestHost::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    t.spawn(component("clock", "clock")).await?;
    let before = u64::from_le_bytes(
        t.expect_reply("clock", "now").await?[..]
            .try_into()
            .unwrap(),
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    let after = u64::from_le_bytes(
        t.expect_reply("clock", "now").await?[..]
            .try_into()
            .unwrap(),
    );
    assert!(after - before >= 60_000, "{before} -> {after}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?} of real time",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn spec_from_file_takes_a_component_binary() -> airssys_testkit::Result {
    let path =
        std::env::temp_dir().join(format!("airssys-testkit-{}-echo.wasm", std::process::id()));
    std::fs::write(
        &path,
        airssys_wasm::wit::componentize(module("echo").as_bytes(), None).unwrap(),
    )
    .unwrap();
    let t = TestHost::new()?;
    t.spawn(spec_from_file("echo", &path)?).await?;
    std::fs::remove_file(&path).unwrap();
    assert_eq!(&t.expect_reply("echo", "ping").await?[..], b"ping");
    Ok(())
}

#[test]
fn a_module_that_does_not_fit_the_world_is_a_componentize_error_naming_the_component() {
    let module = r#"(module (memory (export "memory") 1))"#;
    match component_from_module("empty", module) {
        Err(error @ Error::Componentize { .. }) => {
            assert!(
                error.to_string().starts_with("cannot make component empty"),
                "{error}"
            );
        }
        other => panic!("expected a componentize error, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn invoke_dynamic_calls_a_component_export_with_wit_values() -> airssys_testkit::Result {
    use airssys_wasm::ComponentValue as V;
    let t = TestHost::new()?;
    t.spawn(component("warm", "health")).await?;
    let health = t.invoke_dynamic("warm", "health", vec![]).await?;
    let degraded = V::Variant(
        "degraded".into(),
        Some(Box::new(V::String("warming up".into()))),
    );
    assert_eq!(health, vec![degraded]);
    assert!(t
        .invoke_dynamic("warm", "health", vec![V::Bool(true)])
        .await
        .is_err());
    t.expect_counters(
        "warm",
        Counters {
            handled: 1,
            failed: 1,
            restarts: 0,
        },
    )
    .await?;
    t.expect_ledger_balanced().await?;
    Ok(())
}
