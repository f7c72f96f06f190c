//! The core-module ABI: export names and signatures, the message layout in
//! guest memory, status codes. Specified for guest authors in
//! `docs/core-abi.md`; this module is its executable form.

use std::fmt;

use wasmtime::{ExternType, FuncType, Module, ValType};

use crate::error::WasmType::{I32, I64};
use crate::error::{WasmError, WasmType};
use crate::guest::message::GuestMessage;
use crate::id::ComponentId;

/// Required export: the guest's linear memory.
pub const EXPORT_MEMORY: &str = "memory";
/// Required export: `alloc(len: i32) -> i32`, returns a pointer to `len`
/// writable bytes (0 = failure).
pub const EXPORT_ALLOC: &str = "alloc";
/// Required export: `handle-message(ptr: i32, len: i32) -> i32`, 0 = ok.
pub const EXPORT_HANDLE_MESSAGE: &str = "handle-message";
/// Optional export: `init() -> i32` (0 = ok) or `init()`.
pub const EXPORT_INIT: &str = "init";
/// Optional export, used when `init` is absent: `_start()`.
pub const EXPORT_START: &str = "_start";
/// Optional export: `cleanup()` or `cleanup() -> i32` (result ignored).
pub const EXPORT_CLEANUP: &str = "cleanup";
/// Optional export: `health() -> i32` (see [`HEALTH_HEALTHY`] ...).
pub const EXPORT_HEALTH: &str = "health";
/// Optional export: `dealloc(ptr: i32, len: i32)`, called when the host
/// abandons a message buffer for a larger one.
pub const EXPORT_DEALLOC: &str = "dealloc";

/// Optional export: `snapshot() -> i32`, the live-upgrade state hand-over:
/// the guest passes its state to the host with `reply(ptr, len)` during the
/// call and returns 0 (anything else fails the upgrade).
pub const EXPORT_SNAPSHOT: &str = "snapshot";
/// Optional export: `restore(ptr: i32, len: i32) -> i32`, called on the new
/// version of a live upgrade (after `init`) with the bytes the old
/// version's `snapshot` gave; 0 = ok.
pub const EXPORT_RESTORE: &str = "restore";

/// Size of the fixed message header, in bytes.
pub const HEADER_LEN: usize = 24;
/// Header flag: the message carries a correlation id (a request).
pub const FLAG_CORRELATION: u32 = 1;
/// Header flag: the message may have been delivered before (a durable
/// message redelivered after its host died before acknowledging it).
pub const FLAG_REDELIVERED: u32 = 2;

/// `health` status: healthy.
pub const HEALTH_HEALTHY: i32 = 0;
/// `health` status: degraded (reason via `reply`).
pub const HEALTH_DEGRADED: i32 = 1;
/// `health` status: unhealthy (reason via `reply`).
pub const HEALTH_UNHEALTHY: i32 = 2;

/// The module guests import host functions from.
pub const IMPORT_MODULE: &str = "airssys";

/// A function signature of the core ABI, in wasm value types. Displays as
/// `func (i32, i32) -> (i32)`, the form `airssys inspect` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiSignature {
    /// Parameter types.
    pub params: &'static [WasmType],
    /// Result types.
    pub results: &'static [WasmType],
}

impl AbiSignature {
    const fn new(params: &'static [WasmType], results: &'static [WasmType]) -> Self {
        Self { params, results }
    }

    /// `true` if `ty` is a function of exactly this signature.
    pub fn matches(&self, ty: &FuncType) -> bool {
        let (params, results) = signature(ty);
        params == self.params && results == self.results
    }
}

impl fmt::Display for AbiSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |types: &[WasmType]| {
            types
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "func ({}) -> ({})",
            list(self.params),
            list(self.results)
        )
    }
}

