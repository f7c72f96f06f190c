//! Where a run stands before its host starts: which components it keeps
//! (`--only`), the NATS server it joins and, as a cluster host, the cluster.

use airssys_nats::cluster::Cluster;
use airssys_nats::NatsBroker;
use airssys_wasm::TopicMessage;

use std::sync::Arc;

use super::{RunError, RunOptions};
use crate::manifest::{ClusterSettings, Manifest};

/// `--only`: keeps the components of the named groups, each of which must
/// exist.
///
/// # Errors
/// The first group named that the manifest lacks, in words.
pub(super) fn keep_only(manifest: &mut Manifest, only: &[String]) -> Result<(), String> {
    if only.is_empty() {
        return Ok(());
    }
    for g in only {
        if !manifest.groups.iter().any(|d| &d.name == g) {
            return Err(format!("--only {g}: no such group"));
        }
    }
    manifest
        .components
        .retain(|c| c.group.as_ref().is_some_and(|g| only.contains(g)));
    Ok(())
}

/// The NATS server to join: `--nats`, else `[broker] url`; none for a
/// host on its own.
pub(super) fn nats_url(manifest: &Manifest, opts: &RunOptions) -> Option<String> {
    opts.nats.clone().or_else(|| {
        manifest
            .host
            .broker
            .as_ref()
            .map(|b| b.url.clone())
            .filter(|u| !u.is_empty())
    })
}

/// The cluster settings of a cluster host (`--cluster` or a `[cluster]`
/// section, with `--host-id` and `--label` over the manifest's), or none.
///
/// # Errors
/// In words: a cluster host without a NATS server, or with `--only`.
pub(super) fn cluster_settings(
    manifest: &Manifest,
    opts: &RunOptions,
    has_nats: bool,
) -> Result<Option<ClusterSettings>, String> {
    if !opts.cluster && manifest.host.cluster.is_none() {
        return Ok(None);
    }
    let mut settings = manifest.host.cluster.clone().unwrap_or_default();
    if let Some(id) = &opts.host_id {
        settings.host_id = Some(id.clone());
    }
    settings.labels.extend(opts.labels.iter().cloned());
    if !has_nats {
        return Err(
            "a cluster host needs a NATS server with JetStream: --nats URL or [broker] url".into(),
        );
    }
    if !opts.only.is_empty() {
        return Err(
            "--only and --cluster do not mix: a cluster places the components itself".into(),
        );
    }
    Ok(Some(settings))
}

/// Connects to the NATS server at `url` under the manifest's prefix, with
/// the cluster's JetStream settings when this host joins a cluster.
pub(super) async fn connect_nats(
    manifest: &Manifest,
    opts: &RunOptions,
    url: &str,
    cluster: bool,
) -> Result<NatsBroker<TopicMessage>, RunError> {
    let prefix = manifest
        .host
        .broker
        .as_ref()
        .map_or(airssys_nats::DEFAULT_PREFIX, |b| b.prefix.as_str());
    let security = opts.nats_security.over(
        manifest
            .host
            .broker
            .as_ref()
            .map(|b| b.security.clone())
            .unwrap_or_default(),
    );
    let dead = &manifest.host.dead_letter_subject;
    let broker = if cluster {
        crate::nats::connect_cluster_host(url, prefix, dead, &security).await
    } else {
        crate::nats::connect(url, prefix, dead, &security).await
    }
    .map_err(|e| RunError::Broker(e.to_string()))?;
    eprintln!("joined NATS at {url} as part of application `{prefix}`");
    Ok(broker)
}

/// Joins the cluster as this host (its id, labels and control address).
pub(super) async fn join_cluster(
    manifest: &Manifest,
    opts: &RunOptions,
    settings: &ClusterSettings,
    broker: &NatsBroker<TopicMessage>,
) -> Result<Cluster, RunError> {
    let id = settings
        .host_id
        .clone()
        .unwrap_or_else(crate::cluster::default_host_id);
    let control = opts.control.as_ref().map(|c| c.addr().to_string());
    let joined = crate::cluster::join(broker, &id, settings, manifest.host.max_components, control)
        .await
        .map_err(|e| RunError::Broker(e.to_string()))?;
    eprintln!(
        "joined the cluster as host `{id}` ({} live hosts)",
        joined.live_hosts().len()
    );
    Ok(joined)
}

/// What a run joined: its NATS server, its cluster, and (on a cluster
/// host) the JetStream store of its durable components and topics.
pub(super) struct Joined {
    pub(super) nats: Option<NatsBroker<TopicMessage>>,
    pub(super) cluster: Option<Cluster>,
    pub(super) durable_store: Option<airssys_nats::cluster::durable::DurableStore>,
    pub(super) durable_sends: Option<Arc<dyn airssys_wasm::host::DurableSends>>,
}

/// Connects to the NATS server at `url` (if any) and, with `cluster`
/// settings, joins the cluster and opens its durable store.
///
/// # Errors
/// [`RunError::Broker`] when the server, the cluster or the store cannot
/// be had.
pub(super) async fn join(
    manifest: &Manifest,
    opts: &RunOptions,
    url: Option<String>,
    cluster: Option<&ClusterSettings>,
) -> Result<Joined, RunError> {
    let nats = match url {
        Some(url) => Some(connect_nats(manifest, opts, &url, cluster.is_some()).await?),
        None => None,
    };
    let cluster = match (cluster, &nats) {
        (Some(settings), Some(broker)) => {
            Some(join_cluster(manifest, opts, settings, broker).await?)
        }
        _ => None,
    };
    // Durable components and topics (cluster only): in JetStream.
    let (durable_store, durable_sends) = match (&cluster, &nats) {
        (Some(_), Some(broker)) => crate::cluster::durable::open(manifest, broker)
            .await
            .map_err(|e| RunError::Broker(e.to_string()))?,
        _ => (None, None),
    };
    Ok(Joined {
        nats,
        cluster,
        durable_store,
        durable_sends,
    })
}
