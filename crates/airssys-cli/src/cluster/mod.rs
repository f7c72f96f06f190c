//! `airssys run --cluster`: this host is one of several that divide the
//! manifest's components among themselves over NATS JetStream, take over
//! those of a host that dies, and hand theirs over when they leave.
//!
//! The shared records (membership, ownership, the lease) are
//! [`airssys_nats::cluster`]'s; this module decides what runs here:
//! [`units`] (what moves as a whole), the agent (claims, starts, stops,
//! fences, fails over, balances), [`hold`] and `handover` (moving a unit
//! without losing a message), [`peer`] (host-to-host requests),
//! [`operate`] (what an operator sees and does from any host). The
//! semantics and the failure table are in `docs/distribution.md`.

mod agent;
pub(crate) mod durable;
mod handover;
pub mod hold;
pub mod membership;
pub mod operate;
pub mod peer;
pub mod units;

use std::sync::Arc;

use airssys_nats::cluster::durable::DurableStore;
use airssys_nats::cluster::{Cluster, ClusterConfig, ClusterError, HostRecord};
use airssys_nats::NatsBroker;
use airssys_wasm::host::{ComponentHost, ComponentInfo};
use airssys_wasm::TopicMessage;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use agent::{Agent, Command};
pub use agent::{LeaveReport, Placement};
use operate::ClusterHandle;

use crate::manifest::{ClusterSettings, Manifest};

pub use crate::nats::QUEUE_GROUP;

/// This host's id when none is given: the machine's host name and the
/// process id, with anything a key cannot hold replaced by `-`.
pub fn default_host_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "host".to_owned());
    let name: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{name}-{}", std::process::id())
}

/// Joins the cluster of `broker`'s application as host `id`.
///
/// # Errors
/// [`ClusterError`] when JetStream is off, not permitted, or the timings
/// differ from the other hosts'.
pub async fn join(
    broker: &NatsBroker<TopicMessage>,
    id: &str,
    settings: &ClusterSettings,
    capacity: u32,
    control: Option<String>,
) -> Result<Cluster, ClusterError> {
    let mut config = ClusterConfig::new(id, capacity).timings(
        settings.heartbeat,
        settings.lease,
        settings.host_ttl,
    );
    config.host.labels = settings.labels.clone();
    config.host.control = control;
    Cluster::join(broker.client().clone(), broker.prefix(), config).await
}

/// The running cluster side of a host: its agent and its peer endpoint.
#[derive(Debug)]
pub struct ClusterRun {
    cluster: Cluster,
    commands: mpsc::Sender<Command>,
    agent: JoinHandle<()>,
    peer: JoinHandle<()>,
    forward: JoinHandle<()>,
    handle: ClusterHandle,
    retired: Arc<Mutex<Vec<ComponentInfo>>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Leave(_) => f.write_str("Leave"),
            Command::Peer(i) => write!(f, "Peer({:?})", i.request),
        }
    }
}

impl ClusterRun {
    /// Starts the agent on `host` (built with `cluster`'s lease) for
    /// `manifest`'s units, and this host's peer endpoint.
    ///
    /// # Errors
    /// When the peer endpoint cannot be subscribed.
    pub async fn start(
        cluster: Cluster,
        host: ComponentHost,
        broker: NatsBroker<TopicMessage>,
        manifest: Arc<Manifest>,
        settings: ClusterSettings,
        durable: Option<DurableStore>,
    ) -> Result<Self, String> {
        let units = units::units(&manifest);
        let shared_units = Arc::new(units.clone());
        let agent = Agent::new(
            cluster.clone(),
            host,
            broker.clone(),
            manifest,
            units.clone(),
            settings,
            durable,
        );
        let placement = Arc::clone(&agent.placement);
        let retired = Arc::clone(&agent.retired);
        let (commands, received) = mpsc::channel(64);
        let (peer_tx, mut peer_rx) = mpsc::channel(64);
        let peer = peer::serve(
            broker.client().clone(),
            broker.prefix(),
            &cluster.me().id,
            peer_tx,
        )
        .await?;
        let to_agent = commands.clone();
        let forward = tokio::spawn(async move {
            while let Some(incoming) = peer_rx.recv().await {
                if to_agent.send(Command::Peer(incoming)).await.is_err() {
                    return;
                }
            }
        });
        let agent = tokio::spawn(agent.run(received));
        // Others may hand units to this host from now on.
        cluster.update_me(|r| r.ready = true);
        if let Err(error) = cluster.announce().await {
            tracing::warn!(%error, "could not announce this host ready; the next heartbeat will");
        }
        let handle = ClusterHandle {
            cluster: cluster.clone(),
            broker,
            units: shared_units,
            placement,
        };
        Ok(Self {
            cluster,
            commands,
            agent,
            peer,
            forward,
            handle,
            retired,
        })
    }

    /// The cluster membership.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Where each unit runs, as this host last saw it.
    pub fn placement(&self) -> Placement {
        let mut placement = self.handle.placement.lock().clone();
        placement.owners = self.cluster.owners();
        placement.hosts = self.cluster.live_hosts();
        placement
    }

    /// The live hosts.
    pub fn hosts(&self) -> Vec<HostRecord> {
        self.cluster.live_hosts()
    }

    /// A handle for the control API and the endpoint: the hosts, every
    /// component, stop and restart from this host ([`operate`]).
    pub fn handle(&self) -> ClusterHandle {
        self.handle.clone()
    }

    /// The last counts of every component that ran here and stopped or
    /// moved away, oldest first (for the run's summary).
    pub fn retired(&self) -> Vec<ComponentInfo> {
        self.retired.lock().clone()
    }

    /// Hands every unit over (or releases it) and leaves the cluster.
    pub async fn leave(self) -> LeaveReport {
        let (done, report) = oneshot::channel();
        let mut report = if self.commands.send(Command::Leave(done)).await.is_ok() {
            report.await.unwrap_or_default()
        } else {
            LeaveReport::default()
        };
        self.peer.abort();
        self.forward.abort();
        let _ = self.agent.await;
        report.retired = self.retired.lock().clone();
        report
    }
}
