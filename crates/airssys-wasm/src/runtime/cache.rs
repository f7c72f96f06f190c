//! Compiled-module cache keyed by the blake3 hash of the guest's bytes,
//! bounded in the guests no live component uses.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use parking_lot::Mutex;
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
///
/// **Bounded.** Past `capacity` entries, each insert evicts the oldest-loaded
/// guests that nothing outside the cache holds (no live component's
/// template, no spawn in progress) until the cache is back at its capacity
/// or only guests in use are left. A guest in use is never evicted: its
/// components' restarts and further spawns of it never recompile. Lookups
/// do not touch the eviction order; only a miss takes its (short) lock.
pub(crate) struct ModuleCache {
    linkers: Linkers,
    modules: DashMap<blake3::Hash, GuestModule>,
    /// Insertion order of the cached hashes, oldest first.
    order: Mutex<VecDeque<blake3::Hash>>,
    capacity: usize,
    compiles: AtomicU64,
    evictions: AtomicU64,
}

impl ModuleCache {
    pub(crate) fn new(linkers: Linkers, capacity: usize) -> Self {
        ModuleCache {
            linkers,
            modules: DashMap::new(),
            order: Mutex::new(VecDeque::new()),
            capacity,
            compiles: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
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
        let mut order = self.order.lock();
        let module = match self.modules.entry(hash) {
            dashmap::mapref::entry::Entry::Occupied(cached) => cached.get().clone(),
            dashmap::mapref::entry::Entry::Vacant(slot) => {
                order.push_back(hash);
                slot.insert(module).clone()
            }
        };
        // `module` is held here, so the guest just loaded counts as in use
        // and is not the one evicted.
        self.evict_unused(&mut order);
        Ok(module)
    }

    /// Drops the oldest unused guests while over capacity; each hash is
    /// looked at once per call, so guests in use are skipped, not spun on.
    fn evict_unused(&self, order: &mut VecDeque<blake3::Hash>) {
        let mut looked_at = 0;
        while self.modules.len() > self.capacity && looked_at < order.len() {
            looked_at += 1;
            let Some(oldest) = order.pop_front() else {
                break;
            };
            if self
                .modules
                .remove_if(&oldest, |_, module| !module.is_shared())
                .is_some()
            {
                self.evictions.fetch_add(1, Ordering::Relaxed);
            } else if self.modules.contains_key(&oldest) {
                order.push_back(oldest);
            }
        }
    }

    pub(crate) fn eviction_count(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    pub(crate) fn compile_count(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }

    pub(crate) fn len(&self) -> usize {
        self.modules.len()
    }
}
