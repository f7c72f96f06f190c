//! Guests: the binary-form-agnostic interface the component actor uses.
//!
//! [`GuestModule`] (compiled, shared, from [`WasmEngine::load`]) and
//! [`GuestInstance`] (one live instance, owned by one actor) are enums
//! over binary forms: a core module following the core ABI
//! (`docs/core-abi.md`, [`core`]), or a Component Model component
//! targeting the `airssys:component` WIT world
//! (`wit/airssys-component.wit`, [`component`]). Both run in the same
//! actor, under the same limits, allow-lists and counters: the call core
//! (`call`) and the store data (`store`) are shared, and so are the host
//! calls behind both forms' imports ([`host_imports`], [`links`],
//! `subscriptions`, over [`HostServices`]).
//!
//! Layering: this module sits on `runtime` (the wasmtime engine, limits,
//! pool) and below `host` (the actors); nothing here imports `host`, and
//! `runtime` imports nothing from here.

pub(crate) mod cache;
pub(crate) mod call;
pub mod component;
pub mod core;
pub mod engine;
pub mod host_imports;
pub mod instance;
pub mod instance_config;
pub mod links;
pub mod loader;
pub mod message;
pub mod module;
pub mod monitors;
pub mod permissions;
pub mod services;
pub(crate) mod store;
pub(crate) mod subscriptions;
pub mod value;

pub use self::cache::ModuleCacheStats;
pub use self::engine::WasmEngine;
pub use self::instance::GuestInstance;
pub use self::instance_config::{ConfigValues, InstanceConfig};
pub use self::message::{GuestHealth, GuestMessage};
pub use self::module::GuestModule;
pub use self::services::{codes, BoxFuture, HostCallError, HostServices, NoHostServices};
pub use self::value::{ComponentValue, WasmValue};
pub use crate::metrics::HostCallStats;
