//! A compiled core module, and how it becomes an instance: a store armed
//! with the component's limits, the core ABI's exports fetched and typed.

use std::sync::Arc;

use wasmtime::{Func, InstancePre};

use crate::error::{GuestError, WasmError};
use crate::guest::call::CallCore;
use crate::guest::core::abi::{self, AbiExports, Hook};
use crate::guest::core::exports::{HookFn, RareExport};
use crate::guest::core::instance::CoreInstance;
use crate::guest::instance_config::InstanceConfig;
use crate::guest::store::{self, StoreData};
use crate::runtime::engine::RuntimeSettings;

/// A compiled and linked core module. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct CoreModule {
    inner: Arc<CoreModuleInner>,
}

struct CoreModuleInner {
    pre: InstancePre<StoreData>,
    exports: AbiExports,
    settings: RuntimeSettings,
}

impl std::fmt::Debug for CoreModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreModule")
            .field("exports", &self.inner.exports)
            .finish_non_exhaustive()
    }
}

impl CoreModule {
    /// `true` while a handle other than this one exists (a live component's
    /// template, a spawn in progress).
    pub(crate) fn is_shared(&self) -> bool {
        Arc::strong_count(&self.inner) > 1
    }

    pub(crate) fn new(
        pre: InstancePre<StoreData>,
        exports: AbiExports,
        settings: RuntimeSettings,
    ) -> Self {
        CoreModule {
            inner: Arc::new(CoreModuleInner {
                pre,
                exports,
                settings,
            }),
        }
    }

    /// Creates a store and instantiates the module in it. Does not run
    /// `init`.
    pub(crate) async fn instantiate(&self, cfg: InstanceConfig) -> Result<CoreInstance, WasmError> {
        let settings = &self.inner.settings;
        let prepared = store::prepare(cfg, settings)?;
        let mut call = CallCore::new(self.inner.pre.module().engine(), prepared, settings, |d| d);
        let instance = self
            .inner
            .pre
            .instantiate_async(&mut call.store)
            .await
            .map_err(|err| call.instantiation_error(err))?;
        let component = call.component().clone();
        let abi_violation = |what: &str| {
            WasmError::Guest(GuestError::AbiViolation {
                component: component.clone(),
                reason: format!("export `{what}` unavailable after instantiation"),
            })
        };
        let memory = instance
            .get_memory(&mut call.store, abi::EXPORT_MEMORY)
            .ok_or_else(|| abi_violation(abi::EXPORT_MEMORY))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut call.store, abi::EXPORT_ALLOC)
            .map_err(|_| abi_violation(abi::EXPORT_ALLOC))?;
        let handle = instance
            .get_typed_func::<(i32, i32), i32>(&mut call.store, abi::EXPORT_HANDLE_MESSAGE)
            .map_err(|_| abi_violation(abi::EXPORT_HANDLE_MESSAGE))?;
        let exports = &self.inner.exports;
        // An export the loader found is fetched and its signature checked
        // here; `None` when the guest does not export it.
        let mut rare = |name: &str, exported: bool| -> Result<Option<Func>, WasmError> {
            if !exported {
                return Ok(None);
            }
            instance
                .get_func(&mut call.store, name)
                .map(Some)
                .ok_or_else(|| abi_violation(name))
        };
        let hook = |func: Option<Func>, kind: Hook| {
            func.map(|func| match kind {
                Hook::Unit => HookFn::Unit(RareExport::new(func)),
                Hook::Code => HookFn::Code(RareExport::new(func)),
            })
        };
        let init = match exports.init {
            Some((name, kind)) => hook(rare(name, true)?, kind),
            None => None,
        };
        let cleanup = match exports.cleanup {
            Some(kind) => hook(rare(abi::EXPORT_CLEANUP, true)?, kind),
            None => None,
        };
        let health = rare(abi::EXPORT_HEALTH, exports.health)?.map(RareExport::new);
        let dealloc = rare(abi::EXPORT_DEALLOC, exports.dealloc)?.map(RareExport::new);
        let snapshot = rare(abi::EXPORT_SNAPSHOT, exports.snapshot)?.map(RareExport::new);
        let restore = rare(abi::EXPORT_RESTORE, exports.restore)?.map(RareExport::new);
        call.data_mut().memory = Some(memory);
        Ok(CoreInstance {
            call,
            instance,
            memory,
            alloc,
            handle,
            init,
            cleanup,
            health,
            dealloc,
            snapshot,
            restore,
            buffer: None,
        })
    }
}
