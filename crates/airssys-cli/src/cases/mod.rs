//! `airssys test <cases file>`: declarative tests of components, for authors
//! who do not write Rust (a Python or JavaScript guest is tested without a
//! line of Rust).
//!
//! A cases file names a manifest and lists cases; each case runs on a fresh
//! in-process host (the testkit's [`TestHost`](airssys_testkit::TestHost),
//! with a recording broker) that starts the chosen components exactly as
//! the manifest describes them (configuration, allow-lists, limits, WASI
//! grants, health checks), then runs the steps in order:
//!
//! ```toml
//! manifest = "airssys.toml"          # relative to this file
//! components = ["advisor"]           # default: every [[component]]
//! timeout = "5s"                     # how long an expectation waits
//!
//! [[case]]
//! name = "advice for a hot kitchen"
//! steps = [
//!   { request = "advisor", payload = "kitchen high 31.5", reply = "open a window in the kitchen" },
//!   { publish = "notices.kitchen", json = { room = "kitchen" } },
//!   { request = "advisor", payload = "report", reply_json = { kitchen = 1 } },
//! ]
//! ```
//!
//! Supervision groups are not started: every component runs under the test
//! host's root supervisor, with its own restart policy and no backoff. A
//! failing case prints the step, what it expected beside what happened, and
//! every message the host recorded; the command exits 1 when a case failed,
//! 2 when a file cannot be run. The step keys are in docs/testing.md.

pub mod exec;
pub mod file;

use std::path::PathBuf;
use std::time::Instant;

pub use exec::{run_case, CaseFailure};
pub use file::{Case, CasesFile, CasesFileError, PayloadSpec, ReplyExpectation, Step};

/// What `airssys test` found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Cases left out by the name filter.
    pub filtered: usize,
}

/// Runs every case of the files at `paths` whose name contains `filter`
/// (all when `None`), printing one line per case and a report per failure.
///
/// # Errors
/// [`CasesFileError`] for the first file that cannot be run (nothing of it
/// ran).
pub async fn run_files(paths: &[PathBuf], filter: Option<&str>) -> Result<Tally, CasesFileError> {
    let mut tally = Tally::default();
    for path in paths {
        let file = CasesFile::load(path)?;
        let names: Vec<&str> = file.components.iter().map(|c| c.name.as_str()).collect();
        println!(
            "{}: {} case(s) on {} of {}",
            path.display(),
            file.cases.len(),
            names.join(", "),
            file.manifest.path.display()
        );
        for case in &file.cases {
            if filter.is_some_and(|f| !case.name.contains(f)) {
                tally.filtered += 1;
                continue;
            }
            let started = Instant::now();
            match run_case(&file, case).await {
                Ok(()) => {
                    tally.passed += 1;
                    println!(
                        "case {} ... ok ({:.2} s)",
                        case.name,
                        started.elapsed().as_secs_f64()
                    );
                }
                Err(failure) => {
                    tally.failed += 1;
                    println!("case {} ... FAILED", case.name);
                    print_failure(&failure);
                }
            }
        }
    }
    println!(
        "{} passed, {} failed{}",
        tally.passed,
        tally.failed,
        if tally.filtered > 0 {
            format!(", {} filtered out", tally.filtered)
        } else {
            String::new()
        }
    );
    Ok(tally)
}

fn print_failure(f: &CaseFailure) {
    if f.step > 0 {
        println!("  at step {}: {}", f.step, f.doing);
    } else {
        println!("  {}", f.doing);
    }
    println!("  expected: {}", f.expected);
    println!("  but:      {}", f.outcome);
    if let Some(traffic) = &f.traffic {
        // One line per event: a trap's reason carries a wasm backtrace,
        // which would bury the rest.
        println!("  recorded traffic ({} events):", traffic.0.len());
        for recorded in &traffic.0 {
            let text = recorded.to_string();
            let mut lines = text.lines();
            let first = lines.next().unwrap_or_default();
            let more = if lines.next().is_some() { " …" } else { "" };
            println!("    {first}{more}");
        }
    }
}
