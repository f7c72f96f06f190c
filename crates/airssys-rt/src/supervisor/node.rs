//! The supervisor task: it owns the children and reacts, one thing at a time,
//! to requests from its handles, to exit signals from its children and to its
//! timers (restarts waiting out their backoff, health checks that are due).
//!
//! Nothing here blocks the task on a backoff: a restart is a deadline that the
//! task's `select!` sleeps towards while it keeps serving requests.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout, Instant};

use super::cause::FailureCause;
use super::child::{Child, ChildError, ChildHealth, ExitReason, ExitSignal};
use super::command::{Command, ShutdownReport, SupervisorConfig};
use super::error::SupervisorError;
use super::event::{SupervisionEvent, SupervisorExit};
use super::intensity::IntensityTracker;
use super::spec::{ChildId, ChildInfo, ChildSpec, ChildState};
use super::strategy::{RestartPolicy, RestartStrategy, ShutdownPolicy};
use super::stream::EventStream;

mod children;
mod entry;
mod react;
mod wakes;

use children::Children;
use entry::{Entry, State};
use wakes::Wakes;

/// A supervisor: the tokio task that starts, watches and restarts children
/// per its strategy, restart intensity and backoff. Created with
/// [`SupervisorNode::builder`]; used through its
/// [`SupervisorRef`](super::SupervisorRef).
///
/// ```
/// use std::time::Duration;
/// use airssys_rt::supervisor::{BackoffPolicy, RestartStrategy, SupervisorNode};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let root = SupervisorNode::builder("root")
///     .strategy(RestartStrategy::OneForAll)
///     .intensity(5, Duration::from_secs(10))
///     .backoff(BackoffPolicy::none())
///     .start();
/// assert!(root.children().await.unwrap().is_empty());
/// let report = root.shutdown(Duration::from_secs(1)).await.unwrap();
/// assert!(report.aborted.is_empty());
/// # }
/// ```
pub struct SupervisorNode {
    config: SupervisorConfig,
    root: bool,
    mode: Mode,
    children: Children,
    /// When a restart or a health check is next due.
    wakes: Wakes,
    /// Shared with the children's exit signals when they may restart in
    /// place (see `in_place`), which count their restarts in it.
    intensity: Arc<Mutex<IntensityTracker>>,
    /// Whether a failed child may restart itself in place, in its own
    /// task, and tell this task afterwards: one-for-one, no backoff. (Any
    /// other restart is a decision about more than the child, or a wait.)
    in_place: bool,
    events: EventStream,
    cmds: mpsc::UnboundedReceiver<Command>,
    exits_tx: mpsc::UnboundedSender<Exit>,
    exits_rx: mpsc::UnboundedReceiver<Exit>,
    exit_watch: watch::Sender<Option<SupervisorExit>>,
    /// The signal to fire when this (nested) supervisor fails.
    parent_exit: Option<ExitSignal>,
}

impl std::fmt::Debug for SupervisorNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorNode")
            .field("name", &self.config.name)
            .field("children", &self.children.len())
            .finish_non_exhaustive()
    }
}

/// Whether the supervisor's children are meant to be running.
enum Mode {
    /// A nested supervisor not started by its parent (or stopped, or failed).
    Idle,
    Running,
    /// A root that gave up; it takes no new children.
    Failed(FailureCause),
}

/// What a child's incarnation tells its supervisor task: it ended (an
/// exit signal fired), or it failed and restarted itself in place.
pub(crate) struct Exit {
    id: ChildId,
    generation: u64,
    reason: ExitReason,
    /// Incarnation `generation` failed with `reason` and its task already
    /// runs a fresh one in its place (the next generation).
    restarted_in_place: bool,
}

impl SupervisorNode {
    /// A supervisor task's state, with its initial children registered (not
    /// started: a root starts them on [`Command::Init`], a nested one with
    /// every start by its parent).
    pub(crate) fn new(
        config: SupervisorConfig,
        root: bool,
        initial: Vec<(ChildSpec, Box<dyn Child>)>,
        events: EventStream,
        cmds: mpsc::UnboundedReceiver<Command>,
        exit_watch: watch::Sender<Option<SupervisorExit>>,
    ) -> Self {
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        Self {
            intensity: Arc::new(Mutex::new(IntensityTracker::new(config.intensity))),
            in_place: config.strategy == RestartStrategy::OneForOne && config.backoff.never_waits(),
            config,
            root,
            mode: if root { Mode::Running } else { Mode::Idle },
            children: Children::new(
                initial
                    .into_iter()
                    .map(|(spec, child)| Entry::new(spec, child))
                    .collect(),
            ),
            wakes: Wakes::default(),
            events,
            cmds,
            exits_tx,
            exits_rx,
            exit_watch,
            parent_exit: None,
        }
    }

