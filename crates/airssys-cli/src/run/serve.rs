//! What a run serves beside its components: `/metrics` and `/health`
//! (the endpoint), and the control API.

use std::collections::HashMap;
use std::sync::Arc;

use airssys_nats::cluster::Cluster;
use airssys_nats::NatsBroker;
use airssys_rt::supervisor::SupervisorRef;
use airssys_wasm::host::ComponentHost;
use airssys_wasm::TopicMessage;
use tokio::task::JoinHandle;

use super::{endpoint, RunError, RunOptions};
use crate::cluster::operate::ClusterSlot;
use crate::control::{self, ControlConfig, ControlTraffic, Controller};
use crate::manifest::Manifest;

/// Serves `/metrics` and `/health` on `--metrics-addr` or `[host]
/// metrics_addr`, if either is set.
///
/// # Errors
/// [`RunError::Endpoint`] when the address cannot be bound.
pub(super) async fn endpoint(
    manifest: &Manifest,
    opts: &RunOptions,
    host: &ComponentHost,
    nats: Option<&NatsBroker<TopicMessage>>,
    cluster_slot: Option<ClusterSlot>,
) -> Result<Option<JoinHandle<()>>, RunError> {
    let Some(addr) = opts.metrics_addr.or(manifest.host.metrics_addr) else {
        return Ok(None);
    };
    let handle = crate::telemetry::prometheus();
    let status = nats.map(|b| b.connection_status());
    let (local, task) = endpoint::serve(
        addr,
        host.clone(),
        handle,
        status,
        cluster_slot,
        opts.metrics_component_limit,
    )
    .await
    .map_err(|source| RunError::Endpoint { addr, source })?;
    eprintln!("serving /metrics and /health on http://{local}");
    Ok(Some(task))
}

/// The control API as served: its task, and what it hands to components
/// (for the summary).
pub(super) struct ServedControl {
    /// The serving task (aborted when the run stops).
    pub(super) task: JoinHandle<()>,
    /// Sends, requests and publishes that entered through it.
    pub(super) traffic: Arc<ControlTraffic>,
}

/// Serves the control API with `config`, acting on `host` and the
/// manifest's `groups`; a cluster host's API acts cluster-wide and its
/// bound address is told to the cluster.
///
/// # Errors
/// [`RunError::Control`] when the address cannot be bound.
pub(super) async fn control(
    config: ControlConfig,
    host: &ComponentHost,
    manifest: &Manifest,
    groups: HashMap<String, SupervisorRef>,
    cluster_slot: Option<&ClusterSlot>,
    cluster: Option<&Cluster>,
) -> Result<ServedControl, RunError> {
    let addr = config.addr();
    let scheme = config.scheme();
    let mut controller = Controller::new(host.clone(), manifest, groups);
    let traffic = controller.traffic();
    if let Some(slot) = cluster_slot {
        controller = controller.with_cluster(slot.clone());
    }
    let (local, task) = control::serve(config, controller)
        .await
        .map_err(|source| RunError::Control { addr, source })?;
    if let Some(cluster) = cluster {
        // The bound address (the one asked for may have port 0); the
        // others learn it with the next heartbeat.
        cluster.update_me(|r| r.control = Some(local.to_string()));
    }
    eprintln!("serving the control API on {scheme}://{local}");
    Ok(ServedControl { task, traffic })
}
