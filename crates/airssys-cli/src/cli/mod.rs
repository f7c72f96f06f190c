//! The `airssys` command line: the clap definitions of every command and
//! the function that runs each. `main.rs` only sets up the process.

mod bench;
mod chaos;
mod ctl;
mod guest;
mod manifest;
mod run;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use airssys_cli::telemetry;
use clap::{Parser, Subcommand};

pub use self::run::RunArgs;

/// `airssys`: its one subcommand.
#[derive(Parser)]
#[command(
    name = "airssys",
    version,
    about = "WebAssembly components as supervised actors"
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of `airssys`.
#[derive(Subcommand)]
// Parsed once per process and matched at once: the size of `Run` (its
// flags) costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Start a host from a manifest and run it until Ctrl-C or --duration.
    Run(RunArgs),
    /// Drive a running host through its control API (see `run --control-addr`).
    Ctl(ctl::CtlArgs),
    /// Compile the components of manifests into the compilation cache
    /// (`[host] cache_dir`, default `~/.cache/airssys/compiled`) ahead of a
    /// deployment, with the engine `run` builds for each, so that `run`
    /// starts without compiling.
    Precompile {
        /// Manifests whose components to compile.
        #[arg(required = true)]
        manifests: Vec<PathBuf>,
    },
    /// Run declarative test cases against a manifest's components, each
    /// case on a fresh in-process host: send, request, publish, crash, and
    /// expect replies, publishes, dead letters and restarts (docs/testing.md).
    /// Exits 1 when a case failed, 2 when a cases file cannot be run.
    Test {
        /// Cases files (TOML: `manifest = "..."` and `[[case]]`s).
        #[arg(required = true)]
        cases: Vec<PathBuf>,
        /// Run only the cases whose name contains this text.
        #[arg(long, value_name = "TEXT")]
        case: Option<String>,
    },
    /// Measure the host against the raw layers beneath it (wasmtime, tokio).
    Bench(bench::BenchArgs),
    /// Chaos run: many components, messages across send, request and
    /// publish, random traps and restarts; prints the ledger. Exits 1 if a
    /// message is unaccounted, the host died, or RSS grew past the tolerance
    /// over the measured round (after a warm-up round).
    Chaos(chaos::ChaosArgs),
    /// Validate a manifest without starting anything.
    Check {
        /// The manifest (airssys.toml).
        manifest: PathBuf,
    },
    /// Show a guest's form, imports, exports and core-ABI conformance; for
    /// a component, its WIT world and whether it targets airssys:component.
    /// Exits 3 when the guest does not satisfy the core ABI or the world
    /// (so it can gate a build), 1 when the file cannot be read or parsed.
    Inspect {
        /// A .wasm binary or .wat text.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Turn a core module built against the airssys:component world's
    /// canonical ABI (wit-bindgen output, or WAT) into a component.
    Componentize {
        /// The core module: a .wasm binary or .wat text.
        module: PathBuf,
        /// Where to write the component.
        #[arg(short, long)]
        output: PathBuf,
        /// The module imports WASI preview 1 (built with wasi-libc): adapt
        /// it to preview 2 with wasmtime's reactor adapter (built in).
        #[arg(long, conflicts_with = "wasi_adapter")]
        wasi: bool,
        /// Like `--wasi`, with an adapter module of your own.
        #[arg(long)]
        wasi_adapter: Option<PathBuf>,
    },
    /// Call one exported function with typed arguments and print the results.
    Invoke {
        /// A .wasm binary or .wat text.
        file: PathBuf,
        /// The exported function.
        function: String,
        /// Arguments, parsed by the function's parameter types: numbers for a
        /// core module (i32, i64, f32, f64); WAVE values for a component
        /// (`42`, `"text"`, `[1, 2]`, `{field: 1}`, `some(3)`, `ok("x")`).
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
    },
}

/// Runs `command` to its exit code.
pub async fn run_command(command: Command) -> ExitCode {
    if !matches!(command, Command::Run(_)) {
        telemetry::init_logging("warn");
    }
    match command {
        Command::Run(args) => run::run_manifest(args).await,
        Command::Ctl(args) => ctl::ctl_command(args).await,
        Command::Bench(args) => bench::bench_command(args).await,
        Command::Chaos(args) => chaos::chaos_command(args).await,
        Command::Precompile { manifests } => manifest::precompile(&manifests),
        Command::Test { cases, case } => manifest::test_cases(&cases, case.as_deref()).await,
        Command::Check { manifest } => manifest::check(&manifest),
        Command::Inspect { file, json } => guest::inspect_file(&file, json),
        Command::Componentize {
            module,
            output,
            wasi,
            wasi_adapter,
        } => guest::componentize(&module, &output, wasi, wasi_adapter.as_deref()),
        Command::Invoke {
            file,
            function,
            args,
        } => guest::invoke(&file, &function, &args).await,
    }
}

/// A duration in the manifest's notation ("5s", "2m").
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    airssys_cli::manifest::units::parse_duration(s)
}

/// The bytes of `path`, or exit 1 saying why not.
fn read(path: &Path) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path).map_err(|e| {
        eprintln!("error: {}: {e}", path.display());
        ExitCode::from(1)
    })
}
