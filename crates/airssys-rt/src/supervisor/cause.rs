//! [`FailureCause`]: why an actor, a child or a supervisor failed, typed
//! where a decision or a test depends on it.

use std::fmt;
use std::time::Duration;

/// Why something failed. Carried by [`ExitReason::Failed`](super::ExitReason::Failed),
/// [`SupervisorExit::Failed`](super::SupervisorExit::Failed) and
/// [`SupervisionEvent::SupervisorFailed`](super::SupervisionEvent::SupervisorFailed).
///
/// Match on the variant, or use [`label`](Self::label) for metrics; the
/// `Display` text is for people and is not parsed back.
///
/// A `String` or `&str` converts into [`Other`](Self::Other), so
/// `ExitReason::Failed("boom".into())` reads as it always did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureCause {
    /// A supervisor made more restarts than its restart intensity allows
    /// and gave up.
    IntensityExceeded {
        /// Restarts counted in the window, the one refused included.
        restarts: u32,
        /// The window.
        within: Duration,
        /// The restarts the window allows.
        max_restarts: u32,
    },
    /// A supervisor's child escalated (`ErrorAction::Escalate`) and the
    /// supervisor failed with it. Boxed: an [`ExitReason`](super::ExitReason)
    /// stays 32 bytes.
    ChildEscalated(Box<Escalation>),
    /// Health checks failed `consecutive` times in a row and the
    /// supervisor stopped the child to restart it.
    HealthCheckFailed {
        /// Failed checks in a row.
        consecutive: u32,
        /// What the last check said, or that it timed out.
        reason: Box<str>,
    },
    /// A handler or a hook panicked; the text is the panic's message.
    Panicked(String),
    /// Any other failure: an error's text (a handler's error, a failed
    /// start, a failed health check, a guest's trap).
    Other(String),
}

impl FailureCause {
    /// A short, stable label: `intensity_exceeded`, `child_escalated`,
    /// `health_check_failed`, `panicked`, `other`.
    pub fn label(&self) -> &'static str {
        match self {
            FailureCause::IntensityExceeded { .. } => "intensity_exceeded",
            FailureCause::ChildEscalated { .. } => "child_escalated",
            FailureCause::HealthCheckFailed { .. } => "health_check_failed",
            FailureCause::Panicked(_) => "panicked",
            FailureCause::Other(_) => "other",
        }
    }
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureCause::IntensityExceeded {
                restarts,
                within,
                max_restarts,
            } => write!(
                f,
                "restart intensity exceeded: {restarts} restarts within {within:?} (limit {max_restarts})"
            ),
            FailureCause::ChildEscalated(escalation) => write!(
                f,
                "child `{}` escalated: {}",
                escalation.child, escalation.reason
            ),
            FailureCause::HealthCheckFailed {
                consecutive,
                reason,
            } => write!(
                f,
                "health check failed {consecutive} times in a row: {reason}"
            ),
            FailureCause::Panicked(message) => write!(f, "panicked: {message}"),
            FailureCause::Other(text) => f.write_str(text),
        }
    }
}

/// Which child escalated, and with what: the payload of
/// [`FailureCause::ChildEscalated`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Escalation {
    /// The child that escalated.
    pub child: String,
    /// What it escalated with.
    pub reason: String,
}

impl FailureCause {
    /// [`ChildEscalated`](Self::ChildEscalated) by `child` with `reason`.
    pub fn child_escalated(child: impl Into<String>, reason: impl Into<String>) -> Self {
        FailureCause::ChildEscalated(Box::new(Escalation {
            child: child.into(),
            reason: reason.into(),
        }))
    }
}

impl From<String> for FailureCause {
    fn from(text: String) -> Self {
        FailureCause::Other(text)
    }
}

impl From<&str> for FailureCause {
    fn from(text: &str) -> Self {
        FailureCause::Other(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_cause_keeps_an_exit_reason_at_32_bytes() {
        assert!(std::mem::size_of::<FailureCause>() <= 32);
        assert!(std::mem::size_of::<super::super::ExitReason>() <= 32);
    }
}
