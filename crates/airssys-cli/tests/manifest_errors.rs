//! A bad manifest is refused before anything starts, with
//! `file:line:column` and what is wrong.

use std::path::Path;
use std::process::Command;

const GUEST: &str = include_str!("../../../examples/orders/audit.wat");

/// Writes `manifest` (and a valid guest `a.wat`) into a fresh folder and
/// runs `airssys check` on it; returns (exit code, stderr, manifest path).
fn check(manifest: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.wat"), GUEST).unwrap();
    let path = dir.path().join("airssys.toml");
    std::fs::write(&path, manifest).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim_end().to_owned(),
        path.display().to_string(),
    )
}

fn assert_refused(manifest: &str, position: &str, message: &str) {
    let (code, stderr, path) = check(manifest);
    assert_eq!(code, 2, "stderr: {stderr}");
    assert_eq!(stderr, format!("error: {path}:{position}: {message}"));
}

#[test]
fn unknown_key_is_refused_with_its_position() {
    assert_refused(
        "[host]\nmax_componentz = 3\n",
        "2:1",
        "unknown field `max_componentz`, expected one of `max_components`, \
         `max_core_instances_per_component`, `max_memories_per_component`, \
         `max_tables_per_component`, `max_table_elements`, `max_memory_per_component`, \
         `dead_letter_subject`, `metrics_addr`, `shutdown_timeout`, `cache_dir`, `limits`, \
         `intensity`, `backoff`",
    );
}

#[test]
fn missing_field_is_refused_at_its_table() {
    assert_refused(
        "[host]\nmax_components = 4\n\n[[component]]\nname = \"a\"\n",
        "4:1",
        "missing field `path`",
    );
}

#[test]
fn bad_value_is_refused_at_the_value() {
    assert_refused(
        "[[component]]\nname = \"a\"\npath = \"a.wat\"\nrestart = \"sometimes\"\n",
        "4:11",
        "unknown variant `sometimes`, expected one of `permanent`, `transient`, `temporary`",
    );
    assert_refused(
        "[[component]]\nname = \"a\"\npath = \"a.wat\"\nhealth = { interval = \"soon\", timeout = \"1s\", threshold = 1 }\n",
        "4:23",
        "invalid duration `soon`: expected number at 0 (expected e.g. \"250ms\", \"5s\", \"1m\")",
    );
    assert_refused(
        "[[component]]\nname = \"a\"\npath = \"a.wat\"\n[component.limits]\nmax_memory = \"lots\"\n",
        "5:14",
        "invalid byte size `lots` (expected e.g. 65536, \"64KiB\", \"16MiB\")",
    );
}

#[test]
fn unknown_component_in_an_allow_list_is_refused() {
    assert_refused(
        "[[component]]\nname = \"a\"\npath = \"a.wat\"\nsend = [\"a\", \"billing\"]\n",
        "4:14",
        "component `a` allows sending to unknown component `billing`",
    );
}

#[test]
fn group_cycle_is_refused() {
    assert_refused(
        "[[group]]\nname = \"g1\"\nparent = \"g2\"\n\n[[group]]\nname = \"g2\"\nparent = \"g1\"\n",
        "3:10",
        "group cycle: g1 -> g2 -> g1",
    );
}

#[test]
fn missing_file_is_refused_at_the_path() {
    let (code, stderr, path) = check("[[component]]\nname = \"a\"\npath = \"nope.wat\"\n");
    assert_eq!(code, 2);
    let missing = Path::new(&path).parent().unwrap().join("nope.wat");
    assert_eq!(
        stderr,
        format!(
            "error: {path}:3:8: component `a`: cannot read `{}`: file not found",
            missing.display()
        )
    );
}

#[test]
fn unknown_group_and_too_small_pool_are_refused() {
    assert_refused(
        "[[component]]\nname = \"a\"\npath = \"a.wat\"\ngroup = \"nowhere\"\n",
        "4:9",
        "component `a` names unknown group `nowhere`",
    );
    assert_refused(
        "[host]\nmax_components = 2\n\n[[component]]\nname = \"a\"\npath = \"a.wat\"\ninstances = 3\n",
        "2:18",
        "host.max_components is 2 but the components need 3 instances",
    );
}

#[test]
fn bad_subject_pattern_is_refused() {
    assert_refused(
        "[[component]]\nname = \"a\"\npath = \"a.wat\"\nsubscribe = [\"a..b\"]\n",
        "4:14",
        // The pattern parser's own words, after the component and the key.
        &format!(
            "component `a`: subscribe: {}",
            airssys_wasm::SubjectPattern::new("a..b").unwrap_err()
        ),
    );
}

#[test]
fn drive_without_target_is_refused() {
    assert_refused(
        "[[drive]]\nevery = \"1s\"\n",
        "1:1",
        "a drive needs exactly one of `publish`, `send` or `request`",
    );
}

#[test]
fn the_example_manifest_is_valid() {
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/orders/airssys.toml"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(["check", manifest])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("ok (4 components, 5 instances, 2 groups, 2 drives)"));
}

#[test]
fn broker_client_certificate_without_its_key_is_refused() {
    assert_refused(
        "[broker]\nurl = \"nats://127.0.0.1:4222\"\ntls_cert = \"a.wat\"\n",
        "3:12",
        "broker `tls_cert` needs `tls_key`, the client certificate's private key",
    );
}

#[test]
fn broker_with_two_ways_to_authenticate_is_refused_at_the_second() {
    assert_refused(
        "[broker]\ncredentials = \"a.wat\"\ntoken_file = \"a.wat\"\n",
        "3:14",
        "broker `token_file` and `credentials` are two ways to authenticate: set one",
    );
    assert_refused(
        "[broker]\npassword_file = \"a.wat\"\n",
        "2:17",
        "broker `password_file` needs `user`",
    );
}

#[test]
fn broker_secret_file_that_does_not_exist_is_refused_with_its_resolved_path() {
    let (code, stderr, path) =
        check("[broker]\nurl = \"nats://127.0.0.1:4222\"\ntls_ca = \"ca.pem\"\n");
    assert_eq!(code, 2, "stderr: {stderr}");
    let ca = Path::new(&path).with_file_name("ca.pem");
    assert_eq!(
        stderr,
        format!(
            "error: {path}:3:10: broker `tls_ca`: cannot read `{}`: file not found",
            ca.display()
        )
    );
}

#[test]
fn show_replies_on_a_drive_without_replies_is_refused() {
    assert_refused(
        "[[component]]\nname = \"a\"\npath = \"a.wat\"\n\n\
         [[drive]]\nsend = \"a\"\nevery = \"1s\"\nshow_replies = true\n",
        "8:16",
        "drive: `show_replies` needs a `request` drive (sends and publishes have no replies)",
    );
}
