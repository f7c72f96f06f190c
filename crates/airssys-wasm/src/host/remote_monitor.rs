//! Monitors across hosts: a monitor of a component that runs on another
//! host of the application (over a distributed broker), and the monitors
//! other hosts hold on the components that run here.
//!
//! As in Erlang, the monitor lives where its target runs. The watching
//! host publishes a request on the target's subject `component.<id>` with
//! the reply subject `_INBOX.airssys-monitor.<host>.<monitor id>`
//! ([`MONITOR_INBOX`]); the one host that serves that subject arms an
//! airssys-rt monitor of the component's actor and answers on that reply
//! subject twice at most, in JSON ([`Answer`]):
//!
//! - `{"event": "armed", "host": "<name>"}` at once, naming itself as its
//!   [`Membership`] knows it (empty outside a cluster);
//! - `{"event": "down", "reason": "<label>", "detail": "<text>"}` when the
//!   incarnation it watched ends, as a local down would say it.
//!
//! No host serving the subject: the server answers "no responders" on the
//! reply subject, and the monitor fires `noproc`. The watching host
//! removes a monitor with a message on the same subject whose reply
//! subject is `_INBOX.airssys-demonitor.<host>.<monitor id>`
//! ([`DEMONITOR_INBOX`]); nothing answers it.
//!
//! **The loss of the target's host** (Erlang's `noconnection`): with a
//! [`Membership`] (a cluster host's), the watching host checks each armed
//! monitor's host whenever the membership changes and at least every
//! period it states; a host that is no longer live fires its monitors
//! with [`ExitReason::NoConnection`]. So does a request no host
//! acknowledged within [`ARM_WAIT`] (its host died before it answered).
//! Outside a cluster, the loss of a host is not detected.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use airssys_rt::broker::{BrokerMessage, MessageBroker};
use airssys_rt::supervisor::ExitReason;
use airssys_rt::{ActorRef, MonitorRef};
use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::actor::ComponentActor;
use super::down::detail;
use super::error::HostError;
use super::message::TopicMessage;
use crate::guest::BoxFuture;
use crate::id::ComponentId;

/// Reply subjects of monitor requests between hosts start with this.
pub const MONITOR_INBOX: &str = "_INBOX.airssys-monitor.";

/// Reply subjects of demonitor requests between hosts start with this.
pub const DEMONITOR_INBOX: &str = "_INBOX.airssys-demonitor.";

/// How long a monitor request may go unanswered (neither armed, nor "no
/// responders") before it fires `noconnection`: the host that served the
/// target died before it answered. 5 s.
pub const ARM_WAIT: Duration = Duration::from_secs(5);

/// How often the watching host looks at its armed monitors' hosts when no
/// [`Membership`] says more: 1 s.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Which hosts of the application are live: what a component host needs
/// from its cluster to tell that the host of a component it monitors was
/// lost. A cluster host's membership implements it (airssys-cli's agent
/// gives one to the host with
/// [`ComponentHostBuilder::membership`](super::ComponentHostBuilder::membership)).
pub trait Membership: Send + Sync + 'static {
    /// This host's name, as the other hosts' [`is_live`](Self::is_live)
    /// knows it; sent with every monitor armed here. A name changes when
    /// the host's incarnation in the cluster does (a cluster host's id and
    /// session).
    fn me(&self) -> String;

    /// Whether the host named `name` (another host's [`me`](Self::me)) is
    /// live now. Cheap: called for each armed monitor on every check.
    fn is_live(&self, name: &str) -> bool;

    /// Resolves when the membership may have changed (a host joined, left
    /// or was declared dead), and after at most the period within which
    /// this host notices a dead one otherwise.
    fn changed(&self) -> BoxFuture<()>;
}

/// What the host that runs a monitored component answers on a monitor's
/// reply subject (JSON, tagged by `event`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Answer {
    /// The monitor is armed on the component's current incarnation.
    Armed {
        /// The host that armed it ([`Membership::me`]; empty outside a
        /// cluster).
        host: String,
    },
    /// The incarnation ended.
    Down {
        /// The exit reason's stable label.
        reason: String,
        /// Its text (a failure's cause).
        detail: String,
    },
}

