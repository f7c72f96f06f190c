//! airssys-rt: a general actor runtime with OTP-style supervision and
//! NATS-style pub-sub, on tokio. It knows nothing of WebAssembly.
//!
//! ```
//! use std::time::Duration;
//! use airssys_rt::{Actor, ActorContext, ActorSystem};
//!
//! #[derive(Default)]
//! struct Counter(u64);
//!
//! impl Actor for Counter {
//!     type Message = u64;
//!     type Reply = u64;
//!     type Error = std::convert::Infallible;
//!
//!     async fn handle_message(&mut self, add: u64, _: &mut ActorContext<Self>) -> Result<u64, Self::Error> {
//!         self.0 += add;
//!         Ok(self.0)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let system = ActorSystem::new();
//! let counter = system.spawn(Counter::default).await.unwrap();
//! counter.tell(2).await.unwrap();
//! assert_eq!(counter.ask(3, Duration::from_secs(1)).await.unwrap(), 5);
//! system.shutdown(Duration::from_secs(1)).await;
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod actor;
mod actor_id;
pub mod broker;
pub mod dead_letter;
pub mod lease;
mod live_registry;
mod loom;
pub mod mailbox;
pub mod supervisor;
mod system;
#[cfg(test)]
mod testing;

pub use actor::{
    Actor, ActorContext, ActorId, ActorRef, ActorStats, AskError, Down, ErrorAction, LinkError,
    LinkExit, Monitor, MonitorRef, SendError, SpawnBuilder, SpawnError, TrySendError,
};
pub use dead_letter::{
    DeadLetter, DeadLetterCounters, DeadLetterCounts, DeadLetterHandler, DeadLetterReason,
};
pub use lease::Lease;
pub use mailbox::{MailboxConfig, DEFAULT_MAILBOX_CAPACITY};
pub use supervisor::ShutdownReport;
pub use system::{ActorSystem, SystemStats};
