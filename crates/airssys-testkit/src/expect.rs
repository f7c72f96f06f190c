//! The expectations of a [`TestHost`]: each waits, under the test host's
//! timeout, for something a component does, and on failure reports what was
//! expected and the recorded traffic.

use std::future::Future;
use std::time::Duration;

use airssys_wasm::{
    ComponentDown, ComponentHealth, ComponentInfo, ComponentMonitor, GuestHealth, SubjectPattern,
};
use bytes::Bytes;

use crate::error::{Error, ExpectationFailed, Result};
use crate::host::{host_error_subject, TestHost};
use crate::ledger::Ledger;
use crate::record::{DeadLetter, Event, Published, Restart, Sent};
use airssys_rt::supervisor::SupervisionEvent;

/// Interval at which expectations on polled state (health, counters,
/// ledger) look again. Under a paused clock it costs no real time.
const POLL: Duration = Duration::from_millis(5);

/// A component's counters, as [`TestHost::expect_counters`] compares them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages handled successfully (sends, requests, topic messages,
    /// health checks and invokes of the test).
    pub handled: u64,
    /// Messages whose handling failed (trap, error code, injected crash).
    pub failed: u64,
    /// Restarts by its supervisor.
    pub restarts: u64,
}

impl Counters {
    fn of(info: &ComponentInfo) -> Self {
        Self {
            handled: info.handled,
            failed: info.failed,
            restarts: info.restarts,
        }
    }
}

impl TestHost {
    pub(crate) fn failed(&self, expected: String, outcome: String) -> Error {
        Error::Expectation(Box::new(ExpectationFailed {
            expected,
            outcome,
            traffic: self.log.traffic(),
        }))
    }

    fn none_within(&self) -> String {
        format!("none came within {:?}", self.timeout)
    }

    /// Waits for a publish (by a component or the test) on a subject
    /// matching `pattern` (`*` one token, `>` the rest) and returns it.
    /// Each recorded publish satisfies one expectation: expecting twice
    /// waits for two publishes.
    ///
    /// # Errors
    /// [`Error::Expectation`] with the recorded traffic if none comes in
    /// time; [`Error::Host`] for an invalid pattern.
    ///
    /// # Cancel safety
    /// Dropped before it completes, it has claimed nothing.
    pub async fn expect_published(&self, pattern: &str) -> Result<Published> {
        let matcher =
            SubjectPattern::new(pattern).map_err(|e| host_error_subject(pattern, e.to_string()))?;
        self.log
            .claim(self.timeout, |event| match event {
                Event::Published(p) if matcher.matches(&p.subject) => Some(p.clone()),
                _ => None,
            })
            .await
            .ok_or_else(|| {
                self.failed(
                    format!("a publish on a subject matching `{pattern}`"),
                    self.none_within(),
                )
            })
    }

    /// Waits `within` and fails if anything is published on a subject
    /// matching `pattern` meanwhile (or was, unclaimed, before). Under a
    /// paused clock the wait costs no real time.
    ///
    /// # Errors
    /// [`Error::Expectation`] naming the publish; [`Error::Host`] for an
    /// invalid pattern.
    pub async fn expect_nothing_published(&self, pattern: &str, within: Duration) -> Result {
        let matcher =
            SubjectPattern::new(pattern).map_err(|e| host_error_subject(pattern, e.to_string()))?;
        let found = self
            .log
            .claim(within, |event| match event {
                Event::Published(p) if matcher.matches(&p.subject) => Some(p.clone()),
                _ => None,
            })
            .await;
        match found {
            None => Ok(()),
            Some(p) => Err(self.failed(
                format!("nothing published on `{pattern}` within {within:?}"),
                format!(
                    "{} published on {}",
                    p.sender.as_deref().unwrap_or("the test"),
                    p.subject
                ),
            )),
        }
    }