    /// The task body: serve requests, exits and timers until shut down.
    pub(crate) async fn run(mut self) {
        loop {
            let wake = self.next_wake();
            // Work already due (a restart with no backoff) runs now: a timer
            // would only fire on the clock's next tick (1 ms).
            if wake.is_some_and(|due| due <= Instant::now()) {
                self.on_timer().await;
                continue;
            }
            // Only polled when `wake` is set; the fallback is never reached.
            let sleep_at = wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
            tokio::select! {
                cmd = self.cmds.recv() => match cmd {
                    Some(cmd) => {
                        if self.on_command(cmd).await.is_break() {
                            return;
                        }
                    }
                    None => {
                        // Every handle is gone: nobody can reach this tree any more.
                        self.stop_all(None).await;
                        self.release_all().await;
                        self.report_shutdown();
                        return;
                    }
                },
                Some(exit) = self.exits_rx.recv() => self.on_exit(exit).await,
                () = tokio::time::sleep_until(sleep_at), if wake.is_some() => self.on_timer().await,
            }
        }
    }

    /// Resolves `wait()` with `Shutdown`, unless a root failure was already
    /// reported (that stays the answer).
    fn report_shutdown(&self) {
        self.exit_watch.send_if_modified(|exit| {
            if exit.is_none() {
                *exit = Some(SupervisorExit::Shutdown);
                true
            } else {
                false
            }
        });
    }

    fn name(&self) -> &str {
        &self.config.name
    }

    fn emit(&self, event: SupervisionEvent) {
        tracing::debug!(?event, "supervision event");
        self.events.emit(event);
    }

    fn is_running(&self) -> bool {
        matches!(self.mode, Mode::Running)
    }

    fn index_of(&self, id: ChildId) -> Option<usize> {
        self.children.position_of(id)
    }

    /// When the earliest restart or health check is due, if any.
    fn next_wake(&mut self) -> Option<Instant> {
        if !self.is_running() {
            return None;
        }
        let children = &self.children;
        self.wakes.next(|at, id| {
            children
                .position_of(id)
                .is_some_and(|i| children[i].is_due_at(at))
        })
    }

    async fn on_command(&mut self, cmd: Command) -> ControlFlow<()> {
        match cmd {
            Command::AddChild { spec, child, reply } => {
                let result = self.add_child(spec, child).await;
                let _ = reply.send(result);
            }
            Command::AddChildren { children, reply } => {
                let mut results = Vec::with_capacity(children.len());
                for (spec, child) in children {
                    results.push(self.add_child(spec, child).await);
                }
                let _ = reply.send(results);
            }
            Command::TerminateChild { name, reply } => {
                let result = self.terminate_child(&name).await;
                let _ = reply.send(result);
            }
            Command::Children { reply } => {
                let _ = reply.send(self.snapshot());
            }
            Command::Intensity { reply } => {
                let intensity = self.intensity.lock();
                let _ = reply.send(super::intensity::IntensityUse {
                    used: intensity.used(Instant::now()),
                    limit: intensity.limit(),
                });
            }
            Command::Shutdown { timeout, reply } => {
                let report = self.stop_all(Some(Instant::now() + timeout)).await;
                // The task ends: its children go for good, before anyone
                // hears that it did.
                self.release_all().await;
                self.mode = Mode::Idle;
                self.report_shutdown();
                // A nested supervisor shut down through its own handle ended
                // on its own: its parent hears `Shutdown` (restarted only if
                // its policy is `Permanent`).
                if let Some(signal) = self.parent_exit.take() {
                    signal.exit(ExitReason::Shutdown);
                }
                if let Some(reply) = reply {
                    let _ = reply.send(report);
                }
                return ControlFlow::Break(());
            }
            Command::Init { reply } => self.init(reply).await,
            Command::Activate { exit, reply } => {
                let result = self.activate(exit).await;
                let _ = reply.send(result);
            }
            Command::Deactivate { timeout, reply } => {
                self.stop_all(Some(Instant::now() + timeout)).await;
                self.mode = Mode::Idle;
                self.parent_exit = None;
                let _ = reply.send(());
            }
            Command::Kill => self.kill_all().await,
            Command::Health { reply } => {
                let _ = reply.send(self.own_health());
            }
        }
        ControlFlow::Continue(())
    }

