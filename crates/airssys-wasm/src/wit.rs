//! The `airssys:component` WIT world, and turning core modules into
//! components that target it.
//!
//! A guest toolchain that emits a core module with the world's canonical-ABI
//! imports and exports (wit-bindgen for C or Rust, or hand-written WAT)
//! becomes a component with [`componentize`]; [`describe`] prints the WIT
//! world of any component and says whether it targets ours.

use wit_component::{ComponentEncoder, StringEncoding, WitPrinter};
use wit_parser::decoding::DecodedWasm;
use wit_parser::{Resolve, WorldId, WorldItem, WorldKey};

/// The WIT package `airssys:component@0.1.0` (`wit/airssys-component.wit`).
pub const WORLD_WIT: &str = include_str!("../../../wit/airssys-component.wit");

/// The world guests target, as `package/world`.
pub const WORLD_NAME: &str = "airssys:component/component@0.1.0";

/// Why a module could not be turned into a component, or a component
/// could not be described.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitError {
    /// The input is neither a core module nor its WAT text.
    #[error("not a core WebAssembly module: {reason}")]
    NotAModule {
        /// The parser's reason.
        reason: String,
    },
    /// The module does not fit the world (a missing or mistyped export, an
    /// import the world does not have).
    #[error("the module does not fit the {WORLD_NAME} world: {reason}")]
    DoesNotFit {
        /// wit-component's reason.
        reason: String,
    },
    /// The bytes are not a component whose WIT can be read.
    #[error("cannot read the component's WIT: {reason}")]
    Unreadable {
        /// The decoder's reason.
        reason: String,
    },
}

/// World exports a guest may leave out.
const OPTIONAL_EXPORTS: [&str; 3] = ["init", "health", "cleanup"];

fn resolve_name(key: &WorldKey) -> String {
    match key {
        WorldKey::Name(name) => name.clone(),
        WorldKey::Interface(_) => String::new(),
    }
}

/// The names of a core module's exports (none if it does not parse: the
/// encoder reports that).
fn core_exports(module: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let Ok(wasmparser::Payload::ExportSection(exports)) = payload {
            names.extend(exports.into_iter().flatten().map(|e| e.name.to_string()));
        }
    }
    names
}

/// The world, keeping of its optional exports (`init`, `health`,
/// `cleanup`) only those a guest has: a guest may leave them out.
fn world_for(exported: &[String]) -> anyhow::Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let package = resolve.push_str("airssys-component.wit", WORLD_WIT)?;
    let world = resolve.select_world(&[package], Some("component"))?;
    resolve.worlds[world].exports.retain(|key, _| {
        let name = resolve_name(key);
        !OPTIONAL_EXPORTS.contains(&name.as_str()) || exported.contains(&name)
    });
    Ok((resolve, world))
}

/// The world for `world_for(exported)`, plus every WASI interface (a
/// `wasi:*` package) the decoded component imports: a guest may use WASI
/// preview 2 besides the world's own imports.
fn world_with_wasi(
    exported: &[String],
    decoded: &DecodedWasm,
) -> anyhow::Result<(Resolve, WorldId)> {
    let (mut ours, world) = world_for(exported)?;
    let DecodedWasm::Component(theirs, their_world) = decoded else {
        return Ok((ours, world));
    };
    let wasi: Vec<_> = theirs.worlds[*their_world]
        .imports
        .values()
        .filter_map(|item| match item {
            WorldItem::Interface { id, .. } => {
                let package = theirs.interfaces[*id].package?;
                (theirs.packages[package].name.namespace == "wasi").then_some(*id)
            }
            _ => None,
        })
        .collect();
    if wasi.is_empty() {
        return Ok((ours, world));
    }
    let remap = ours.merge(theirs.clone())?;
    for id in wasi {
        let Some(id) = remap.interfaces.get(id.index()).copied().flatten() else {
            anyhow::bail!("a WASI interface was lost merging the component's WIT");
        };
        ours.worlds[world].imports.insert(
            WorldKey::Interface(id),
            WorldItem::Interface {
                id,
                stability: Default::default(),
                external_id: None,
                docs: Default::default(),
                span: Default::default(),
            },
        );
    }
    Ok((ours, world))
}

