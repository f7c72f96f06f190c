//! The `airssys.toml` manifest: what an operator writes to run components.
//!
//! [`Manifest::load`] parses and validates the whole file before anything
//! starts; every refusal is a [`ManifestError`] with `file:line:column`.
//! Every key, its default and what refuses it: `docs/manifest.md`.
//!
//! ```toml
//! [host]
//! max_components = 32                    # pool size (default 64)
//! # Each component's share of the pool (checked per binary at load):
//! max_core_instances_per_component = 32  # default 32
//! max_memories_per_component = 1         # default 1
//! max_tables_per_component = 4           # default 4
//! max_table_elements = 100000            # default 100 000
//! max_memory_per_component = "64MiB"     # pool slot, default 64 MiB
//! dead_letter_subject = "_airssys.deadletter"
//! metrics_addr = "127.0.0.1:9100"        # optional: /metrics and /health
//! shutdown_timeout = "5s"
//! cache_dir = ".airssys-cache"          # compiled code kept between runs (default: ~/.cache/airssys/compiled)
//! intensity = { max_restarts = 10, within = "10s" }   # root supervisor
//! backoff = { initial = "10ms", max = "1s" }
//! [host.limits]                          # defaults for every component
//! max_memory = "16MiB"
//! execution_timeout = "1s"
//!
//! [[group]]                              # supervision groups; nest with `parent`
//! name = "pipeline"
//! strategy = "one_for_one"               # one_for_all, rest_for_one
//! intensity = { max_restarts = 5, within = "5s" }
//!
//! [[component]]
//! name = "validator"
//! path = "validator.wat"                 # .wasm or .wat, relative to this file
//! instances = 2                          # ids validator-0, validator-1
//! group = "pipeline"
//! subscribe = ["orders.new.*"]
//! send = ["pricing"]                     # components it may send/request to
//! publish = ["orders.valid.>"]           # subjects it may publish on
//! allow_subscribe = ["prices.>"]         # it may subscribe at run time inside these
//!                                        #   (and inside its `subscribe` patterns)
//! restart = "permanent"                  # transient, temporary
//! health = { interval = "1s", timeout = "500ms", threshold = 3 }
//! config = { currency = "EUR" }
//! trap_exits = true                     # a linked component's end arrives as a message (default false)
//! # Component Model guests only; absent = WASI grants nothing:
//! wasi = { dirs = [{ host = "static", guest = "/static" }], env = { MODE = "prod" }, hosts = ["127.0.0.1:8080"], wall_clock = true }
//!
//! requires = ["gpu"]                     # cluster: only hosts with these labels
//! durable = true                         # cluster: sends stored in JetStream until handled
//! snapshot_every = 100                   # cluster: keep its state (snapshot export) every 100 messages
//! snapshot_interval = "5s"               #   and/or this often
//!
//! [cluster]                              # one host of a cluster (needs [broker] url or --nats)
//! host_id = "a"                          # default: host name and pid
//! labels = ["gpu"]
//! heartbeat = "200ms"                    # lease = "1s", host_ttl = "1.5s", handover_timeout = "5s"
//! intensity = { max_restarts = 3, within = "60s" }   # a unit failing on 3 hosts runs nowhere
//!
//! topic_retention = "24h"               # how long durable topics' messages are kept
//!
//! [[topic]]                              # cluster: publishes on it stored in JetStream,
//! subject = "orders.>"                   #   each subscriber acknowledges after handling
//! durable = true
//!
//! [[drive]]                              # host-side traffic source
//! publish = "orders.new.eu"              # or send = "component", request = "component"
//! every = "10ms"
//! payloads = ["order {n}", "!crash {n}"] # cycled; {n} is the sequence number
//! count = 100                            # optional: stop after this many
//! ```

mod broker;
mod error;
mod raw;
pub(crate) mod spec;
pub mod units;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use airssys_wasm::guest::permissions::is_valid_subject;
use airssys_wasm::{ComponentLimits, EngineConfig, InvalidHostPattern, SubjectPattern, WasiGrants};
use toml::Spanned;

pub use self::broker::BrokerSettings;
pub use self::error::ManifestError;
use self::raw::{RawBackoff, RawComponent, RawDrive, RawIntensity, RawLimits, RawManifest};

/// Default `host.max_components`: 64.
pub const DEFAULT_MAX_COMPONENTS: u32 = 64;
/// Default `host.dead_letter_subject`.
pub const DEFAULT_DEAD_LETTER_SUBJECT: &str = "_airssys.deadletter";
/// Default `host.shutdown_timeout`: 5 s.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Default timeout of a `[[drive]]` request: 1 s.
pub const DEFAULT_DRIVE_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// A validated manifest. Paths are resolved against the manifest's folder and
/// every binary has been read.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file, as given.
    pub path: PathBuf,
    /// Host settings.
    pub host: HostSettings,
    /// Supervision groups, parents before children.
    pub groups: Vec<GroupDef>,
    /// Components, in file order (the start order).
    pub components: Vec<ComponentDef>,
    /// Host-side traffic sources.
    pub drives: Vec<DriveDef>,
    /// `[[topic]]` declarations.
    pub topics: Vec<TopicDef>,
}

/// `[[topic]]`: delivery settings of the subjects a pattern matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDef {
    /// The pattern (`orders.>`).
    pub subject: String,
    /// On a cluster, publishes on it are stored in JetStream and each
    /// subscribing component acknowledges them after handling
    /// (at-least-once; see `docs/distribution.md`). Ignored outside one.
    pub durable: bool,
}

