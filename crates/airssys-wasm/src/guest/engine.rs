//! [`WasmEngine`]: the engine that loads guests. The wasmtime engine of
//! `runtime::engine`, with the host's imports linked once and the cache of
//! compiled guests in front of the loader.

use std::sync::Arc;

use wasmtime::Engine;

use crate::error::WasmError;
use crate::guest::cache::{ModuleCache, ModuleCacheStats};
use crate::guest::loader::Linkers;
use crate::guest::module::GuestModule;
use crate::id::ComponentId;
use crate::runtime::config::{EngineConfig, EngineSettings};
use crate::runtime::engine::{AllocatorKind, PoolUsage, WasmtimeEngine};

/// One wasmtime `Engine` per host, with its module cache, host linker and
/// epoch ticker. Cheap to clone (an `Arc`).
///
/// ```
/// use airssys_wasm::{EngineConfig, WasmEngine};
///
/// let engine = WasmEngine::new(EngineConfig::default().max_components(16)).unwrap();
/// println!("allocator: {:?}", engine.allocator());
/// assert_eq!(engine.settings().max_components, 16);
/// ```
#[derive(Clone)]
pub struct WasmEngine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    runtime: WasmtimeEngine,
    cache: ModuleCache,
}

impl std::fmt::Debug for WasmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine")
            .field("allocator", &self.inner.runtime.allocator)
            .field("settings", &self.inner.runtime.settings)
            .finish_non_exhaustive()
    }
}

impl WasmEngine {
    /// Creates the engine, reserves the instance pool, starts the epoch
    /// ticker thread and links the host's imports.
    ///
    /// If the pool cannot be reserved (virtual-memory limits, an absurd
    /// `max_components`), logs a `warn` and falls back to on-demand
    /// allocation: see [`allocator`](Self::allocator).
    ///
    /// # Errors
    /// [`WasmError::Engine`] if even the on-demand engine cannot be built.
    pub fn new(config: EngineConfig) -> Result<Self, WasmError> {
        let runtime = WasmtimeEngine::new(config.build())?;
        let linkers = Linkers::new(&runtime.engine).map_err(|e| WasmError::Engine {
            reason: format!("{e:#}"),
        })?;
        let cache = ModuleCache::new(linkers, runtime.settings.module_cache_capacity);
        Ok(WasmEngine {
            inner: Arc::new(EngineInner { runtime, cache }),
        })
    }

    /// The compilation cache's hits and misses so far (`None` without
    /// one): a hit is a guest loaded from disk without compiling.
    pub fn compile_cache_stats(&self) -> Option<(usize, usize)> {
        self.inner.runtime.compile_cache_stats()
    }

    /// The module cache's figures: hits, misses (compilations), evictions,
    /// guests held, and how long compilations took.
    pub fn module_cache_stats(&self) -> ModuleCacheStats {
        let cache = &self.inner.cache;
        ModuleCacheStats {
            hits: cache.hit_count(),
            misses: cache.compile_count(),
            evictions: cache.eviction_count(),
            entries: cache.len(),
            compile_seconds: cache.compile_seconds(),
        }
    }

    /// How much of the pooling allocator is in use; `None` on the
    /// on-demand allocator (no fixed pool). Reads two counters.
    pub fn pool_usage(&self) -> Option<PoolUsage> {
        self.inner.runtime.pool_usage()
    }

    /// The allocator in use.
    pub fn allocator(&self) -> &AllocatorKind {
        &self.inner.runtime.allocator
    }

    /// The settings the engine was built with.
    pub fn settings(&self) -> &EngineSettings {
        &self.inner.runtime.settings
    }

    /// The underlying wasmtime engine (for baselines and advanced use).
    pub fn wasmtime(&self) -> &Engine {
        &self.inner.runtime.engine
    }

    /// Loads a guest from its bytes (binary or WAT text), through the
    /// compiled-module cache.
    ///
    /// Cost: one blake3 hash of the bytes plus a map lookup on a cache hit;
    /// on a miss, a full compilation (CPU-bound, milliseconds — call it from
    /// `spawn_blocking` if that matters to the caller) and link.
    ///
    /// # Errors
    /// [`WasmError::InvalidBinary`],
    /// [`WasmError::MissingExports`], [`WasmError::InvalidExport`],
    /// [`WasmError::UnresolvedImport`], [`WasmError::LimitExceeded`] (over
    /// the compile budget, see [`EngineConfig`]) — each naming `component`.
    pub fn load(&self, component: &ComponentId, bytes: &[u8]) -> Result<GuestModule, WasmError> {
        self.inner.cache.load(&self.inner.runtime, component, bytes)
    }

    /// Like [`load`](Self::load), but compiles on tokio's blocking pool so a
    /// cache miss does not stall an async worker. A cache hit returns without
    /// leaving the task, and without hashing the bytes again when they are
    /// an `Arc` loaded recently (the spawns of one spec, restarts).
    ///
    /// # Errors
    /// As [`load`](Self::load); [`WasmError::Engine`] if the blocking task
    /// panicked or was cancelled.
    ///
    /// # Cancel safety
    /// Dropping the future does not stop a compilation already running; its
    /// result is still cached.
    pub async fn load_async(
        &self,
        component: ComponentId,
        bytes: impl Into<Arc<[u8]>>,
    ) -> Result<GuestModule, WasmError> {
        let bytes = bytes.into();
        // Spawns of one spec share its bytes: hashed once, not per spawn.
        let hash = self.inner.cache.hash_shared(&bytes);
        if let Some(module) = self.inner.cache.cached(&hash) {
            return Ok(module);
        }
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            engine
                .inner
                .cache
                .load_hashed(&engine.inner.runtime, &component, &bytes, hash)
        })
        .await
        .map_err(|e| WasmError::Engine {
            reason: format!("compilation task failed: {e}"),
        })?
    }

    /// Number of compilations performed so far (cache misses).
    pub fn compile_count(&self) -> u64 {
        self.inner.cache.compile_count()
    }

    /// Number of distinct modules in the cache: at most
    /// [`EngineConfig::module_cache_capacity`] plus the guests live
    /// components use.
    pub fn cached_modules(&self) -> usize {
        self.inner.cache.len()
    }

    /// Number of unused guests the cache has evicted so far (see
    /// [`EngineConfig::module_cache_capacity`]).
    pub fn evicted_modules(&self) -> u64 {
        self.inner.cache.eviction_count()
    }
}