/// Turns a core module (binary or WAT text) whose imports and exports follow
/// the canonical ABI of the `airssys:component` world into a component of
/// that world. `wasi_adapter` is the `wasi_snapshot_preview1` adapter
/// module, for a module built against WASI preview 1 (wasi-libc); `None`
/// for a module without WASI imports.
///
/// # Errors
/// [`WitError::NotAModule`] or [`WitError::DoesNotFit`].
pub fn componentize(module: &[u8], wasi_adapter: Option<&[u8]>) -> Result<Vec<u8>, WitError> {
    let mut module = wat::parse_bytes(module)
        .map_err(|e| WitError::NotAModule {
            reason: e.to_string(),
        })?
        .into_owned();
    let does_not_fit = |e: anyhow::Error| WitError::DoesNotFit {
        reason: format!("{e:#}"),
    };
    let (resolve, world) = world_for(&core_exports(&module)).map_err(does_not_fit)?;
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .map_err(does_not_fit)?;
    let mut encoder = ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .map_err(does_not_fit)?;
    if let Some(adapter) = wasi_adapter {
        encoder = encoder
            .adapter("wasi_snapshot_preview1", adapter)
            .map_err(does_not_fit)?;
    }
    encoder.encode().map_err(does_not_fit)
}

/// A component's WIT world, printed, and whether it targets the
/// `airssys:component` world (imports nothing beyond it and WASI, exports
/// what the world exports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorldDescription {
    /// The WIT text of the component's world and the interfaces it uses.
    pub wit: String,
    /// Whether a host can run it as an `airssys:component` guest.
    pub targets_airssys: bool,
    /// Why not, when it does not.
    pub mismatch: Option<String>,
}

/// Describes the WIT world of a component binary.
///
/// # Errors
/// [`WitError::Unreadable`] when `component` is not a component.
pub fn describe(component: &[u8]) -> Result<WorldDescription, WitError> {
    let unreadable = |e: anyhow::Error| WitError::Unreadable {
        reason: format!("{e:#}"),
    };
    // wit-parser assumes a well-formed component and can hit an
    // `unreachable!` on a malformed one (found by the `inspect` fuzz
    // target on a mutated component): a panic there is this binary's
    // fault, so it is an `Unreadable` error, never the caller's crash.
    let decoded = std::panic::catch_unwind(|| wit_component::decode(component))
        .map_err(|_| WitError::Unreadable {
            reason: "malformed component: its WIT could not be decoded".to_string(),
        })?
        .map_err(unreadable)?;
    let resolve = decoded.resolve();
    let package = decoded.package();
    let nested: Vec<_> = resolve
        .packages
        .iter()
        .map(|(id, _)| id)
        .filter(|id| *id != package)
        .collect();
    let mut printer = WitPrinter::default();
    printer
        .print(resolve, package, &nested)
        .map_err(unreadable)?;
    let exported: Vec<String> = match &decoded {
        DecodedWasm::Component(resolve, world) => resolve.worlds[*world]
            .exports
            .keys()
            .map(resolve_name)
            .collect(),
        DecodedWasm::WitPackage(..) => Vec::new(),
    };
    let mismatch = match world_with_wasi(&exported, &decoded) {
        Ok((ours, world)) => wit_component::targets(&ours, world, component)
            .err()
            .map(|e| format!("{e:#}")),
        Err(e) => Some(format!("{e:#}")),
    };
    Ok(WorldDescription {
        wit: printer.output.to_string(),
        targets_airssys: mismatch.is_none(),
        mismatch,
    })
}
