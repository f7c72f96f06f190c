//! Guests: the binary-form-agnostic interface the component actor uses.
//!
//! [`GuestModule`] (compiled, shared, from [`WasmEngine::load`](crate::WasmEngine::load))
//! and [`GuestInstance`] (one live instance, owned by one actor) are enums
//! over binary forms: a core module following the core ABI
//! (`docs/core-abi.md`), or a Component Model component targeting the
//! `airssys:component` WIT world (`wit/airssys-component.wit`). Both run in
//! the same actor, under the same limits, allow-lists and counters.

pub mod component;
pub mod core;
pub mod core_abi;
pub mod host_imports;
pub mod links;
pub mod loader;
pub mod monitors;
pub mod permissions;
pub(crate) mod store;
pub(crate) mod subscriptions;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use wasmtime::Val;

use crate::error::{GuestError, WasmError, WasmType};
use crate::guest::component::wasi::WasiGrants;
use crate::guest::host_imports::HostServices;
use crate::guest::permissions::Permissions;
use crate::id::ComponentId;
use crate::runtime::limits::ComponentLimits;

pub use self::store::{ConfigValues, HostCallStats};

/// A dynamic Component Model value, for [`GuestInstance::invoke_dynamic`]
/// (wasmtime's `component::Val`).
pub use wasmtime::component::Val as ComponentValue;

/// A compiled, linked guest, ready to instantiate many times. Cheap to clone.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum GuestModule {
    /// A core WebAssembly module following the core ABI.
    Core(core::CoreModule),
    /// A Component Model component targeting the `airssys:component` world.
    Component(component::ComponentModule),
}

impl GuestModule {
    /// Instantiates the guest in a fresh store (fresh memory and state).
    /// Does not run `init`: call [`GuestInstance::init`] next.
    ///
    /// Cost with the pooling allocator: a slot from the pool and a
    /// copy-on-write memory image — no compilation, no linking.
    ///
    /// # Errors
    /// [`WasmError::Capacity`] when the pool is full (immediately, never
    /// waits); [`WasmError::InvalidConfig`]; [`WasmError::Guest`] if
    /// instantiation itself fails in the guest (start function trap, initial
    /// memory over the cap).
    ///
    /// # Cancel safety
    /// Dropping the future drops the half-built instance and frees its slot.
    pub async fn instantiate(&self, config: InstanceConfig) -> Result<GuestInstance, WasmError> {
        match self {
            GuestModule::Core(m) => m.instantiate(config).await.map(GuestInstance::Core),
            GuestModule::Component(m) => m.instantiate(config).await.map(GuestInstance::Component),
        }
    }

    /// `true` while another handle to the same compiled guest exists; the
    /// module cache keeps such a guest whatever its capacity.
    pub(crate) fn is_shared(&self) -> bool {
        match self {
            GuestModule::Core(m) => m.is_shared(),
            GuestModule::Component(m) => m.is_shared(),
        }
    }
}

/// Per-instance settings: identity, host services, limits, permissions.
///
/// ```
/// use std::sync::Arc;
/// use airssys_wasm::{ComponentLimits, InstanceConfig, NoHostServices, Permissions};
///
/// let cfg = InstanceConfig::new("echo-1", Arc::new(NoHostServices))
///     .limits(ComponentLimits::default())
///     .permissions(Permissions::deny_all());
/// ```
#[derive(Clone)]
#[must_use]
pub struct InstanceConfig {
    pub(crate) component: ComponentId,
    pub(crate) host: Arc<dyn HostServices>,
    pub(crate) limits: ComponentLimits,
    pub(crate) permissions: Arc<Permissions>,
    pub(crate) stats: Option<Arc<HostCallStats>>,
    pub(crate) config: Arc<ConfigValues>,
    pub(crate) wasi: Arc<WasiGrants>,
}

impl std::fmt::Debug for InstanceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceConfig")
            .field("component", &self.component)
            .field("limits", &self.limits)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

