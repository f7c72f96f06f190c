//! Messages from the host to its components: [`ComponentHost::send`],
//! [`ComponentHost::request`] and [`ComponentHost::publish`], each on the
//! one delivery path ([`deliver`](super::deliver)).

use std::time::Duration;

use airssys_rt::broker::PublishReport;
use bytes::Bytes;

use super::error::HostError;
use super::facade::ComponentHost;
use super::message::TopicMessage;

impl ComponentHost {
    /// Sends `payload` to component `to`, waiting for mailbox room.
    ///
    /// With a distributed broker, an id this host does not run is sent to
    /// the host that runs it (waiting, if need be, for room in the broker's
    /// outbound queue); if no host runs it, that is counted as a dead letter
    /// `no_such_target` when the server says so.
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`], [`HostError::MessageTooLarge`],
    /// [`HostError::ComponentStopped`]; each hands the payload back
    /// ([`HostError::into_payload`]).
    ///
    /// # Cancel safety
    /// Dropped while waiting for mailbox room, the payload is dropped with
    /// it and was never accepted.
    pub async fn send(&self, to: &str, payload: impl Into<Bytes>) -> Result<(), HostError> {
        self.inner
            .delivery
            .send(to, payload.into())
            .await
            .map_err(|e| e.into_host_error(to))
    }

    /// Sends `payload` to `to` and waits up to `timeout` for the guest's reply
    /// (`None` if it handled the message without replying).
    ///
    /// With a distributed broker, an id this host does not run is asked of
    /// the host that runs it (its reply is `Some`, empty if the guest gave
    /// none); an id no host runs is [`HostError::UnknownComponent`] at once.
    ///
    /// # Errors
    /// As [`send`](Self::send), plus [`HostError::Timeout`] and
    /// [`HostError::HandlerFailed`] with the typed cause (the guest trapped,
    /// timed out, hit its memory cap or returned an error code); for a
    /// component on another host, [`HostError::RemoteFailed`] with that
    /// host's account of the cause.
    pub async fn request(
        &self,
        to: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Option<Bytes>, HostError> {
        self.inner
            .delivery
            .request(None, to, payload.into(), timeout)
            .await
            .map_err(|e| e.into_host_error(to))
    }

    /// Publishes `payload` on `subject`; every component subscribed to a
    /// matching pattern receives it.
    ///
    /// On a durable topic (see [`DurableSends`](super::DurableSends)) it is
    /// handed to the store instead, without waiting; the report counts the
    /// subscribing components that will each receive it.
    ///
    /// # Errors
    /// [`HostError::InvalidSubject`]; [`HostError::Broker`] when the
    /// broker's transport failed; [`HostError::PublishNotStored`] when the
    /// durable store cannot take it.
    pub fn publish(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<PublishReport, HostError> {
        if let Some(durable) = self
            .inner
            .durable
            .as_ref()
            .filter(|d| d.is_durable_topic(subject))
        {
            return durable
                .publish(None, subject, payload.into())
                .map(|n| PublishReport::new(n, n, 0))
                .map_err(|e| HostError::PublishNotStored {
                    subject: subject.to_owned(),
                    reason: e.reason,
                });
        }
        self.inner
            .broker
            .publish(subject, TopicMessage::new(payload))
            .map_err(|e| HostError::from_broker(subject, e))
    }

    /// How many of this host's components receive a publish on `subject`
    /// (one per matching subscription); other hosts' are not counted.
    pub fn subscribers_of(&self, subject: &str) -> usize {
        self.inner.topics.subscribers_of(subject)
    }

    /// Whether publishes on `subject` go to the durable store (a durable
    /// topic on a cluster host) rather than the broker.
    pub fn is_durable_topic(&self, subject: &str) -> bool {
        self.inner
            .durable
            .as_ref()
            .is_some_and(|d| d.is_durable_topic(subject))
    }
}
