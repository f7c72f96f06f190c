//! The one path a message takes to a component, whoever sends it: the
//! host's façade, a [`ComponentRef`](super::ComponentRef), a guest's
//! `send`/`request` import (through the [`Router`](super::router::Router)),
//! or a hand-over. The broker's receiving side
//! ([`RemoteRoutes`](super::remote::RemoteRoutes)) uses the same steps
//! below the resolution.
//!
//! 1. **Resolve** the target: a durable store, a component of this host
//!    (read in place in the registry), or, with a distributed broker,
//!    another host.
//! 2. **Check** the payload against the target's `max_message_bytes`,
//!    once ([`checked`]): the guest instance does not check it again.
//! 3. **Build** the [`GuestMessage`](crate::GuestMessage) once ([`message`]).
//! 4. **Enqueue** it (a send) or **ask** it (a request, which
//!    [`Expects::Reply`]), under one timer: the ask's own deadline, or the
//!    broker request's.
//!
//! A component that ended on its own (see [`ComponentEnd`](super::ComponentEnd))
//! is resolved and refused at once as [`Undelivered::Stopped`], with the
//! payload: one atomic load per send, so that a send to one whose mailbox
//! its group still holds is not queued for nobody.
//!
//! Every step ends in a typed [`Undelivered`] when it fails; the callers
//! only translate it: the façade into a [`HostError`](super::HostError),
//! a guest's import into a [`HostCallError`](crate::HostCallError) (its
//! code).

use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::BrokerError;
use airssys_rt::{ActorRef, TrySendError};
use bytes::Bytes;

use super::actor::ComponentActor;
use super::durable::DurableSends;
use super::lifecycle::SharedLifecycle;
use super::mailbox::{ask, checked, tell, try_tell, Undelivered};
use super::message::{message, payload_of, ComponentMessage, Expects};
use super::registry::ComponentRegistry;
use super::remote::RemoteRoutes;
use crate::guest::GuestMessage;
use crate::id::ComponentId;

/// A component of this host as a target: what a [`ComponentRef`](super::ComponentRef)
/// holds, so that it never looks itself up again.
#[derive(Clone)]
pub(crate) struct Local {
    pub(crate) actor: ActorRef<ComponentActor>,
    pub(crate) max_message_bytes: usize,
    /// Its lifecycle: a component that ended on its own is refused.
    pub(crate) lifecycle: Arc<SharedLifecycle>,
}

/// Resolves targets and delivers to them: one per host, shared by the
/// façade and the guests' imports.
pub(crate) struct Delivery {
    pub(crate) registry: Arc<ComponentRegistry>,
    /// Set when the broker is distributed: ids not in the registry are
    /// tried on other hosts through it.
    pub(crate) remote: Option<Arc<RemoteRoutes>>,
    /// Where sends to durable components go, if anywhere.
    pub(crate) durable: Option<Arc<dyn DurableSends>>,
}

impl Delivery {
    /// The durable store, if `to` is a durable component.
    fn durable_for(&self, to: &str) -> Option<&Arc<dyn DurableSends>> {
        self.durable.as_ref().filter(|d| d.is_durable(to))
    }

    /// A guest's send: never waits. A full mailbox is
    /// [`Undelivered::MailboxFull`] for the guest to handle; a send to
    /// another host is published (a "no responders" comes back later as a
    /// dead letter `no_such_target`).
    ///
    /// # Errors
    /// Any [`Undelivered`] but a timeout or a handler's failure.
    pub(crate) fn try_send(
        &self,
        from: &ComponentId,
        to: &str,
        payload: Bytes,
    ) -> Result<(), Undelivered> {
        if let Some(durable) = self.durable_for(to) {
            return durable
                .send(Some(from), to, payload)
                .map_err(Undelivered::NotStored);
        }
        // Read in place under the registry's read lock (never waits): no
        // clone of the entry per message.
        let mut payload = Some(payload);
        let sent = self.registry.with(to, |target| {
            let payload = payload.take().unwrap_or_default();
            let payload = still_open(&target.template.lifecycle, payload)?;
            let built = message(
                Some(from.clone()),
                payload,
                Expects::Nothing,
                crate::trace::outgoing(),
            );
            try_tell(&target.actor, checked(target.max_message_bytes, built)?)
        });
        match (sent, &self.remote, payload) {
            (Some(sent), _, _) => sent,
            (None, Some(remote), Some(payload)) => {
                remote
                    .send(from, to, payload)
                    .map_err(|error| Undelivered::Remote {
                        error,
                        payload: None,
                    })
            }
            (None, _, payload) => Err(Undelivered::NoSuchTarget { payload }),
        }
    }

