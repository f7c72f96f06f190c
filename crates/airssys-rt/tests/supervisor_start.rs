//! A supervisor's own start (OTP's init): its children start in order, and
//! one that cannot start stops those before it and fails the whole start.

mod common;

use std::time::Duration;

use airssys_rt::supervisor::{
    BackoffPolicy, ChildError, ChildSpec, SupervisionEvent, SupervisorError, SupervisorExit,
    SupervisorNode,
};
use airssys_rt::{Actor, ActorContext, ActorSystem, AskError};
use common::{probe, restarted, strings, Log};
use tokio::sync::mpsc;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
#[error("no config")]
struct NoConfig;

/// An actor that reports its lifecycle as "name:event" and fails its
/// `pre_start` if told to.
struct Reporter {
    name: &'static str,
    fail_start: bool,
    log: mpsc::UnboundedSender<String>,
}

impl Reporter {
    fn note(&self, event: &str) {
        // A closed receiver means the test is over.
        let _ = self.log.send(format!("{}:{event}", self.name));
    }
}

impl Actor for Reporter {
    type Message = ();
    type Reply = ();
    type Error = NoConfig;

    async fn pre_start(&mut self, _: &mut ActorContext<Self>) -> Result<(), NoConfig> {
        if self.fail_start {
            self.note("pre_start-failed");
            return Err(NoConfig);
        }
        self.note("pre_start");
        Ok(())
    }

    async fn handle_message(&mut self, (): (), _: &mut ActorContext<Self>) -> Result<(), NoConfig> {
        Ok(())
    }

    async fn post_stop(&mut self, _: &mut ActorContext<Self>) {
        self.note("post_stop");
    }
}