/// `[host]` keys sizing each component's share of the engine's instance
/// pool (see [`EngineConfig`]); `None` keeps the engine's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolSettings {
    /// `max_core_instances_per_component` (default 32).
    pub max_core_instances_per_component: Option<u32>,
    /// `max_memories_per_component` (default 1).
    pub max_memories_per_component: Option<u32>,
    /// `max_tables_per_component` (default 4).
    pub max_tables_per_component: Option<u32>,
    /// `max_table_elements` (default 100 000).
    pub max_table_elements: Option<usize>,
    /// `max_memory_per_component` (default 64 MiB).
    pub max_memory_per_component: Option<usize>,
}

impl PoolSettings {
    /// `config` with every setting given here applied.
    #[must_use]
    pub fn apply(&self, mut config: EngineConfig) -> EngineConfig {
        if let Some(n) = self.max_core_instances_per_component {
            config = config.max_core_instances_per_component(n);
        }
        if let Some(n) = self.max_memories_per_component {
            config = config.max_memories_per_component(n);
        }
        if let Some(n) = self.max_tables_per_component {
            config = config.max_tables_per_component(n);
        }
        if let Some(n) = self.max_table_elements {
            config = config.max_table_elements(n);
        }
        if let Some(n) = self.max_memory_per_component {
            config = config.max_memory_per_component(n);
        }
        config
    }
}

/// `[host]`.
#[derive(Debug, Clone)]
pub struct HostSettings {
    /// Pool size of the engine (default [`DEFAULT_MAX_COMPONENTS`]).
    pub max_components: u32,
    /// Each component's share of the engine's pool; `None` keeps
    /// [`EngineConfig`]'s default.
    pub pool: PoolSettings,
    /// Default limits of every component.
    pub default_limits: ComponentLimits,
    /// Where dead letters are published.
    pub dead_letter_subject: String,
    /// Address of the `/metrics` and `/health` endpoint, if any.
    pub metrics_addr: Option<SocketAddr>,
    /// Overall deadline of the graceful shutdown.
    pub shutdown_timeout: Duration,
    /// Restart intensity of the root supervisor, if set.
    pub intensity: Option<(u32, Duration)>,
    /// Backoff of the root supervisor, if set.
    pub backoff: Option<BackoffDef>,
    /// `[broker]`: the NATS server this host joins, if any (the embedded
    /// in-memory broker otherwise).
    pub broker: Option<BrokerSettings>,
    /// `[cluster]`: run as one host of a cluster (needs a broker URL).
    pub cluster: Option<ClusterSettings>,
    /// Where compiled code is kept between runs (`cache_dir`, relative to
    /// the manifest; default: the user's cache directory, see
    /// [`default_cache_dir`]); `None` compiles every run.
    pub cache_dir: Option<PathBuf>,
    /// Whether the engine meters fuel: on when any component's limits (its
    /// own or `[host.limits]`) set `fuel_per_call`, which needs it.
    pub fuel: bool,
}

/// The default compilation cache: `$XDG_CACHE_HOME/airssys/compiled`, or
/// `$HOME/.cache/airssys/compiled` ([`EngineConfig::user_compile_cache_dir`],
/// shared with the testkit); `None` when neither is set.
pub fn default_cache_dir() -> Option<PathBuf> {
    airssys_wasm::EngineConfig::user_compile_cache_dir()
}

/// When a cluster keeps a component's state: after every `every` messages
/// it handled, every `interval`, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// After this many messages handled since the last snapshot.
    pub every: Option<u64>,
    /// At least this often (while it handles messages).
    pub interval: Option<Duration>,
}

/// Default `[cluster] intensity`: a unit that fails on 3 hosts within
/// 60 s is marked failed and moved no more.
pub const DEFAULT_CLUSTER_INTENSITY: (u32, Duration) = (3, Duration::from_secs(60));
/// Default `[cluster] handover_timeout`: 5 s.
pub const DEFAULT_HANDOVER_TIMEOUT: Duration = Duration::from_secs(5);

/// `[cluster]`: this host is one of a cluster that places the manifest's
/// components over its live hosts (see `docs/distribution.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    /// This host's id (`--host-id` overrides it; default: the machine's
    /// host name and the process id).
    pub host_id: Option<String>,
    /// Labels components may require (`gpu`, `zone=eu`).
    pub labels: Vec<String>,
    /// Interval between heartbeats (default 200 ms).
    pub heartbeat: Duration,
    /// How long after its last confirmed heartbeat a host may still act on
    /// its components (default 1 s).
    pub lease: Duration,
    /// How long a host's record lives after its last heartbeat; a dead
    /// host's components move once it expired (default 1.5 s).
    pub host_ttl: Duration,
    /// Cluster-wide restart intensity of a unit: failing on this many
    /// hosts within this window marks it failed (default 3 within 60 s).
    pub intensity: (u32, Duration),
    /// How long a graceful hand-over of one unit may take (default 5 s).
    pub handover_timeout: Duration,
    /// How long the durable topics' stream keeps a message (default 24 h):
    /// a subscriber down for longer misses the oldest.
    pub topic_retention: Duration,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            host_id: None,
            labels: Vec::new(),
            heartbeat: airssys_nats::cluster::DEFAULT_HEARTBEAT,
            lease: airssys_nats::cluster::DEFAULT_LEASE,
            host_ttl: airssys_nats::cluster::DEFAULT_HOST_TTL,
            intensity: DEFAULT_CLUSTER_INTENSITY,
            handover_timeout: DEFAULT_HANDOVER_TIMEOUT,
            topic_retention: airssys_nats::cluster::durable::DEFAULT_TOPIC_RETENTION,
        }
    }
}

