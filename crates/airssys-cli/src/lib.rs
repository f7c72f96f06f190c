//! The `airssys` command-line tool, as a library: the manifest, the
//! subcommands, and the benchmark scenarios (so tests can call them).
//!
//! ```
//! use airssys_cli::inspect::{inspect, Form};
//!
//! let wat = br#"(module (func (export "add") (param i32 i32) (result i32)
//!     local.get 0 local.get 1 i32.add))"#;
//! let report = inspect(wat).unwrap();
//! assert_eq!(report.form, Form::CoreModule);
//! assert_eq!(report.exports[0].ty, "func (i32, i32) -> (i32)");
//! assert!(!report.core_abi); // no memory, alloc or handle-message
//! ```
// One call into the C library (`allocator`) needs `unsafe`; nothing else may.
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod allocator;
pub mod bench;
pub mod cases;
pub mod chaos;
pub mod cluster;
pub mod control;
pub mod ctl;
pub mod inspect;
pub mod invoke;
pub mod manifest;
pub mod nats;
pub mod run;
pub mod signals;
pub mod telemetry;
pub mod tree;
