//! Dynamic values for `invoke` on a component: checked against the
//! export's WIT types before the guest is called, so a bad argument is a
//! typed error and never a failed instance.

use wasmtime::component::types::Type;
use wasmtime::component::Val;

use crate::guest::component::signature::render_type;

/// Checks that `val` is a value of `ty`; the error says where it is not.
pub(crate) fn check(val: &Val, ty: &Type) -> Result<(), String> {
    let mismatch = || Err(format!("expected {}, got {}", render_type(ty), kind(val)));
    match (val, ty) {
        (Val::Bool(_), Type::Bool)
        | (Val::S8(_), Type::S8)
        | (Val::U8(_), Type::U8)
        | (Val::S16(_), Type::S16)
        | (Val::U16(_), Type::U16)
        | (Val::S32(_), Type::S32)
        | (Val::U32(_), Type::U32)
        | (Val::S64(_), Type::S64)
        | (Val::U64(_), Type::U64)
        | (Val::Float32(_), Type::Float32)
        | (Val::Float64(_), Type::Float64)
        | (Val::Char(_), Type::Char)
        | (Val::String(_), Type::String) => Ok(()),
        (Val::List(items), Type::List(list)) => {
            let item = list.ty();
            items.iter().try_for_each(|v| check(v, &item))
        }
        (Val::Record(fields), Type::Record(record)) => {
            let expected: Vec<_> = record.fields().collect();
            if fields.len() != expected.len() {
                return mismatch();
            }
            for ((name, v), field) in fields.iter().zip(expected) {
                if name != field.name {
                    return Err(format!("expected field `{}`, got `{name}`", field.name));
                }
                check(v, &field.ty).map_err(|e| format!("field `{name}`: {e}"))?;
            }
            Ok(())
        }
        (Val::Tuple(items), Type::Tuple(tuple)) => {
            if items.len() != tuple.types().len() {
                return mismatch();
            }
            items
                .iter()
                .zip(tuple.types())
                .try_for_each(|(v, t)| check(v, &t))
        }
        (Val::Variant(name, payload), Type::Variant(variant)) => {
            let Some(case) = variant.cases().find(|c| c.name == name) else {
                return Err(format!("no case `{name}` in {}", render_type(ty)));
            };
            match (payload, &case.ty) {
                (None, None) => Ok(()),
                (Some(v), Some(t)) => check(v, t),
                _ => Err(format!("case `{name}`: payload does not match")),
            }
        }
        (Val::Enum(name), Type::Enum(e)) if e.names().any(|n| n == name) => Ok(()),
        (Val::Flags(names), Type::Flags(f)) => {
            match names.iter().find(|n| !f.names().any(|m| m == *n)) {
                Some(unknown) => Err(format!("no flag `{unknown}` in {}", render_type(ty))),
                None => Ok(()),
            }
        }
        (Val::Option(inner), Type::Option(option)) => match inner {
            Some(v) => check(v, &option.ty()),
            None => Ok(()),
        },
        (Val::Result(result), Type::Result(expected)) => {
            let (payload, ty) = match result {
                Ok(v) => (v, expected.ok()),
                Err(v) => (v, expected.err()),
            };
            match (payload, ty) {
                (None, None) => Ok(()),
                (Some(v), Some(t)) => check(v, &t),
                _ => Err("result payload does not match".into()),
            }
        }
        _ => mismatch(),
    }
}

/// The kind of a value, for error messages.
fn kind(val: &Val) -> &'static str {
    match val {
        Val::Bool(_) => "bool",
        Val::S8(_) => "s8",
        Val::U8(_) => "u8",
        Val::S16(_) => "s16",
        Val::U16(_) => "u16",
        Val::S32(_) => "s32",
        Val::U32(_) => "u32",
        Val::S64(_) => "s64",
        Val::U64(_) => "u64",
        Val::Float32(_) => "f32",
        Val::Float64(_) => "f64",
        Val::Char(_) => "char",
        Val::String(_) => "string",
        Val::List(_) => "list",
        Val::Map(_) => "map",
        Val::Record(_) => "record",
        Val::Tuple(_) => "tuple",
        Val::Variant(..) => "variant",
        Val::Enum(_) => "enum",
        Val::Option(_) => "option",
        Val::Result(_) => "result",
        Val::Flags(_) => "flags",
        Val::Resource(_) => "resource",
        Val::Future(_) => "future",
        Val::Stream(_) => "stream",
        Val::ErrorContext(_) => "error-context",
        Val::FixedLengthList(_) => "fixed-length-list",
    }
}
