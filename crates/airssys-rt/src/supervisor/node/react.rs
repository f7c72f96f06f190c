//! How a supervisor reacts: to a child's exit (restart policy, intensity,
//! backoff, strategy, escalation), to its timers (due restarts and health
//! checks) and to its own start by a parent.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::{timeout, Instant};

use super::super::cause::FailureCause;
use super::super::child::{ChildError, ExitReason, ExitSignal};
use super::super::error::SupervisorError;
use super::super::event::{SupervisionEvent, SupervisorExit};
use super::super::health::HealthVerdict;
use super::super::spec::ChildId;
use super::super::strategy::{RestartPolicy, RestartStrategy};
use super::entry::{State, MIN_HEALTH_INTERVAL};
use super::{Exit, Mode, SupervisorNode};

impl SupervisorNode {
    /// A root's start ([`Command::Init`](super::super::command::Command)):
    /// its initial children, in order. A failure is final for a root: it
    /// lets go of every child (started or not) and fails, then answers.
    pub(super) async fn init(
        &mut self,
        reply: Option<oneshot::Sender<Result<(), SupervisorError>>>,
    ) {
        let result = self.start_in_order().await;
        if let Err(error) = &result {
            tracing::warn!(supervisor = %self.config.name, %error, "supervisor could not start");
            self.release_all().await;
            let cause = FailureCause::Other(error.to_string());
            self.emit(SupervisionEvent::SupervisorFailed {
                supervisor: self.name().to_owned(),
                cause: cause.clone(),
            });
            self.mode = Mode::Failed(cause.clone());
            self.exit_watch
                .send_replace(Some(SupervisorExit::Failed(cause)));
        }
        if let Some(reply) = reply {
            // A dropped receiver means `try_start` was cancelled; the root
            // has failed (or runs) all the same, and its handle is gone.
            let _ = reply.send(result);
        }
    }

    /// A (nested) supervisor's start by its parent: all children afresh, in
    /// order, with a fresh intensity window. If a child cannot start the
    /// nested supervisor does not start either (those already started are
    /// stopped again) and its parent treats that as a failed start.
    pub(super) async fn activate(&mut self, exit: ExitSignal) -> Result<(), ChildError> {
        if let Mode::Failed(cause) = &self.mode {
            return Err(ChildError::StartFailed {
                child: self.name().to_owned(),
                reason: cause.to_string(),
            });
        }
        if self.is_running() {
            self.stop_all(None).await;
        }
        self.mode = Mode::Idle;
        self.intensity.lock().reset();
        for entry in self.children.iter_mut() {
            entry.consecutive = 0;
        }
        match self.start_in_order().await {
            Ok(()) => {
                self.mode = Mode::Running;
                self.parent_exit = Some(exit);
                Ok(())
            }
            Err(error) => Err(ChildError::StartFailed {
                child: self.name().to_owned(),
                reason: error.to_string(),
            }),
        }
    }

