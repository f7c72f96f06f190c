//! What the testkit records: every publish, dead letter, probed delivery,
//! supervision event, and what the test itself sent and got back, in the
//! order it happened, each with its time on tokio's clock.

use std::fmt;
use std::time::Duration;

use airssys_rt::supervisor::SupervisionEvent;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

/// A message published on the broker, by the test or by a component.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// The subject it was published on.
    pub subject: String,
    /// The publishing component; `None` when the test (the host) published.
    pub sender: Option<String>,
    /// The payload.
    pub payload: Bytes,
}

/// A message the host accepted but could not deliver or handle, as posted
/// on the broker's dead-letter subject.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The component it was for.
    pub target: String,
    /// Why, in words for people (the reason's `Display`).
    pub reason: String,
    /// The reason's stable label ([`DeadLetterReason::label`](airssys_rt::DeadLetterReason::label)):
    /// `handler_failed`, `rejected`, `mailbox_full`, `actor_stopped`, ...
    pub label: &'static str,
    /// The subject it was published on, or `_airssys.direct.<target>` for a
    /// direct send.
    pub subject: String,
    /// The sending component, if any.
    pub sender: Option<String>,
    /// The payload.
    pub payload: Bytes,
}

/// A message a [probe](crate::Probe) received: a direct send, a request or
/// a topic message addressed to the id the probe stands in for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sent {
    /// The probe's id (the component the message was for).
    pub to: String,
    /// The sending component; `None` when the test sent it.
    pub from: Option<String>,
    /// The subject, when it came from a topic.
    pub subject: Option<String>,
    /// `true` for a request (the sender waits for a reply).
    pub request: bool,
    /// The payload.
    pub payload: Bytes,
}

/// A restart of a component by its supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Restart {
    /// The component.
    pub component: String,
    /// Consecutive restarts of it, this one included (1-based).
    pub attempt: u32,
    /// The backoff waited before it.
    pub delay: Duration,
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A publish on the broker.
    Published(Published),
    /// A dead letter.
    DeadLetter(DeadLetter),
    /// A message a probe received.
    Sent(Sent),
    /// Something the supervision tree did (start, failure, restart, health
    /// check failure, stop).
    Supervision(SupervisionEvent),
    /// A send or request the test made through the [`TestHost`](crate::TestHost).
    Input {
        /// The target component.
        to: String,
        /// `true` for a request.
        request: bool,
        /// The payload.
        payload: Bytes,
    },
    /// What a request of the test came back with: the reply, or the error.
    Reply {
        /// The component asked.
        from: String,
        /// The reply (`Ok(None)`: handled without a reply), or the error as text.
        outcome: Result<Option<Bytes>, String>,
    },
    /// A fault the test injected.
    Fault {
        /// The component.
        component: String,
        /// The fault, as text.
        fault: String,
    },
    /// The recorder fell behind the supervision event stream and lost this
    /// many events (raise the timeout or reduce the churn).
    Lagged(u64),
}

/// An [`Event`] with the time it was recorded, on tokio's clock, since the
/// [`TestHost`](crate::TestHost) started (virtual time under a paused clock).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recorded {
    /// Time since the test host started.
    pub at: Duration,
    /// What happened.
    pub event: Event,
}

/// The recorded traffic, printable: one line per event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic(pub Vec<Recorded>);

impl fmt::Display for Traffic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("recorded traffic: nothing");
        }
        write!(f, "recorded traffic ({} events):", self.0.len())?;
        for recorded in &self.0 {
            write!(f, "\n  {recorded}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>8.3}s] ", self.at.as_secs_f64())?;
        match &self.event {
            Event::Published(p) => write!(
                f,
                "published     {} from {}: {}",
                p.subject,
                who(p.sender.as_deref()),
                Payload(&p.payload)
            ),
            Event::DeadLetter(d) => write!(
                f,
                "dead letter   for {} ({}) via {}: {}",
                d.target,
                d.reason,
                d.subject,
                Payload(&d.payload)
            ),
            Event::Sent(s) => write!(
                f,
                "{}  to {} from {}{}: {}",
                if s.request {
                    "requested  "
                } else {
                    "sent       "
                },
                s.to,
                who(s.from.as_deref()),
                s.subject
                    .as_deref()
                    .map(|s| format!(" on {s}"))
                    .unwrap_or_default(),
                Payload(&s.payload)
            ),
            Event::Supervision(e) => write!(f, "supervision   {}", supervision(e)),
            Event::Input {
                to,
                request,
                payload,
            } => write!(
                f,
                "test {}  {to}: {}",
                if *request { "request" } else { "send   " },
                Payload(payload)
            ),
            Event::Reply { from, outcome } => match outcome {
                Ok(Some(reply)) => write!(f, "reply         from {from}: {}", Payload(reply)),
                Ok(None) => write!(f, "reply         from {from}: handled, no reply"),
                Err(error) => write!(f, "reply         from {from}: failed: {error}"),
            },
            Event::Fault { component, fault } => {
                write!(f, "test fault    {component}: {fault}")
            }
            Event::Lagged(n) => write!(f, "(lost {n} supervision events)"),
        }
    }
}

