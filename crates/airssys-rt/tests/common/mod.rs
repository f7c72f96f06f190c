//! A probe child and event helpers shared by the supervision tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use airssys_rt::supervisor::{
    Child, ChildError, ChildHealth, ExitReason, ExitSignal, SupervisionEvent,
};
use async_trait::async_trait;
use tokio::sync::broadcast::{self, error::RecvError};

/// Everything the probes did, as "name:start", "name:stop", "name:kill".
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    /// Returns and forgets the entries so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[derive(Default)]
struct Control {
    exit: Option<ExitSignal>,
    fail_starts: u32,
    hang_stop: bool,
    hang_health: bool,
    health: Option<ChildHealth>,
}

/// Remote control of a running probe.
#[derive(Clone)]
pub struct ProbeHandle {
    control: Arc<Mutex<Control>>,
}

impl ProbeHandle {
    fn fire(&self, reason: ExitReason) {
        let signal = self.control.lock().unwrap().exit.take();
        signal.expect("probe is not running").exit(reason);
    }
    /// The running incarnation crashes.
    pub fn crash(&self) {
        self.fire(ExitReason::Failed("boom".into()));
    }
    /// The running incarnation finishes normally.
    pub fn exit_normally(&self) {
        self.fire(ExitReason::Normal);
    }
    /// The running incarnation asks its supervisor to fail.
    pub fn escalate(&self) {
        self.fire(ExitReason::Escalated("cannot go on".into()));
    }
    /// Takes the running incarnation's exit signal, to fire it later.
    pub fn steal_signal(&self) -> ExitSignal {
        self.control
            .lock()
            .unwrap()
            .exit
            .take()
            .expect("probe is not running")
    }
    /// The next `n` starts fail.
    pub fn fail_next_starts(&self, n: u32) {
        self.control.lock().unwrap().fail_starts = n;
    }
    /// `stop` never returns.
    pub fn hang_in_stop(&self) {
        self.control.lock().unwrap().hang_stop = true;
    }
    /// `health_check` never returns.
    pub fn hang_in_health_check(&self) {
        self.control.lock().unwrap().hang_health = true;
    }
    /// What `health_check` reports from now on.
    pub fn report_health(&self, health: ChildHealth) {
        self.control.lock().unwrap().health = Some(health);
    }
}

/// A child that logs its lifecycle and can be told to misbehave.
pub struct Probe {
    name: String,
    log: Log,
    control: Arc<Mutex<Control>>,
}

/// A probe named `name` logging into `log`.
pub fn probe(name: &str, log: &Log) -> (Box<dyn Child>, ProbeHandle) {
    let control = Arc::new(Mutex::new(Control::default()));
    let probe = Probe {
        name: name.to_owned(),
        log: log.clone(),
        control: control.clone(),
    };
    (Box::new(probe), ProbeHandle { control })
}

#[async_trait]
impl Child for Probe {
    async fn start(&mut self, exit: ExitSignal) -> Result<(), ChildError> {
        let mut control = self.control.lock().unwrap();
        if control.fail_starts > 0 {
            control.fail_starts -= 1;
            self.log.push(format!("{}:start-failed", self.name));
            return Err(ChildError::StartFailed {
                child: self.name.clone(),
                reason: "told to fail".into(),
            });
        }
        control.exit = Some(exit);
        self.log.push(format!("{}:start", self.name));
        Ok(())
    }

    async fn stop(&mut self, _timeout: Duration) -> Result<(), ChildError> {
        self.log.push(format!("{}:stop", self.name));
        let hang = {
            let mut control = self.control.lock().unwrap();
            control.exit = None;
            control.hang_stop
        };
        if hang {
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    fn kill(&mut self) {
        self.log.push(format!("{}:kill", self.name));
        self.control.lock().unwrap().exit = None;
    }

    async fn health_check(&mut self) -> ChildHealth {
        let (hang, health) = {
            let control = self.control.lock().unwrap();
            (control.hang_health, control.health.clone())
        };
        if hang {
            std::future::pending::<()>().await;
        }
        health.unwrap_or(ChildHealth::Healthy)
    }
}

/// Waits (up to 60 s of tokio time) for the first event matching `pred`.
pub async fn wait_for(
    rx: &mut broadcast::Receiver<SupervisionEvent>,
    what: &str,
    mut pred: impl FnMut(&SupervisionEvent) -> bool,
) -> SupervisionEvent {
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match rx.recv().await {
                Ok(event) if pred(&event) => return event,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("event stream closed waiting for {what}"),
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Waits for `child` of `supervisor` to be restarted; returns (attempt, delay).
pub async fn restarted(
    rx: &mut broadcast::Receiver<SupervisionEvent>,
    supervisor: &str,
    child: &str,
) -> (u32, Duration) {
    let event = wait_for(rx, &format!("{supervisor}/{child} restarted"), |e| {
        matches!(e, SupervisionEvent::ChildRestarted { supervisor: s, child: c, .. } if s == supervisor && c == child)
    })
    .await;
    match event {
        SupervisionEvent::ChildRestarted { attempt, delay, .. } => (attempt, delay),
        _ => unreachable!(),
    }
}

/// Collects every event already delivered to `rx`, without waiting.
pub fn drain(rx: &mut broadcast::Receiver<SupervisionEvent>) -> Vec<SupervisionEvent> {
    let mut out = Vec::new();
    while let Ok(event) = rx.try_recv() {
        out.push(event);
    }
    out
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}
