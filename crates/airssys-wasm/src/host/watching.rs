//! Watching components from the host: [`ComponentHost::monitor`] (a down
//! when an incarnation ends, on this host or another) and
//! [`ComponentHost::link`] (two components' incarnations end together).

use super::error::HostError;
use super::facade::ComponentHost;
use super::message::TopicMessage;
use super::monitor::ComponentMonitor;
use crate::id::ComponentId;

impl ComponentHost {
    /// Monitors component `id` from the host side: the returned future
    /// resolves once, with the [`ComponentDown`](super::ComponentDown) of the incarnation running
    /// now (reason `shutdown` for a stop, `failed` with the cause for a
    /// crash or a restart). A restart is a down and ends the monitor:
    /// monitor again to watch the next incarnation. An id no component has
    /// on this host resolves at once with [`ExitReason::NoProc`](airssys_rt::supervisor::ExitReason::NoProc).
    /// Dropping the future removes the monitor. Never waits; costs one
    /// oneshot channel and one slot in the component's monitor list.
    ///
    /// With a distributed broker, an id this host does not run is
    /// monitored on the host that runs it (one request over the broker):
    /// `noproc` when no host does, and, with a [`Membership`] (a cluster
    /// host), [`ExitReason::NoConnection`](airssys_rt::supervisor::ExitReason::NoConnection)
    /// when that host is lost (see `docs/distribution.md`).
    ///
    /// ```no_run
    /// # async fn demo(host: airssys_wasm::ComponentHost) {
    /// let down = host.monitor("worker-1").await;
    /// println!("{} went down: {}", down.component, down.reason.label());
    /// # }
    /// ```
    pub fn monitor(&self, id: &str) -> ComponentMonitor {
        let actor = self.inner.registry.route(id).map(|route| route.actor);
        let remote = self.inner.remote.as_ref().filter(|_| actor.is_none());
        ComponentMonitor::new(ComponentId::new(id), actor.as_ref(), remote)
    }

    /// Monitors this host holds on components of other hosts now (made by
    /// guests or by [`monitor`](Self::monitor), not fired, not removed);
    /// for metrics and leak checks.
    pub fn remote_monitor_count(&self) -> usize {
        self.inner
            .remote
            .as_ref()
            .map_or(0, |remote| remote.monitors().len())
    }

    /// Takes `message`, a message for component `id` that reached this
    /// host some other way than `id`'s own subject (a cluster host held it
    /// while `id` was handed over to it), if it is another host's monitor
    /// or demonitor request (its reply subject starts with
    /// [`MONITOR_INBOX`](super::MONITOR_INBOX) or
    /// [`DEMONITOR_INBOX`](super::DEMONITOR_INBOX)): it is carried out as
    /// if it had come on the subject, and `true` is returned. `false` for
    /// anything else (deliver it as usual), or when `id` is not served here.
    pub fn take_monitor_request(
        &self,
        id: &str,
        message: &airssys_rt::broker::BrokerMessage<TopicMessage>,
    ) -> bool {
        self.inner
            .remote
            .as_ref()
            .is_some_and(|remote| remote.take_monitor_request(id, message))
    }

    /// Links components `a` and `b` of this host, both ways, as a guest's
    /// `link` import does: when either incarnation ends abnormally (a
    /// trap, a failure, a restart), the other's ends too, with reason
    /// `linked`, and its supervisor restarts it per its policy, unless it
    /// traps exits ([`ComponentSpec::trap_exits`](super::ComponentSpec::trap_exits)):
    /// then it gets an `_airssys.exit` message. A normal end (a stop) just
    /// breaks the link, and so does a restart of either: the link belongs
    /// to the two incarnations running now. Idempotent. No allow-list is
    /// checked: the host may link any two of its components.
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`] naming whichever of the two does not
    /// run here (links do not cross hosts) or is gone for good.
    pub fn link(&self, a: &str, b: &str) -> Result<(), HostError> {
        let unknown = |id: &str| HostError::UnknownComponent {
            component: id.into(),
            payload: None,
        };
        if !self.inner.registry.contains(a) {
            return Err(unknown(a));
        }
        super::link::link(&self.inner.registry, a, b, false).map_err(|_| unknown(b))
    }

    /// Breaks the link between components `a` and `b`: `true` if there was
    /// one. Once it returns, no exit of either reaches the other over it,
    /// even one already queued.
    pub fn unlink(&self, a: &str, b: &str) -> bool {
        super::link::unlink(&self.inner.registry, a, b)
    }
}
