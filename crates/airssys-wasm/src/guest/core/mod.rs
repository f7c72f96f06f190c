//! Core-module guests: modules following the core ABI (`docs/core-abi.md`),
//! instantiated and called under the same limits, allow-lists and counters
//! as components.
//!
//! - [`abi`]: the ABI's export names and signatures, the message layout.
//! - `imports`: the `airssys` import module the host links them against.
//! - [`CoreModule`] (compiled) and [`CoreInstance`] (live).

pub mod abi;
mod exports;
pub(crate) mod imports;
mod instance;
mod module;

pub use self::instance::CoreInstance;
pub use self::module::CoreModule;
