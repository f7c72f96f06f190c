//! Core-module guests: instantiation and calls following the core ABI.

use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use wasmtime::{
    Func, Instance, InstancePre, Memory, PoolConcurrencyLimitError, Store, Trap, TypedFunc, Val,
    WasmParams, WasmResults,
};

use crate::error::{GuestError, WasmError, WasmType};
use crate::guest::core_abi::{self, AbiExports, Hook};
use crate::guest::store::{self, HostCallStats, StoreData};
use crate::guest::{GuestHealth, GuestMessage, InstanceConfig, WasmValue};
use crate::id::ComponentId;
use crate::runtime::engine::RuntimeSettings;
use crate::runtime::limits::{ComponentLimits, MemoryLimitHit};

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

/// Maps a wasmtime error from a guest call to a typed [`GuestError`].
pub(crate) fn classify(
    component: &ComponentId,
    limits: &ComponentLimits,
    err: wasmtime::Error,
) -> GuestError {
    if let Some(hit) = err.downcast_ref::<MemoryLimitHit>() {
        return GuestError::MemoryLimitExceeded {
            component: component.clone(),
            limit: hit.limit,
        };
    }
    let component = component.clone();
    match err.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => GuestError::StackOverflow { component },
        Some(Trap::Interrupt) => GuestError::ExecutionTimeout {
            component,
            limit: limits.get_execution_timeout(),
        },
        Some(Trap::OutOfFuel) => GuestError::FuelExhausted {
            component,
            limit: limits.get_fuel_per_call().unwrap_or(u64::MAX),
        },
        _ => GuestError::Trap {
            component,
            message: format!("{err:?}"),
        },
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
        let component = prepared.data.component.clone();
        let limits = prepared.limits;
        let timeout_ticks = prepared.timeout_ticks;
        let mut store = Store::new(self.inner.pre.module().engine(), prepared.data);
        store::arm(&mut store, |d| d, settings, &limits);

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

        let abi_violation = |what: &str| {
            WasmError::Guest(GuestError::AbiViolation {
                component: component.clone(),
                reason: format!("export `{what}` unavailable after instantiation"),
            })
        };
        let memory = instance
            .get_memory(&mut store, core_abi::EXPORT_MEMORY)
            .ok_or_else(|| abi_violation(core_abi::EXPORT_MEMORY))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, core_abi::EXPORT_ALLOC)
            .map_err(|_| abi_violation(core_abi::EXPORT_ALLOC))?;
        let handle = instance
            .get_typed_func::<(i32, i32), i32>(&mut store, core_abi::EXPORT_HANDLE_MESSAGE)
            .map_err(|_| abi_violation(core_abi::EXPORT_HANDLE_MESSAGE))?;
        let exports = &self.inner.exports;
        // An export the loader found is fetched and its signature checked
        // here; `None` when the guest does not export it.
        let mut rare = |name: &str, exported: bool| -> Result<Option<Func>, WasmError> {
            if !exported {
                return Ok(None);
            }
            instance
                .get_func(&mut store, name)
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
            Some(kind) => hook(rare(core_abi::EXPORT_CLEANUP, true)?, kind),
            None => None,
        };
        let health = rare(core_abi::EXPORT_HEALTH, exports.health)?.map(RareExport::new);
        let dealloc = rare(core_abi::EXPORT_DEALLOC, exports.dealloc)?.map(RareExport::new);
        let snapshot = rare(core_abi::EXPORT_SNAPSHOT, exports.snapshot)?.map(RareExport::new);
        let restore = rare(core_abi::EXPORT_RESTORE, exports.restore)?.map(RareExport::new);
        store.data_mut().memory = Some(memory);
        Ok(CoreInstance {
            component,
            store,
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
            failed: false,
            timeout_ticks,
            fuel: settings.fuel,
            limits,
        })
    }
}

#[derive(Clone, Copy)]
enum HookFn {
    Unit(RareExport<(), ()>),
    Code(RareExport<(), i32>),
}

