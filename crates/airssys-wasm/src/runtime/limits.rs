//! Per-component resource limits and the store's memory limiter.

use std::time::Duration;

use crate::id::ComponentId;

/// Default cap on a component's linear memory: 16 MiB.
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 16 * 1024 * 1024;
/// Default execution time allowed per guest call: 1 second.
pub const DEFAULT_EXECUTION_TIMEOUT: Duration = Duration::from_secs(1);
/// Default largest payload accepted by a component or sent by it: 1 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Default longest a guest may wait in the `request` host call: 5 seconds.
pub const DEFAULT_MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Resource limits of one component instance.
///
/// | setting | default | on violation |
/// |---|---|---|
/// | `max_memory_bytes` | 16 MiB ([`DEFAULT_MAX_MEMORY_BYTES`]) | the growing `memory.grow` traps → [`GuestError::MemoryLimitExceeded`](crate::GuestError::MemoryLimitExceeded) |
/// | `execution_timeout` | 1 s ([`DEFAULT_EXECUTION_TIMEOUT`]) | the call is interrupted → [`GuestError::ExecutionTimeout`](crate::GuestError::ExecutionTimeout) |
/// | `fuel_per_call` | none | [`GuestError::FuelExhausted`](crate::GuestError::FuelExhausted); needs [`EngineConfig::fuel`](crate::EngineConfig::fuel) |
/// | `max_message_bytes` | 1 MiB ([`DEFAULT_MAX_MESSAGE_BYTES`]) | incoming: [`GuestError::MessageTooLarge`](crate::GuestError::MessageTooLarge) before calling the guest; outgoing host calls: code `TOO_LARGE` |
/// | `max_request_timeout` | 5 s ([`DEFAULT_MAX_REQUEST_TIMEOUT`]) | a guest's `request` timeout is clamped to it |
///
/// Execution time is measured in epoch ticks while guest code runs (see
/// [`EngineConfig::epoch_tick`](crate::EngineConfig::epoch_tick)); time the
/// guest spends suspended in an async host call (`request`) does not count.
/// The limit's resolution is one tick.
///
/// ```
/// use std::time::Duration;
/// use airssys_wasm::ComponentLimits;
///
/// let limits = ComponentLimits::default()
///     .max_memory_bytes(1 << 20)
///     .execution_timeout(Duration::from_millis(50));
/// assert_eq!(limits.max_memory_bytes, 1 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComponentLimits {
    /// The memory cap in bytes.
    pub max_memory_bytes: usize,
    /// The per-call execution time limit.
    pub execution_timeout: Duration,
    /// The per-call fuel, if metered.
    pub fuel_per_call: Option<u64>,
    /// The payload size limit, in bytes.
    pub max_message_bytes: usize,
    /// The longest `request` wait.
    pub max_request_timeout: Duration,
}

impl Default for ComponentLimits {
    fn default() -> Self {
        ComponentLimits {
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            execution_timeout: DEFAULT_EXECUTION_TIMEOUT,
            fuel_per_call: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_request_timeout: DEFAULT_MAX_REQUEST_TIMEOUT,
        }
    }
}

impl ComponentLimits {
    /// Caps the instance's linear memory (default 16 MiB). The effective cap
    /// is also bounded by the engine's per-component pool slot size.
    #[must_use]
    pub fn max_memory_bytes(mut self, bytes: usize) -> Self {
        self.max_memory_bytes = bytes;
        self
    }

    /// Execution time allowed per guest call (default 1 s).
    #[must_use]
    pub fn execution_timeout(mut self, timeout: Duration) -> Self {
        self.execution_timeout = timeout;
        self
    }

    /// Fuel given to each guest call (default none = unmetered).
    #[must_use]
    pub fn fuel_per_call(mut self, fuel: Option<u64>) -> Self {
        self.fuel_per_call = fuel;
        self
    }

    /// Largest payload accepted or sent (default 1 MiB).
    #[must_use]
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Longest wait allowed in the `request` host call (default 5 s).
    #[must_use]
    pub fn max_request_timeout(mut self, timeout: Duration) -> Self {
        self.max_request_timeout = timeout;
        self
    }
}

/// The error a [`MemoryLimiter`] raises inside wasmtime; classified into
/// [`GuestError::MemoryLimitExceeded`](crate::GuestError::MemoryLimitExceeded).
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded by {component} (requested {desired} bytes)")]
pub(crate) struct MemoryLimitHit {
    pub(crate) component: ComponentId,
    pub(crate) limit: usize,
    pub(crate) desired: usize,
}

/// The store's `ResourceLimiter`: refuses growth past the cap by trapping
/// with [`MemoryLimitHit`] so the host sees a typed error, not a silent `-1`.
pub(crate) struct MemoryLimiter {
    pub(crate) component: ComponentId,
    pub(crate) limit: usize,
    /// Core instances the store may create: the engine's
    /// `max_core_instances_per_component`.
    pub(crate) instances: usize,
    /// Bytes of linear memory the store's memories hold now.
    pub(crate) in_use: usize,
    /// Where the component's memory in use and its peak are reported.
    pub(crate) stats: std::sync::Arc<crate::metrics::HostCallStats>,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let cap = maximum.map_or(self.limit, |m| m.min(self.limit));
        if desired > cap {
            return Err(wasmtime::Error::new(MemoryLimitHit {
                component: self.component.clone(),
                limit: cap,
                desired,
            }));
        }
        // Called for a memory's creation too (from 0): the sum is every
        // memory of this instance.
        self.in_use = self.in_use.saturating_add(desired.saturating_sub(current));
        self.stats.set_memory(self.in_use as u64);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|m| desired <= m))
    }

    /// One core instance for a core module; a component's modules plus
    /// the adapter, shim and fix-up instances `wit-component` generates,
    /// up to the engine's per-component limit (checked at load).
    fn instances(&self) -> usize {
        self.instances
    }
}
