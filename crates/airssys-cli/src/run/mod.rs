//! `airssys run`: start a host from a manifest, drive it, watch it, stop it
//! gracefully and account for every message.
//!
//! Order of events: every binary is compiled first (a bad binary stops
//! the run before any component starts); supervision groups are built
//! parents first; components are spawned in file order; the ledger, the
//! endpoint and the drives start; then the status view runs until Ctrl-C, the
//! duration, or the root supervisor giving up. Shutdown stops the drives,
//! lets the mailboxes drain, shuts the host down, and prints the summary.

pub mod drive;
pub mod endpoint;
mod join;
pub mod ledger;
mod serve;
mod start;
mod stop;
mod summary;
mod watch;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_nats::cluster::durable::DurableStore;
use airssys_nats::cluster::Cluster;
use airssys_nats::NatsBroker;
use airssys_rt::broker::MessageBroker;
use airssys_rt::supervisor::FailureCause;
use airssys_wasm::host::{ComponentHost, HostError};
use airssys_wasm::{SubjectPattern, TopicMessage};
use tokio::task::JoinHandle;

use crate::control::ControlConfig;
use crate::manifest::{ClusterSettings, Manifest};
pub use summary::Summary;

/// Options of `airssys run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after this long (default: until Ctrl-C).
    pub duration: Option<Duration>,
    /// No status view, only the summary.
    pub quiet: bool,
    /// Serve `/metrics` and `/health` here (overrides the manifest).
    pub metrics_addr: Option<SocketAddr>,
    /// Components above which `/metrics` adds per-component series up by
    /// component name (`--metrics-component-limit`, default
    /// [`DEFAULT_COMPONENT_LIMIT`](crate::telemetry::DEFAULT_COMPONENT_LIMIT)).
    pub metrics_component_limit: usize,
    /// Serve the control API (see [`control`]).
    pub control: Option<ControlConfig>,
    /// Join the NATS server at this URL (overrides `[broker] url`).
    pub nats: Option<String>,
    /// TLS and credential files of the NATS connection (override the
    /// `[broker]` settings of the same kind).
    pub nats_security: crate::nats::SecurityFlags,
    /// Run only the components of these groups (default: all). With
    /// `--nats`, other hosts run the rest.
    pub only: Vec<String>,
    /// Do not start the manifest's drives (another host drives).
    pub no_drives: bool,
    /// Compile every guest afresh: no compilation cache (`--no-cache`).
    pub no_cache: bool,
    /// End the run when every drive has sent its count and the mailboxes
    /// are empty (`--until-drives-done`). Otherwise a run serves until it
    /// is told to stop (a signal, `--duration`), as a service does.
    pub until_drives_done: bool,
    /// Run as one host of a cluster (also when the manifest has a
    /// `[cluster]` section): the hosts divide the components among
    /// themselves. Needs a NATS URL with JetStream.
    pub cluster: bool,
    /// This host's id in the cluster (overrides `[cluster] host_id`).
    pub host_id: Option<String>,
    /// Labels of this host (added to `[cluster] labels`).
    pub labels: Vec<String>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The host could not be built.
    #[error("cannot start the host: {0}")]
    Host(HostError),
    /// A component's binary was refused before anything started.
    #[error("component `{component}` ({path}): {source}")]
    Binary {
        /// The component name.
        component: String,
        /// Its binary.
        path: String,
        /// Why.
        source: airssys_wasm::WasmError,
    },
    /// A component failed to spawn.
    #[error("component `{component}` did not start: {source}")]
    Spawn {
        /// The component id.
        component: String,
        /// Why.
        source: HostError,
    },
    /// A supervision group could not be created.
    #[error("group `{group}` did not start: {reason}")]
    Group {
        /// The group.
        group: String,
        /// Why.
        reason: String,
    },
    /// The control API address could not be bound.
    #[error("cannot serve the control API on {addr}: {source}")]
    Control {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The NATS server could not be joined, or `--only` named no group.
    #[error("cannot join the distributed application: {0}")]
    Broker(String),
    /// The endpoint address could not be bound.
    #[error("cannot serve metrics on {addr}: {source}")]
    Endpoint {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

pub use self::start::{compile_all, start, start_with_groups};
pub use crate::manifest::spec::engine_config;

/// Why the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The duration elapsed.
    Duration,
    /// Ctrl-C.
    Interrupted,
    /// `SIGTERM`.
    Terminated,
    /// Every drive sent its `count` and the mailboxes drained.
    DrivesDone,
    /// The root supervisor gave up, and why.
    RootFailed(FailureCause),
}

/// Each component instance's subscription patterns, for the ledger.
fn subscriptions_of(manifest: &Manifest) -> Vec<(String, Vec<SubjectPattern>)> {
    manifest
        .components
        .iter()
        .flat_map(|c| {
            let patterns: Vec<SubjectPattern> = c
                .subscribe
                .iter()
                .filter_map(|p| SubjectPattern::new(p).ok())
                .collect();
            c.instance_ids()
                .into_iter()
                .map(move |id| (id, patterns.clone()))
        })
        .collect()
}

/// A run once everything started: what its watch looks at and its stop
/// takes down.
struct Running {
    host: ComponentHost,
    manifest: Arc<Manifest>,
    nats: Option<NatsBroker<TopicMessage>>,
    ledger: ledger::Ledger,
    drives: Vec<drive::Drive>,
    /// Tells the drives to stop.
    stopping: Arc<AtomicBool>,
    cluster_run: Option<crate::cluster::ClusterRun>,
    control: Option<serve::ServedControl>,
    endpoint: Option<JoinHandle<()>>,
    /// Durable components and topics are in JetStream.
    durable: bool,
    started: Instant,
}

/// Runs the manifest to the end and returns the summary.
///
/// # Errors
/// [`RunError`] if it could not start.
pub async fn run(mut manifest: Manifest, mut opts: RunOptions) -> Result<Summary, RunError> {
    if opts.no_cache {
        manifest.host.cache_dir = None;
    }
    let started = Instant::now();
    join::keep_only(&mut manifest, &opts.only).map_err(RunError::Broker)?;
    let url = join::nats_url(&manifest, &opts);
    let cluster_settings =
        join::cluster_settings(&manifest, &opts, url.is_some()).map_err(RunError::Broker)?;
    let join::Joined {
        nats,
        cluster,
        durable_store,
        durable_sends,
    } = join::join(&manifest, &opts, url, cluster_settings.as_ref()).await?;
    let durable = durable_store.is_some();
    let broker = nats
        .clone()
        .map(|b| Arc::new(b) as Arc<dyn MessageBroker<TopicMessage>>);
    let (host, groups) = start_with_groups(
        &manifest,
        broker,
        cluster.as_ref(),
        durable_sends,
        cluster.is_none(),
    )
    .await?;
    // The live view groups components by supervision group.
    let tree_nodes = crate::tree::group_nodes(&host, &manifest, &groups);
    let member_of = crate::tree::members(&manifest, host.supervisor().name());
    let subscriptions = subscriptions_of(&manifest);
    let ledger = ledger::Ledger::start(&host, subscriptions, cluster.is_some()).map_err(|e| {
        RunError::Group {
            group: "ledger".into(),
            reason: e.to_string(),
        }
    })?;

    // The control API and the endpoint start before the cluster runs; they
    // find it here once it does.
    let cluster_slot = cluster
        .is_some()
        .then(crate::cluster::operate::ClusterSlot::default);
    let endpoint =
        serve::endpoint(&manifest, &opts, &host, nats.as_ref(), cluster_slot.clone()).await?;
    let control = match opts.control.take() {
        Some(config) => Some(
            serve::control(
                config,
                &host,
                &manifest,
                groups,
                cluster_slot.as_ref(),
                cluster.as_ref(),
            )
            .await?,
        ),
        None => None,
    };

    let manifest = Arc::new(manifest);
    let cluster_run = start_cluster(
        &host,
        &manifest,
        nats.as_ref(),
        (cluster, cluster_settings),
        durable_store,
        cluster_slot.as_ref(),
    )
    .await?;
    eprintln!("ready: {} components running", host.list().len());

    let (drives, stopping) = start_drives(&host, &manifest, &opts);
    let running = Running {
        host,
        manifest,
        nats,
        ledger,
        drives,
        stopping,
        cluster_run,
        control,
        endpoint,
        durable,
        started,
    };
    let end = running.watch(&opts, &tree_nodes, &member_of).await;
    Ok(running.stop(end).await)
}

/// Starts this host's part in the cluster, if it has one, and hands it to
/// the control API's slot; then waits until every subscription is on the
/// NATS server, so a peer started after this reaches every component here.
async fn start_cluster(
    host: &ComponentHost,
    manifest: &Arc<Manifest>,
    nats: Option<&NatsBroker<TopicMessage>>,
    (cluster, settings): (Option<Cluster>, Option<ClusterSettings>),
    durable_store: Option<DurableStore>,
    slot: Option<&crate::cluster::operate::ClusterSlot>,
) -> Result<Option<crate::cluster::ClusterRun>, RunError> {
    let cluster_run = match (cluster, settings, nats) {
        (Some(cluster), Some(settings), Some(broker)) => Some(
            crate::cluster::ClusterRun::start(
                cluster,
                host.clone(),
                broker.clone(),
                Arc::clone(manifest),
                settings,
                durable_store,
            )
            .await
            .map_err(RunError::Broker)?,
        ),
        _ => None,
    };
    if let (Some(slot), Some(run)) = (slot, &cluster_run) {
        slot.set(run.handle());
    }
    if let Some(nats) = nats {
        nats.sync()
            .await
            .map_err(|e| RunError::Broker(e.to_string()))?;
    }
    Ok(cluster_run)
}

/// Starts the manifest's drives (unless `--no-drives`), and the flag that
/// stops them; says when `--until-drives-done` cannot end the run.
fn start_drives(
    host: &ComponentHost,
    manifest: &Manifest,
    opts: &RunOptions,
) -> (Vec<drive::Drive>, Arc<AtomicBool>) {
    let stopping = Arc::new(AtomicBool::new(false));
    let drives = if opts.no_drives {
        Vec::new()
    } else {
        drive::start(host, &manifest.drives, Arc::clone(&stopping))
    };
    if opts.until_drives_done && (drives.is_empty() || drives.iter().any(|d| d.def.count.is_none()))
    {
        eprintln!(
            "--until-drives-done: not every drive here has a `count`; the run ends on Ctrl-C, SIGTERM or --duration"
        );
    }
    (drives, stopping)
}

/// Resolves on `SIGTERM` (what service managers send to stop a process);
/// never where there is no such signal.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            term.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// Prints the status view's lines to stdout.
fn write_lines(lines: &[String]) {
    let mut out = std::io::stdout().lock();
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = out.flush();
}
