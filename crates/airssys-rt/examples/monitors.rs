//! Monitors and links in a few steps: a session learns that a worker went
//! down and why, a linked helper goes down with a failing worker, and a
//! trapping supervisor-like actor gets the exit as a message.
//!
//! `cargo run -p airssys-rt --example monitors`

use std::time::Duration;

use airssys_rt::{Actor, ActorContext, ActorRef, ActorSystem, Down, ErrorAction, LinkExit};

#[derive(Debug, thiserror::Error)]
#[error("worker gave up")]
struct GaveUp;

/// Fails on `true`, stopping for good (`ErrorAction::Escalate` is abnormal).
struct Worker;

impl Actor for Worker {
    type Message = bool;
    type Reply = ();
    type Error = GaveUp;

    async fn handle_message(
        &mut self,
        fail: bool,
        _: &mut ActorContext<Self>,
    ) -> Result<(), GaveUp> {
        if fail {
            return Err(GaveUp);
        }
        Ok(())
    }

    fn on_error(&mut self, _: &GaveUp, _: &mut ActorContext<Self>) -> ErrorAction {
        ErrorAction::Escalate
    }
}

/// Watches or links to a worker on command and prints what it learns.
struct Session;

enum Cmd {
    Watch(ActorRef<Worker>),
    Link(ActorRef<Worker>),
    Ping,
}

impl Actor for Session {
    type Message = Cmd;
    type Reply = ();
    type Error = std::convert::Infallible;

    async fn handle_message(
        &mut self,
        cmd: Cmd,
        ctx: &mut ActorContext<Self>,
    ) -> Result<(), Self::Error> {
        match cmd {
            // The down will arrive at `handle_down`.
            Cmd::Watch(worker) => {
                ctx.monitor(&worker);
            }
            // A failure of the worker now stops this actor too, unless it traps exits.
            Cmd::Link(worker) => ctx.link(&worker).unwrap_or_else(|e| println!("{e}")),
            Cmd::Ping => {}
        }
        Ok(())
    }

    async fn handle_down(
        &mut self,
        down: Down,
        _: &mut ActorContext<Self>,
    ) -> Result<(), Self::Error> {
        println!("session: {} went down: {}", down.actor, down.reason);
        Ok(())
    }

    async fn handle_link_exit(
        &mut self,
        exit: LinkExit,
        _: &mut ActorContext<Self>,
    ) -> Result<(), Self::Error> {
        println!(
            "trapping session: linked {} exited: {}",
            exit.peer, exit.reason
        );
        Ok(())
    }
}

#[tokio::main]
async fn main() {
    let system = ActorSystem::new();
    let wait = Duration::from_secs(1);

    // 1. A session monitors a worker; the worker fails; the session gets the down.
    let worker = system.spawn(|| Worker).await.unwrap();
    let session = system.spawn(|| Session).await.unwrap();
    session.ask(Cmd::Watch(worker.clone()), wait).await.unwrap();
    let _ = worker.ask(true, wait).await;
    worker.wait_for_stop().await;
    session.ask(Cmd::Ping, wait).await.unwrap();

    // 2. From outside an actor: a Monitor future. The worker is gone: noproc at once.
    println!("outside: {}", worker.monitor().await.reason);

    // 3. A helper linked to a worker goes down with it, with a linked reason.
    let worker = system.spawn(|| Worker).await.unwrap();
    let helper = system.spawn(|| Session).await.unwrap();
    helper.ask(Cmd::Link(worker.clone()), wait).await.unwrap();
    let helper_down = helper.monitor();
    let _ = worker.ask(true, wait).await;
    println!(
        "outside: the helper went down: {}",
        helper_down.await.reason
    );

    // 4. The same link, trapping exits: the exit arrives as a message instead.
    let worker = system.spawn(|| Worker).await.unwrap();
    let trapper = system.spawn(|| Session).trap_exits(true).await.unwrap();
    trapper.ask(Cmd::Link(worker.clone()), wait).await.unwrap();
    let _ = worker.ask(true, wait).await;
    // The exit was queued before this ping: it is handled first.
    worker.wait_for_stop().await;
    trapper.ask(Cmd::Ping, wait).await.unwrap();

    system.shutdown(wait).await;
}
