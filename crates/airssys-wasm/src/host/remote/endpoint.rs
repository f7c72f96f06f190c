//! One component's end of its subject on a distributed broker: the
//! endpoint task that delivers what arrives (sends into the mailbox,
//! requests asked and answered), the direct path the broker's receiving
//! task takes for sends, and how an endpoint ends (a stop, a hand-over).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{
    BrokerMessage, DirectDelivery, DirectOutcome, MessageBroker, Subscription,
};
use airssys_rt::{ActorRef, DeadLetterReason, TrySendError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::lease::{is_send_inbox, Acks, SEND_LEASE};
use crate::host::actor::ComponentActor;
use crate::host::dead_letters::DeadLetterSink;
use crate::host::mailbox;
use crate::host::message::{self, ComponentMessage, Expects, TopicMessage};
use crate::host::remote_monitor::Watched;
use crate::id::ComponentId;

/// How long the broker's receiving task waits for room in a full mailbox
/// before it leaves the message (and those after it, until the component
/// catches up) to the component's endpoint (see [`direct_sends`]). A
/// 1,024-message mailbox frees an eighth of its room within this if its
/// component handles more than ~26,000 messages a second; meanwhile what
/// arrives waits in the NATS client's buffer (65,536 messages by default).
pub const REMOTE_ROOM_WAIT: Duration = Duration::from_millis(5);

/// How long a host waits for one of its components to handle a request that
/// came over the broker (the requester has its own, usually shorter, timeout).
pub(super) const REMOTE_HANDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How an endpoint is told to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// The component stopped: keep the subject while senders' leases may
    /// need it, dead-lettering what still comes.
    Stopped,
    /// The component moves to another host, already in the subject's queue
    /// group: drain now, delivering what the server sent before.
    HandOff,
}

/// A running endpoint: its pump, and the order that ends it.
pub(super) struct EndpointTask {
    pub(super) stop: oneshot::Sender<Stop>,
    pub(super) pump: JoinHandle<()>,
    pub(super) serving: Arc<AtomicBool>,
    /// Other hosts' monitors of the component.
    pub(super) watched: Arc<Watched>,
}

/// One component's end of its subject.
pub(super) struct Endpoint {
    pub(super) id: ComponentId,
    /// Other hosts' monitors of the component: their requests come on its
    /// subject and never reach the guest.
    pub(super) watched: Arc<Watched>,
    pub(super) actor: ActorRef<ComponentActor>,
    pub(super) max_message_bytes: usize,
    pub(super) broker: Arc<dyn MessageBroker<TopicMessage>>,
    pub(super) dead_letters: DeadLetterSink,
    pub(super) acks: Acks,
}

impl Endpoint {
    /// Delivers what arrives on the component's subject until told to stop;
    /// then, acknowledging nothing, until twice [`SEND_LEASE`] after its
    /// last acknowledgement; then drains the subscription (unsubscribed at
    /// the server, what was on its way still delivered) and ends.
    pub(super) async fn pump(
        self,
        mut subscription: Subscription<TopicMessage>,
        mut stop: oneshot::Receiver<Stop>,
    ) {
        let Some(stopped) = self.deliver_until(&mut subscription, &mut stop).await else {
            return;
        };
        // Handed off: another host has joined the subject's queue group
        // and takes what comes from now on; no grace needed.
        let handed_off = matches!(stopped, Ok(Stop::HandOff));
        if !handed_off {
            // No sender's lease outlives its acknowledgement by more than
            // SEND_LEASE: twice that leaves room for the messages on their way.
            let grace = tokio::time::sleep_until(match self.acks.last_acknowledged() {
                Some(at) => tokio::time::Instant::from_std(at + 2 * SEND_LEASE),
                None => tokio::time::Instant::now(),
            });
            if self.deliver_until(&mut subscription, grace).await.is_none() {
                return;
            }
        }
        // Unsubscribed at the server, and what it sent before still comes:
        // each is delivered or dead-lettered here, none dropped unseen.
        subscription.drain();
        while let Some(message) = subscription.recv().await {
            self.deliver(message).await;
        }
    }

    /// Delivers what arrives until `until` completes, and returns its
    /// output; `None` if the subscription ended first.
    async fn deliver_until<F: std::future::Future>(
        &self,
        subscription: &mut Subscription<TopicMessage>,
        until: F,
    ) -> Option<F::Output> {
        tokio::pin!(until);
        loop {
            tokio::select! {
                biased;
                out = &mut until => return Some(out),
                message = subscription.recv() => match message {
                    Some(message) => self.deliver(message).await,
                    None => return None,
                },
            }
        }
    }

