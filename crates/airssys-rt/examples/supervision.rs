//! A small supervision tree: a root with a worker and a nested supervisor,
//! one of whose workers crashes once and is restarted.
//!
//! Run with `cargo run -p airssys-rt --example supervision`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::supervisor::{
    BackoffPolicy, Child, ChildError, ChildSpec, ExitReason, ExitSignal, RestartStrategy,
    SupervisionEvent, SupervisorNode,
};
use async_trait::async_trait;
use tokio::task::JoinHandle;

/// A worker whose first `crashes` incarnations fail 100 ms after starting.
struct Worker {
    crashes: Arc<AtomicU32>,
    task: Option<JoinHandle<()>>,
}

impl Worker {
    fn boxed(crashes: u32) -> Box<dyn Child> {
        Box::new(Worker {
            crashes: Arc::new(AtomicU32::new(crashes)),
            task: None,
        })
    }
}

#[async_trait]
impl Child for Worker {
    async fn start(&mut self, exit: ExitSignal) -> Result<(), ChildError> {
        let crashes = self.crashes.clone();
        self.task = Some(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if crashes.load(Ordering::SeqCst) > 0 {
                crashes.fetch_sub(1, Ordering::SeqCst);
                exit.exit(ExitReason::Failed("simulated crash".into()));
                return;
            }
            std::future::pending::<()>().await;
        }));
        Ok(())
    }

    async fn stop(&mut self, _timeout: Duration) -> Result<(), ChildError> {
        self.kill();
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Start a root supervisor: one-for-one, 3 restarts within 5 s, 50 ms backoff.
    let root = SupervisorNode::builder("root")
        .strategy(RestartStrategy::OneForOne)
        .intensity(3, Duration::from_secs(5))
        .backoff(BackoffPolicy::exponential(
            Duration::from_millis(50),
            Duration::from_secs(1),
        ))
        .start();

    // 2. Subscribe to the tree's events before anything happens.
    let mut events = root.events();

    // 3. A plain worker directly under the root.
    root.add_child(ChildSpec::new("logger"), Worker::boxed(0))
        .await?;

    // 4. A nested one-for-all supervisor; it shares the root's event stream.
    let workers = root
        .add_supervisor(
            ChildSpec::new("workers"),
            SupervisorNode::builder("workers").strategy(RestartStrategy::OneForAll),
        )
        .await?;

    // 5. Two workers under it; `b` crashes once.
    workers
        .add_child(ChildSpec::new("a"), Worker::boxed(0))
        .await?;
    workers
        .add_child(ChildSpec::new("b"), Worker::boxed(1))
        .await?;

    // 6. Print events until `b` has been restarted (with `a`, one-for-all).
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let event = events.recv().await?;
            println!("event: {event:?}");
            if matches!(&event, SupervisionEvent::ChildRestarted { child, .. } if child == "b") {
                return Ok::<_, tokio::sync::broadcast::error::RecvError>(());
            }
        }
    })
    .await??;

    // 7. Look at the nested supervisor's children.
    for child in workers.children().await? {
        println!(
            "workers/{}: {:?}, restarted {} time(s)",
            child.name, child.state, child.restarts
        );
    }

    // 8. Shut the whole tree down, children in reverse start order.
    let report = root.shutdown(Duration::from_secs(2)).await?;
    println!("stopped {:?}, aborted {:?}", report.stopped, report.aborted);
    Ok(())
}
