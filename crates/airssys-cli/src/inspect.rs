//! `airssys inspect`: what a guest binary is, what it imports and exports,
//! and whether it satisfies the core ABI (`docs/core-abi.md`) or, for a
//! component, targets the `airssys:component` WIT world (printed).
//!
//! Reads the binary with wasmparser only: nothing is compiled or run.

use std::fmt;

use airssys_wasm::guest::core::abi::{self as core_abi, AbiExportKind, AbiSignature};
use serde::Serialize;
use wasmparser::{
    ComponentExternalKind, CompositeInnerType, ExternalKind, FuncType, Parser, Payload, TypeRef,
    ValType,
};

/// Why a file could not be inspected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// Neither a WebAssembly binary nor valid WAT text.
    #[error("not a WebAssembly binary and not valid WAT text: {0}")]
    NotWasm(String),
    /// The binary is malformed.
    #[error("malformed WebAssembly binary: {0}")]
    Malformed(String),
}

/// The binary form of a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// A core module.
    CoreModule,
    /// A Component Model component.
    Component,
}

/// One import or export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// Import module (`""` for exports and component items).
    pub module: String,
    /// Name.
    pub name: String,
    /// `func (i32, i32) -> (i32)`, `memory 1..`, `table`, `global`, ...
    pub ty: String,
}

/// What `inspect` found.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    /// Core module or component.
    pub form: Form,
    /// Bytes of the (compiled, if WAT) binary.
    pub size: usize,
    /// Imports, in order.
    pub imports: Vec<Item>,
    /// Exports, in order.
    pub exports: Vec<Item>,
    /// Whether the binary satisfies the core ABI.
    pub core_abi: bool,
    /// What is missing or wrong for the core ABI, or for a component the
    /// `airssys:component` world (empty when satisfied).
    pub problems: Vec<String>,
    /// For a component: its WIT world (imports, exports, the interfaces
    /// they use), printed.
    pub wit: Option<String>,
    /// For a component: whether it targets the `airssys:component` world,
    /// so the host can run it.
    pub airssys_world: Option<bool>,
}

impl Inspection {
    /// Whether the host can run the guest: a component that targets the
    /// `airssys:component` world, or a core module that satisfies the core
    /// ABI. `airssys inspect` exits 3 when it is `false`.
    pub fn satisfied(&self) -> bool {
        self.airssys_world.unwrap_or(self.core_abi)
    }
}

/// Turns WAT text into a binary; a binary is returned as is.
///
/// # Errors
/// [`InspectError::NotWasm`] when the bytes are neither.
pub fn to_binary(bytes: &[u8]) -> Result<Vec<u8>, InspectError> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes.to_vec());
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| InspectError::NotWasm("no \\0asm preamble and not UTF-8 text".into()))?;
    wat::parse_str(text).map_err(|e| InspectError::NotWasm(e.to_string()))
}

fn val(t: &ValType) -> String {
    match t {
        ValType::I32 => "i32".into(),
        ValType::I64 => "i64".into(),
        ValType::F32 => "f32".into(),
        ValType::F64 => "f64".into(),
        ValType::V128 => "v128".into(),
        ValType::Ref(r) => format!("{r}"),
    }
}

/// `func (i32, i32) -> (i32)`.
pub fn signature(f: &FuncType) -> String {
    let list = |v: &[ValType]| v.iter().map(val).collect::<Vec<_>>().join(", ");
    format!("func ({}) -> ({})", list(f.params()), list(f.results()))
}

/// Inspects a binary or WAT text.
///
/// # Errors
/// [`InspectError`] for text that is not WAT and for malformed binaries.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, InspectError> {
    let binary = to_binary(bytes)?;
    if Parser::is_component(&binary) {
        inspect_component(&binary)
    } else {
        inspect_core(&binary)
    }
}

fn malformed(e: wasmparser::BinaryReaderError) -> InspectError {
    InspectError::Malformed(e.to_string())
}