fn who(sender: Option<&str>) -> &str {
    sender.unwrap_or("the test")
}

fn supervision(event: &SupervisionEvent) -> String {
    match event {
        SupervisionEvent::ChildStarted { child, .. } => format!("{child} started"),
        SupervisionEvent::ChildExited { child, reason, .. } => {
            format!("{child} exited ({reason:?})")
        }
        SupervisionEvent::ChildFailed { child, reason, .. } => {
            format!("{child} failed ({reason:?})")
        }
        SupervisionEvent::ChildRestarting {
            child,
            attempt,
            delay,
            ..
        } => format!("{child} restarting (attempt {attempt}, in {delay:?})"),
        SupervisionEvent::ChildRestarted {
            child,
            attempt,
            delay,
            ..
        } => format!("{child} restarted (attempt {attempt}, after {delay:?})"),
        SupervisionEvent::HealthCheckFailed {
            child,
            consecutive,
            reason,
            ..
        } => format!("{child} health check failed ({consecutive} in a row): {reason}"),
        SupervisionEvent::ChildStopped { child, aborted, .. } => {
            format!(
                "{child} stopped{}",
                if *aborted { " (aborted)" } else { "" }
            )
        }
        SupervisionEvent::ChildRemoved { child, .. } => format!("{child} removed"),
        other => format!("{other:?}"),
    }
}

/// A payload shown as text when it is printable UTF-8, else as hex; at
/// most 64 bytes of it.
pub(crate) struct Payload<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Payload<'_> {
    /// Text quoted, multicodec JSON and CBOR decoded, other bytes in hex
    /// ([`airssys_wasm::codec::display`]), cut at 120 characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN_CHARS: usize = 120;
        f.write_str(&airssys_wasm::codec::display(self.0, SHOWN_CHARS))?;
        if self.0.len() > SHOWN_CHARS {
            write!(f, " ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

struct Entry {
    recorded: Recorded,
    /// Taken by an expectation: each event satisfies at most one.
    claimed: bool,
}

/// The shared, append-only record, with a version that waiters watch.
pub(crate) struct Log {
    entries: Mutex<Vec<Entry>>,
    version: watch::Sender<u64>,
    origin: Instant,
}

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("events", &self.entries.lock().len())
            .finish_non_exhaustive()
    }
}

impl Log {
    pub(crate) fn new() -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
            version: watch::Sender::new(0),
            origin: Instant::now(),
        }
    }

    /// Appends `event` and wakes the waiters. O(1), never waits.
    pub(crate) fn push(&self, event: Event) {
        let recorded = Recorded {
            at: self.origin.elapsed(),
            event,
        };
        self.entries.lock().push(Entry {
            recorded,
            claimed: false,
        });
        self.version.send_modify(|v| *v += 1);
    }

    /// How many events are recorded.
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// A copy of everything recorded.
    pub(crate) fn traffic(&self) -> Traffic {
        Traffic(
            self.entries
                .lock()
                .iter()
                .map(|e| e.recorded.clone())
                .collect(),
        )
    }

    /// Applies `f` to every event recorded, in order, with its index.
    pub(crate) fn scan(&self, mut f: impl FnMut(usize, &Event)) {
        for (i, entry) in self.entries.lock().iter().enumerate() {
            f(i, &entry.recorded.event);
        }
    }

    /// Waits up to `timeout` for the first unclaimed event `pick` accepts,
    /// claims it and returns what `pick` made of it; `None` on timeout.
    ///
    /// Cancel safety: dropping the future claims nothing.
    pub(crate) async fn claim<T>(
        &self,
        timeout: Duration,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> Option<T> {
        let wait = async {
            loop {
                // Subscribed before scanning: an event pushed after the scan
                // changes the version this receiver has not seen yet.
                let mut changed = self.version.subscribe();
                {
                    let mut entries = self.entries.lock();
                    for entry in entries.iter_mut().filter(|e| !e.claimed) {
                        if let Some(found) = pick(&entry.recorded.event) {
                            entry.claimed = true;
                            return found;
                        }
                    }
                }
                // The sender lives as long as `self`: `changed` cannot fail
                // while this future borrows it.
                let _ = changed.changed().await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }
}