/// A `backoff = { initial, max, multiplier, jitter }` table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffDef {
    /// First delay (`"0ms"` = no backoff).
    pub initial: Duration,
    /// Cap.
    pub max: Duration,
    /// Growth factor per attempt, if set.
    pub multiplier: Option<f64>,
    /// Random spread as a fraction, if set.
    pub jitter: Option<f64>,
}

/// Restart strategy of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Restart only the failed child.
    OneForOne,
    /// Restart every child of the group.
    OneForAll,
    /// Restart the failed child and those started after it.
    RestForOne,
}

/// Restart policy of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Always restarted.
    Permanent,
    /// Restarted after an abnormal exit.
    Transient,
    /// Never restarted.
    Temporary,
}

/// A `[[group]]`.
#[derive(Debug, Clone)]
pub struct GroupDef {
    /// Its name (unique among groups).
    pub name: String,
    /// The parent group; `None` = the root supervisor.
    pub parent: Option<String>,
    /// Restart strategy.
    pub strategy: Strategy,
    /// Restart intensity, if set.
    pub intensity: Option<(u32, Duration)>,
    /// Backoff, if set.
    pub backoff: Option<BackoffDef>,
}

/// Health checks of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthDef {
    /// Time between checks.
    pub interval: Duration,
    /// Time a check may take.
    pub timeout: Duration,
    /// Consecutive failures that trigger a restart.
    pub threshold: u32,
}

/// A `[[component]]`.
#[derive(Debug, Clone)]
pub struct ComponentDef {
    /// Its name; the component id when `instances == 1`.
    pub name: String,
    /// The binary's path, resolved against the manifest's folder.
    pub path: PathBuf,
    /// The binary's bytes (WAT text or wasm).
    pub bytes: Arc<[u8]>,
    /// How many instances (ids `name-0..n-1` when more than one).
    pub instances: u32,
    /// Its supervision group; `None` = the root supervisor.
    pub group: Option<String>,
    /// Mailbox capacity, if set.
    pub mailbox: Option<usize>,
    /// Its limits (host defaults overridden by its own).
    pub limits: ComponentLimits,
    /// Configuration key-values.
    pub config: BTreeMap<String, String>,
    /// Subject patterns it subscribes to.
    pub subscribe: Vec<String>,
    /// Component ids it may send to / request from (names expanded to
    /// every instance).
    pub send: Vec<String>,
    /// Subject patterns it may publish on.
    pub publish: Vec<String>,
    /// Patterns it may subscribe to at run time, and any pattern inside
    /// one (`allow_subscribe`; its `subscribe` patterns are granted too).
    pub allow_subscribe: Vec<String>,
    /// Restart policy.
    pub restart: Restart,
    /// Health checks, if set.
    pub health: Option<HealthDef>,
    /// Time its `cleanup` gets on stop, if set.
    pub stop_timeout: Option<Duration>,
    /// Host labels a cluster host must carry to run it (`requires`).
    pub requires: Vec<String>,
    /// `durable = true`: on a cluster, sends to it are stored in JetStream
    /// and acknowledged only once handled (at-least-once; see
    /// `docs/distribution.md`). Ignored outside a cluster.
    pub durable: bool,
    /// `trap_exits = true`: the end of a component linked with it (the
    /// `link` import) arrives as an `_airssys.exit` message instead of
    /// ending its incarnation when abnormal (default `false`;
    /// `docs/supervision.md`, "Monitors and links").
    pub trap_exits: bool,
    /// `snapshot_every` / `snapshot_interval`: on a cluster, its state (its
    /// `snapshot` export) is kept in JetStream and restored into its next
    /// instance on another host.
    pub snapshot: Option<SnapshotPolicy>,
    /// What it may reach through WASI (components only; default nothing).
    /// Directories are resolved against the manifest's folder.
    pub wasi: WasiGrants,
}

impl Manifest {
    /// The patterns of the topics marked durable.
    pub fn durable_topics(&self) -> Vec<&str> {
        self.topics
            .iter()
            .filter(|t| t.durable)
            .map(|t| t.subject.as_str())
            .collect()
    }
}

impl ComponentDef {
    /// The ids of its instances: `name` alone, or `name-0..name-{n-1}`.
    pub fn instance_ids(&self) -> Vec<String> {
        instance_ids(&self.name, self.instances)
    }
}

fn instance_ids(name: &str, instances: u32) -> Vec<String> {
    if instances == 1 {
        vec![name.to_owned()]
    } else {
        (0..instances).map(|i| format!("{name}-{i}")).collect()
    }
}

/// Where a `[[drive]]` sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriveTarget {
    /// Publish on a subject.
    Publish(String),
    /// Send to these component ids, round-robin.
    Send(Vec<String>),
    /// Request from these component ids, round-robin, waiting for the reply.
    Request(Vec<String>),
}

/// A `[[drive]]`: a host-side source of messages.
#[derive(Debug, Clone)]
pub struct DriveDef {
    /// Where to send.
    pub target: DriveTarget,
    /// Period.
    pub every: Duration,
    /// Payloads, cycled; `{n}` is replaced by the sequence number.
    pub payloads: Vec<String>,
    /// Stop after this many messages, if set.
    pub count: Option<u64>,
    /// Timeout of each request.
    pub timeout: Duration,
    /// Print each reply of a request drive on standard output (its
    /// payload decoded as [`airssys_wasm::codec::display`] shows it);
    /// replies are logged at `info` level either way.
    pub show_replies: bool,
}

