//! `airssys run`: a manifest's host, from its flags to its summary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use airssys_cli::control::auth::Token;
use airssys_cli::control::ControlConfig;
use airssys_cli::manifest::Manifest;
use airssys_cli::run::{self, RunOptions};
use airssys_cli::telemetry;
use airssys_nats::Auth;

/// `airssys run`'s arguments.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The manifest (airssys.toml).
    manifest: PathBuf,
    /// Stop after this long ("5s", "2m").
    #[arg(long, value_parser = super::parse_duration)]
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
    /// Time about one message (and request) in N for the duration
    /// histograms (handle, mailbox wait, round trip), each recorded as N
    /// observations: counts and sums stay estimates of all messages' at an
    /// N-th of the clock reads. 1 times every message (exact counts); 0
    /// none.
    #[arg(long, value_name = "N", default_value_t = airssys_cli::telemetry::DEFAULT_TIMING_EVERY)]
    metrics_timing_every: u32,
    /// Export traces (a span per handle-message and per send, request
    /// and publish, W3C trace context carried across components and
    /// hosts) over OTLP/HTTP to this collector URL (`/v1/traces` is
    /// appended). Default: the OTEL_EXPORTER_OTLP_ENDPOINT variable; none
    /// = no tracing at all.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Share of new traces recorded (0 to 1; parent-based: a message
    /// whose sender's trace is sampled is always recorded).
    #[arg(long, value_name = "RATIO", default_value_t = 1.0)]
    pub trace_sample_ratio: f64,
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

/// `airssys run`: the control API's settings, the manifest, and the run
/// to its end; the exit code is the summary's.
pub async fn run_manifest(args: RunArgs) -> ExitCode {
    let RunArgs {
        manifest,
        duration,
        quiet,
        metrics_addr,
        metrics_component_limit,
        metrics_timing_every,
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
    airssys_wasm::metrics::set_timing_every(metrics_timing_every);
    let control = match control_config(
        control_addr,
        control_token_file.as_deref(),
        control_tls_cert.as_deref().zip(control_tls_key.as_deref()),
    ) {
        Ok(control) => control,
        Err(code) => return code,
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

/// The control API's settings from `run`'s flags: none without an
/// address; exit 2 for a token or TLS files that cannot be used, or an
/// address off loopback without them.
fn control_config(
    addr: Option<std::net::SocketAddr>,
    token_file: Option<&Path>,
    tls: Option<(&Path, &Path)>,
) -> Result<Option<ControlConfig>, ExitCode> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let token = Token::load(token_file).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    ControlConfig::new(addr, token, tls).map(Some).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}