const SIG_ALLOC: AbiSignature = AbiSignature::new(&[I32], &[I32]);
const SIG_HANDLE_MESSAGE: AbiSignature = AbiSignature::new(&[I32, I32], &[I32]);
const SIG_UNIT: AbiSignature = AbiSignature::new(&[], &[]);
const SIG_CODE: AbiSignature = AbiSignature::new(&[], &[I32]);
const SIG_DEALLOC: AbiSignature = AbiSignature::new(&[I32, I32], &[]);
const SIG_RESTORE: AbiSignature = AbiSignature::new(&[I32, I32], &[I32]);
const HOOK_SIGNATURES: &[AbiSignature] = &[SIG_UNIT, SIG_CODE];

/// What kind of export the core ABI expects under a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbiExportKind {
    /// A 32-bit linear memory.
    Memory,
    /// A function with one of these signatures.
    Func(&'static [AbiSignature]),
}

/// One export of the core ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiExport {
    /// The export name.
    pub name: &'static str,
    /// Whether a guest must export it.
    pub required: bool,
    /// What it must be.
    pub kind: AbiExportKind,
}

/// Every export of the core ABI, required ones first: the table the loader
/// checks modules against and `airssys inspect` reports from.
pub const EXPORTS: &[AbiExport] = &[
    AbiExport {
        name: EXPORT_MEMORY,
        required: true,
        kind: AbiExportKind::Memory,
    },
    AbiExport {
        name: EXPORT_ALLOC,
        required: true,
        kind: AbiExportKind::Func(&[SIG_ALLOC]),
    },
    AbiExport {
        name: EXPORT_HANDLE_MESSAGE,
        required: true,
        kind: AbiExportKind::Func(&[SIG_HANDLE_MESSAGE]),
    },
    AbiExport {
        name: EXPORT_INIT,
        required: false,
        kind: AbiExportKind::Func(HOOK_SIGNATURES),
    },
    AbiExport {
        name: EXPORT_START,
        required: false,
        kind: AbiExportKind::Func(&[SIG_UNIT]),
    },
    AbiExport {
        name: EXPORT_CLEANUP,
        required: false,
        kind: AbiExportKind::Func(HOOK_SIGNATURES),
    },
    AbiExport {
        name: EXPORT_HEALTH,
        required: false,
        kind: AbiExportKind::Func(&[SIG_CODE]),
    },
    AbiExport {
        name: EXPORT_DEALLOC,
        required: false,
        kind: AbiExportKind::Func(&[SIG_DEALLOC]),
    },
    AbiExport {
        name: EXPORT_SNAPSHOT,
        required: false,
        kind: AbiExportKind::Func(&[SIG_CODE]),
    },
    AbiExport {
        name: EXPORT_RESTORE,
        required: false,
        kind: AbiExportKind::Func(&[SIG_RESTORE]),
    },
];

/// Every host function of module [`IMPORT_MODULE`] with its signature. The
/// linker defines exactly these (a test holds it to that); `airssys
/// inspect` checks a module's imports against them.
pub const HOST_IMPORTS: &[(&str, AbiSignature)] = &[
    ("send", AbiSignature::new(&[I32, I32, I32, I32], &[I32])),
    ("publish", AbiSignature::new(&[I32, I32, I32, I32], &[I32])),
    (
        "request",
        AbiSignature::new(&[I32, I32, I32, I32, I32, I32, I32], &[I32]),
    ),
    ("reply", AbiSignature::new(&[I32, I32], &[I32])),
    ("monitor", AbiSignature::new(&[I32, I32], &[I64])),
    ("demonitor", AbiSignature::new(&[I64], &[I32])),
    ("subscribe", AbiSignature::new(&[I32, I32], &[I32])),
    ("unsubscribe", AbiSignature::new(&[I32, I32], &[I32])),
    ("log", AbiSignature::new(&[I32, I32, I32], &[])),
    ("self_id", AbiSignature::new(&[I32, I32], &[I32])),
    ("now_ms", AbiSignature::new(&[], &[I64])),
    ("now_nanos", AbiSignature::new(&[], &[I64])),
    (
        "config_get",
        AbiSignature::new(&[I32, I32, I32, I32], &[I32]),
    ),
    ("link", AbiSignature::new(&[I32, I32], &[I32])),
    ("unlink", AbiSignature::new(&[I32, I32], &[I32])),
];

