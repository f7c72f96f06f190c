//! The engine's settings: [`EngineConfig`], the builder, and
//! [`EngineSettings`], the value it builds and the engine keeps; with them
//! the wasmtime `Config` those settings make.

use std::path::PathBuf;
use std::time::Duration;

use wasmtime::{Cache, CacheConfig, Config, InstanceAllocationStrategy, PoolingAllocationConfig};

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
/// a pool memory slot of address space (see [`EngineSettings::memory_slot_bytes`]).
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
/// Default bytes of each memory and table that a freed pool slot resets
/// with `memset` and keeps resident: 64 KiB, one WebAssembly page.
pub const DEFAULT_KEPT_RESIDENT: usize = 64 * 1024;
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

/// The settings a [`WasmEngine`](crate::WasmEngine) runs with, built by
/// [`EngineConfig`] (where each is documented with its default) and read
/// back from [`WasmEngine::settings`](crate::WasmEngine::settings).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineSettings {
    /// Total component instances alive at once (the pool's size).
    pub max_components: u32,
    /// Pool slot size for one component's memory, in bytes.
    pub max_memory_per_component: usize,
    /// Core module instances one component may hold.
    pub max_core_instances_per_component: u32,
    /// Linear memories one component's modules may define.
    pub max_memories_per_component: u32,
    /// Tables one component's modules may define.
    pub max_tables_per_component: u32,
    /// Initial (and largest) elements of one table.
    pub max_table_elements: usize,
    /// The epoch tick: timeout resolution and yield interval.
    pub epoch_tick: Duration,
    /// Whether fuel metering is on.
    pub fuel: bool,
    /// Whether the pooling allocator is asked for.
    pub pooling: bool,
    /// Wasm stack size per instance, in bytes.
    pub max_wasm_stack: usize,
    /// Largest guest the loader compiles, in bytes of binary or WAT text.
    pub max_module_bytes: usize,
    /// Most functions, imported plus defined, a guest may declare.
    pub max_functions: u32,
    /// Largest single function body, in bytes of code.
    pub max_function_body_bytes: usize,
    /// Most compiled guests the module cache keeps that no live component
    /// uses.
    pub module_cache_capacity: usize,
    /// The directory of wasmtime's compilation cache, if any.
    pub compile_cache: Option<PathBuf>,
    /// Bytes at the start of each memory and table that a freed pool slot
    /// resets with `memset` and keeps resident; the rest is given back to
    /// the kernel (`madvise`).
    pub kept_resident: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
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
            max_module_bytes: DEFAULT_MAX_MODULE_BYTES,
            max_functions: DEFAULT_MAX_FUNCTIONS,
            max_function_body_bytes: DEFAULT_MAX_FUNCTION_BODY_BYTES,
            module_cache_capacity: DEFAULT_MODULE_CACHE_CAPACITY,
            compile_cache: None,
            kept_resident: DEFAULT_KEPT_RESIDENT,
        }
    }
}

/// The compile budget of an engine (see [`EngineConfig`]); checked by the
/// loader before compilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompileLimits {
    pub(crate) max_module_bytes: usize,
    pub(crate) max_functions: u32,
    pub(crate) max_function_body_bytes: usize,
}

