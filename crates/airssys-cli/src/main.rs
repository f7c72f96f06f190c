//! `airssys`: run a manifest of WebAssembly components, inspect and invoke
//! guests, benchmark the host.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use airssys_cli::control::auth::Token;
use airssys_cli::control::ControlConfig;
use airssys_cli::ctl::{self, Verb};
use airssys_cli::manifest::{units, Manifest};
use airssys_cli::run::{self, RunOptions};
use airssys_cli::{inspect, invoke, telemetry};
use airssys_nats::Auth;
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

/// `airssys run`'s arguments.
#[derive(clap::Args)]
struct RunArgs {
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
    /// Above this many components, /metrics adds per-component series
    /// up by component name (`component_name` label) instead of one
    /// series per component id, so the scrape stays small.
    #[arg(long, value_name = "N", default_value_t = airssys_cli::telemetry::DEFAULT_COMPONENT_LIMIT)]
    metrics_component_limit: usize,
    /// Export traces (a span per handle-message and per send, request
    /// and publish, W3C trace context carried across components and
    /// hosts) over OTLP/HTTP to this collector URL (`/v1/traces` is
    /// appended). Default: the OTEL_EXPORTER_OTLP_ENDPOINT variable; none
    /// = no tracing at all.
    #[arg(long, value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// Share of new traces recorded (0 to 1; parent-based: a message
    /// whose sender's trace is sampled is always recorded).
    #[arg(long, value_name = "RATIO", default_value_t = 1.0)]
    trace_sample_ratio: f64,
    /// Serve the control API (`airssys ctl`) on this address; alone,
    /// on 127.0.0.1:7070 (port 0 picks one). A non-loopback address needs a token.
    #[arg(long, num_args = 0..=1, default_missing_value = airssys_cli::control::DEFAULT_CONTROL_ADDR)]
    control_addr: Option<std::net::SocketAddr>,
    /// File holding the control API's bearer token (default: the
    /// AIRSSYS_CONTROL_TOKEN variable; none = loopback only, no token).
    #[arg(long)]
    control_token_file: Option<PathBuf>,
    /// PEM certificate chain of the control API: serves it over TLS
    /// (needed off loopback, with `--control-tls-key`).
    #[arg(long, value_name = "FILE", requires = "control_tls_key")]
    control_tls_cert: Option<PathBuf>,
    /// PEM private key of `--control-tls-cert`.
    #[arg(long, value_name = "FILE", requires = "control_tls_cert")]
    control_tls_key: Option<PathBuf>,
    /// Join the NATS server at this URL as one host of a distributed
    /// application (overrides the manifest's `[broker] url`).
    #[arg(long)]
    nats: Option<String>,
    /// CA certificate (PEM) the NATS server's certificate must chain to;
    /// TLS is then required (overrides `[broker] tls_ca`).
    #[arg(long, value_name = "FILE")]
    nats_ca: Option<PathBuf>,
    /// Client certificate (PEM) for a NATS server that verifies its
    /// clients (mutual TLS); with --nats-key (overrides `[broker] tls_cert`).
    #[arg(long, value_name = "FILE", requires = "nats_key")]
    nats_cert: Option<PathBuf>,
    /// Private key (PEM) of --nats-cert (overrides `[broker] tls_key`).
    #[arg(long, value_name = "FILE", requires = "nats_cert")]
    nats_key: Option<PathBuf>,
    /// NATS credentials file (user JWT + NKey seed, as `nsc` writes it)
    /// (overrides the manifest's credentials).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["nats_nkey_file", "nats_token_file"])]
    nats_creds: Option<PathBuf>,
    /// File holding an NKey user seed (`SU…`) (overrides the manifest's credentials).
    #[arg(long, value_name = "FILE", conflicts_with = "nats_token_file")]
    nats_nkey_file: Option<PathBuf>,
    /// File holding the NATS token (overrides the manifest's credentials).
    #[arg(long, value_name = "FILE")]
    nats_token_file: Option<PathBuf>,
    /// Run only the components of these supervision groups (repeatable).
    #[arg(long, num_args = 1..)]
    only: Vec<String>,
    /// Do not run the manifest's drives (another host drives).
    #[arg(long)]
    no_drives: bool,
    /// Compile every guest afresh instead of loading compiled code kept
    /// by an earlier run (`[host] cache_dir`, default
    /// `~/.cache/airssys/compiled`).
    #[arg(long)]
    no_cache: bool,
    /// End the run once every `[[drive]]` has sent its `count` and the
    /// mailboxes are empty. Without it a run serves until Ctrl-C,
    /// SIGTERM or `--duration`, whatever its drives do.
    #[arg(long)]
    until_drives_done: bool,
    /// Run as one host of a cluster on the NATS server (JetStream):
    /// every host runs the same manifest and the hosts divide the
    /// components among themselves, taking over those of a host that
    /// dies (also on with a `[cluster]` section).
    #[arg(long)]
    cluster: bool,
    /// This host's id in the cluster (default: host name and pid).
    #[arg(long, requires = "cluster")]
    host_id: Option<String>,
    /// A label of this host that components may require (repeatable).
    #[arg(long = "label", value_name = "LABEL", requires = "cluster")]
    labels: Vec<String>,
}