/// Signature of an `init`/`cleanup` export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hook {
    /// `() -> ()`.
    Unit,
    /// `() -> i32`.
    Code,
}

/// The ABI exports a module provides, found at load time.
#[derive(Clone, Debug)]
pub(crate) struct AbiExports {
    /// `init` or `_start`, with its name and signature.
    pub(crate) init: Option<(&'static str, Hook)>,
    pub(crate) cleanup: Option<Hook>,
    pub(crate) health: bool,
    pub(crate) dealloc: bool,
    pub(crate) snapshot: bool,
    pub(crate) restore: bool,
}

pub(crate) fn wasm_type(ty: &ValType) -> WasmType {
    match ty {
        ValType::I32 => WasmType::I32,
        ValType::I64 => WasmType::I64,
        ValType::F32 => WasmType::F32,
        ValType::F64 => WasmType::F64,
        _ => WasmType::Other,
    }
}

fn signature(ty: &FuncType) -> (Vec<WasmType>, Vec<WasmType>) {
    (
        ty.params().map(|t| wasm_type(&t)).collect(),
        ty.results().map(|t| wasm_type(&t)).collect(),
    )
}

fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => {
            let (p, r) = signature(f);
            let list = |v: &[WasmType]| {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("func ({}) -> ({})", list(&p), list(&r))
        }
        ExternType::Memory(_) => "memory".into(),
        ExternType::Table(_) => "table".into(),
        ExternType::Global(_) => "global".into(),
        ExternType::Tag(_) => "tag".into(),
    }
}

/// Checks the module's exports against the core ABI.
///
/// # Errors
/// [`WasmError::MissingExports`] listing every absent required export, then
/// [`WasmError::InvalidExport`] for the first export of the wrong type.
pub(crate) fn check_exports(
    component: &ComponentId,
    module: &Module,
) -> Result<AbiExports, WasmError> {
    let find = |name: &str| module.exports().find(|e| e.name() == name).map(|e| e.ty());
    let memory = find(EXPORT_MEMORY);
    let alloc = find(EXPORT_ALLOC);
    let handle = find(EXPORT_HANDLE_MESSAGE);
    let missing: Vec<String> = [
        (EXPORT_MEMORY, memory.is_none()),
        (EXPORT_ALLOC, alloc.is_none()),
        (EXPORT_HANDLE_MESSAGE, handle.is_none()),
    ]
    .iter()
    .filter(|(_, absent)| *absent)
    .map(|(name, _)| (*name).to_string())
    .collect();
    if !missing.is_empty() {
        return Err(WasmError::MissingExports {
            component: component.clone(),
            missing,
        });
    }

    let invalid = |export: &str, expected: &str, found: &ExternType| WasmError::InvalidExport {
        component: component.clone(),
        export: export.to_string(),
        expected: expected.to_string(),
        found: describe(found),
    };
    let is_func = |ty: &ExternType, expected: AbiSignature| match ty {
        ExternType::Func(f) => expected.matches(f),
        _ => false,
    };
    let hook = |ty: &ExternType| {
        if is_func(ty, SIG_UNIT) {
            Some(Hook::Unit)
        } else if is_func(ty, SIG_CODE) {
            Some(Hook::Code)
        } else {
            None
        }
    };
    let hook_expected = format!("{SIG_UNIT} or {SIG_CODE}");

    if let Some(ty) = &memory {
        if !matches!(ty, ExternType::Memory(m) if !m.is_64()) {
            return Err(invalid(EXPORT_MEMORY, "memory (32-bit)", ty));
        }
    }
    if let Some(ty) = &alloc {
        if !is_func(ty, SIG_ALLOC) {
            return Err(invalid(EXPORT_ALLOC, &SIG_ALLOC.to_string(), ty));
        }
    }
    if let Some(ty) = &handle {
        if !is_func(ty, SIG_HANDLE_MESSAGE) {
            return Err(invalid(
                EXPORT_HANDLE_MESSAGE,
                &SIG_HANDLE_MESSAGE.to_string(),
                ty,
            ));
        }
    }
    let init = match (find(EXPORT_INIT), find(EXPORT_START)) {
        (Some(ty), _) => Some((
            EXPORT_INIT,
            hook(&ty).ok_or_else(|| invalid(EXPORT_INIT, &hook_expected, &ty))?,
        )),
        (None, Some(ty)) => {
            if !is_func(&ty, SIG_UNIT) {
                return Err(invalid(EXPORT_START, &SIG_UNIT.to_string(), &ty));
            }
            Some((EXPORT_START, Hook::Unit))
        }
        (None, None) => None,
    };
    let cleanup = match find(EXPORT_CLEANUP) {
        Some(ty) => Some(hook(&ty).ok_or_else(|| invalid(EXPORT_CLEANUP, &hook_expected, &ty))?),
        None => None,
    };
    // An optional export of one exact signature: present or not.
    let optional = |name: &str, sig: AbiSignature| match find(name) {
        Some(ty) if is_func(&ty, sig) => Ok(true),
        Some(ty) => Err(invalid(name, &sig.to_string(), &ty)),
        None => Ok(false),
    };
    Ok(AbiExports {
        init,
        cleanup,
        health: optional(EXPORT_HEALTH, SIG_CODE)?,
        dealloc: optional(EXPORT_DEALLOC, SIG_DEALLOC)?,
        snapshot: optional(EXPORT_SNAPSHOT, SIG_CODE)?,
        restore: optional(EXPORT_RESTORE, SIG_RESTORE)?,
    })
}

