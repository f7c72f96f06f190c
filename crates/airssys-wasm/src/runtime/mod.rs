//! The wasmtime side: shared engine, compiled-module cache, resource limits.

pub(crate) mod cache;
pub mod engine;
pub mod limits;
