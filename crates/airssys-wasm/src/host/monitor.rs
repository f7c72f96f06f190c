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
use std::sync::Arc;
use std::task::{Context, Poll};

use airssys_rt::supervisor::ExitReason;
use airssys_rt::{ActorRef, Monitor, TrySendError};

use super::actor::ComponentActor;
pub use super::down::ComponentDown;
use super::message::ComponentMessage;
use super::registry::ComponentRegistry;
use super::remote::RemoteRoutes;
use super::remote_monitor::RemoteMonitors;
use crate::guest::monitors::GuestMonitor;
use crate::guest::HostCallError;
use crate::id::ComponentId;
use tokio::sync::oneshot;

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
/// then the host that runs it is asked over the broker (a `noproc` down
/// comes when none does; `noconnection` when its host is lost).
///
/// # Errors
/// [`HostCallError::Unavailable`]: `from` is not a registered component,
/// or the request to another host could not be sent.
pub(crate) fn monitor_for_guest(
    registry: &ComponentRegistry,
    from: &ComponentId,
    target: &str,
    remote: Option<&Arc<RemoteRoutes>>,
) -> Result<GuestMonitor, HostCallError> {
    let watcher = registry
        .route(from.as_str())
        .ok_or_else(|| HostCallError::Unavailable(format!("component {from} is not registered")))?
        .actor;
    let id = next_monitor_id();
    let component = ComponentId::new(target);
    let Some(route) = registry.route(target) else {
        if let Some(remote) = remote {
            let monitors = Arc::clone(remote.monitors());
            let notify = Box::new(move |reason| {
                deliver(
                    &watcher,
                    ComponentDown {
                        monitor: id,
                        component,
                        reason,
                    },
                );
            });
            remote
                .monitor(id, Some(from), target, notify)
                .map_err(|e| HostCallError::Unavailable(e.to_string()))?;
            return Ok(GuestMonitor::new(id, move || {
                monitors.demonitor(id);
            }));
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
    state: Watching,
}

/// What a [`ComponentMonitor`] waits on.
enum Watching {
    /// No such component: resolves at once with `noproc`.
    Nothing,
    /// A component of this host.
    Here(Monitor),
    /// A component of another host, until its answer (or its host's loss).
    There {
        down: oneshot::Receiver<ExitReason>,
        monitors: Arc<RemoteMonitors>,
    },
    /// It could not be monitored on another host (the request could not
    /// be sent): resolves at once with `noconnection`.
    Unreachable,
}

impl std::fmt::Debug for Watching {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Watching::Nothing => "Nothing",
            Watching::Here(_) => "Here",
            Watching::There { .. } => "There",
            Watching::Unreachable => "Unreachable",
        })
    }
}

impl ComponentMonitor {
    /// A monitor of `component`'s actor on this host, or (`None`) of an id
    /// no component has here: that one resolves at once with `noproc`,
    /// unless `remote` is given (other hosts may run it), when the host
    /// that runs it is asked.
    pub(crate) fn new(
        component: ComponentId,
        actor: Option<&ActorRef<ComponentActor>>,
        remote: Option<&Arc<RemoteRoutes>>,
    ) -> Self {
        let id = next_monitor_id();
        let state = match (actor, remote) {
            (Some(actor), _) => Watching::Here(actor.monitor()),
            (None, None) => Watching::Nothing,
            (None, Some(remote)) => {
                let (tx, down) = oneshot::channel();
                let notify = Box::new(move |reason| {
                    // The receiver dropped means the caller let go.
                    let _ = tx.send(reason);
                });
                match remote.monitor(id, None, component.as_str(), notify) {
                    Ok(()) => Watching::There {
                        down,
                        monitors: Arc::clone(remote.monitors()),
                    },
                    Err(error) => {
                        tracing::warn!(%component, %error, "could not monitor a component of another host");
                        Watching::Unreachable
                    }
                }
            }
        };
        Self {
            id,
            component,
            state,
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
        let reason = match &mut self.state {
            Watching::Nothing => ExitReason::NoProc,
            Watching::Unreachable => ExitReason::NoConnection,
            Watching::Here(monitor) => match Pin::new(monitor).poll(cx) {
                Poll::Ready(down) => down.reason,
                Poll::Pending => return Poll::Pending,
            },
            Watching::There { down, .. } => match Pin::new(down).poll(cx) {
                Poll::Ready(Ok(reason)) => reason,
                // The sender went with the host's monitors (it shut down).
                Poll::Ready(Err(_)) => ExitReason::NoConnection,
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

impl Drop for ComponentMonitor {
    fn drop(&mut self) {
        if let Watching::There { monitors, .. } = &self.state {
            monitors.demonitor(self.id);
        }
    }
}