    /// The host's own send: waits for mailbox room (or, to another host,
    /// for room in the broker's outbound queue; to a durable component,
    /// for the store's confirmation).
    ///
    /// # Errors
    /// [`Undelivered::NoSuchTarget`], [`Undelivered::TooLarge`],
    /// [`Undelivered::Stopped`], [`Undelivered::NotStored`],
    /// [`Undelivered::Remote`].
    ///
    /// # Cancel safety
    /// Dropped while waiting for mailbox room, the payload is dropped with
    /// it and was never accepted.
    pub(crate) async fn send(&self, to: &str, payload: Bytes) -> Result<(), Undelivered> {
        cooperate().await;
        if let Some(durable) = self.durable_for(to) {
            return durable
                .send_stored(None, to, payload)
                .await
                .map_err(Undelivered::NotStored);
        }
        // Tried in place, under the registry's read lock, without cloning
        // the entry; only a full mailbox takes the actor out to wait.
        let mut payload = Some(payload);
        let tried = self.registry.with(to, |target| {
            let payload = payload.take().unwrap_or_default();
            let payload = still_open(&target.template.lifecycle, payload)?;
            let built = message(None, payload, Expects::Nothing, crate::trace::outgoing());
            let built = checked(target.max_message_bytes, built)?;
            match target.actor.try_tell(ComponentMessage::Deliver(built)) {
                Ok(()) => Ok(None),
                Err(TrySendError::MailboxFull { message, .. }) => {
                    Ok(Some((target.actor.clone(), message)))
                }
                Err(refused) => Err(Undelivered::Stopped {
                    payload: payload_of(refused.into_message()),
                }),
            }
        });
        match (tried, &self.remote, payload) {
            (Some(Ok(None)), _, _) => Ok(()),
            (Some(Ok(Some((actor, waiting)))), _, _) => tell(&actor, waiting).await,
            (Some(Err(refused)), _, _) => Err(refused),
            (None, Some(remote), Some(payload)) => remote
                .send_waiting(to, payload)
                .await
                .map_err(|(error, payload)| Undelivered::Remote { error, payload }),
            (None, _, payload) => Err(Undelivered::NoSuchTarget { payload }),
        }
    }

    /// The host's send to a component it holds a handle to (no lookup),
    /// waiting for mailbox room; durable components still go to their
    /// store.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub(crate) async fn send_to(
        &self,
        to: &ComponentId,
        target: &Local,
        payload: Bytes,
    ) -> Result<(), Undelivered> {
        cooperate().await;
        if let Some(durable) = self.durable_for(to.as_str()) {
            return durable
                .send_stored(None, to.as_str(), payload)
                .await
                .map_err(Undelivered::NotStored);
        }
        let payload = still_open(&target.lifecycle, payload)?;
        let built = message(None, payload, Expects::Nothing, crate::trace::outgoing());
        let built = checked(target.max_message_bytes, built)?;
        match target.actor.try_tell(ComponentMessage::Deliver(built)) {
            Ok(()) => Ok(()),
            Err(TrySendError::MailboxFull { message, .. }) => tell(&target.actor, message).await,
            Err(refused) => Err(Undelivered::Stopped {
                payload: payload_of(refused.into_message()),
            }),
        }
    }

    /// A request from `from` (`None`: the host) to `to`, resolved, checked
    /// and built now (so the trace context is the caller's), answered by
    /// the returned future within `timeout`: the guest's reply (`None` if
    /// it gave none; from another host, `Some`, empty if it gave none).
    /// One timer: the ask's deadline, or the broker request's.
    pub(crate) fn request(
        &self,
        from: Option<&ComponentId>,
        to: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<Option<Bytes>, Undelivered>> + Send + 'static
    {
        let resolved = match self.registry.route(to) {
            Some(route) if route.ended => Err(Undelivered::Stopped {
                payload: Some(payload),
            }),
            Some(route) => {
                let built = message(
                    from.cloned(),
                    payload,
                    Expects::Reply,
                    crate::trace::outgoing(),
                );
                checked(route.max_message_bytes, built)
                    .map(|m| Pending::Local(route.actor, m))
                    .map_err(Undelivered::from)
            }
            None => match &self.remote {
                Some(remote) => Ok(Pending::Remote(
                    remote.request(from, to, payload.clone(), timeout),
                    payload,
                )),
                None => Err(Undelivered::NoSuchTarget {
                    payload: Some(payload),
                }),
            },
        };
        async move {
            match resolved? {
                Pending::Local(actor, message) => {
                    ask(&actor, ComponentMessage::Request(message), timeout).await
                }
                Pending::Remote(reply, payload) => {
                    reply.await.map(Some).map_err(|error| Undelivered::Remote {
                        error,
                        payload: Some(payload),
                    })
                }
            }
        }
    }

    /// A request to a component this host holds a handle to (no lookup).
    pub(crate) fn request_to(
        target: &Local,
        payload: Bytes,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<Option<Bytes>, Undelivered>> + Send + 'static
    {
        let resolved = still_open(&target.lifecycle, payload).and_then(|payload| {
            let built = message(None, payload, Expects::Reply, crate::trace::outgoing());
            checked(target.max_message_bytes, built)
                .map(|m| (target.actor.clone(), m))
                .map_err(Undelivered::from)
        });
        async move {
            let (actor, message) = resolved?;
            ask(&actor, ComponentMessage::Request(message), timeout).await
        }
    }
}

/// `payload` back, or [`Undelivered::Stopped`] with it when the component
/// ended on its own: one atomic load, so that a send to one whose mailbox
/// its group still holds is not queued for nobody.
fn still_open(lifecycle: &SharedLifecycle, payload: Bytes) -> Result<Bytes, Undelivered> {
    if lifecycle.is_ended() {
        Err(Undelivered::Stopped {
            payload: Some(payload),
        })
    } else {
        Ok(payload)
    }
}

/// A request resolved and built, waiting to be asked.
enum Pending {
    Local(ActorRef<ComponentActor>, GuestMessage),
    /// The broker's request under way, and the payload to hand back if it
    /// fails.
    Remote(crate::guest::BoxFuture<Result<Bytes, BrokerError>>, Bytes),
}

/// Spends a unit of tokio's cooperative budget, as a send on a tokio
/// channel does; yields when the task has spent it all.
///
/// The host's sends that find mailbox room never wait, so without it a task
/// sending in a loop would never yield, and the other tasks of its worker
/// (the components it sends to among them) would wait until it is done.
/// Awaited before the send: dropped there, nothing was sent.
async fn cooperate() {
    tokio::task::coop::consume_budget().await;
}
