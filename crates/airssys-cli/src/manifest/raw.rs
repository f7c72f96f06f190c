//! The manifest as written: serde structures mirroring `airssys.toml`, with
//! spans on every value validated after parsing.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::units::{ByteSize, HumanDuration};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawManifest {
    #[serde(default)]
    pub(crate) host: RawHost,
    #[serde(default, rename = "group")]
    pub(crate) groups: Vec<RawGroup>,
    #[serde(default, rename = "component")]
    pub(crate) components: Vec<RawComponent>,
    #[serde(default, rename = "drive")]
    pub(crate) drives: Vec<Spanned<RawDrive>>,
    #[serde(default, rename = "topic")]
    pub(crate) topics: Vec<Spanned<RawTopic>>,
    pub(crate) broker: Option<RawBroker>,
    pub(crate) cluster: Option<Spanned<RawCluster>>,
}

/// `[cluster]`: run as one host of a cluster on the broker's NATS server
/// (JetStream), placing the manifest's components over the live hosts.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCluster {
    pub(crate) host_id: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) labels: Vec<Spanned<String>>,
    pub(crate) heartbeat: Option<HumanDuration>,
    pub(crate) lease: Option<HumanDuration>,
    pub(crate) host_ttl: Option<HumanDuration>,
    pub(crate) intensity: Option<RawIntensity>,
    pub(crate) handover_timeout: Option<HumanDuration>,
    pub(crate) topic_retention: Option<HumanDuration>,
}

/// `[[topic]]`: a topic pattern with delivery settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTopic {
    pub(crate) subject: Spanned<String>,
    #[serde(default)]
    pub(crate) durable: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBroker {
    pub(crate) url: Option<Spanned<String>>,
    pub(crate) prefix: Option<Spanned<String>>,
    pub(crate) require_tls: Option<bool>,
    pub(crate) tls_ca: Option<Spanned<String>>,
    pub(crate) tls_cert: Option<Spanned<String>>,
    pub(crate) tls_key: Option<Spanned<String>>,
    pub(crate) credentials: Option<Spanned<String>>,
    pub(crate) nkey_seed_file: Option<Spanned<String>>,
    pub(crate) token_file: Option<Spanned<String>>,
    pub(crate) user: Option<Spanned<String>>,
    pub(crate) password_file: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHost {
    pub(crate) max_components: Option<Spanned<u32>>,
    pub(crate) max_core_instances_per_component: Option<u32>,
    pub(crate) max_memories_per_component: Option<u32>,
    pub(crate) max_tables_per_component: Option<u32>,
    pub(crate) max_table_elements: Option<usize>,
    pub(crate) max_memory_per_component: Option<ByteSize>,
    pub(crate) dead_letter_subject: Option<Spanned<String>>,
    pub(crate) metrics_addr: Option<Spanned<String>>,
    pub(crate) shutdown_timeout: Option<HumanDuration>,
    pub(crate) cache_dir: Option<String>,
    pub(crate) limits: Option<RawLimits>,
    pub(crate) intensity: Option<RawIntensity>,
    pub(crate) backoff: Option<RawBackoff>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    pub(crate) max_memory: Option<ByteSize>,
    pub(crate) execution_timeout: Option<HumanDuration>,
    pub(crate) fuel_per_call: Option<u64>,
    pub(crate) max_message_bytes: Option<ByteSize>,
    pub(crate) max_request_timeout: Option<HumanDuration>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIntensity {
    pub(crate) max_restarts: u32,
    pub(crate) within: HumanDuration,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBackoff {
    pub(crate) initial: HumanDuration,
    pub(crate) max: HumanDuration,
    pub(crate) multiplier: Option<f64>,
    pub(crate) jitter: Option<f64>,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawStrategy {
    #[default]
    OneForOne,
    OneForAll,
    RestForOne,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawRestart {
    #[default]
    Permanent,
    Transient,
    Temporary,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGroup {
    pub(crate) name: Spanned<String>,
    pub(crate) parent: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) strategy: RawStrategy,
    pub(crate) intensity: Option<RawIntensity>,
    pub(crate) backoff: Option<RawBackoff>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawComponent {
    pub(crate) name: Spanned<String>,
    pub(crate) path: Spanned<String>,
    pub(crate) instances: Option<Spanned<u32>>,
    pub(crate) group: Option<Spanned<String>>,
    pub(crate) mailbox: Option<Spanned<usize>>,
    pub(crate) limits: Option<RawLimits>,
    #[serde(default)]
    pub(crate) config: BTreeMap<String, ConfigValue>,
    #[serde(default)]
    pub(crate) subscribe: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) send: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) publish: Vec<Spanned<String>>,
    /// Patterns it may subscribe to at run time (within them).
    #[serde(default)]
    pub(crate) allow_subscribe: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) restart: RawRestart,
    pub(crate) health: Option<RawHealth>,
    pub(crate) stop_timeout: Option<HumanDuration>,
    pub(crate) wasi: Option<Spanned<RawWasi>>,
    /// Host labels a cluster host must carry to run it.
    #[serde(default)]
    pub(crate) requires: Vec<Spanned<String>>,
    /// Sends to it are stored in JetStream until handled (cluster only).
    #[serde(default)]
    pub(crate) durable: bool,
    /// The end of a component linked with it arrives as a message.
    #[serde(default)]
    pub(crate) trap_exits: bool,
    /// Keep its state (its `snapshot` export) after every N messages.
    pub(crate) snapshot_every: Option<Spanned<u64>>,
    /// Keep its state every so often.
    pub(crate) snapshot_interval: Option<HumanDuration>,
}

/// `[component.wasi]`: what a Component Model guest may reach through
/// WASI. Absent = nothing.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWasi {
    #[serde(default)]
    pub(crate) dirs: Vec<RawDir>,
    #[serde(default)]
    pub(crate) env: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) hosts: Vec<String>,
    #[serde(default)]
    pub(crate) wall_clock: bool,
}

/// One `dirs` entry: `{ host = "data", guest = "/data", writable = false }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDir {
    pub(crate) host: String,
    pub(crate) guest: String,
    #[serde(default)]
    pub(crate) writable: bool,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    pub(crate) interval: HumanDuration,
    pub(crate) timeout: HumanDuration,
    pub(crate) threshold: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDrive {
    pub(crate) publish: Option<Spanned<String>>,
    pub(crate) send: Option<Spanned<String>>,
    pub(crate) request: Option<Spanned<String>>,
    pub(crate) every: HumanDuration,
    pub(crate) payload: Option<String>,
    pub(crate) payloads: Option<Spanned<Vec<String>>>,
    pub(crate) count: Option<u64>,
    pub(crate) timeout: Option<HumanDuration>,
    pub(crate) show_replies: Option<Spanned<bool>>,
}

/// A `[component.config]` value: a string, integer, float or boolean,
/// kept as its text.
pub(crate) struct ConfigValue(pub(crate) String);

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ConfigValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, integer, float or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ConfigValue, E> {
                Ok(ConfigValue(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}
