//! What a component's store carries, and how its failed calls are
//! classified.

use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

use crate::error::GuestError;
use crate::guest::call::{classify, GuestStore};
use crate::guest::store::StoreData;
use crate::id::ComponentId;
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

impl GuestStore for ComponentData {
    fn base(&self) -> &StoreData {
        &self.base
    }

    fn base_mut(&mut self) -> &mut StoreData {
        &mut self.base
    }

    fn classify(
        component: &ComponentId,
        limits: &ComponentLimits,
        err: wasmtime::Error,
    ) -> GuestError {
        classify_call(component, limits, err)
    }
}

/// The typed error of a failed call into a component: as for a core
/// module ([`classify`]: traps, timeouts, the memory cap), and besides, an
/// error that is neither a trap nor the memory cap is the canonical ABI
/// refusing what the guest did — its `cabi_realloc` returned a pointer out
/// of bounds or misaligned, or it wrote a result that does not lift (a bad
/// pointer, discriminant or UTF-8) — an [`GuestError::AbiViolation`].
pub(crate) fn classify_call(
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
