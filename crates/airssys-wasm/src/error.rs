//! Errors of the WebAssembly runtime layer.
//!
//! Two enums, one per area:
//!
//! - [`WasmError`]: loading, compiling, linking and instantiating a guest —
//!   everything that happens before the guest handles its first message.
//! - [`GuestError`]: calling into a running instance — a trap, a timeout, a
//!   memory cap, a handler that reports failure, a bad `invoke`.
//!
//! Every variant carries the [`ComponentId`] it concerns and the cause, so a
//! supervisor can log and decide without more context. wasmtime traps are
//! classified into specific variants ([`GuestError::ExecutionTimeout`],
//! [`GuestError::StackOverflow`], ...) rather than reported as strings.

use std::time::Duration;

use crate::id::ComponentId;

/// The type of a core WebAssembly value, as used by
/// [`GuestInstance::invoke`](crate::guest::GuestInstance::invoke).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WasmType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit float.
    F32,
    /// 64-bit float.
    F64,
    /// Any other type (v128, references): not supported by `invoke`.
    Other,
}

impl std::fmt::Display for WasmType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WasmType::I32 => "i32",
            WasmType::I64 => "i64",
            WasmType::F32 => "f32",
            WasmType::F64 => "f64",
            WasmType::Other => "unsupported type",
        })
    }
}

/// A per-component resource of the engine's instance pool, as named by
/// [`WasmError::PoolTooSmall`]; each has an
/// [`EngineConfig`](crate::EngineConfig) setting and a manifest `[host]` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PoolResource {
    /// Core module instances per component.
    CoreInstances,
    /// Linear memories the component's modules define.
    Memories,
    /// Tables the component's modules define.
    Tables,
    /// Initial size of one linear memory, in bytes (the pool's slot size).
    MemoryBytes,
    /// Initial size of one table, in elements.
    TableElements,
}

impl PoolResource {
    /// The [`EngineConfig`](crate::EngineConfig) method that raises it.
    pub fn api_setting(self) -> &'static str {
        match self {
            PoolResource::CoreInstances => "EngineConfig::max_core_instances_per_component",
            PoolResource::Memories => "EngineConfig::max_memories_per_component",
            PoolResource::Tables => "EngineConfig::max_tables_per_component",
            PoolResource::MemoryBytes => "EngineConfig::max_memory_per_component",
            PoolResource::TableElements => "EngineConfig::max_table_elements",
        }
    }

    /// The `airssys.toml` `[host]` key that raises it.
    pub fn manifest_key(self) -> &'static str {
        match self {
            PoolResource::CoreInstances => "max_core_instances_per_component",
            PoolResource::Memories => "max_memories_per_component",
            PoolResource::Tables => "max_tables_per_component",
            PoolResource::MemoryBytes => "max_memory_per_component",
            PoolResource::TableElements => "max_table_elements",
        }
    }

    /// A stable label: `core_instances`, `memories`, `tables`,
    /// `memory_bytes`, `table_elements`.
    pub fn label(self) -> &'static str {
        match self {
            PoolResource::CoreInstances => "core_instances",
            PoolResource::Memories => "memories",
            PoolResource::Tables => "tables",
            PoolResource::MemoryBytes => "memory_bytes",
            PoolResource::TableElements => "table_elements",
        }
    }
}

impl std::fmt::Display for PoolResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PoolResource::CoreInstances => "core instances per component",
            PoolResource::Memories => "linear memories per component",
            PoolResource::Tables => "tables per component",
            PoolResource::MemoryBytes => "bytes of initial linear memory",
            PoolResource::TableElements => "initial table elements",
        })
    }
}

