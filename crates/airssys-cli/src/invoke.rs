//! `airssys invoke`: one call of an exported function with typed arguments,
//! like `wasmtime run --invoke`.
//!
//! A component's functions take and print WIT values in WAVE syntax.
//!
//! A module that satisfies the core ABI runs as a component would (airssys
//! engine, limits, `init` first, host imports answering "unavailable"); any
//! other core module without imports runs on bare wasmtime.

use std::sync::Arc;

use airssys_wasm::guest::component::signature;
use airssys_wasm::{
    ComponentValue, EngineConfig, GuestError, GuestModule, InstanceConfig, NoHostServices,
    WasmEngine, WasmError, WasmValue,
};
use wasmtime::component::types::ComponentItem;
use wasmtime::{Engine, ExternType, Instance, Module, Store, Val, ValType};

use crate::inspect::{self, InspectError};

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// The file is not a guest.
    #[error(transparent)]
    NotWasm(#[from] InspectError),
    /// No export with that name.
    #[error("unknown export `{export}` (exported functions: {available})")]
    UnknownExport {
        /// The export asked for.
        export: String,
        /// The functions it does export, comma-separated.
        available: String,
    },
    /// The export is not a function.
    #[error("export `{export}` is a {kind}, not a function")]
    NotAFunction {
        /// The export.
        export: String,
        /// What it is.
        kind: &'static str,
    },
    /// Wrong number of arguments.
    #[error("export `{export}` takes {expected} argument(s) ({signature}), {given} given")]
    Arity {
        /// The export.
        export: String,
        /// Parameters it takes.
        expected: usize,
        /// Arguments given.
        given: usize,
        /// Its signature.
        signature: String,
    },
    /// An argument is not a number of the parameter's type.
    #[error("argument {position} of `{export}`: `{value}` is not a valid {ty}")]
    BadNumber {
        /// The export.
        export: String,
        /// 1-based position.
        position: usize,
        /// The text given.
        value: String,
        /// The parameter type.
        ty: &'static str,
    },
    /// An argument is not a WAVE value of the parameter's WIT type.
    #[error("argument {position} of `{export}`: `{value}` is not a valid {ty}: {reason}")]
    BadValue {
        /// The export.
        export: String,
        /// 1-based position.
        position: usize,
        /// The text given.
        value: String,
        /// The parameter's WIT type.
        ty: String,
        /// The parser's reason.
        reason: String,
    },
    /// A parameter or result type the command line cannot express.
    #[error(
        "export `{export}` uses type {ty}, which `invoke` cannot pass (only i32, i64, f32, f64)"
    )]
    UnsupportedType {
        /// The export.
        export: String,
        /// The type.
        ty: String,
    },
    /// The module does not follow the core ABI and has imports that only a
    /// host could provide.
    #[error("cannot instantiate: {0}")]
    Load(#[from] WasmError),
    /// The guest failed (trap, timeout, init error, ...).
    #[error("{0}")]
    Guest(#[from] GuestError),
    /// A bare-wasmtime instantiation or call failed.
    #[error("{0}")]
    Wasmtime(String),
}

impl InvokeError {
    /// Exit code: 2 for a bad command line (unknown export, arity, bad
    /// number), 1 for a failure of the module or the call.
    pub fn exit_code(&self) -> i32 {
        match self {
            InvokeError::UnknownExport { .. }
            | InvokeError::NotAFunction { .. }
            | InvokeError::Arity { .. }
            | InvokeError::BadNumber { .. }
            | InvokeError::BadValue { .. }
            | InvokeError::UnsupportedType { .. } => 2,
            _ => 1,
        }
    }
}

/// Parses one argument as a value of type `ty`: decimal or `0x` hex for
/// integers (i32 also accepts 0..=u32::MAX, i64 0..=u64::MAX, wrapping),
/// decimal, `inf`, `-inf`, `nan` for floats.
pub fn parse_arg(text: &str, ty: &ValType) -> Option<WasmValue> {
    fn int(text: &str) -> Option<i128> {
        let (neg, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let v = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            i128::from_str_radix(hex, 16).ok()?
        } else {
            body.parse::<i128>().ok()?
        };
        Some(if neg { -v } else { v })
    }
    match ty {
        ValType::I32 => {
            let v = int(text)?;
            if (i128::from(i32::MIN)..=i128::from(u32::MAX)).contains(&v) {
                Some(WasmValue::I32(v as u32 as i32))
            } else {
                None
            }
        }
        ValType::I64 => {
            let v = int(text)?;
            if (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&v) {
                Some(WasmValue::I64(v as u64 as i64))
            } else {
                None
            }
        }
        ValType::F32 => text.parse::<f32>().ok().map(WasmValue::F32),
        ValType::F64 => text.parse::<f64>().ok().map(WasmValue::F64),
        _ => None,
    }
}

fn type_name(ty: &ValType) -> &'static str {
    match ty {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        ValType::V128 => "v128",
        ValType::Ref(_) => "reference",
    }
}

