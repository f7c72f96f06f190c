//! What each wasmtime `Store` carries: the component's identity, its host
//! services and permissions, its limiter, and per-call state.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Memory;

use crate::error::WasmError;
use crate::guest::instance_config::{ConfigValues, InstanceConfig};
use crate::guest::monitors::MonitorTable;
use crate::guest::permissions::Permissions;
use crate::guest::services::HostServices;
use crate::id::ComponentId;
use crate::metrics::HostCallStats;
use crate::runtime::engine::RuntimeSettings;
use crate::runtime::limits::{ComponentLimits, MemoryLimiter};

/// The store data of a guest instance.
pub(crate) struct StoreData {
    pub(crate) component: ComponentId,
    pub(crate) host: Arc<dyn HostServices>,
    pub(crate) permissions: Arc<Permissions>,
    pub(crate) limiter: MemoryLimiter,
    /// The guest's exported memory, set right after instantiation.
    pub(crate) memory: Option<Memory>,
    /// Whether `reply` is accepted now (during `handle-message`/`health`).
    pub(crate) reply_open: bool,
    /// Whether an accepted reply's bytes are kept: not for a message
    /// nobody awaits an answer to (a send), where the copy would be
    /// dropped unread.
    pub(crate) reply_kept: bool,
    pub(crate) reply: Option<Vec<u8>>,
    /// Whether the message being handled may have been handled before
    /// (the `redelivered` import of the Component Model form; the core
    /// form reads it in the message header's flags).
    pub(crate) redelivered: bool,
    pub(crate) max_message_bytes: usize,
    pub(crate) max_request_timeout: Duration,
    pub(crate) stats: Arc<HostCallStats>,
    /// The component's configuration, read by the `config_get` import.
    pub(crate) config: Arc<ConfigValues>,
    /// Epoch ticks the current call may still run before it is interrupted.
    pub(crate) ticks_left: u64,
    pub(crate) clock_origin: tokio::time::Instant,
    /// The monitors this instance made (`monitor` import); dropped with
    /// the store, which removes them from their targets.
    pub(crate) monitors: MonitorTable,
    /// The span of the handling under way, parent of the spans of the
    /// host calls the guest makes during it. Kept in the store, not in
    /// the handler's future, which every idle component's task holds room
    /// for.
    pub(crate) handling: Option<crate::trace::ActiveSpan>,
}

impl StoreData {
    /// Opens the reply slot for a call that may reply.
    pub(crate) fn open_reply(&mut self) {
        self.open_reply_keeping(true);
    }

    /// Opens the reply slot; `keep` false for a call whose answer nobody
    /// awaits: `reply` is checked and answered as always, but its bytes
    /// are not copied, and [`take_reply`](Self::take_reply) gives `None`.
    pub(crate) fn open_reply_keeping(&mut self, keep: bool) {
        self.reply = None;
        self.reply_open = true;
        self.reply_kept = keep;
    }

    /// Closes the reply slot and takes what the guest replied, if anything.
    pub(crate) fn take_reply(&mut self) -> Option<Vec<u8>> {
        self.reply_open = false;
        self.reply.take().filter(|_| self.reply_kept)
    }
}

/// A new instance's store data, with the limits it runs under and its
/// per-call budget in epoch ticks. Shared by both guest forms.
pub(crate) struct PreparedStore {
    pub(crate) data: StoreData,
    pub(crate) limits: ComponentLimits,
    pub(crate) timeout_ticks: u64,
}

/// Builds the store data for one instance from its config.
///
/// # Errors
/// [`WasmError::InvalidConfig`] when the limits ask for fuel on an engine
/// built without it.
pub(crate) fn prepare(
    cfg: InstanceConfig,
    settings: &RuntimeSettings,
) -> Result<PreparedStore, WasmError> {
    let InstanceConfig {
        component,
        host,
        limits,
        permissions,
        stats,
        config,
        wasi: _,
    } = cfg;
    if limits.fuel_per_call.is_some() && !settings.fuel {
        return Err(WasmError::InvalidConfig {
            component,
            reason: "fuel_per_call is set but the engine was built without fuel".into(),
        });
    }
    let tick = settings.epoch_tick.as_nanos().max(1);
    let timeout_ticks = u64::try_from(limits.execution_timeout.as_nanos().div_ceil(tick))
        .unwrap_or(u64::MAX)
        .max(1);
    let stats = stats.unwrap_or_default();
    let data = StoreData {
        component: component.clone(),
        host,
        permissions,
        limiter: MemoryLimiter {
            component,
            limit: limits
                .max_memory_bytes
                .min(settings.max_memory_per_component),
            instances: settings.pool.core_instances as usize,
            in_use: 0,
            stats: Arc::clone(&stats),
        },
        memory: None,
        reply_open: false,
        reply_kept: true,
        redelivered: false,
        reply: None,
        max_message_bytes: limits.max_message_bytes,
        max_request_timeout: limits.max_request_timeout,
        stats,
        config,
        ticks_left: timeout_ticks,
        clock_origin: settings.clock_origin,
        monitors: MonitorTable::default(),
        handling: None,
    };
    Ok(PreparedStore {
        data,
        limits,
        timeout_ticks,
    })
}
