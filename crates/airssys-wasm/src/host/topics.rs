//! [`TopicRouter`]: the host holds one broker subscription per subject
//! pattern and fans each message out to the mailboxes of the components
//! subscribed to it ("the actor system as primary subscriber").

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::broker::{BrokerMessage, MessageBroker, Subscription};
use airssys_rt::{ActorRef, TrySendError};
use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::actor::ComponentActor;
use super::dead_letters::{DeadLetterSink, UndeliveredReason};
use super::error::HostError;
use super::message::{ComponentMessage, TopicMessage};
use crate::guest::GuestMessage;
use crate::id::ComponentId;

type Subscribers = Arc<RwLock<Vec<(ComponentId, ActorRef<ComponentActor>)>>>;

/// What a topic's pump is told besides the broker's messages.
enum Control {
    /// A component leaves the topic.
    Leave(ComponentId),
    /// The topic has no subscribers left (or the host is shutting down):
    /// the pump ends.
    Close,
}

struct Topic {
    subscribers: Subscribers,
    control: mpsc::UnboundedSender<Control>,
    pump: JoinHandle<()>,
}

/// Subscriptions by pattern. Fan-out never waits: a full mailbox gets the
/// message dead-lettered (reason `mailbox_full`), so one slow component
/// cannot stall a topic for the others.
///
/// A component leaving a topic (stopped, or the host shutting down) first
/// gets its copy of every message already queued on the topic, published
/// while it was subscribed: delivered if its mailbox still takes it,
/// dead-lettered (`component_stopped`) if not. Nothing accepted is dropped
/// with the pump.
pub(crate) struct TopicRouter {
    broker: Arc<dyn MessageBroker<TopicMessage>>,
    dead_letters: DeadLetterSink,
    topics: Mutex<HashMap<String, Topic>>,
}

impl TopicRouter {
    pub(crate) fn new(
        broker: Arc<dyn MessageBroker<TopicMessage>>,
        dead_letters: DeadLetterSink,
    ) -> Self {
        Self {
            broker,
            dead_letters,
            topics: Mutex::new(HashMap::new()),
        }
    }

    /// Adds `component` to the subscribers of `pattern`, subscribing the
    /// host to the broker on the first one.
    pub(crate) fn subscribe(
        &self,
        pattern: &str,
        component: ComponentId,
        actor: ActorRef<ComponentActor>,
    ) -> Result<(), HostError> {
        let mut topics = self.topics.lock();
        if let Some(topic) = topics.get(pattern) {
            topic.subscribers.write().push((component, actor));
            return Ok(());
        }
        let subscription = self
            .broker
            .subscribe(pattern)
            .map_err(|e| HostError::from_broker(pattern, e))?;
        let subscribers: Subscribers = Arc::new(RwLock::new(vec![(component, actor)]));
        let (control, orders) = mpsc::unbounded_channel();
        let pump = tokio::spawn(pump(
            subscription,
            orders,
            Arc::clone(&subscribers),
            self.dead_letters.clone(),
        ));
        topics.insert(
            pattern.to_owned(),
            Topic {
                subscribers,
                control,
                pump,
            },
        );
        Ok(())
    }

    /// How many subscriptions of this host's components match `subject`
    /// (a component subscribed with two matching patterns counts twice,
    /// as it receives the message twice).
    pub(crate) fn subscribers_of(&self, subject: &str) -> usize {
        self.topics
            .lock()
            .iter()
            .filter(|(pattern, _)| airssys_rt::broker::subject::matches(pattern, subject))
            .map(|(_, topic)| topic.subscribers.read().len())
            .sum()
    }

    /// Removes `component` from every topic; a topic left without
    /// subscribers drops its broker subscription once what was queued on it
    /// is delivered or dead-lettered.
    pub(crate) fn unsubscribe_all(&self, component: &str) {
        let mut topics = self.topics.lock();
        topics.retain(|_, topic| {
            let subscribers = topic.subscribers.read();
            if !subscribers.iter().any(|(id, _)| id.as_str() == component) {
                return true;
            }
            let last = subscribers.len() == 1;
            drop(subscribers);
            // The pump removes it after delivering what is queued; a pump
            // that is gone already has nothing queued to deliver.
            let order = if last {
                Control::Close
            } else {
                Control::Leave(ComponentId::new(component))
            };
            let _ = topic.control.send(order);
            !last
        });
    }

