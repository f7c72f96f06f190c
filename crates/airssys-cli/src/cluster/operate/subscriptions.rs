//! Run-time subscriptions (`ctl subscribe|unsubscribe`) on a cluster: the
//! request goes to the host that runs the component, as a stop or restart
//! does, and that host's answer (or its refusal, typed) comes back.

use airssys_wasm::host::HostError;

use super::{ClusterHandle, OperateError, OWNER_TIMEOUT};
use crate::cluster::agent::{ask_peer, Agent};
use crate::cluster::peer::{PeerReply, PeerRequest, SubscriptionRefusal};

/// What the host that runs a component did with a subscription change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionChange {
    /// The host that runs the component.
    pub host: String,
    /// Whether the subscription was added (removed); `false` when it
    /// already was (was not).
    pub changed: bool,
    /// The component's subscriptions now.
    pub subscriptions: Vec<String>,
}

impl ClusterHandle {
    /// Subscribes (`subscribe` true) or unsubscribes component `id` to
    /// `pattern` on the host that runs it.
    ///
    /// # Errors
    /// [`OperateError::UnknownComponent`], [`OperateError::NotPlaced`]
    /// (its unit runs nowhere now), [`OperateError::Unreachable`],
    /// [`OperateError::SubscriptionRefused`] with the host's reason
    /// (denied, an invalid pattern, ...).
    pub async fn subscription(
        &self,
        id: &str,
        pattern: &str,
        subscribe: bool,
    ) -> Result<SubscriptionChange, OperateError> {
        let host = self.running_host(id)?;
        let request = if subscribe {
            PeerRequest::Subscribe {
                id: id.to_owned(),
                pattern: pattern.to_owned(),
            }
        } else {
            PeerRequest::Unsubscribe {
                id: id.to_owned(),
                pattern: pattern.to_owned(),
            }
        };
        match ask_peer(&self.broker, &host, &request, OWNER_TIMEOUT).await {
            Ok(PeerReply::Subscriptions {
                changed,
                subscriptions,
            }) => Ok(SubscriptionChange {
                host,
                changed,
                subscriptions,
            }),
            Ok(PeerReply::SubscriptionRefused { refusal, error }) => {
                Err(OperateError::SubscriptionRefused {
                    host,
                    id: id.to_owned(),
                    refusal,
                    reason: error,
                })
            }
            Ok(other) => Err(OperateError::SubscriptionRefused {
                host,
                id: id.to_owned(),
                refusal: SubscriptionRefusal::Other,
                reason: format!("unexpected answer {other:?}"),
            }),
            Err(reason) => Err(OperateError::Unreachable {
                host,
                id: id.to_owned(),
                reason,
            }),
        }
    }
}

impl Agent {
    /// Another host's `ctl subscribe|unsubscribe` of component `id`, which
    /// runs here.
    pub(crate) async fn operator_subscription(
        &self,
        id: &str,
        pattern: &str,
        subscribe: bool,
    ) -> PeerReply {
        let changed = if subscribe {
            self.host.subscribe(id, pattern)
        } else {
            self.host.unsubscribe(id, pattern).await
        };
        match changed {
            Ok(changed) => PeerReply::Subscriptions {
                changed,
                subscriptions: self.host.subscriptions(id).unwrap_or_default(),
            },
            Err(e) => PeerReply::SubscriptionRefused {
                refusal: match &e {
                    HostError::SubscriptionDenied { .. } => SubscriptionRefusal::Denied,
                    HostError::InvalidSubscription { .. } | HostError::InvalidSubject { .. } => {
                        SubscriptionRefusal::Invalid
                    }
                    HostError::UnknownComponent { .. } => SubscriptionRefusal::Unknown,
                    _ => SubscriptionRefusal::Other,
                },
                error: e.to_string(),
            },
        }
    }
}
