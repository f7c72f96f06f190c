//! `airssys chaos`: many components, mixed traffic, random traps; the
//! ledger must balance.

use std::process::ExitCode;

use airssys_cli::chaos::{self, ChaosConfig};

/// `airssys chaos`'s arguments.
#[derive(clap::Args)]
pub struct ChaosArgs {
    /// Components to run.
    #[arg(long, default_value_t = 1000)]
    components: u32,
    /// Messages of the measured round.
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// Messages of the warm-up round before RSS is first read (the
    /// allocator, queues and pool reach their working size in it).
    #[arg(long, default_value_t = 300_000)]
    warmup_messages: u64,
    /// Fraction of messages that trap their handler.
    #[arg(long, default_value_t = 0.01)]
    trap_rate: f64,
    /// Seed of the message mix, targets and traps.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Concurrent senders.
    #[arg(long, default_value_t = 64)]
    senders: u32,
    /// Allowed RSS growth, percent.
    #[arg(long, default_value_t = 5.0)]
    rss_tolerance: f64,
}

/// Runs the chaos run and prints its report: exit 1 when it failed, 2
/// when it could not run.
pub async fn chaos_command(args: ChaosArgs) -> ExitCode {
    let config = ChaosConfig::default()
        .components(args.components)
        .messages(args.messages)
        .warmup_messages(args.warmup_messages)
        .trap_rate(args.trap_rate)
        .seed(args.seed)
        .senders(args.senders)
        .rss_tolerance(args.rss_tolerance / 100.0);
    match chaos::run(config).await {
        Ok(report) => {
            println!("{report}");
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                eprintln!("chaos: FAILED (unaccounted, host dead, or RSS grew too much)");
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
