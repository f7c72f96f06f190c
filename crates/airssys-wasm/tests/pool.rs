//! Pool sizing: what a guest needs from the instance pool is read from its
//! binary at load; one that cannot fit is refused with a typed error naming
//! the setting to raise, one that fits loads and runs.

mod common;

use std::sync::Arc;

use airssys_wasm::runtime::pool::PoolNeeds;
use airssys_wasm::{
    ComponentId, ComponentLimits, EngineConfig, GuestMessage, NoHostServices, Permissions,
    PoolResource, WasmEngine, WasmError,
};
use common::*;

fn engine_with(config: EngineConfig) -> WasmEngine {
    WasmEngine::new(config.max_components(4)).unwrap()
}

#[test]
fn a_component_needing_more_core_instances_than_the_pool_holds_is_refused_at_load() {
    let counter = component_fixture("counter");
    let needed = PoolNeeds::of(&counter).core_instances;
    assert!(needed >= 2, "a componentized module is several instances");
    let allowed = u32::try_from(needed - 1).unwrap();
    let engine = engine_with(EngineConfig::default().max_core_instances_per_component(allowed));
    let err = engine.load(&ComponentId::new("big"), &counter).unwrap_err();
    match &err {
        WasmError::PoolTooSmall {
            component,
            resource: PoolResource::CoreInstances,
            needed: n,
            allowed: a,
        } => {
            assert_eq!(component.as_str(), "big");
            assert_eq!(*n, needed);
            assert_eq!(*a, u64::from(allowed));
        }
        other => panic!("expected PoolTooSmall, got {other:?}"),
    }
    let text = err.to_string();
    for part in [
        "component big",
        &format!("needs {needed} core instances per component"),
        &format!("the pool allows {allowed}"),
        "EngineConfig::max_core_instances_per_component",
        "[host] max_core_instances_per_component",
    ] {
        assert!(text.contains(part), "{text:?} lacks {part:?}");
    }
}

#[tokio::test]
async fn a_component_that_exactly_fits_the_pool_loads_and_runs() {
    let counter = component_fixture("counter");
    let needed = PoolNeeds::of(&counter);
    // A pool of exactly what was read: if the count were short of what
    // wasmtime counts, instantiation would fail here.
    let engine = engine_with(
        EngineConfig::default()
            .max_core_instances_per_component(u32::try_from(needed.core_instances).unwrap())
            .max_tables_per_component(u32::try_from(needed.tables).unwrap())
            .max_memories_per_component(u32::try_from(needed.memories).unwrap()),
    );
    let mut guest = spawn_bytes(
        &engine,
        &counter,
        "fits",
        Arc::new(NoHostServices),
        ComponentLimits::default(),
        Permissions::default(),
    )
    .await;
    guest
        .handle_message(&GuestMessage::new(&b"inc"[..]))
        .await
        .unwrap();
}

#[test]
fn more_core_instances_than_the_old_fixed_eight_load_by_default() {
    let counter = component_fixture("counter");
    let engine = engine_with(EngineConfig::default());
    assert!(PoolNeeds::of(&counter).core_instances <= 32);
    engine.load(&ComponentId::new("c"), &counter).unwrap();
    assert_eq!(
        EngineConfig::default()
            .build()
            .max_core_instances_per_component,
        32
    );
}

/// A core module of the ABI whose memory starts at `pages` 64 KiB pages
/// and whose table starts at `elements`.
fn sized_module(pages: u64, elements: u64) -> String {
    fixture("echo").replacen(
        "(memory (export \"memory\") 1)",
        &format!("(memory (export \"memory\") {pages}) (table {elements} funcref)"),
        1,
    )
}

#[test]
fn a_table_larger_at_start_than_the_pool_slot_is_refused_naming_max_table_elements() {
    let module = sized_module(1, 200_000);
    let err = engine_with(EngineConfig::default())
        .load(&ComponentId::new("t"), module.as_bytes())
        .unwrap_err();
    assert!(
        matches!(
            err,
            WasmError::PoolTooSmall {
                resource: PoolResource::TableElements,
                needed: 200_000,
                allowed: 100_000,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("[host] max_table_elements"));
    engine_with(EngineConfig::default().max_table_elements(200_000))
        .load(&ComponentId::new("t"), module.as_bytes())
        .unwrap();
}

#[test]
fn a_memory_larger_at_start_than_the_pool_slot_is_refused_naming_max_memory_per_component() {
    // 32 pages = 2 MiB against 1 MiB slots.
    let module = sized_module(32, 1);
    let err = engine_with(EngineConfig::default().max_memory_per_component(1 << 20))
        .load(&ComponentId::new("m"), module.as_bytes())
        .unwrap_err();
    assert!(
        matches!(
            err,
            WasmError::PoolTooSmall {
                resource: PoolResource::MemoryBytes,
                needed: 2_097_152,
                allowed: 1_048_576,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("[host] max_memory_per_component"));
}

#[test]
fn without_the_pool_only_the_core_instance_limit_applies() {
    let module = sized_module(1, 200_000);
    engine_with(EngineConfig::default().pooling(false))
        .load(&ComponentId::new("t"), module.as_bytes())
        .unwrap();
    let counter = component_fixture("counter");
    let err = engine_with(
        EngineConfig::default()
            .pooling(false)
            .max_core_instances_per_component(1),
    )
    .load(&ComponentId::new("c"), &counter)
    .unwrap_err();
    assert!(
        matches!(
            err,
            WasmError::PoolTooSmall {
                resource: PoolResource::CoreInstances,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A hand-written component: a module with a memory and a table,
/// instantiated twice inside a nested component that is instantiated
/// twice, and once more through an outer alias at the top level.
const NESTED: &str = r#"
(component
  (core module $m (memory 3) (table 7 funcref))
  (core module $empty)
  (component $inner
    (core module $n (memory 2) (table 11 funcref))
    (core instance (instantiate $n))
    (core instance (instantiate $n))
  )
  (instance (instantiate $inner))
  (instance (instantiate $inner))
  (component $outer_alias
    (alias outer 1 $m (core module $m2))
    (core instance (instantiate $m2))
  )
  (instance (instantiate $outer_alias))
  (core instance (instantiate $empty))
)
"#;

#[test]
fn nested_modules_and_components_count_once_per_instantiation() {
    let bytes = wat::parse_str(NESTED).unwrap();
    assert_eq!(
        PoolNeeds::of(&bytes),
        PoolNeeds {
            core_instances: 6,
            memories: 5,
            tables: 5,
            largest_memory_bytes: 3 * 65_536,
            largest_table_elements: 11,
        }
    );
}

#[test]
fn the_count_read_is_the_one_wasmtime_enforces() {
    use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
    let bytes = wat::parse_str(NESTED).unwrap();
    let needs = PoolNeeds::of(&bytes);
    let instantiate = |core_instances: u32| {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(1)
            .total_core_instances(16)
            .total_memories(8)
            .total_tables(8)
            .max_memories_per_component(8)
            .max_tables_per_component(8)
            .max_memory_size(1 << 20)
            .max_core_instances_per_component(core_instances);
        let mut config = Config::new();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).unwrap();
        // wasmtime checks a component against the pool when it compiles it.
        let component = wasmtime::component::Component::new(&engine, &bytes)?;
        let linker = wasmtime::component::Linker::<()>::new(&engine);
        linker.instantiate(&mut Store::new(&engine, ()), &component)
    };
    let exact = u32::try_from(needs.core_instances).unwrap();
    instantiate(exact).unwrap();
    assert!(instantiate(exact - 1).is_err());
}
