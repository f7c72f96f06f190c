//! [`PublishWaiting`]: the future of [`MessageBroker::publish_waiting`](super::MessageBroker::publish_waiting).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;

use super::{BrokerError, PublishReport};

/// What [`MessageBroker::publish_waiting`](super::MessageBroker::publish_waiting)
/// returns: a future of the publish's outcome.
///
/// A broker that takes (or refuses) the message without waiting, which is
/// the common case, returns the outcome itself ([`done`](Self::done)): no
/// allocation on a host's send path. Only a publish that has to wait for
/// room holds a boxed future ([`waiting`](Self::waiting)).
#[must_use = "a publish that waits does nothing unless awaited"]
pub struct PublishWaiting<'a>(State<'a>);

enum State<'a> {
    Done(Option<Result<PublishReport, BrokerError>>),
    Waiting(BoxFuture<'a, Result<PublishReport, BrokerError>>),
}

impl std::fmt::Debug for PublishWaiting<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            State::Done(_) => "PublishWaiting::Done",
            State::Waiting(_) => "PublishWaiting::Waiting",
        })
    }
}

impl<'a> PublishWaiting<'a> {
    /// A publish already taken or refused: ready at the first poll.
    pub fn done(outcome: Result<PublishReport, BrokerError>) -> Self {
        Self(State::Done(Some(outcome)))
    }

    /// A publish that completes when `waiting` does.
    pub fn waiting(
        waiting: impl Future<Output = Result<PublishReport, BrokerError>> + Send + 'a,
    ) -> Self {
        Self(State::Waiting(Box::pin(waiting)))
    }
}

impl Future for PublishWaiting<'_> {
    type Output = Result<PublishReport, BrokerError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Unpin: both states are (a boxed future is).
        match &mut self.get_mut().0 {
            // Polled again after it completed: pending for good, as a
            // fused future is (`futures::future::Fuse`).
            State::Done(outcome) => outcome.take().map_or(Poll::Pending, Poll::Ready),
            State::Waiting(waiting) => waiting.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn a_done_publish_is_ready_at_once_with_its_outcome() {
        let report = PublishWaiting::done(Ok(PublishReport::default()))
            .now_or_never()
            .expect("ready");
        assert!(report.is_ok());
    }

    #[tokio::test]
    async fn a_waiting_publish_completes_with_its_future() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let publish = PublishWaiting::waiting(async move {
            rx.await.map_err(|_| BrokerError::Transport {
                subject: "test".into(),
                reason: "dropped".into(),
            })?;
            Ok(PublishReport::default())
        });
        tx.send(()).unwrap();
        assert!(publish.await.is_ok());
    }
}