    /// Sends `payload` to `to` as a request and returns the reply; fails if
    /// the component answers without a reply, fails, or does not answer in
    /// time.
    ///
    /// # Errors
    /// [`Error::Expectation`] with what happened and the recorded traffic.
    pub async fn expect_reply(&self, to: &str, payload: impl Into<Bytes>) -> Result<Bytes> {
        let payload = payload.into();
        let expected = format!("a reply from {to}");
        match self.request(to, payload).await {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => {
                Err(self.failed(expected, "it handled the request without replying".into()))
            }
            Err(Error::Host(error)) => {
                Err(self.failed(expected, format!("the request failed: {error}")))
            }
            Err(other) => Err(other),
        }
    }

    /// Waits for a message to reach the [`Probe`](crate::Probe) standing in
    /// for `id` (a direct send, a request, or a topic message it subscribed
    /// to) and returns it. Each received message satisfies one expectation.
    ///
    /// # Errors
    /// [`Error::Expectation`] with the recorded traffic if none comes in
    /// time (and a hint if no probe runs under `id`).
    pub async fn expect_sent_to(&self, id: &str) -> Result<Sent> {
        let found = self
            .log
            .claim(self.timeout, |event| match event {
                Event::Sent(s) if s.to == id => Some(s.clone()),
                _ => None,
            })
            .await;
        found.ok_or_else(|| {
            let probed = self.host.registry().contains(id);
            let mut outcome = self.none_within();
            if !probed {
                outcome.push_str(&format!(
                    " (no component runs as {id}: spawn a Probe under that id to see what is sent to it)"
                ));
            }
            self.failed(format!("a message sent to {id}"), outcome)
        })
    }

    /// Waits for a dead letter whose reason has the label `reason`
    /// (`handler_failed`, `rejected`, `mailbox_full`, `actor_stopped`, ...:
    /// [`DeadLetterReason::label`](airssys_rt::DeadLetterReason::label))
    /// or whose reason text contains it, and returns
    /// it. Each dead letter satisfies one expectation.
    ///
    /// # Errors
    /// [`Error::Expectation`] with the recorded traffic if none comes in time.
    pub async fn expect_dead_letter(&self, reason: &str) -> Result<DeadLetter> {
        self.log
            .claim(self.timeout, |event| match event {
                Event::DeadLetter(d) if d.label == reason || d.reason.contains(reason) => {
                    Some(d.clone())
                }
                _ => None,
            })
            .await
            .ok_or_else(|| {
                self.failed(
                    format!("a dead letter for reason `{reason}`"),
                    self.none_within(),
                )
            })
    }

    /// Waits for component `id` to be restarted by its supervisor (after a
    /// trap, a timeout, an injected crash, failed health checks...) and
    /// returns the restart. Each restart satisfies one expectation.
    ///
    /// # Errors
    /// [`Error::Expectation`] with the recorded traffic if none comes in time.
    pub async fn expect_restart(&self, id: &str) -> Result<Restart> {
        self.log
            .claim(self.timeout, |event| match event {
                Event::Supervision(SupervisionEvent::ChildRestarted {
                    child,
                    attempt,
                    delay,
                    ..
                }) if child == id => Some(Restart {
                    component: child.clone(),
                    attempt: *attempt,
                    delay: *delay,
                }),
                _ => None,
            })
            .await
            .ok_or_else(|| self.failed(format!("a restart of {id}"), self.none_within()))
    }

    /// Monitors component `id` (see [`ComponentHost::monitor`](airssys_wasm::ComponentHost::monitor)):
    /// hand the monitor to [`expect_down`](Self::expect_down) after making
    /// the component go down. An id no component has gives a `noproc`
    /// down.
    pub fn monitor(&self, id: &str) -> ComponentMonitor {
        self.host().monitor(id)
    }

