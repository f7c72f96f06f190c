//! Component Model guests: components targeting the `airssys:component`
//! WIT world (`wit/airssys-component.wit`), instantiated and called under
//! the same limits, allow-lists and counters as core modules.

pub(crate) mod imports;
pub mod signature;
mod value;
pub mod wasi;

use std::sync::Arc;

use bytes::Bytes;
use wasmtime::component::{
    Component, ComponentExportIndex, ComponentType, Func, InstancePre, Lower, Val,
};
use wasmtime::{PoolConcurrencyLimitError, Store};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

use crate::error::{GuestError, WasmError};
use crate::guest::component::imports::bindings::airssys::component::types::{
    HandlerError, HealthStatus,
};
use crate::guest::component::signature::WorldExports;
use crate::guest::core::classify;
use crate::guest::store::{self, HostCallStats, StoreData};
use crate::guest::{GuestHealth, GuestMessage, InstanceConfig};
use crate::id::ComponentId;
use crate::runtime::engine::RuntimeSettings;
use crate::runtime::limits::{ComponentLimits, MemoryLimitHit};

/// What each component store carries: the state both guest forms share,
/// and the component's WASI context and resources.
pub(crate) struct ComponentData {
    pub(crate) base: StoreData,
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
}

impl WasiView for ComponentData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The `message` record of the world, lowered straight from the host's
/// [`GuestMessage`] without copying the payload into an owned buffer first.
#[derive(ComponentType, Lower)]
#[component(record)]
struct MessageRecord<'a> {
    sender: Option<&'a str>,
    subject: Option<&'a str>,
    #[component(name = "correlation-id")]
    correlation_id: Option<u64>,
    payload: &'a [u8],
}

type HandleResult = Result<Option<Vec<u8>>, HandlerError>;

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
        let component = prepared.data.component.clone();
        let limits = prepared.limits;
        let wasi = grants.build(&component, &prepared.data.stats)?;
        let mut store = Store::new(
            self.inner.pre.engine(),
            ComponentData {
                base: prepared.data,
                wasi,
                table: ResourceTable::new(),
            },
        );
        store::arm(&mut store, imports::base, settings, &limits);
        let instance = self
            .inner
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|err| {
                if let Some(pool) = err.downcast_ref::<PoolConcurrencyLimitError>() {
                    WasmError::Capacity {
                        component: component.clone(),
                        reason: pool.to_string(),
                    }
                } else {
                    WasmError::Guest(classify(&component, &limits, err))
                }
            })?;
        let mut func = |index: &ComponentExportIndex| {
            instance.get_func(&mut store, index).ok_or_else(|| {
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
            component,
            store,
            instance,
            handle,
            init,
            health,
            cleanup,
            failed: false,
            timeout_ticks: prepared.timeout_ticks,
            fuel: settings.fuel,
            limits,
        })
    }
}

/// The typed error of a failed call into a component: as for a core
/// module ([`classify`]: traps, timeouts, the memory cap), and besides, an
/// error that is neither a trap nor the memory cap is the canonical ABI
/// refusing what the guest did — its `cabi_realloc` returned a pointer out
/// of bounds or misaligned, or it wrote a result that does not lift (a bad
/// pointer, discriminant or UTF-8) — an [`GuestError::AbiViolation`].
fn classify_call(
    component: &ComponentId,
    limits: &ComponentLimits,
    err: wasmtime::Error,
) -> GuestError {
    if err.downcast_ref::<wasmtime::Trap>().is_some()
        || err.downcast_ref::<MemoryLimitHit>().is_some()
    {
        return classify(component, limits, err);
    }
    GuestError::AbiViolation {
        component: component.clone(),
        reason: format!("the canonical ABI refused what the guest did: {err:#}"),
    }
}

/// A live component instance: its own store and its world exports.
pub struct ComponentInstance {
    component: ComponentId,
    store: Store<ComponentData>,
    instance: wasmtime::component::Instance,
    handle: Func,
    init: Option<Func>,
    health: Option<Func>,
    cleanup: Option<Func>,
    failed: bool,
    timeout_ticks: u64,
    fuel: bool,
    limits: ComponentLimits,
}

