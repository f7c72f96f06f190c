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
pub mod ledger;
mod summary;

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_rt::broker::MessageBroker;
use airssys_rt::supervisor::{
    ChildSpec, FailureCause, RestartStrategy, ShutdownPolicy, SupervisorExit, SupervisorNode,
    SupervisorRef,
};
use airssys_wasm::host::{ComponentHost, ComponentInfo, HostError};
use airssys_wasm::{EngineConfig, SubjectPattern, TopicMessage};

use crate::control::{self, ControlConfig, Controller};
use crate::manifest::{ClusterSettings, Manifest, Strategy};
use airssys_nats::cluster::Cluster;
use airssys_nats::NatsBroker;
pub use summary::Summary;

/// Guests at least this big are announced while they compile: 1 MB.
const BIG_GUEST_BYTES: usize = 1_000_000;

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

pub(crate) use crate::manifest::spec::{backoff, component_spec};

/// Builds the host and spawns everything the manifest declares.
///
/// # Errors
/// [`RunError`] naming the component or group that could not start.
pub async fn start(manifest: &Manifest) -> Result<ComponentHost, RunError> {
    start_with_groups(manifest, None, None, None, true)
        .await
        .map(|(host, _)| host)
}

/// As [`start`], on the given broker (e.g. a NATS one) instead of the
/// embedded in-memory broker, also returning the supervision groups by name
/// (what the control API spawns into). On a `cluster` host, components
/// hand messages to their guests only while its lease holds, and monitors
/// of components on other hosts learn of their host's loss. Without
/// `spawn`, only compiles the binaries (a cluster host's agent starts the
/// components it owns).
///
/// # Errors
/// As [`start`].
pub async fn start_with_groups(
    manifest: &Manifest,
    broker: Option<Arc<dyn MessageBroker<TopicMessage>>>,
    cluster: Option<&airssys_nats::cluster::Cluster>,
    durable: Option<Arc<dyn airssys_wasm::host::DurableSends>>,
    spawn: bool,
) -> Result<(ComponentHost, HashMap<String, SupervisorRef>), RunError> {
    let h = &manifest.host;
    let mut builder = ComponentHost::builder()
        .engine(engine_config(h))
        .dead_letter_subject(h.dead_letter_subject.clone());
    if let Some((n, within)) = h.intensity {
        builder = builder.intensity(n, within);
    }
    if let Some(b) = h.backoff {
        builder = builder.backoff(backoff(b));
    }
    if let Some(broker) = broker {
        builder = builder.broker(broker);
    }
    if let Some(cluster) = cluster {
        builder = builder.lease(cluster.lease()).membership(Arc::new(
            crate::cluster::membership::ClusterMembership::new(cluster.clone()),
        ));
    }
    if let Some(durable) = durable {
        builder = builder.durable(durable);
    }
    let host = builder.build().map_err(RunError::Host)?;

    // Compile every binary before anything starts (cached by content hash,
    // so the spawns below do not compile again).
    compile_all(manifest, host.engine()).map_err(|e| *e)?;

    if !spawn {
        return Ok((host, HashMap::new()));
    }
    start_groups(manifest, host).await
}

/// The engine `run` builds for `[host]` settings `h` (its pool, fuel
/// metering when a component sets `fuel_per_call`, and the compilation
/// cache in `h.cache_dir`). `airssys precompile` uses the same, so that what
/// it compiles is what a run finds in the cache.
pub fn engine_config(h: &crate::manifest::HostSettings) -> EngineConfig {
    let mut engine = h.pool.apply(
        EngineConfig::default()
            .max_components(h.max_components)
            .fuel(h.fuel),
    );
    if let Some(dir) = &h.cache_dir {
        engine = engine.compile_cache(dir);
    }
    engine
}

