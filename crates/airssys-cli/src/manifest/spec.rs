//! From the manifest to the host's types: the engine of `[host]`, a
//! `[[group]]`'s supervisor, a `[[component]]` instance's
//! [`ComponentSpec`], its allow-lists, a `backoff = {...}` table's policy.
//! One place, used by `run`, `precompile`, `test`, the control API's spawn
//! and the cluster agent.

use std::sync::Arc;

use airssys_rt::supervisor::{
    BackoffPolicy, ChildSpec, HealthConfig, RestartPolicy, RestartStrategy, ShutdownPolicy,
    SupervisorBuilder, SupervisorNode,
};
use airssys_wasm::host::ComponentSpec;
use airssys_wasm::{EngineConfig, Permissions, SubjectPattern};

use super::{BackoffDef, ComponentDef, GroupDef, HostSettings, Restart, Strategy};

/// The engine `run` builds for `[host]` settings `h` (its pool, fuel
/// metering when a component sets `fuel_per_call`, and the compilation
/// cache in `h.cache_dir`). `airssys precompile` uses the same, so that what
/// it compiles is what a run finds in the cache.
pub fn engine_config(h: &HostSettings) -> EngineConfig {
    let mut engine = h.pool.apply(
        EngineConfig::default()
            .max_components(h.max_components)
            .fuel(h.fuel),
    );
    if let Some(dir) = &h.cache_dir {
        engine = engine.compile_cache(dir);
    }
    engine
}

/// A supervisor named `name` with a group's `strategy`, restart
/// `intensity` (max restarts, within) and `backoff`: a `[[group]]`'s, or a
/// cluster unit's.
pub(crate) fn supervisor_builder(
    name: &str,
    strategy: Strategy,
    intensity: Option<(u32, std::time::Duration)>,
    backoff_def: Option<BackoffDef>,
) -> SupervisorBuilder {
    let mut b = SupervisorNode::builder(name.to_owned()).strategy(match strategy {
        Strategy::OneForOne => RestartStrategy::OneForOne,
        Strategy::OneForAll => RestartStrategy::OneForAll,
        Strategy::RestForOne => RestartStrategy::RestForOne,
    });
    if let Some((n, within)) = intensity {
        b = b.intensity(n, within);
    }
    if let Some(bo) = backoff_def {
        b = b.backoff(backoff(bo));
    }
    b
}

/// The supervisor of a `[[group]]`: its child spec under its parent (a
/// graceful stop within `shutdown`) and its builder (strategy, restart
/// intensity, backoff).
pub(crate) fn group_supervisor(
    g: &GroupDef,
    shutdown: std::time::Duration,
) -> (ChildSpec, SupervisorBuilder) {
    let b = supervisor_builder(&g.name, g.strategy, g.intensity, g.backoff);
    let spec = ChildSpec::new(g.name.clone()).shutdown(ShutdownPolicy::Graceful(shutdown));
    (spec, b)
}

/// The backoff policy of a manifest `backoff = {...}`.
pub(crate) fn backoff(b: BackoffDef) -> BackoffPolicy {
    if b.initial.is_zero() {
        return BackoffPolicy::none();
    }
    let mut p = BackoffPolicy::exponential(b.initial, b.max);
    if let Some(m) = b.multiplier {
        p = p.multiplier(m);
    }
    if let Some(j) = b.jitter {
        p = p.jitter(j);
    }
    p
}

/// The allow-lists of a `[[component]]`.
fn permissions(c: &ComponentDef) -> Permissions {
    let mut permissions = Permissions::deny_all();
    for t in &c.send {
        permissions = permissions.allow_target(t.clone());
    }
    for p in &c.publish {
        // Validated when the manifest was loaded.
        if let Ok(p) = SubjectPattern::new(p) {
            permissions = permissions.allow_subject(p);
        }
    }
    for p in &c.allow_subscribe {
        // Validated when the manifest was loaded.
        if let Ok(p) = SubjectPattern::new(p) {
            permissions = permissions.allow_subscribe(p);
        }
    }
    permissions
}

/// The spec of instance `id` of a `[[component]]`, running `bytes`.
pub(crate) fn component_spec(c: &ComponentDef, id: &str, bytes: Arc<[u8]>) -> ComponentSpec {
    let mut spec = ComponentSpec::new(id, bytes)
        .limits(c.limits.clone())
        .permissions(permissions(c))
        .restart(match c.restart {
            Restart::Permanent => RestartPolicy::Permanent,
            Restart::Transient => RestartPolicy::Transient,
            Restart::Temporary => RestartPolicy::Temporary,
        });
    if let Some(m) = c.mailbox {
        spec = spec.mailbox_capacity(m);
    }
    for s in &c.subscribe {
        spec = spec.subscribe(s.clone());
    }
    if let Some(hc) = c.health {
        spec = spec.health(HealthConfig::new(hc.interval, hc.timeout, hc.threshold));
    }
    if let Some(t) = c.stop_timeout {
        spec = spec.stop_timeout(t);
    }
    if c.trap_exits {
        spec = spec.trap_exits(true);
    }
    for (k, v) in &c.config {
        spec = spec.config(k.clone(), v.clone());
    }
    if !c.wasi.is_none() {
        spec = spec.wasi(c.wasi.clone());
    }
    spec
}
