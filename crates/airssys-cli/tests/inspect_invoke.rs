//! `airssys inspect` and `airssys invoke` on real guests.

use std::process::{Command, Output};

fn airssys(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(args)
        .output()
        .unwrap()
}

fn example(name: &str) -> String {
    format!(
        "{}/../../examples/orders/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn fixture(name: &str, text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let p = path.display().to_string();
    (dir, p)
}

const ADD: &str = r#"(module
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "mix") (param i64 f32 f64) (result f64)
    local.get 2 local.get 1 f64.promote_f32 f64.add local.get 0 f64.convert_i64_s f64.add)
  (memory (export "mem") 1))"#;

#[test]
fn inspect_reports_a_core_abi_guest_with_signatures() {
    let out = airssys(&["inspect", &example("validator.wat")]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("form:    core module"), "{text}");
    assert!(
        text.contains(
            "airssys.request              func (i32, i32, i32, i32, i32, i32, i32) -> (i32)"
        ),
        "{text}"
    );
    assert!(
        text.contains("handle-message               func (i32, i32) -> (i32)"),
        "{text}"
    );
    assert!(text.contains("core ABI: satisfied"), "{text}");
}

#[test]
fn inspect_lists_what_is_missing_for_the_core_abi() {
    let (_dir, path) = fixture("add.wat", ADD);
    let out = airssys(&["inspect", "--json", &path]);
    assert_eq!(out.status.code(), Some(3), "not satisfied exits 3");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["form"], "core_module");
    assert_eq!(v["core_abi"], false);
    let problems: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        problems,
        [
            "missing required export `memory` (memory)",
            "missing required export `alloc` (func (i32) -> (i32))",
            "missing required export `handle-message` (func (i32, i32) -> (i32))",
        ]
    );
}

#[test]
fn inspect_flags_foreign_imports_and_recognises_components() {
    let (_d, wasi) = fixture(
        "wasi.wat",
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) i32.const 0)
            (func (export "handle-message") (param i32 i32) (result i32) i32.const 0))"#,
    );
    let text = String::from_utf8(airssys(&["inspect", &wasi]).stdout).unwrap();
    assert!(
        text.contains("import `wasi_snapshot_preview1`.`fd_write` is not provided"),
        "{text}"
    );

    let (_c, component) = fixture("c.wat", "(component)");
    let out = airssys(&["inspect", &component]);
    assert_eq!(out.status.code(), Some(3), "outside the world exits 3");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("form:    component (Component Model)"),
        "{text}"
    );
    assert!(
        text.contains("airssys:component world: not satisfied"),
        "{text}"
    );
    assert!(
        text.contains("missing export named `handle-message`"),
        "{text}"
    );

    let (_n, junk) = fixture("junk.wasm", "\u{1}\u{2}not wasm at all (");
    let out = airssys(&["inspect", &junk]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn invoke_parses_arguments_by_signature_and_prints_results() {
    let (_dir, path) = fixture("add.wat", ADD);
    let out = airssys(&["invoke", &path, "add", "40", "2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");
    let out = airssys(&["invoke", &path, "add", "-1", "0x10"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "15\n");
    let out = airssys(&["invoke", &path, "mix", "1", "0.5", "0.25"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1.75\n");
}

#[test]
fn invoke_runs_a_core_abi_guest_after_its_init() {
    let out = airssys(&["invoke", &example("audit.wat"), "count"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n");
}

#[test]
fn invoke_errors_are_typed_with_a_non_zero_exit() {
    let (_dir, path) = fixture("add.wat", ADD);
    let cases: [(&[&str], &str); 4] = [
        (
            &["nope"],
            "error: unknown export `nope` (exported functions: add, mix)",
        ),
        (
            &["add", "1"],
            "error: export `add` takes 2 argument(s) (func (i32, i32) -> (i32)), 1 given",
        ),
        (
            &["add", "1", "two"],
            "error: argument 2 of `add`: `two` is not a valid i32",
        ),
        (&["mem"], "error: export `mem` is a memory, not a function"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["invoke", path.as_str()];
        all.extend_from_slice(args);
        let out = airssys(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim_end(), expected);
    }
    let (_t, trap) = fixture("trap.wat", r#"(module (func (export "boom") unreachable))"#);
    let out = airssys(&["invoke", &trap, "boom"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable"));
}

#[test]
fn inspect_into_a_closed_pipe_ends_quietly_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    // The reading end is closed before the command starts, so its first
    // write meets a broken pipe (what `airssys inspect x | head -1` does
    // once head has its line).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(["inspect", &example("validator.wat")])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}
