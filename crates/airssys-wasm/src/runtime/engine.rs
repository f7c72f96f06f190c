//! The shared wasmtime engine: configuration, allocator choice, epoch ticker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

use crate::error::WasmError;
use crate::guest::loader::Linkers;
use crate::guest::GuestModule;
use crate::id::ComponentId;
use crate::runtime::cache::ModuleCache;
use crate::runtime::pool::PoolLimits;

/// Default number of component instances the pool holds: 1000.
pub const DEFAULT_MAX_COMPONENTS: u32 = 1000;
/// Default pool slot size for one component's linear memory: 64 MiB.
pub const DEFAULT_MAX_MEMORY_PER_COMPONENT: usize = 64 * 1024 * 1024;
/// Default core module instances one component may hold: 32. A core
/// module is 1; a component made by `wit-component` is its module plus the
/// adapter, shim and fix-up instances (3 to 5); the 18 MB
/// `componentize-py` 0.25 component of a 15-line handler has 14
/// (`libc`, `libpython`, ... are each one). A core
/// instance slot is only counted, it reserves no memory.
pub const DEFAULT_MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 32;
/// Default linear memories one component's modules may define: 1 (every
/// toolchain's component has one; its other modules import it). Each costs
/// a pool memory slot of address space (see [`EngineConfig::memory_slot_bytes`]).
pub const DEFAULT_MAX_MEMORIES_PER_COMPONENT: u32 = 1;
/// Default tables one component's modules may define: 4 (the module's own
/// and the `wit-component` shim's, with room to spare). Each costs
/// `max_table_elements` × 8 bytes of address space per pooled component.
pub const DEFAULT_MAX_TABLES_PER_COMPONENT: u32 = 4;
/// Default initial elements of one table: 100 000 (the `componentize-py`
/// component above starts its function table at 5,680).
pub const DEFAULT_MAX_TABLE_ELEMENTS: usize = 100_000;
/// Bound on the host-side bookkeeping (`VMContext`) of one core instance
/// and of one whole component instance. It grows with a module's imports,
/// functions and globals, and wasmtime only checks it (nothing is reserved),
/// so it is set past what any module that fits the compile budget needs.
const MAX_CORE_INSTANCE_SIZE: usize = 16 << 20;
const MAX_COMPONENT_INSTANCE_SIZE: usize = 64 << 20;
/// Default epoch tick: 1 ms. It is the resolution of execution timeouts and
/// the longest a busy guest runs before yielding to the tokio scheduler.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(1);
/// Default wasm stack per instance: 512 KiB (wasmtime's default).
pub const DEFAULT_MAX_WASM_STACK: usize = 512 * 1024;
/// Default largest guest accepted for compilation: 64 MiB of binary or WAT
/// text.
pub const DEFAULT_MAX_MODULE_BYTES: usize = 64 * 1024 * 1024;
/// Default most functions (defined plus imported) a guest may declare: 50 000.
pub const DEFAULT_MAX_FUNCTIONS: u32 = 50_000;
/// Default largest single function body: 1 MiB of code.
pub const DEFAULT_MAX_FUNCTION_BODY_BYTES: usize = 1024 * 1024;
/// Default most compiled guests the module cache keeps that no live
/// component uses: 256.
pub const DEFAULT_MODULE_CACHE_CAPACITY: usize = 256;
/// wasmtime's own per-memory reservation on 64-bit hosts (4 GiB, so that
/// every 32-bit address lands in the reservation and compiled code needs
/// no bounds checks) plus its default guard regions before and after
/// (32 MiB each).
const GUARD_PAGE_SLOT_BYTES: u64 = (4 << 30) + 2 * (32 << 20);

/// Most address space the memory pool may take with [`GUARD_PAGE_SLOT_BYTES`]
/// slots: 32 TiB, a quarter of x86-64's 128 TiB user space. A larger pool
/// uses slots of exactly `max_memory_per_component`.
const GUARD_PAGE_POOL_BUDGET: u64 = 32 << 40;

/// A WebAssembly page.
const WASM_PAGE: u64 = 64 * 1024;