impl InstanceConfig {
    /// Settings with default limits and no permissions.
    pub fn new(component: impl Into<ComponentId>, host: Arc<dyn HostServices>) -> Self {
        InstanceConfig {
            component: component.into(),
            host,
            limits: ComponentLimits::default(),
            permissions: Permissions::deny_all().to_shared(),
            stats: None,
            config: store::no_config(),
            wasi: WasiGrants::shared_none(),
        }
    }

    /// Sets the resource limits (default [`ComponentLimits::default`]).
    pub fn limits(mut self, limits: ComponentLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the allow-lists (default: deny all).
    pub fn permissions(mut self, permissions: impl Into<Arc<Permissions>>) -> Self {
        self.permissions = permissions.into();
        self
    }

    /// Shares `stats` with every instance made from this config, so host-call
    /// counters (e.g. denials) add up across a component's restarts.
    /// Default: each instance counts on its own.
    pub fn shared_stats(mut self, stats: Arc<HostCallStats>) -> Self {
        self.stats = Some(stats);
        self
    }

    /// The key-values the guest reads with the `config_get` import
    /// (default: none).
    pub fn config_values(mut self, config: Arc<ConfigValues>) -> Self {
        self.config = config;
        self
    }

    /// What a component (not a core module, which has no WASI) may reach
    /// through WASI preview 2 (default: nothing).
    pub fn wasi(mut self, grants: &WasiGrants) -> Self {
        self.wasi = grants.to_shared();
        self
    }

    /// Sets the component id.
    pub fn component(mut self, component: impl Into<ComponentId>) -> Self {
        self.component = component.into();
        self
    }
}

/// A message delivered to a guest's `handle-message`.
///
/// Building one costs no allocation beyond what the caller already holds
/// (ids are `Arc`s, the payload is `Bytes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestMessage {
    /// The sending component, if any.
    pub sender: Option<ComponentId>,
    /// The topic subject, for a published message.
    pub subject: Option<Arc<str>>,
    /// Set for a request that expects a reply.
    pub correlation_id: Option<u64>,
    /// The message may have reached the component before: a durable
    /// message delivered again after its host died or lost its lease
    /// before acknowledging it (at-least-once). The core ABI's flags bit 1.
    pub redelivered: bool,
    /// The payload bytes (optionally multicodec-prefixed, see [`codec`](crate::codec)).
    pub payload: Bytes,
    /// When it entered the mailbox, for the mailbox wait-time histogram
    /// (ignored by `==`).
    pub enqueued: crate::metrics::Enqueued,
    /// The trace context of the span that sent it (see
    /// [`trace`](crate::trace)); `None` when not traced.
    pub trace: Option<crate::trace::TraceContext>,
}

impl GuestMessage {
    /// A message with only a payload.
    pub fn new(payload: impl Into<Bytes>) -> Self {
        GuestMessage {
            payload: payload.into(),
            ..Default::default()
        }
    }

    /// Sets the sender.
    #[must_use]
    pub fn from(mut self, sender: impl Into<ComponentId>) -> Self {
        self.sender = Some(sender.into());
        self
    }

    /// Sets the subject.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<Arc<str>>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the correlation id.
    #[must_use]
    pub fn correlation_id(mut self, id: u64) -> Self {
        self.correlation_id = Some(id);
        self
    }
}

/// A guest's answer to a health check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuestHealth {
    /// Working normally (also when the guest exports no `health`).
    Healthy,
    /// Working with reduced service; the reason is the guest's.
    Degraded(String),
    /// Not working; the reason is the guest's, or the failure of the check.
    Unhealthy(String),
}

/// A core WebAssembly value for [`GuestInstance::invoke`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WasmValue {
    /// i32
    I32(i32),
    /// i64
    I64(i64),
    /// f32
    F32(f32),
    /// f64
    F64(f64),
}

impl WasmValue {
    /// Its type.
    pub fn ty(&self) -> WasmType {
        match self {
            WasmValue::I32(_) => WasmType::I32,
            WasmValue::I64(_) => WasmType::I64,
            WasmValue::F32(_) => WasmType::F32,
            WasmValue::F64(_) => WasmType::F64,
        }
    }

