//! Validation of a parsed manifest, one section at a time in the order an
//! operator reads the file: `[host]` (here), `[broker]` (`super::broker`),
//! groups, components, `[cluster]`, drives and topics (a module each). The
//! first refusal is returned, with its place in the file.

mod cluster;
mod components;
mod drives;
mod groups;

use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use airssys_wasm::guest::permissions::is_valid_subject;
use airssys_wasm::ComponentLimits;
use toml::Spanned;

use super::raw::{RawBackoff, RawHost, RawIntensity, RawLimits, RawManifest};
use super::{
    default_cache_dir, BackoffDef, HostSettings, Manifest, ManifestError, PoolSettings,
    DEFAULT_DEAD_LETTER_SUBJECT, DEFAULT_MAX_COMPONENTS, DEFAULT_SHUTDOWN_TIMEOUT,
};

/// The manifest being validated: where it is and its text, for the
/// `file:line:column` of a refusal.
pub(super) struct Validator<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

/// The place of a value in the file.
pub(super) fn span<T>(s: &Spanned<T>) -> Option<Range<usize>> {
    Some(s.span())
}

/// A group, component or host name: letters, digits, `-` and `_`.
pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Validator<'_> {
    /// A refusal at `at` (a span of the text) saying `message`.
    pub(super) fn err(
        &self,
        at: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> ManifestError {
        ManifestError::at(self.path, self.text, at, message.into())
    }

    /// The whole manifest, section by section.
    pub(super) fn validate(&self, raw: RawManifest) -> Result<Manifest, ManifestError> {
        let base = self.path.parent().unwrap_or(Path::new("."));
        let default_limits = apply_limits(ComponentLimits::default(), raw.host.limits.as_ref())?;
        let dead_letter_subject = self.dead_letter_subject(&raw.host)?;
        let metrics_addr = self.metrics_addr(&raw.host)?;
        let broker = raw
            .broker
            .as_ref()
            .map(|b| self.broker(b, base))
            .transpose()?;
        let (groups, group_index) = self.groups(&raw)?;
        let index = self.index_components(&raw, &group_index)?;
        let max_components = self.max_components(&raw.host, index.total_instances)?;
        let components = raw
            .components
            .iter()
            .map(|c| self.component(c, base, &default_limits, &index))
            .collect::<Result<Vec<_>, _>>()?;
        let cluster = raw.cluster.as_ref().map(|c| self.cluster(c)).transpose()?;
        let drives = raw
            .drives
            .iter()
            .map(|d| self.drive(d, &index))
            .collect::<Result<Vec<_>, _>>()?;
        let topics = self.topics(&raw.topics)?;
        let host = &raw.host;
        Ok(Manifest {
            path: self.path.to_path_buf(),
            host: HostSettings {
                max_components,
                pool: PoolSettings {
                    max_core_instances_per_component: host.max_core_instances_per_component,
                    max_memories_per_component: host.max_memories_per_component,
                    max_tables_per_component: host.max_tables_per_component,
                    max_table_elements: host.max_table_elements,
                    max_memory_per_component: host
                        .max_memory_per_component
                        .map(|b| usize::try_from(b.0).unwrap_or(usize::MAX)),
                },
                default_limits,
                dead_letter_subject,
                metrics_addr,
                shutdown_timeout: host
                    .shutdown_timeout
                    .map_or(DEFAULT_SHUTDOWN_TIMEOUT, |d| d.0),
                intensity: host.intensity.map(intensity),
                backoff: host.backoff.map(backoff),
                cache_dir: match &host.cache_dir {
                    Some(dir) => Some(base.join(dir)),
                    None => default_cache_dir(),
                },
                broker,
                cluster,
                fuel: components.iter().any(|c| c.limits.fuel_per_call.is_some()),
            },
            groups,
            components,
            drives,
            topics,
        })
    }

    /// `[host] dead_letter_subject`: a subject without wildcards.
    fn dead_letter_subject(&self, host: &RawHost) -> Result<String, ManifestError> {
        match &host.dead_letter_subject {
            Some(s) if !is_valid_subject(s.get_ref()) => Err(self.err(
                span(s),
                format!(
                    "invalid dead-letter subject `{}`: use non-empty dot-separated tokens without wildcards",
                    s.get_ref()
                ),
            )),
            Some(s) => Ok(s.get_ref().clone()),
            None => Ok(DEFAULT_DEAD_LETTER_SUBJECT.to_owned()),
        }
    }

    /// `[host] metrics_addr`: a socket address.
    fn metrics_addr(&self, host: &RawHost) -> Result<Option<SocketAddr>, ManifestError> {
        let Some(s) = &host.metrics_addr else {
            return Ok(None);
        };
        s.get_ref().parse::<SocketAddr>().map(Some).map_err(|e| {
            self.err(
                span(s),
                format!(
                    "invalid metrics address `{}`: {e} (expected e.g. \"127.0.0.1:9100\")",
                    s.get_ref()
                ),
            )
        })
    }

    /// `[host] max_components`: room for every instance (default: 64, or
    /// as many as the instances).
    fn max_components(&self, host: &RawHost, total_instances: u64) -> Result<u32, ManifestError> {
        match &host.max_components {
            Some(n) if u64::from(*n.get_ref()) < total_instances => Err(self.err(
                span(n),
                format!(
                    "host.max_components is {} but the components need {total_instances} instances",
                    n.get_ref()
                ),
            )),
            Some(n) => Ok(*n.get_ref()),
            None => {
                Ok(DEFAULT_MAX_COMPONENTS.max(u32::try_from(total_instances).unwrap_or(u32::MAX)))
            }
        }
    }
}

/// A `intensity = {...}` table: (max restarts, within).
pub(super) fn intensity(i: RawIntensity) -> (u32, Duration) {
    (i.max_restarts, i.within.0)
}

/// A `backoff = {...}` table.
pub(super) fn backoff(b: RawBackoff) -> BackoffDef {
    BackoffDef {
        initial: b.initial.0,
        max: b.max.0,
        multiplier: b.multiplier,
        jitter: b.jitter,
    }
}

/// `limits`, each key given overriding the one of `limits`.
pub(super) fn apply_limits(
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
