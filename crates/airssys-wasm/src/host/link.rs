//! Links between components: the one path that makes and breaks them (for
//! a guest's `link`/`unlink` imports and for
//! [`ComponentHost::link`](super::ComponentHost::link)). The exit a
//! component that traps exits receives is made in `down.rs`, beside the
//! down, so that the component's actor does not import this module.
//!
//! Built on airssys-rt's links between the two components' actors
//! ([`ActorRef::link`](airssys_rt::ActorRef::link)), so the semantics are
//! the runtime's (`docs/supervision.md`, "Monitors and links"): an
//! abnormal end of one incarnation ends the other's with a `linked`
//! reason (its supervisor restarts it per its policy) unless it traps
//! exits; a normal end just breaks the link; the link ends with either
//! incarnation.

use airssys_rt::LinkError;

use super::registry::ComponentRegistry;
use crate::guest::HostCallError;

/// Links components `from` and `target` of this host.
///
/// # Errors
/// [`HostCallError::NoSuchTarget`]: no component `target` runs here (or
/// it is gone for good); with `remote` (other hosts may run it),
/// [`HostCallError::Unavailable`] instead: links do not cross hosts.
/// [`HostCallError::Unavailable`] when `from` is not registered.
pub(crate) fn link(
    registry: &ComponentRegistry,
    from: &str,
    target: &str,
    remote: bool,
) -> Result<(), HostCallError> {
    let me = registry
        .route(from)
        .ok_or_else(|| HostCallError::Unavailable(format!("component {from} is not registered")))?
        .actor;
    let Some(peer) = registry.route(target) else {
        return Err(if remote {
            HostCallError::Unavailable(format!(
                "component {target} is not on this host; links do not cross hosts"
            ))
        } else {
            HostCallError::NoSuchTarget
        });
    };
    me.link(&peer.actor).map_err(|e| match e {
        LinkError::NoProc { .. } => HostCallError::NoSuchTarget,
        // `LinkError` is non-exhaustive; a new refusal is the host's.
        other => HostCallError::Unavailable(other.to_string()),
    })
}

/// Breaks the link between components `from` and `target`: `true` if
/// there was one. `false` when either is not registered here.
pub(crate) fn unlink(registry: &ComponentRegistry, from: &str, target: &str) -> bool {
    match (registry.route(from), registry.route(target)) {
        (Some(me), Some(peer)) => me.actor.unlink(&peer.actor),
        _ => false,
    }
}
