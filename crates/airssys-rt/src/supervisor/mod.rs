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

mod backoff;
mod child;
mod error;
mod event;
mod handle;
mod health;
mod intensity;
mod node;
mod spec;
mod strategy;

pub use backoff::BackoffPolicy;
pub use child::{Child, ChildError, ChildHealth, ExitReason, ExitSignal};
pub use error::SupervisorError;
pub use event::{SupervisionEvent, SupervisorExit};
pub use handle::{ShutdownReport, SupervisorBuilder, SupervisorChild, SupervisorRef};
pub use health::HealthConfig;
pub use intensity::RestartIntensity;
pub use node::SupervisorNode;
pub use spec::{ChildId, ChildInfo, ChildSpec, ChildState};
pub use strategy::{RestartPolicy, RestartStrategy, ShutdownPolicy};
