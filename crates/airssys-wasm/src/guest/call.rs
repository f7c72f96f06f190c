//! The call core both guest forms share: the store, the limits a call runs
//! under, the per-call budget, and the failed flag that a trap, or a
//! future dropped mid-call, leaves set.
//!
//! A core module instance (`guest::core`) and a component instance
//! (`guest::component`) differ in how they find and type their exports and
//! how they pass a message; everything around the guest call itself is
//! [`CallCore`]'s: [`begin`](CallCore::begin) checks the instance is still
//! usable, renews the budget and marks it failed until
//! [`finish`](CallCore::finish); [`fail`](CallCore::fail) turns wasmtime's
//! error into a typed [`GuestError`] by the form's [`GuestStore::classify`].
//! Generic over the store's data, so the forms share it with no dynamic
//! dispatch and no allocation per call.

use std::sync::Arc;

use wasmtime::{PoolConcurrencyLimitError, Store, Trap, UpdateDeadline};

use crate::error::{GuestError, WasmError};
use crate::guest::message::GuestHealth;
use crate::guest::store::{PreparedStore, StoreData};
use crate::id::ComponentId;
use crate::metrics::HostCallStats;
use crate::runtime::engine::RuntimeSettings;
use crate::runtime::limits::{ComponentLimits, MemoryLimitHit};

/// What a guest form's store carries: the [`StoreData`] both forms share
/// (reached through `base`), and how the form classifies a failed call.
pub(crate) trait GuestStore: Send + Sized + 'static {
    /// The shared store data.
    fn base(&self) -> &StoreData;

    /// The shared store data, mutably.
    fn base_mut(&mut self) -> &mut StoreData;

    /// The typed error of a failed call into this form's guest; by
    /// default [`classify`].
    fn classify(
        component: &ComponentId,
        limits: &ComponentLimits,
        err: wasmtime::Error,
    ) -> GuestError {
        classify(component, limits, err)
    }
}

impl GuestStore for StoreData {
    fn base(&self) -> &StoreData {
        self
    }

    fn base_mut(&mut self) -> &mut StoreData {
        self
    }
}

/// Maps a wasmtime error from a guest call to a typed [`GuestError`]: the
/// memory cap, a stack overflow, the execution timeout, fuel, or a trap.
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
            limit: limits.execution_timeout,
        },
        Some(Trap::OutOfFuel) => GuestError::FuelExhausted {
            component,
            limit: limits.fuel_per_call.unwrap_or(u64::MAX),
        },
        _ => GuestError::Trap {
            component,
            message: format!("{err:?}"),
        },
    }
}

/// The error of a failed instantiation, of either form: a full pool is
/// [`WasmError::Capacity`], anything else the classified guest error.
fn instantiation_error(
    component: &ComponentId,
    limits: &ComponentLimits,
    err: wasmtime::Error,
) -> WasmError {
    if let Some(pool) = err.downcast_ref::<PoolConcurrencyLimitError>() {
        WasmError::Capacity {
            component: component.clone(),
            reason: pool.to_string(),
        }
    } else {
        WasmError::Guest(classify(component, limits, err))
    }
}

/// What every call of an instance needs, apart from the store: its
/// identity, limits and budget, and whether it failed. The same for both
/// forms, so [`GuestInstance`](crate::GuestInstance) reads it without
/// asking which form it holds.
#[derive(Debug)]
pub(crate) struct CallState {
    component: ComponentId,
    limits: ComponentLimits,
    /// Epoch ticks a call may run.
    timeout_ticks: u64,
    /// Whether the engine meters fuel.
    fuel: bool,
    failed: bool,
}

impl CallState {
    /// The component id.
    pub(crate) fn component(&self) -> &ComponentId {
        &self.component
    }

    /// The limits the instance runs under.
    pub(crate) fn limits(&self) -> &ComponentLimits {
        &self.limits
    }

    /// Whether a fatal error (or a cancelled call) made the instance unusable.
    pub(crate) fn is_failed(&self) -> bool {
        self.failed
    }

    /// [`GuestError::InstanceFailed`] if the instance failed before.
    pub(crate) fn alive(&self) -> Result<(), GuestError> {
        if self.failed {
            return Err(GuestError::InstanceFailed {
                component: self.component.clone(),
            });
        }
        Ok(())
    }

    /// The health of an instance whose guest exports no `health`:
    /// `Healthy`, unless it failed before.
    pub(crate) fn unchecked_health(&self) -> Result<GuestHealth, GuestError> {
        self.alive().map(|()| GuestHealth::Healthy)
    }

    /// An [`GuestError::AbiViolation`] of this component.
    pub(crate) fn abi(&self, reason: String) -> GuestError {
        GuestError::AbiViolation {
            component: self.component.clone(),
            reason,
        }
    }

    /// [`GuestError::ExportNotFound`] for `export`, called by name.
    pub(crate) fn export_not_found(&self, export: &str) -> GuestError {
        GuestError::ExportNotFound {
            component: self.component.clone(),
            export: export.to_string(),
        }
    }

    /// [`GuestError::ArityMismatch`] unless `export`, which takes
    /// `expected` arguments, was given as many.
    pub(crate) fn check_arity(
        &self,
        export: &str,
        expected: usize,
        got: usize,
    ) -> Result<(), GuestError> {
        if expected != got {
            return Err(GuestError::ArityMismatch {
                component: self.component.clone(),
                export: export.to_string(),
                expected,
                got,
            });
        }
        Ok(())
    }
}

