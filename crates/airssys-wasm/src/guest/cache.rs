//! Compiled-module cache keyed by the blake3 hash of the guest's bytes,
//! bounded in the guests no live component uses.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::error::WasmError;
use crate::guest::loader::{self, Linkers};
use crate::guest::module::GuestModule;
use crate::id::ComponentId;
use crate::runtime::engine::WasmtimeEngine;
use dashmap::DashMap;
use parking_lot::Mutex;

/// What [`WasmEngine::module_cache_stats`](crate::WasmEngine::module_cache_stats) reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModuleCacheStats {
    /// Loads that found the guest already compiled.
    pub hits: u64,
    /// Loads that compiled it.
    pub misses: u64,
    /// Unused guests dropped to stay within the capacity.
    pub evictions: u64,
    /// Compiled guests held now.
    pub entries: usize,
    /// How long each compilation took.
    pub compile_seconds: crate::metrics::HistogramSnapshot,
}

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
    /// Lookups that found the guest compiled.
    hits: AtomicU64,
    /// Time each compilation (a miss) took.
    compile_seconds: crate::metrics::Histogram,
    evictions: AtomicU64,
    /// The hashes of the binaries recently looked up by their shared
    /// allocation (see [`hash_shared`](Self::hash_shared)).
    hashed: Mutex<VecDeque<(Weak<[u8]>, blake3::Hash)>>,
}

/// How many binaries' hashes [`ModuleCache::hash_shared`] remembers.
const HASHES_REMEMBERED: usize = 32;

impl ModuleCache {
    pub(crate) fn new(linkers: Linkers, capacity: usize) -> Self {
        ModuleCache {
            linkers,
            modules: DashMap::new(),
            order: Mutex::new(VecDeque::new()),
            capacity,
            compiles: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            compile_seconds: crate::metrics::Histogram::default(),
            evictions: AtomicU64::new(0),
            hashed: Mutex::new(VecDeque::new()),
        }
    }

    /// The blake3 hash of `bytes`, remembered for the allocation: a fleet
    /// spawned from one spec and every restart share the binary's `Arc`,
    /// and a Python or JavaScript component's 12-18 MB would otherwise be
    /// hashed again on each spawn (milliseconds). Remembers the last
    /// [`HASHES_REMEMBERED`] allocations; an entry whose binary is gone is
    /// dropped at the next call (its `Weak` kept the allocation until then).
    pub(crate) fn hash_shared(&self, bytes: &Arc<[u8]>) -> blake3::Hash {
        {
            let mut hashed = self.hashed.lock();
            hashed.retain(|(weak, _)| weak.strong_count() > 0);
            let known = hashed.iter().find_map(|(weak, hash)| {
                weak.upgrade()
                    .filter(|alive| Arc::ptr_eq(alive, bytes))
                    .map(|_| *hash)
            });
            if let Some(hash) = known {
                return hash;
            }
        }
        let hash = blake3::hash(bytes);
        let mut hashed = self.hashed.lock();
        if hashed.len() >= HASHES_REMEMBERED {
            hashed.pop_front();
        }
        hashed.push_back((Arc::downgrade(bytes), hash));
        hash
    }

    /// The cached module of the binary with this hash, if any.
    pub(crate) fn cached(&self, hash: &blake3::Hash) -> Option<GuestModule> {
        let found = self.modules.get(hash).map(|m| m.clone());
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Returns the cached module for these bytes, compiling on a miss.
    /// Failed compilations are not cached.
    pub(crate) fn load(
        &self,
        runtime: &WasmtimeEngine,
        component: &ComponentId,
        bytes: &[u8],
    ) -> Result<GuestModule, WasmError> {
        self.load_hashed(runtime, component, bytes, blake3::hash(bytes))
    }

    /// [`load`](Self::load) with the bytes' hash
    /// already known.
    pub(crate) fn load_hashed(
        &self,
        runtime: &WasmtimeEngine,
        component: &ComponentId,
        bytes: &[u8],
        hash: blake3::Hash,
    ) -> Result<GuestModule, WasmError> {
        if let Some(module) = self.modules.get(&hash) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(module.clone());
        }
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let module = loader::compile(runtime, &self.linkers, component, bytes)?;
        self.compile_seconds.record(started.elapsed());
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

    pub(crate) fn hit_count(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub(crate) fn compile_seconds(&self) -> crate::metrics::HistogramSnapshot {
        self.compile_seconds.snapshot()
    }

    pub(crate) fn compile_count(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }

    pub(crate) fn len(&self) -> usize {
        self.modules.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> ModuleCache {
        let engine = wasmtime::Engine::default();
        ModuleCache::new(Linkers::new(&engine).unwrap(), 4)
    }

    #[test]
    fn a_shared_binary_is_hashed_once_and_forgotten_when_dropped() {
        let cache = cache();
        let binary: Arc<[u8]> = Arc::from(&b"(module)"[..]);
        let hash = cache.hash_shared(&binary);
        assert_eq!(hash, blake3::hash(&binary));
        assert_eq!(cache.hashed.lock().len(), 1);
        // The same allocation again: found, not added.
        assert_eq!(cache.hash_shared(&Arc::clone(&binary)), hash);
        assert_eq!(cache.hashed.lock().len(), 1);
        // Equal bytes in another allocation: hashed, to the same value.
        let copy: Arc<[u8]> = Arc::from(&binary[..]);
        assert_eq!(cache.hash_shared(&copy), hash);
        assert_eq!(cache.hashed.lock().len(), 2);
        drop(binary);
        let other: Arc<[u8]> = Arc::from(&b"(module $b)"[..]);
        cache.hash_shared(&other);
        // The dropped binary's entry went at the next call.
        assert_eq!(cache.hashed.lock().len(), 2);
    }

    #[test]
    fn at_most_the_remembered_number_of_hashes_is_kept() {
        let cache = cache();
        let binaries: Vec<Arc<[u8]>> = (0..HASHES_REMEMBERED + 5)
            .map(|i| Arc::from(format!("binary {i}").into_bytes()))
            .collect();
        for b in &binaries {
            cache.hash_shared(b);
        }
        assert_eq!(cache.hashed.lock().len(), HASHES_REMEMBERED);
    }
}