/// Builds the [`EngineSettings`] of a [`WasmEngine`](crate::WasmEngine).
///
/// ```
/// use std::time::Duration;
/// use airssys_wasm::EngineConfig;
///
/// let settings = EngineConfig::default()
///     .max_components(16)
///     .epoch_tick(Duration::from_millis(2))
///     .build();
/// assert_eq!(settings.max_components, 16);
/// ```
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
/// | `kept_resident` | 64 KiB ([`DEFAULT_KEPT_RESIDENT`]) |
///
/// `max_module_bytes`, `max_functions` and `max_function_body_bytes` are the compile budget: a guest over any of them is
/// refused with [`WasmError::LimitExceeded`](crate::WasmError::LimitExceeded) by a section scan that costs
/// O(sections), before wasmtime compiles anything, so a "compile bomb" (a
/// module of millions of functions or one enormous body) cannot take the
/// host's CPU and memory.
///
/// **Pool per component.** `max_core_instances_per_component`,
/// `max_memories_per_component`, `max_tables_per_component`,
/// `max_table_elements` and `max_memory_per_component` size each
/// component's share of the pool. What a guest needs of each is read from
/// its binary when it is loaded, before compilation; a guest that cannot
/// fit is refused with [`WasmError::PoolTooSmall`](crate::WasmError::PoolTooSmall), which names the setting
/// to raise.
///
/// **Address space.** A pooled memory slot is normally what wasmtime
/// reserves on its own: 4 GiB plus guard regions, so compiled code needs
/// no bounds checks. That is 4 TiB for the default 1000 components; past
/// 32 TiB (about 7,900 components) the slots shrink to exactly
/// `max_memory_per_component`, and compiled code checks bounds instead
/// (a few percent of guest speed). See [`EngineSettings::memory_slot_bytes`].
#[derive(Clone, Debug, Default)]
pub struct EngineConfig {
    settings: EngineSettings,
}

impl From<EngineSettings> for EngineConfig {
    /// A builder starting from `settings` (to change a few of them).
    fn from(settings: EngineSettings) -> Self {
        EngineConfig { settings }
    }
}

impl EngineConfig {
    /// Total component instances alive at once (pool size, default 1000).
    /// One more instantiation fails with [`WasmError::Capacity`](crate::WasmError::Capacity).
    #[must_use]
    pub fn max_components(mut self, n: u32) -> Self {
        self.settings.max_components = n;
        self
    }
    /// Pool slot size for one component's memory (default 64 MiB); an upper
    /// bound on every component's [`ComponentLimits`](crate::ComponentLimits) memory cap.
    #[must_use]
    pub fn max_memory_per_component(mut self, bytes: usize) -> Self {
        self.settings.max_memory_per_component = bytes;
        self
    }
    /// Core module instances one component may hold (default 32). Costs
    /// no memory: the pool only counts them. A guest needing more is
    /// refused at load with [`WasmError::PoolTooSmall`](crate::WasmError::PoolTooSmall).
    #[must_use]
    pub fn max_core_instances_per_component(mut self, n: u32) -> Self {
        self.settings.max_core_instances_per_component = n;
        self
    }
    /// Linear memories one component's modules may define (default 1).
    /// Each is a pool memory slot per component: 2 doubles the pool's
    /// address space. A guest needing more is refused at load with
    /// [`WasmError::PoolTooSmall`](crate::WasmError::PoolTooSmall).
    #[must_use]
    pub fn max_memories_per_component(mut self, n: u32) -> Self {
        self.settings.max_memories_per_component = n;
        self
    }
    /// Tables one component's modules may define (default 4). A guest
    /// needing more is refused at load with [`WasmError::PoolTooSmall`](crate::WasmError::PoolTooSmall).
    #[must_use]
    pub fn max_tables_per_component(mut self, n: u32) -> Self {
        self.settings.max_tables_per_component = n;
        self
    }
    /// Initial elements of one table (default 100 000); a table may not
    /// grow past it either. A guest whose table starts larger is refused at
    /// load with [`WasmError::PoolTooSmall`](crate::WasmError::PoolTooSmall).
    #[must_use]
    pub fn max_table_elements(mut self, n: usize) -> Self {
        self.settings.max_table_elements = n;
        self
    }
    /// Epoch tick (default 1 ms): timeout resolution and yield interval.
    #[must_use]
    pub fn epoch_tick(mut self, tick: Duration) -> Self {
        self.settings.epoch_tick = tick;
        self
    }
    /// Enables fuel metering (default off; costs ~10-30% guest speed).
    #[must_use]
    pub fn fuel(mut self, enabled: bool) -> Self {
        self.settings.fuel = enabled;
        self
    }
    /// Bytes at the start of each memory and table that a freed pool slot
    /// resets with `memset` and keeps resident (default 64 KiB, one
    /// page); past them, and for 0, the slot's pages are given back with
    /// `madvise`.
    ///
    /// A freed slot is every stopped or restarted component's. `madvise`
    /// costs a system call and, with the host's threads on several CPUs, a
    /// TLB shoot-down of each of them: measured, most of a restart's time
    /// on a 2-CPU machine. A `memset` of one page costs less, and the slot
    /// is warm for the next instance. The price is RSS: up to this much per
    /// freed slot of the pool (not per live component, whose touched pages
    /// are resident anyway).
    #[must_use]
    pub fn kept_resident(mut self, bytes: usize) -> Self {
        self.settings.kept_resident = bytes;
        self
    }
    /// Uses the pooling allocator (default on). When off, or when the pool
    /// cannot be reserved, instances are allocated on demand.
    #[must_use]
    pub fn pooling(mut self, enabled: bool) -> Self {
        self.settings.pooling = enabled;
        self
    }
    /// Wasm stack size per instance (default 512 KiB).
    #[must_use]
    pub fn max_wasm_stack(mut self, bytes: usize) -> Self {
        self.settings.max_wasm_stack = bytes;
        self
    }
    /// Largest guest, in bytes of binary or WAT text, the loader compiles
    /// (default 64 MiB). Larger ones fail with [`WasmError::LimitExceeded`](crate::WasmError::LimitExceeded)
    /// without being parsed.
    #[must_use]
    pub fn max_module_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_module_bytes = bytes;
        self
    }
    /// Most functions, imported plus defined, a guest may declare (default
    /// 50 000). Checked from the section headers before compilation:
    /// [`WasmError::LimitExceeded`](crate::WasmError::LimitExceeded).
    #[must_use]
    pub fn max_functions(mut self, n: u32) -> Self {
        self.settings.max_functions = n;
        self
    }
    /// Largest single function body in bytes of code (default 1 MiB).
    /// Checked before compilation: [`WasmError::LimitExceeded`](crate::WasmError::LimitExceeded).
    #[must_use]
    pub fn max_function_body_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_function_body_bytes = bytes;
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
        self.settings.module_cache_capacity = n;
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
    pub fn compile_cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.settings.compile_cache = Some(dir.into());
        self
    }

    /// The user's compilation cache, shared by `airssys run`, `airssys
    /// precompile` and the testkit: `$XDG_CACHE_HOME/airssys/compiled`, or
    /// `$HOME/.cache/airssys/compiled`; `None` when neither is set.
    pub fn user_compile_cache_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".cache"))
            })?;
        Some(base.join("airssys").join("compiled"))
    }

    /// The settings built: what [`WasmEngine::new`](crate::WasmEngine::new)
    /// runs with.
    pub fn build(self) -> EngineSettings {
        self.settings
    }
}