impl std::fmt::Debug for ComponentInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentInstance")
            .field("component", &self.component)
            .field("failed", &self.failed)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl ComponentInstance {
    /// The component's `max_message_bytes`.
    pub(crate) fn max_message_bytes(&self) -> usize {
        self.limits.get_max_message_bytes()
    }

    pub(crate) fn component(&self) -> &ComponentId {
        &self.component
    }

    pub(crate) fn stats(&self) -> &Arc<HostCallStats> {
        &self.store.data().base.stats
    }

    pub(crate) fn store_data(&mut self) -> &mut StoreData {
        &mut self.store.data_mut().base
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.failed
    }

    /// Fuel the last call consumed of its budget; `None` without fuel.
    /// Adds the fuel the last call consumed to the component's counter
    /// (nothing on an engine without fuel).
    pub(crate) fn record_fuel(&self) {
        if let Some(units) = self.fuel_used() {
            self.stats().add_fuel(units);
        }
    }

    pub(crate) fn fuel_used(&self) -> Option<u64> {
        if !self.fuel {
            return None;
        }
        let budget = self.limits.get_fuel_per_call().unwrap_or(u64::MAX);
        let left = self.store.get_fuel().ok()?;
        Some(budget.saturating_sub(left))
    }

    pub(crate) fn limits(&self) -> &ComponentLimits {
        &self.limits
    }

    /// Resets the per-call budget and marks the instance failed until the
    /// call completes normally (as [`CoreInstance`](crate::guest::core::CoreInstance) does).
    fn begin_call(&mut self) -> Result<(), GuestError> {
        if self.failed {
            return Err(GuestError::InstanceFailed {
                component: self.component.clone(),
            });
        }
        store::renew_budget(
            &mut self.store,
            imports::base,
            self.timeout_ticks,
            self.fuel,
            &self.limits,
        );
        self.failed = true;
        Ok(())
    }

    fn fail(&self, err: wasmtime::Error) -> GuestError {
        classify_call(&self.component, &self.limits, err)
    }

    /// Calls `init(config)`; an `err` from the guest is
    /// [`GuestError::InitFailed`] (code 1) with its reason logged.
    pub(crate) async fn init(&mut self) -> Result<(), GuestError> {
        let Some(init) = self.init else {
            return Ok(());
        };
        let init = init
            .typed::<(&[(&str, &str)],), (Result<(), String>,)>(&self.store)
            .map_err(|e| self.fail(e))?;
        let config = Arc::clone(&self.store.data().base.config);
        let pairs: Vec<(&str, &str)> = config
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_ref()))
            .collect();
        self.begin_call()?;
        let (result,) = init
            .call_async(&mut self.store, (&pairs,))
            .await
            .map_err(|e| self.fail(e))?;
        self.failed = false;
        result.map_err(|reason| {
            tracing::warn!(component = %self.component, %reason, "init failed");
            GuestError::InitFailed {
                component: self.component.clone(),
                code: 1,
            }
        })
    }

    /// Calls `cleanup`, if exported.
    pub(crate) async fn cleanup(&mut self) -> Result<(), GuestError> {
        let Some(cleanup) = self.cleanup else {
            return Ok(());
        };
        let cleanup = cleanup
            .typed::<(), ()>(&self.store)
            .map_err(|e| self.fail(e))?;
        self.begin_call()?;
        cleanup
            .call_async(&mut self.store, ())
            .await
            .map_err(|e| self.fail(e))?;
        self.failed = false;
        Ok(())
    }

    /// Delivers one message to `handle-message`. The reply is what the guest
    /// returned, or else what it passed to `messaging.reply`; returning one
    /// after replying through the import is an error. The payload was
    /// checked against the component's limit by the caller
    /// ([`GuestInstance::handle`](super::GuestInstance::handle)
    /// or the host's delivery).
    pub(crate) async fn handle_message(
        &mut self,
        msg: &GuestMessage,
    ) -> Result<Option<Bytes>, GuestError> {
        let limit = self.limits.get_max_message_bytes();
        let handle = self
            .handle
            .typed::<(MessageRecord<'_>,), (HandleResult,)>(&self.store)
            .map_err(|e| self.fail(e))?;
        let record = MessageRecord {
            sender: msg.sender.as_ref().map(|s| s.as_str()),
            subject: msg.subject.as_deref(),
            correlation_id: msg.correlation_id,
            payload: &msg.payload,
        };
        self.begin_call()?;
        self.store.data_mut().base.open_reply();
        self.store.data_mut().base.redelivered = msg.redelivered;
        let result = handle.call_async(&mut self.store, (record,)).await;
        self.record_fuel();
        self.store.data_mut().base.redelivered = false;
        let replied = self.store.data_mut().base.take_reply();
        let (result,) = result.map_err(|e| self.fail(e))?;
        self.failed = false;
        match result {
            Ok(Some(reply)) => {
                if replied.is_some() {
                    return Err(GuestError::AbiViolation {
                        component: self.component.clone(),
                        reason: "handle-message both called `reply` and returned a reply".into(),
                    });
                }
                if reply.len() > limit {
                    return Err(GuestError::MessageTooLarge {
                        component: self.component.clone(),
                        size: reply.len(),
                        limit,
                    });
                }
                Ok(Some(Bytes::from(reply)))
            }
            Ok(None) => Ok(replied.map(Bytes::from)),
            Err(HandlerError { code, reason }) => {
                tracing::debug!(component = %self.component, code, %reason, "handle-message failed");
                Err(GuestError::HandlerFailed {
                    component: self.component.clone(),
                    code,
                })
            }
        }
    }

    /// Calls any exported function with dynamic values, checked against
    /// its WIT parameter types first.
    pub(crate) async fn invoke(
        &mut self,
        export: &str,
        args: &[Val],
    ) -> Result<Vec<Val>, GuestError> {
        if self.failed {
            return Err(GuestError::InstanceFailed {
                component: self.component.clone(),
            });
        }
        let Some(func) = self.instance.get_func(&mut self.store, export) else {
            return Err(GuestError::ExportNotFound {
                component: self.component.clone(),
                export: export.to_string(),
            });
        };
        let ty = func.ty(&self.store);
        if ty.params().len() != args.len() {
            return Err(GuestError::ArityMismatch {
                component: self.component.clone(),
                export: export.to_string(),
                expected: ty.params().len(),
                got: args.len(),
            });
        }
        for (index, ((_, param), arg)) in ty.params().zip(args).enumerate() {
            value::check(arg, &param).map_err(|reason| GuestError::ValueMismatch {
                component: self.component.clone(),
                export: export.to_string(),
                index,
                reason,
            })?;
        }
        let mut results = vec![Val::Bool(false); ty.results().len()];
        self.begin_call()?;
        func.call_async(&mut self.store, args, &mut results)
            .await
            .map_err(|e| self.fail(e))?;
        self.failed = false;
        Ok(results)
    }

    /// Asks `health`; `Healthy` when not exported.
    pub(crate) async fn health(&mut self) -> GuestHealth {
        match self.checked_health().await {
            Ok(health) => health,
            Err(e @ GuestError::InstanceFailed { .. }) => GuestHealth::Unhealthy(e.to_string()),
            Err(e) => GuestHealth::Unhealthy(format!("health check failed: {e}")),
        }
    }

    /// The guest's health answer, or the error that failed the instance.
    pub(crate) async fn checked_health(&mut self) -> Result<GuestHealth, GuestError> {
        let Some(health) = self.health else {
            return if self.failed {
                Err(GuestError::InstanceFailed {
                    component: self.component.clone(),
                })
            } else {
                Ok(GuestHealth::Healthy)
            };
        };
        let health = health
            .typed::<(), (HealthStatus,)>(&self.store)
            .map_err(|e| self.fail(e))?;
        self.begin_call()?;
        let (status,) = health
            .call_async(&mut self.store, ())
            .await
            .map_err(|e| self.fail(e))?;
        self.failed = false;
        Ok(match status {
            HealthStatus::Healthy => GuestHealth::Healthy,
            HealthStatus::Degraded(reason) => GuestHealth::Degraded(reason),
            HealthStatus::Unhealthy(reason) => GuestHealth::Unhealthy(reason),
        })
    }
}