/// Compiles every binary of `manifest` on `engine` (kept by content hash,
/// so spawns do not compile again; from the compilation cache when an
/// earlier run or `airssys precompile` compiled it).
///
/// # Errors
/// [`RunError::Binary`] for the first binary refused.
pub fn compile_all(
    manifest: &Manifest,
    engine: &airssys_wasm::WasmEngine,
) -> Result<(), Box<RunError>> {
    for c in &manifest.components {
        // A big guest (a JavaScript or Python one: megabytes) takes seconds
        // to compile the first time: say so, and what the cache did.
        let big = c.bytes.len() >= BIG_GUEST_BYTES;
        let started = Instant::now();
        let before = engine.compile_cache_stats();
        if big {
            eprintln!(
                "compiling {} ({:.1} MB)…",
                c.name,
                c.bytes.len() as f64 / 1e6
            );
        }
        engine
            .load(&c.name.as_str().into(), &c.bytes)
            .map_err(|source| {
                Box::new(RunError::Binary {
                    component: c.name.clone(),
                    path: c.path.display().to_string(),
                    source,
                })
            })?;
        if big {
            let from_cache = matches!(
                (before, engine.compile_cache_stats()),
                (Some((hits, _)), Some((now, _))) if now > hits
            );
            eprintln!(
                "{} ready in {:.1} s ({})",
                c.name,
                started.elapsed().as_secs_f64(),
                if from_cache {
                    "from the compilation cache"
                } else {
                    "compiled"
                }
            );
        }
    }
    Ok(())
}

/// Starts `manifest`'s supervision groups and components on `host`.
async fn start_groups(
    manifest: &Manifest,
    host: ComponentHost,
) -> Result<(ComponentHost, HashMap<String, SupervisorRef>), RunError> {
    let mut groups: HashMap<&str, SupervisorRef> = HashMap::new();
    for g in &manifest.groups {
        let parent = match &g.parent {
            Some(p) => groups[p.as_str()].clone(),
            None => host.supervisor().clone(),
        };
        let mut b = SupervisorNode::builder(g.name.clone()).strategy(match g.strategy {
            Strategy::OneForOne => RestartStrategy::OneForOne,
            Strategy::OneForAll => RestartStrategy::OneForAll,
            Strategy::RestForOne => RestartStrategy::RestForOne,
        });
        if let Some((n, within)) = g.intensity {
            b = b.intensity(n, within);
        }
        if let Some(bo) = g.backoff {
            b = b.backoff(backoff(bo));
        }
        let spec = ChildSpec::new(g.name.clone())
            .shutdown(ShutdownPolicy::Graceful(manifest.host.shutdown_timeout));
        let group = parent
            .add_supervisor(spec, b)
            .await
            .map_err(|e| RunError::Group {
                group: g.name.clone(),
                reason: e.to_string(),
            })?;
        groups.insert(g.name.as_str(), group);
    }

    for c in &manifest.components {
        for id in c.instance_ids() {
            let spec = component_spec(c, &id, Arc::clone(&c.bytes));
            let spawned = match &c.group {
                Some(g) => host.spawn_in(&groups[g.as_str()], spec).await,
                None => host.spawn(spec).await,
            };
            spawned.map_err(|source| RunError::Spawn {
                component: id.clone(),
                source,
            })?;
            tracing::info!(component = %id, "started");
        }
    }
    let groups = groups
        .into_iter()
        .map(|(name, group)| (name.to_owned(), group))
        .collect();
    Ok((host, groups))
}

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

/// `--only`: keeps the components of the named groups, each of which must
/// exist.
///
/// # Errors
/// The first group named that the manifest lacks, in words.
fn keep_only(manifest: &mut Manifest, only: &[String]) -> Result<(), String> {
    if only.is_empty() {
        return Ok(());
    }
    for g in only {
        if !manifest.groups.iter().any(|d| &d.name == g) {
            return Err(format!("--only {g}: no such group"));
        }
    }
    manifest
        .components
        .retain(|c| c.group.as_ref().is_some_and(|g| only.contains(g)));
    Ok(())
}

/// Connects to the NATS server at `url` under the manifest's prefix, with
/// the cluster's JetStream settings when this host joins a cluster.
async fn connect_nats(
    manifest: &Manifest,
    opts: &RunOptions,
    url: &str,
    cluster: bool,
) -> Result<NatsBroker<TopicMessage>, RunError> {
    let prefix = manifest
        .host
        .broker
        .as_ref()
        .map_or(airssys_nats::DEFAULT_PREFIX, |b| b.prefix.as_str());
    let security = opts.nats_security.over(
        manifest
            .host
            .broker
            .as_ref()
            .map(|b| b.security.clone())
            .unwrap_or_default(),
    );
    let dead = &manifest.host.dead_letter_subject;
    let broker = if cluster {
        crate::nats::connect_cluster_host(url, prefix, dead, &security).await
    } else {
        crate::nats::connect(url, prefix, dead, &security).await
    }
    .map_err(|e| RunError::Broker(e.to_string()))?;
    eprintln!("joined NATS at {url} as part of application `{prefix}`");
    Ok(broker)
}

