//! Compiled-module cache keyed by the blake3 hash of the guest's bytes.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use wasmtime::Engine;

use crate::error::WasmError;
use crate::guest::loader::{self, Linkers};
use crate::guest::GuestModule;
use crate::id::ComponentId;
use crate::runtime::engine::RuntimeSettings;

/// Caches, per distinct guest binary, the compiled `Module` and the
/// `InstancePre` linked against the host imports, so that spawning the same
/// guest N times compiles and links it once.
///
/// Two threads loading the same new bytes at the same moment may both
/// compile; the first insert wins and both count in
/// [`compile_count`](ModuleCache::compile_count).
pub(crate) struct ModuleCache {
    linkers: Linkers,
    modules: DashMap<blake3::Hash, GuestModule>,
    compiles: AtomicU64,
}

impl ModuleCache {
    pub(crate) fn new(linkers: Linkers) -> Self {
        ModuleCache {
            linkers,
            modules: DashMap::new(),
            compiles: AtomicU64::new(0),
        }
    }

    /// Returns the cached module for these bytes, if any. O(len) for the hash.
    pub(crate) fn get(&self, bytes: &[u8]) -> Option<GuestModule> {
        self.modules.get(&blake3::hash(bytes)).map(|m| m.clone())
    }

    /// Returns the cached module for these bytes, compiling on a miss.
    /// Failed compilations are not cached.
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        settings: &RuntimeSettings,
        component: &ComponentId,
        bytes: &[u8],
    ) -> Result<GuestModule, WasmError> {
        let hash = blake3::hash(bytes);
        if let Some(module) = self.modules.get(&hash) {
            return Ok(module.clone());
        }
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let module = loader::compile(engine, &self.linkers, settings, component, bytes)?;
        Ok(self.modules.entry(hash).or_insert(module).clone())
    }

    pub(crate) fn compile_count(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }

    pub(crate) fn len(&self) -> usize {
        self.modules.len()
    }
}