fn inspect_core(binary: &[u8]) -> Result<Inspection, InspectError> {
    let mut types: Vec<Option<FuncType>> = Vec::new();
    let mut funcs: Vec<u32> = Vec::new(); // type index per function (imports first)
    let mut memories: Vec<String> = Vec::new();
    let mut imports = Vec::new();
    let mut raw_exports = Vec::new();
    for payload in Parser::new(0).parse_all(binary) {
        match payload.map_err(malformed)? {
            Payload::TypeSection(r) => {
                for group in r {
                    for sub in group.map_err(malformed)?.into_types() {
                        types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => Some(f.clone()),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(r) => {
                for import in r {
                    let import = import.map_err(malformed)?;
                    let ty = match import.ty {
                        TypeRef::Func(i) => {
                            funcs.push(i);
                            func_ty(&types, i)
                        }
                        TypeRef::Memory(m) => {
                            let d = memory(&m);
                            memories.push(d.clone());
                            d
                        }
                        TypeRef::Table(_) => "table".into(),
                        TypeRef::Global(_) => "global".into(),
                        TypeRef::Tag(_) => "tag".into(),
                    };
                    imports.push(Item {
                        module: import.module.into(),
                        name: import.name.into(),
                        ty,
                    });
                }
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    funcs.push(t.map_err(malformed)?);
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    memories.push(memory(&m.map_err(malformed)?));
                }
            }
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e.map_err(malformed)?;
                    raw_exports.push((e.name.to_owned(), e.kind, e.index));
                }
            }
            _ => {}
        }
    }
    let exports: Vec<Item> = raw_exports
        .into_iter()
        .map(|(name, kind, index)| {
            let ty = match kind {
                ExternalKind::Func => funcs
                    .get(index as usize)
                    .map_or_else(|| "func ?".into(), |&t| func_ty(&types, t)),
                ExternalKind::Memory => memories
                    .get(index as usize)
                    .cloned()
                    .unwrap_or_else(|| "memory".into()),
                ExternalKind::Table => "table".into(),
                ExternalKind::Global => "global".into(),
                ExternalKind::Tag => "tag".into(),
            };
            Item {
                module: String::new(),
                name,
                ty,
            }
        })
        .collect();
    let problems = abi_problems(&imports, &exports);
    Ok(Inspection {
        form: Form::CoreModule,
        size: binary.len(),
        imports,
        exports,
        core_abi: problems.is_empty(),
        problems,
        wit: None,
        airssys_world: None,
    })
}

fn func_ty(types: &[Option<FuncType>], index: u32) -> String {
    match types.get(index as usize) {
        Some(Some(f)) => signature(f),
        _ => format!("func (type {index})"),
    }
}

fn memory(m: &wasmparser::MemoryType) -> String {
    let bits = if m.memory64 { "memory64" } else { "memory" };
    match m.maximum {
        Some(max) => format!("{bits} {}..{max} pages", m.initial),
        None => format!("{bits} {}.. pages", m.initial),
    }
}

