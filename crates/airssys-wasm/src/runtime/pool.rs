//! What a guest needs from wasmtime's instance pool, read from its
//! sections before compilation, and the check against what the pool holds.
//!
//! wasmtime's pooling allocator reserves, per component instance, a fixed
//! number of core instance, memory and table slots of fixed sizes. A guest
//! that needs more fails only when it is instantiated, with wasmtime's
//! "instance count too high" or "exceeds the configured maximum": after
//! a compilation that can take tens of seconds for a large component, and
//! without saying which setting to change. [`PoolNeeds::of`] reads the
//! same figures wasmtime counts (core module instantiations, the memories
//! and tables the instantiated modules define, their initial sizes) from
//! the binary, and `PoolLimits::check` refuses a guest that cannot fit
//! with [`WasmError::PoolTooSmall`].

use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind,
    ComponentTypeRef, Instance, Parser, Payload,
};

use crate::error::{PoolResource, WasmError};
use crate::id::ComponentId;

/// What one guest needs from the instance pool, with every nested module
/// and component counted as many times as it is instantiated.
///
/// Cost: one pass over the binary's section headers and the memory and
/// table sections (no function bodies are read, nothing is validated).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolNeeds {
    /// Core module instances (a core module is 1; a component made by
    /// `wit-component` 3 or 4; the 18 MB `componentize-py` 0.25 component of a
    /// 15-line handler 14).
    pub core_instances: u64,
    /// Linear memories the instantiated modules define (imported ones
    /// share a slot and are not counted).
    pub memories: u64,
    /// Tables the instantiated modules define.
    pub tables: u64,
    /// The largest initial size of one defined memory, in bytes.
    pub largest_memory_bytes: u64,
    /// The largest initial size of one defined table, in elements.
    pub largest_table_elements: u64,
}

impl PoolNeeds {
    /// Reads what `binary` (a core module or a component) needs. A binary
    /// too malformed to read is counted as far as it reads: wasmtime's
    /// validation reports what is wrong with it.
    pub fn of(binary: &[u8]) -> PoolNeeds {
        let mut frames: Vec<Frame> = Vec::new();
        let mut top: Option<Frame> = None;
        for payload in Parser::new(0).parse_all(binary) {
            let Ok(payload) = payload else {
                break;
            };
            match payload {
                Payload::Version { encoding, .. } => frames.push(match encoding {
                    wasmparser::Encoding::Module => Frame::Module(PoolNeeds::default()),
                    wasmparser::Encoding::Component => Frame::Component(ComponentFrame::default()),
                }),
                Payload::End(_) => {
                    let Some(done) = frames.pop() else {
                        break;
                    };
                    match frames.last_mut() {
                        Some(Frame::Component(parent)) => match done {
                            Frame::Module(needs) => parent.modules.push(needs),
                            Frame::Component(c) => parent.components.push(c.needs),
                        },
                        Some(Frame::Module(_)) => break,
                        None => {
                            top = Some(done);
                            break;
                        }
                    }
                }
                other => read_payload(&mut frames, other),
            }
        }
        match top.or_else(|| frames.into_iter().next()) {
            Some(Frame::Module(needs)) => PoolNeeds {
                core_instances: 1,
                ..needs
            },
            Some(Frame::Component(c)) => c.needs,
            None => PoolNeeds::default(),
        }
    }

    /// Adds `other`, instantiated once more inside this guest.
    fn add(&mut self, other: &PoolNeeds) {
        self.core_instances = self.core_instances.saturating_add(other.core_instances);
        self.memories = self.memories.saturating_add(other.memories);
        self.tables = self.tables.saturating_add(other.tables);
        self.largest_memory_bytes = self.largest_memory_bytes.max(other.largest_memory_bytes);
        self.largest_table_elements = self
            .largest_table_elements
            .max(other.largest_table_elements);
    }
}

/// A module or component being read; a component keeps its core module and
/// component index spaces (unknown entries, such as imported modules, count
/// as needing nothing).
enum Frame {
    Module(PoolNeeds),
    Component(ComponentFrame),
}

#[derive(Default)]
struct ComponentFrame {
    modules: Vec<PoolNeeds>,
    components: Vec<PoolNeeds>,
    needs: PoolNeeds,
}