/// Settings of a [`WasmEngine`].
///
/// | setting | default |
/// |---|---|
/// | `max_components` | 1000 ([`DEFAULT_MAX_COMPONENTS`]) |
/// | `max_memory_per_component` | 64 MiB ([`DEFAULT_MAX_MEMORY_PER_COMPONENT`]) |
/// | `max_core_instances_per_component` | 32 ([`DEFAULT_MAX_CORE_INSTANCES_PER_COMPONENT`]) |
/// | `max_memories_per_component` | 1 ([`DEFAULT_MAX_MEMORIES_PER_COMPONENT`]) |
/// | `max_tables_per_component` | 4 ([`DEFAULT_MAX_TABLES_PER_COMPONENT`]) |
/// | `max_table_elements` | 100 000 ([`DEFAULT_MAX_TABLE_ELEMENTS`]) |
/// | `epoch_tick` | 1 ms ([`DEFAULT_EPOCH_TICK`]) |
/// | `fuel` | off |
/// | `pooling` | on |
/// | `max_wasm_stack` | 512 KiB ([`DEFAULT_MAX_WASM_STACK`]) |
/// | `max_module_bytes` | 64 MiB ([`DEFAULT_MAX_MODULE_BYTES`]) |
/// | `max_functions` | 50 000 ([`DEFAULT_MAX_FUNCTIONS`]) |
/// | `max_function_body_bytes` | 1 MiB ([`DEFAULT_MAX_FUNCTION_BODY_BYTES`]) |
/// | `module_cache_capacity` | 256 ([`DEFAULT_MODULE_CACHE_CAPACITY`]) |
///
/// `max_module_bytes`, `max_functions` and `max_function_body_bytes` are the compile budget: a guest over any of them is
/// refused with [`WasmError::LimitExceeded`] by a section scan that costs
/// O(sections), before wasmtime compiles anything, so a "compile bomb" (a
/// module of millions of functions or one enormous body) cannot take the
/// host's CPU and memory.
///
/// **Pool per component.** `max_core_instances_per_component`,
/// `max_memories_per_component`, `max_tables_per_component`,
/// `max_table_elements` and `max_memory_per_component` size each
/// component's share of the pool. What a guest needs of each is read from
/// its binary when it is loaded, before compilation; a guest that cannot
/// fit is refused with [`WasmError::PoolTooSmall`], which names the setting
/// to raise.
///
/// **Address space.** A pooled memory slot is normally what wasmtime
/// reserves on its own: 4 GiB plus guard regions, so compiled code needs
/// no bounds checks. That is 4 TiB for the default 1000 components; past
/// 32 TiB (about 7,900 components) the slots shrink to exactly
/// `max_memory_per_component`, and compiled code checks bounds instead
/// (a few percent of guest speed). See [`memory_slot_bytes`](Self::memory_slot_bytes).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    max_components: u32,
    max_memory_per_component: usize,
    max_core_instances_per_component: u32,
    max_memories_per_component: u32,
    max_tables_per_component: u32,
    max_table_elements: usize,
    epoch_tick: Duration,
    fuel: bool,
    pooling: bool,
    max_wasm_stack: usize,
    compile_limits: CompileLimits,
    module_cache_capacity: usize,
    compile_cache: Option<std::path::PathBuf>,
}

/// The compile budget of an engine (see [`EngineConfig`]); checked by the
/// loader before compilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompileLimits {
    pub(crate) max_module_bytes: usize,
    pub(crate) max_functions: u32,
    pub(crate) max_function_body_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_components: DEFAULT_MAX_COMPONENTS,
            max_memory_per_component: DEFAULT_MAX_MEMORY_PER_COMPONENT,
            max_core_instances_per_component: DEFAULT_MAX_CORE_INSTANCES_PER_COMPONENT,
            max_memories_per_component: DEFAULT_MAX_MEMORIES_PER_COMPONENT,
            max_tables_per_component: DEFAULT_MAX_TABLES_PER_COMPONENT,
            max_table_elements: DEFAULT_MAX_TABLE_ELEMENTS,
            epoch_tick: DEFAULT_EPOCH_TICK,
            fuel: false,
            pooling: true,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            compile_limits: CompileLimits {
                max_module_bytes: DEFAULT_MAX_MODULE_BYTES,
                max_functions: DEFAULT_MAX_FUNCTIONS,
                max_function_body_bytes: DEFAULT_MAX_FUNCTION_BODY_BYTES,
            },
            module_cache_capacity: DEFAULT_MODULE_CACHE_CAPACITY,
            compile_cache: None,
        }
    }
}