/// The reason a remote down's label names. `linked` (the component was
/// stopped by a link of its own) comes back as `failed` with the cause:
/// the actor id a local `linked` reason carries means nothing on another
/// host. An unknown label (a newer host) is a failure, its label kept in
/// the text.
fn reason_from(label: &str, detail: String) -> ExitReason {
    match label {
        "normal" => ExitReason::Normal,
        "shutdown" => ExitReason::Shutdown,
        "failed" => ExitReason::Failed(detail.into()),
        "escalated" => ExitReason::Escalated(detail),
        "linked" => ExitReason::Failed(format!("linked: {detail}").into()),
        "noproc" => ExitReason::NoProc,
        "noconnection" => ExitReason::NoConnection,
        other => ExitReason::Failed(format!("{other}: {detail}").into()),
    }
}

fn encode(answer: &Answer) -> Bytes {
    // An enum of strings always serializes.
    Bytes::from(serde_json::to_vec(answer).unwrap_or_default())
}

/// Called once with the reason, when a monitor across hosts fires.
pub(crate) type Notify = Box<dyn FnOnce(ExitReason) + Send>;

/// One monitor this host holds on a component of another host.
struct Watch {
    target: ComponentId,
    /// The target's subject, where a demonitor goes.
    subject: String,
    /// The host that armed it, once it said so.
    host: Option<String>,
    /// When the request was sent (for [`ARM_WAIT`]).
    sent: tokio::time::Instant,
    notify: Notify,
}