/// Prints a result the way `wasmtime run --invoke` does: one per line.
pub fn format_value(v: &WasmValue) -> String {
    match v {
        WasmValue::I32(v) => v.to_string(),
        WasmValue::I64(v) => v.to_string(),
        WasmValue::F32(v) => v.to_string(),
        WasmValue::F64(v) => v.to_string(),
    }
}

/// Calls `export` of the guest in `bytes` (binary or WAT) with `args`
/// parsed by the export's signature.
///
/// # Errors
/// [`InvokeError`]; see [`InvokeError::exit_code`].
pub async fn invoke(
    bytes: &[u8],
    export: &str,
    args: &[String],
) -> Result<Vec<String>, InvokeError> {
    let binary = inspect::to_binary(bytes)?;
    let inspection = inspect::inspect(&binary)?;
    if inspection.form == inspect::Form::Component {
        return invoke_component(&binary, export, args).await;
    }
    // Type-check the call against the export's signature before running anything.
    let probe = Engine::default();
    let module =
        Module::new(&probe, &binary).map_err(|e| InvokeError::Wasmtime(format!("{e:#}")))?;
    let func = match module.get_export(export) {
        None => {
            let available: Vec<&str> = module
                .exports()
                .filter(|e| matches!(e.ty(), ExternType::Func(_)))
                .map(|e| e.name())
                .collect();
            return Err(InvokeError::UnknownExport {
                export: export.into(),
                available: if available.is_empty() {
                    "none".into()
                } else {
                    available.join(", ")
                },
            });
        }
        Some(ExternType::Func(f)) => f,
        Some(other) => {
            return Err(InvokeError::NotAFunction {
                export: export.into(),
                kind: match other {
                    ExternType::Memory(_) => "memory",
                    ExternType::Table(_) => "table",
                    ExternType::Global(_) => "global",
                    _ => "tag",
                },
            })
        }
    };
    let params: Vec<ValType> = func.params().collect();
    for ty in params
        .iter()
        .chain(func.results().collect::<Vec<_>>().iter())
    {
        if !matches!(
            ty,
            ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64
        ) {
            return Err(InvokeError::UnsupportedType {
                export: export.into(),
                ty: type_name(ty).into(),
            });
        }
    }
    if params.len() != args.len() {
        let sig = params.iter().map(type_name).collect::<Vec<_>>().join(", ");
        let res = func
            .results()
            .map(|t| type_name(&t))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(InvokeError::Arity {
            export: export.into(),
            expected: params.len(),
            given: args.len(),
            signature: format!("func ({sig}) -> ({res})"),
        });
    }
    let values = args
        .iter()
        .zip(&params)
        .enumerate()
        .map(|(i, (text, ty))| {
            parse_arg(text, ty).ok_or_else(|| InvokeError::BadNumber {
                export: export.into(),
                position: i + 1,
                value: text.clone(),
                ty: type_name(ty),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    if inspection.core_abi {
        let engine = WasmEngine::new(EngineConfig::default().max_components(1).pooling(false))?;
        let guest = engine.load(&"invoke".into(), &binary)?;
        let mut instance = guest
            .instantiate(InstanceConfig::new("invoke", Arc::new(NoHostServices)))
            .await?;
        instance.init().await?;
        let results = instance.invoke(export, &values).await?;
        Ok(results.iter().map(format_value).collect())
    } else {
        let results = bare_invoke(&probe, &module, export, &values)?;
        Ok(results.iter().map(format_value).collect())
    }
}

/// A component: arguments in WAVE syntax (`42`, `"text"`, `[1, 2]`,
/// `{a: 1}`, `some(3)`, `ok("x")`), parsed by the export's WIT parameter
/// types; results printed the same way. The component runs as the host
/// would run it (`init` first, host interfaces answering "unavailable").
async fn invoke_component(
    binary: &[u8],
    export: &str,
    args: &[String],
) -> Result<Vec<String>, InvokeError> {
    let engine = WasmEngine::new(EngineConfig::default().max_components(1).pooling(false))?;
    let guest = engine.load(&"invoke".into(), binary)?;
    let GuestModule::Component(module) = &guest else {
        return Err(InvokeError::Wasmtime("not a component".into()));
    };
    let component_type = module.component().component_type();
    let func = match component_type.get_export(engine.wasmtime(), export) {
        Some(item) => match item.ty {
            ComponentItem::ComponentFunc(func) => func,
            other => {
                return Err(InvokeError::NotAFunction {
                    export: export.into(),
                    kind: signature::item_kind(&other),
                })
            }
        },
        None => {
            let available: Vec<&str> = component_type
                .exports(engine.wasmtime())
                .filter(|(_, e)| matches!(e.ty, ComponentItem::ComponentFunc(_)))
                .map(|(name, _)| name)
                .collect();
            return Err(InvokeError::UnknownExport {
                export: export.into(),
                available: if available.is_empty() {
                    "none".into()
                } else {
                    available.join(", ")
                },
            });
        }
    };
    let params: Vec<_> = func.params().map(|(_, ty)| ty).collect();
    if params.len() != args.len() {
        return Err(InvokeError::Arity {
            export: export.into(),
            expected: params.len(),
            given: args.len(),
            signature: signature::render_func(&func),
        });
    }
    let values = args
        .iter()
        .zip(&params)
        .enumerate()
        .map(|(i, (text, ty))| {
            wasm_wave::from_str::<ComponentValue>(ty, text).map_err(|e| InvokeError::BadValue {
                export: export.into(),
                position: i + 1,
                value: text.clone(),
                ty: signature::render_type(ty),
                reason: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut instance = guest
        .instantiate(InstanceConfig::new("invoke", Arc::new(NoHostServices)))
        .await?;
    instance.init().await?;
    let results = instance.invoke_dynamic(export, &values).await?;
    results
        .iter()
        .map(|v| wasm_wave::to_string(v).map_err(|e| InvokeError::Wasmtime(e.to_string())))
        .collect()
}

/// A module outside the core ABI: plain wasmtime, no imports.
fn bare_invoke(
    engine: &Engine,
    module: &Module,
    export: &str,
    args: &[WasmValue],
) -> Result<Vec<WasmValue>, InvokeError> {
    if let Some(i) = module.imports().next() {
        return Err(InvokeError::Wasmtime(format!(
            "the module does not satisfy the core ABI and imports `{}`.`{}`, which only a host provides",
            i.module(),
            i.name()
        )));
    }
    let mut store = Store::new(engine, ());
    let wt = |e: wasmtime::Error| InvokeError::Wasmtime(format!("{e:#}"));
    let instance = Instance::new(&mut store, module, &[]).map_err(wt)?;
    let func = instance
        .get_func(&mut store, export)
        .ok_or_else(|| InvokeError::Wasmtime(format!("export `{export}` vanished")))?;
    let params: Vec<Val> = args
        .iter()
        .map(|a| match *a {
            WasmValue::I32(v) => Val::I32(v),
            WasmValue::I64(v) => Val::I64(v),
            WasmValue::F32(v) => Val::F32(v.to_bits()),
            WasmValue::F64(v) => Val::F64(v.to_bits()),
        })
        .collect();
    let mut results = vec![Val::I32(0); func.ty(&store).results().len()];
    func.call(&mut store, &params, &mut results).map_err(wt)?;
    Ok(results
        .iter()
        .filter_map(|v| match v {
            Val::I32(v) => Some(WasmValue::I32(*v)),
            Val::I64(v) => Some(WasmValue::I64(*v)),
            Val::F32(v) => Some(WasmValue::F32(f32::from_bits(*v))),
            Val::F64(v) => Some(WasmValue::F64(f64::from_bits(*v))),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_in_decimal_hex_and_unsigned_range() {
        assert_eq!(parse_arg("-5", &ValType::I32), Some(WasmValue::I32(-5)));
        assert_eq!(parse_arg("0x10", &ValType::I32), Some(WasmValue::I32(16)));
        assert_eq!(
            parse_arg("4294967295", &ValType::I32),
            Some(WasmValue::I32(-1))
        );
        assert_eq!(parse_arg("4294967296", &ValType::I32), None);
        assert_eq!(parse_arg("1.5", &ValType::I32), None);
        assert_eq!(parse_arg("1.5", &ValType::F64), Some(WasmValue::F64(1.5)));
        assert_eq!(parse_arg("x", &ValType::F32), None);
    }
}
