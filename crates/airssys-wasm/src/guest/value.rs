//! Values passed to and returned from an export called by name
//! ([`GuestInstance::invoke`](crate::GuestInstance::invoke) and
//! [`invoke_dynamic`](crate::GuestInstance::invoke_dynamic)).

use wasmtime::Val;

use crate::error::WasmType;

/// A dynamic Component Model value, for [`GuestInstance::invoke_dynamic`](crate::GuestInstance::invoke_dynamic)
/// (wasmtime's `component::Val`).
pub use wasmtime::component::Val as ComponentValue;

/// A core WebAssembly value for [`GuestInstance::invoke`](crate::GuestInstance::invoke).
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
