//! WASI grants nothing that a spec does not grant: a C component
//! (`tests/guests/wasi_probe.c`, wit-bindgen's C bindings and wasi-libc,
//! built by `examples/sensors/build.sh`) tries each kind of access, by
//! payload, in the real host, under no grants and under each grant.
//!
//! What the host counts as denied (`ComponentInfo::denied`): wall-clock
//! reads without the grant (they read the Unix epoch) and refused socket
//! addresses. Sockets are not probed: Debian's wasi-libc has no
//! `socket`/`connect` (WASI preview 1 cannot open one). Files outside the
//! preopened directories and ungranted variables do not exist for the
//! guest, and writes to a read-only directory fail inside WASI: refused,
//! not counted.
//!
//! Same rule as `guests.rs`: without the toolchains each test of the probe
//! prints `skipped: <why>` and passes, unless
//! `AIRSSYS_REQUIRE_GUEST_TOOLCHAINS=1`. The first two tests need no
//! toolchain: their guest is WAT, adapted with `componentize --wasi`.

mod common;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use airssys_testkit::TestHost;
use airssys_wasm::{ComponentSpec, WasiGrants};

use common::guests;

/// A core module of the world that imports WASI preview 1 directly: its
/// `handle-message` reads the real-time clock (`clock_time_get`) and
/// replies with the 8 bytes of nanoseconds. Its allocator never frees:
/// the WASI adapter keeps its state in memory it allocated.
const CLOCK_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (i32.and
      (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
      (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $p) (local.get $size)))
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then
        (if (i32.eq (memory.grow (i32.add (i32.shr_u (local.get $size) (i32.const 16)) (i32.const 1)))
                    (i32.const -1))
          (then unreachable))))
    (if (local.get $old)
      (then (memory.copy (local.get $p) (local.get $old) (local.get $old_size))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func (export "handle-message")
    (param i32 i32 i32 i32 i32 i32 i32 i64 i32 i32) (result i32)
    (if (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 64))
      (then unreachable))
    ;; ok(some([8 bytes at 64])) in the return area at 16.
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store8 (i32.const 20) (i32.const 1))
    (i32.store (i32.const 24) (i32.const 64))
    (i32.store (i32.const 28) (i32.const 8))
    (i32.const 16)))"#;

/// [`CLOCK_WAT`] made a component with the CLI's `componentize --wasi`,
/// written into `dir`.
fn clock_component(dir: &Path) -> Vec<u8> {
    let module = dir.join("clock.wat");
    let component = dir.join("clock.component.wasm");
    std::fs::write(&module, CLOCK_WAT).unwrap();
    common::airssys_ok([
        "componentize".as_ref(),
        "--wasi".as_ref(),
        module.as_os_str(),
        "-o".as_ref(),
        component.as_os_str(),
    ]);
    std::fs::read(component).unwrap()
}

/// The real-time clock the component read, in nanoseconds.
async fn read_clock(t: &TestHost, id: &str) -> airssys_testkit::Result<u64> {
    let reply = t.expect_reply(id, "now?").await?;
    Ok(u64::from_le_bytes(reply[..].try_into().expect("8 bytes")))
}

