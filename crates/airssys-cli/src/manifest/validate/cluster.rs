//! `[cluster]`: the host's id and labels, and timings that keep a lease
//! safe (two heartbeats per lease, a host's record outliving its lease).

use std::time::Duration;

use toml::Spanned;

use super::super::raw::RawCluster;
use super::super::{ClusterSettings, ManifestError};
use super::{intensity, span, valid_name, Validator};

impl Validator<'_> {
    /// `[cluster]`, with its timings checked.
    pub(super) fn cluster(
        &self,
        c: &Spanned<RawCluster>,
    ) -> Result<ClusterSettings, ManifestError> {
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