/// Everything that keeps the module from satisfying the core ABI, checked
/// against airssys-wasm's own tables ([`core_abi::EXPORTS`],
/// [`core_abi::HOST_IMPORTS`]), the ones the loader and linker use.
fn abi_problems(imports: &[Item], exports: &[Item]) -> Vec<String> {
    let mut problems = Vec::new();
    let find = |name: &str| exports.iter().find(|e| e.name == name);
    for export in core_abi::EXPORTS {
        let name = export.name;
        let found = find(name);
        match (export.kind, found) {
            (AbiExportKind::Memory, None) if export.required => {
                problems.push(format!("missing required export `{name}` (memory)"))
            }
            (AbiExportKind::Func(accepted), None) if export.required => problems.push(format!(
                "missing required export `{name}` ({})",
                alternatives(accepted)
            )),
            (_, None) => {}
            (AbiExportKind::Memory, Some(e)) => {
                if !e.ty.starts_with("memory ") {
                    problems.push(format!(
                        "export `{name}` must be a 32-bit memory, found {}",
                        e.ty
                    ));
                }
            }
            (AbiExportKind::Func(accepted), Some(e)) => {
                if !accepted.iter().any(|sig| sig.to_string() == e.ty) {
                    problems.push(format!(
                        "export `{name}` must be {}, found {}",
                        alternatives(accepted),
                        e.ty
                    ));
                }
            }
        }
    }
    for i in imports {
        if i.module != core_abi::IMPORT_MODULE {
            problems.push(format!(
                "import `{}`.`{}` is not provided: guests may import only from module `{}`",
                i.module,
                i.name,
                core_abi::IMPORT_MODULE
            ));
            continue;
        }
        match core_abi::HOST_IMPORTS.iter().find(|(n, _)| *n == i.name) {
            None => problems.push(format!(
                "import `{}`.`{}` does not exist (host functions: {})",
                core_abi::IMPORT_MODULE,
                i.name,
                core_abi::HOST_IMPORTS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some((_, sig)) if sig.to_string() != i.ty => problems.push(format!(
                "import `{}`.`{}` must be {sig}, found {}",
                core_abi::IMPORT_MODULE,
                i.name,
                i.ty
            )),
            Some(_) => {}
        }
    }
    problems
}

/// `func () -> () or func () -> (i32)`.
fn alternatives(accepted: &[AbiSignature]) -> String {
    accepted
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

fn inspect_component(binary: &[u8]) -> Result<Inspection, InspectError> {
    let mut depth = 0usize;
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    for payload in Parser::new(0).parse_all(binary) {
        match payload.map_err(malformed)? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(r) if depth == 1 => {
                for i in r {
                    let i = i.map_err(malformed)?;
                    imports.push(Item {
                        module: String::new(),
                        name: i.name.0.to_owned(),
                        ty: type_ref(&i.ty).into(),
                    });
                }
            }
            Payload::ComponentExportSection(r) if depth == 1 => {
                for e in r {
                    let e = e.map_err(malformed)?;
                    exports.push(Item {
                        module: String::new(),
                        name: e.name.0.to_owned(),
                        ty: kind(e.kind).into(),
                    });
                }
            }
            _ => {}
        }
    }
    let (wit, airssys_world, problems) = match airssys_wasm::wit::describe(binary) {
        Ok(world) => (
            Some(world.wit),
            Some(world.targets_airssys),
            world.mismatch.into_iter().collect(),
        ),
        Err(e) => (None, Some(false), vec![e.to_string()]),
    };
    Ok(Inspection {
        form: Form::Component,
        size: binary.len(),
        imports,
        exports,
        core_abi: false,
        problems,
        wit,
        airssys_world,
    })
}

fn type_ref(t: &wasmparser::ComponentTypeRef) -> &'static str {
    use wasmparser::ComponentTypeRef as T;
    match t {
        T::Module(_) => "module",
        T::Func(_) => "func",
        T::Value(_) => "value",
        T::Type(_) => "type",
        T::Instance(_) => "instance",
        T::Component(_) => "component",
    }
}

fn kind(k: ComponentExternalKind) -> &'static str {
    match k {
        ComponentExternalKind::Module => "module",
        ComponentExternalKind::Func => "func",
        ComponentExternalKind::Value => "value",
        ComponentExternalKind::Type => "type",
        ComponentExternalKind::Instance => "instance",
        ComponentExternalKind::Component => "component",
    }
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = match self.form {
            Form::CoreModule => "core module",
            Form::Component => "component (Component Model)",
        };
        writeln!(f, "form:    {form}, {} bytes", self.size)?;
        writeln!(f, "imports: {}", self.imports.len())?;
        for i in &self.imports {
            if i.module.is_empty() {
                writeln!(f, "  {:<28} {}", i.name, i.ty)?;
            } else {
                writeln!(f, "  {:<28} {}", format!("{}.{}", i.module, i.name), i.ty)?;
            }
        }
        writeln!(f, "exports: {}", self.exports.len())?;
        for e in &self.exports {
            writeln!(f, "  {:<28} {}", e.name, e.ty)?;
        }
        if let Some(wit) = &self.wit {
            writeln!(f, "wit:")?;
            for line in wit.lines() {
                writeln!(f, "  {line}")?;
            }
        }
        let (satisfied, what) = match self.airssys_world {
            Some(targets) => (targets, "airssys:component world"),
            None => (self.core_abi, "core ABI"),
        };
        if satisfied {
            write!(f, "{what}: satisfied")
        } else {
            writeln!(f, "{what}: not satisfied")?;
            for (n, p) in self.problems.iter().enumerate() {
                if n > 0 {
                    writeln!(f)?;
                }
                write!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}
