//! Component Model guests: components targeting the `airssys:component`
//! WIT world (`wit/airssys-component.wit`), instantiated and called under
//! the same limits, allow-lists and counters as core modules.
//!
//! - `data`: what a component's store carries (the shared store data, its
//!   WASI context).
//! - `imports`: the world's imports, over the shared host calls.
//! - [`signature`]: the world's exports, checked at load.
//! - [`wasi`]: what a component may reach through WASI.
//! - [`ComponentModule`] (compiled) and [`ComponentInstance`] (live).

pub(crate) mod data;
pub(crate) mod imports;
mod instance;
mod module;
pub mod signature;
mod value;
pub mod wasi;

pub use self::instance::ComponentInstance;
pub use self::module::ComponentModule;