#[derive(Subcommand)]
// Parsed once per process and matched at once: the size of `Run` (its
// flags) costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Start a host from a manifest and run it until Ctrl-C or --duration.
    Run(RunArgs),
    /// Drive a running host through its control API (see `run --control-addr`).
    Ctl {
        /// The control API's address (host:port).
        addr: String,
        /// Print the API's JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        /// File holding the bearer token (default: the AIRSSYS_CONTROL_TOKEN variable).
        #[arg(long, global = true)]
        token_file: Option<PathBuf>,
        /// PEM CA file that signed the control API's certificate, for an
        /// `https://` address (default: the system's roots).
        #[arg(long, global = true, value_name = "FILE")]
        ca_file: Option<PathBuf>,
        #[command(subcommand)]
        verb: Verb,
    },
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
    Bench {
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
    },
    /// Chaos run: many components, messages across send, request and
    /// publish, random traps and restarts; prints the ledger. Exits 1 if a
    /// message is unaccounted, the host died, or RSS grew past the tolerance.
    Chaos {
        /// Components to run.
        #[arg(long, default_value_t = 1000)]
        components: u32,
        /// Messages to send in all.
        #[arg(long, default_value_t = 100_000)]
        messages: u64,
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
    },
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

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    units::parse_duration(s)
}

fn read(path: &PathBuf) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path).map_err(|e| {
        eprintln!("error: {}: {e}", path.display());
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    // Before any thread exists, so that every thread shares the arenas.
    airssys_cli::allocator::limit_malloc_arenas();
    let cli = Cli::parse();
    // A closed pipe on stdout ends a printing command quietly instead of
    // panicking in `println!`; a host (`run`) keeps running and writes its
    // summary without panicking (see `print_summary`).
    if !matches!(cli.command, Command::Run(_)) {
        airssys_cli::signals::restore_default_sigpipe();
    }
    // Before the runtime: the exporter's blocking HTTP client must not be
    // made (or dropped) inside it.
    let traces = match &cli.command {
        Command::Run(args) => match telemetry::otel::traces_endpoint(args.otlp_endpoint.as_deref())
        {
            None => None,
            Some(endpoint) => {
                match telemetry::otel::install(Some(&endpoint), args.trace_sample_ratio, "airssys")
                {
                    Ok(guard) => Some(guard),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
        },
        _ => None,
    };
    let code = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run_command(cli)),
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            ExitCode::from(1)
        }
    };
    if let Some(traces) = traces {
        traces.shutdown();
    }
    code
}

