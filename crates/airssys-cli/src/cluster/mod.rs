//! `airssys run --cluster`: this host is one of several that divide the
//! manifest's components among themselves over NATS JetStream, take over
//! those of a host that dies, and hand theirs over when they leave.
//!
//! The shared records (membership, ownership, the lease) are
//! [`airssys_nats::cluster`]'s; this module decides what runs here:
//! [`units`] (what moves as a whole), the agent (claims, starts, stops,
//! fences, fails over, balances), [`hold`] and `handover` (moving a unit
//! without losing a message), [`peer`] (host-to-host requests). The
//! semantics and the failure table are in `docs/distribution.md`.

mod agent;
mod handover;
pub mod hold;
pub mod peer;
pub mod units;

use std::sync::Arc;
use std::time::Duration;

use airssys_nats::cluster::{Cluster, ClusterConfig, ClusterError, HostRecord};
use airssys_nats::NatsBroker;
use airssys_wasm::host::{ComponentHost, ComponentInfo};
use airssys_wasm::TopicMessage;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use agent::{Agent, Command};
pub use agent::{LeaveReport, Placement};
use peer::{PeerComponent, PeerReply, PeerRequest};

use crate::manifest::{ClusterSettings, Manifest};

/// The NATS queue group component subjects are subscribed in, on every
/// cluster host: while a unit moves, each message reaches one host.
pub const QUEUE_GROUP: &str = "airssys";

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
    broker: NatsBroker<TopicMessage>,
    commands: mpsc::Sender<Command>,
    agent: JoinHandle<()>,
    peer: JoinHandle<()>,
    forward: JoinHandle<()>,
    placement: Arc<Mutex<Placement>>,
    units: Vec<units::Unit>,
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
    ) -> Result<Self, String> {
        let units = units::units(&manifest);
        let agent = Agent::new(
            cluster.clone(),
            host,
            broker.clone(),
            manifest,
            units.clone(),
            settings,
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
        Ok(Self {
            cluster,
            broker,
            commands,
            agent,
            peer,
            forward,
            placement,
            units,
            retired,
        })
    }

    /// The cluster membership.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Where each unit runs, as this host last saw it.
    pub fn placement(&self) -> Placement {
        self.placement.lock().clone()
    }

    /// The live hosts.
    pub fn hosts(&self) -> Vec<HostRecord> {
        self.cluster.live_hosts()
    }

    /// Every other live host's components, asked of each (a host that does
    /// not answer in `timeout` is left out, with why).
    pub async fn remote_components(
        &self,
        timeout: Duration,
    ) -> Vec<(String, Result<Vec<PeerComponent>, String>)> {
        let me = self.cluster.me().id;
        let mut out = Vec::new();
        for h in self.cluster.live_hosts() {
            if h.id == me {
                continue;
            }
            let answer = agent::ask_peer(&self.broker, &h.id, &PeerRequest::List, timeout).await;
            let listed = match answer {
                Ok(PeerReply::Components { components }) => Ok(components),
                Ok(other) => Err(format!("unexpected answer {other:?}")),
                Err(e) => Err(e),
            };
            out.push((h.id, listed));
        }
        out
    }

    /// Asks the host that owns component `id` to stop or restart it.
    ///
    /// # Errors
    /// In words: no unit has it, its host did not answer or refused.
    pub async fn remote(&self, id: &str, restart: bool) -> Result<(), String> {
        let placement = self.placement();
        let unit = self
            .units
            .iter()
            .find(|u| u.has(id))
            .ok_or_else(|| format!("no component {id} in the manifest"))?;
        let owner = placement
            .owners
            .iter()
            .find(|(key, _)| key == &unit.key)
            .map(|(_, o)| o.record.host.clone())
            .ok_or_else(|| format!("no host owns component {id}"))?;
        let request = if restart {
            PeerRequest::Restart { id: id.to_owned() }
        } else {
            PeerRequest::Stop { id: id.to_owned() }
        };
        match agent::ask_peer(&self.broker, &owner, &request, Duration::from_secs(10)).await? {
            PeerReply::Ok => Ok(()),
            PeerReply::Error { error } => Err(error),
            other => Err(format!("unexpected answer {other:?}")),
        }
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
