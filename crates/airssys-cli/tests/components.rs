//! Component Model guests through the CLI: `componentize`, `inspect`
//! (WIT world), `invoke` (WAVE values) and `airssys run` with a manifest
//! that mixes components and core modules.

use std::process::{Command, Output};

fn airssys(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

/// A component fixture of airssys-wasm's tests, as a core module in WAT.
fn component_wat(name: &str) -> String {
    let dir = format!(
        "{}/../airssys-wasm/tests/fixtures/components",
        env!("CARGO_MANIFEST_DIR")
    );
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}.wat")).unwrap();
    format!("(module\n{}\n{}\n)", read("prelude"), read(name))
}

/// Writes the fixture's core module into `dir` and componentizes it with
/// the CLI; returns the component's path.
fn componentize(dir: &std::path::Path, name: &str) -> String {
    let module = dir.join(format!("{name}.core.wat"));
    std::fs::write(&module, component_wat(name)).unwrap();
    let output = dir.join(format!("{name}.wasm"));
    let out = airssys(&[
        "componentize",
        module.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    output.display().to_string()
}

#[test]
fn componentize_inspect_and_invoke_a_component_of_the_world() {
    let dir = tempfile::tempdir().unwrap();
    let health = componentize(dir.path(), "health");

    let out = airssys(&["inspect", &health]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("form:    component (Component Model)"),
        "{text}"
    );
    assert!(
        text.contains("export health: func() -> health-status;"),
        "{text}"
    );
    assert!(text.contains("interface messaging {"), "{text}");
    assert!(
        text.contains("airssys:component world: satisfied"),
        "{text}"
    );

    let out = airssys(&["invoke", &health, "health"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"degraded("warming up")"#
    );

    let message = r#"{sender: none, subject: some("a.b"), correlation-id: none, payload: [102, 97, 105, 108]}"#;
    let out = airssys(&["invoke", &health, "handle-message", message]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"err({code: 7, reason: ""})"#
    );

    // Bad command lines exit 2 with the reason.
    let out = airssys(&["invoke", &health, "handle-message", "{sender: none}"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing field \"payload\""), "{err}");
    let out = airssys(&["invoke", &health, "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("handle-message, health, cleanup"), "{err}");
    let out = airssys(&["invoke", &health, "health", "1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn componentize_refuses_a_module_that_does_not_fit_the_world() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("plain.wat");
    std::fs::write(
        &module,
        r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0))"#,
    )
    .unwrap();
    let out = airssys(&[
        "componentize",
        module.to_str().unwrap(),
        "-o",
        dir.path().join("x.wasm").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not fit the airssys:component/component@0.1.0 world"),
        "{err}"
    );
}

#[test]
fn a_manifest_runs_components_beside_core_modules_and_accounts_for_every_message() {
    let dir = tempfile::tempdir().unwrap();
    componentize(dir.path(), "counter");
    componentize(dir.path(), "crasher");
    std::fs::write(
        dir.path().join("echo.wat"),
        std::fs::read_to_string(format!(
            "{}/../airssys-wasm/tests/fixtures/echo.wat",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let manifest = dir.path().join("airssys.toml");
    std::fs::write(
        &manifest,
        "[[component]]\nname = \"counter\"\npath = \"counter.wasm\"\n\n\
         [[component]]\nname = \"crasher\"\npath = \"crasher.wasm\"\n\n\
         [[component]]\nname = \"echo\"\npath = \"echo.wat\"\n\n\
         [[drive]]\nsend = \"counter\"\nevery = \"1ms\"\ncount = 40\n\n\
         [[drive]]\nrequest = \"echo\"\nevery = \"1ms\"\ncount = 20\n\n\
         [[drive]]\nsend = \"crasher\"\npayload = \"crash\"\nevery = \"5ms\"\ncount = 3\n",
    )
    .unwrap();
    let out = airssys(&[
        "run",
        manifest.to_str().unwrap(),
        "--duration",
        "30s",
        "--quiet",
        "--until-drives-done",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ended: drives done"), "{stdout}");
    let row = |id: &str| -> Vec<String> {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no row for {id}: {stdout}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(row("counter")[1..3], ["40", "40"], "{stdout}");
    assert_eq!(row("echo")[1..3], ["20", "20"], "{stdout}");
    // Each crash was a failed message, dead-lettered, and a restart.
    assert_eq!(row("crasher")[1], "3", "{stdout}");
    assert!(
        stdout.contains("handled 60 + dead-lettered 3 = 63 of 63 delivered: ok"),
        "{stdout}"
    );
}
