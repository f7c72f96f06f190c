//! Export signatures of the `airssys:component` world, checked when a
//! component is loaded, so a component with a mistyped export is refused
//! with [`WasmError::InvalidExport`] naming the export, the signature the
//! world requires and the one found, before any instance exists.

use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::Component;
use wasmtime::Engine;

use crate::error::WasmError;
use crate::id::ComponentId;

/// Required: `handle-message`.
pub(crate) const EXPORT_HANDLE_MESSAGE: &str = "handle-message";
/// Optional: `init`.
pub(crate) const EXPORT_INIT: &str = "init";
/// Optional: `health`.
pub(crate) const EXPORT_HEALTH: &str = "health";
/// Optional: `cleanup`.
pub(crate) const EXPORT_CLEANUP: &str = "cleanup";

/// Each world export with its signature as [`render_func`] prints it.
const SIGNATURES: [(&str, &str); 4] = [
    (
        EXPORT_HANDLE_MESSAGE,
        "func(record { sender: option<string>, subject: option<string>, \
         correlation-id: option<u64>, payload: list<u8> }) -> \
         result<option<list<u8>>, record { code: s32, reason: string }>",
    ),
    (
        EXPORT_INIT,
        "func(list<tuple<string, string>>) -> result<_, string>",
    ),
    (
        EXPORT_HEALTH,
        "func() -> variant { healthy, degraded(string), unhealthy(string) }",
    ),
    (EXPORT_CLEANUP, "func()"),
];

/// Which optional exports a component has; `handle-message` is required.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WorldExports {
    pub(crate) init: bool,
    pub(crate) health: bool,
    pub(crate) cleanup: bool,
}

/// Checks the component's world-level exports against the
/// `airssys:component` world.
///
/// # Errors
/// [`WasmError::MissingExports`] without `handle-message`;
/// [`WasmError::InvalidExport`] for an export of the world with another
/// kind or signature.
pub(crate) fn check_exports(
    component: &ComponentId,
    engine: &Engine,
    compiled: &Component,
) -> Result<WorldExports, WasmError> {
    let ty = compiled.component_type();
    let mut found = WorldExports::default();
    let mut has_handler = false;
    for (name, expected) in SIGNATURES {
        let Some(export) = ty.get_export(engine, name) else {
            continue;
        };
        let actual = match &export.ty {
            ComponentItem::ComponentFunc(func) => render_func(func),
            other => item_kind(other).to_string(),
        };
        if actual != expected {
            return Err(WasmError::InvalidExport {
                component: component.clone(),
                export: name.to_string(),
                expected: expected.to_string(),
                found: actual,
            });
        }
        match name {
            EXPORT_HANDLE_MESSAGE => has_handler = true,
            EXPORT_INIT => found.init = true,
            EXPORT_HEALTH => found.health = true,
            _ => found.cleanup = true,
        }
    }
    if !has_handler {
        return Err(WasmError::MissingExports {
            component: component.clone(),
            missing: vec![EXPORT_HANDLE_MESSAGE.to_string()],
        });
    }
    Ok(found)
}

/// What kind of item an export is, for error messages.
pub fn item_kind(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "function",
        ComponentItem::CoreFunc(_) => "core function",
        ComponentItem::Module(_) => "core module",
        ComponentItem::Component(_) => "component",
        ComponentItem::ComponentInstance(_) => "instance",
        ComponentItem::Type(_) => "type",
        ComponentItem::Resource(_) => "resource",
    }
}

/// A function type in WIT-like text, parameter names left out:
/// `func(u32, string) -> list<u8>`.
pub fn render_func(func: &ComponentFunc) -> String {
    let params: Vec<String> = func.params().map(|(_, ty)| render_type(&ty)).collect();
    let mut text = format!("func({})", params.join(", "));
    let results: Vec<String> = func.results().map(|ty| render_type(&ty)).collect();
    if !results.is_empty() {
        text.push_str(" -> ");
        text.push_str(&results.join(", "));
    }
    text
}

/// A value type in WIT-like text, with records, variants, enums and flags
/// spelled out structurally (the component binary keeps no type names).
pub fn render_type(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(list) => format!("list<{}>", render_type(&list.ty())),
        Type::Map(_) => "map".into(),
        Type::FixedLengthList(_) => "fixed-length-list".into(),
        Type::Record(record) => {
            let fields: Vec<String> = record
                .fields()
                .map(|f| format!("{}: {}", f.name, render_type(&f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Tuple(tuple) => {
            let types: Vec<String> = tuple.types().map(|t| render_type(&t)).collect();
            format!("tuple<{}>", types.join(", "))
        }
        Type::Variant(variant) => {
            let cases: Vec<String> = variant
                .cases()
                .map(|c| match &c.ty {
                    Some(ty) => format!("{}({})", c.name, render_type(ty)),
                    None => c.name.to_string(),
                })
                .collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        Type::Option(option) => format!("option<{}>", render_type(&option.ty())),
        Type::Result(result) => match (result.ok(), result.err()) {
            (None, None) => "result".into(),
            (Some(ok), None) => format!("result<{}>", render_type(&ok)),
            (ok, Some(err)) => format!(
                "result<{}, {}>",
                ok.map_or_else(|| "_".to_string(), |t| render_type(&t)),
                render_type(&err)
            ),
        },
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        Type::Future(_) => "future".into(),
        Type::Stream(_) => "stream".into(),
        Type::ErrorContext => "error-context".into(),
    }
}