    /// OTP's start of a supervisor: every child, in start order, each
    /// waited for before the next. If one fails to start (or time out),
    /// those started before it are stopped in reverse start order, those
    /// after it are not started, and its error is returned. Every child is
    /// expected to be stopped when this is called.
    async fn start_in_order(&mut self) -> Result<(), SupervisorError> {
        // `add_child` refuses duplicates; initial children are checked here.
        if let Some(name) = self.children.first_duplicate_name() {
            return Err(SupervisorError::DuplicateChild {
                supervisor: self.name().to_owned(),
                child: name.to_owned(),
            });
        }
        for i in 0..self.children.len() {
            match self.start_child(i).await {
                Ok(()) => self.emit_started(i),
                Err(source) => {
                    let child = self.children[i].spec.name().to_owned();
                    self.emit(SupervisionEvent::ChildFailed {
                        supervisor: self.name().to_owned(),
                        child: child.clone(),
                        incarnation: self.children[i].generation,
                        reason: ExitReason::Failed(source.to_string().into()),
                    });
                    self.stop_all(None).await;
                    return Err(SupervisorError::StartFailed {
                        supervisor: self.name().to_owned(),
                        child,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    pub(super) async fn on_exit(&mut self, exit: Exit) {
        let Some(i) = self.index_of(exit.id) else {
            return;
        };
        let entry = &mut self.children[i];
        if entry.generation != exit.generation || !matches!(entry.state, State::Running) {
            tracing::trace!(supervisor = %self.config.name, child = entry.spec.name(), "stale exit signal ignored");
            return;
        }
        if exit.restarted_in_place {
            self.restarted_in_place(i, exit.reason);
            return;
        }
        entry.state = State::Exited(exit.reason.clone());
        entry.next_health = None;
        self.child_ended(i, exit.reason).await;
    }

    /// Child `i`'s incarnation failed with `reason` and its own task put a
    /// fresh one in its place, its restart already counted in the
    /// intensity (see [`ExitSignal`]): record it as this task's own
    /// restart would be, and report it the same way (failed, restarting
    /// at once, restarted).
    fn restarted_in_place(&mut self, i: usize, reason: ExitReason) {
        let now = Instant::now();
        let within = self.config.intensity.within;
        let supervisor = self.name().to_owned();
        let entry = &mut self.children[i];
        let attempt = entry.count_attempt(now, within);
        let failed = entry.generation;
        entry.generation += 1;
        entry.restarts = entry.restarts.saturating_add(1);
        let next_health = entry.started(now);
        let child = entry.spec.name().to_owned();
        if let Some(at) = next_health {
            self.wakes.push(at, entry.id);
        }
        let incarnation = failed + 1;
        self.emit(SupervisionEvent::ChildFailed {
            supervisor: supervisor.clone(),
            child: child.clone(),
            incarnation: failed,
            reason,
        });
        self.emit(SupervisionEvent::ChildRestarting {
            supervisor: supervisor.clone(),
            child: child.clone(),
            attempt,
            delay: Duration::ZERO,
        });
        self.emit(SupervisionEvent::ChildRestarted {
            supervisor,
            child,
            incarnation,
            attempt,
            delay: Duration::ZERO,
        });
    }

    /// Child `i` is no longer running because of `reason` (its state is
    /// already set): report it and apply escalation, restart policy,
    /// intensity, backoff and strategy.
    async fn child_ended(&mut self, i: usize, reason: ExitReason) {
        let name = self.children[i].spec.name().to_owned();
        let supervisor = self.name().to_owned();
        let incarnation = self.children[i].generation;
        if reason.is_abnormal() {
            self.emit(SupervisionEvent::ChildFailed {
                supervisor,
                child: name.clone(),
                incarnation,
                reason: reason.clone(),
            });
        } else {
            self.emit(SupervisionEvent::ChildExited {
                supervisor,
                child: name.clone(),
                incarnation,
                reason: reason.clone(),
            });
        }
        if let ExitReason::Escalated(why) = &reason {
            self.fail(FailureCause::child_escalated(name, why.clone()))
                .await;
            return;
        }
        let policy = self.children[i].spec.restart_policy();
        if !policy.restarts_after(&reason) {
            if policy == RestartPolicy::Temporary {
                self.remove(i).await;
            }
            return;
        }
        let now = Instant::now();
        let limit = self.config.intensity;
        let within = limit.within;
        let recorded = self.intensity.lock().record(now);
        if let Some(restarts) = recorded {
            self.emit(SupervisionEvent::IntensityExceeded {
                supervisor: self.name().to_owned(),
                restarts,
                within,
            });
            self.fail(FailureCause::IntensityExceeded {
                restarts: u32::try_from(restarts).unwrap_or(u32::MAX),
                within,
                max_restarts: limit.max_restarts,
            })
            .await;
            return;
        }
        self.restart_group(i, now).await;
    }

    /// Restarts child `i`, which ended at `now`, and the children its
    /// strategy restarts with it, after the backoff of its consecutive
    /// attempt: the others of the group stop first (last started first),
    /// temporary ones among them are removed.
    async fn restart_group(&mut self, i: usize, now: Instant) {
        let within = self.config.intensity.within;
        let entry = &mut self.children[i];
        let attempt = entry.count_attempt(now, within);
        let delay = self.config.backoff.delay(attempt);
        let due = now + delay;
        let failed = entry.id;

        let range = match self.config.strategy {
            RestartStrategy::OneForOne => i..i + 1,
            RestartStrategy::OneForAll => 0..self.children.len(),
            RestartStrategy::RestForOne => i..self.children.len(),
        };
        let group: Vec<ChildId> = range
            .filter(|&j| {
                j == i
                    || matches!(
                        self.children[j].state,
                        State::Running | State::Restarting { .. } | State::Stopped
                    )
            })
            .map(|j| self.children[j].id)
            .collect();
        for &id in group.iter().rev() {
            if id == failed {
                continue;
            }
            if let Some(j) = self.index_of(id) {
                if matches!(self.children[j].state, State::Running) {
                    self.stop_child(j, None).await;
                }
            }
        }
        for id in group {
            let Some(j) = self.index_of(id) else { continue };
            if id != failed && self.children[j].spec.restart_policy() == RestartPolicy::Temporary {
                self.remove(j).await;
            } else {
                self.children[j].state = State::Restarting {
                    due,
                    attempt,
                    delay,
                };
                self.wakes.push(due, id);
                self.emit(SupervisionEvent::ChildRestarting {
                    supervisor: self.name().to_owned(),
                    child: self.children[j].spec.name().to_owned(),
                    attempt,
                    delay,
                });
            }
        }
    }

    /// Gives up: stops every child and fails to the parent (or, for a root,
    /// resolves `wait()`). As in OTP, a supervisor that gave up on its
    /// restart intensity exits `shutdown` to its parent (a `Transient`
    /// supervisor child is not restarted then); any other cause exits
    /// failed with the cause.
    ///
    /// A nested supervisor keeps its children (stopped): its parent decides
    /// whether it starts again, and their handles must survive that. A root
    /// has nobody above it, so its failure is final: it lets go of its
    /// children (closing their mailboxes, and those of the whole subtree)
    /// before `wait()` resolves.
    async fn fail(&mut self, cause: FailureCause) {
        tracing::warn!(supervisor = %self.config.name, %cause, "supervisor failed");
        self.stop_all(None).await;
        if self.root {
            self.release_all().await;
        }
        self.emit(SupervisionEvent::SupervisorFailed {
            supervisor: self.name().to_owned(),
            cause: cause.clone(),
        });
        let exit_reason = match cause {
            FailureCause::IntensityExceeded { .. } => ExitReason::Shutdown,
            _ => ExitReason::Failed(cause.clone()),
        };
        if self.root {
            self.mode = Mode::Failed(cause.clone());
            self.exit_watch
                .send_replace(Some(SupervisorExit::Failed(cause)));
        } else {
            self.mode = Mode::Idle;
            if let Some(signal) = self.parent_exit.take() {
                signal.exit(exit_reason);
            }
        }
    }

    /// Runs restarts whose backoff is over (in start order), then due health
    /// checks. A failed restart ends the pass so that the rescheduled group
    /// starts again in order on the next one.
    pub(super) async fn on_timer(&mut self) {
        let now = Instant::now();
        // What is due, checked against each child's state (an entry may be
        // stale); restarts in start order, which is id order.
        let mut restarts = Vec::new();
        let mut checks = Vec::new();
        for (at, id) in self.wakes.take_due(now) {
            let Some(i) = self.index_of(id) else { continue };
            if !self.children[i].is_due_at(at) {
                continue;
            }
            match self.children[i].state {
                State::Restarting { .. } => restarts.push((at, id)),
                _ => checks.push(id),
            }
        }
        restarts.sort_unstable_by_key(|&(_, id)| id);
        restarts.dedup_by_key(|&mut (_, id)| id);
        checks.sort_unstable();
        checks.dedup();
        let mut restarts = restarts.into_iter();
        while let Some((_, id)) = restarts.next() {
            let Some(i) = self.index_of(id) else { continue };
            let State::Restarting { attempt, delay, .. } = self.children[i].state else {
                continue;
            };
            self.children[i].restarts = self.children[i].restarts.saturating_add(1);
            match self.start_child(i).await {
                Ok(()) => self.emit(SupervisionEvent::ChildRestarted {
                    supervisor: self.name().to_owned(),
                    child: self.children[i].spec.name().to_owned(),
                    incarnation: self.children[i].generation,
                    attempt,
                    delay,
                }),
                Err(e) => {
                    let reason = ExitReason::Failed(e.to_string().into());
                    self.children[i].state = State::Exited(reason.clone());
                    self.child_ended(i, reason).await;
                    // What was due and not run yet stays due (those the
                    // failure rescheduled have new entries already).
                    for (at, id) in restarts {
                        self.wakes.push(at, id);
                    }
                    for id in checks {
                        if let Some(at) =
                            self.index_of(id).and_then(|i| self.children[i].next_health)
                        {
                            self.wakes.push(at, id);
                        }
                    }
                    return;
                }
            }
        }
        for id in checks {
            if !self.is_running() {
                return;
            }
            if let Some(i) = self.index_of(id) {
                if matches!(self.children[i].state, State::Running) {
                    self.check_health(i).await;
                }
            }
        }
    }

    async fn check_health(&mut self, i: usize) {
        let entry = &mut self.children[i];
        let Some(config) = entry.spec.health_config() else {
            entry.next_health = None;
            return;
        };
        let result = timeout(config.timeout, entry.child.health_check())
            .await
            .ok();
        let next = Instant::now() + config.interval.max(MIN_HEALTH_INTERVAL);
        entry.next_health = Some(next);
        let id = entry.id;
        self.wakes.push(next, id);
        let HealthVerdict::Failed {
            consecutive,
            reason,
            restart,
        } = entry.health.observe(&config, result)
        else {
            return;
        };
        let child = entry.spec.name().to_owned();
        let incarnation = entry.generation;
        self.emit(SupervisionEvent::HealthCheckFailed {
            supervisor: self.name().to_owned(),
            child,
            incarnation,
            consecutive,
            reason: reason.clone(),
        });
        if restart {
            self.stop_child(i, None).await;
            let reason = ExitReason::Failed(FailureCause::HealthCheckFailed {
                consecutive,
                reason: reason.into(),
            });
            self.children[i].state = State::Exited(reason.clone());
            self.child_ended(i, reason).await;
        }
    }
}