/// The monitors this host holds on components of other hosts.
pub(crate) struct RemoteMonitors {
    broker: Arc<dyn MessageBroker<TopicMessage>>,
    /// `_INBOX.airssys-monitor.<host>`.
    inbox: String,
    /// `_INBOX.airssys-demonitor.<host>`.
    demonitor_inbox: String,
    membership: Option<Arc<dyn Membership>>,
    watches: Mutex<HashMap<u64, Watch>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl RemoteMonitors {
    /// Subscribes this host's monitor inbox (`host` names it) and starts
    /// the tasks that read the answers and watch the hosts.
    ///
    /// # Errors
    /// [`HostError::Broker`] when the inbox cannot be subscribed.
    pub(crate) fn start(
        broker: Arc<dyn MessageBroker<TopicMessage>>,
        host: &str,
        membership: Option<Arc<dyn Membership>>,
    ) -> Result<Arc<Self>, HostError> {
        let inbox = format!("{MONITOR_INBOX}{host}");
        let pattern = format!("{inbox}.>");
        let mut answers = broker
            .subscribe(&pattern)
            .map_err(|e| HostError::from_broker(&pattern, e))?;
        let monitors = Arc::new(Self {
            broker,
            demonitor_inbox: format!("{DEMONITOR_INBOX}{host}"),
            inbox,
            membership,
            watches: Mutex::default(),
            tasks: Mutex::default(),
        });
        let reader = Arc::downgrade(&monitors);
        let read = tokio::spawn(async move {
            while let Some(answer) = answers.recv().await {
                let Some(monitors) = reader.upgrade() else {
                    return;
                };
                monitors.answered(answer);
            }
        });
        let sweeper = Arc::downgrade(&monitors);
        let sweep = tokio::spawn(async move {
            loop {
                let changed = match sweeper.upgrade() {
                    Some(monitors) => monitors.membership.as_ref().map(|m| m.changed()),
                    None => return,
                };
                match changed {
                    Some(changed) => changed.await,
                    None => tokio::time::sleep(SWEEP_EVERY).await,
                }
                match sweeper.upgrade() {
                    Some(monitors) => monitors.sweep(),
                    None => return,
                }
            }
        });
        *monitors.tasks.lock() = vec![read, sweep];
        Ok(monitors)
    }

    /// Monitors component `target` of another host, reached on `subject`,
    /// as monitor `id` (from component `from`, if a guest asked): `notify`
    /// is called once, with the reason its current incarnation ended,
    /// `noproc` if no host runs it, `noconnection` if its host is lost.
    ///
    /// # Errors
    /// The broker's, when the request cannot be published (`target` makes
    /// no subject, or the connection is down); `notify` is dropped.
    pub(crate) fn monitor(
        &self,
        id: u64,
        from: Option<&ComponentId>,
        target: &str,
        subject: String,
        notify: Notify,
    ) -> Result<(), airssys_rt::broker::BrokerError> {
        self.watches.lock().insert(
            id,
            Watch {
                target: ComponentId::new(target),
                subject: subject.clone(),
                host: None,
                sent: tokio::time::Instant::now(),
                notify,
            },
        );
        let request = TopicMessage {
            sender: from.cloned(),
            payload: Bytes::new(),
            trace: None,
        };
        let reply = format!("{}.{id}", self.inbox);
        if let Err(error) = self.broker.publish_with_reply(&subject, &reply, request) {
            self.watches.lock().remove(&id);
            return Err(error);
        }
        Ok(())
    }

    /// Removes monitor `id`: `true` if it was still armed (its `notify`
    /// will never run); the target's host is told to let go of it.
    pub(crate) fn demonitor(&self, id: u64) -> bool {
        let Some(watch) = self.watches.lock().remove(&id) else {
            return false;
        };
        let reply = format!("{}.{id}", self.demonitor_inbox);
        let request = TopicMessage {
            sender: None,
            payload: Bytes::new(),
            trace: None,
        };
        if let Err(error) = self
            .broker
            .publish_with_reply(&watch.subject, &reply, request)
        {
            // The target's host keeps it until the incarnation ends, then
            // answers into an inbox that drops it.
            tracing::debug!(target = %watch.target, %error, "could not tell a host to drop a monitor");
        }
        true
    }

    /// Monitors held now on components of other hosts.
    pub(crate) fn len(&self) -> usize {
        self.watches.lock().len()
    }

    /// Stops reading answers and watching hosts (the host shuts down).
    pub(crate) fn close(&self) {
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }

    /// Fires monitor `id` with `reason`, once.
    fn fire(&self, id: u64, reason: ExitReason) {
        let watch = self.watches.lock().remove(&id);
        if let Some(watch) = watch {
            (watch.notify)(reason);
        }
    }

    /// An answer on this host's monitor inbox.
    fn answered(&self, message: BrokerMessage<TopicMessage>) {
        let Some(id) = message
            .subject
            .strip_prefix(self.inbox.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|id| id.parse::<u64>().ok())
        else {
            return;
        };
        if message.dead_letter.is_some() {
            // "No responders": no host serves the component.
            self.fire(id, ExitReason::NoProc);
            return;
        }
        match serde_json::from_slice::<Answer>(&message.payload.payload) {
            Ok(Answer::Armed { host }) => {
                if let Some(watch) = self.watches.lock().get_mut(&id) {
                    watch.host = Some(host);
                }
            }
            Ok(Answer::Down { reason, detail }) => self.fire(id, reason_from(&reason, detail)),
            Err(error) => {
                tracing::warn!(monitor = id, %error, "unreadable answer to a monitor request (a host of another version?)");
            }
        }
    }

    /// Fires `noconnection` for every monitor whose host is no longer live,
    /// and for every request nobody acknowledged within [`ARM_WAIT`].
    fn sweep(&self) {
        let now = tokio::time::Instant::now();
        let lost: Vec<u64> = {
            let watches = self.watches.lock();
            watches
                .iter()
                .filter(|(_, w)| match (&w.host, &self.membership) {
                    (None, _) => now.duration_since(w.sent) >= ARM_WAIT,
                    (Some(host), Some(membership)) => !host.is_empty() && !membership.is_live(host),
                    (Some(_), None) => false,
                })
                .map(|(id, _)| *id)
                .collect()
        };
        for id in lost {
            tracing::debug!(monitor = id, "the host of a monitored component was lost");
            self.fire(id, ExitReason::NoConnection);
        }
    }
}

impl Drop for RemoteMonitors {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().drain(..) {
            task.abort();
        }
    }
}