impl EngineConfig {
    /// Total component instances alive at once (pool size, default 1000).
    /// One more instantiation fails with [`WasmError::Capacity`].
    #[must_use]
    pub fn max_components(mut self, n: u32) -> Self {
        self.max_components = n;
        self
    }
    /// Pool slot size for one component's memory (default 64 MiB); an upper
    /// bound on every component's [`ComponentLimits`](crate::ComponentLimits) memory cap.
    #[must_use]
    pub fn max_memory_per_component(mut self, bytes: usize) -> Self {
        self.max_memory_per_component = bytes;
        self
    }
    /// Core module instances one component may hold (default 32). Costs
    /// no memory: the pool only counts them. A guest needing more is
    /// refused at load with [`WasmError::PoolTooSmall`].
    #[must_use]
    pub fn max_core_instances_per_component(mut self, n: u32) -> Self {
        self.max_core_instances_per_component = n;
        self
    }
    /// Linear memories one component's modules may define (default 1).
    /// Each is a pool memory slot per component: 2 doubles the pool's
    /// address space. A guest needing more is refused at load with
    /// [`WasmError::PoolTooSmall`].
    #[must_use]
    pub fn max_memories_per_component(mut self, n: u32) -> Self {
        self.max_memories_per_component = n;
        self
    }
    /// Tables one component's modules may define (default 4). A guest
    /// needing more is refused at load with [`WasmError::PoolTooSmall`].
    #[must_use]
    pub fn max_tables_per_component(mut self, n: u32) -> Self {
        self.max_tables_per_component = n;
        self
    }
    /// Initial elements of one table (default 100 000); a table may not
    /// grow past it either. A guest whose table starts larger is refused at
    /// load with [`WasmError::PoolTooSmall`].
    #[must_use]
    pub fn max_table_elements(mut self, n: usize) -> Self {
        self.max_table_elements = n;
        self
    }
    /// Epoch tick (default 1 ms): timeout resolution and yield interval.
    #[must_use]
    pub fn epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = tick;
        self
    }
    /// Enables fuel metering (default off; costs ~10-30% guest speed).
    #[must_use]
    pub fn fuel(mut self, enabled: bool) -> Self {
        self.fuel = enabled;
        self
    }
    /// Uses the pooling allocator (default on). When off, or when the pool
    /// cannot be reserved, instances are allocated on demand.
    #[must_use]
    pub fn pooling(mut self, enabled: bool) -> Self {
        self.pooling = enabled;
        self
    }
    /// Wasm stack size per instance (default 512 KiB).
    #[must_use]
    pub fn max_wasm_stack(mut self, bytes: usize) -> Self {
        self.max_wasm_stack = bytes;
        self
    }
    /// Largest guest, in bytes of binary or WAT text, the loader compiles
    /// (default 64 MiB). Larger ones fail with [`WasmError::LimitExceeded`]
    /// without being parsed.
    #[must_use]
    pub fn max_module_bytes(mut self, bytes: usize) -> Self {
        self.compile_limits.max_module_bytes = bytes;
        self
    }
    /// Most functions, imported plus defined, a guest may declare (default
    /// 50 000). Checked from the section headers before compilation:
    /// [`WasmError::LimitExceeded`].
    #[must_use]
    pub fn max_functions(mut self, n: u32) -> Self {
        self.compile_limits.max_functions = n;
        self
    }
    /// Largest single function body in bytes of code (default 1 MiB).
    /// Checked before compilation: [`WasmError::LimitExceeded`].
    #[must_use]
    pub fn max_function_body_bytes(mut self, bytes: usize) -> Self {
        self.compile_limits.max_function_body_bytes = bytes;
        self
    }
    /// Most compiled guests the module cache keeps once no live component
    /// uses them (default 256). A guest some live component was made from is
    /// never evicted, however many there are; past the capacity, the
    /// oldest-loaded unused guest leaves the cache (and loading it again
    /// compiles it again). This bounds the memory of a long-running host
    /// that loads many distinct binaries (upgrades, one-off guests) instead
    /// of keeping every binary it ever compiled.
    #[must_use]
    pub fn module_cache_capacity(mut self, n: usize) -> Self {
        self.module_cache_capacity = n;
        self
    }
    /// Keeps compiled code on disk in `dir`, so that a guest compiled once
    /// (by this process or an earlier one) loads without compiling again.
    /// wasmtime's own compilation cache: entries are keyed by the binary,
    /// the wasmtime version and the engine's settings, so another version or
    /// setting never loads a stale one; an unreadable or corrupt entry is
    /// compiled again. Off by default; a directory that cannot be used is
    /// logged and the engine compiles as without it.
    #[must_use]
    pub fn compile_cache(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.compile_cache = Some(dir.into());
        self
    }

    /// The user's compilation cache, shared by `airssys run`, `airssys
    /// precompile` and the testkit: `$XDG_CACHE_HOME/airssys/compiled`, or
    /// `$HOME/.cache/airssys/compiled`; `None` when neither is set.
    pub fn user_compile_cache_dir() -> Option<std::path::PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| std::path::PathBuf::from(h).join(".cache"))
            })?;
        Some(base.join("airssys").join("compiled"))
    }

    /// The compilation cache's directory, if set.
    pub fn get_compile_cache(&self) -> Option<&std::path::Path> {
        self.compile_cache.as_deref()
    }

    /// The configured module cache capacity.
    pub fn get_module_cache_capacity(&self) -> usize {
        self.module_cache_capacity
    }
    /// The configured largest guest size in bytes.
    pub fn get_max_module_bytes(&self) -> usize {
        self.compile_limits.max_module_bytes
    }
    /// The configured most functions per guest.
    pub fn get_max_functions(&self) -> u32 {
        self.compile_limits.max_functions
    }
    /// The configured largest function body in bytes.
    pub fn get_max_function_body_bytes(&self) -> usize {
        self.compile_limits.max_function_body_bytes
    }
    /// The configured epoch tick.
    pub fn get_epoch_tick(&self) -> Duration {
        self.epoch_tick
    }
    /// The configured core instances per component.
    pub fn get_max_core_instances_per_component(&self) -> u32 {
        self.max_core_instances_per_component
    }
    /// The configured memories per component.
    pub fn get_max_memories_per_component(&self) -> u32 {
        self.max_memories_per_component
    }
    /// The configured tables per component.
    pub fn get_max_tables_per_component(&self) -> u32 {
        self.max_tables_per_component
    }
    /// The configured initial elements per table.
    pub fn get_max_table_elements(&self) -> usize {
        self.max_table_elements
    }
    /// The configured component count.
    pub fn get_max_components(&self) -> u32 {
        self.max_components
    }
    /// The configured memory slot size.
    pub fn get_max_memory_per_component(&self) -> usize {
        self.max_memory_per_component
    }
    /// Whether fuel metering is on.
    pub fn get_fuel(&self) -> bool {
        self.fuel
    }
    /// The address space one pooled memory slot takes: wasmtime's 4 GiB
    /// plus guards while the whole pool stays within 32 TiB, else exactly
    /// `max_memory_per_component` (rounded up to whole 64 KiB pages).
    pub fn memory_slot_bytes(&self) -> u64 {
        let slots = u64::from(self.max_components)
            .saturating_mul(u64::from(self.max_memories_per_component.max(1)));
        if slots.saturating_mul(GUARD_PAGE_SLOT_BYTES) <= GUARD_PAGE_POOL_BUDGET {
            GUARD_PAGE_SLOT_BYTES
        } else {
            (self.max_memory_per_component as u64).div_ceil(WASM_PAGE) * WASM_PAGE
        }
    }

    /// What the pool holds per component, for the load-time check.
    fn pool_limits(&self, pooling: bool) -> PoolLimits {
        PoolLimits {
            core_instances: self.max_core_instances_per_component,
            memories: self.max_memories_per_component,
            tables: self.max_tables_per_component,
            memory_bytes: self.max_memory_per_component,
            table_elements: self.max_table_elements,
            pooling,
        }
    }

    /// wasmtime's compilation cache in the configured directory, if any.
    fn disk_cache(&self) -> Option<Cache> {
        let dir = self.compile_cache.as_ref()?;
        // wasmtime wants an absolute directory; a relative one is taken
        // from the current directory.
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
        let mut cache = CacheConfig::new();
        cache.with_directory(&dir);
        match Cache::new(cache) {
            Ok(cache) => Some(cache),
            Err(error) => {
                tracing::warn!(dir = %dir.display(), error = %format!("{error:#}"), "compilation cache unusable; compiling without it");
                None
            }
        }
    }

    fn wasmtime_config(&self, pooling: bool, cache: Option<Cache>) -> Config {
        let mut config = Config::new();
        config.cache(cache);
        config
            .epoch_interruption(true)
            .consume_fuel(self.fuel)
            .memory_init_cow(true)
            .max_wasm_stack(self.max_wasm_stack);
        if pooling {
            let mut pool = PoolingAllocationConfig::new();
            // Every component gets its share of each pool: core instances
            // are only counted, memories and tables take address space.
            // One module may use all of its component's share.
            let per = |n: u32| self.max_components.saturating_mul(n);
            pool.total_core_instances(per(self.max_core_instances_per_component))
                .total_memories(per(self.max_memories_per_component))
                .total_tables(per(self.max_tables_per_component))
                .total_stacks(self.max_components)
                .total_component_instances(self.max_components)
                .max_core_instances_per_component(self.max_core_instances_per_component)
                .max_memories_per_component(self.max_memories_per_component)
                .max_tables_per_component(self.max_tables_per_component)
                .max_memories_per_module(self.max_memories_per_component)
                .max_tables_per_module(self.max_tables_per_component)
                .table_elements(self.max_table_elements)
                .max_memory_size(self.max_memory_per_component)
                .max_core_instance_size(MAX_CORE_INSTANCE_SIZE)
                .max_component_instance_size(MAX_COMPONENT_INSTANCE_SIZE);
            let slot = self.memory_slot_bytes();
            if slot != GUARD_PAGE_SLOT_BYTES {
                // Slots of exactly the largest memory, no guards: bounds
                // are checked by the compiled code, and a million slots
                // take as much address space as the memories themselves.
                config
                    .memory_reservation(slot)
                    .memory_guard_size(0)
                    .guard_before_linear_memory(false)
                    .memory_reservation_for_growth(0);
            }
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        config
    }
}

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

