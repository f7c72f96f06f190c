//! The component host: WebAssembly components as supervised actors.
//!
//! [`ComponentHost`] is the façade. Each component instance is a
//! [`ComponentActor`] spawned through `ActorSystem::spawn` under the host's
//! root supervisor (or a group of the caller's); its mailbox survives its
//! restarts. Components reach each other through the `airssys` host imports
//! (send, request, publish), routed by the [`ComponentRegistry`] and the
//! broker; the host holds one broker subscription per subject pattern.

mod actor;
mod builder;
mod component_ref;
mod dead_letters;
mod deliver;
mod down;
mod durable;
mod error;
mod facade;
mod fault;
mod follow;
mod handoff;
mod lifecycle;
mod link;
mod mailbox;
mod message;
mod messaging;
mod monitor;
mod operate;
mod registry;
mod remote;
mod remote_monitor;

mod router;
mod spawn;
mod spec;
mod subscriptions;
mod topics;
mod upgrade;
mod watching;

pub use actor::ComponentActor;
pub use airssys_rt::DeadLetterReason;
pub use builder::ComponentHostBuilder;
pub use component_ref::ComponentRef;
pub use dead_letters::DeadLetterStats;
pub use durable::{DurableError, DurableSends};
pub use error::{ComponentFailure, HostError};
pub use facade::{ComponentHost, HostShutdownReport};
pub use fault::Fault;
pub use handoff::HandOff;
pub use lifecycle::{ComponentEnd, LifecycleState, RestartPending};
pub use message::COMPONENT_SUBJECT_PREFIX;
pub use message::{Answer, ComponentMessage, TopicMessage, UpgradeOutcome};
pub use monitor::{ComponentDown, ComponentMonitor};
pub use operate::ComponentHealth;
pub use registry::{ComponentInfo, ComponentRegistry};
pub use remote::{SEND_INBOX, SEND_LEASE};
pub use remote_monitor::{Membership, ARM_WAIT, DEMONITOR_INBOX, MONITOR_INBOX};
pub use spawn::BATCH as SPAWN_BATCH;
pub use spec::{ComponentSpec, DEFAULT_COMPONENT_MAILBOX, DEFAULT_STOP_TIMEOUT};
pub use upgrade::UpgradeReport;