async fn run_command(cli: Cli) -> ExitCode {
    if !matches!(cli.command, Command::Run(_)) {
        telemetry::init_logging("warn");
    }
    match cli.command {
        Command::Run(args) => run_manifest(args).await,
        Command::Bench {
            json,
            quick,
            nats,
            compare,
            scenarios,
            tolerance,
            scale,
            guests,
            respond_once,
            runs,
        } => {
            if let (Some(subject), Some(url)) = (respond_once, nats.as_deref()) {
                return match airssys_cli::bench::respond_once(url, &subject).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("error: {e}");
                        ExitCode::from(1)
                    }
                };
            }
            let plan = airssys_cli::bench::Plan {
                quick,
                nats: nats.as_deref(),
                only: &scenarios,
                scale,
                guests: guests.as_deref(),
            };
            let compare = compare.map(|path| (path, tolerance / 100.0));
            bench(json, &plan, compare, runs).await
        }
        Command::Precompile { manifests } => precompile(&manifests),
        Command::Test { cases, case } => test_cases(&cases, case.as_deref()).await,
        Command::Ctl {
            addr,
            json,
            token_file,
            ca_file,
            verb,
        } => ctl_command(&addr, json, token_file, ca_file, verb).await,
        Command::Chaos {
            components,
            messages,
            trap_rate,
            seed,
            senders,
            rss_tolerance,
        } => {
            use airssys_cli::chaos::{self, ChaosConfig};
            let config = ChaosConfig::default()
                .components(components)
                .messages(messages)
                .trap_rate(trap_rate)
                .seed(seed)
                .senders(senders)
                .rss_tolerance(rss_tolerance / 100.0);
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
        Command::Inspect { file, json } => inspect_file(&file, json),
        Command::Componentize {
            module,
            output,
            wasi,
            wasi_adapter,
        } => componentize(&module, &output, wasi, wasi_adapter.as_ref()),
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
                        println!("{r}");
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

/// `airssys inspect`: what a binary imports and exports, as text or JSON;
/// exit code 3 when it does not satisfy the host.
fn inspect_file(file: &PathBuf, json: bool) -> ExitCode {
    let bytes = match read(file) {
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
            if report.satisfied() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            ExitCode::from(1)
        }
    }
}

