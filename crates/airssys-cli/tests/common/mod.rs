//! Shared helpers for the tests that start a real `airssys run`, and for
//! the tests of the guests `examples/sensors/build.sh` builds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::OnceLock;
use std::time::Duration;

/// Runs `airssys <args>` to its end (`RUST_LOG=error`) and returns its
/// stdout; fails the test, with both outputs, if it did not succeed.
#[allow(dead_code)]
pub fn airssys_ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("airssys starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Starts `airssys <args>` (`RUST_LOG=error`) with stdout and stderr
/// piped, for tests that read its announcements while it runs.
#[allow(dead_code)]
pub fn spawn_airssys<I, S>(args: I) -> Child
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    std::process::Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("airssys starts")
}

/// The bundled example's manifest.
#[allow(dead_code)]
pub fn example() -> String {
    format!(
        "{}/../../examples/orders/airssys.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The number after `prefix` on the first line that contains it.
#[allow(dead_code)]
pub fn number_after(text: &str, prefix: &str) -> u64 {
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no `{prefix}` in:\n{text}"));
    text[at + prefix.len()..]
        .chars()
        .skip_while(|c| c.is_whitespace())
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// `GET path` on `addr`: the status code and the body.
#[allow(dead_code)]
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let code = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (code, body)
}

/// Reads `child`'s stderr until a line starting with `announcement` (e.g.
/// `"serving the control API on http://"`) and returns the rest of that
/// line; stderr is drained from then on so the child never writes into a
/// closed pipe.
#[allow(dead_code)]
pub fn announced(child: &mut Child, announcement: &str) -> String {
    announcements(child, &[announcement]).remove(0)
}

/// As [`announced`], for several announcements made in this order.
#[allow(dead_code)]
pub fn announcements(child: &mut Child, announcements: &[&str]) -> Vec<String> {
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
    let mut line = String::new();
    let mut found = Vec::new();
    for announcement in announcements {
        let rest = loop {
            line.clear();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "never announced: {announcement}"
            );
            if let Some(rest) = line.trim().strip_prefix(announcement) {
                break rest.to_owned();
            }
        };
        found.push(rest);
    }
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    found
}

/// The sensors example's folder.
#[allow(dead_code)]
pub fn sensors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/sensors")
}

/// What `build.sh` left: the build folder, or why there is none.
enum Build {
    Built(PathBuf),
    MissingToolchain(String),
}

/// Runs `examples/sensors/build.sh` once per test binary (componentizing
/// with this build's `airssys`) and returns the folder of the built
/// guests; `None` (after saying why) when a toolchain is missing and the
/// environment does not require it (`AIRSSYS_REQUIRE_GUEST_TOOLCHAINS=1`
/// makes that a failure).
#[allow(dead_code)]
pub fn guests() -> Option<PathBuf> {
    static BUILD: OnceLock<Build> = OnceLock::new();
    let build = BUILD.get_or_init(|| {
        let out = std::process::Command::new(sensors().join("build.sh"))
            .env("AIRSSYS_BIN", env!("CARGO_BIN_EXE_airssys"))
            .output()
            .expect("build.sh starts");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.code() {
            Some(0) => Build::Built(sensors().join("build")),
            Some(2) if stderr.contains("missing toolchain") => {
                Build::MissingToolchain(stderr.trim().to_owned())
            }
            _ => panic!(
                "build.sh failed ({}):\n{}\n{stderr}",
                out.status,
                String::from_utf8_lossy(&out.stdout)
            ),
        }
    });
    match build {
        Build::Built(dir) => Some(dir.clone()),
        Build::MissingToolchain(why) => {
            assert!(
                std::env::var("AIRSSYS_REQUIRE_GUEST_TOOLCHAINS").as_deref() != Ok("1"),
                "AIRSSYS_REQUIRE_GUEST_TOOLCHAINS=1 but the guests cannot be built: {why}"
            );
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// The files a walk-through of docs/guests.md writes, as the page shows
/// them: each code block right after a `<!-- doc-file: DIR/NAME -->` line,
/// by DIR (`python`, `js`, `rust`, `c`).
#[allow(dead_code)]
pub fn doc_files(dir: &str) -> Vec<(String, String)> {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/guests.md"))
            .unwrap();
    let mut files = Vec::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .strip_prefix("<!-- doc-file: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "{name}: no code block after its marker"
        );
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        if let Some(file) = name.strip_prefix(&format!("{dir}/")) {
            files.push((file.to_owned(), body.join("\n") + "\n"));
        }
    }
    files
}
