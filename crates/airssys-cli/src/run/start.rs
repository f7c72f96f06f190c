//! Starting a host from a manifest: the host built with the manifest's
//! engine, broker and supervision settings, every binary compiled before
//! anything starts, then the groups (parents first) and the components (in
//! file order).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use airssys_rt::broker::MessageBroker;
use airssys_rt::supervisor::SupervisorRef;
use airssys_wasm::host::ComponentHost;
use airssys_wasm::TopicMessage;

use super::RunError;
use crate::manifest::spec::{backoff, component_spec, engine_config, group_supervisor};
use crate::manifest::Manifest;

/// Guests at least this big are announced while they compile: 1 MB.
const BIG_GUEST_BYTES: usize = 1_000_000;

/// Builds the host and spawns everything the manifest declares.
///
/// # Errors
/// [`RunError`] naming the component or group that could not start.
pub async fn start(manifest: &Manifest) -> Result<ComponentHost, RunError> {
    start_with_groups(manifest, None, None, None, true)
        .await
        .map(|(host, _)| host)
}

/// As [`start`], on the given broker (e.g. a NATS one) instead of the
/// embedded in-memory broker, also returning the supervision groups by name
/// (what the control API spawns into). On a `cluster` host, components
/// hand messages to their guests only while its lease holds, and monitors
/// of components on other hosts learn of their host's loss. Without
/// `spawn`, only compiles the binaries (a cluster host's agent starts the
/// components it owns).
///
/// # Errors
/// As [`start`].
pub async fn start_with_groups(
    manifest: &Manifest,
    broker: Option<Arc<dyn MessageBroker<TopicMessage>>>,
    cluster: Option<&airssys_nats::cluster::Cluster>,
    durable: Option<Arc<dyn airssys_wasm::host::DurableSends>>,
    spawn: bool,
) -> Result<(ComponentHost, HashMap<String, SupervisorRef>), RunError> {
    let h = &manifest.host;
    let mut builder = ComponentHost::builder()
        .engine(engine_config(h))
        .dead_letter_subject(h.dead_letter_subject.clone());
    if let Some((n, within)) = h.intensity {
        builder = builder.intensity(n, within);
    }
    if let Some(b) = h.backoff {
        builder = builder.backoff(backoff(b));
    }
    if let Some(broker) = broker {
        builder = builder.broker(broker);
    }
    if let Some(cluster) = cluster {
        builder = builder.lease(cluster.lease()).membership(Arc::new(
            crate::cluster::membership::ClusterMembership::new(cluster.clone()),
        ));
    }
    if let Some(durable) = durable {
        builder = builder.durable(durable);
    }
    let host = builder.build().map_err(RunError::Host)?;

    // Compile every binary before anything starts (cached by content hash,
    // so the spawns below do not compile again).
    compile_all(manifest, host.engine()).map_err(|e| *e)?;

    if !spawn {
        return Ok((host, HashMap::new()));
    }
    start_groups(manifest, host).await
}

/// Compiles every binary of `manifest` on `engine` (kept by content hash,
/// so spawns do not compile again; from the compilation cache when an
/// earlier run or `airssys precompile` compiled it).
///
/// # Errors
/// [`RunError::Binary`] for the first binary refused.
pub fn compile_all(
    manifest: &Manifest,
    engine: &airssys_wasm::WasmEngine,
) -> Result<(), Box<RunError>> {
    for c in &manifest.components {
        // A big guest (a JavaScript or Python one: megabytes) takes seconds
        // to compile the first time: say so, and what the cache did.
        let big = c.bytes.len() >= BIG_GUEST_BYTES;
        let started = Instant::now();
        let before = engine.compile_cache_stats();
        if big {
            eprintln!(
                "compiling {} ({:.1} MB)…",
                c.name,
                c.bytes.len() as f64 / 1e6
            );
        }
        engine
            .load(&c.name.as_str().into(), &c.bytes)
            .map_err(|source| {
                Box::new(RunError::Binary {
                    component: c.name.clone(),
                    path: c.path.display().to_string(),
                    source,
                })
            })?;
        if big {
            let from_cache = matches!(
                (before, engine.compile_cache_stats()),
                (Some((hits, _)), Some((now, _))) if now > hits
            );
            eprintln!(
                "{} ready in {:.1} s ({})",
                c.name,
                started.elapsed().as_secs_f64(),
                if from_cache {
                    "from the compilation cache"
                } else {
                    "compiled"
                }
            );
        }
    }
    Ok(())
}

/// Starts `manifest`'s supervision groups and components on `host`.
async fn start_groups(
    manifest: &Manifest,
    host: ComponentHost,
) -> Result<(ComponentHost, HashMap<String, SupervisorRef>), RunError> {
    let mut groups: HashMap<&str, SupervisorRef> = HashMap::new();
    for g in &manifest.groups {
        let parent = match &g.parent {
            Some(p) => groups[p.as_str()].clone(),
            None => host.supervisor().clone(),
        };
        let (spec, b) = group_supervisor(g, manifest.host.shutdown_timeout);
        let group = parent
            .add_supervisor(spec, b)
            .await
            .map_err(|e| RunError::Group {
                group: g.name.clone(),
                reason: e.to_string(),
            })?;
        groups.insert(g.name.as_str(), group);
    }

    for c in &manifest.components {
        for id in c.instance_ids() {
            let spec = component_spec(c, &id, Arc::clone(&c.bytes));
            let spawned = match &c.group {
                Some(g) => host.spawn_in(&groups[g.as_str()], spec).await,
                None => host.spawn(spec).await,
            };
            spawned.map_err(|source| RunError::Spawn {
                component: id.clone(),
                source,
            })?;
            tracing::info!(component = %id, "started");
        }
    }
    let groups = groups
        .into_iter()
        .map(|(name, group)| (name.to_owned(), group))
        .collect();
    Ok((host, groups))
}
