//! Host to host: the requests one cluster host makes of another, over core
//! NATS on the subject `<prefix>._airssys.host.<host id>`, in JSON.
//!
//! Only the host itself subscribes its subject, so a request to a host that
//! is gone gets the server's "no responders" at once.

use std::time::Duration;

use airssys_nats::async_nats::{self, Client};
use airssys_wasm::host::ComponentInfo;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// What one host asks of another.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PeerRequest {
    /// Take messages for unit `unit`'s components and hold them: the unit
    /// is about to be handed over to you.
    Prepare {
        /// The unit's key.
        unit: String,
    },
    /// The hand-over of `unit` was called off: deliver what you hold to
    /// whoever runs it.
    Cancel {
        /// The unit's key.
        unit: String,
    },
    /// Your components.
    List,
    /// Stop component `id` for good (as `ctl stop` on that host).
    Stop {
        /// The component.
        id: String,
    },
    /// Restart component `id` (as `ctl restart` on that host).
    Restart {
        /// The component.
        id: String,
    },
    /// Subscribe component `id` to `pattern` (as `ctl subscribe` on that host).
    Subscribe {
        /// The component.
        id: String,
        /// The subject pattern.
        pattern: String,
    },
    /// End component `id`'s subscription to `pattern`.
    Unsubscribe {
        /// The component.
        id: String,
        /// The subject pattern.
        pattern: String,
    },
}

/// Why a host refused a subscription change: the kind of its error.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SubscriptionRefusal {
    /// Outside the component's subscribe grants.
    Denied,
    /// Not a valid pattern.
    Invalid,
    /// No such component there (any more).
    Unknown,
    /// Anything else (the broker, shutting down).
    Other,
}

/// One component as a host reports it to another.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerComponent {
    /// Its id.
    pub id: String,
    /// Its lifecycle state's label.
    pub state: String,
    /// Restarts so far.
    pub restarts: u64,
    /// Messages handled.
    pub handled: u64,
    /// Messages that failed their handler.
    pub failed: u64,
    /// Messages queued.
    pub mailbox: usize,
    /// Messages its permissions refused.
    #[serde(default)]
    pub denied: u64,
    /// Live upgrades so far.
    #[serde(default)]
    pub upgrades: u64,
}

impl From<&ComponentInfo> for PeerComponent {
    fn from(c: &ComponentInfo) -> Self {
        Self {
            id: c.id.to_string(),
            state: c.state.label().to_owned(),
            restarts: c.restarts,
            handled: c.handled,
            failed: c.failed,
            mailbox: c.mailbox_len,
            denied: c.denied,
            upgrades: c.upgrades,
        }
    }
}

/// The answer to a [`PeerRequest`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum PeerReply {
    /// Done.
    Ok,
    /// The components, for [`PeerRequest::List`].
    Components {
        /// Each component.
        components: Vec<PeerComponent>,
    },
    /// Refused, with why.
    Error {
        /// Why.
        error: String,
    },
    /// A subscription changed, for [`PeerRequest::Subscribe`] and
    /// [`PeerRequest::Unsubscribe`].
    Subscriptions {
        /// Added (removed); `false` when it already was (was not).
        changed: bool,
        /// The component's subscriptions now.
        subscriptions: Vec<String>,
    },
    /// A subscription change refused, with its kind.
    SubscriptionRefused {
        /// The kind.
        refusal: SubscriptionRefusal,
        /// Why, in words.
        error: String,
    },
}

/// `<prefix>._airssys.host.<id>`.
pub fn host_subject(prefix: &str, id: &str) -> String {
    format!("{prefix}._airssys.host.{id}")
}

/// A request that came in, with where its answer goes.
#[derive(Debug)]
pub struct Incoming {
    /// The request.
    pub request: PeerRequest,
    /// Where the answer goes.
    pub reply: oneshot::Sender<PeerReply>,
}

/// Asks host `id` and waits up to `timeout` for its answer.
///
/// # Errors
/// In words: no such host, no answer in time, an answer that does not parse.
pub async fn ask(
    client: &Client,
    prefix: &str,
    id: &str,
    request: &PeerRequest,
    timeout: Duration,
) -> Result<PeerReply, String> {
    let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    let asked = client.request(host_subject(prefix, id), body.into());
    let answer = match tokio::time::timeout(timeout, asked).await {
        Err(_) => return Err(format!("host {id} did not answer within {timeout:?}")),
        Ok(Err(e)) if e.kind() == async_nats::client::RequestErrorKind::NoResponders => {
            return Err(format!("host {id} is not connected"))
        }
        Ok(Err(e)) => return Err(format!("asking host {id}: {e}")),
        Ok(Ok(answer)) => answer,
    };
    serde_json::from_slice(&answer.payload).map_err(|e| format!("host {id} answered: {e}"))
}

/// Serves this host's subject: each request goes to `to` with a channel
/// for its answer, which is published back. Ends when `to` is closed.
///
/// # Errors
/// When the subscription cannot be made.
pub async fn serve(
    client: Client,
    prefix: &str,
    id: &str,
    to: mpsc::Sender<Incoming>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let subject = host_subject(prefix, id);
    let mut requests = client
        .subscribe(subject.clone())
        .await
        .map_err(|e| format!("cannot subscribe {subject}: {e}"))?;
    client
        .flush()
        .await
        .map_err(|e| format!("cannot subscribe {subject}: {e}"))?;
    Ok(tokio::spawn(async move {
        while let Some(message) = requests.next().await {
            let Some(reply_to) = message.reply.clone() else {
                continue;
            };
            let answer = match serde_json::from_slice::<PeerRequest>(&message.payload) {
                Err(e) => PeerReply::Error {
                    error: format!("unreadable request: {e}"),
                },
                Ok(request) => {
                    let (reply, answer) = oneshot::channel();
                    if to.send(Incoming { request, reply }).await.is_err() {
                        return;
                    }
                    answer.await.unwrap_or(PeerReply::Error {
                        error: "this host is stopping".into(),
                    })
                }
            };
            let Ok(body) = serde_json::to_vec(&answer) else {
                continue;
            };
            if let Err(error) = client.publish(reply_to, body.into()).await {
                tracing::debug!(%error, "could not answer a peer host");
            }
        }
    }))
}
