//! What each wasmtime `Store` carries: the component's identity, its host
//! services and permissions, its limiter, and per-call state.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::Memory;

use crate::guest::host_imports::HostServices;
use crate::guest::permissions::Permissions;
use crate::id::ComponentId;
use crate::runtime::limits::MemoryLimiter;

/// Counters of one instance's host calls, readable by the host at any time.
#[derive(Debug, Default)]
pub struct HostCallStats {
    /// Host calls refused by the allow-lists (`send`, `request`, `publish`).
    pub denied: AtomicU64,
}

/// A component's configuration key-values, shared by all its instances.
pub type ConfigValues = std::collections::BTreeMap<String, Arc<str>>;

/// The empty config, one map shared by every component that has none.
pub(crate) fn no_config() -> Arc<ConfigValues> {
    static EMPTY: std::sync::LazyLock<Arc<ConfigValues>> = std::sync::LazyLock::new(Arc::default);
    Arc::clone(&EMPTY)
}

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
    pub(crate) reply: Option<Vec<u8>>,
    pub(crate) max_message_bytes: usize,
    pub(crate) max_request_timeout: Duration,
    pub(crate) stats: Arc<HostCallStats>,
    /// The component's configuration, read by the `config_get` import.
    pub(crate) config: Arc<ConfigValues>,
    /// Epoch ticks the current call may still run before it is interrupted.
    pub(crate) ticks_left: u64,
    pub(crate) clock_origin: tokio::time::Instant,
}

impl StoreData {
    /// Opens the reply slot for a call that may reply.
    pub(crate) fn open_reply(&mut self) {
        self.reply = None;
        self.reply_open = true;
    }

    /// Closes the reply slot and takes what the guest replied, if anything.
    pub(crate) fn take_reply(&mut self) -> Option<Vec<u8>> {
        self.reply_open = false;
        self.reply.take()
    }
}
