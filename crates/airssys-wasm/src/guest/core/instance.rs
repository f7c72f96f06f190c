//! A live core module instance: its calls following the core ABI
//! (`docs/core-abi.md`) — lifecycle hooks, messages through the buffer it
//! allocates, state hand-over, exports called by name.

use bytes::Bytes;
use wasmtime::{Instance, Memory, TypedFunc, Val};

use crate::error::{GuestError, WasmType};
use crate::guest::call::CallCore;
use crate::guest::core::abi;
use crate::guest::core::exports::{HookFn, RareExport};
use crate::guest::message::{GuestHealth, GuestMessage};
use crate::guest::store::StoreData;
use crate::guest::value::WasmValue;

/// A live core-module instance: its own store, memory and cached typed
/// exports.
pub struct CoreInstance {
    pub(crate) call: CallCore<StoreData>,
    pub(crate) instance: Instance,
    pub(crate) memory: Memory,
    pub(crate) alloc: TypedFunc<i32, i32>,
    pub(crate) handle: TypedFunc<(i32, i32), i32>,
    pub(crate) init: Option<HookFn>,
    pub(crate) cleanup: Option<HookFn>,
    pub(crate) health: Option<RareExport<(), i32>>,
    pub(crate) dealloc: Option<RareExport<(i32, i32), ()>>,
    pub(crate) snapshot: Option<RareExport<(), i32>>,
    pub(crate) restore: Option<RareExport<(i32, i32), i32>>,
    /// The message buffer obtained from `alloc`: (ptr, capacity).
    pub(crate) buffer: Option<(u32, u32)>,
}

impl std::fmt::Debug for CoreInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (snapshot, restore) = self.state_exports();
        f.debug_struct("CoreInstance")
            .field("call", &self.call)
            .field("buffer", &self.buffer)
            .field("health", &self.health.is_some())
            .field("snapshot", &snapshot)
            .field("restore", &restore)
            .finish_non_exhaustive()
    }
}

impl CoreInstance {
    async fn run_hook(&mut self, hook: HookFn) -> Result<i32, GuestError> {
        self.call.begin()?;
        let code = match hook {
            HookFn::Unit(f) => match f.typed(&self.call.store) {
                Ok(f) => f.call_async(&mut self.call.store, ()).await.map(|()| 0),
                Err(e) => Err(e),
            },
            HookFn::Code(f) => match f.typed(&self.call.store) {
                Ok(f) => f.call_async(&mut self.call.store, ()).await,
                Err(e) => Err(e),
            },
        }
        .map_err(|e| self.call.fail(e))?;
        self.call.finish();
        Ok(code)
    }