    async fn add_child(
        &mut self,
        spec: ChildSpec,
        child: Box<dyn Child>,
    ) -> Result<ChildId, SupervisorError> {
        if self.children.has_name(spec.name()) {
            return Err(SupervisorError::DuplicateChild {
                supervisor: self.name().to_owned(),
                child: spec.name().to_owned(),
            });
        }
        if let Mode::Failed(cause) = &self.mode {
            return Err(SupervisorError::Failed {
                supervisor: self.name().to_owned(),
                cause: cause.clone(),
            });
        }
        let entry = Entry::new(spec, child);
        let id = entry.id;
        self.children.push(entry);
        if !self.is_running() {
            return Ok(id);
        }
        let i = self.children.len() - 1;
        match self.start_child(i).await {
            Ok(()) => {
                self.emit_started(i);
                Ok(id)
            }
            Err(source) => {
                let mut entry = self.children.remove(i);
                entry.child.release().await;
                Err(SupervisorError::StartFailed {
                    supervisor: self.name().to_owned(),
                    child: entry.spec.name().to_owned(),
                    source,
                })
            }
        }
    }

    async fn terminate_child(&mut self, name: &str) -> Result<(), SupervisorError> {
        let Some(i) = self.children.position_of_name(name) else {
            return Err(SupervisorError::ChildNotFound {
                supervisor: self.name().to_owned(),
                child: name.to_owned(),
            });
        };
        if matches!(self.children[i].state, State::Running) {
            self.stop_child(i, None).await;
        }
        self.remove(i).await;
        Ok(())
    }

    /// Removes child `i` for good: releases it, drops it, then reports it.
    async fn remove(&mut self, i: usize) {
        let mut entry = self.children.remove(i);
        entry.child.release().await;
        drop(entry.child);
        self.emit(SupervisionEvent::ChildRemoved {
            supervisor: self.name().to_owned(),
            child: entry.spec.name().to_owned(),
        });
    }

    fn snapshot(&self) -> Vec<ChildInfo> {
        self.children
            .iter()
            .map(|e| ChildInfo {
                id: e.id,
                name: e.spec.name().to_owned(),
                state: match &e.state {
                    State::Running => ChildState::Running,
                    State::Restarting { .. } => ChildState::Restarting,
                    State::Exited(reason) => ChildState::Exited(reason.clone()),
                    State::Stopped => ChildState::Stopped,
                },
                restarts: e.restarts,
                restart_policy: e.spec.restart_policy(),
                shutdown_policy: e.spec.shutdown_policy(),
            })
            .collect()
    }

    fn own_health(&self) -> ChildHealth {
        match &self.mode {
            Mode::Running => {
                let waiting = self
                    .children
                    .iter()
                    .filter(|e| matches!(e.state, State::Restarting { .. }))
                    .count();
                if waiting == 0 {
                    ChildHealth::Healthy
                } else {
                    ChildHealth::Degraded(format!("{waiting} children waiting to restart"))
                }
            }
            Mode::Idle => ChildHealth::Failed("not running".to_owned()),
            Mode::Failed(cause) => ChildHealth::Failed(cause.to_string()),
        }
    }

    fn emit_started(&self, i: usize) {
        self.emit(SupervisionEvent::ChildStarted {
            supervisor: self.name().to_owned(),
            child: self.children[i].spec.name().to_owned(),
            incarnation: self.children[i].generation,
        });
    }