    pub(crate) fn to_val(self) -> Val {
        match self {
            WasmValue::I32(v) => Val::I32(v),
            WasmValue::I64(v) => Val::I64(v),
            WasmValue::F32(v) => Val::F32(v.to_bits()),
            WasmValue::F64(v) => Val::F64(v.to_bits()),
        }
    }

    /// The component value of the same number type (`i32` is `s32`).
    pub fn to_component(self) -> ComponentValue {
        match self {
            WasmValue::I32(v) => ComponentValue::S32(v),
            WasmValue::I64(v) => ComponentValue::S64(v),
            WasmValue::F32(v) => ComponentValue::Float32(v),
            WasmValue::F64(v) => ComponentValue::Float64(v),
        }
    }

    /// The core value for a numeric component value (`s32`/`u32` as
    /// `i32`, `s64`/`u64` as `i64`); `None` for any other type.
    pub fn from_component(v: &ComponentValue) -> Option<Self> {
        Some(match *v {
            ComponentValue::S32(v) => WasmValue::I32(v),
            ComponentValue::U32(v) => WasmValue::I32(v as i32),
            ComponentValue::S64(v) => WasmValue::I64(v),
            ComponentValue::U64(v) => WasmValue::I64(v as i64),
            ComponentValue::Float32(v) => WasmValue::F32(v),
            ComponentValue::Float64(v) => WasmValue::F64(v),
            _ => return None,
        })
    }

    pub(crate) fn from_val(v: &Val) -> Option<Self> {
        match v {
            Val::I32(v) => Some(WasmValue::I32(*v)),
            Val::I64(v) => Some(WasmValue::I64(*v)),
            Val::F32(v) => Some(WasmValue::F32(f32::from_bits(*v))),
            Val::F64(v) => Some(WasmValue::F64(f64::from_bits(*v))),
            _ => None,
        }
    }
}

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
    Core(core::CoreInstance),
    /// A component instance.
    Component(component::ComponentInstance),
}

impl GuestInstance {
    /// The component id.
    pub fn component(&self) -> &ComponentId {
        match self {
            GuestInstance::Core(i) => i.component(),
            GuestInstance::Component(i) => i.component(),
        }
    }

    /// The limits the instance runs under.
    pub fn limits(&self) -> &ComponentLimits {
        match self {
            GuestInstance::Core(i) => i.limits(),
            GuestInstance::Component(i) => i.limits(),
        }
    }

    /// Whether a fatal error (or a cancelled call) made the instance unusable.
    pub fn is_failed(&self) -> bool {
        match self {
            GuestInstance::Core(i) => i.is_failed(),
            GuestInstance::Component(i) => i.is_failed(),
        }
    }

    /// Host-call counters, shareable with a metrics reader.
    pub fn stats(&self) -> Arc<HostCallStats> {
        match self {
            GuestInstance::Core(i) => i.stats().clone(),
            GuestInstance::Component(i) => i.stats().clone(),
        }
    }

    /// Host calls refused by the allow-lists so far.
    pub fn denied_count(&self) -> u64 {
        match self {
            GuestInstance::Core(i) => i.stats().denied.load(Ordering::Relaxed),
            GuestInstance::Component(i) => i.stats().denied.load(Ordering::Relaxed),
        }
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

    fn store_data(&mut self) -> &mut store::StoreData {
        match self {
            GuestInstance::Core(i) => i.store_data(),
            GuestInstance::Component(i) => i.store_data(),
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
        let (component, limit) = match self {
            GuestInstance::Core(i) => (i.component(), i.max_message_bytes()),
            GuestInstance::Component(i) => (i.component(), i.max_message_bytes()),
        };
        let size = msg.payload.len();
        if size > limit {
            return Err(GuestError::MessageTooLarge {
                component: component.clone(),
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
                            component: i.component().clone(),
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
                            component: i.component().clone(),
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
        match self {
            GuestInstance::Core(i) => i.health().await,
            GuestInstance::Component(i) => i.health().await,
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