/// An export called rarely (lifecycle hooks, health, state transfer,
/// `dealloc`), kept as an untyped [`Func`] and typed at each call: 16 bytes
/// in every live instance where a `TypedFunc` takes 64, which a host of a
/// million idle components pays a million times. Typing checks the
/// signature (tens of nanoseconds); the loader has checked it already
/// (`core_abi::AbiExports`), so a mismatch there is a broken invariant,
/// reported as the call's error.
struct RareExport<P, R> {
    func: Func,
    signature: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for RareExport<P, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P, R> Copy for RareExport<P, R> {}

impl<P: WasmParams, R: WasmResults> RareExport<P, R> {
    fn new(func: Func) -> Self {
        RareExport {
            func,
            signature: PhantomData,
        }
    }

    fn typed(self, store: &Store<StoreData>) -> wasmtime::Result<TypedFunc<P, R>> {
        self.func.typed(store)
    }
}

/// A live core-module instance: its own store, memory and cached typed
/// exports.
pub struct CoreInstance {
    component: ComponentId,
    store: Store<StoreData>,
    instance: Instance,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    handle: TypedFunc<(i32, i32), i32>,
    init: Option<HookFn>,
    cleanup: Option<HookFn>,
    health: Option<RareExport<(), i32>>,
    dealloc: Option<RareExport<(i32, i32), ()>>,
    snapshot: Option<RareExport<(), i32>>,
    restore: Option<RareExport<(i32, i32), i32>>,
    /// The message buffer obtained from `alloc`: (ptr, capacity).
    buffer: Option<(u32, u32)>,
    failed: bool,
    timeout_ticks: u64,
    fuel: bool,
    limits: ComponentLimits,
}

impl std::fmt::Debug for CoreInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreInstance")
            .field("component", &self.component)
            .field("failed", &self.failed)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl CoreInstance {
    pub(crate) fn component(&self) -> &ComponentId {
        &self.component
    }

    pub(crate) fn stats(&self) -> &Arc<HostCallStats> {
        &self.store.data().stats
    }

    pub(crate) fn store_data(&mut self) -> &mut StoreData {
        self.store.data_mut()
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

    /// Resets the per-call budget (epoch ticks, fuel) and marks the instance
    /// failed until the call completes normally: a trap, or a future dropped
    /// mid-call, leaves it failed.
    fn begin_call(&mut self) -> Result<(), GuestError> {
        if self.failed {
            return Err(GuestError::InstanceFailed {
                component: self.component.clone(),
            });
        }
        store::renew_budget(
            &mut self.store,
            |d| d,
            self.timeout_ticks,
            self.fuel,
            &self.limits,
        );
        self.failed = true;
        Ok(())
    }

    fn fail(&self, err: wasmtime::Error) -> GuestError {
        classify(&self.component, &self.limits, err)
    }

    async fn run_hook(&mut self, hook: HookFn) -> Result<i32, GuestError> {
        self.begin_call()?;
        let code = match hook {
            HookFn::Unit(f) => match f.typed(&self.store) {
                Ok(f) => f.call_async(&mut self.store, ()).await.map(|()| 0),
                Err(e) => Err(e),
            },
            HookFn::Code(f) => match f.typed(&self.store) {
                Ok(f) => f.call_async(&mut self.store, ()).await,
                Err(e) => Err(e),
            },
        }
        .map_err(|e| self.fail(e))?;
        self.failed = false;
        Ok(code)
    }

    pub(crate) async fn init(&mut self) -> Result<(), GuestError> {
        let Some(init) = self.init else {
            return Ok(());
        };
        match self.run_hook(init).await? {
            0 => Ok(()),
            code => Err(GuestError::InitFailed {
                component: self.component.clone(),
                code,
            }),
        }
    }

    pub(crate) async fn cleanup(&mut self) -> Result<(), GuestError> {
        match self.cleanup {
            Some(cleanup) => self.run_hook(cleanup).await.map(|_| ()),
            None => Ok(()),
        }
    }

    /// `true` if the guest exports `snapshot` and `restore` respectively.
    pub(crate) fn state_exports(&self) -> (bool, bool) {
        (self.snapshot.is_some(), self.restore.is_some())
    }

    /// Calls `snapshot`; the state is what the guest passed to `reply`
    /// (empty if it replied nothing). `None` if it does not export it.
    pub(crate) async fn snapshot(&mut self) -> Result<Option<Bytes>, GuestError> {
        let Some(snapshot) = self.snapshot else {
            return Ok(None);
        };
        let snapshot = snapshot.typed(&self.store).map_err(|e| self.fail(e))?;
        self.begin_call()?;
        self.store.data_mut().open_reply();
        let code = snapshot
            .call_async(&mut self.store, ())
            .await
            .map_err(|e| self.fail(e))?;
        let state = self.store.data_mut().take_reply();
        self.failed = false;
        if code != 0 {
            return Err(GuestError::StateTransferFailed {
                component: self.component.clone(),
                export: core_abi::EXPORT_SNAPSHOT,
                code,
            });
        }
        Ok(Some(state.map(Bytes::from).unwrap_or_default()))
    }

    /// Copies `state` into guest memory (a fresh `alloc`) and calls
    /// `restore(ptr, len)`. Does nothing if the guest does not export it.
    pub(crate) async fn restore(&mut self, state: &[u8]) -> Result<(), GuestError> {
        let Some(restore) = self.restore else {
            return Ok(());
        };
        let restore = restore.typed(&self.store).map_err(|e| self.fail(e))?;
        let len = i32::try_from(state.len())
            .map_err(|_| self.abi(format!("state of {} bytes is too large", state.len())))?;
        self.begin_call()?;
        let ptr = self
            .alloc
            .call_async(&mut self.store, len.max(1))
            .await
            .map_err(|e| self.fail(e))? as u32;
        if ptr == 0 {
            return Err(self.abi(format!("alloc({len}) returned 0")));
        }
        let start = ptr as usize;
        let Some(dst) = self
            .memory
            .data_mut(&mut self.store)
            .get_mut(start..start + state.len())
        else {
            return Err(self.abi(format!(
                "alloc returned {ptr}, {len} bytes there are out of bounds"
            )));
        };
        dst.copy_from_slice(state);
        let code = restore
            .call_async(&mut self.store, (ptr as i32, len))
            .await
            .map_err(|e| self.fail(e))?;
        self.failed = false;
        if code != 0 {
            return Err(GuestError::StateTransferFailed {
                component: self.component.clone(),
                export: core_abi::EXPORT_RESTORE,
                code,
            });
        }
        Ok(())
    }

    /// Asks the guest's `alloc` for a message buffer of `total` bytes,
    /// gives the old one back through `dealloc` when the guest exports it,
    /// and keeps the new one for the next messages.
    async fn grow_buffer(&mut self, total: u32) -> Result<u32, GuestError> {
        let ptr = self
            .alloc
            .call_async(&mut self.store, total as i32)
            .await
            .map_err(|e| self.fail(e))? as u32;
        if ptr == 0 {
            return Err(self.abi(format!("alloc({total}) returned 0")));
        }
        if let (Some((old_ptr, old_cap)), Some(dealloc)) = (self.buffer, self.dealloc) {
            let dealloc = dealloc.typed(&self.store).map_err(|e| self.fail(e))?;
            dealloc
                .call_async(&mut self.store, (old_ptr as i32, old_cap as i32))
                .await
                .map_err(|e| self.fail(e))?;
        }
        self.buffer = Some((ptr, total));
        Ok(ptr)
    }

    /// The component's `max_message_bytes`.
    pub(crate) fn max_message_bytes(&self) -> usize {
        self.limits.get_max_message_bytes()
    }

    /// `keep_reply` false for a message nobody awaits an answer to: the
    /// guest's `reply` is answered as always, but not copied. The payload
    /// was checked against the component's limit by the caller
    /// ([`GuestInstance::handle`](super::GuestInstance::handle)
    /// or the host's delivery); only what the ABI can address is checked
    /// here.
    pub(crate) async fn handle_message(
        &mut self,
        msg: &GuestMessage,
        keep_reply: bool,
    ) -> Result<Option<Bytes>, GuestError> {
        let total = core_abi::encoded_len(msg);
        if total > i32::MAX as usize {
            return Err(GuestError::MessageTooLarge {
                component: self.component.clone(),
                size: msg.payload.len(),
                limit: i32::MAX as usize - core_abi::HEADER_LEN,
            });
        }
        self.begin_call()?;
        // `total` fits in i32 (checked above), hence in u32.
        let total32 = total as u32;
        let ptr = match self.buffer {
            Some((ptr, cap)) if cap >= total32 => ptr,
            // Boxed: the first message and the rare larger one take this
            // path, and inline its two guest calls would make every idle
            // component's task hold room for them.
            _ => Box::pin(self.grow_buffer(total32)).await?,
        };
        let start = ptr as usize;
        let Some(dst) = self
            .memory
            .data_mut(&mut self.store)
            .get_mut(start..start + total)
        else {
            self.buffer = None;
            return Err(self.abi(format!(
                "alloc returned {ptr}, {total} bytes there are out of bounds"
            )));
        };
        core_abi::encode_message(dst, msg);
        self.store.data_mut().open_reply_keeping(keep_reply);
        let called = self
            .handle
            .call_async(&mut self.store, (ptr as i32, total as i32))
            .await;
        // Here, not in the caller after this future: kept inside it, the
        // fuel count adds nothing to the future every idle component's
        // task holds room for.
        self.record_fuel();
        let code = called.map_err(|e| self.fail(e))?;
        let reply = self.store.data_mut().take_reply();
        self.failed = false;
        if code != 0 {
            return Err(GuestError::HandlerFailed {
                component: self.component.clone(),
                code,
            });
        }
        Ok(reply.map(Bytes::from))
    }

    fn abi(&self, reason: String) -> GuestError {
        GuestError::AbiViolation {
            component: self.component.clone(),
            reason,
        }
    }

    pub(crate) async fn invoke(
        &mut self,
        export: &str,
        args: &[WasmValue],
    ) -> Result<Vec<WasmValue>, GuestError> {
        let not_found = || GuestError::ExportNotFound {
            component: self.component.clone(),
            export: export.to_string(),
        };
        if self.failed {
            return Err(GuestError::InstanceFailed {
                component: self.component.clone(),
            });
        }
        let func = self
            .instance
            .get_func(&mut self.store, export)
            .ok_or_else(not_found)?;
        let ty = func.ty(&self.store);
        if ty.params().len() != args.len() {
            return Err(GuestError::ArityMismatch {
                component: self.component.clone(),
                export: export.to_string(),
                expected: ty.params().len(),
                got: args.len(),
            });
        }
        for (index, (param, arg)) in ty.params().zip(args).enumerate() {
            let expected = core_abi::wasm_type(&param);
            if expected != arg.ty() {
                return Err(GuestError::TypeMismatch {
                    component: self.component.clone(),
                    export: export.to_string(),
                    index,
                    expected,
                    got: arg.ty(),
                });
            }
        }
        if let Some(bad) = ty
            .results()
            .find(|r| core_abi::wasm_type(r) == WasmType::Other)
        {
            return Err(self.abi(format!(
                "`{export}` returns {bad}, which invoke does not support"
            )));
        }
        let params: Vec<Val> = args.iter().map(|a| a.to_val()).collect();
        let mut results = vec![Val::I32(0); ty.results().len()];
        self.begin_call()?;
        func.call_async(&mut self.store, &params, &mut results)
            .await
            .map_err(|e| self.fail(e))?;
        self.failed = false;
        Ok(results.iter().filter_map(WasmValue::from_val).collect())
    }

    pub(crate) async fn health(&mut self) -> GuestHealth {
        match self.checked_health().await {
            Ok(health) => health,
            Err(e @ GuestError::InstanceFailed { .. }) => GuestHealth::Unhealthy(e.to_string()),
            Err(e) => GuestHealth::Unhealthy(format!("health check failed: {e}")),
        }
    }

    /// The guest's health answer, or the error that failed the instance
    /// while answering (a `health` export that traps, or that never returns
    /// and is interrupted at the execution timeout like any other call), or
    /// [`GuestError::InstanceFailed`] if it had failed before.
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
        let health = health.typed(&self.store).map_err(|e| self.fail(e))?;
        self.begin_call()?;
        self.store.data_mut().open_reply();
        let result = health.call_async(&mut self.store, ()).await;
        let reason = self.store.data_mut().take_reply();
        let status = result.map_err(|e| self.fail(e))?;
        self.failed = false;
        let reason = reason
            .map(|r| String::from_utf8_lossy(&r).into_owned())
            .unwrap_or_default();
        Ok(match status {
            core_abi::HEALTH_HEALTHY => GuestHealth::Healthy,
            core_abi::HEALTH_DEGRADED => GuestHealth::Degraded(reason),
            core_abi::HEALTH_UNHEALTHY => GuestHealth::Unhealthy(reason),
            other => GuestHealth::Unhealthy(format!("unknown health status {other}: {reason}")),
        })
    }
}