/// Joins the cluster as this host (its id, labels and control address).
async fn join_cluster(
    manifest: &Manifest,
    opts: &RunOptions,
    settings: &ClusterSettings,
    broker: &NatsBroker<TopicMessage>,
) -> Result<Cluster, RunError> {
    let id = settings
        .host_id
        .clone()
        .unwrap_or_else(crate::cluster::default_host_id);
    let control = opts.control.as_ref().map(|c| c.addr().to_string());
    let joined = crate::cluster::join(broker, &id, settings, manifest.host.max_components, control)
        .await
        .map_err(|e| RunError::Broker(e.to_string()))?;
    eprintln!(
        "joined the cluster as host `{id}` ({} live hosts)",
        joined.live_hosts().len()
    );
    Ok(joined)
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

/// Runs the manifest to the end and returns the summary.
///
/// # Errors
/// [`RunError`] if it could not start.
pub async fn run(mut manifest: Manifest, opts: RunOptions) -> Result<Summary, RunError> {
    if opts.no_cache {
        manifest.host.cache_dir = None;
    }
    let started = Instant::now();
    keep_only(&mut manifest, &opts.only).map_err(RunError::Broker)?;
    let url = opts.nats.clone().or_else(|| {
        manifest
            .host
            .broker
            .as_ref()
            .map(|b| b.url.clone())
            .filter(|u| !u.is_empty())
    });
    let cluster_settings = (opts.cluster || manifest.host.cluster.is_some()).then(|| {
        let mut settings = manifest.host.cluster.clone().unwrap_or_default();
        if let Some(id) = &opts.host_id {
            settings.host_id = Some(id.clone());
        }
        settings.labels.extend(opts.labels.iter().cloned());
        settings
    });
    if cluster_settings.is_some() {
        if url.is_none() {
            return Err(RunError::Broker(
                "a cluster host needs a NATS server with JetStream: --nats URL or [broker] url"
                    .into(),
            ));
        }
        if !opts.only.is_empty() {
            return Err(RunError::Broker(
                "--only and --cluster do not mix: a cluster places the components itself".into(),
            ));
        }
    }
    let nats = match url {
        Some(url) => Some(connect_nats(&manifest, &opts, &url, cluster_settings.is_some()).await?),
        None => None,
    };
    let cluster = match (&cluster_settings, &nats) {
        (Some(settings), Some(broker)) => {
            Some(join_cluster(&manifest, &opts, settings, broker).await?)
        }
        _ => None,
    };
    // Durable components and topics (cluster only): in JetStream.
    let (durable_store, durable_sends) = match (&cluster, &nats) {
        (Some(_), Some(broker)) => crate::cluster::durable::open(&manifest, broker)
            .await
            .map_err(|e| RunError::Broker(e.to_string()))?,
        _ => (None, None),
    };
    let durable = durable_store.is_some();
    let (host, groups) = start_with_groups(
        &manifest,
        nats.clone()
            .map(|b| Arc::new(b) as Arc<dyn MessageBroker<TopicMessage>>),
        cluster.as_ref(),
        durable_sends,
        cluster.is_none(),
    )
    .await?;
    let root = host.supervisor().clone();
    // The live view groups components by supervision group.
    let tree_nodes = crate::tree::group_nodes(&host, &manifest, &groups);
    let member_of = crate::tree::members(&manifest, root.name());

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
    let metrics_addr = opts.metrics_addr.or(manifest.host.metrics_addr);
    let endpoint = match metrics_addr {
        Some(addr) => {
            let handle = crate::telemetry::prometheus();
            let status = nats.as_ref().map(|b| b.connection_status());
            let (local, task) = endpoint::serve(
                addr,
                host.clone(),
                handle,
                status,
                cluster_slot.clone(),
                opts.metrics_component_limit,
            )
            .await
            .map_err(|source| RunError::Endpoint { addr, source })?;
            eprintln!("serving /metrics and /health on http://{local}");
            Some(task)
        }
        None => None,
    };

    let mut control_traffic = None;
    let mut control = match opts.control {
        Some(config) => {
            let addr = config.addr();
            let scheme = config.scheme();
            let mut controller = Controller::new(host.clone(), &manifest, groups);
            control_traffic = Some(controller.traffic());
            if let Some(slot) = &cluster_slot {
                controller = controller.with_cluster(slot.clone());
            }
            let (local, task) = control::serve(config, controller)
                .await
                .map_err(|source| RunError::Control { addr, source })?;
            if let Some(cluster) = &cluster {
                // The bound address (the one asked for may have port 0);
                // the others learn it with the next heartbeat.
                cluster.update_me(|r| r.control = Some(local.to_string()));
            }
            eprintln!("serving the control API on {scheme}://{local}");
            Some(task)
        }
        None => None,
    };

    let manifest = Arc::new(manifest);
    let cluster_run = match (cluster, cluster_settings, &nats) {
        (Some(cluster), Some(settings), Some(broker)) => Some(
            crate::cluster::ClusterRun::start(
                cluster,
                host.clone(),
                broker.clone(),
                Arc::clone(&manifest),
                settings,
                durable_store,
            )
            .await
            .map_err(RunError::Broker)?,
        ),
        _ => None,
    };
    if let (Some(slot), Some(run)) = (&cluster_slot, &cluster_run) {
        slot.set(run.handle());
    }
    if let Some(nats) = &nats {
        // Every subscription (components, ledger) is on the server before
        // the host says it is ready, so a peer started after this line
        // reaches every component here.
        nats.sync()
            .await
            .map_err(|e| RunError::Broker(e.to_string()))?;
    }
    eprintln!("ready: {} components running", host.list().len());

    let stopping = Arc::new(AtomicBool::new(false));
    let drives = if opts.no_drives {
        Vec::new()
    } else {
        drive::start(&host, &manifest.drives, Arc::clone(&stopping))
    };
    if opts.until_drives_done && (drives.is_empty() || drives.iter().any(|d| d.def.count.is_none()))
    {
        eprintln!(
            "--until-drives-done: not every drive here has a `count`; the run ends on Ctrl-C, SIGTERM or --duration"
        );
    }

    let tty = std::io::stdout().is_terminal() && !opts.quiet;
    let mut view = summary::View::new(tty);
    let mut poll = tokio::time::interval(if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(1)
    });
    let deadline = opts.duration.map(|d| tokio::time::Instant::now() + d);
    let mut last_metrics = Instant::now() - Duration::from_secs(2);
    let end = loop {
        tokio::select! {
            _ = poll.tick() => {
                let list = host.list();
                if last_metrics.elapsed() >= Duration::from_secs(1) {
                    if let Some(nats) = &nats {
                        crate::telemetry::record_broker(nats);
                    }
                    last_metrics = Instant::now();
                }
                if !opts.quiet {
                    let last_dead = ledger.last_dead_letter();
                    let mut headings = Vec::new();
                    if tty {
                        for node in &tree_nodes {
                            headings.push((node.name.clone(), crate::tree::heading(node).await));
                        }
                    }
                    view.show(
                        started.elapsed(),
                        &list,
                        &host.dead_letter_stats(),
                        &drives,
                        last_dead.as_ref(),
                        (&headings, &member_of),
                    );
                }
                if opts.until_drives_done
                    && !drives.is_empty()
                    && drives.iter().all(|d| d.is_finished())
                    && list.iter().all(|c| c.mailbox_len == 0)
                {
                    break EndReason::DrivesDone;
                }
            }
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => break EndReason::Duration,
            _ = tokio::signal::ctrl_c() => break EndReason::Interrupted,
            _ = terminated() => break EndReason::Terminated,
            exit = root.wait() => {
                break match exit {
                    SupervisorExit::Failed(why) => EndReason::RootFailed(why),
                    other => EndReason::RootFailed(FailureCause::Other(format!("{other:?}"))),
                };
            }
        }
    };
    view.finish();
    tracing::info!(reason = ?end, "stopping");
    // From here a second Ctrl-C or SIGTERM stops at once, saying what it
    // leaves behind; the control API takes no new work.
    let force = tokio::spawn(stop_now_on_second_signal(host.clone()));
    if let Some(task) = control.take() {
        task.abort();
    }

    // Graceful shutdown: stop the sources, hand the cluster's units over,
    // let the mailboxes drain, stop the host.
    let drive_stats: Vec<(String, Arc<drive::DriveStats>)> = drives
        .iter()
        .map(|d| (d.label(), Arc::clone(&d.stats)))
        .collect();
    for d in drives {
        d.stop(&stopping).await;
    }
    let mut retired = Vec::new();
    if let Some(cluster_run) = cluster_run {
        let report = cluster_run.leave().await;
        eprintln!(
            "left the cluster: {} units handed over, {} released",
            report.handed_over, report.released
        );
        retired = report.retired;
    }
    let drain_deadline = Instant::now() + manifest.host.shutdown_timeout;
    if !matches!(end, EndReason::RootFailed(_)) {
        let mut stable = 0;
        let mut last = None;
        while Instant::now() < drain_deadline && stable < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let list = host.list();
            let queued: usize = list.iter().map(|c| c.mailbox_len).sum();
            let seen = ledger.snapshot();
            let key = (
                queued,
                list.iter().map(|c| c.handled + c.failed).sum::<u64>(),
                seen.host_publishes + seen.guest_publishes,
            );
            if queued == 0 && last == Some(key) {
                stable += 1;
            } else {
                stable = 0;
            }
            last = Some(key);
        }
    }
    let components = with_retired(host.list(), retired);
    let report = host.shutdown(manifest.host.shutdown_timeout).await;
    let tally = ledger.stop().await;
    if let Some(nats) = &nats {
        // What the components published on their way out reaches the
        // server before the process exits.
        if let Err(error) = nats.sync().await {
            tracing::warn!(%error, "could not flush the NATS connection at exit");
        }
    }
    if let Some(task) = endpoint {
        task.abort();
    }
    force.abort();

    let mut summary = Summary::new(
        &manifest,
        started.elapsed(),
        end,
        components,
        report,
        tally,
        drive_stats,
    );
    if durable {
        summary = summary.durable(&manifest);
    }
    if let Some(traffic) = &control_traffic {
        summary = summary.control(traffic);
    }
    if nats.is_some() {
        summary = summary.unenforced();
    }
    Ok(summary)
}

