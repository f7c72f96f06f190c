//! `airssys`: run a manifest of WebAssembly components, inspect and invoke
//! guests, benchmark the host.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use airssys_cli::manifest::{units, Manifest};
use airssys_cli::run::{self, RunOptions};
use airssys_cli::{inspect, invoke, telemetry};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "airssys",
    version,
    about = "WebAssembly components as supervised actors"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a host from a manifest and run it until Ctrl-C or --duration.
    Run {
        /// The manifest (airssys.toml).
        manifest: PathBuf,
        /// Stop after this long ("5s", "2m").
        #[arg(long, value_parser = parse_duration)]
        duration: Option<std::time::Duration>,
        /// No live status, only the final summary.
        #[arg(long)]
        quiet: bool,
        /// Serve Prometheus /metrics and /health on this address (e.g. 127.0.0.1:9100).
        #[arg(long)]
        metrics_addr: Option<std::net::SocketAddr>,
        /// Join the NATS server at this URL as one host of a distributed
        /// application (overrides the manifest's `[broker] url`).
        #[arg(long)]
        nats: Option<String>,
        /// Run only the components of these supervision groups (repeatable).
        #[arg(long, num_args = 1..)]
        only: Vec<String>,
        /// Do not run the manifest's drives (another host drives).
        #[arg(long)]
        no_drives: bool,
    },
    /// Measure the host against the raw layers beneath it (wasmtime, tokio).
    Bench {
        /// Also write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Small sizes: a few seconds, for CI and smoke tests.
        #[arg(long)]
        quick: bool,
    },
    /// Validate a manifest without starting anything.
    Check {
        /// The manifest (airssys.toml).
        manifest: PathBuf,
    },
    /// Show a guest's form, imports, exports and core-ABI conformance.
    Inspect {
        /// A .wasm binary or .wat text.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Call one exported function with typed arguments and print the results.
    Invoke {
        /// A .wasm binary or .wat text.
        file: PathBuf,
        /// The exported function.
        function: String,
        /// Arguments, parsed by the function's parameter types (i32, i64, f32, f64).
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
    },
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    units::parse_duration(s)
}

fn read(path: &PathBuf) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path).map_err(|e| {
        eprintln!("error: {}: {e}", path.display());
        ExitCode::from(1)
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run { .. }) {
        telemetry::init_logging("warn");
    }
    match cli.command {
        Command::Run {
            manifest,
            duration,
            quiet,
            metrics_addr,
            nats,
            only,
            no_drives,
        } => {
            telemetry::init_logging("info");
            let m = match Manifest::load(&manifest) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let opts = RunOptions {
                duration,
                quiet,
                metrics_addr,
                nats,
                only,
                no_drives,
            };
            match run::run(m, opts).await {
                Ok(summary) => {
                    println!("{summary}");
                    ExitCode::from(summary.exit_code())
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Bench { json, quick } => bench(json, quick).await,
        Command::Check { manifest } => match Manifest::load(&manifest) {
            Ok(m) => {
                let instances: u32 = m.components.iter().map(|c| c.instances).sum();
                println!(
                    "{}: ok ({} components, {instances} instances, {} groups, {} drives)",
                    manifest.display(),
                    m.components.len(),
                    m.groups.len(),
                    m.drives.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Inspect { file, json } => {
            let bytes = match read(&file) {
                Ok(b) => b,
                Err(code) => return code,
            };
            match inspect::inspect(&bytes) {
                Ok(report) => {
                    if json {
                        match serde_json::to_string_pretty(&report) {
                            Ok(s) => println!("{s}"),
                            Err(e) => {
                                eprintln!("error: {e}");
                                return ExitCode::from(1);
                            }
                        }
                    } else {
                        println!("{report}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {}: {e}", file.display());
                    ExitCode::from(1)
                }
            }
        }
        Command::Invoke {
            file,
            function,
            args,
        } => {
            let bytes = match read(&file) {
                Ok(b) => b,
                Err(code) => return code,
            };
            match invoke::invoke(&bytes, &function, &args).await {
                Ok(results) => {
                    for r in &results {
                        println!("{}", invoke::format_value(r));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
                }
            }
        }
    }
}

async fn bench(json: Option<PathBuf>, quick: bool) -> ExitCode {
    use airssys_cli::bench::{self, Sizes, SCENARIOS};
    use indicatif::{ProgressBar, ProgressStyle};

    let bar = ProgressBar::new(SCENARIOS.len() as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let sizes = if quick { Sizes::QUICK } else { Sizes::FULL };
    let mut started = 0u64;
    let result = bench::run_all(sizes, quick, |name| {
        bar.set_position(started);
        bar.set_message(name.to_owned());
        started += 1;
    })
    .await;
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: bench {e}");
            return ExitCode::from(1);
        }
    };
    print!("{}", bench::table(&report));
    if let Some(path) = json {
        let text = match serde_json::to_string_pretty(&report) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        if let Err(e) = std::fs::write(&path, text + "\n") {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::from(1);
        }
        eprintln!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}
