//! Per-component allow-lists for outgoing host calls.
//!
//! Checked by the host imports before [`HostServices`](crate::HostServices) is
//! called; anything not allowed returns
//! [`codes::DENIED`](crate::codes::DENIED) to the guest
//! and is counted (see [`GuestInstance::denied_count`](crate::GuestInstance::denied_count)).

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use airssys_rt::broker::subject;

/// A NATS-style subject pattern: dot-separated tokens, `*` matches exactly one
/// token, `>` (last token only) matches one or more tokens. Parsing and
/// matching are the broker's (`airssys_rt::broker::subject`), so an
/// allow-list means exactly what a subscription means.
///
/// ```
/// use airssys_wasm::SubjectPattern;
///
/// let p = SubjectPattern::new("orders.*.created").unwrap();
/// assert!(p.matches("orders.eu.created"));
/// assert!(!p.matches("orders.eu.west.created"));
/// assert!(SubjectPattern::new("metrics.>").unwrap().matches("metrics.cpu.load"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectPattern {
    raw: String,
}

/// A subject pattern that is not well formed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid subject pattern `{pattern}`: {reason}")]
pub struct InvalidSubjectPattern {
    /// The pattern given.
    pub pattern: String,
    /// What is wrong.
    pub reason: String,
}

impl SubjectPattern {
    /// Parses a pattern.
    ///
    /// # Errors
    /// [`InvalidSubjectPattern`] for an empty pattern or token, whitespace, a
    /// wildcard inside a token, or `>` not in last position.
    pub fn new(pattern: &str) -> Result<Self, InvalidSubjectPattern> {
        subject::validate_pattern(pattern).map_err(|reason| InvalidSubjectPattern {
            pattern: pattern.to_string(),
            reason: reason.to_string(),
        })?;
        Ok(SubjectPattern {
            raw: pattern.to_string(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether a concrete subject matches. O(tokens), no allocation.
    pub fn matches(&self, subject: &str) -> bool {
        subject::matches(&self.raw, subject)
    }
}

/// Whether a subject is concrete (what a guest may publish to): non-empty
/// tokens, no wildcards, no whitespace.
pub fn is_valid_subject(subject: &str) -> bool {
    subject::validate_subject(subject).is_ok()
}

/// What a component may reach: the component ids it may `send`/`request`
/// to, the subjects it may `publish` to, and the patterns it may
/// `subscribe` to at run time. Default: nothing.
///
/// ```
/// use airssys_wasm::{Permissions, SubjectPattern};
///
/// let perms = Permissions::deny_all()
///     .allow_target("billing")
///     .allow_subject(SubjectPattern::new("orders.>").unwrap())
///     .allow_subscribe(SubjectPattern::new("prices.*").unwrap());
/// assert!(perms.may_send("billing"));
/// assert!(!perms.may_send("admin"));
/// assert!(perms.may_publish("orders.eu.created"));
/// assert!(perms.may_subscribe("prices.eu"));
/// assert!(!perms.may_subscribe("prices.>"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Permissions {
    any_target: bool,
    targets: HashSet<String>,
    subjects: Vec<SubjectPattern>,
    subscribe: Vec<SubjectPattern>,
}

impl Permissions {
    /// No target, no subject (the default).
    pub fn deny_all() -> Self {
        Self::default()
    }

    /// These permissions behind an `Arc`. Deny-all ones, the default for
    /// every component, are one `Arc` shared by all (a host of a million
    /// components would otherwise hold a million copies of nothing).
    pub fn to_shared(&self) -> Arc<Permissions> {
        static DENY_ALL: LazyLock<Arc<Permissions>> =
            LazyLock::new(|| Arc::new(Permissions::deny_all()));
        if self.is_deny_all() {
            Arc::clone(&DENY_ALL)
        } else {
            Arc::new(self.clone())
        }
    }

    /// Whether nothing is allowed.
    pub fn is_deny_all(&self) -> bool {
        !self.any_target
            && self.targets.is_empty()
            && self.subjects.is_empty()
            && self.subscribe.is_empty()
    }

    /// Every target and every subject, to publish on and to subscribe to
    /// (tests, trusted guests).
    pub fn allow_all() -> Self {
        Permissions {
            any_target: true,
            targets: HashSet::new(),
            subjects: vec![SubjectPattern { raw: ">".into() }],
            subscribe: vec![SubjectPattern { raw: ">".into() }],
        }
    }

    /// Allows `send` and `request` to a component id (`"*"`: any).
    #[must_use]
    pub fn allow_target(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        if id == "*" {
            self.any_target = true;
        } else {
            self.targets.insert(id);
        }
        self
    }

    /// Allows `publish` to subjects matching the pattern.
    #[must_use]
    pub fn allow_subject(mut self, pattern: SubjectPattern) -> Self {
        self.subjects.push(pattern);
        self
    }

    /// Allows subscribing at run time (the `subscribe` host call,
    /// [`ComponentHost::subscribe`](crate::ComponentHost::subscribe)) to any
    /// pattern that lies inside `pattern`: `orders.>` grants `orders.eu`,
    /// `orders.*` and `orders.eu.>`, not `>` or `orders`.
    #[must_use]
    pub fn allow_subscribe(mut self, pattern: SubjectPattern) -> Self {
        if !self.subscribe.contains(&pattern) {
            self.subscribe.push(pattern);
        }
        self
    }

    /// The patterns granted by [`allow_subscribe`](Self::allow_subscribe).
    pub fn subscribe_grants(&self) -> &[SubjectPattern] {
        &self.subscribe
    }

    /// Whether subscribing to `pattern` at run time is allowed: it is a
    /// valid pattern and every subject it matches is matched by a granted
    /// one. O(grants × tokens), no allocation.
    pub fn may_subscribe(&self, pattern: &str) -> bool {
        subject::validate_pattern(pattern).is_ok()
            && self
                .subscribe
                .iter()
                .any(|grant| subject::covers(grant.as_str(), pattern))
    }

    /// Whether `send`/`request` to `target` is allowed. O(1).
    pub fn may_send(&self, target: &str) -> bool {
        self.any_target || self.targets.contains(target)
    }

    /// Whether `publish` to `subject` is allowed. O(patterns × tokens).
    pub fn may_publish(&self, subject: &str) -> bool {
        is_valid_subject(subject) && self.subjects.iter().any(|p| p.matches(subject))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_all_permissions_share_one_arc_and_others_get_their_own() {
        let (a, b) = (Permissions::deny_all(), Permissions::default());
        assert!(Arc::ptr_eq(&a.to_shared(), &b.to_shared()));
        let billing = Permissions::deny_all().allow_target("billing");
        assert!(!billing.is_deny_all());
        let shared = billing.to_shared();
        assert!(!Arc::ptr_eq(&shared, &a.to_shared()));
        assert!(shared.may_send("billing"));
        let subscriber =
            Permissions::deny_all().allow_subscribe(SubjectPattern::new("a.>").unwrap());
        assert!(!subscriber.is_deny_all());
    }

    #[test]
    fn a_subscription_is_allowed_inside_a_granted_pattern_only() {
        let perms = Permissions::deny_all()
            .allow_subscribe(SubjectPattern::new("orders.>").unwrap())
            .allow_subscribe(SubjectPattern::new("prices.*").unwrap());
        for allowed in [
            "orders.eu",
            "orders.*",
            "orders.>",
            "orders.*.x",
            "prices.eu",
            "prices.*",
        ] {
            assert!(perms.may_subscribe(allowed), "{allowed}");
        }
        for denied in [">", "orders", "*.eu", "prices.>", "prices.eu.x", "audit.x"] {
            assert!(!perms.may_subscribe(denied), "{denied}");
        }
        assert!(!perms.may_subscribe("orders..x"), "malformed");
        assert!(!Permissions::deny_all().may_subscribe("orders.eu"));
        assert!(Permissions::allow_all().may_subscribe(">"));
    }
}
