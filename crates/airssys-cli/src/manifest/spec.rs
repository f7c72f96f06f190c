//! From the manifest to the host's types: a `[[component]]` instance's
//! [`ComponentSpec`], its allow-lists, a `backoff = {...}` table's policy.
//! One place, used by `run`, the control API's spawn and the cluster agent.

use std::sync::Arc;

use airssys_rt::supervisor::{BackoffPolicy, HealthConfig, RestartPolicy};
use airssys_wasm::host::ComponentSpec;
use airssys_wasm::{Permissions, SubjectPattern};

use super::{BackoffDef, ComponentDef, Restart};

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
