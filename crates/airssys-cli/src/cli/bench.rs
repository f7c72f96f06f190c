//! `airssys bench`: the scenarios measured against their raw baselines,
//! saved as JSON and compared with an earlier run.

use std::path::PathBuf;
use std::process::ExitCode;

use airssys_cli::bench::{self, all_scenarios, Plan, Report};
use indicatif::{ProgressBar, ProgressStyle};

/// `airssys bench`'s arguments.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Small sizes: a few seconds, for CI and smoke tests.
    #[arg(long)]
    quick: bool,
    /// Also measure host-to-host traffic over the NATS server at this
    /// URL (`nats_tell`, `nats_request`) beside raw async-nats clients.
    #[arg(long)]
    nats: Option<String>,
    /// Compare each scenario's ratio with this saved `--json` report;
    /// exit 3 if one is worse by more than the tolerance.
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Run only this scenario (repeatable; default: all but the cluster
    /// ones). The cluster scenarios `failover`, `heartbeat_cost` and
    /// `replacement` start `airssys run --cluster` child processes on
    /// the --nats server (it needs JetStream; skipped otherwise) and take
    /// 30 s to minutes each: they run only when named here.
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Internal: the `failover` baseline's fresh process. Connects to
    /// --nats, answers the first request on this subject, exits.
    #[arg(long, value_name = "SUBJECT", hide = true)]
    respond_once: Option<String>,
    /// Run N live idle components on one host (`scale_spawn`,
    /// `scale_memory`, `scale_request`, `scale_shutdown`) beside N bare
    /// wasmtime instances. Alone, runs only these scenarios.
    #[arg(long, value_name = "N")]
    scale: Option<usize>,
    /// Where `spawn_python`, `memory_python`, `spawn_js` and `memory_js`
    /// find the example's Python and JavaScript components (default
    /// `examples/sensors/build`, from `examples/sensors/build.sh`);
    /// skipped when they are not there.
    #[arg(long, value_name = "DIR")]
    guests: Option<PathBuf>,
    /// How much worse a ratio may be, in percent, before `--compare`
    /// calls it a regression.
    #[arg(long, default_value_t = airssys_cli::bench::compare::DEFAULT_TOLERANCE * 100.0)]
    tolerance: f64,
    /// Run the scenarios N times; print each run, then keep, save and
    /// compare each scenario's best ratio of the N (steady on a shared
    /// machine, where one run in a few is slowed by a neighbour).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
}

/// Runs the benchmark (or, internally, answers one request for the
/// `failover` baseline): exit 2 for an unknown scenario or an unreadable
/// saved run, 1 when a scenario failed, 3 when `--compare` found a
/// regression.
pub async fn bench_command(args: BenchArgs) -> ExitCode {
    if let (Some(subject), Some(url)) = (&args.respond_once, args.nats.as_deref()) {
        return match bench::respond_once(url, subject).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        };
    }
    let plan = Plan {
        quick: args.quick,
        nats: args.nats.as_deref(),
        only: &args.scenarios,
        scale: args.scale,
        guests: args.guests.as_deref(),
    };
    if let Some(unknown) = plan.only.iter().find(|s| !known(s)) {
        eprintln!(
            "error: no scenario {unknown}; the scenarios are {}",
            all_scenarios().join(", ")
        );
        return ExitCode::from(2);
    }
    // A saved run that cannot be read is refused before measuring anything.
    let saved = match &args.compare {
        Some(path) => match bench::compare::load(path) {
            Ok(saved) => Some(saved),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let report = match measure(&plan, args.runs).await {
        Ok(report) => report,
        Err(code) => return code,
    };
    print!("{}", bench::table(&report));
    if let Some(path) = &args.json {
        if let Err(code) = save(&report, path) {
            return code;
        }
    }
    if let (Some(saved), Some(path)) = (saved, &args.compare) {
        let tolerance = args.tolerance / 100.0;
        let changes = bench::compare::compare(&saved, &report, tolerance);
        println!("\ncompared with {}:", path.display());
        print!("{}", bench::compare::table(&changes, tolerance));
        if changes.iter().any(|c| c.regressed) {
            return ExitCode::from(3);
        }
    }
    ExitCode::SUCCESS
}

/// Whether `name` is a scenario of any kind.
fn known(name: &str) -> bool {
    all_scenarios().contains(&name)
}

/// Runs the plan `runs` times, with a progress bar, and keeps each
/// scenario's best ratio.
async fn measure(plan: &Plan<'_>, runs: u32) -> Result<Report, ExitCode> {
    let mut reports = Vec::new();
    for run in 1..=runs {
        let bar = ProgressBar::new(plan.scenarios().len() as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        let mut started = 0u64;
        let result = bench::run_all(plan, |name| {
            bar.set_position(started);
            bar.set_message(name.to_owned());
            started += 1;
        })
        .await;
        bar.finish_and_clear();
        match result {
            Ok(r) => {
                if runs > 1 {
                    println!("run {run} of {runs}:");
                    println!("{}", bench::table(&r));
                }
                reports.push(r);
            }
            Err(e) => {
                eprintln!("error: bench {e}");
                return Err(ExitCode::from(1));
            }
        }
    }
    let Some(report) = bench::compare::best_of(reports) else {
        eprintln!("error: bench made no run (--runs must be at least 1)");
        return Err(ExitCode::from(2));
    };
    if runs > 1 {
        println!("each scenario's best of {runs} runs:");
    }
    Ok(report)
}

/// Writes `report` as JSON to `path`.
fn save(report: &Report, path: &PathBuf) -> Result<(), ExitCode> {
    let text = serde_json::to_string_pretty(report).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(1)
    })?;
    std::fs::write(path, text + "\n").map_err(|e| {
        eprintln!("error: {}: {e}", path.display());
        ExitCode::from(1)
    })?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
