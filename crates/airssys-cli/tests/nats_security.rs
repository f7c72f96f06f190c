//! `airssys run` against a NATS server that requires TLS and a user whose
//! permissions are limited to the application's prefix and inboxes: the
//! manifest's `[broker]` names the CA and the password file (relative to
//! the manifest), the `--nats-*` flags override them, and a refusal ends
//! the run with an error that says why.

use std::path::Path;
use std::process::{Command, Output};

use airssys_testkit::{NatsServer, TestPki};
use tempfile::TempDir;

const AUDIT: &str = include_str!("../../../examples/orders/audit.wat");
const PASSWORD: &str = "s3cret-of-shop";

/// The least a host of application `shop` needs (docs/distribution.md).
const USERS: &str = r#"authorization {
  users = [
    { user: "shop", password: "s3cret-of-shop",
      permissions: {
        publish:   ["shop.>", "_INBOX.>"]
        subscribe: ["shop.>", "_INBOX.>"]
      } }
  ]
}
"#;

/// A TLS server (certificates in `dir`) that admits only user `shop`
/// with [`PASSWORD`], limited to its prefix, and the certificates. The
/// password file is `dir/password`.
fn tls_server(dir: &TempDir) -> Option<(NatsServer, TestPki)> {
    let pki = TestPki::generate(dir.path()).unwrap();
    std::fs::write(dir.path().join("password"), format!("{PASSWORD}\n")).unwrap();
    let config = dir.path().join("nats.conf");
    let text = format!("{}{USERS}", pki.server_tls_block(false));
    std::fs::write(&config, text).unwrap();
    Some((NatsServer::start_with_config(&config)?, pki))
}

/// A manifest in `dir`: `audit` counts `orders.>`, a drive publishes
/// there, and `[broker]` joins `url` with `security` (TOML lines).
fn manifest(dir: &TempDir, url: &str, security: &str) -> String {
    std::fs::write(dir.path().join("audit.wat"), AUDIT).unwrap();
    let path = dir.path().join("airssys.toml");
    std::fs::write(
        &path,
        format!(
            "[broker]\nurl = {url:?}\nprefix = \"shop\"\n{security}\n\
             [[component]]\nname = \"audit\"\npath = \"audit.wat\"\nsubscribe = [\"orders.>\"]\n\n\
             [[drive]]\npublish = \"orders.new\"\nevery = \"20ms\"\npayload = \"o-{{n}}\"\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn run(manifest: &str, extra: &[&Path]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_airssys"));
    command.args(["run", manifest, "--duration", "1s", "--quiet"]);
    for pair in extra.chunks(2) {
        command.arg(pair[0]).arg(pair[1]);
    }
    // Warnings shown: the client logs a server's permission violation as one.
    command.env("RUST_LOG", "warn").output().unwrap()
}

#[test]
fn a_manifest_with_the_ca_and_password_file_runs_over_tls_with_least_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let Some((server, _pki)) = tls_server(&dir) else {
        return;
    };
    // Relative paths: resolved against the manifest's folder, not the
    // current directory.
    let path = manifest(
        &dir,
        &server.url(),
        "tls_ca = \"ca.pem\"\nuser = \"shop\"\npassword_file = \"password\"\n",
    );
    let out = run(&path, &[]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("joined NATS at"), "{stderr}");
    assert!(
        !stderr.to_lowercase().contains("permissions violation"),
        "the least permissions must be enough: {stderr}"
    );
    // The drive's orders went through the TLS server and back to audit.
    let row = stdout
        .lines()
        .find(|l| l.starts_with("audit "))
        .unwrap_or_else(|| panic!("no audit row in:\n{stdout}"));
    let handled: u64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(handled > 0, "{stdout}");
}

#[test]
fn a_wrong_token_file_on_the_command_line_ends_the_run_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let Some((server, _pki)) = tls_server(&dir) else {
        return;
    };
    let wrong = dir.path().join("wrong-token");
    std::fs::write(&wrong, "guessed").unwrap();
    let path = manifest(
        &dir,
        &server.url(),
        "tls_ca = \"ca.pem\"\nuser = \"shop\"\npassword_file = \"password\"\n",
    );
    let out = run(&path, &[Path::new("--nats-token-file"), &wrong]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("authorization violation"), "{stderr}");
    assert!(
        stderr.contains(&format!("the token in {}", wrong.display())),
        "{stderr}"
    );
    assert!(
        !stderr.contains("guessed"),
        "the secret must not be shown: {stderr}"
    );
}

#[test]
fn a_host_without_the_ca_is_told_the_server_certificate_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let Some((server, pki)) = tls_server(&dir) else {
        return;
    };
    let path = manifest(
        &dir,
        &server.url(),
        "user = \"shop\"\npassword_file = \"password\"\n",
    );
    let out = run(&path, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not signed by a trusted CA"), "{stderr}");

    // --nats-ca supplies it.
    let out = run(&path, &[Path::new("--nats-ca"), &pki.ca]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
