//! `airssys test <cases file>`: declarative cases against a manifest's
//! components (here the orders example's WAT `pricing`, so no guest
//! toolchain is needed; the Python and JavaScript components' cases run in
//! `py_js_guests.rs`).

use std::path::Path;
use std::process::{Command, Output};

/// Writes `cases` (after a header naming the orders example's manifest and
/// its `pricing` component) into a fresh folder and runs `airssys test`.
fn airssys_test(cases: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/orders/airssys.toml");
    let file = dir.path().join("pricing.cases.toml");
    std::fs::write(
        &file,
        format!(
            "manifest = {:?}\ncomponents = [\"pricing\"]\ntimeout = \"5s\"\n\n{cases}",
            manifest.display().to_string()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_airssys"))
        .arg("test")
        .arg(&file)
        .env("RUST_LOG", "off")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn passing_cases_exit_zero_with_a_line_each() {
    let out = airssys_test(
        r#"
[[case]]
name = "prices an order"
steps = [
  { request = "pricing", payload = "o-1", reply = "priced:o-1" },
  { send = "pricing", payload = "o-2" },
  { expect_handled = "pricing", count = 2 },
]

[[case]]
name = "an injected crash restarts it"
steps = [
  { crash = "pricing" },
  { expect_restart = "pricing", within = "5s" },
  { request = "pricing", payload = "o-3", reply = "priced:o-3" },
  { expect_no_publish = "orders.>", within = "50ms" },
]
"#,
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("2 case(s) on pricing of "), "{text}");
    assert!(text.contains("case prices an order ... ok"), "{text}");
    assert!(
        text.contains("case an injected crash restarts it ... ok"),
        "{text}"
    );
    assert!(text.contains("2 passed, 0 failed"), "{text}");
}

#[test]
fn a_failing_case_shows_the_step_the_expectation_the_outcome_and_the_traffic() {
    let out = airssys_test(
        r#"
[[case]]
name = "wrong reply"
steps = [
  { request = "pricing", payload = "o-1", reply = "priced:o-1" },
  { request = "pricing", payload = "o-2", reply = "free:o-2" },
  { request = "pricing", payload = "never sent" },
]

[[case]]
name = "still runs after a failure"
steps = [{ request = "pricing", payload = "o-9", reply = "priced:o-9" }]
"#,
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("case wrong reply ... FAILED"), "{text}");
    assert!(
        text.contains("  at step 2: request pricing \"o-2\""),
        "{text}"
    );
    assert!(
        text.contains("  expected: the reply \"free:o-2\""),
        "{text}"
    );
    assert!(
        text.contains("  but:      pricing replied \"priced:o-2\""),
        "{text}"
    );
    assert!(text.contains("  recorded traffic ("), "{text}");
    assert!(text.contains("test request  pricing: \"o-2\""), "{text}");
    assert!(!text.contains("never sent"), "{text}");
    assert!(
        text.contains("case still runs after a failure ... ok"),
        "{text}"
    );
    assert!(text.contains("1 passed, 1 failed"), "{text}");
}

#[test]
fn a_handler_error_is_expected_with_error_and_its_dead_letter() {
    // pricing refuses (code 1) a payload over 2048 bytes.
    let big = "x".repeat(3000);
    let out = airssys_test(&format!(
        r#"
[[case]]
name = "too big to price"
steps = [
  {{ request = "pricing", payload = "{big}", error = "code 1" }},
  {{ expect_dead_letter = "rejected", target = "pricing" }},
]
"#
    ));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
}

#[test]
fn a_malformed_cases_file_exits_two_naming_the_case_and_step() {
    let out = airssys_test(
        r#"
[[case]]
name = "two actions"
steps = [
  { request = "pricing", payload = "o-1" },
  { send = "pricing", crash = "pricing" },
]
"#,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "case `two actions`, step 2: a step takes one action, this one has send and crash"
        ),
        "{stderr}"
    );
}
