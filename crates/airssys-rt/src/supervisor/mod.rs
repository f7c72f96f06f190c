//! Supervision: OTP-style supervisors that start, watch and restart children.
//!
//! A [`SupervisorNode`] runs as its own tokio task and is driven through a
//! cloneable [`SupervisorRef`]. Children are anything implementing [`Child`];
//! a supervisor is itself a child ([`SupervisorRef::add_supervisor`]), so
//! supervisors nest into trees that share one [`SupervisionEvent`] stream.
//!
//! The semantics (strategies, restart policies, restart intensity, backoff,
//! shutdown and health checks, with their defaults) are written down in
//! `docs/supervision.md`.
//!
//! ```
//! use std::time::Duration;
//! use airssys_rt::supervisor::{
//!     BackoffPolicy, Child, ChildError, ChildSpec, ExitReason, ExitSignal, RestartStrategy,
//!     SupervisionEvent, SupervisorNode,
//! };
//!
//! /// A child that keeps its exit signal so the example can make it crash.
//! struct Crashy(std::sync::Arc<std::sync::Mutex<Option<ExitSignal>>>);
//!
//! #[async_trait::async_trait]
//! impl Child for Crashy {
//!     async fn start(&mut self, exit: ExitSignal) -> Result<(), ChildError> {
//!         *self.0.lock().unwrap() = Some(exit);
//!         Ok(())
//!     }
//!     async fn stop(&mut self, _timeout: Duration) -> Result<(), ChildError> {
//!         Ok(())
//!     }
//!     fn kill(&mut self) {}
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let root = SupervisorNode::builder("root")
//!     .strategy(RestartStrategy::OneForOne)
//!     .intensity(3, Duration::from_secs(5))
//!     .backoff(BackoffPolicy::none())
//!     .start();
//! let mut events = root.events();
//! let signal = std::sync::Arc::new(std::sync::Mutex::new(None));
//! root.add_child(ChildSpec::new("worker"), Box::new(Crashy(signal.clone())))
//!     .await
//!     .unwrap();
//!
//! // The worker crashes; the supervisor restarts it.
//! let exit = signal.lock().unwrap().take().unwrap();
//! exit.exit(ExitReason::Failed("boom".into()));
//! loop {
//!     if let SupervisionEvent::ChildRestarted { child, .. } = events.recv().await.unwrap() {
//!         assert_eq!(child, "worker");
//!         break;
//!     }
//! }
//! root.shutdown(Duration::from_secs(1)).await.unwrap();
//! # }
//! ```

mod backoff;
mod builder;
mod cause;
mod child;
mod command;
mod error;
mod event;
mod handle;
mod health;
mod intensity;
mod node;
mod spec;
mod strategy;
mod stream;

pub use backoff::BackoffPolicy;
pub use builder::SupervisorBuilder;
pub use cause::{Escalation, FailureCause};
pub use child::{Child, ChildError, ChildHealth, ExitReason, ExitSignal};
pub use command::ShutdownReport;
pub use error::SupervisorError;
pub use event::{SupervisionEvent, SupervisorExit};
pub use handle::{SupervisorChild, SupervisorRef};
pub use health::HealthConfig;
pub use intensity::{IntensityUse, RestartIntensity};
pub use node::SupervisorNode;
pub use spec::{ChildId, ChildInfo, ChildSpec, ChildState};
pub use strategy::{RestartPolicy, RestartStrategy, ShutdownPolicy};