/// An instance's store with its [`CallState`]: the shared half of both
/// guest forms' instances.
pub(crate) struct CallCore<T: 'static> {
    /// The wasmtime store: the guest's memory, globals and store data.
    pub(crate) store: Store<T>,
    state: CallState,
}

impl<T> std::fmt::Debug for CallCore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.state.fmt(f)
    }
}

impl<T: GuestStore> CallCore<T> {
    /// Makes the store of one instance on `engine` from `prepared` (which
    /// `wrap` turns into the form's store data) and arms it: the memory
    /// limiter, the epoch deadline, the fuel budget.
    pub(crate) fn new(
        engine: &wasmtime::Engine,
        prepared: PreparedStore,
        settings: &RuntimeSettings,
        wrap: impl FnOnce(StoreData) -> T,
    ) -> Self {
        let PreparedStore {
            data,
            limits,
            timeout_ticks,
        } = prepared;
        let component = data.component.clone();
        let mut store = Store::new(engine, wrap(data));
        arm(&mut store, settings, &limits);
        CallCore {
            store,
            state: CallState {
                component,
                limits,
                timeout_ticks,
                fuel: settings.fuel,
                failed: false,
            },
        }
    }

    /// The error of this store's failed instantiation: a full pool is
    /// [`WasmError::Capacity`], anything else the classified guest error.
    pub(crate) fn instantiation_error(&self, err: wasmtime::Error) -> WasmError {
        instantiation_error(&self.state.component, &self.state.limits, err)
    }

    /// The identity, limits and failed flag.
    pub(crate) fn state(&self) -> &CallState {
        &self.state
    }

    /// The component id.
    pub(crate) fn component(&self) -> &ComponentId {
        &self.state.component
    }

    /// The shared store data.
    pub(crate) fn data(&self) -> &StoreData {
        self.store.data().base()
    }

    /// The shared store data, mutably.
    pub(crate) fn data_mut(&mut self) -> &mut StoreData {
        self.store.data_mut().base_mut()
    }

    /// The host-call counters.
    pub(crate) fn stats(&self) -> &Arc<HostCallStats> {
        &self.data().stats
    }

    /// Readies the next guest call: [`GuestError::InstanceFailed`] if an
    /// earlier one failed; else renews the budget (epoch ticks, fuel) and
    /// marks the instance failed until [`finish`](Self::finish), so a
    /// trap, or a future dropped mid-call, leaves it failed.
    pub(crate) fn begin(&mut self) -> Result<(), GuestError> {
        self.state.alive()?;
        renew_budget(
            &mut self.store,
            self.state.timeout_ticks,
            self.state.fuel,
            &self.state.limits,
        );
        self.state.failed = true;
        Ok(())
    }

    /// The call begun by [`begin`](Self::begin) completed normally.
    pub(crate) fn finish(&mut self) {
        self.state.failed = false;
    }

    /// The typed error of a failed call (the form's classification).
    pub(crate) fn fail(&self, err: wasmtime::Error) -> GuestError {
        T::classify(&self.state.component, &self.state.limits, err)
    }

    /// An [`GuestError::AbiViolation`] of this component.
    pub(crate) fn abi(&self, reason: String) -> GuestError {
        self.state.abi(reason)
    }

    /// Adds the fuel the last call consumed of its budget to the
    /// component's counter (nothing on an engine without fuel).
    pub(crate) fn record_fuel(&self) {
        if let Some(units) = self.fuel_used() {
            self.stats().add_fuel(units);
        }
    }

    /// Fuel the last call consumed of its budget; `None` without fuel.
    fn fuel_used(&self) -> Option<u64> {
        if !self.state.fuel {
            return None;
        }
        let budget = self.state.limits.fuel_per_call.unwrap_or(u64::MAX);
        let left = self.store.get_fuel().ok()?;
        Some(budget.saturating_sub(left))
    }
}

/// Arms a new store: the memory limiter, the epoch deadline (a call runs
/// at most its budget of ticks, yielding at each) and the fuel budget.
fn arm<T: GuestStore>(store: &mut Store<T>, settings: &RuntimeSettings, limits: &ComponentLimits) {
    store.limiter(|d| &mut d.base_mut().limiter);
    store.epoch_deadline_callback(|mut ctx| {
        let data = ctx.data_mut().base_mut();
        if data.ticks_left == 0 {
            return Ok(UpdateDeadline::Interrupt);
        }
        data.ticks_left -= 1;
        Ok(UpdateDeadline::Yield(1))
    });
    store.set_epoch_deadline(1);
    if settings.fuel {
        // Cannot fail: fuel is enabled on this engine.
        let _ = store.set_fuel(limits.fuel_per_call.unwrap_or(u64::MAX));
    }
}

/// Gives the next guest call its full budget: `timeout_ticks` epoch ticks
/// and, on an engine with fuel, the per-call fuel of `limits`.
fn renew_budget<T: GuestStore>(
    store: &mut Store<T>,
    timeout_ticks: u64,
    fuel: bool,
    limits: &ComponentLimits,
) {
    store.data_mut().base_mut().ticks_left = timeout_ticks;
    store.set_epoch_deadline(1);
    if fuel {
        // Cannot fail: fuel is enabled on this engine.
        let _ = store.set_fuel(limits.fuel_per_call.unwrap_or(u64::MAX));
    }
}
