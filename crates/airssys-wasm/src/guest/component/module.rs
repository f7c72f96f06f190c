//! A compiled component linked against the world's imports, and how it
//! becomes an instance.

use std::sync::Arc;

use wasmtime::component::{Component, ComponentExportIndex, InstancePre};
use wasmtime_wasi::ResourceTable;

use crate::error::{GuestError, WasmError};
use crate::guest::call::CallCore;
use crate::guest::component::data::ComponentData;
use crate::guest::component::instance::ComponentInstance;
use crate::guest::component::signature::{self, WorldExports};
use crate::guest::instance_config::InstanceConfig;
use crate::guest::store;
use crate::id::ComponentId;
use crate::runtime::engine::RuntimeSettings;

/// A compiled component linked against the world's imports. Cheap to clone.
#[derive(Clone)]
pub struct ComponentModule {
    inner: Arc<ComponentModuleInner>,
}

struct ComponentModuleInner {
    pre: InstancePre<ComponentData>,
    handle: ComponentExportIndex,
    init: Option<ComponentExportIndex>,
    health: Option<ComponentExportIndex>,
    cleanup: Option<ComponentExportIndex>,
    settings: RuntimeSettings,
}

impl std::fmt::Debug for ComponentModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentModule")
            .field("init", &self.inner.init.is_some())
            .field("health", &self.inner.health.is_some())
            .field("cleanup", &self.inner.cleanup.is_some())
            .finish_non_exhaustive()
    }
}

impl ComponentModule {
    /// `true` while a handle other than this one exists (a live component's
    /// template, a spawn in progress).
    pub(crate) fn is_shared(&self) -> bool {
        Arc::strong_count(&self.inner) > 1
    }

    /// Wraps a linked component whose exports [`signature::check_exports`]
    /// accepted.
    pub(crate) fn new(
        component: &ComponentId,
        pre: InstancePre<ComponentData>,
        exports: WorldExports,
        settings: RuntimeSettings,
    ) -> Result<Self, WasmError> {
        let compiled = pre.component();
        let index = |name: &str, present: bool| {
            if present {
                compiled.get_export_index(None, name)
            } else {
                None
            }
        };
        let handle = index(signature::EXPORT_HANDLE_MESSAGE, true).ok_or_else(|| {
            WasmError::MissingExports {
                component: component.clone(),
                missing: vec![signature::EXPORT_HANDLE_MESSAGE.to_string()],
            }
        })?;
        let init = index(signature::EXPORT_INIT, exports.init);
        let health = index(signature::EXPORT_HEALTH, exports.health);
        let cleanup = index(signature::EXPORT_CLEANUP, exports.cleanup);
        Ok(ComponentModule {
            inner: Arc::new(ComponentModuleInner {
                pre,
                handle,
                init,
                health,
                cleanup,
                settings,
            }),
        })
    }

    /// The compiled component (for inspection and invoke).
    pub fn component(&self) -> &Component {
        self.inner.pre.component()
    }

    /// Creates a store and instantiates the component in it. Does not run
    /// `init`.
    pub(crate) async fn instantiate(
        &self,
        cfg: InstanceConfig,
    ) -> Result<ComponentInstance, WasmError> {
        let settings = &self.inner.settings;
        let grants = Arc::clone(&cfg.wasi);
        let prepared = store::prepare(cfg, settings)?;
        let wasi = grants.build(&prepared.data.component, &prepared.data.stats)?;
        let mut call = CallCore::new(self.inner.pre.engine(), prepared, settings, |base| {
            ComponentData {
                base,
                wasi,
                table: ResourceTable::new(),
            }
        });
        let pre = &self.inner.pre;
        let instance = match pre.instantiate_async(&mut call.store).await {
            Ok(instance) => instance,
            Err(err) => return Err(call.instantiation_error(err)),
        };
        let component = call.component().clone();
        let mut func = |index: &ComponentExportIndex| {
            instance.get_func(&mut call.store, index).ok_or_else(|| {
                WasmError::Guest(GuestError::AbiViolation {
                    component: component.clone(),
                    reason: "a checked export is unavailable after instantiation".into(),
                })
            })
        };
        let handle = func(&self.inner.handle)?;
        let init = self.inner.init.as_ref().map(&mut func).transpose()?;
        let health = self.inner.health.as_ref().map(&mut func).transpose()?;
        let cleanup = self.inner.cleanup.as_ref().map(&mut func).transpose()?;
        Ok(ComponentInstance {
            call,
            instance,
            handle,
            init,
            health,
            cleanup,
        })
    }
}
