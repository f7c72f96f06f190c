//! Follows the supervision events of the host's tree and marks a failed
//! component [`Restarting`](super::LifecycleState::Restarting) when its
//! supervisor schedules a fresh incarnation, so that "failed" means given
//! up on and "restarting" means coming back.

use std::sync::Arc;

use airssys_rt::supervisor::{SupervisionEvent, SupervisorRef};
use tokio::sync::broadcast::error::RecvError;

use super::lifecycle::RestartPending;
use super::registry::ComponentRegistry;

/// Starts the task; it ends with the tree's event stream.
pub(super) fn follow(root: &SupervisorRef, registry: Arc<ComponentRegistry>) {
    let mut events = root.events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(SupervisionEvent::ChildRestarting {
                    child,
                    attempt,
                    delay,
                    ..
                }) => {
                    let pending = RestartPending {
                        attempt,
                        backoff: delay,
                    };
                    // Groups are children too: only components are found.
                    registry.with(&child, |e| e.template.lifecycle.restarting(pending));
                }
                Ok(_) => {}
                // Missed events only leave a component shown `failed`
                // until its restart (then `starting`, `ready`).
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "supervision events missed by the restart follower");
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}
