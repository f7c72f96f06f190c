//! Topic subscriptions at run time: [`ComponentHost::subscribe`],
//! [`ComponentHost::unsubscribe`], [`ComponentHost::subscriptions`], and the
//! host side of the guests' `subscribe` / `unsubscribe` calls is the
//! [`Router`](super::router::Router)'s, on the same
//! [`TopicRouter`](super::topics::TopicRouter).
//!
//! A component's subscriptions are one set, kept by the host for the
//! component (not for an instance): it starts as its spec's `subscribe`
//! list, these calls change it, and it lasts until the component stops,
//! across restarts and live upgrades (the topic table holds the
//! component's `ActorRef`, which outlives its instances). The rules are
//! stated in `docs/components.md`, "Subscriptions at run time".

use airssys_rt::broker::subject;

use super::error::HostError;
use super::facade::ComponentHost;
use crate::id::ComponentId;

impl ComponentHost {
    /// Subscribes component `id` to topic `pattern` (NATS-style: `*` one
    /// token, a final `>` one or more) from now until it stops: messages
    /// published on matching subjects reach its mailbox, with their
    /// subject, as those of its spec's `subscribe` patterns do. Returns
    /// `true` if it was not subscribed to exactly `pattern` already
    /// (`false`: nothing changed).
    ///
    /// Checked against the component's grants, whoever asks: `pattern` must
    /// lie inside a pattern of its
    /// [`Permissions::allow_subscribe`](crate::Permissions::allow_subscribe)
    /// or of its spec's [`subscribe`](super::ComponentSpec::subscribe) list
    /// (`orders.>` grants `orders.eu` and `orders.*`, not `>`). A refusal
    /// is returned, not counted: the component's `denied` counter counts
    /// its guest's own calls.
    ///
    /// The subscription survives restarts and live upgrades of the
    /// component and ends when it stops. With a distributed broker (NATS)
    /// the host subscribes on the server too, through the broker's
    /// outbound queue: publishes made on other hosts reach the component
    /// once the server has it (`NatsBroker::sync` waits for that). A
    /// pattern that meets a durable topic of a cluster receives none of
    /// that topic's messages (durable topics are delivered by consumers
    /// made from the manifest: `docs/distribution.md`). O(topics' lock) and
    /// one broker subscription for a pattern new to this host.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use airssys_wasm::{ComponentHost, ComponentSpec, Permissions, SubjectPattern};
    ///
    /// let host = ComponentHost::builder().build().unwrap();
    /// let guest = r#"(module (memory (export "memory") 1)
    ///   (func (export "alloc") (param i32) (result i32) i32.const 1024)
    ///   (func (export "handle-message") (param i32 i32) (result i32) i32.const 0))"#;
    /// let grants = Permissions::deny_all().allow_subscribe(SubjectPattern::new("prices.>").unwrap());
    /// host.spawn(ComponentSpec::new("quotes", guest.as_bytes().to_vec()).permissions(grants))
    ///     .await
    ///     .unwrap();
    /// assert!(host.subscribe("quotes", "prices.eu.*").unwrap());
    /// assert_eq!(host.subscriptions("quotes").unwrap(), ["prices.eu.*"]);
    /// assert!(host.subscribe("quotes", "orders.eu").is_err()); // not granted
    /// assert!(host.unsubscribe("quotes", "prices.eu.*").await.unwrap());
    /// host.shutdown(std::time::Duration::from_secs(1)).await;
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`HostError::InvalidSubscription`] for a malformed pattern;
    /// [`HostError::UnknownComponent`]; [`HostError::SubscriptionDenied`]
    /// outside the grants; [`HostError::Broker`] when the broker cannot
    /// subscribe.
    pub fn subscribe(&self, id: &str, pattern: &str) -> Result<bool, HostError> {
        valid(id, pattern)?;
        let entry = self.entry(id)?;
        if !entry.template.config.permissions.may_subscribe(pattern) {
            tracing::debug!(component = id, pattern, "subscription denied: not granted");
            return Err(HostError::SubscriptionDenied {
                component: id.into(),
                pattern: pattern.to_owned(),
            });
        }
        self.inner
            .topics
            .add(pattern, ComponentId::new(id), entry.actor)
    }

    /// Ends component `id`'s subscription to exactly `pattern` (one of its
    /// spec's included: it stays ended, restarts do not bring it back).
    /// Resolves once the topic has let go of the component, with whether
    /// it had that subscription: messages published on it before the call
    /// are in its mailbox (or dead-lettered), none published after reach
    /// it. Needs no grant. `orders.*` is not ended by unsubscribing
    /// `orders.eu`: patterns are compared as written.
    ///
    /// # Errors
    /// [`HostError::InvalidSubscription`]; [`HostError::UnknownComponent`].
    ///
    /// # Cancel safety
    /// The subscription ends whether or not the future is polled to the
    /// end; dropped early, the caller only misses the moment it did.
    pub async fn unsubscribe(&self, id: &str, pattern: &str) -> Result<bool, HostError> {
        valid(id, pattern)?;
        self.entry(id)?;
        Ok(self.inner.topics.leave(id, pattern).await)
    }

    /// The topic patterns component `id` is subscribed to now, sorted: its
    /// spec's and those added at run time, less those ended. O(topics on
    /// this host).
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`].
    pub fn subscriptions(&self, id: &str) -> Result<Vec<String>, HostError> {
        self.entry(id)?;
        Ok(self.inner.topics.patterns_of(id))
    }
}

/// `pattern` checked as a subscription of `id`.
fn valid(id: &str, pattern: &str) -> Result<(), HostError> {
    subject::validate_pattern(pattern).map_err(|e| HostError::InvalidSubscription {
        component: id.into(),
        pattern: pattern.to_owned(),
        reason: e.to_string(),
    })
}