impl EngineSettings {
    /// The compile budget the loader checks a guest against.
    pub(crate) fn compile_limits(&self) -> CompileLimits {
        CompileLimits {
            max_module_bytes: self.max_module_bytes,
            max_functions: self.max_functions,
            max_function_body_bytes: self.max_function_body_bytes,
        }
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
    pub(crate) fn pool_limits(&self, pooling: bool) -> PoolLimits {
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
    pub(crate) fn disk_cache(&self) -> Option<Cache> {
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

    pub(crate) fn wasmtime_config(&self, pooling: bool, cache: Option<Cache>) -> Config {
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
            pool.linear_memory_keep_resident(self.kept_resident)
                .table_keep_resident(self.kept_resident);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_slots_keep_their_guard_pages_until_the_pool_outgrows_32_tib() {
        let small = EngineConfig::default().build();
        assert_eq!(small.memory_slot_bytes(), GUARD_PAGE_SLOT_BYTES);
        let fits = EngineConfig::default().max_components(7_000).build();
        assert_eq!(fits.memory_slot_bytes(), GUARD_PAGE_SLOT_BYTES);
        let million = EngineConfig::default()
            .max_components(1_000_000)
            .max_memory_per_component(100_000)
            .build();
        assert_eq!(
            million.memory_slot_bytes(),
            2 * WASM_PAGE,
            "rounded up to whole pages"
        );
    }
}