/// Failure to load, compile, link or instantiate a guest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WasmError {
    /// The bytes are not a valid WebAssembly binary or WAT text (truncated,
    /// not wasm at all, or failing validation/compilation).
    #[error("component {component}: invalid binary: {reason}")]
    InvalidBinary {
        /// The component being loaded.
        component: ComponentId,
        /// What is wrong with the bytes.
        reason: String,
    },
    /// Required exports of the core ABI (or, for a component, of the
    /// `airssys:component` world) are absent.
    #[error("component {component}: missing required exports: {}", missing.join(", "))]
    MissingExports {
        /// The component being loaded.
        component: ComponentId,
        /// Every missing export, by name.
        missing: Vec<String>,
    },
    /// An ABI export exists with the wrong kind or signature.
    #[error("component {component}: export `{export}` has the wrong type: expected {expected}, found {found}")]
    InvalidExport {
        /// The component being loaded.
        component: ComponentId,
        /// The export name.
        export: String,
        /// The type the core ABI requires.
        expected: String,
        /// The type the module declares.
        found: String,
    },
    /// The module imports something the host does not provide (WASI, an
    /// unknown `airssys` function, a mismatched signature).
    #[error("component {component}: unresolved import: {reason}")]
    UnresolvedImport {
        /// The component being loaded.
        component: ComponentId,
        /// wasmtime's description of the import that failed to link.
        reason: String,
    },
    /// The pooling allocator has no free slot (instances, memories, tables or
    /// fiber stacks): the host is at its configured component capacity.
    /// Instantiation fails immediately; it never waits for a slot.
    #[error("component {component}: host at capacity: {reason}")]
    Capacity {
        /// The component being instantiated.
        component: ComponentId,
        /// Which pool is full and its size, from wasmtime.
        reason: String,
    },
    /// The guest is over one of the engine's compile limits
    /// ([`EngineConfig::max_module_bytes`](crate::EngineConfig::max_module_bytes),
    /// [`max_functions`](crate::EngineConfig::max_functions),
    /// [`max_function_body_bytes`](crate::EngineConfig::max_function_body_bytes)).
    /// Found by scanning section headers before compilation: nothing was
    /// compiled.
    #[error("component {component}: {limit} is {value}, over the limit of {max}; not compiled")]
    LimitExceeded {
        /// The component being loaded.
        component: ComponentId,
        /// Which limit: `"module size in bytes"`, `"function count"` or
        /// `"function body size in bytes"`.
        limit: &'static str,
        /// What the guest has (for the function count, at least this many:
        /// the scan stops at the first section over the limit).
        value: u64,
        /// The limit.
        max: u64,
    },
    /// The guest needs more of the instance pool than the engine holds per
    /// component: more core instances, memories or tables, or a memory or
    /// table larger at start than a pool slot. Read from the binary before
    /// compilation (see [`PoolNeeds`](crate::runtime::pool::PoolNeeds)):
    /// nothing was compiled. The message names the setting to raise.
    #[error(
        "component {component} needs {needed} {resource} but the pool allows {allowed}: \
         raise {} (manifest: [host] {})",
        resource.api_setting(),
        resource.manifest_key()
    )]
    PoolTooSmall {
        /// The component being loaded.
        component: ComponentId,
        /// What the pool has too little of.
        resource: PoolResource,
        /// What the guest needs.
        needed: u64,
        /// What the pool allows per component.
        allowed: u64,
    },
    /// The configuration is inconsistent (e.g. a fuel limit on an engine
    /// built without fuel).
    #[error("component {component}: invalid configuration: {reason}")]
    InvalidConfig {
        /// The component concerned.
        component: ComponentId,
        /// What is inconsistent.
        reason: String,
    },
    /// The guest failed while being instantiated (start function trap,
    /// initial memory above its cap, ...).
    #[error(transparent)]
    Guest(#[from] GuestError),
    /// The wasmtime engine could not be created.
    #[error("cannot create the wasmtime engine: {reason}")]
    Engine {
        /// wasmtime's error.
        reason: String,
    },
}

impl WasmError {
    /// The component this error concerns; `None` only for
    /// [`WasmError::Engine`], which concerns the whole engine.
    pub fn component(&self) -> Option<&ComponentId> {
        match self {
            WasmError::InvalidBinary { component, .. }
            | WasmError::MissingExports { component, .. }
            | WasmError::InvalidExport { component, .. }
            | WasmError::UnresolvedImport { component, .. }
            | WasmError::Capacity { component, .. }
            | WasmError::LimitExceeded { component, .. }
            | WasmError::PoolTooSmall { component, .. }
            | WasmError::InvalidConfig { component, .. } => Some(component),
            WasmError::Guest(e) => Some(e.component()),
            WasmError::Engine { .. } => None,
        }
    }
}