    /// Starts a new incarnation of child `i`, bounded by its start timeout.
    /// On success the child is `Running`; on failure its state is unchanged.
    async fn start_child(&mut self, i: usize) -> Result<(), ChildError> {
        let exits = self.exits_tx.clone();
        let entry = &mut self.children[i];
        entry.generation += 1;
        let (id, generation) = (entry.id, entry.generation);
        let in_place = self.in_place.then(|| Arc::clone(&self.intensity));
        let signal =
            ExitSignal::to_supervisor(generation, in_place, move |generation, reason, in_place| {
                // A closed channel means the supervisor is gone; nobody to tell.
                let _ = exits.send(Exit {
                    id,
                    generation,
                    reason,
                    restarted_in_place: in_place,
                });
            });
        let limit = entry.spec.start_timeout_value();
        let result = match timeout(limit, entry.child.start(signal)).await {
            Ok(result) => result,
            Err(_) => {
                entry.child.kill();
                Err(ChildError::StartFailed {
                    child: entry.spec.name().to_owned(),
                    reason: format!("did not start within {limit:?}"),
                })
            }
        };
        match result {
            Ok(()) => {
                if let Some(at) = entry.started(Instant::now()) {
                    self.wakes.push(at, id);
                }
                Ok(())
            }
            Err(e) => {
                entry.started_at = None;
                tracing::warn!(supervisor = %self.config.name, error = %e, "child start failed");
                Err(e)
            }
        }
    }

    /// Stops the running child `i` per its shutdown policy, within `deadline`
    /// if given. Returns whether it had to be aborted.
    async fn stop_child(&mut self, i: usize, deadline: Option<Instant>) -> bool {
        let entry = &mut self.children[i];
        entry.state = State::Stopped;
        entry.next_health = None;
        let aborted = match entry.spec.shutdown_policy() {
            ShutdownPolicy::Immediate => {
                entry.child.kill();
                false
            }
            ShutdownPolicy::Graceful(limit) => {
                let budget = match deadline {
                    Some(d) => limit.min(d.saturating_duration_since(Instant::now())),
                    None => limit,
                };
                if budget.is_zero() {
                    // No time left (deadline passed, or a zero grace period).
                    entry.child.kill();
                    true
                } else {
                    match timeout(budget, entry.child.stop(budget)).await {
                        Ok(Ok(())) => false,
                        Ok(Err(ChildError::StopTimedOut { .. })) => true,
                        Ok(Err(e)) => {
                            tracing::warn!(supervisor = %self.config.name, error = %e, "child did not stop cleanly");
                            false
                        }
                        Err(_) => {
                            entry.child.kill();
                            true
                        }
                    }
                }
            }
        };
        let child = entry.spec.name().to_owned();
        let incarnation = entry.generation;
        self.emit(SupervisionEvent::ChildStopped {
            supervisor: self.name().to_owned(),
            child,
            incarnation,
            aborted,
        });
        aborted
    }

    /// Stops every running child in reverse start order, parks the others,
    /// and drops `Temporary` children (they never start twice).
    async fn stop_all(&mut self, deadline: Option<Instant>) -> ShutdownReport {
        let mut report = ShutdownReport::default();
        for i in (0..self.children.len()).rev() {
            if matches!(self.children[i].state, State::Running) {
                let aborted = self.stop_child(i, deadline).await;
                let name = self.children[i].spec.name().to_owned();
                if aborted {
                    report.aborted.push(name.clone());
                }
                report.stopped.push(name);
            } else {
                self.children[i].state = State::Stopped;
            }
        }
        self.drop_temporaries().await;
        report
    }

    /// Lets go of every child for good, in reverse start order, without
    /// events: each is released (a nested supervisor closes its whole
    /// subtree) and dropped (a supervised actor closes its mailbox and
    /// dead-letters its queue). For a supervisor that ends, or a root that
    /// gave up: nobody will start these children again, so every send to
    /// them must fail from now on. Call it once they are stopped.
    pub(super) async fn release_all(&mut self) {
        while let Some(mut entry) = self.children.pop() {
            entry.child.release().await;
        }
    }

    async fn kill_all(&mut self) {
        for i in (0..self.children.len()).rev() {
            let entry = &mut self.children[i];
            if matches!(entry.state, State::Running) {
                entry.child.kill();
                let child = entry.spec.name().to_owned();
                let incarnation = entry.generation;
                self.emit(SupervisionEvent::ChildStopped {
                    supervisor: self.name().to_owned(),
                    child,
                    incarnation,
                    aborted: true,
                });
            }
            self.children[i].state = State::Stopped;
            self.children[i].next_health = None;
        }
        self.drop_temporaries().await;
        self.mode = Mode::Idle;
        self.parent_exit = None;
    }

    async fn drop_temporaries(&mut self) {
        loop {
            let temporary = self
                .children
                .iter()
                .position(|e| e.spec.restart_policy() == RestartPolicy::Temporary);
            let Some(i) = temporary else { break };
            self.remove(i).await;
        }
    }
}