/// Bytes the message occupies in guest memory: header + sender + subject +
/// payload.
pub(crate) fn encoded_len(msg: &GuestMessage) -> usize {
    HEADER_LEN
        + msg.sender.as_ref().map_or(0, |s| s.as_str().len())
        + msg.subject.as_ref().map_or(0, |s| s.len())
        + msg.payload.len()
}

/// Writes the message into `dst` (exactly [`encoded_len`] bytes):
///
/// ```text
/// 0  u32 flags (bit 0: correlation id present; bit 1: a redelivery)
/// 4  u32 sender_len
/// 8  u32 subject_len
/// 12 u32 payload_len
/// 16 u64 correlation_id (0 when absent)
/// 24 sender bytes, subject bytes, payload bytes
/// ```
/// All integers little-endian. Lengths fit in u32 because the total was
/// checked against `i32::MAX` by the caller.
pub(crate) fn encode_message(dst: &mut [u8], msg: &GuestMessage) {
    let sender = msg
        .sender
        .as_ref()
        .map_or(&b""[..], |s| s.as_str().as_bytes());
    let subject = msg.subject.as_ref().map_or(&b""[..], |s| s.as_bytes());
    let mut flags = if msg.correlation_id.is_some() {
        FLAG_CORRELATION
    } else {
        0
    };
    if msg.redelivered {
        flags |= FLAG_REDELIVERED;
    }
    let (header, body) = dst.split_at_mut(HEADER_LEN);
    header[0..4].copy_from_slice(&flags.to_le_bytes());
    header[4..8].copy_from_slice(&(sender.len() as u32).to_le_bytes());
    header[8..12].copy_from_slice(&(subject.len() as u32).to_le_bytes());
    header[12..16].copy_from_slice(&(msg.payload.len() as u32).to_le_bytes());
    header[16..24].copy_from_slice(&msg.correlation_id.unwrap_or(0).to_le_bytes());
    let (s, rest) = body.split_at_mut(sender.len());
    s.copy_from_slice(sender);
    let (j, p) = rest.split_at_mut(subject.len());
    j.copy_from_slice(subject);
    p.copy_from_slice(&msg.payload);
}