/// What [`WasmEngine::module_cache_stats`] reports.
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

/// What [`WasmEngine::pool_usage`] reports: slots of the pooling
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

/// One wasmtime `Engine` per host, with its module cache, host linker and
/// epoch ticker. Cheap to clone (an `Arc`).
///
/// ```
/// use airssys_wasm::{EngineConfig, WasmEngine};
///
/// let engine = WasmEngine::new(EngineConfig::default().max_components(16)).unwrap();
/// println!("allocator: {:?}", engine.allocator());
/// ```
#[derive(Clone)]
pub struct WasmEngine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    engine: Engine,
    allocator: AllocatorKind,
    config: EngineConfig,
    cache: ModuleCache,
    settings: RuntimeSettings,
    disk_cache: Option<Cache>,
}

impl std::fmt::Debug for WasmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine")
            .field("allocator", &self.inner.allocator)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl WasmEngine {
    /// Creates the engine, reserves the instance pool and starts the epoch
    /// ticker thread.
    ///
    /// If the pool cannot be reserved (virtual-memory limits, an absurd
    /// `max_components`), logs a `warn` and falls back to on-demand
    /// allocation: see [`allocator`](Self::allocator).
    ///
    /// # Errors
    /// [`WasmError::Engine`] if even the on-demand engine cannot be built.
    pub fn new(config: EngineConfig) -> Result<Self, WasmError> {
        let disk_cache = config.disk_cache();
        let (engine, allocator) = if config.pooling {
            match Engine::new(&config.wasmtime_config(true, disk_cache.clone())) {
                Ok(engine) => (engine, AllocatorKind::Pooling),
                Err(err) => {
                    let reason = match mapping_shortfall(config.max_components) {
                        Some(hint) => format!("{err:#}; {hint}"),
                        None => format!("{err:#}"),
                    };
                    tracing::warn!(
                        max_components = config.max_components,
                        max_memory_per_component = config.max_memory_per_component,
                        error = %reason,
                        "cannot reserve the pooling allocator; falling back to on-demand allocation"
                    );
                    (
                        Self::on_demand_engine(&config, disk_cache.clone())?,
                        AllocatorKind::OnDemand { reason },
                    )
                }
            }
        } else {
            let reason = "pooling disabled by configuration".to_string();
            (
                Self::on_demand_engine(&config, disk_cache.clone())?,
                AllocatorKind::OnDemand { reason },
            )
        };
        let ticker = Arc::new(EpochTicker::start(&engine, config.epoch_tick));
        let settings = RuntimeSettings {
            fuel: config.fuel,
            epoch_tick: config.epoch_tick,
            max_memory_per_component: config.max_memory_per_component,
            clock_origin: tokio::time::Instant::now(),
            compile_limits: config.compile_limits,
            pool: config.pool_limits(!matches!(allocator, AllocatorKind::OnDemand { .. })),
            _ticker: ticker,
        };
        let linker = Linkers::new(&engine).map_err(|e| WasmError::Engine {
            reason: format!("{e:#}"),
        })?;
        Ok(WasmEngine {
            inner: Arc::new(EngineInner {
                cache: ModuleCache::new(linker, config.module_cache_capacity),
                engine,
                allocator,
                config,
                settings,
                disk_cache,
            }),
        })
    }

    /// The compilation cache's hits and misses so far (`None` without
    /// one): a hit is a guest loaded from disk without compiling.
    pub fn compile_cache_stats(&self) -> Option<(usize, usize)> {
        self.inner
            .disk_cache
            .as_ref()
            .map(|c| (c.cache_hits(), c.cache_misses()))
    }

    fn on_demand_engine(config: &EngineConfig, cache: Option<Cache>) -> Result<Engine, WasmError> {
        Engine::new(&config.wasmtime_config(false, cache)).map_err(|e| WasmError::Engine {
            reason: format!("{e:#}"),
        })
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
        let metrics = self.inner.engine.pooling_allocator_metrics()?;
        let config = &self.inner.config;
        let per = |n: u32| u64::from(config.max_components.saturating_mul(n));
        Some(PoolUsage {
            memories_in_use: metrics.memories() as u64,
            memories_total: per(config.max_memories_per_component),
            core_instances_in_use: metrics.core_instances(),
            core_instances_total: per(config.max_core_instances_per_component),
        })
    }

    /// The allocator in use.
    pub fn allocator(&self) -> &AllocatorKind {
        &self.inner.allocator
    }

    /// The configuration the engine was built with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The underlying wasmtime engine (for baselines and advanced use).
    pub fn wasmtime(&self) -> &Engine {
        &self.inner.engine
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
        self.inner
            .cache
            .get_or_compile(&self.inner.engine, &self.inner.settings, component, bytes)
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
        if let Some(module) = self.inner.cache.get_hashed(&hash) {
            return Ok(module);
        }
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            engine.inner.cache.get_or_compile_hashed(
                &engine.inner.engine,
                &engine.inner.settings,
                &component,
                &bytes,
                hash,
            )
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

/// Background thread incrementing the engine's epoch every tick (one thread
/// per engine, waking once per tick). Holds only a weak engine reference;
/// stops when dropped (within one tick) or when the engine is gone.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EpochTicker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochTicker").finish_non_exhaustive()
    }
}

impl EpochTicker {
    fn start(engine: &Engine, tick: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("airssys-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(tick);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(err) => {
                tracing::error!(error = %err, "cannot start the epoch ticker; execution timeouts will not fire");
                None
            }
        };
        EpochTicker { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // Wake it so it exits now; it is not joined, so dropping the
            // engine never blocks (an async caller) for a tick.
            t.thread().unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_slots_keep_their_guard_pages_until_the_pool_outgrows_32_tib() {
        let small = EngineConfig::default();
        assert_eq!(small.memory_slot_bytes(), GUARD_PAGE_SLOT_BYTES);
        let fits = EngineConfig::default().max_components(7_000);
        assert_eq!(fits.memory_slot_bytes(), GUARD_PAGE_SLOT_BYTES);
        let million = EngineConfig::default()
            .max_components(1_000_000)
            .max_memory_per_component(100_000);
        assert_eq!(
            million.memory_slot_bytes(),
            2 * WASM_PAGE,
            "rounded up to whole pages"
        );
    }

    #[test]
    fn the_mapping_count_grows_with_the_pool() {
        assert!(pool_mappings_needed(50_000) > 100_000);
        assert!(
            pool_mappings_needed(1) < 65_530,
            "a small pool fits the default limit"
        );
    }
}
