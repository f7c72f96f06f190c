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
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use airssys_wasm::{ComponentLimits, EngineConfig, WasiGrants};

pub use self::broker::BrokerSettings;
pub use self::error::ManifestError;
use self::raw::RawManifest;
use self::validate::{span, Validator};

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

#[cfg(test)]
mod tests;
