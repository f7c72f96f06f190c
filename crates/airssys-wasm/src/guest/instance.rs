//! [`GuestInstance`]: one live guest of either form. What both forms keep
//! alike (identity, limits, failed flag, counters, monitors, the span of
//! the handling under way) is read from their shared call core
//! (`guest::call`); only the calls that differ by form are matched on it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::GuestError;
use crate::guest::call::CallState;
use crate::guest::component::ComponentInstance;
use crate::guest::core::CoreInstance;
use crate::guest::message::{GuestHealth, GuestMessage};
use crate::guest::store::StoreData;
use crate::guest::value::{ComponentValue, WasmValue};
use crate::id::ComponentId;
use crate::metrics::HostCallStats;
use crate::runtime::limits::ComponentLimits;

/// One live guest instance, owned by one actor (`&mut` for every call).
///
/// Every call runs under the instance's [`ComponentLimits`]: execution time
/// (epoch), optional fuel, memory cap. A fatal error
/// ([`GuestError::is_fatal`]) marks the instance failed; later calls return
/// [`GuestError::InstanceFailed`] and the supervisor should restart it.
///
/// # Cancel safety
/// None of the async methods is cancel-safe: dropping the future mid-call
/// abandons the guest mid-execution and marks the instance failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum GuestInstance {
    /// A core module instance.
    Core(CoreInstance),
    /// A component instance.
    Component(ComponentInstance),
}

impl GuestInstance {
    /// The identity, limits and failed flag, kept alike by both forms.
    fn state(&self) -> &CallState {
        match self {
            GuestInstance::Core(i) => i.call.state(),
            GuestInstance::Component(i) => i.call.state(),
        }
    }

    /// The store data both forms share.
    fn base(&self) -> &StoreData {
        match self {
            GuestInstance::Core(i) => i.call.data(),
            GuestInstance::Component(i) => i.call.data(),
        }
    }

    /// The store data both forms share, mutably.
    fn store_data(&mut self) -> &mut StoreData {
        match self {
            GuestInstance::Core(i) => i.call.data_mut(),
            GuestInstance::Component(i) => i.call.data_mut(),
        }
    }

    /// The component id.
    pub fn component(&self) -> &ComponentId {
        self.state().component()
    }

    /// The limits the instance runs under.
    pub fn limits(&self) -> &ComponentLimits {
        self.state().limits()
    }

    /// Whether a fatal error (or a cancelled call) made the instance unusable.
    pub fn is_failed(&self) -> bool {
        self.state().is_failed()
    }

    /// Host-call counters, shareable with a metrics reader.
    pub fn stats(&self) -> Arc<HostCallStats> {
        Arc::clone(&self.base().stats)
    }

    /// Host calls refused by the allow-lists so far.
    pub fn denied_count(&self) -> u64 {
        self.base().stats.denied.load(Ordering::Relaxed)
    }

    /// A down notification for monitor `id` arrived: `true` if this
    /// instance still holds the monitor (it is forgotten now, and the down
    /// is for the guest), `false` if the guest demonitored it or an
    /// earlier instance made it (the down is dropped). O(1).
    pub(crate) fn accept_down(&mut self, id: u64) -> bool {
        self.store_data().monitors.accept_down(id)
    }

    /// Monitors the guest holds now (made with the `monitor` import, not
    /// fired, not demonitored).
    pub fn monitor_count(&mut self) -> usize {
        self.store_data().monitors.len()
    }

    /// Hands the monitors of `old` to this instance (a live upgrade: the
    /// component goes on, so do its monitors).
    pub(crate) fn adopt_monitors(&mut self, old: &mut GuestInstance) {
        let monitors = std::mem::take(&mut old.store_data().monitors);
        self.store_data().monitors = monitors;
    }

    /// Holds the span of the handling about to run (the parent of the
    /// spans of the host calls its guest makes), or, with `None`, ends
    /// the one held, marked failed with `failure` if given.
    pub(crate) fn hold_span(
        &mut self,
        span: Option<crate::trace::ActiveSpan>,
        failure: Option<&dyn std::fmt::Display>,
    ) {
        let held = std::mem::replace(&mut self.store_data().handling, span);
        if let (Some(mut ended), Some(why)) = (held, failure) {
            ended.fail(why);
        }
    }