impl DriveDef {
    /// The payload of message number `n`.
    pub fn payload(&self, n: u64) -> String {
        // `payloads` is never empty (validated at load).
        let i = usize::try_from(n % self.payloads.len() as u64).unwrap_or(0);
        self.payloads[i].replace("{n}", &n.to_string())
    }
}

impl Manifest {
    /// Reads, parses and validates `path`, and reads every component binary.
    ///
    /// # Errors
    /// [`ManifestError::Read`] if the file cannot be read;
    /// [`ManifestError::Invalid`] with the position and the cause otherwise.
    pub fn load(path: impl AsRef<Path>) -> Result<Manifest, ManifestError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Manifest::parse(path, &text)
    }

    /// Parses and validates manifest `text` as if read from `path` (relative
    /// paths resolve against its folder).
    ///
    /// # Errors
    /// [`ManifestError::Invalid`] with the position and the cause.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            ManifestError::at(path, text, e.span(), e.message().trim_end().to_owned())
        })?;
        Validator { path, text }.validate(raw)
    }
}

struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
}

fn span<T>(s: &Spanned<T>) -> Option<Range<usize>> {
    Some(s.span())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Validator<'_> {
    fn err(&self, at: Option<Range<usize>>, message: impl Into<String>) -> ManifestError {
        ManifestError::at(self.path, self.text, at, message.into())
    }

    fn validate(&self, raw: RawManifest) -> Result<Manifest, ManifestError> {
        let base = self.path.parent().unwrap_or(Path::new("."));

        // Host.
        let default_limits = apply_limits(ComponentLimits::default(), raw.host.limits.as_ref())?;
        let dead_letter_subject = match &raw.host.dead_letter_subject {
            Some(s) if !is_valid_subject(s.get_ref()) => {
                return Err(self.err(
                    span(s),
                    format!(
                        "invalid dead-letter subject `{}`: use non-empty dot-separated tokens without wildcards",
                        s.get_ref()
                    ),
                ))
            }
            Some(s) => s.get_ref().clone(),
            None => DEFAULT_DEAD_LETTER_SUBJECT.to_owned(),
        };
        let metrics_addr = match &raw.host.metrics_addr {
            Some(s) => Some(s.get_ref().parse::<SocketAddr>().map_err(|e| {
                self.err(
                    span(s),
                    format!(
                        "invalid metrics address `{}`: {e} (expected e.g. \"127.0.0.1:9100\")",
                        s.get_ref()
                    ),
                )
            })?),
            None => None,
        };

        let broker = raw
            .broker
            .as_ref()
            .map(|b| self.broker(b, base))
            .transpose()?;

        // Groups: names, parents, cycles.
        let mut group_index: HashMap<&str, usize> = HashMap::new();
        for (i, g) in raw.groups.iter().enumerate() {
            let name = g.name.get_ref();
            if !valid_name(name) {
                return Err(self.err(
                    span(&g.name),
                    format!("invalid group name `{name}`: use letters, digits, `-` and `_`"),
                ));
            }
            if group_index.insert(name, i).is_some() {
                return Err(self.err(span(&g.name), format!("duplicate group `{name}`")));
            }
        }
        for g in &raw.groups {
            if let Some(parent) = &g.parent {
                if !group_index.contains_key(parent.get_ref().as_str()) {
                    return Err(self.err(
                        span(parent),
                        format!(
                            "group `{}` names unknown parent group `{}`",
                            g.name.get_ref(),
                            parent.get_ref()
                        ),
                    ));
                }
            }
        }
        let order = self.group_order(&raw, &group_index)?;
        let groups = order
            .into_iter()
            .map(|i| {
                let g = &raw.groups[i];
                GroupDef {
                    name: g.name.get_ref().clone(),
                    parent: g.parent.as_ref().map(|p| p.get_ref().clone()),
                    strategy: match g.strategy {
                        raw::RawStrategy::OneForOne => Strategy::OneForOne,
                        raw::RawStrategy::OneForAll => Strategy::OneForAll,
                        raw::RawStrategy::RestForOne => Strategy::RestForOne,
                    },
                    intensity: g.intensity.map(intensity),
                    backoff: g.backoff.map(backoff),
                }
            })
            .collect();

        // Components: names, ids, files, groups.
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut by_name: HashMap<&str, &RawComponent> = HashMap::new();
        let mut total_instances: u64 = 0;
        for (i, c) in raw.components.iter().enumerate() {
            let name = c.name.get_ref();
            if !valid_name(name) {
                return Err(self.err(
                    span(&c.name),
                    format!("invalid component name `{name}`: use letters, digits, `-` and `_`"),
                ));
            }
            let instances = match &c.instances {
                Some(n) if *n.get_ref() == 0 => {
                    return Err(self.err(
                        span(n),
                        format!("component `{name}`: instances must be at least 1"),
                    ))
                }
                Some(n) => *n.get_ref(),
                None => 1,
            };
            total_instances += u64::from(instances);
            for id in instance_ids(name, instances) {
                if ids.insert(id.clone(), i).is_some() {
                    return Err(self.err(span(&c.name), format!("duplicate component id `{id}`")));
                }
            }
            by_name.insert(name, c);
            if let Some(g) = &c.group {
                if !group_index.contains_key(g.get_ref().as_str()) {
                    return Err(self.err(
                        span(g),
                        format!("component `{name}` names unknown group `{}`", g.get_ref()),
                    ));
                }
            }
            if let Some(m) = &c.mailbox {
                if *m.get_ref() == 0 {
                    return Err(self.err(
                        span(m),
                        format!("component `{name}`: mailbox must hold at least 1 message"),
                    ));
                }
            }
        }
        let max_components = match &raw.host.max_components {
            Some(n) => {
                if u64::from(*n.get_ref()) < total_instances {
                    return Err(self.err(
                        span(n),
                        format!(
                            "host.max_components is {} but the components need {total_instances} instances",
                            n.get_ref()
                        ),
                    ));
                }
                *n.get_ref()
            }
            None => DEFAULT_MAX_COMPONENTS.max(u32::try_from(total_instances).unwrap_or(u32::MAX)),
        };

        let resolve_targets = |list: &Spanned<String>, what: &str, owner: &str| {
            let target = list.get_ref();
            if let Some(c) = by_name.get(target.as_str()) {
                let n = c.instances.as_ref().map_or(1, |n| *n.get_ref());
                Ok(instance_ids(target, n))
            } else if ids.contains_key(target) {
                Ok(vec![target.clone()])
            } else {
                Err(self.err(
                    span(list),
                    format!("{owner} {what} unknown component `{target}`"),
                ))
            }
        };

        let mut components = Vec::with_capacity(raw.components.len());
        for c in &raw.components {
            let name = c.name.get_ref().clone();
            let rel = c.path.get_ref();
            let path = base.join(rel);
            let bytes = std::fs::read(&path).map_err(|e| {
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "file not found".to_owned()
                } else {
                    e.to_string()
                };
                self.err(
                    span(&c.path),
                    format!(
                        "component `{name}`: cannot read `{}`: {why}",
                        path.display()
                    ),
                )
            })?;
            let patterns = |list: &[Spanned<String>], what: &str| {
                list.iter()
                    .map(|p| {
                        SubjectPattern::new(p.get_ref())
                            .map(|_| p.get_ref().clone())
                            .map_err(|e| {
                                self.err(span(p), format!("component `{name}`: {what}: {e}"))
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()
            };
            let subscribe = patterns(&c.subscribe, "subscribe")?;
            let publish = patterns(&c.publish, "publish")?;
            let allow_subscribe = patterns(&c.allow_subscribe, "allow_subscribe")?;
            let mut send = Vec::new();
            for t in &c.send {
                send.extend(resolve_targets(
                    t,
                    "allows sending to",
                    &format!("component `{name}`"),
                )?);
            }
            let limits = apply_limits(default_limits.clone(), c.limits.as_ref())?;
            let mut wasi = WasiGrants::none();
            if let Some(raw_wasi) = &c.wasi {
                let w = raw_wasi.get_ref();
                for dir in &w.dirs {
                    let host = base.join(&dir.host);
                    if !host.is_dir() {
                        return Err(self.err(
                            span(raw_wasi),
                            format!(
                                "component `{name}`: WASI directory `{}` is not a directory",
                                host.display()
                            ),
                        ));
                    }
                    wasi = if dir.writable {
                        wasi.read_write_dir(host, dir.guest.clone())
                    } else {
                        wasi.read_only_dir(host, dir.guest.clone())
                    };
                }
                for (k, v) in &w.env {
                    wasi = wasi.env(k.clone(), v.clone());
                }
                for h in &w.hosts {
                    let pattern = h.parse().map_err(|e: InvalidHostPattern| {
                        self.err(span(raw_wasi), format!("component `{name}`: {e}"))
                    })?;
                    wasi = wasi.allow_host(pattern);
                }
                wasi = wasi.wall_clock(w.wall_clock);
            }
            components.push(ComponentDef {
                name,
                path,
                bytes: Arc::from(bytes),
                instances: c.instances.as_ref().map_or(1, |n| *n.get_ref()),
                group: c.group.as_ref().map(|g| g.get_ref().clone()),
                mailbox: c.mailbox.as_ref().map(|m| *m.get_ref()),
                limits,
                config: c
                    .config
                    .iter()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect(),
                subscribe,
                send,
                publish,
                allow_subscribe,
                restart: match c.restart {
                    raw::RawRestart::Permanent => Restart::Permanent,
                    raw::RawRestart::Transient => Restart::Transient,
                    raw::RawRestart::Temporary => Restart::Temporary,
                },
                health: c.health.map(|h| HealthDef {
                    interval: h.interval.0,
                    timeout: h.timeout.0,
                    threshold: h.threshold,
                }),
                stop_timeout: c.stop_timeout.map(|d| d.0),
                wasi,
                requires: c.requires.iter().map(|r| r.get_ref().clone()).collect(),
                durable: c.durable,
                trap_exits: c.trap_exits,
                snapshot: match (&c.snapshot_every, c.snapshot_interval) {
                    (None, None) => None,
                    (every, interval) => {
                        if let Some(e) = every.as_ref().filter(|e| *e.get_ref() == 0) {
                            return Err(self.err(span(e), "snapshot_every must be at least 1"));
                        }
                        if interval.is_some_and(|i| i.0.is_zero()) {
                            return Err(self.err(
                                None,
                                format!(
                                    "component `{}`: snapshot_interval must be longer than 0",
                                    c.name.get_ref()
                                ),
                            ));
                        }
                        Some(SnapshotPolicy {
                            every: every.as_ref().map(|e| *e.get_ref()),
                            interval: interval.map(|i| i.0),
                        })
                    }
                },
            });
        }

        let cluster = match &raw.cluster {
            None => None,
            Some(c) => Some(self.cluster(c)?),
        };

        // Drives.
        let mut drives = Vec::with_capacity(raw.drives.len());
        for d in &raw.drives {
            let at = span(d);
            let d: &RawDrive = d.get_ref();
            let targets = [&d.publish, &d.send, &d.request]
                .iter()
                .filter(|t| t.is_some())
                .count();
            if targets != 1 {
                return Err(self.err(
                    at,
                    "a drive needs exactly one of `publish`, `send` or `request`",
                ));
            }
            let target = if let Some(s) = &d.publish {
                if !is_valid_subject(s.get_ref()) {
                    return Err(self.err(
                        span(s),
                        format!(
                            "drive: invalid subject `{}`: use non-empty dot-separated tokens without wildcards",
                            s.get_ref()
                        ),
                    ));
                }
                DriveTarget::Publish(s.get_ref().clone())
            } else if let Some(t) = &d.send {
                DriveTarget::Send(resolve_targets(t, "sends to", "drive")?)
            } else if let Some(t) = &d.request {
                DriveTarget::Request(resolve_targets(t, "requests from", "drive")?)
            } else {
                unreachable!("exactly one target was checked above")
            };
            let payloads = match (&d.payload, &d.payloads) {
                (Some(_), Some(p)) => {
                    return Err(self.err(span(p), "a drive takes `payload` or `payloads`, not both"))
                }
                (Some(p), None) => vec![p.clone()],
                (None, Some(p)) if p.get_ref().is_empty() => {
                    return Err(self.err(span(p), "drive: `payloads` must not be empty"))
                }
                (None, Some(p)) => p.get_ref().clone(),
                (None, None) => vec!["{n}".to_owned()],
            };
            if d.every.0.is_zero() {
                return Err(self.err(at, "drive: `every` must be longer than 0"));
            }
            let show_replies = d.show_replies.as_ref();
            if let Some(show) = show_replies.filter(|s| *s.get_ref()) {
                if !matches!(target, DriveTarget::Request(_)) {
                    return Err(self.err(
                        span(show),
                        "drive: `show_replies` needs a `request` drive (sends and publishes have no replies)",
                    ));
                }
            }
            drives.push(DriveDef {
                target,
                every: d.every.0,
                payloads,
                count: d.count,
                timeout: d.timeout.map_or(DEFAULT_DRIVE_REQUEST_TIMEOUT, |t| t.0),
                show_replies: show_replies.is_some_and(|s| *s.get_ref()),
            });
        }

        // Topics.
        let mut topics: Vec<TopicDef> = Vec::with_capacity(raw.topics.len());
        for t in &raw.topics {
            let t: &raw::RawTopic = t.get_ref();
            let subject = t.subject.get_ref();
            if SubjectPattern::new(subject).is_err() {
                return Err(self.err(
                    span(&t.subject),
                    format!("topic: invalid subject pattern `{subject}`"),
                ));
            }
            if topics.iter().any(|d| &d.subject == subject) {
                return Err(self.err(
                    span(&t.subject),
                    format!("topic `{subject}` is declared twice"),
                ));
            }
            topics.push(TopicDef {
                subject: subject.clone(),
                durable: t.durable,
            });
        }

        Ok(Manifest {
            path: self.path.to_path_buf(),
            host: HostSettings {
                max_components,
                pool: PoolSettings {
                    max_core_instances_per_component: raw.host.max_core_instances_per_component,
                    max_memories_per_component: raw.host.max_memories_per_component,
                    max_tables_per_component: raw.host.max_tables_per_component,
                    max_table_elements: raw.host.max_table_elements,
                    max_memory_per_component: raw
                        .host
                        .max_memory_per_component
                        .map(|b| usize::try_from(b.0).unwrap_or(usize::MAX)),
                },
                default_limits,
                dead_letter_subject,
                metrics_addr,
                shutdown_timeout: raw
                    .host
                    .shutdown_timeout
                    .map_or(DEFAULT_SHUTDOWN_TIMEOUT, |d| d.0),
                intensity: raw.host.intensity.map(intensity),
                backoff: raw.host.backoff.map(backoff),
                cache_dir: match &raw.host.cache_dir {
                    Some(dir) => Some(base.join(dir)),
                    None => default_cache_dir(),
                },
                broker,
                cluster,
                fuel: components
                    .iter()
                    .any(|c| c.limits.get_fuel_per_call().is_some()),
            },
            groups,
            components,
            drives,
            topics,
        })
    }

    /// Groups ordered parents first; refuses a cycle of `parent` links.
    fn group_order(
        &self,
        raw: &RawManifest,
        index: &HashMap<&str, usize>,
    ) -> Result<Vec<usize>, ManifestError> {
        let parent_of = |i: usize| {
            raw.groups[i]
                .parent
                .as_ref()
                .and_then(|p| index.get(p.get_ref().as_str()).copied())
        };
        let mut order = Vec::with_capacity(raw.groups.len());
        let mut placed: HashSet<usize> = HashSet::new();
        for start in 0..raw.groups.len() {
            // Walk up to the root (or a placed ancestor), then place the path
            // top-down. A group seen twice on the walk closes a cycle.
            let mut path = vec![start];
            let mut cur = start;
            while let Some(p) = parent_of(cur) {
                if placed.contains(&p) {
                    break;
                }
                if let Some(pos) = path.iter().position(|&g| g == p) {
                    let mut names: Vec<&str> = path[pos..]
                        .iter()
                        .map(|&g| raw.groups[g].name.get_ref().as_str())
                        .collect();
                    names.push(raw.groups[p].name.get_ref());
                    let first = path[pos];
                    let at = raw.groups[first].parent.as_ref().map(|s| s.span());
                    return Err(self.err(at, format!("group cycle: {}", names.join(" -> "))));
                }
                path.push(p);
                cur = p;
            }
            for &g in path.iter().rev() {
                if placed.insert(g) {
                    order.push(g);
                }
            }
        }
        Ok(order)
    }
}

impl Validator<'_> {
    /// `[cluster]`, with its timings checked.
    fn cluster(&self, c: &Spanned<raw::RawCluster>) -> Result<ClusterSettings, ManifestError> {
        let at = span(c);
        let c = c.get_ref();
        let d = ClusterSettings::default();
        for l in &c.labels {
            if l.get_ref().trim().is_empty() {
                return Err(self.err(span(l), "cluster: empty label"));
            }
        }
        let settings = ClusterSettings {
            host_id: c.host_id.as_ref().map(|h| h.get_ref().clone()),
            labels: c.labels.iter().map(|l| l.get_ref().clone()).collect(),
            heartbeat: c.heartbeat.map_or(d.heartbeat, |h| h.0),
            lease: c.lease.map_or(d.lease, |l| l.0),
            host_ttl: c.host_ttl.map_or(d.host_ttl, |t| t.0),
            intensity: c.intensity.map_or(d.intensity, intensity),
            handover_timeout: c.handover_timeout.map_or(d.handover_timeout, |t| t.0),
            topic_retention: c.topic_retention.map_or(d.topic_retention, |t| t.0),
        };
        if settings.topic_retention < Duration::from_secs(1) {
            return Err(self.err(at, "cluster: topic_retention must be at least 1s"));
        }
        if let Some(h) = &c.host_id {
            if !valid_name(h.get_ref()) {
                return Err(self.err(
                    span(h),
                    format!(
                        "cluster: invalid host_id `{}`: use letters, digits, `-` and `_`",
                        h.get_ref()
                    ),
                ));
            }
        }
        if settings.heartbeat.is_zero() || settings.heartbeat * 2 > settings.lease {
            return Err(self.err(
                at,
                format!(
                    "cluster: the lease ({:?}) must cover at least two heartbeats ({:?})",
                    settings.lease, settings.heartbeat
                ),
            ));
        }
        if settings.host_ttl < settings.lease + Duration::from_millis(100) {
            return Err(self.err(
                at,
                format!(
                    "cluster: host_ttl ({:?}) must exceed the lease ({:?}) by at least 100 ms, so that a host stops its components before others may take them",
                    settings.host_ttl, settings.lease
                ),
            ));
        }
        Ok(settings)
    }
}

fn intensity(i: RawIntensity) -> (u32, Duration) {
    (i.max_restarts, i.within.0)
}

fn backoff(b: RawBackoff) -> BackoffDef {
    BackoffDef {
        initial: b.initial.0,
        max: b.max.0,
        multiplier: b.multiplier,
        jitter: b.jitter,
    }
}

fn apply_limits(
    mut limits: ComponentLimits,
    raw: Option<&RawLimits>,
) -> Result<ComponentLimits, ManifestError> {
    if let Some(l) = raw {
        if let Some(m) = l.max_memory {
            limits = limits.max_memory_bytes(usize::try_from(m.0).unwrap_or(usize::MAX));
        }
        if let Some(t) = l.execution_timeout {
            limits = limits.execution_timeout(t.0);
        }
        if let Some(f) = l.fuel_per_call {
            limits = limits.fuel_per_call(Some(f));
        }
        if let Some(m) = l.max_message_bytes {
            limits = limits.max_message_bytes(usize::try_from(m.0).unwrap_or(usize::MAX));
        }
        if let Some(t) = l.max_request_timeout {
            limits = limits.max_request_timeout(t.0);
        }
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: &str = "(module)";

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a.wat", "b.wat"] {
            std::fs::write(dir.path().join(f), GUEST).unwrap();
        }
        Manifest::parse(&dir.path().join("airssys.toml"), text)
    }

    #[test]
    fn instances_expand_to_numbered_ids_and_allow_lists_follow() {
        let m = parse(
            "[[component]]\nname = \"w\"\npath = \"a.wat\"\ninstances = 3\n\n\
             [[component]]\nname = \"boss\"\npath = \"b.wat\"\nsend = [\"w\"]\n\n\
             [[drive]]\nsend = \"w\"\nevery = \"10ms\"\npayloads = [\"x{n}\", \"y\"]\n",
        )
        .unwrap();
        assert_eq!(m.components[0].instance_ids(), ["w-0", "w-1", "w-2"]);
        assert_eq!(m.components[1].instance_ids(), ["boss"]);
        assert_eq!(m.components[1].send, ["w-0", "w-1", "w-2"]);
        assert_eq!(
            m.drives[0].target,
            DriveTarget::Send(vec!["w-0".into(), "w-1".into(), "w-2".into()])
        );
        assert_eq!(m.drives[0].payload(4), "x4");
        assert_eq!(m.drives[0].payload(5), "y");
        assert_eq!(m.host.max_components, DEFAULT_MAX_COMPONENTS);
    }

    #[test]
    fn durable_topics_are_declared_once_with_valid_patterns() {
        let m = parse(
            "[cluster]\ntopic_retention = \"1h\"\n\n\
             [[topic]]\nsubject = \"orders.>\"\ndurable = true\n\n\
             [[topic]]\nsubject = \"audit\"\n",
        )
        .unwrap();
        assert_eq!(m.durable_topics(), ["orders.>"]);
        assert_eq!(m.topics.len(), 2);
        let cluster = m.host.cluster.as_ref().unwrap();
        assert_eq!(cluster.topic_retention, Duration::from_secs(3600));
        let e = parse("[[topic]]\nsubject = \"a.>.b\"\ndurable = true\n").unwrap_err();
        assert!(
            e.to_string().contains("invalid subject pattern `a.>.b`"),
            "{e}"
        );
        let e = parse("[[topic]]\nsubject = \"a\"\n[[topic]]\nsubject = \"a\"\n").unwrap_err();
        assert!(e.to_string().contains("declared twice"), "{e}");
    }

    #[test]
    fn trap_exits_is_a_component_setting_off_by_default() {
        let m = parse(
            "[[component]]\nname = \"session\"\npath = \"a.wat\"\ntrap_exits = true\n\n\
             [[component]]\nname = \"worker\"\npath = \"b.wat\"\n",
        )
        .unwrap();
        assert!(m.components[0].trap_exits);
        assert!(!m.components[1].trap_exits);
        let spec = spec::component_spec(&m.components[0], "session", Arc::from(&b"(module)"[..]));
        assert!(spec.traps_exits());
        let e = parse("[[component]]\nname = \"s\"\npath = \"a.wat\"\ntrap_exits = \"yes\"\n")
            .unwrap_err();
        assert!(
            e.to_string().contains(":4:") && e.to_string().contains("expected a boolean"),
            "{e}"
        );
    }

    #[test]
    fn host_pool_keys_size_the_engine_and_absent_ones_keep_its_defaults() {
        let m = parse(
            "[host]\nmax_core_instances_per_component = 64\nmax_table_elements = 200000\n\
             max_memory_per_component = \"128MiB\"\n",
        )
        .unwrap();
        let config = m.host.pool.apply(EngineConfig::default());
        assert_eq!(config.get_max_core_instances_per_component(), 64);
        assert_eq!(config.get_max_table_elements(), 200_000);
        assert_eq!(config.get_max_memory_per_component(), 128 << 20);
        let defaults = EngineConfig::default();
        assert_eq!(
            config.get_max_memories_per_component(),
            defaults.get_max_memories_per_component()
        );
        assert_eq!(
            config.get_max_tables_per_component(),
            defaults.get_max_tables_per_component()
        );
    }

    #[test]
    fn groups_are_ordered_parents_first() {
        let m = parse(
            "[[group]]\nname = \"leaf\"\nparent = \"mid\"\n\n\
             [[group]]\nname = \"mid\"\nparent = \"top\"\nstrategy = \"rest_for_one\"\n\n\
             [[group]]\nname = \"top\"\nstrategy = \"one_for_all\"\nintensity = { max_restarts = 2, within = \"1s\" }\n",
        )
        .unwrap();
        let names: Vec<&str> = m.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["top", "mid", "leaf"]);
        assert_eq!(m.groups[0].strategy, Strategy::OneForAll);
        assert_eq!(m.groups[0].intensity, Some((2, Duration::from_secs(1))));
        assert_eq!(m.groups[1].strategy, Strategy::RestForOne);
    }

    #[test]
    fn component_limits_override_host_defaults_field_by_field() {
        let m = parse(
            "[host.limits]\nmax_memory = \"8MiB\"\nexecution_timeout = \"2s\"\n\n\
             [[component]]\nname = \"a\"\npath = \"a.wat\"\nlimits = { max_memory = \"1MiB\" }\n",
        )
        .unwrap();
        let l = &m.components[0].limits;
        assert_eq!(l.get_max_memory_bytes(), 1 << 20);
        assert_eq!(l.get_execution_timeout(), Duration::from_secs(2));
    }

    #[test]
    fn a_self_parent_is_a_cycle() {
        let e = parse("[[group]]\nname = \"g\"\nparent = \"g\"\n").unwrap_err();
        assert_eq!(e.message(), "group cycle: g -> g");
    }

    proptest::proptest! {
        #[test]
        fn byte_sizes_round_trip(n in 0u64..(1 << 40), unit in 0usize..4) {
            let (suffix, mult) = [("", 1u64), ("KiB", 1 << 10), ("MiB", 1 << 20), ("KB", 1000)][unit];
            proptest::prop_assume!(n.checked_mul(mult).is_some());
            proptest::prop_assert_eq!(units::parse_bytes(&format!("{n}{suffix}")), Ok(n * mult));
        }

        #[test]
        fn positions_point_at_the_offset(lines in proptest::collection::vec("[a-zé ]{0,12}", 1..8), pick in 0usize..64) {
            let text = lines.join("\n");
            let offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            proptest::prop_assume!(!offsets.is_empty());
            let offset = offsets[pick % offsets.len()];
            let (line, column) = error::line_column(&text, offset);
            let l = text.split('\n').nth(line - 1).unwrap();
            let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
            proptest::prop_assert_eq!(&text[start..start + l.len()], l);
            proptest::prop_assert_eq!(text[start..offset].chars().count() + 1, column);
        }
    }
}
