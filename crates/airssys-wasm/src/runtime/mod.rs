//! The wasmtime side, below the guests: the shared engine and its
//! settings, the epoch ticker, per-component resource limits, and what a
//! guest needs from the instance pool. Nothing here knows a guest form.

pub mod config;
pub mod engine;
pub mod limits;
pub mod pool;
pub(crate) mod ticker;
