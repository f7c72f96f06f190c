//! The WebAssembly runtime layer of airssys: everything that touches
//! wasmtime, independent of the actor runtime.
//!
//! - [`WasmEngine`]: one shared wasmtime engine (pooling allocator, epoch
//!   ticker, compiled-module cache).
//! - [`GuestModule`] / [`GuestInstance`]: load a guest once, instantiate it
//!   per actor, deliver messages, invoke exports, check health.
//! - [`HostServices`]: what the component host provides behind the guest's
//!   `airssys` imports; [`Permissions`] say what each guest may reach.
//! - [`codec`]: multicodec-prefixed payload helpers.
//!
//! ```
//! use std::sync::Arc;
//! use airssys_wasm::{EngineConfig, GuestMessage, InstanceConfig, NoHostServices, WasmEngine};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let engine = WasmEngine::new(EngineConfig::default().max_components(8)).unwrap();
//! let echo = r#"(module
//!   (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
//!   (memory (export "memory") 1)
//!   (func (export "alloc") (param i32) (result i32) i32.const 1024)
//!   (func (export "handle-message") (param $ptr i32) (param $len i32) (result i32)
//!     ;; payload = ptr + 24 + sender_len + subject_len; len at ptr+12
//!     (call $reply
//!       (i32.add (i32.add (i32.add (local.get $ptr) (i32.const 24))
//!         (i32.load offset=4 (local.get $ptr))) (i32.load offset=8 (local.get $ptr)))
//!       (i32.load offset=12 (local.get $ptr)))
//!     drop
//!     i32.const 0))"#;
//! let module = engine.load(&"echo".into(), echo.as_bytes()).unwrap();
//! let mut guest = module
//!     .instantiate(InstanceConfig::new("echo-1", Arc::new(NoHostServices)))
//!     .await
//!     .unwrap();
//! guest.init().await.unwrap();
//! let reply = guest.handle_message(&GuestMessage::new(&b"hi"[..])).await.unwrap();
//! assert_eq!(reply.as_deref(), Some(&b"hi"[..]));
//! # });
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod codec;
pub mod error;
pub mod guest;
pub mod host;
mod id;
pub mod metrics;
pub mod runtime;
pub mod trace;
pub mod wit;

pub use error::{GuestError, PoolResource, WasmError, WasmType};
pub use guest::component::wasi::{DirGrant, HostPattern, InvalidHostPattern, WasiGrants};
pub use guest::links::{ExitNotice, EXIT_SUBJECT};
pub use guest::loader::{detect_form, BinaryForm};
pub use guest::monitors::{DownNotice, GuestMonitor, DOWN_SUBJECT};
pub use guest::permissions::{InvalidSubjectPattern, Permissions, SubjectPattern};
pub use guest::{
    codes, BoxFuture, ComponentValue, ConfigValues, GuestHealth, GuestInstance, GuestMessage,
    GuestModule, HostCallError, HostCallStats, HostServices, InstanceConfig, ModuleCacheStats,
    NoHostServices, WasmEngine, WasmValue,
};
pub use host::{
    ComponentActor, ComponentDown, ComponentEnd, ComponentFailure, ComponentHealth, ComponentHost,
    ComponentHostBuilder, ComponentInfo, ComponentMessage, ComponentMonitor, ComponentRef,
    ComponentRegistry, ComponentSpec, DeadLetterReason, DeadLetterStats, Fault, HostError,
    HostShutdownReport, LifecycleState, RestartPending, TopicMessage, UpgradeOutcome,
    UpgradeReport, SPAWN_BATCH,
};
pub use id::ComponentId;
pub use runtime::config::{EngineConfig, EngineSettings};
pub use runtime::engine::{max_map_count, pool_mappings_needed, AllocatorKind, PoolUsage};
pub use runtime::limits::ComponentLimits;