fn read_payload(frames: &mut [Frame], payload: Payload<'_>) {
    if let Payload::ComponentAliasSection(section) = payload {
        for alias in section.into_iter().flatten() {
            read_alias(frames, alias);
        }
        return;
    }
    let Some(frame) = frames.last_mut() else {
        return;
    };
    match (frame, payload) {
        (Frame::Module(needs), Payload::MemorySection(section)) => {
            for memory in section.into_iter().flatten() {
                let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                needs.memories += 1;
                needs.largest_memory_bytes = needs
                    .largest_memory_bytes
                    .max(memory.initial.saturating_mul(page));
            }
        }
        (Frame::Module(needs), Payload::TableSection(section)) => {
            for table in section.into_iter().flatten() {
                needs.tables += 1;
                needs.largest_table_elements = needs.largest_table_elements.max(table.ty.initial);
            }
        }
        (Frame::Component(c), Payload::InstanceSection(section)) => {
            for instance in section.into_iter().flatten() {
                if let Instance::Instantiate { module_index, .. } = instance {
                    let module = c.modules.get(module_index as usize).copied();
                    c.needs.add(&PoolNeeds {
                        core_instances: 1,
                        ..module.unwrap_or_default()
                    });
                }
            }
        }
        (Frame::Component(c), Payload::ComponentInstanceSection(section)) => {
            for instance in section.into_iter().flatten() {
                if let ComponentInstance::Instantiate {
                    component_index, ..
                } = instance
                {
                    if let Some(nested) = c.components.get(component_index as usize).copied() {
                        c.needs.add(&nested);
                    }
                }
            }
        }
        (Frame::Component(c), Payload::ComponentImportSection(section)) => {
            for import in section.into_iter().flatten() {
                match import.ty {
                    ComponentTypeRef::Module(_) => c.modules.push(PoolNeeds::default()),
                    ComponentTypeRef::Component(_) => c.components.push(PoolNeeds::default()),
                    _ => {}
                }
            }
        }
        // An export of a module or component adds an index for it.
        (Frame::Component(c), Payload::ComponentExportSection(section)) => {
            for export in section.into_iter().flatten() {
                match export.kind {
                    ComponentExternalKind::Module => {
                        let same = c.modules.get(export.index as usize).copied();
                        c.modules.push(same.unwrap_or_default());
                    }
                    ComponentExternalKind::Component => {
                        let same = c.components.get(export.index as usize).copied();
                        c.components.push(same.unwrap_or_default());
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// An alias adds an index: an outer alias refers to a module or component
/// of an enclosing component (same needs); an instance export is unknown.
fn read_alias(frames: &mut [Frame], alias: ComponentAlias<'_>) {
    let outer = |count: u32| -> Option<&ComponentFrame> {
        let at = frames.len().checked_sub(1 + count as usize)?;
        match &frames[at] {
            Frame::Component(c) => Some(c),
            Frame::Module(_) => None,
        }
    };
    let (module, component) = match alias {
        ComponentAlias::Outer {
            kind: ComponentOuterAliasKind::CoreModule,
            count,
            index,
        } => (
            Some(outer(count).and_then(|c| c.modules.get(index as usize).copied())),
            None,
        ),
        ComponentAlias::Outer {
            kind: ComponentOuterAliasKind::Component,
            count,
            index,
        } => (
            None,
            Some(outer(count).and_then(|c| c.components.get(index as usize).copied())),
        ),
        ComponentAlias::InstanceExport {
            kind: ComponentExternalKind::Module,
            ..
        } => (Some(None), None),
        ComponentAlias::InstanceExport {
            kind: ComponentExternalKind::Component,
            ..
        } => (None, Some(None)),
        _ => (None, None),
    };
    if let Some(Frame::Component(c)) = frames.last_mut() {
        if let Some(needs) = module {
            c.modules.push(needs.unwrap_or_default());
        }
        if let Some(needs) = component {
            c.components.push(needs.unwrap_or_default());
        }
    }
}

/// What the engine's instance pool holds per component instance (see
/// [`EngineConfig`](crate::EngineConfig)). Without the pooling allocator
/// only the core instance count applies (the store's own limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PoolLimits {
    pub(crate) core_instances: u32,
    pub(crate) memories: u32,
    pub(crate) tables: u32,
    pub(crate) memory_bytes: usize,
    pub(crate) table_elements: usize,
    pub(crate) pooling: bool,
}

impl PoolLimits {
    /// Refuses `needs` if one of them is over the pool's, naming the
    /// first that is (in the order of [`PoolResource`]'s variants).
    pub(crate) fn check(
        &self,
        component: &ComponentId,
        needs: &PoolNeeds,
    ) -> Result<(), WasmError> {
        let mut checks = vec![(
            PoolResource::CoreInstances,
            needs.core_instances,
            u64::from(self.core_instances),
        )];
        if self.pooling {
            checks.extend([
                (
                    PoolResource::Memories,
                    needs.memories,
                    u64::from(self.memories),
                ),
                (PoolResource::Tables, needs.tables, u64::from(self.tables)),
                (
                    PoolResource::MemoryBytes,
                    needs.largest_memory_bytes,
                    self.memory_bytes as u64,
                ),
                (
                    PoolResource::TableElements,
                    needs.largest_table_elements,
                    self.table_elements as u64,
                ),
            ]);
        }
        match checks
            .into_iter()
            .find(|(_, needed, allowed)| needed > allowed)
        {
            Some((resource, needed, allowed)) => Err(WasmError::PoolTooSmall {
                component: component.clone(),
                resource,
                needed,
                allowed,
            }),
            None => Ok(()),
        }
    }
}
