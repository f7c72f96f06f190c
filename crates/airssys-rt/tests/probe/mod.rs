//! A probe actor for the monitor and link tests: it monitors, links and
//! fails on command, and reports every down, trapped exit and stop on a
//! channel the test awaits.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use airssys_rt::supervisor::ExitReason;
use airssys_rt::{
    Actor, ActorContext, ActorId, ActorRef, Down, ErrorAction, LinkError, LinkExit, MonitorRef,
};
use tokio::sync::{mpsc, Notify};
use tokio::time::timeout;

/// How long a test waits for an event before it fails.
pub const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
#[error("boom")]
pub struct Boom;

/// What a probe reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Probe `0` handled this down.
    Down(ActorId, Down),
    /// Probe `0` handled this trapped link exit.
    Exit(ActorId, LinkExit),
    /// Probe `0` handled a `Hello` from `1`.
    Hello(ActorId, ActorId),
    /// Probe `0` ran `post_stop`.
    Stopped(ActorId),
}

/// Holds a probe inside a handler: it says when it is in, and waits to be
/// let go.
#[derive(Default)]
pub struct Gate {
    entered: Notify,
    open: Notify,
}

impl Gate {
    pub fn new() -> Arc<Gate> {
        Arc::new(Gate::default())
    }
    /// Waits until the probe is inside the handler.
    pub async fn entered(&self) {
        timeout(WAIT, self.entered.notified())
            .await
            .expect("the probe did not reach the gate");
    }
    /// Lets the probe go on.
    pub fn open(&self) {
        self.open.notify_one();
    }
    async fn pass(&self) {
        self.entered.notify_one();
        self.open.notified().await;
    }
}

pub enum Cmd {
    Monitor(ActorRef<Probe>),
    Demonitor(MonitorRef),
    Link(ActorRef<Probe>),
    Unlink(ActorRef<Probe>),
    TrapExits(bool),
    /// Fails the handler; `on_error` answers with the probe's action.
    Fail,
    /// Stops normally (`ActorContext::stop`).
    Stop,
    /// Sends `Hello` to the other probe, then stops normally.
    HelloThenStop(ActorRef<Probe>),
    Hello(ActorId),
    /// Waits for the gate, then demonitors.
    WaitThenDemonitor(Arc<Gate>, MonitorRef),
    /// Waits for the gate, then unlinks.
    WaitThenUnlink(Arc<Gate>, ActorRef<Probe>),
    /// Waits for the gate.
    Wait(Arc<Gate>),
    Ping,
}

#[derive(Debug)]
pub enum Reply {
    Monitor(MonitorRef),
    Bool(bool),
    Link(Result<(), LinkError>),
    Done,
}

pub struct Probe {
    pub events: mpsc::UnboundedSender<Event>,
    pub on_error: ErrorAction,
    /// A down makes the handler fail (to test a failing hook).
    pub fail_on_down: bool,
}

impl Actor for Probe {
    type Message = Cmd;
    type Reply = Reply;
    type Error = Boom;

    async fn handle_message(
        &mut self,
        cmd: Cmd,
        ctx: &mut ActorContext<Self>,
    ) -> Result<Reply, Boom> {
        Ok(match cmd {
            Cmd::Monitor(target) => Reply::Monitor(ctx.monitor(&target)),
            Cmd::Demonitor(monitor) => Reply::Bool(ctx.demonitor(monitor)),
            Cmd::Link(peer) => Reply::Link(ctx.link(&peer)),
            Cmd::Unlink(peer) => Reply::Bool(ctx.unlink(&peer)),
            Cmd::TrapExits(trap) => {
                ctx.set_trap_exits(trap);
                Reply::Done
            }
            Cmd::Fail => return Err(Boom),
            Cmd::Stop => {
                ctx.stop();
                Reply::Done
            }
            Cmd::HelloThenStop(peer) => {
                let _ = peer.tell(Cmd::Hello(ctx.myself().id())).await;
                ctx.stop();
                Reply::Done
            }
            Cmd::Hello(from) => {
                let _ = self.events.send(Event::Hello(ctx.myself().id(), from));
                Reply::Done
            }
            Cmd::WaitThenDemonitor(gate, monitor) => {
                gate.pass().await;
                Reply::Bool(ctx.demonitor(monitor))
            }
            Cmd::WaitThenUnlink(gate, peer) => {
                gate.pass().await;
                Reply::Bool(ctx.unlink(&peer))
            }
            Cmd::Wait(gate) => {
                gate.pass().await;
                Reply::Done
            }
            Cmd::Ping => Reply::Done,
        })
    }

    async fn handle_down(&mut self, down: Down, ctx: &mut ActorContext<Self>) -> Result<(), Boom> {
        let _ = self.events.send(Event::Down(ctx.myself().id(), down));
        if self.fail_on_down {
            return Err(Boom);
        }
        Ok(())
    }

    async fn handle_link_exit(
        &mut self,
        exit: LinkExit,
        ctx: &mut ActorContext<Self>,
    ) -> Result<(), Boom> {
        let _ = self.events.send(Event::Exit(ctx.myself().id(), exit));
        Ok(())
    }

    async fn post_stop(&mut self, ctx: &mut ActorContext<Self>) {
        let _ = self.events.send(Event::Stopped(ctx.myself().id()));
    }

    fn on_error(&mut self, _: &Boom, _: &mut ActorContext<Self>) -> ErrorAction {
        self.on_error
    }
}

/// A factory of probes that report on `events` and answer failures with
/// `on_error`.
pub fn probe(
    events: &mpsc::UnboundedSender<Event>,
    on_error: ErrorAction,
) -> impl FnMut() -> Probe + Send + 'static {
    let events = events.clone();
    move || Probe {
        events: events.clone(),
        on_error,
        fail_on_down: false,
    }
}

/// Asks `probe`, failing the test on any error.
pub async fn ask(probe: &ActorRef<Probe>, cmd: Cmd) -> Reply {
    match probe.ask(cmd, WAIT).await {
        Ok(reply) => reply,
        Err(error) => panic!("ask failed: {error}"),
    }
}

/// Makes `watcher` monitor `target`.
pub async fn monitor(watcher: &ActorRef<Probe>, target: &ActorRef<Probe>) -> MonitorRef {
    match ask(watcher, Cmd::Monitor(target.clone())).await {
        Reply::Monitor(monitor) => monitor,
        other => panic!("unexpected reply {other:?}"),
    }
}

/// Links `a` with `b` (from `a`).
pub async fn link(a: &ActorRef<Probe>, b: &ActorRef<Probe>) {
    match ask(a, Cmd::Link(b.clone())).await {
        Reply::Link(Ok(())) => {}
        other => panic!("unexpected reply {other:?}"),
    }
}

/// The next event, skipping `Stopped` ones unless `stops` is set; fails
/// the test after `WAIT`.
pub async fn next(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    timeout(WAIT, events.recv())
        .await
        .expect("no event in time")
        .expect("event channel closed")
}

/// The next event that is not a `Stopped`.
pub async fn next_signal(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    loop {
        match next(events).await {
            Event::Stopped(_) => continue,
            other => return other,
        }
    }
}

/// Fails the test if an event other than `Stopped` is queued now.
pub fn no_signal(events: &mut mpsc::UnboundedReceiver<Event>) {
    while let Ok(event) = events.try_recv() {
        assert!(
            matches!(event, Event::Stopped(_)),
            "unexpected event {event:?}"
        );
    }
}

/// A failed exit reason with the probe's error text.
pub fn boom() -> ExitReason {
    ExitReason::Failed("boom".into())
}
