//! How a host joins a cluster: its identity, capacity and timings, and the
//! names of the JetStream buckets the cluster keeps its records in.

use std::time::Duration;

use super::membership::HostRecord;
use super::ClusterError;

/// Default interval between a host's heartbeats: 200 ms.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(200);
/// Default lease: a host stops acting on its units 1 s after the last
/// heartbeat the server confirmed was sent.
pub const DEFAULT_LEASE: Duration = Duration::from_millis(1000);
/// Default life of a host's record after its last write: 1.5 s. Another
/// host may take a dead host's units over once its record expired.
pub const DEFAULT_HOST_TTL: Duration = Duration::from_millis(1500);

/// How a host joins a cluster.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// This host's record (id, labels, capacity, version, control address;
    /// the session is made at join).
    pub host: HostRecord,
    /// Interval between heartbeats. Default [`DEFAULT_HEARTBEAT`].
    pub heartbeat: Duration,
    /// How long after a confirmed heartbeat was sent the host may act on
    /// its units. Default [`DEFAULT_LEASE`].
    pub lease: Duration,
    /// Life of a host record after its last write. Default
    /// [`DEFAULT_HOST_TTL`]. Must exceed `lease` by enough for the host to
    /// stop its units (and clocks to drift): at least 100 ms.
    pub host_ttl: Duration,
    /// Keep the buckets in memory on the server instead of files. Default
    /// `false`: ownership survives a restart of the server.
    pub memory_storage: bool,
}

impl ClusterConfig {
    /// The default timings for host `id` with `capacity` components.
    pub fn new(id: impl Into<String>, capacity: u32) -> Self {
        Self {
            host: HostRecord::new(id, String::new(), capacity, env!("CARGO_PKG_VERSION")),
            heartbeat: DEFAULT_HEARTBEAT,
            lease: DEFAULT_LEASE,
            host_ttl: DEFAULT_HOST_TTL,
            memory_storage: false,
        }
    }

    /// Sets the three timings.
    #[must_use]
    pub fn timings(mut self, heartbeat: Duration, lease: Duration, host_ttl: Duration) -> Self {
        self.heartbeat = heartbeat;
        self.lease = lease;
        self.host_ttl = host_ttl;
        self
    }

    pub(super) fn check(&self) -> Result<(), ClusterError> {
        if self.heartbeat.is_zero() || self.heartbeat * 2 > self.lease {
            return Err(ClusterError::Timings(format!(
                "the lease ({:?}) must cover at least two heartbeats ({:?})",
                self.lease, self.heartbeat
            )));
        }
        if self.host_ttl < self.lease + Duration::from_millis(100) {
            return Err(ClusterError::Timings(format!(
                "a host record's life ({:?}) must exceed the lease ({:?}) by at least 100 ms, so a host stops its units before others may take them",
                self.host_ttl, self.lease
            )));
        }
        Ok(())
    }
}

/// The names of an application's buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BucketNames {
    /// Host records.
    pub hosts: String,
    /// Owner records.
    pub owners: String,
    /// Component snapshots.
    pub snapshots: String,
}

impl BucketNames {
    /// `<p>_hosts`, `<p>_owners`, `<p>_snapshots` for prefix `<p>` (dots
    /// become underscores).
    pub fn for_prefix(prefix: &str) -> Self {
        let p = prefix.replace('.', "_");
        Self {
            hosts: format!("{p}_hosts"),
            owners: format!("{p}_owners"),
            snapshots: format!("{p}_snapshots"),
        }
    }
}
