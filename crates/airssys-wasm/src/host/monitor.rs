//! Monitors of components: the one path that makes them (for a guest's
//! `monitor` import and for [`ComponentHost::monitor`](super::ComponentHost::monitor)),
//! the down a monitoring component receives, and the host side's
//! [`ComponentMonitor`] future.
//!
//! Built on airssys-rt's monitors of the target component's actor
//! (`ActorRef::monitor_with` / `ActorRef::monitor`), so the semantics are
//! the runtime's (`docs/supervision.md`, "Monitors and links"): one down
//! per monitor, when the target's current incarnation ends; a restart is a
//! down (reason `failed`, or `shutdown` for a stop) and ends the monitor.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use airssys_rt::supervisor::ExitReason;
use airssys_rt::{ActorRef, Monitor, TrySendError};

use super::actor::ComponentActor;
pub use super::down::ComponentDown;
use super::message::ComponentMessage;
use super::registry::ComponentRegistry;
use crate::guest::host_imports::HostCallError;
use crate::guest::monitors::GuestMonitor;
use crate::id::ComponentId;

/// A process-unique, positive monitor id.
fn next_monitor_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Queues `down` for the monitoring component's guest. Downs ride the
/// mailbox in order with messages; a full mailbox does not lose one: it is
/// queued by a task that waits for room. A monitoring component gone for
/// good has no use for it (its monitors died with it).
fn deliver(watcher: &ActorRef<ComponentActor>, down: ComponentDown) {
    match watcher.try_tell(ComponentMessage::Down(down)) {
        Ok(()) | Err(TrySendError::ActorStopped { .. }) => {}
        Err(TrySendError::MailboxFull { message, .. }) => {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                tracing::warn!(watcher = %watcher.id(), "down dropped: mailbox full and no runtime");
                return;
            };
            let watcher = watcher.clone();
            runtime.spawn(async move {
                // An error here means the watcher stopped meanwhile.
                let _ = watcher.tell(message).await;
            });
        }
        Err(other) => tracing::debug!(watcher = %watcher.id(), error = %other, "down not queued"),
    }
}

/// Monitors `target` for component `from`; its down goes to `from`'s
/// mailbox as [`ComponentMessage::Down`]. An id not in the registry gets a
/// `noproc` down at once, unless ids may live on other hosts (`remote`):
/// monitors across hosts are not there yet, so that is refused.
///
/// # Errors
/// [`HostCallError::Unavailable`]: `from` is not a registered component, or
/// `target` is not on this host of a cluster.
pub(crate) fn monitor_for_guest(
    registry: &ComponentRegistry,
    from: &ComponentId,
    target: &str,
    remote: bool,
) -> Result<GuestMonitor, HostCallError> {
    let watcher = registry
        .route(from.as_str())
        .ok_or_else(|| HostCallError::Unavailable(format!("component {from} is not registered")))?
        .actor;
    let id = next_monitor_id();
    let component = ComponentId::new(target);
    let Some(route) = registry.route(target) else {
        if remote {
            return Err(HostCallError::Unavailable(format!(
                "component {target} is not on this host; monitors across hosts are not supported yet"
            )));
        }
        deliver(
            &watcher,
            ComponentDown {
                monitor: id,
                component,
                reason: ExitReason::NoProc,
            },
        );
        return Ok(GuestMonitor::new(id, || {}));
    };
    let monitor = route.actor.monitor_with(move |down| {
        deliver(
            &watcher,
            ComponentDown {
                monitor: id,
                component,
                reason: down.reason,
            },
        );
    });
    let target = route.actor;
    Ok(GuestMonitor::new(id, move || {
        target.demonitor(monitor);
    }))
}

/// A monitor of a component from the host side
/// ([`ComponentHost::monitor`](super::ComponentHost::monitor)): a future
/// that resolves once, with the [`ComponentDown`] of the incarnation that
/// ran when it was made.
///
/// Dropping it removes the monitor at once. `Unpin`: poll it by `&mut` in
/// a `select!`.
///
/// # Cancel safety
/// Polling by `&mut` and dropping the poll is cancel-safe: the down stays
/// until polled again.
#[must_use = "a ComponentMonitor demonitors when dropped"]
#[derive(Debug)]
pub struct ComponentMonitor {
    id: u64,
    component: ComponentId,
    state: Option<Monitor>,
}

impl ComponentMonitor {
    /// A monitor of `component`'s actor, or (`None`) of an id no component
    /// has: that one resolves at once with `noproc`.
    pub(crate) fn new(component: ComponentId, actor: Option<&ActorRef<ComponentActor>>) -> Self {
        Self {
            id: next_monitor_id(),
            component,
            state: actor.map(ActorRef::monitor),
        }
    }

    /// This monitor's id, as its down carries it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The monitored component.
    pub fn component(&self) -> &ComponentId {
        &self.component
    }
}

impl Future for ComponentMonitor {
    type Output = ComponentDown;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ComponentDown> {
        let reason = match self.state.as_mut() {
            None => ExitReason::NoProc,
            Some(monitor) => match Pin::new(monitor).poll(cx) {
                Poll::Ready(down) => down.reason,
                Poll::Pending => return Poll::Pending,
            },
        };
        Poll::Ready(ComponentDown {
            monitor: self.id,
            component: self.component.clone(),
            reason,
        })
    }
}
