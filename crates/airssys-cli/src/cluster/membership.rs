//! The cluster's membership as the component host sees it: which hosts are
//! live, so that a monitor of a component on another host fires
//! `noconnection` when that host is lost (`docs/distribution.md`,
//! "Monitors across hosts").

use airssys_nats::cluster::Cluster;
use airssys_wasm::host::Membership;
use airssys_wasm::BoxFuture;

/// A cluster host's [`Membership`]: a host is named `<id>/<session>`, so a
/// host that rejoins under a new session (it lost its lease, and stopped
/// everything it ran) is not the one that armed a monitor. Changes are the
/// cluster view's, noticed at least every half heartbeat (the period of
/// its sweep of late hosts).
#[derive(Debug, Clone)]
pub struct ClusterMembership {
    cluster: Cluster,
}

impl ClusterMembership {
    /// The membership of `cluster`.
    pub fn new(cluster: Cluster) -> Self {
        Self { cluster }
    }
}

impl Membership for ClusterMembership {
    fn me(&self) -> String {
        let me = self.cluster.me();
        format!("{}/{}", me.id, me.session)
    }

    fn is_live(&self, name: &str) -> bool {
        // Sessions have no '/'; a host id may.
        match name.rsplit_once('/') {
            Some((id, session)) => self.cluster.is_live(id, session),
            None => self.cluster.is_live(name, ""),
        }
    }

    fn changed(&self) -> BoxFuture<()> {
        let cluster = self.cluster.clone();
        let period = cluster.config().heartbeat / 2;
        Box::pin(async move { cluster.changed(period).await })
    }
}