    /// Ends every pump (at host shutdown) after it has delivered or
    /// dead-lettered what was queued, waiting up to `timeout` in all.
    pub(crate) async fn close(&self, timeout: Duration) {
        let pumps: Vec<JoinHandle<()>> = self
            .topics
            .lock()
            .drain()
            .map(|(_, topic)| {
                let _ = topic.control.send(Control::Close);
                topic.pump
            })
            .collect();
        let deadline = tokio::time::Instant::now() + timeout;
        for pump in pumps {
            let abort = pump.abort_handle();
            if tokio::time::timeout_at(deadline, pump).await.is_err() {
                tracing::warn!("a topic pump did not finish draining in time; aborted");
                abort.abort();
            }
        }
    }
}

/// Fans the topic's messages out until told to close. Control orders are
/// taken first, and each is carried out only after everything queued on the
/// subscription at that moment went to the subscribers as they were.
async fn pump(
    mut subscription: Subscription<TopicMessage>,
    mut orders: mpsc::UnboundedReceiver<Control>,
    subscribers: Subscribers,
    dead_letters: DeadLetterSink,
) {
    loop {
        tokio::select! {
            biased;
            order = orders.recv() => match order {
                Some(Control::Leave(component)) => {
                    while let Some(published) = subscription.try_recv() {
                        fan_out(published, &subscribers, &dead_letters);
                    }
                    subscribers.write().retain(|(id, _)| *id != component);
                }
                Some(Control::Close) | None => {
                    // Unsubscribe first, then drain: a publish racing with
                    // the close either lands in the queue (and is fanned
                    // out below) or finds the subscription gone (and the
                    // broker dead-letters it); none is dropped with it.
                    subscription.close();
                    while let Some(published) = subscription.recv().await {
                        fan_out(published, &subscribers, &dead_letters);
                    }
                    return;
                }
            },
            published = subscription.recv() => match published {
                Some(published) => fan_out(published, &subscribers, &dead_letters),
                None => return,
            },
        }
    }
}

/// Subjects that carry messages addressed to one component, not topic
/// publishes: `component.<id>` (a send or request between hosts) and
/// `durable.…` (a durable send or publish on its way into JetStream, which
/// its consumers deliver). A pattern as wide as `>` matches them on a
/// shared server; handing them to its subscribers would show them other
/// components' messages (and a durable one twice).
const ADDRESSED: [&str; 2] = [super::remote::COMPONENT_SUBJECT_PREFIX, "durable."];

/// Whether `subject` carries a message addressed elsewhere ([`ADDRESSED`]).
fn addressed(subject: &str) -> bool {
    ADDRESSED.iter().any(|p| subject.starts_with(p))
}

/// One copy per subscriber, without waiting; what a mailbox cannot take is
/// dead-lettered with the reason.
fn fan_out(
    published: BrokerMessage<TopicMessage>,
    subscribers: &Subscribers,
    dead_letters: &DeadLetterSink,
) {
    if addressed(&published.subject) {
        return;
    }
    let message = GuestMessage {
        sender: published.payload.sender,
        subject: Some(published.subject),
        correlation_id: None,
        redelivered: false,
        payload: published.payload.payload,
    };
    for (id, actor) in subscribers.read().iter() {
        if let Err(error) = actor.try_tell(ComponentMessage::Deliver(message.clone())) {
            let reason = match error {
                TrySendError::MailboxFull { .. } => UndeliveredReason::MailboxFull,
                _ => UndeliveredReason::ComponentStopped,
            };
            dead_letters.post(id, message.clone(), reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::addressed;

    #[test]
    fn addressed_subjects_are_not_topic_traffic() {
        assert!(addressed("component.pricing"));
        assert!(addressed("durable.component.pricing"));
        assert!(addressed("durable.topic.orders.eu"));
        assert!(!addressed("orders.eu"));
        assert!(!addressed("_airssys.deadletter"));
        assert!(!addressed("components.x"));
    }
}