/// Everything reported so far, once `expected` entries have arrived.
async fn reported(rx: &mut mpsc::UnboundedReceiver<String>, expected: usize) -> Vec<String> {
    let mut seen = Vec::new();
    timeout(WAIT, async {
        while seen.len() < expected {
            seen.push(rx.recv().await.expect("a reporter is alive"));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {seen:?} of {expected} reports"));
    while let Ok(more) = rx.try_recv() {
        seen.push(more);
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn a_root_whose_second_of_three_actors_cannot_start_stops_the_first_and_returns_its_error() {
    let system = ActorSystem::new();
    let (log, mut reports) = mpsc::unbounded_channel();
    let mut builder = SupervisorNode::builder("root");
    let mut actors = Vec::new();
    for (name, fail_start) in [("first", false), ("second", true), ("third", false)] {
        let spec = ChildSpec::new(name);
        let log = log.clone();
        let (actor, child) = system
            .spawn(move || Reporter {
                name,
                fail_start,
                log: log.clone(),
            })
            .name(name)
            .into_child(&spec)
            .unwrap();
        builder = builder.child(spec, child);
        actors.push(actor);
    }

    let err = system.try_start_supervisor(builder).await.unwrap_err();

    match &err {
        SupervisorError::StartFailed {
            supervisor,
            child,
            source: ChildError::StartFailed { reason, .. },
        } => {
            assert_eq!((supervisor.as_str(), child.as_str()), ("root", "second"));
            assert_eq!(reason, "no config");
        }
        other => panic!("expected second's start failure, got {other:?}"),
    }
    // The first was stopped (its post_stop ran), the third never started.
    assert_eq!(
        reported(&mut reports, 3).await,
        strings(&[
            "first:pre_start",
            "second:pre_start-failed",
            "first:post_stop"
        ])
    );
    for actor in &actors {
        assert!(matches!(
            actor.ask((), WAIT).await,
            Err(AskError::ActorStopped { .. })
        ));
        assert!(system.lookup::<Reporter>(actor.name().unwrap()).is_none());
    }
}

#[tokio::test(start_paused = true)]
async fn a_root_started_with_children_starts_them_in_order_before_it_returns() {
    let log = Log::default();
    let (a, _) = probe("a", &log);
    let (b, _) = probe("b", &log);
    let (c, _) = probe("c", &log);

    let root = SupervisorNode::builder("root")
        .child(ChildSpec::new("a"), a)
        .child(ChildSpec::new("b"), b)
        .child(ChildSpec::new("c"), c)
        .try_start()
        .await
        .unwrap();

    assert_eq!(log.entries(), strings(&["a:start", "b:start", "c:start"]));
    let names: Vec<String> = root
        .children()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, strings(&["a", "b", "c"]));
}

#[tokio::test(start_paused = true)]
async fn try_start_stops_the_started_children_in_reverse_order_when_one_cannot_start() {
    let log = Log::default();
    let (a, _) = probe("a", &log);
    let (b, _) = probe("b", &log);
    let (c, c_ctl) = probe("c", &log);
    let (d, _) = probe("d", &log);
    c_ctl.fail_next_starts(1);

    let err = SupervisorNode::builder("root")
        .child(ChildSpec::new("a"), a)
        .child(ChildSpec::new("b"), b)
        .child(ChildSpec::new("c"), c)
        .child(ChildSpec::new("d"), d)
        .try_start()
        .await
        .unwrap_err();

    assert!(
        matches!(&err, SupervisorError::StartFailed { child, .. } if child == "c"),
        "{err}"
    );
    assert_eq!(
        log.entries(),
        strings(&["a:start", "b:start", "c:start-failed", "b:stop", "a:stop"])
    );
}

#[tokio::test(start_paused = true)]
async fn initial_children_with_the_same_name_fail_the_start_before_any_starts() {
    let log = Log::default();
    let (a, _) = probe("a", &log);
    let (twin, _) = probe("a", &log);

    let err = SupervisorNode::builder("root")
        .child(ChildSpec::new("a"), a)
        .child(ChildSpec::new("a"), twin)
        .try_start()
        .await
        .unwrap_err();

    assert!(
        matches!(&err, SupervisorError::DuplicateChild { child, .. } if child == "a"),
        "{err}"
    );
    assert!(log.entries().is_empty(), "{:?}", log.entries());
}

#[tokio::test(start_paused = true)]
async fn start_without_waiting_fails_the_root_when_an_initial_child_cannot_start() {
    let log = Log::default();
    let (a, _) = probe("a", &log);
    let (b, b_ctl) = probe("b", &log);
    b_ctl.fail_next_starts(1);

    let root = SupervisorNode::builder("root")
        .child(ChildSpec::new("a"), a)
        .child(ChildSpec::new("b"), b)
        .start();

    match timeout(WAIT, root.wait()).await.unwrap() {
        SupervisorExit::Failed(reason) => {
            assert!(reason.to_string().contains("child `b`"), "{reason}")
        }
        other => panic!("expected the root to fail, got {other:?}"),
    }
    assert_eq!(
        log.entries(),
        strings(&["a:start", "b:start-failed", "a:stop"])
    );
    assert!(root.children().await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_nested_supervisor_whose_child_cannot_start_is_not_added_and_starts_nothing_else() {
    let log = Log::default();
    let root = SupervisorNode::builder("root").start();
    let (nested, nested_ref) = SupervisorNode::builder("nested").into_child();
    let (a, _) = probe("a", &log);
    let (b, b_ctl) = probe("b", &log);
    let (c, _) = probe("c", &log);
    nested_ref.add_child(ChildSpec::new("a"), a).await.unwrap();
    nested_ref.add_child(ChildSpec::new("b"), b).await.unwrap();
    nested_ref.add_child(ChildSpec::new("c"), c).await.unwrap();
    b_ctl.fail_next_starts(1);

    let err = root
        .add_child(ChildSpec::new("nested"), Box::new(nested))
        .await
        .unwrap_err();

    match &err {
        SupervisorError::StartFailed {
            child,
            source: ChildError::StartFailed { reason, .. },
            ..
        } => {
            assert_eq!(child, "nested");
            assert!(reason.contains("child `b`"), "{reason}");
        }
        other => panic!("expected nested's start failure, got {other:?}"),
    }
    assert_eq!(
        log.entries(),
        strings(&["a:start", "b:start-failed", "a:stop"])
    );
    assert!(root.children().await.unwrap().is_empty());
}

/// root ── nested ─┬─ a
///                 └─ b (its next start fails once)
#[tokio::test(start_paused = true)]
async fn a_nested_restart_that_cannot_start_a_child_counts_as_a_failed_restart_and_is_retried_whole(
) {
    let log = Log::default();
    let root = SupervisorNode::builder("root")
        .backoff(BackoffPolicy::none())
        .start();
    let mut events = root.events();
    let nested = root
        .add_supervisor(ChildSpec::new("nested"), SupervisorNode::builder("nested"))
        .await
        .unwrap();
    let (a, a_ctl) = probe("a", &log);
    let (b, b_ctl) = probe("b", &log);
    nested.add_child(ChildSpec::new("a"), a).await.unwrap();
    nested.add_child(ChildSpec::new("b"), b).await.unwrap();
    log.take();
    b_ctl.fail_next_starts(1);

    a_ctl.escalate();
    restarted(&mut events, "root", "nested").await;

    assert_eq!(
        log.entries(),
        strings(&[
            "b:stop",
            "a:start",
            "b:start-failed",
            "a:stop",
            "a:start",
            "b:start"
        ])
    );
    let restarts = root.children().await.unwrap()[0].restarts;
    assert_eq!(restarts, 2, "the failed restart and the one that worked");
    assert!(
        !common::drain(&mut events).iter().any(|e| matches!(
            e,
            SupervisionEvent::ChildRestarted { supervisor, .. } if supervisor == "nested"
        )),
        "nested restarted b on its own"
    );
}
