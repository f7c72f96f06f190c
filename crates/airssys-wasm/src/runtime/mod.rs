//! The wasmtime side: shared engine, compiled-module cache, resource limits,
//! what a guest needs from the instance pool.

pub(crate) mod cache;
pub mod engine;
pub mod limits;
pub mod pool;
