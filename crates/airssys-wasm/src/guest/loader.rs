//! Turns bytes into a compiled, linked guest: detects the binary form,
//! accepts WAT text, validates against the ABI.

use std::borrow::Cow;

use wasmparser::{Parser, Payload, TypeRef};
use wasmtime::component::Component;
use wasmtime::{Engine, Linker, Module};

use crate::error::WasmError;
use crate::guest::component::data::ComponentData;
use crate::guest::component::{imports, signature, ComponentModule};
use crate::guest::core::{self, abi, CoreModule};
use crate::guest::module::GuestModule;
use crate::guest::store::StoreData;
use crate::id::ComponentId;
use crate::runtime::config::CompileLimits;
use crate::runtime::engine::{RuntimeSettings, WasmtimeEngine};
use crate::runtime::pool::PoolNeeds;

/// The binary form of a guest, detected from its preamble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BinaryForm {
    /// A core WebAssembly module (version 1).
    CoreModule,
    /// A Component Model component.
    Component,
}

/// Detects the binary form from the 8-byte preamble.
///
/// Returns `None` for anything that is not a wasm preamble (text, truncated,
/// unknown version).
pub fn detect_form(bytes: &[u8]) -> Option<BinaryForm> {
    if Parser::is_component(bytes) {
        Some(BinaryForm::Component)
    } else if Parser::is_core_wasm(bytes) {
        Some(BinaryForm::CoreModule)
    } else {
        None
    }
}

const PREAMBLE: &[u8; 4] = b"\0asm";

/// The host's imports for each binary form, built once per engine.
pub(crate) struct Linkers {
    core: Linker<StoreData>,
    component: wasmtime::component::Linker<ComponentData>,
}

impl Linkers {
    /// Defines every host import: module `airssys` for core modules, the
    /// `airssys:component` interfaces for components.
    pub(crate) fn new(engine: &Engine) -> wasmtime::Result<Self> {
        let core = core::imports::linker(engine)?;
        let mut component = wasmtime::component::Linker::new(engine);
        imports::add_to_linker(&mut component)?;
        Ok(Linkers { core, component })
    }
}

/// Compiles and links `bytes` (a binary of either form, or WAT text) on
/// `runtime`'s engine, after checking them against its compile budget and
/// pool: the one step from bytes to a [`GuestModule`], behind the module
/// cache.
pub(crate) fn compile(
    runtime: &WasmtimeEngine,
    linkers: &Linkers,
    component: &ComponentId,
    bytes: &[u8],
) -> Result<GuestModule, WasmError> {
    let engine = &runtime.engine;
    let settings = &runtime.store;
    let invalid = |reason: String| WasmError::InvalidBinary {
        component: component.clone(),
        reason,
    };
    let limits = &settings.compile_limits;
    if bytes.len() > limits.max_module_bytes {
        return Err(over(
            component,
            "module size in bytes",
            bytes.len(),
            limits.max_module_bytes,
        ));
    }
    let binary: Cow<'_, [u8]> = if bytes.starts_with(PREAMBLE) {
        Cow::Borrowed(bytes)
    } else if PREAMBLE.starts_with(bytes) {
        return Err(invalid(format!("truncated: {} bytes", bytes.len())));
    } else {
        match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Owned(wat::parse_str(text).map_err(|e| {
                invalid(format!(
                    "not a WebAssembly binary (no \\0asm preamble) and not valid WAT text: {e}"
                ))
            })?),
            Err(_) => {
                return Err(invalid(
                    "not a WebAssembly binary: no \\0asm preamble".to_string(),
                ))
            }
        }
    };
    if binary.len() < 8 {
        return Err(invalid(format!(
            "truncated: {} bytes, the preamble alone is 8",
            binary.len()
        )));
    }
    match detect_form(&binary) {
        Some(BinaryForm::CoreModule) => {}
        Some(BinaryForm::Component) => {
            check_compile_limits(component, &binary, limits)?;
            settings.pool.check(component, &PoolNeeds::of(&binary))?;
            return compile_component(engine, linkers, settings, component, &binary);
        }
        None => {
            return Err(invalid(format!(
                "unknown WebAssembly version/layer {:02x?}",
                &binary[4..8]
            )))
        }
    }
    check_compile_limits(component, &binary, limits)?;
    settings.pool.check(component, &PoolNeeds::of(&binary))?;
    let module = Module::new(engine, &binary).map_err(|e| invalid(format!("{e:#}")))?;
    let exports = abi::check_exports(component, &module)?;
    let pre = linkers
        .core
        .instantiate_pre(&module)
        .map_err(|e| WasmError::UnresolvedImport {
            component: component.clone(),
            reason: format!("{e:#}"),
        })?;
    Ok(GuestModule::Core(CoreModule::new(
        pre,
        exports,
        settings.clone(),
    )))
}

/// Compiles a component and links it against the `airssys:component`
/// world's imports, after checking its exports against the world.
fn compile_component(
    engine: &Engine,
    linkers: &Linkers,
    settings: &RuntimeSettings,
    component: &ComponentId,
    binary: &[u8],
) -> Result<GuestModule, WasmError> {
    let compiled = Component::new(engine, binary).map_err(|e| WasmError::InvalidBinary {
        component: component.clone(),
        reason: format!("{e:#}"),
    })?;
    let exports = signature::check_exports(component, engine, &compiled)?;
    let pre =
        linkers
            .component
            .instantiate_pre(&compiled)
            .map_err(|e| WasmError::UnresolvedImport {
                component: component.clone(),
                reason: format!("{e:#}"),
            })?;
    ComponentModule::new(component, pre, exports, settings.clone()).map(GuestModule::Component)
}

fn over(component: &ComponentId, limit: &'static str, value: usize, max: usize) -> WasmError {
    WasmError::LimitExceeded {
        component: component.clone(),
        limit,
        value: value as u64,
        max: max as u64,
    }
}

/// Refuses a module over the engine's compile budget (binary size, function
/// count, largest body) by walking its section headers, without validating or
/// compiling anything: O(sections + functions), no allocation per function.
/// Malformed sections are left for wasmtime's validation to report.
fn check_compile_limits(
    component: &ComponentId,
    binary: &[u8],
    limits: &CompileLimits,
) -> Result<(), WasmError> {
    if binary.len() > limits.max_module_bytes {
        return Err(over(
            component,
            "module size in bytes",
            binary.len(),
            limits.max_module_bytes,
        ));
    }
    let max_functions = limits.max_functions as usize;
    let mut functions = 0usize;
    for payload in Parser::new(0).parse_all(binary) {
        let Ok(payload) = payload else {
            return Ok(());
        };
        match payload {
            Payload::ImportSection(imports) => {
                for import in imports {
                    let Ok(import) = import else {
                        return Ok(());
                    };
                    if matches!(import.ty, TypeRef::Func(_)) {
                        functions += 1;
                    }
                }
            }
            Payload::FunctionSection(section) => {
                functions = functions.saturating_add(section.count() as usize);
            }
            Payload::CodeSectionEntry(body) => {
                let size = body.range().len();
                if size > limits.max_function_body_bytes {
                    return Err(over(
                        component,
                        "function body size in bytes",
                        size,
                        limits.max_function_body_bytes,
                    ));
                }
            }
            _ => {}
        }
        if functions > max_functions {
            return Err(over(component, "function count", functions, max_functions));
        }
    }
    Ok(())
}