/// Failure of a call into a running guest instance.
///
/// After a trap-like variant ([`is_fatal`](GuestError::is_fatal)) the instance
/// is marked failed and refuses further calls with
/// [`GuestError::InstanceFailed`]: the supervisor restarts it with fresh state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GuestError {
    /// The guest trapped (unreachable, out-of-bounds access, division by
    /// zero, ...).
    #[error("component {component}: guest trapped: {message}")]
    Trap {
        /// The component that trapped.
        component: ComponentId,
        /// The trap, with its wasm backtrace when available.
        message: String,
    },
    /// The call ran longer than the component's execution time limit and was
    /// interrupted (epoch deadline).
    #[error("component {component}: execution timed out after {limit:?}")]
    ExecutionTimeout {
        /// The component interrupted.
        component: ComponentId,
        /// The limit that was hit.
        limit: Duration,
    },
    /// The guest tried to grow its memory past its cap.
    #[error("component {component}: memory limit of {limit} bytes exceeded")]
    MemoryLimitExceeded {
        /// The component.
        component: ComponentId,
        /// The cap in bytes.
        limit: usize,
    },
    /// The guest exhausted its wasm stack (deep recursion).
    #[error("component {component}: stack overflow")]
    StackOverflow {
        /// The component.
        component: ComponentId,
    },
    /// The guest used up its per-message fuel.
    #[error("component {component}: fuel of {limit} units exhausted")]
    FuelExhausted {
        /// The component.
        component: ComponentId,
        /// The fuel given to the call.
        limit: u64,
    },
    /// The payload is larger than the component accepts; the guest was not
    /// called.
    #[error("component {component}: message of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge {
        /// The component.
        component: ComponentId,
        /// The payload size.
        size: usize,
        /// The component's limit.
        limit: usize,
    },
    /// `handle-message` returned a non-zero code.
    #[error("component {component}: handler failed with code {code}")]
    HandlerFailed {
        /// The component.
        component: ComponentId,
        /// The guest's code.
        code: i32,
    },
    /// `init` returned a non-zero code.
    #[error("component {component}: init failed with code {code}")]
    InitFailed {
        /// The component.
        component: ComponentId,
        /// The guest's code.
        code: i32,
    },
    /// The live-upgrade state hand-over failed: `snapshot` (on the old
    /// version) or `restore` (on the new one) returned a non-zero code.
    #[error("component {component}: {export} failed with code {code}")]
    StateTransferFailed {
        /// The component.
        component: ComponentId,
        /// `snapshot` or `restore`.
        export: &'static str,
        /// The guest's code.
        code: i32,
    },
    /// `invoke` named an export that does not exist or is not a function.
    #[error("component {component}: no exported function `{export}`")]
    ExportNotFound {
        /// The component.
        component: ComponentId,
        /// The export asked for.
        export: String,
    },
    /// `invoke` passed the wrong number of arguments.
    #[error("component {component}: `{export}` takes {expected} arguments, got {got}")]
    ArityMismatch {
        /// The component.
        component: ComponentId,
        /// The export.
        export: String,
        /// Parameters the export declares.
        expected: usize,
        /// Arguments passed.
        got: usize,
    },
    /// `invoke` passed an argument of the wrong type.
    #[error("component {component}: `{export}` argument {index} must be {expected}, got {got}")]
    TypeMismatch {
        /// The component.
        component: ComponentId,
        /// The export.
        export: String,
        /// Zero-based argument position.
        index: usize,
        /// Declared type.
        expected: WasmType,
        /// Passed type.
        got: WasmType,
    },
    /// `invoke` on a component passed a value that is not of the
    /// parameter's WIT type; the guest was not called.
    #[error("component {component}: argument {index} of `{export}`: {reason}")]
    ValueMismatch {
        /// The component.
        component: ComponentId,
        /// The export.
        export: String,
        /// Zero-based argument position.
        index: usize,
        /// What does not match, e.g. `expected list<u8>, got string`.
        reason: String,
    },
    /// The guest broke the core ABI (alloc returned an out-of-bounds pointer,
    /// ...).
    #[error("component {component}: ABI violation: {reason}")]
    AbiViolation {
        /// The component.
        component: ComponentId,
        /// What the guest did wrong.
        reason: String,
    },
    /// The instance failed earlier (trap, timeout, cancelled call) and must
    /// be replaced; no call was made.
    #[error("component {component}: instance failed earlier and must be restarted")]
    InstanceFailed {
        /// The component.
        component: ComponentId,
    },
}

impl GuestError {
    /// The component this error concerns.
    pub fn component(&self) -> &ComponentId {
        match self {
            GuestError::Trap { component, .. }
            | GuestError::ExecutionTimeout { component, .. }
            | GuestError::MemoryLimitExceeded { component, .. }
            | GuestError::StackOverflow { component }
            | GuestError::FuelExhausted { component, .. }
            | GuestError::MessageTooLarge { component, .. }
            | GuestError::HandlerFailed { component, .. }
            | GuestError::InitFailed { component, .. }
            | GuestError::StateTransferFailed { component, .. }
            | GuestError::ExportNotFound { component, .. }
            | GuestError::ArityMismatch { component, .. }
            | GuestError::TypeMismatch { component, .. }
            | GuestError::ValueMismatch { component, .. }
            | GuestError::AbiViolation { component, .. }
            | GuestError::InstanceFailed { component } => component,
        }
    }

    /// Whether the instance is unusable after this error (the guest's state
    /// may be inconsistent): traps, timeouts, memory cap, stack overflow,
    /// fuel, ABI violations. Rejected or failed-but-returned calls
    /// (`MessageTooLarge`, `HandlerFailed`, `invoke` argument errors) are not
    /// fatal.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            GuestError::Trap { .. }
                | GuestError::ExecutionTimeout { .. }
                | GuestError::MemoryLimitExceeded { .. }
                | GuestError::StackOverflow { .. }
                | GuestError::FuelExhausted { .. }
                | GuestError::AbiViolation { .. }
                | GuestError::InstanceFailed { .. }
        )
    }
}