/// `airssys componentize`: a core module made a component of the airssys
/// world (adapted to WASI preview 2 when asked).
fn componentize(
    module: &PathBuf,
    output: &PathBuf,
    wasi: bool,
    wasi_adapter: Option<&PathBuf>,
) -> ExitCode {
    let bytes = match read(module) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let adapter = match wasi_adapter.map(read).transpose() {
        Ok(a) => a,
        Err(code) => return code,
    };
    let adapter = adapter.or_else(|| {
        wasi.then(|| {
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
                .to_vec()
        })
    });
    match airssys_wasm::wit::componentize(&bytes, adapter.as_deref()) {
        Ok(component) => match std::fs::write(output, &component) {
            Ok(()) => {
                println!(
                    "{}: component of {}, {} bytes",
                    output.display(),
                    airssys_wasm::wit::WORLD_NAME,
                    component.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {}: {e}", output.display());
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("error: {}: {e}", module.display());
            ExitCode::from(1)
        }
    }
}
/// `airssys run`: the control API's settings, the manifest, and the run
/// to its end; the exit code is the summary's.
async fn run_manifest(args: RunArgs) -> ExitCode {
    let RunArgs {
        manifest,
        duration,
        quiet,
        metrics_addr,
        metrics_component_limit,
        otlp_endpoint: _,
        trace_sample_ratio: _,
        control_addr,
        control_token_file,
        control_tls_cert,
        control_tls_key,
        nats,
        nats_ca,
        nats_cert,
        nats_key,
        nats_creds,
        nats_nkey_file,
        nats_token_file,
        only,
        no_drives,
        no_cache,
        until_drives_done,
        cluster,
        host_id,
        labels,
    } = args;
    telemetry::init_logging("info");
    let control = match control_addr {
        None => None,
        Some(addr) => {
            let token = match Token::load(control_token_file.as_deref()) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let tls = control_tls_cert.as_deref().zip(control_tls_key.as_deref());
            match ControlConfig::new(addr, token, tls) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
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
        metrics_component_limit,
        control,
        nats,
        nats_security: airssys_cli::nats::SecurityFlags {
            ca: nats_ca,
            client_cert: nats_cert.zip(nats_key),
            auth: nats_creds
                .map(Auth::CredentialsFile)
                .or(nats_nkey_file.map(Auth::NkeySeedFile))
                .or(nats_token_file.map(Auth::TokenFile)),
        },
        only,
        no_drives,
        no_cache,
        until_drives_done,
        cluster,
        host_id,
        labels,
    };
    match run::run(m, opts).await {
        Ok(summary) => {
            use std::io::Write;
            // A closed stdout loses the summary, not the exit code.
            let _ = writeln!(std::io::stdout(), "{summary}");
            ExitCode::from(summary.exit_code())
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// `airssys ctl`: one verb against the control API at `addr` (`monitor`
/// polls until the component is gone); exit 2 for a token or payload that
/// cannot be used, 1 when the call failed.
async fn ctl_command(
    addr: &str,
    json: bool,
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    verb: Verb,
) -> ExitCode {
    let token = match Token::load(token_file.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let token = token.as_ref().map(Token::as_str);
    let ca = ca_file.as_deref();
    let done = match &verb {
        Verb::Monitor { component, wait } => {
            ctl::monitor(addr, token, ca, component, *wait, json).await
        }
        _ => ctl::call(addr, token, ca, &verb).await.map(|answer| {
            if json {
                println!("{answer:#}");
            } else {
                println!("{}", ctl::render(&verb, &answer));
            }
        }),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let (true, ctl::CtlError::Api { body, .. }) = (json, &e) {
                println!("{body:#}");
            }
            eprintln!("error: {e}");
            let usage = matches!(e, ctl::CtlError::Verb(_));
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

async fn bench(
    json: Option<PathBuf>,
    plan: &airssys_cli::bench::Plan<'_>,
    compare: Option<(PathBuf, f64)>,
    runs: u32,
) -> ExitCode {
    use airssys_cli::bench::{self, CLUSTER_SCENARIOS, NATS_SCENARIOS, SCALE_SCENARIOS, SCENARIOS};
    use indicatif::{ProgressBar, ProgressStyle};
    if let Some(unknown) = plan.only.iter().find(|s| {
        let s = s.as_str();
        !SCENARIOS.contains(&s)
            && !NATS_SCENARIOS.contains(&s)
            && !CLUSTER_SCENARIOS.contains(&s)
            && !SCALE_SCENARIOS.contains(&s)
    }) {
        eprintln!(
            "error: no scenario {unknown}; the scenarios are {}",
            SCENARIOS
                .iter()
                .chain(NATS_SCENARIOS.iter())
                .chain(CLUSTER_SCENARIOS.iter())
                .chain(SCALE_SCENARIOS.iter())
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        );
        return ExitCode::from(2);
    }
    // A saved run that cannot be read is refused before measuring anything.
    let saved = match &compare {
        Some((path, _)) => match bench::compare::load(path) {
            Ok(saved) => Some(saved),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
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
                return ExitCode::from(1);
            }
        }
    }
    let Some(report) = bench::compare::best_of(reports) else {
        eprintln!("error: bench made no run (--runs must be at least 1)");
        return ExitCode::from(2);
    };
    if runs > 1 {
        println!("each scenario's best of {runs} runs:");
    }
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
    if let (Some(saved), Some((path, tolerance))) = (saved, compare) {
        let changes = bench::compare::compare(&saved, &report, tolerance);
        println!("\ncompared with {}:", path.display());
        print!("{}", bench::compare::table(&changes, tolerance));
        if changes.iter().any(|c| c.regressed) {
            return ExitCode::from(3);
        }
    }
    ExitCode::SUCCESS
}

/// `airssys test`: the cases of each file, on fresh in-process hosts.
async fn test_cases(files: &[PathBuf], filter: Option<&str>) -> ExitCode {
    telemetry::init_logging("error");
    match airssys_cli::cases::run_files(files, filter).await {
        Ok(tally) if tally.failed == 0 && tally.passed > 0 => ExitCode::SUCCESS,
        Ok(tally) if tally.failed == 0 => {
            eprintln!("error: no case ran (the filter matched none)");
            ExitCode::from(1)
        }
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `airssys precompile`: each manifest's components compiled into its
/// compilation cache.
fn precompile(manifests: &[PathBuf]) -> ExitCode {
    telemetry::init_logging("warn");
    for path in manifests {
        let m = match Manifest::load(path) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let Some(dir) = m.host.cache_dir.clone() else {
            eprintln!(
                "error: {}: no compilation cache (set [host] cache_dir, or HOME)",
                path.display()
            );
            return ExitCode::from(2);
        };
        let engine = match airssys_wasm::WasmEngine::new(run::engine_config(&m.host)) {
            Ok(engine) => engine,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        if let Err(e) = run::compile_all(&m, &engine) {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
        let (hits, misses) = engine.compile_cache_stats().unwrap_or_default();
        println!(
            "{}: {} component(s) in {} ({misses} compiled, {hits} already there)",
            path.display(),
            m.components.len(),
            dir.display()
        );
    }
    ExitCode::SUCCESS
}