    /// Runs the guest's `init` (or `_start`), if exported.
    ///
    /// # Errors
    /// [`GuestError::InitFailed`] with the guest's non-zero code, or the
    /// classified trap.
    pub async fn init(&mut self) -> Result<(), GuestError> {
        match self {
            GuestInstance::Core(i) => i.init().await,
            GuestInstance::Component(i) => i.init().await,
        }
    }

    /// Delivers one message to `handle-message`; returns the reply the guest
    /// gave through the `reply` import, if any.
    ///
    /// Cost: one guest call and one copy of the message into guest memory
    /// (plus one `alloc` call when the message is larger than any before);
    /// allocates only the reply.
    ///
    /// # Errors
    /// [`GuestError::MessageTooLarge`] (guest not called),
    /// [`GuestError::HandlerFailed`] (guest returned non-zero; reply
    /// discarded), or a classified trap: [`GuestError::Trap`],
    /// [`GuestError::ExecutionTimeout`], [`GuestError::MemoryLimitExceeded`],
    /// [`GuestError::StackOverflow`], [`GuestError::FuelExhausted`].
    pub async fn handle_message(
        &mut self,
        msg: &GuestMessage,
    ) -> Result<Option<Bytes>, GuestError> {
        self.handle(msg, true, false).await
    }

    /// As [`handle_message`](Self::handle_message), for a message nobody
    /// awaits an answer to (a send): a core guest's `reply` is answered as
    /// always, but its bytes are not copied; the result is `None`.
    ///
    /// # Errors
    /// As [`handle_message`](Self::handle_message).
    pub async fn handle_send(&mut self, msg: &GuestMessage) -> Result<(), GuestError> {
        self.handle(msg, false, false).await.map(|_| ())
    }

    /// Whether `msg`'s payload is within the component's
    /// `max_message_bytes`.
    ///
    /// # Errors
    /// [`GuestError::MessageTooLarge`] (the guest is not called).
    fn within_limit(&self, msg: &GuestMessage) -> Result<(), GuestError> {
        let state = self.state();
        let limit = state.limits().max_message_bytes;
        let size = msg.payload.len();
        if size > limit {
            return Err(GuestError::MessageTooLarge {
                component: state.component().clone(),
                size,
                limit,
            });
        }
        Ok(())
    }

    /// One delivery; the reply kept only if `keep_reply` (one future type
    /// for both, so a component's task holds room for one). The payload is
    /// checked against the component's `max_message_bytes` unless
    /// `checked`: the host checks a send or request once, before it is
    /// queued (`host::deliver`), and passes `true`; a message handed to
    /// an instance directly, or a topic message (which reaches many limits
    /// at once), is checked here.
    pub(crate) async fn handle(
        &mut self,
        msg: &GuestMessage,
        keep_reply: bool,
        checked: bool,
    ) -> Result<Option<Bytes>, GuestError> {
        if !checked {
            self.within_limit(msg)?;
        }
        // Each form counts its call's fuel itself: nothing of `self` is
        // used after the await, so this future holds the call's alone.
        match self {
            GuestInstance::Core(i) => i.handle_message(msg, keep_reply).await,
            // Boxed: the typed component call's future is larger than the
            // core path's, and this future sits in every idle component's
            // task, of either form. The component form's call lifts and
            // lowers a record, beside which one allocation is small.
            GuestInstance::Component(i) => Box::pin(i.handle_message(msg))
                .await
                .map(|reply| reply.filter(|_| keep_reply)),
        }
    }

    /// Calls an exported function with typed arguments.
    ///
    /// # Errors
    /// [`GuestError::ExportNotFound`], [`GuestError::ArityMismatch`],
    /// [`GuestError::TypeMismatch`] (each naming the export; the guest is not
    /// called), or a classified trap.
    pub async fn invoke(
        &mut self,
        export: &str,
        args: &[WasmValue],
    ) -> Result<Vec<WasmValue>, GuestError> {
        match self {
            GuestInstance::Core(i) => i.invoke(export, args).await,
            GuestInstance::Component(i) => {
                let args: Vec<ComponentValue> = args.iter().map(|a| a.to_component()).collect();
                let results = i.invoke(export, &args).await?;
                results
                    .iter()
                    .map(|v| {
                        WasmValue::from_component(v).ok_or_else(|| GuestError::AbiViolation {
                            component: i.call.component().clone(),
                            reason: format!(
                                "`{export}` returns a value that is not a number; \
                                 use invoke_dynamic"
                            ),
                        })
                    })
                    .collect()
            }
        }
    }

