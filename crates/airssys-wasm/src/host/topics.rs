//! [`TopicRouter`]: the host holds one broker subscription per subject
//! pattern and fans each message out to the mailboxes of the components
//! subscribed to it ("the actor system as primary subscriber").

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use airssys_rt::broker::{BrokerMessage, MessageBroker, Subscription};
use airssys_rt::{ActorRef, TrySendError};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::actor::ComponentActor;
use super::dead_letters::DeadLetterSink;
use super::error::HostError;
use super::message::{ComponentMessage, TopicMessage};
use crate::id::ComponentId;
use airssys_rt::DeadLetterReason;

type Subscribers = Arc<RwLock<Vec<(ComponentId, ActorRef<ComponentActor>)>>>;

/// What a topic's pump is told besides the broker's messages. The sender
/// in each, if any, is told once the order is carried out.
enum Control {
    /// A component leaves the topic.
    Leave(ComponentId, Option<oneshot::Sender<()>>),
    /// The topic has no subscribers left (or the host is shutting down):
    /// the pump ends.
    Close(Option<oneshot::Sender<()>>),
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
/// dead-lettered (`actor_stopped`) if not. Nothing accepted is dropped
/// with the pump.
///
/// A pump belongs to its topic, not to a component: it lives from the
/// topic's first subscriber to its last one's leaving (or the host's
/// shutdown, which drains and ends every pump). It is supervised in place:
/// should the broker end its subscription while the topic is open, it
/// subscribes again (retrying with a backoff while the broker refuses);
/// should its fan-out panic, it carries on with the same subscription and
/// what was queued on it. Either is logged with the pattern and counted
/// ([`HostMetrics::topic_pump_restarts`](crate::metrics::HostMetrics::topic_pump_restarts)).
/// A copy for a subscriber that is not running any more (it ended on its
/// own and stays registered) is dead-lettered `actor_stopped`, naming it.
pub(crate) struct TopicRouter {
    broker: Arc<dyn MessageBroker<TopicMessage>>,
    dead_letters: DeadLetterSink,
    /// Pump restarts, shared with the host's metrics.
    restarts: Arc<AtomicU64>,
    topics: Mutex<HashMap<String, Topic>>,
    /// Patterns components subscribed to at run time before they were
    /// registered (from the `init` of their first instance), taken when
    /// they are ([`take_pending`](Self::take_pending)).
    pending: Mutex<HashMap<ComponentId, Vec<String>>>,
}

impl TopicRouter {
    pub(crate) fn new(
        broker: Arc<dyn MessageBroker<TopicMessage>>,
        dead_letters: DeadLetterSink,
        restarts: Arc<AtomicU64>,
    ) -> Self {
        Self {
            broker,
            dead_letters,
            restarts,
            topics: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
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
        self.open(&mut topics, pattern, component, actor)
    }

    /// Opens topic `pattern` (the host's broker subscription and its pump)
    /// with `component` its first subscriber.
    fn open(
        &self,
        topics: &mut HashMap<String, Topic>,
        pattern: &str,
        component: ComponentId,
        actor: ActorRef<ComponentActor>,
    ) -> Result<(), HostError> {
        let subscription = self
            .broker
            .subscribe(pattern)
            .map_err(|e| HostError::from_broker(pattern, e))?;
        let subscribers: Subscribers = Arc::new(RwLock::new(vec![(component, actor)]));
        let (control, orders) = mpsc::unbounded_channel();
        let pump = tokio::spawn(pump(
            subscription,
            orders,
            Pumped {
                subscribers: Arc::clone(&subscribers),
                dead_letters: self.dead_letters.clone(),
                broker: Arc::clone(&self.broker),
                restarts: Arc::clone(&self.restarts),
            },
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
                Control::Close(None)
            } else {
                Control::Leave(ComponentId::new(component), None)
            };
            let _ = topic.control.send(order);
            !last
        });
    }

    /// Adds `component` to the subscribers of `pattern` unless it is one
    /// already (`false` then: nothing changed). For run-time subscriptions,
    /// which are a set; a spec that lists a pattern twice
    /// ([`subscribe`](Self::subscribe)) receives it twice, as always.
    ///
    /// A component leaves a topic when its pump carries the order out, so
    /// an add racing with a pending unsubscribe of the same pattern (one
    /// whose answer nobody awaited) may be undone by it; callers that await
    /// [`unsubscribe`](Self::unsubscribe) never see that.
    pub(crate) fn add(
        &self,
        pattern: &str,
        component: ComponentId,
        actor: ActorRef<ComponentActor>,
    ) -> Result<bool, HostError> {
        let mut topics = self.topics.lock();
        if let Some(topic) = topics.get(pattern) {
            let mut subscribers = topic.subscribers.write();
            if subscribers.iter().any(|(id, _)| *id == component) {
                return Ok(false);
            }
            subscribers.push((component, actor));
            return Ok(true);
        }
        self.open(&mut topics, pattern, component, actor)?;
        Ok(true)
    }