    /// Waits for the down of `monitor` and checks its reason's label
    /// (`shutdown`, `failed`, `normal`, `escalated`, `linked`, `noproc`);
    /// returns the down.
    ///
    /// ```no_run
    /// # async fn demo(th: airssys_testkit::TestHost) -> airssys_testkit::Result {
    /// let monitor = th.monitor("worker");
    /// th.crash("worker").await?;
    /// th.expect_down(monitor, "failed").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Expectation`] with the recorded traffic if no down comes in
    /// time, or it has another reason.
    pub async fn expect_down(
        &self,
        monitor: ComponentMonitor,
        reason: &str,
    ) -> Result<ComponentDown> {
        let id = monitor.component().clone();
        let expected = format!("{id} to go down with reason {reason}");
        match tokio::time::timeout(self.timeout, monitor).await {
            Ok(down) if down.reason.label() == reason => Ok(down),
            Ok(down) => Err(self.failed(
                expected,
                format!(
                    "it went down with {} ({})",
                    down.reason.label(),
                    down.reason
                ),
            )),
            Err(_) => Err(self.failed(expected, self.none_within())),
        }
    }

    /// Asks component `id` for its health until its guest answers
    /// `expected` (each ask goes through its mailbox, after what is queued),
    /// and returns the health.
    ///
    /// # Errors
    /// [`Error::Expectation`] with the last answer if it does not come in time.
    pub async fn expect_health(&self, id: &str, expected: GuestHealth) -> Result<ComponentHealth> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let last = loop {
            let last = match self.health(id).await {
                Ok(health) if health.guest == expected => return Ok(health),
                Ok(health) => format!("it answered {:?} ({})", health.guest, health.state),
                Err(error) => format!("the health check failed: {error}"),
            };
            if tokio::time::Instant::now() >= deadline {
                break last;
            }
            tokio::time::sleep(POLL).await;
        };
        Err(self.failed(
            format!("{id} to report {expected:?} within {:?}", self.timeout),
            last,
        ))
    }

    /// Waits until component `id`'s counters are exactly `expected`
    /// (handled, failed, restarts) and returns its row of the host's list.
    ///
    /// # Errors
    /// [`Error::Expectation`] with the counters it had at the timeout.
    pub async fn expect_counters(&self, id: &str, expected: Counters) -> Result<ComponentInfo> {
        let mut last = format!("no component {id} is running");
        let outcome = self
            .poll(|| {
                let found = match self.info(id) {
                    Some(info) if Counters::of(&info) == expected => Some(info),
                    Some(info) => {
                        last = format!("it had {:?}", Counters::of(&info));
                        None
                    }
                    None => None,
                };
                std::future::ready(found)
            })
            .await;
        outcome.ok_or_else(|| {
            self.failed(
                format!("{id} to have {expected:?} within {:?}", self.timeout),
                last,
            )
        })
    }

    /// Waits until every message the test put in and every publish that
    /// reached a component is accounted for: for each component the test
    /// spawned, delivered = handled + failed + dead-lettered undelivered
    /// (mailbox full, stopped), with an empty mailbox. Components another
    /// component may send to directly are listed but not checked (those
    /// sends do not pass the broker). Returns the ledger.
    ///
    /// # Errors
    /// [`Error::Expectation`] with the ledger table and the traffic.
    pub async fn expect_ledger_balanced(&self) -> Result<Ledger> {
        let mut last = None;
        let outcome = self
            .poll(|| {
                let ledger = self.ledger();
                let found = if ledger.is_balanced() {
                    Some(ledger)
                } else {
                    last = Some(ledger);
                    None
                };
                std::future::ready(found)
            })
            .await;
        outcome.ok_or_else(|| {
            let table = last.map(|l| l.to_string()).unwrap_or_default();
            self.failed(
                format!(
                    "every message handled or dead-lettered within {:?}",
                    self.timeout
                ),
                format!("the ledger does not balance:\n{table}"),
            )
        })
    }

    /// Polls `check` every [`POLL`] until it gives `Some` or the timeout.
    async fn poll<T, F, Fut>(&self, mut check: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some(found) = check().await {
                return Some(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