    /// Delivers one message from the broker: a send is queued once the
    /// mailbox has room; a request is asked, and its
    /// reply published, before the next message is taken (the component
    /// handles one message at a time anyway).
    async fn deliver(&self, published: BrokerMessage<TopicMessage>) {
        // Those that came past the direct path were acknowledged there;
        // a second acknowledgement is rate-limited, and harmless.
        self.acks.arrived(&published);
        if self.watched.take(&published) {
            return;
        }
        let reply_to = published.reply_to.clone().filter(|r| !is_send_inbox(r));
        let expects = if reply_to.is_some() {
            Expects::Reply
        } else {
            Expects::Nothing
        };
        let message = message::message(
            published.payload.sender.clone(),
            published.payload.payload.clone(),
            expects,
            published.payload.trace.clone(),
        );
        let delivered = match mailbox::checked(self.max_message_bytes, message) {
            Err(refused) => {
                let why = refused.to_string();
                let message = *refused.message;
                if expects == Expects::Reply {
                    self.answer_failure(&published, &why);
                }
                self.dead_letters
                    .post(&self.id, message, DeadLetterReason::Rejected(why));
                return;
            }
            // Waits for mailbox room, as a local send from the façade does:
            // a busy component slows its own subject, and what the server
            // pushes meanwhile waits in the subscription's buffer (which
            // dead-letters, with the reason, if it overflows).
            Ok(message) if expects == Expects::Nothing => {
                if let Err(error) = self.actor.tell(ComponentMessage::Deliver(message)).await {
                    if let ComponentMessage::Deliver(message) = error.message {
                        self.dead_letters
                            .post(&self.id, message, DeadLetterReason::ActorStopped);
                    }
                }
                return;
            }
            Ok(message) => {
                mailbox::ask(
                    &self.actor,
                    ComponentMessage::Request(message),
                    REMOTE_HANDLE_TIMEOUT,
                )
                .await
            }
        };
        let reply = match delivered {
            Ok(reply) => reply.unwrap_or_default(),
            Err(error) => {
                // The handler's own failure was dead-lettered by the actor;
                // the requester learns of it now, not at its timeout.
                tracing::debug!(component = %self.id, %error, "remote request failed");
                self.answer_failure(&published, &error.to_string());
                return;
            }
        };
        let answer = TopicMessage {
            sender: Some(self.id.clone()),
            payload: reply,
            trace: None,
        };
        if let Err(error) = self.broker.reply(&published, answer) {
            tracing::warn!(component = %self.id, %error, "could not publish the reply to a remote request");
        }
    }
}

impl Endpoint {
    /// Tells the requester of `request` that it failed here, and why
    /// ([`DistributedBroker::reply_failure`](airssys_rt::broker::DistributedBroker::reply_failure));
    /// a broker that cannot carry it leaves the requester to its timeout.
    fn answer_failure(&self, request: &BrokerMessage<TopicMessage>, why: &str) {
        let Some(broker) = self.broker.distributed() else {
            tracing::debug!(component = %self.id, "a local broker carries no failed reply");
            return;
        };
        if let Err(error) = broker.reply_failure(request, why) {
            tracing::warn!(component = %self.id, %error, "could not tell a remote requester that its request failed");
        }
    }
}

/// The direct path of a component's subscription: a send (no reply
/// subject, or a host's send inbox) within the size limit goes into the
/// mailbox; if the mailbox is full, the broker's receiving task waits for
/// room, up to [`REMOTE_ROOM_WAIT`]. Anything else (a request, a payload
/// over the limit, a stopped component, or a mailbox still full after the
/// wait) is given back for the endpoint, which asks, waits for room, or
/// dead-letters with the reason.
///
/// Waiting here rather than queueing for the endpoint saves a task hop per
/// message for as long as a fast component is merely busy: without it a
/// mailbox that filled once sent every later message of a steady stream
/// through the endpoint (a third of host CPU per message more in the
/// `nats_tell` bench, `docs/performance.md`). A component too slow to free
/// room within the wait still gets the endpoint's path, whose queue
/// dead-letters what overflows, with the reason.
pub(super) fn direct_sends(
    actor: ActorRef<ComponentActor>,
    max_message_bytes: usize,
    acks: Acks,
) -> DirectDelivery<TopicMessage> {
    Arc::new(move |mut published: BrokerMessage<TopicMessage>| {
        acks.arrived(&published);
        let is_send = published.reply_to.as_deref().is_none_or(is_send_inbox);
        if !is_send || published.payload.payload.len() > max_message_bytes {
            return DirectOutcome::Refused(published);
        }
        // Moved, not copied: a refusal hands the message back, and it is
        // put back for the endpoint.
        let message = message::message(
            published.payload.sender.take(),
            std::mem::take(&mut published.payload.payload),
            Expects::Nothing,
            published.payload.trace.take(),
        );
        let give_back = |mut published: BrokerMessage<TopicMessage>, refused: ComponentMessage| {
            if let ComponentMessage::Deliver(message) = refused {
                published.payload = TopicMessage {
                    sender: message.sender,
                    payload: message.payload,
                    trace: message.trace,
                };
            }
            published
        };
        match actor.try_tell(ComponentMessage::Deliver(message)) {
            Ok(()) => DirectOutcome::Taken,
            Err(TrySendError::MailboxFull { message, .. }) => {
                let actor = actor.clone();
                let deadline = tokio::time::Instant::now() + REMOTE_ROOM_WAIT;
                DirectOutcome::Wait(Box::pin(async move {
                    actor
                        .tell_until(message, deadline)
                        .await
                        .map_err(|refused| give_back(published, refused.into_message()))
                }))
            }
            // Stopped (or a kind of refusal not known here): the endpoint
            // dead-letters it with the reason.
            Err(refused) => DirectOutcome::Refused(give_back(published, refused.into_message())),
        }
    })
}