    /// Ends `component`'s subscription to exactly `pattern`. `None` when it
    /// had none; else a receiver told once the topic's pump has carried the
    /// order out: every message the topic had taken by then went to the
    /// component (or was dead-lettered), and none after reaches it. The
    /// last subscriber of a pattern takes the host's broker subscription
    /// with it.
    pub(crate) fn unsubscribe(
        &self,
        pattern: &str,
        component: &str,
    ) -> Option<oneshot::Receiver<()>> {
        let mut topics = self.topics.lock();
        let topic = topics.get(pattern)?;
        let subscribers = topic.subscribers.read();
        if !subscribers.iter().any(|(id, _)| id.as_str() == component) {
            return None;
        }
        let last = subscribers.iter().all(|(id, _)| id.as_str() == component);
        drop(subscribers);
        let (done, left) = oneshot::channel();
        let order = if last {
            Control::Close(Some(done))
        } else {
            Control::Leave(ComponentId::new(component), Some(done))
        };
        // A pump that is gone has nothing queued: the dropped sender
        // resolves the receiver at once.
        let _ = topic.control.send(order);
        if last {
            topics.remove(pattern);
        }
        Some(left)
    }

    /// The patterns `component` is subscribed to here, sorted (each once).
    /// O(topics).
    pub(crate) fn patterns_of(&self, component: &str) -> Vec<String> {
        let mut patterns: Vec<String> = self
            .topics
            .lock()
            .iter()
            .filter(|(_, topic)| {
                topic
                    .subscribers
                    .read()
                    .iter()
                    .any(|(id, _)| id.as_str() == component)
            })
            .map(|(pattern, _)| pattern.clone())
            .collect();
        patterns.sort_unstable();
        patterns
    }

    /// Opens the record of what `component`'s first instance subscribes to
    /// from its `init`, before it is registered (emptying what an earlier,
    /// failed spawn of the id left: such a record outlives no instance that
    /// could add to it, so it only waits here for the id's next spawn).
    pub(crate) fn expect(&self, component: &ComponentId) {
        self.pending.lock().insert(component.clone(), Vec::new());
    }

    /// Keeps `pattern` for `component`, being spawned and not registered
    /// yet, until it is. `false` when no spawn of it is under way (the
    /// component is stopping or gone). A pattern kept already is not kept
    /// twice.
    pub(crate) fn keep_pending(&self, component: &ComponentId, pattern: &str) -> bool {
        let mut pending = self.pending.lock();
        let Some(kept) = pending.get_mut(component) else {
            return false;
        };
        if !kept.iter().any(|p| p == pattern) {
            kept.push(pattern.to_owned());
        }
        true
    }

    /// Ends `id`'s subscription to `pattern` (or what was kept of it
    /// before `id` was registered), once its topic has carried the order
    /// out; whether it had it.
    pub(crate) async fn leave(&self, id: &str, pattern: &str) -> bool {
        if self.drop_pending(id, pattern) {
            return true;
        }
        match self.unsubscribe(pattern, id) {
            Some(left) => {
                // An error means the pump is gone: nothing left to deliver.
                let _ = left.await;
                true
            }
            None => false,
        }
    }

    /// Removes `pattern` from what is kept for `component`; `true` if it was.
    pub(crate) fn drop_pending(&self, component: &str, pattern: &str) -> bool {
        let mut pending = self.pending.lock();
        let Some(kept) = pending.get_mut(component) else {
            return false;
        };
        let before = kept.len();
        kept.retain(|p| p != pattern);
        before != kept.len()
    }

    /// Takes what was kept for `component` and closes its record (at its
    /// registration).
    pub(crate) fn take_pending(&self, component: &str) -> Vec<String> {
        self.pending.lock().remove(component).unwrap_or_default()
    }

