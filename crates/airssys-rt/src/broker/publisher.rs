//! [`SubjectPublisher`]: publishes to one subject, whose checks were made
//! once, for a sender that publishes to the same subject again and again.

use std::sync::Arc;

use super::{subject, BrokerError, MessageBroker, PublishReport, PublishWaiting};

/// A publisher bound to one subject and, optionally, one reply subject,
/// made by [`MessageBroker::publisher`]. What a broker does once per
/// subject (checking it, building its wire form) is done when the
/// publisher is made, not per message: a host's sends to a component on
/// another host go through one.
pub trait SubjectPublisher<M>: Send + Sync {
    /// The subject it publishes on.
    fn subject(&self) -> &str;

    /// As [`MessageBroker::publish`] on the bound subject, or
    /// [`MessageBroker::publish_with_reply`] with the bound reply subject
    /// when `with_reply` (and one was bound).
    ///
    /// # Errors
    /// As [`MessageBroker::publish`].
    fn publish(&self, msg: M, with_reply: bool) -> Result<PublishReport, BrokerError>;

    /// As [`MessageBroker::publish_waiting`] on the bound subject, with the
    /// bound reply subject when `with_reply` (and one was bound).
    fn publish_waiting(&self, msg: M, with_reply: bool) -> PublishWaiting<'_>;
}

/// The publisher of a broker without a faster one of its own: each
/// message goes through the broker's own methods.
pub(crate) struct BrokerPublisher<B: ?Sized> {
    broker: Arc<B>,
    subject: Box<str>,
    reply_to: Option<Box<str>>,
}

impl<B: ?Sized> BrokerPublisher<B> {
    /// Checks both subjects, then binds them to `broker`.
    pub(crate) fn new(
        broker: Arc<B>,
        subject: &str,
        reply_to: Option<&str>,
    ) -> Result<Self, BrokerError> {
        for name in std::iter::once(subject).chain(reply_to) {
            subject::validate_subject(name).map_err(|reason| BrokerError::InvalidSubject {
                subject: name.to_owned(),
                reason,
            })?;
        }
        Ok(Self {
            broker,
            subject: Box::from(subject),
            reply_to: reply_to.map(Box::from),
        })
    }

    fn reply(&self, with_reply: bool) -> Option<&str> {
        self.reply_to.as_deref().filter(|_| with_reply)
    }
}

impl<M, B> SubjectPublisher<M> for BrokerPublisher<B>
where
    M: Clone + Send + 'static,
    B: MessageBroker<M> + ?Sized,
{
    fn subject(&self) -> &str {
        &self.subject
    }

    fn publish(&self, msg: M, with_reply: bool) -> Result<PublishReport, BrokerError> {
        match self.reply(with_reply) {
            Some(reply_to) => self.broker.publish_with_reply(&self.subject, reply_to, msg),
            None => self.broker.publish(&self.subject, msg),
        }
    }

    fn publish_waiting(&self, msg: M, with_reply: bool) -> PublishWaiting<'_> {
        self.broker
            .publish_waiting(&self.subject, self.reply(with_reply), msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::InMemoryMessageBroker;

    #[tokio::test]
    async fn a_bound_publisher_checks_its_subjects_once_and_publishes_through_the_broker() {
        let broker: Arc<dyn MessageBroker<String>> = Arc::new(InMemoryMessageBroker::new());
        assert!(matches!(
            Arc::clone(&broker).publisher("bad.*", None),
            Err(BrokerError::InvalidSubject { .. })
        ));
        assert!(matches!(
            Arc::clone(&broker).publisher("ok", Some("re ply")),
            Err(BrokerError::InvalidSubject { .. })
        ));
        let mut sub = broker.subscribe("orders.new").unwrap();
        let publisher = Arc::clone(&broker)
            .publisher("orders.new", Some("answers"))
            .unwrap();
        assert_eq!(publisher.subject(), "orders.new");
        publisher.publish("1".to_owned(), false).unwrap();
        publisher
            .publish_waiting("2".to_owned(), true)
            .await
            .unwrap();
        let first = sub.recv().await.unwrap();
        assert_eq!(
            (first.payload.as_str(), first.reply_to.as_deref()),
            ("1", None)
        );
        let second = sub.recv().await.unwrap();
        assert_eq!(
            (second.payload.as_str(), second.reply_to.as_deref()),
            ("2", Some("answers"))
        );
    }
}