    pub(crate) async fn init(&mut self) -> Result<(), GuestError> {
        let Some(init) = self.init else {
            return Ok(());
        };
        match self.run_hook(init).await? {
            0 => Ok(()),
            code => Err(GuestError::InitFailed {
                component: self.call.component().clone(),
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
        let snapshot = snapshot
            .typed(&self.call.store)
            .map_err(|e| self.call.fail(e))?;
        self.call.begin()?;
        self.call.data_mut().open_reply();
        let code = snapshot
            .call_async(&mut self.call.store, ())
            .await
            .map_err(|e| self.call.fail(e))?;
        let state = self.call.data_mut().take_reply();
        self.call.finish();
        if code != 0 {
            return Err(GuestError::StateTransferFailed {
                component: self.call.component().clone(),
                export: abi::EXPORT_SNAPSHOT,
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
        let restore = restore
            .typed(&self.call.store)
            .map_err(|e| self.call.fail(e))?;
        let len = i32::try_from(state.len()).map_err(|_| {
            self.call
                .abi(format!("state of {} bytes is too large", state.len()))
        })?;
        self.call.begin()?;
        let ptr = self
            .alloc
            .call_async(&mut self.call.store, len.max(1))
            .await
            .map_err(|e| self.call.fail(e))? as u32;
        if ptr == 0 {
            return Err(self.call.abi(format!("alloc({len}) returned 0")));
        }
        let start = ptr as usize;
        let Some(dst) = self
            .memory
            .data_mut(&mut self.call.store)
            .get_mut(start..start + state.len())
        else {
            return Err(self.call.abi(format!(
                "alloc returned {ptr}, {len} bytes there are out of bounds"
            )));
        };
        dst.copy_from_slice(state);
        let code = restore
            .call_async(&mut self.call.store, (ptr as i32, len))
            .await
            .map_err(|e| self.call.fail(e))?;
        self.call.finish();
        if code != 0 {
            return Err(GuestError::StateTransferFailed {
                component: self.call.component().clone(),
                export: abi::EXPORT_RESTORE,
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
            .call_async(&mut self.call.store, total as i32)
            .await
            .map_err(|e| self.call.fail(e))? as u32;
        if ptr == 0 {
            return Err(self.call.abi(format!("alloc({total}) returned 0")));
        }
        if let (Some((old_ptr, old_cap)), Some(dealloc)) = (self.buffer, self.dealloc) {
            let dealloc = dealloc
                .typed(&self.call.store)
                .map_err(|e| self.call.fail(e))?;
            dealloc
                .call_async(&mut self.call.store, (old_ptr as i32, old_cap as i32))
                .await
                .map_err(|e| self.call.fail(e))?;
        }
        self.buffer = Some((ptr, total));
        Ok(ptr)
    }

    /// `keep_reply` false for a message nobody awaits an answer to: the
    /// guest's `reply` is answered as always, but not copied. The payload
    /// was checked against the component's limit by the caller
    /// ([`GuestInstance::handle`](crate::GuestInstance::handle)
    /// or the host's delivery); only what the ABI can address is checked
    /// here.
    pub(crate) async fn handle_message(
        &mut self,
        msg: &GuestMessage,
        keep_reply: bool,
    ) -> Result<Option<Bytes>, GuestError> {
        let total = abi::encoded_len(msg);
        if total > i32::MAX as usize {
            return Err(GuestError::MessageTooLarge {
                component: self.call.component().clone(),
                size: msg.payload.len(),
                limit: i32::MAX as usize - abi::HEADER_LEN,
            });
        }
        self.call.begin()?;
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
            .data_mut(&mut self.call.store)
            .get_mut(start..start + total)
        else {
            self.buffer = None;
            return Err(self.call.abi(format!(
                "alloc returned {ptr}, {total} bytes there are out of bounds"
            )));
        };
        abi::encode_message(dst, msg);
        self.call.data_mut().open_reply_keeping(keep_reply);
        let called = self
            .handle
            .call_async(&mut self.call.store, (ptr as i32, total as i32))
            .await;
        // Here, not in the caller after this future: kept inside it, the
        // fuel count adds nothing to the future every idle component's
        // task holds room for.
        self.call.record_fuel();
        let code = called.map_err(|e| self.call.fail(e))?;
        let reply = self.call.data_mut().take_reply();
        self.call.finish();
        if code != 0 {
            return Err(GuestError::HandlerFailed {
                component: self.call.component().clone(),
                code,
            });
        }
        Ok(reply.map(Bytes::from))
    }

    pub(crate) async fn invoke(
        &mut self,
        export: &str,
        args: &[WasmValue],
    ) -> Result<Vec<WasmValue>, GuestError> {
        self.call.state().alive()?;
        let func = self
            .instance
            .get_func(&mut self.call.store, export)
            .ok_or_else(|| self.call.state().export_not_found(export))?;
        let ty = func.ty(&self.call.store);
        self.call
            .state()
            .check_arity(export, ty.params().len(), args.len())?;
        for (index, (param, arg)) in ty.params().zip(args).enumerate() {
            let expected = abi::wasm_type(&param);
            if expected != arg.ty() {
                return Err(GuestError::TypeMismatch {
                    component: self.call.component().clone(),
                    export: export.to_string(),
                    index,
                    expected,
                    got: arg.ty(),
                });
            }
        }
        if let Some(bad) = ty.results().find(|r| abi::wasm_type(r) == WasmType::Other) {
            return Err(self.call.abi(format!(
                "`{export}` returns {bad}, which invoke does not support"
            )));
        }
        let params: Vec<Val> = args.iter().map(|a| a.to_val()).collect();
        let mut results = vec![Val::I32(0); ty.results().len()];
        self.call.begin()?;
        func.call_async(&mut self.call.store, &params, &mut results)
            .await
            .map_err(|e| self.call.fail(e))?;
        self.call.finish();
        Ok(results.iter().filter_map(WasmValue::from_val).collect())
    }

    /// The guest's health answer, or the error that failed the instance
    /// while answering (a `health` export that traps, or that never returns
    /// and is interrupted at the execution timeout like any other call), or
    /// [`GuestError::InstanceFailed`] if it had failed before.
    pub(crate) async fn checked_health(&mut self) -> Result<GuestHealth, GuestError> {
        let Some(health) = self.health else {
            return self.call.state().unchecked_health();
        };
        let health = health
            .typed(&self.call.store)
            .map_err(|e| self.call.fail(e))?;
        self.call.begin()?;
        self.call.data_mut().open_reply();
        let result = health.call_async(&mut self.call.store, ()).await;
        let reason = self.call.data_mut().take_reply();
        let status = result.map_err(|e| self.call.fail(e))?;
        self.call.finish();
        let reason = reason
            .map(|r| String::from_utf8_lossy(&r).into_owned())
            .unwrap_or_default();
        Ok(match status {
            abi::HEALTH_HEALTHY => GuestHealth::Healthy,
            abi::HEALTH_DEGRADED => GuestHealth::Degraded(reason),
            abi::HEALTH_UNHEALTHY => GuestHealth::Unhealthy(reason),
            other => GuestHealth::Unhealthy(format!("unknown health status {other}: {reason}")),
        })
    }
}