#[test]
fn a_component_importing_wasi_targets_the_world() {
    let dir = tempfile::tempdir().unwrap();
    clock_component(dir.path());
    let component = dir.path().join("clock.component.wasm");
    let out = common::airssys_ok(["inspect", "--json", component.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["form"], "component", "{out}");
    assert_eq!(v["airssys_world"], true, "{out}");
    assert!(out.contains("wasi:clocks/wall-clock@"), "{out}");
}

#[tokio::test(start_paused = true)]
async fn the_wall_clock_reads_the_epoch_and_counts_each_read_unless_granted(
) -> airssys_testkit::Result {
    let dir = tempfile::tempdir().unwrap();
    let bytes = clock_component(dir.path());
    let t = TestHost::new()?;
    t.spawn(ComponentSpec::new("epoch", bytes.clone())).await?;
    t.spawn(ComponentSpec::new("clock", bytes).wasi(WasiGrants::none().wall_clock(true)))
        .await?;

    for reads in 1..=3 {
        assert_eq!(read_clock(&t, "epoch").await?, 0);
        assert_eq!(t.info("epoch").unwrap().denied, reads);
    }
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let nanos = read_clock(&t, "clock").await?;
    let after = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    assert!(
        (before.as_nanos()..=after.as_nanos()).contains(&u128::from(nanos)),
        "{nanos} not in {before:?}..={after:?}"
    );
    assert_eq!(t.info("clock").unwrap().denied, 0);
    t.expect_ledger_balanced().await?;
    Ok(())
}

/// Spawns the probe as `probe` with `grants`.
async fn probe(t: &TestHost, dir: &Path, grants: WasiGrants) -> airssys_testkit::Result {
    let spec = airssys_testkit::spec_from_file("probe", dir.join("wasi_probe.component.wasm"))?
        .wasi(grants);
    t.spawn(spec).await?;
    Ok(())
}

/// The probe's answer to `command`, as text.
async fn ask(t: &TestHost, command: &str) -> airssys_testkit::Result<String> {
    let reply = t.expect_reply("probe", command.to_owned()).await?;
    Ok(String::from_utf8(reply.to_vec()).expect("the probe answers in UTF-8"))
}

/// The probe's denials so far.
fn denied(t: &TestHost) -> u64 {
    t.info("probe").expect("the probe is running").denied
}

/// Seconds since the Unix epoch, on the host.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(start_paused = true)]
async fn with_no_grants_every_access_fails_and_only_clock_reads_are_counted(
) -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = TestHost::new()?;
    probe(&t, &dir, WasiGrants::none()).await?;

    // No preopened directory: no path resolves, absolute or relative.
    assert_eq!(ask(&t, "read /etc/passwd").await?, "err ENOTCAPABLE");
    assert_eq!(ask(&t, "read /data/hello.txt").await?, "err ENOTCAPABLE");
    assert_eq!(ask(&t, "read hello.txt").await?, "err ENOTCAPABLE");
    assert_eq!(ask(&t, "write /tmp/probe.txt x").await?, "err ENOTCAPABLE");
    // No environment at all: not even the host's PATH.
    assert!(std::env::var_os("PATH").is_some());
    assert_eq!(ask(&t, "env PATH").await?, "err unset");
    assert_eq!(ask(&t, "environ").await?, "ok ");
    // Stdout works (it goes to tracing) and is not an access to grant.
    assert_eq!(ask(&t, "stdout hello from the probe").await?, "ok");
    assert_eq!(
        denied(&t),
        0,
        "files and variables are refused, not counted"
    );

    // The wall clock reads the Unix epoch, and each read is a denial.
    assert_eq!(ask(&t, "time").await?, "ok 0");
    assert_eq!(denied(&t), 1);
    assert_eq!(ask(&t, "clock").await?, "ok 0");
    assert_eq!(denied(&t), 2);
    t.expect_ledger_balanced().await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_read_only_directory_can_be_read_but_not_written() -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("hello.txt"), "hello from the host").unwrap();
    let t = TestHost::new()?;
    probe(
        &t,
        &dir,
        WasiGrants::none().read_only_dir(data.path(), "/data"),
    )
    .await?;

    assert_eq!(
        ask(&t, "read /data/hello.txt").await?,
        "ok hello from the host"
    );
    // Neither a new file nor an existing one can be written.
    assert_eq!(ask(&t, "write /data/new.txt x").await?, "err EPERM");
    assert_eq!(ask(&t, "write /data/hello.txt x").await?, "err EPERM");
    assert!(!data.path().join("new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(data.path().join("hello.txt")).unwrap(),
        "hello from the host"
    );
    // Only the granted directory exists.
    assert_eq!(ask(&t, "read /etc/passwd").await?, "err ENOTCAPABLE");
    assert_eq!(denied(&t), 0);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_read_write_directory_can_be_written_and_not_escaped() -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let t = TestHost::new()?;
    probe(&t, &dir, WasiGrants::none().read_write_dir(&data, "/data")).await?;

    assert_eq!(
        ask(&t, "write /data/note.txt written by the guest").await?,
        "ok"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("note.txt")).unwrap(),
        "written by the guest"
    );
    assert_eq!(
        ask(&t, "read /data/note.txt").await?,
        "ok written by the guest"
    );
    // `..` does not climb out of the preopen.
    std::fs::write(parent.path().join("secret.txt"), "host only").unwrap();
    assert_eq!(ask(&t, "read /data/../secret.txt").await?, "err EPERM");
    assert_eq!(ask(&t, "write /data/../escaped.txt x").await?, "err EPERM");
    assert!(!parent.path().join("escaped.txt").exists());
    assert_eq!(denied(&t), 0);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn only_the_granted_environment_variable_is_visible() -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let t = TestHost::new()?;
    probe(&t, &dir, WasiGrants::none().env("SENSOR_MODE", "test")).await?;

    assert_eq!(ask(&t, "env SENSOR_MODE").await?, "ok test");
    assert_eq!(ask(&t, "env PATH").await?, "err unset");
    assert_eq!(ask(&t, "environ").await?, "ok SENSOR_MODE");
    // An environment grant is not a directory grant.
    assert_eq!(ask(&t, "read /etc/passwd").await?, "err ENOTCAPABLE");
    assert_eq!(denied(&t), 0);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_granted_wall_clock_is_the_host_s_and_reads_are_not_counted() -> airssys_testkit::Result
{
    let Some(dir) = guests() else { return Ok(()) };
    let t = TestHost::new()?;
    probe(&t, &dir, WasiGrants::none().wall_clock(true)).await?;

    for command in ["time", "clock"] {
        let before = now_secs();
        let answer = ask(&t, command).await?;
        let after = now_secs();
        let secs: u64 = answer
            .strip_prefix("ok ")
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{command}: {answer}"));
        assert!(
            (before..=after).contains(&secs),
            "{command}: {secs} not in {before}..={after}"
        );
    }
    assert_eq!(denied(&t), 0);
    // The clock grant opens nothing else.
    assert_eq!(ask(&t, "environ").await?, "ok ");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn grants_are_per_component() -> airssys_testkit::Result {
    let Some(dir) = guests() else { return Ok(()) };
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("hello.txt"), "granted").unwrap();
    let t = TestHost::new()?;
    probe(
        &t,
        &dir,
        WasiGrants::none()
            .read_only_dir(data.path(), "/data")
            .env("SENSOR_MODE", "test")
            .wall_clock(true),
    )
    .await?;
    let bare = airssys_testkit::spec_from_file("bare", dir.join("wasi_probe.component.wasm"))?;
    t.spawn(bare).await?;

    assert_eq!(ask(&t, "read /data/hello.txt").await?, "ok granted");
    let reply = t.expect_reply("bare", "read /data/hello.txt").await?;
    assert_eq!(&reply[..], b"err ENOTCAPABLE");
    let reply = t.expect_reply("bare", "env SENSOR_MODE").await?;
    assert_eq!(&reply[..], b"err unset");
    let reply = t.expect_reply("bare", "time").await?;
    assert_eq!(&reply[..], b"ok 0");
    assert_eq!(t.info("bare").unwrap().denied, 1);
    assert_eq!(denied(&t), 0);
    Ok(())
}
