//! The wasmtime engine as airssys configures it: allocator choice (the
//! pool, or on demand when it cannot be reserved), the disk compilation
//! cache, the epoch ticker, and the settings every store needs. It knows
//! nothing of guests: `guest::engine` builds the engine that loads them on
//! top of it.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Cache, Engine};

use crate::error::WasmError;
use crate::runtime::config::{CompileLimits, EngineSettings};
use crate::runtime::pool::PoolLimits;
use crate::runtime::ticker::EpochTicker;

/// Memory mappings the pool takes per component: each execution stack is
/// its own mapping plus its guard page's.
const MAPPINGS_PER_COMPONENT: u64 = 2;

/// Mappings left for everything else in the process.
const MAPPINGS_HEADROOM: u64 = 16_384;

/// About how many memory mappings a process needs for a pool of
/// `components` (Linux limits them per process: `vm.max_map_count`).
pub fn pool_mappings_needed(components: u32) -> u64 {
    u64::from(components) * MAPPINGS_PER_COMPONENT + MAPPINGS_HEADROOM
}

/// The kernel's limit on memory mappings per process, where it says
/// (`/proc/sys/vm/max_map_count` on Linux).
pub fn max_map_count() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// On Linux, why a pool of `components` may not fit the kernel's limit on
/// memory mappings per process (`vm.max_map_count`, 65,530 by default),
/// and how to raise it; `None` when it fits or the limit is unknown.
fn mapping_shortfall(components: u32) -> Option<String> {
    let limit = max_map_count()?;
    let needed = pool_mappings_needed(components);
    (needed > limit).then(|| {
        format!(
            "{components} pooled components need about {needed} memory mappings and \
             vm.max_map_count is {limit}: raise it (sysctl -w vm.max_map_count={needed})"
        )
    })
}

/// What [`WasmEngine::pool_usage`](crate::WasmEngine::pool_usage) reports: slots of the pooling
/// allocator in use and in all. Each live instance holds one memory slot
/// per memory and one core-instance slot per core module instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolUsage {
    /// Linear-memory slots in use.
    pub memories_in_use: u64,
    /// Linear-memory slots in the pool.
    pub memories_total: u64,
    /// Core-instance slots in use.
    pub core_instances_in_use: u64,
    /// Core-instance slots in the pool.
    pub core_instances_total: u64,
}

/// Which instance allocator an engine uses.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllocatorKind {
    /// wasmtime's pooling allocator, reserved up front for
    /// `max_components` instances: fastest instantiation.
    Pooling,
    /// Allocation on demand (mmap per instance), because pooling was
    /// disabled or the pool could not be reserved (the reason says which).
    OnDemand {
        /// Why the pooling allocator is not in use.
        reason: String,
    },
}

/// Settings every store of the engine needs, copied into compiled modules so
/// they do not hold the engine (and its cache) alive.
#[derive(Clone, Debug)]
pub(crate) struct RuntimeSettings {
    pub(crate) fuel: bool,
    pub(crate) epoch_tick: Duration,
    pub(crate) max_memory_per_component: usize,
    pub(crate) clock_origin: tokio::time::Instant,
    pub(crate) compile_limits: CompileLimits,
    pub(crate) pool: PoolLimits,
    /// Held so the ticker runs while any module or instance lives.
    pub(crate) _ticker: Arc<EpochTicker>,
}

/// One wasmtime `Engine` built from [`EngineSettings`], with the allocator
/// it got, its disk cache and the settings its stores need. Owned by
/// [`WasmEngine`](crate::WasmEngine).
pub(crate) struct WasmtimeEngine {
    pub(crate) engine: Engine,
    pub(crate) allocator: AllocatorKind,
    pub(crate) settings: EngineSettings,
    pub(crate) store: RuntimeSettings,
    pub(crate) disk_cache: Option<Cache>,
}

impl WasmtimeEngine {
    /// Creates the engine, reserves the instance pool and starts the epoch
    /// ticker thread. If the pool cannot be reserved, logs a `warn` and
    /// falls back to on-demand allocation.
    ///
    /// # Errors
    /// [`WasmError::Engine`] if even the on-demand engine cannot be built.
    pub(crate) fn new(settings: EngineSettings) -> Result<Self, WasmError> {
        let disk_cache = settings.disk_cache();
        let (engine, allocator) = if settings.pooling {
            match Engine::new(&settings.wasmtime_config(true, disk_cache.clone())) {
                Ok(engine) => (engine, AllocatorKind::Pooling),
                Err(err) => {
                    let reason = match mapping_shortfall(settings.max_components) {
                        Some(hint) => format!("{err:#}; {hint}"),
                        None => format!("{err:#}"),
                    };
                    tracing::warn!(
                        max_components = settings.max_components,
                        max_memory_per_component = settings.max_memory_per_component,
                        error = %reason,
                        "cannot reserve the pooling allocator; falling back to on-demand allocation"
                    );
                    (
                        on_demand_engine(&settings, disk_cache.clone())?,
                        AllocatorKind::OnDemand { reason },
                    )
                }
            }
        } else {
            let reason = "pooling disabled by configuration".to_string();
            (
                on_demand_engine(&settings, disk_cache.clone())?,
                AllocatorKind::OnDemand { reason },
            )
        };
        let ticker = Arc::new(EpochTicker::start(&engine, settings.epoch_tick));
        let store = RuntimeSettings {
            fuel: settings.fuel,
            epoch_tick: settings.epoch_tick,
            max_memory_per_component: settings.max_memory_per_component,
            clock_origin: tokio::time::Instant::now(),
            compile_limits: settings.compile_limits(),
            pool: settings.pool_limits(!matches!(allocator, AllocatorKind::OnDemand { .. })),
            _ticker: ticker,
        };
        Ok(WasmtimeEngine {
            engine,
            allocator,
            settings,
            store,
            disk_cache,
        })
    }

    /// The compilation cache's hits and misses so far (`None` without one).
    pub(crate) fn compile_cache_stats(&self) -> Option<(usize, usize)> {
        self.disk_cache
            .as_ref()
            .map(|c| (c.cache_hits(), c.cache_misses()))
    }

    /// How much of the pooling allocator is in use; `None` on the
    /// on-demand allocator. Reads two counters.
    pub(crate) fn pool_usage(&self) -> Option<PoolUsage> {
        let metrics = self.engine.pooling_allocator_metrics()?;
        let settings = &self.settings;
        let per = |n: u32| u64::from(settings.max_components.saturating_mul(n));
        Some(PoolUsage {
            memories_in_use: metrics.memories() as u64,
            memories_total: per(settings.max_memories_per_component),
            core_instances_in_use: metrics.core_instances(),
            core_instances_total: per(settings.max_core_instances_per_component),
        })
    }
}

fn on_demand_engine(settings: &EngineSettings, cache: Option<Cache>) -> Result<Engine, WasmError> {
    Engine::new(&settings.wasmtime_config(false, cache)).map_err(|e| WasmError::Engine {
        reason: format!("{e:#}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapping_count_grows_with_the_pool() {
        assert!(pool_mappings_needed(50_000) > 100_000);
        assert!(
            pool_mappings_needed(1) < 65_530,
            "a small pool fits the default limit"
        );
    }
}
