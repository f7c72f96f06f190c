//! Follows the supervision events of the host's tree and keeps each
//! component's lifecycle truthful where its actor cannot see it:
//!
//! - a failed component whose supervisor schedules a fresh incarnation is
//!   [`Restarting`](super::LifecycleState::Restarting), so that "failed"
//!   means given up on and "restarting" means coming back;
//! - a component whose incarnation ended and whose restart policy does not
//!   restart it after that exit (a `Transient` one's normal exit, a
//!   `Temporary` one's any exit) has ended on its own:
//!   [`ComponentEnd::Exited`] with the reason;
//! - the components of a group that gave up (its restart intensity
//!   exceeded, a child escalated) have ended on their own:
//!   [`ComponentEnd::GroupGaveUp`] with the group and the cause.
//!
//! An ended component stays registered, showing its state and why, until
//! `stop` removes it or a spawn of its id replaces it (see
//! [`ComponentEnd`]). A fresh incarnation (a group restarted by its own
//! supervisor) clears the end when it starts.

use std::sync::Arc;

use airssys_rt::supervisor::{SupervisionEvent, SupervisorRef};

use super::lifecycle::{ComponentEnd, RestartPending};
use super::registry::ComponentRegistry;

/// Observes the tree's events (see [`SupervisorRef::observe_events`]): each
/// is applied to the registry in the supervisor's task, as it happens, so
/// none is missed and none costs a task wake-up (a spawn emits one event, a
/// restart three).
pub(super) fn follow(root: &SupervisorRef, registry: Arc<ComponentRegistry>) {
    root.observe_events(move |event| apply(&registry, event));
}

/// What one event changes in the registry. Groups are children too: only
/// components are found, and only under the supervisor they were spawned
/// in.
fn apply(registry: &ComponentRegistry, event: &SupervisionEvent) {
    match event {
        SupervisionEvent::ChildRestarting {
            child,
            attempt,
            delay,
            ..
        } => {
            let pending = RestartPending {
                attempt: *attempt,
                backoff: *delay,
            };
            registry.with(child, |e| e.template.lifecycle.restarting(pending));
        }
        SupervisionEvent::ChildExited {
            supervisor,
            child,
            reason,
            ..
        }
        | SupervisionEvent::ChildFailed {
            supervisor,
            child,
            reason,
            ..
        } => {
            registry.with(child, |e| {
                if e.group.name() == supervisor && !e.restart.restarts_after(reason) {
                    e.template
                        .lifecycle
                        .end(ComponentEnd::Exited(reason.clone()));
                }
            });
        }
        SupervisionEvent::SupervisorFailed { supervisor, cause } => {
            registry.visit_group(supervisor, |e| {
                e.template.lifecycle.end(ComponentEnd::GroupGaveUp {
                    group: supervisor.clone(),
                    cause: cause.clone(),
                });
            });
        }
        _ => {}
    }
}