/// The monitors other hosts hold on one component served here, by their
/// reply subject's `<host>.<monitor id>`.
pub(crate) struct Watched {
    component: ComponentId,
    actor: ActorRef<ComponentActor>,
    broker: Arc<dyn MessageBroker<TopicMessage>>,
    /// Who this host is, asked when a monitor is armed (it may rejoin its
    /// cluster under a new name).
    membership: Option<Arc<dyn Membership>>,
    /// `None` while it is being armed.
    armed: Mutex<HashMap<Box<str>, Option<MonitorRef>>>,
}

impl Watched {
    pub(crate) fn new(
        component: ComponentId,
        actor: ActorRef<ComponentActor>,
        broker: Arc<dyn MessageBroker<TopicMessage>>,
        membership: Option<&Arc<dyn Membership>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            component,
            actor,
            broker,
            membership: membership.cloned(),
            armed: Mutex::default(),
        })
    }

    /// Takes `published` if it is a monitor or demonitor request of
    /// another host (its reply subject says so): arms the monitor on the
    /// component's actor and answers, or removes it. `false` for anything
    /// else (a send or a request for the guest).
    pub(crate) fn take(self: &Arc<Self>, published: &BrokerMessage<TopicMessage>) -> bool {
        let Some(reply) = published.reply_to.as_ref() else {
            return false;
        };
        if let Some(key) = reply.strip_prefix(MONITOR_INBOX) {
            self.arm(key, Arc::clone(reply));
            true
        } else if let Some(key) = reply.strip_prefix(DEMONITOR_INBOX) {
            let armed = self.armed.lock().remove(key).flatten();
            if let Some(monitor) = armed {
                self.actor.demonitor(monitor);
            }
            true
        } else {
            false
        }
    }

    /// Arms a monitor for the watcher whose reply subject is `reply`
    /// (`key` its `<host>.<monitor id>`) and says so on it.
    fn arm(self: &Arc<Self>, key: &str, reply: Arc<str>) {
        let answer = |answer: &Answer| TopicMessage {
            sender: Some(self.component.clone()),
            payload: encode(answer),
            trace: None,
        };
        let armed = answer(&Answer::Armed {
            host: self.membership.as_ref().map(|m| m.me()).unwrap_or_default(),
        });
        // Said before arming: a down that fires at once (the component is
        // gone) must come after it.
        if let Err(error) = self.broker.publish(&reply, armed) {
            tracing::debug!(component = %self.component, %error, "could not acknowledge a monitor");
        }
        let watched: Weak<Self> = Arc::downgrade(self);
        let key: Box<str> = Box::from(key);
        self.armed.lock().insert(key.clone(), None);
        let forget = key.clone();
        let monitor = self.actor.monitor_with(move |down| {
            let Some(watched) = watched.upgrade() else {
                return;
            };
            watched.armed.lock().remove(&forget);
            let message = TopicMessage {
                sender: Some(watched.component.clone()),
                payload: encode(&Answer::Down {
                    reason: down.reason.label().to_owned(),
                    detail: detail(&down.reason),
                }),
                trace: None,
            };
            if let Err(error) = watched.broker.publish(&reply, message) {
                tracing::debug!(component = %watched.component, %error, "could not tell a host of a down");
            }
        });
        let mut armed = self.armed.lock();
        match armed.get_mut(&key) {
            Some(slot) => *slot = Some(monitor),
            // Fired already (the callback removed it: harmless to
            // demonitor), or demonitored while it was being armed.
            None => {
                drop(armed);
                self.actor.demonitor(monitor);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_down_s_label_comes_back_as_its_reason() {
        assert_eq!(reason_from("shutdown", String::new()), ExitReason::Shutdown);
        assert_eq!(
            reason_from("failed", "wasm trap".into()),
            ExitReason::Failed("wasm trap".into())
        );
        assert_eq!(reason_from("noproc", String::new()), ExitReason::NoProc);
        assert_eq!(reason_from("linked", "failed: x".into()).label(), "failed");
        let wire = encode(&Answer::Down {
            reason: "failed".into(),
            detail: "boom".into(),
        });
        assert_eq!(
            std::str::from_utf8(&wire).unwrap(),
            r#"{"event":"down","reason":"failed","detail":"boom"}"#
        );
    }
}