    /// Calls an exported function with dynamic values: WIT-typed for a
    /// component (checked against the export's parameter types before the
    /// guest runs); for a core module, the numeric values `s32`, `s64`,
    /// `f32`, `f64` stand for `i32`, `i64`, `f32`, `f64`.
    ///
    /// # Errors
    /// [`GuestError::ExportNotFound`], [`GuestError::ArityMismatch`],
    /// [`GuestError::ValueMismatch`] or [`GuestError::TypeMismatch`] (the
    /// guest is not called), or a classified trap.
    pub async fn invoke_dynamic(
        &mut self,
        export: &str,
        args: &[ComponentValue],
    ) -> Result<Vec<ComponentValue>, GuestError> {
        match self {
            GuestInstance::Core(i) => {
                let mut core_args = Vec::with_capacity(args.len());
                for (index, arg) in args.iter().enumerate() {
                    let value = WasmValue::from_component(arg).ok_or_else(|| {
                        GuestError::ValueMismatch {
                            component: i.call.component().clone(),
                            export: export.to_string(),
                            index,
                            reason: "a core module takes only s32, s64, f32 or f64".into(),
                        }
                    })?;
                    core_args.push(value);
                }
                let results = i.invoke(export, &core_args).await?;
                Ok(results.iter().map(|v| v.to_component()).collect())
            }
            GuestInstance::Component(i) => i.invoke(export, args).await,
        }
    }

    /// Asks the guest's `health` export. `Healthy` when not exported; a
    /// trapping check, or one that does not return within the execution
    /// timeout (it is interrupted like any guest call), gives `Unhealthy`
    /// with the error and fails the instance.
    pub async fn health(&mut self) -> GuestHealth {
        match self.checked_health().await {
            Ok(health) => health,
            Err(e @ GuestError::InstanceFailed { .. }) => GuestHealth::Unhealthy(e.to_string()),
            Err(e) => GuestHealth::Unhealthy(format!("health check failed: {e}")),
        }
    }

    /// Whether the guest exports `snapshot` and `restore` (the live-upgrade
    /// state hand-over pair, docs/core-abi.md).
    pub fn state_exports(&self) -> (bool, bool) {
        match self {
            GuestInstance::Core(i) => i.state_exports(),
            GuestInstance::Component(_) => (false, false),
        }
    }

    /// Calls the guest's `snapshot` export and returns the state it gave
    /// through `reply`; `None` when it does not export `snapshot`.
    ///
    /// # Errors
    /// [`GuestError::StateTransferFailed`] for a non-zero code, or the
    /// classified trap.
    pub async fn snapshot(&mut self) -> Result<Option<Bytes>, GuestError> {
        match self {
            GuestInstance::Core(i) => i.snapshot().await,
            GuestInstance::Component(_) => Ok(None),
        }
    }

    /// Hands `state` to the guest's `restore` export (no-op when it does not
    /// export it). Costs one `alloc` call and one copy.
    ///
    /// # Errors
    /// [`GuestError::StateTransferFailed`] for a non-zero code,
    /// [`GuestError::AbiViolation`] for a bad `alloc` result, or the
    /// classified trap.
    pub async fn restore(&mut self, state: &[u8]) -> Result<(), GuestError> {
        match self {
            GuestInstance::Core(i) => i.restore(state).await,
            GuestInstance::Component(_) => Ok(()),
        }
    }

    /// Like [`health`](Self::health), but a check that failed the instance
    /// (trapped, or ran past the execution timeout) is the error, so the
    /// caller can replace the instance at once instead of finding out on
    /// the next message.
    pub(crate) async fn checked_health(&mut self) -> Result<GuestHealth, GuestError> {
        match self {
            GuestInstance::Core(i) => i.checked_health().await,
            GuestInstance::Component(i) => i.checked_health().await,
        }
    }

    /// Runs the guest's `cleanup`, if exported. Callers bound it with a
    /// timeout of their own if they need one shorter than the execution
    /// limit.
    ///
    /// # Errors
    /// The classified trap, if `cleanup` traps.
    pub async fn cleanup(&mut self) -> Result<(), GuestError> {
        match self {
            GuestInstance::Core(i) => i.cleanup().await,
            GuestInstance::Component(i) => i.cleanup().await,
        }
    }
}
