//! [`TopicRouter`]: the host holds one broker subscription per subject
//! pattern and fans each message out to the mailboxes of the components
//! subscribed to it ("the actor system as primary subscriber").

use std::collections::HashMap;
use std::sync::Arc;

use airssys_rt::broker::MessageBroker;
use airssys_rt::{ActorRef, TrySendError};
use parking_lot::{Mutex, RwLock};
use tokio::task::JoinHandle;

use super::actor::ComponentActor;
use super::dead_letters::{DeadLetterSink, UndeliveredReason};
use super::error::HostError;
use super::message::{ComponentMessage, TopicMessage};
use crate::guest::GuestMessage;
use crate::id::ComponentId;

type Subscribers = Arc<RwLock<Vec<(ComponentId, ActorRef<ComponentActor>)>>>;

struct Topic {
    subscribers: Subscribers,
    pump: JoinHandle<()>,
}

/// Subscriptions by pattern. Fan-out never waits: a full mailbox gets the
/// message dead-lettered (reason `mailbox_full`), so one slow component
/// cannot stall a topic for the others.
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
        let mut subscription = self
            .broker
            .subscribe(pattern)
            .map_err(|e| HostError::from_broker(pattern, e))?;
        let subscribers: Subscribers = Arc::new(RwLock::new(vec![(component, actor)]));
        let fan_out = Arc::clone(&subscribers);
        let dead_letters = self.dead_letters.clone();
        let pump = tokio::spawn(async move {
            while let Some(published) = subscription.recv().await {
                let message = GuestMessage {
                    sender: published.payload.sender,
                    subject: Some(published.subject),
                    correlation_id: None,
                    payload: published.payload.payload,
                };
                for (id, actor) in fan_out.read().iter() {
                    if let Err(error) = actor.try_tell(ComponentMessage::Deliver(message.clone())) {
                        let reason = match error {
                            TrySendError::MailboxFull { .. } => UndeliveredReason::MailboxFull,
                            _ => UndeliveredReason::ComponentStopped,
                        };
                        dead_letters.post(id, message.clone(), reason);
                    }
                }
            }
        });
        topics.insert(pattern.to_owned(), Topic { subscribers, pump });
        Ok(())
    }

    /// Removes `component` from every topic; a topic left without
    /// subscribers drops its broker subscription.
    pub(crate) fn unsubscribe_all(&self, component: &str) {
        let mut topics = self.topics.lock();
        topics.retain(|_, topic| {
            let mut subscribers = topic.subscribers.write();
            subscribers.retain(|(id, _)| id.as_str() != component);
            if subscribers.is_empty() {
                topic.pump.abort();
                false
            } else {
                true
            }
        });
    }

    /// Stops every pump (at host shutdown).
    pub(crate) fn close(&self) {
        for (_, topic) in self.topics.lock().drain() {
            topic.pump.abort();
        }
    }
}