    /// Ends every pump (at host shutdown) after it has delivered or
    /// dead-lettered what was queued, waiting up to `timeout` in all.
    pub(crate) async fn close(&self, timeout: Duration) {
        let pumps: Vec<JoinHandle<()>> = self
            .topics
            .lock()
            .drain()
            .map(|(_, topic)| {
                let _ = topic.control.send(Control::Close(None));
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

/// What a pump works with besides its subscription and its orders.
struct Pumped {
    subscribers: Subscribers,
    dead_letters: DeadLetterSink,
    /// To subscribe again when the broker ends the subscription.
    broker: Arc<dyn MessageBroker<TopicMessage>>,
    restarts: Arc<AtomicU64>,
}

/// How [`serve`] returned.
enum Served {
    /// Told to close: the subscription is drained and gone.
    Closed,
    /// The broker ended the subscription while the topic is open.
    Lost,
}

/// Backoff between attempts to subscribe again, doubling up to the cap.
const RESUBSCRIBE_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(10), Duration::from_secs(1));

/// A topic's pump: [`serve`] until told to close, restarted in place when
/// it returns for any other reason (see [`TopicRouter`]).
async fn pump(
    mut subscription: Subscription<TopicMessage>,
    mut orders: mpsc::UnboundedReceiver<Control>,
    pumped: Pumped,
) {
    loop {
        let served = AssertUnwindSafe(serve(&mut subscription, &mut orders, &pumped))
            .catch_unwind()
            .await;
        let pattern = subscription.pattern().to_owned();
        match served {
            Ok(Served::Closed) => return,
            Ok(Served::Lost) => {
                pumped.restarts.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%pattern, "the broker ended a topic's subscription; subscribing again");
                match resubscribe(&pattern, &mut orders, &pumped).await {
                    Some(fresh) => subscription = fresh,
                    None => return,
                }
            }
            Err(panic) => {
                pumped.restarts.fetch_add(1, Ordering::Relaxed);
                let panic = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(%pattern, %panic, "a topic pump panicked; it carries on with its subscription");
            }
        }
    }
}

/// Subscribes to `pattern` again, retrying with a backoff while the broker
/// refuses; orders are carried out meanwhile (nothing is queued to deliver
/// first). `None` when told to close before it could.
async fn resubscribe(
    pattern: &str,
    orders: &mut mpsc::UnboundedReceiver<Control>,
    pumped: &Pumped,
) -> Option<Subscription<TopicMessage>> {
    let (mut backoff, cap) = RESUBSCRIBE_BACKOFF;
    loop {
        match pumped.broker.subscribe(pattern) {
            Ok(fresh) => return Some(fresh),
            Err(error) => {
                tracing::error!(%pattern, %error, ?backoff, "a topic pump could not subscribe again; retrying");
            }
        }
        let retry = tokio::time::sleep(backoff);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                order = orders.recv() => match order {
                    Some(Control::Leave(component, done)) => {
                        pumped.subscribers.write().retain(|(id, _)| *id != component);
                        if let Some(done) = done {
                            let _ = done.send(());
                        }
                    }
                    Some(Control::Close(done)) => {
                        if let Some(done) = done {
                            let _ = done.send(());
                        }
                        return None;
                    }
                    None => return None,
                },
                () = &mut retry => break,
            }
        }
        backoff = (backoff * 2).min(cap);
    }
}

/// Fans the topic's messages out until told to close (or until the broker
/// ends the subscription). Control orders are taken first, and each is
/// carried out only after everything queued on the subscription at that
/// moment went to the subscribers as they were.
async fn serve(
    subscription: &mut Subscription<TopicMessage>,
    orders: &mut mpsc::UnboundedReceiver<Control>,
    pumped: &Pumped,
) -> Served {
    let Pumped {
        subscribers,
        dead_letters,
        ..
    } = pumped;
    loop {
        tokio::select! {
            biased;
            order = orders.recv() => match order {
                Some(Control::Leave(component, done)) => {
                    while let Some(published) = subscription.try_recv() {
                        fan_out(published, subscribers, dead_letters);
                    }
                    subscribers.write().retain(|(id, _)| *id != component);
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                closing => {
                    // Unsubscribe first, then drain: a publish racing with
                    // the close either lands in the queue (and is fanned
                    // out below) or finds the subscription gone (and the
                    // broker dead-letters it); none is dropped with it.
                    subscription.close();
                    while let Some(published) = subscription.recv().await {
                        fan_out(published, subscribers, dead_letters);
                    }
                    if let Some(Control::Close(Some(done))) = closing {
                        let _ = done.send(());
                    }
                    return Served::Closed;
                }
            },
            published = subscription.recv() => match published {
                Some(published) => fan_out(published, subscribers, dead_letters),
                None => return Served::Lost,
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
const ADDRESSED: [&str; 2] = [super::message::COMPONENT_SUBJECT_PREFIX, "durable."];

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
    let message = super::message::published(published.subject, published.payload);
    for (id, actor) in subscribers.read().iter() {
        if let Err(error) = actor.try_tell(ComponentMessage::Publish(message.clone())) {
            let reason = match error {
                TrySendError::MailboxFull { .. } => DeadLetterReason::MailboxFull,
                _ => DeadLetterReason::ActorStopped,
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
