//! The CI-sized chaos run (the 1,000 components x 100,000 messages,
//! 1 % traps, random stops and restarts): every accepted message accounted
//! for and the host alive; and, separately, RSS back within 5 % of its
//! level before the run.
//!
//! Size from `AIRSSYS_CHAOS_COMPONENTS` / `AIRSSYS_CHAOS_MESSAGES` /
//! `AIRSSYS_CHAOS_SEED`; the full-size run is the `airssys chaos` command,
//! whose figures are in `docs/reliability.md`.

use std::time::Duration;

use airssys_cli::chaos::{run, ChaosConfig, ChaosReport};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn chaos_run() -> ChaosReport {
    let config = ChaosConfig::default()
        .components(env_or("AIRSSYS_CHAOS_COMPONENTS", 1_000))
        .messages(env_or("AIRSSYS_CHAOS_MESSAGES", 100_000))
        .trap_rate(0.01)
        .seed(env_or("AIRSSYS_CHAOS_SEED", 7))
        .restart_every(Duration::from_millis(5));
    let report = run(config).await.unwrap();
    eprintln!("{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chaos_run_accounts_for_every_accepted_message() {
    let report = chaos_run().await;
    assert_eq!(report.unaccounted(), 0, "{report}");
    assert!(report.host_alive, "{report}");
    assert!(report.traps > 0, "traps happened: {report}");
    assert!(
        report.restarts > 0,
        "components were stopped and restarted: {report}"
    );
    assert!(
        report.accepted > report.attempted * 9 / 10,
        "most messages were accepted: {report}"
    );
}

/// The memory check runs the `airssys chaos` command itself: RSS is a
/// property of the process, and the command's process is set up as a host
/// is (`airssys_cli::allocator`), where this test harness's is not.
#[test]
fn a_chaos_run_gives_its_memory_back() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_airssys"))
        .args(["chaos", "--trap-rate", "0.01", "--rss-tolerance", "5"])
        .args([
            "--components",
            &env_or("AIRSSYS_CHAOS_COMPONENTS", 1_000u32).to_string(),
        ])
        .args([
            "--messages",
            &env_or("AIRSSYS_CHAOS_MESSAGES", 100_000u64).to_string(),
        ])
        .args(["--seed", &env_or("AIRSSYS_CHAOS_SEED", 7u64).to_string()])
        .env("RUST_LOG", "error")
        .output()
        .expect("airssys chaos runs");
    let report = String::from_utf8_lossy(&output.stdout);
    eprintln!("{report}{}", String::from_utf8_lossy(&output.stderr));
    let rss = report
        .lines()
        .find(|line| line.starts_with("rss"))
        .unwrap_or_else(|| panic!("no rss line in the report: {report}"));
    assert!(output.status.success(), "airssys chaos failed: {rss}");
    assert!(rss.contains("allowed 5 %"), "{rss}");
}
