//! The component host: WebAssembly components as supervised actors.
//!
//! [`ComponentHost`] is the façade. Each component instance is a
//! [`ComponentActor`] spawned through `ActorSystem::spawn` under the host's
//! root supervisor (or a group of the caller's); its mailbox survives its
//! restarts. Components reach each other through the `airssys` host imports
//! (send, request, publish), routed by the [`ComponentRegistry`] and the
//! broker; the host holds one broker subscription per subject pattern.

mod actor;
mod dead_letters;
mod deliver;
mod down;
mod durable;
mod error;
mod facade;
mod fault;
mod handoff;
mod lifecycle;
mod link;
mod mailbox;
mod message;
mod monitor;
mod registry;
mod remote;
mod remote_monitor;
mod restarts;
mod router;
mod spawn;
mod spec;
mod subscriptions;
mod topics;
mod upgrade;

pub use actor::ComponentActor;
pub use airssys_rt::DeadLetterReason;
pub use dead_letters::DeadLetterStats;
pub use durable::{DurableError, DurableSends};
pub use error::{ComponentFailure, HostError};
pub use facade::{
    ComponentHealth, ComponentHost, ComponentHostBuilder, ComponentRef, HostShutdownReport,
};
pub use fault::Fault;
pub use handoff::HandOff;
pub use lifecycle::{LifecycleState, RestartPending};
pub use message::COMPONENT_SUBJECT_PREFIX;
pub use message::{Answer, ComponentMessage, TopicMessage, UpgradeOutcome};
pub use monitor::{ComponentDown, ComponentMonitor};
pub use registry::{ComponentInfo, ComponentRegistry};
pub use remote::{SEND_INBOX, SEND_LEASE};
pub use remote_monitor::{Membership, ARM_WAIT, DEMONITOR_INBOX, MONITOR_INBOX};
pub use spawn::BATCH as SPAWN_BATCH;
pub use spec::{ComponentSpec, DEFAULT_COMPONENT_MAILBOX, DEFAULT_STOP_TIMEOUT};
pub use upgrade::UpgradeReport;