/// `now` with the counts of components that ran here earlier (a cluster
/// host's, moved away or stopped) added, one row per id.
fn with_retired(now: Vec<ComponentInfo>, retired: Vec<ComponentInfo>) -> Vec<ComponentInfo> {
    let mut rows = now;
    for r in retired {
        match rows.iter_mut().find(|c| c.id == r.id) {
            Some(row) => {
                row.restarts += r.restarts;
                row.handled += r.handled;
                row.failed += r.failed;
                row.denied += r.denied;
                row.upgrades += r.upgrades;
            }
            None => rows.push(r),
        }
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    rows
}

/// Resolves on `SIGTERM` (what service managers send to stop a process);
/// never where there is no such signal.
/// Waits for another Ctrl-C or SIGTERM during the graceful stop, then
/// says what a stop now abandons (messages still queued, components not
/// cleaned up) and exits with 130 at once.
async fn stop_now_on_second_signal(host: ComponentHost) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated() => {}
    }
    let list = host.list();
    let queued: Vec<String> = list
        .iter()
        .filter(|c| c.mailbox_len > 0)
        .map(|c| format!("{} ({})", c.id, c.mailbox_len))
        .collect();
    let running = list
        .iter()
        .filter(|c| c.state != airssys_wasm::LifecycleState::Stopped)
        .count();
    eprintln!(
        "second signal: stopping now; abandoned {} queued message(s){}{}, {running} component(s) not cleaned up",
        list.iter().map(|c| c.mailbox_len).sum::<usize>(),
        if queued.is_empty() { "" } else { " in " },
        queued.join(", ")
    );
    std::process::exit(130);
}

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
