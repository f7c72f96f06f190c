//! Loading guests: form detection, WAT and binary input, typed rejections,
//! the compiled-module cache, engine allocator choice.

mod common;

use std::sync::Arc;

use airssys_wasm::{
    detect_form, AllocatorKind, BinaryForm, ComponentId, EngineConfig, GuestMessage,
    InstanceConfig, NoHostServices, WasmEngine, WasmError,
};
use common::*;

fn id(s: &str) -> ComponentId {
    ComponentId::new(s)
}

#[tokio::test]
async fn wat_text_and_binary_forms_both_load_and_run() {
    let engine = engine();
    for bytes in [fixture("echo").into_bytes(), fixture_binary("echo")] {
        let module = engine.load(&id("echo"), &bytes).unwrap();
        let mut guest = module
            .instantiate(InstanceConfig::new("echo", Arc::new(NoHostServices)))
            .await
            .unwrap();
        let reply = guest
            .handle_message(&GuestMessage::new(&b"ping"[..]))
            .await
            .unwrap();
        assert_eq!(reply.as_deref(), Some(&b"ping"[..]));
    }
}

#[test]
fn binary_form_is_detected_from_the_preamble() {
    assert_eq!(
        detect_form(&fixture_binary("echo")),
        Some(BinaryForm::CoreModule)
    );
    assert_eq!(
        detect_form(&fixture_binary("component")),
        Some(BinaryForm::Component)
    );
    assert_eq!(detect_form(b"\0asm"), None);
    assert_eq!(detect_form(b"hello world"), None);
}

#[test]
fn truncated_binary_is_rejected_as_invalid() {
    let engine = engine();
    let full = fixture_binary("echo");
    for cut in [2, 6, 20, full.len() - 3] {
        match engine.load(&id("cut"), &full[..cut]) {
            Err(WasmError::InvalidBinary { component, reason }) => {
                assert_eq!(component.as_str(), "cut");
                assert!(!reason.is_empty());
            }
            other => panic!("cut at {cut}: expected InvalidBinary, got {other:?}"),
        }
    }
}

#[test]
fn bytes_that_are_not_wasm_are_rejected_as_invalid() {
    let engine = engine();
    let text = std::fs::read(format!(
        "{}/tests/fixtures/not_wasm.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for bytes in [&text[..], &[0xff, 0xfe, 0x00, 0x01, 0x02][..]] {
        match engine.load(&id("junk"), bytes) {
            Err(WasmError::InvalidBinary { component, reason }) => {
                assert_eq!(component.as_str(), "junk");
                assert!(reason.contains("preamble"), "{reason}");
            }
            other => panic!("expected InvalidBinary, got {other:?}"),
        }
    }
}

#[test]
fn a_component_outside_the_world_is_refused_for_its_missing_handler() {
    let engine = engine();
    match engine.load(&id("comp"), fixture("component").as_bytes()) {
        Err(WasmError::MissingExports { component, missing }) => {
            assert_eq!(component.as_str(), "comp");
            assert_eq!(missing, ["handle-message"]);
        }
        other => panic!("expected MissingExports, got {other:?}"),
    }
}

#[test]
fn missing_exports_are_listed_exactly() {
    let engine = engine();
    let cases = [
        ("missing_handle_message", vec!["handle-message"]),
        ("missing_memory", vec!["memory"]),
        (
            "missing_everything",
            vec!["memory", "alloc", "handle-message"],
        ),
    ];
    for (name, expected) in cases {
        match engine.load(&id(name), fixture(name).as_bytes()) {
            Err(WasmError::MissingExports { component, missing }) => {
                assert_eq!(component.as_str(), name);
                assert_eq!(missing, expected, "{name}");
            }
            other => panic!("{name}: expected MissingExports, got {other:?}"),
        }
    }
}

#[test]
fn unknown_imports_such_as_wasi_are_rejected() {
    let engine = engine();
    match engine.load(&id("wasi"), fixture("wasi_import").as_bytes()) {
        Err(WasmError::UnresolvedImport { component, reason }) => {
            assert_eq!(component.as_str(), "wasi");
            assert!(reason.contains("wasi_snapshot_preview1"), "{reason}");
        }
        other => panic!("expected UnresolvedImport, got {other:?}"),
    }
}

#[tokio::test]
async fn a_guest_compiled_once_loads_from_the_disk_cache_in_a_later_engine() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        EngineConfig::default()
            .max_components(4)
            .compile_cache(dir.path())
    };
    // Two engines, as two processes would have: the second finds the
    // first's compiled code on disk.
    let first = WasmEngine::new(config()).unwrap();
    first
        .load(&id("echo"), fixture_binary("echo").as_slice())
        .unwrap();
    assert_eq!(first.compile_cache_stats(), Some((0, 1)));
    let second = WasmEngine::new(config()).unwrap();
    let module = second
        .load(&id("echo"), fixture_binary("echo").as_slice())
        .unwrap();
    assert_eq!(second.compile_cache_stats(), Some((1, 0)));
    let mut guest = module
        .instantiate(InstanceConfig::new("echo", Arc::new(NoHostServices)))
        .await
        .unwrap();
    let reply = guest
        .handle_message(&GuestMessage::new(&b"ping"[..]))
        .await
        .unwrap();
    assert_eq!(reply.as_deref(), Some(&b"ping"[..]));
    // Another engine setting is another key: compiled again, not reused.
    let fuel = WasmEngine::new(config().fuel(true)).unwrap();
    fuel.load(&id("echo"), fixture_binary("echo").as_slice())
        .unwrap();
    assert_eq!(fuel.compile_cache_stats(), Some((0, 1)));
    // Corrupt entries are compiled again, never loaded.
    for entry in walk(dir.path()) {
        std::fs::write(&entry, b"not compiled code").unwrap();
    }
    let third = WasmEngine::new(config()).unwrap();
    third
        .load(&id("echo"), fixture_binary("echo").as_slice())
        .unwrap();
    assert_eq!(third.compile_cache_stats(), Some((0, 1)));
    // Without a cache, nothing is counted.
    assert_eq!(engine().compile_cache_stats(), None);
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn failed_loads_are_not_cached() {
    let engine = engine();
    assert!(engine.load(&id("a"), b"junk").is_err());
    assert_eq!(engine.cached_modules(), 0);
}

#[tokio::test]
async fn many_spawns_of_one_module_compile_it_once_and_start_fresh() {
    let engine = engine();
    let source = fixture("counter");
    for i in 0..10_000 {
        let module = engine.load(&id("counter"), source.as_bytes()).unwrap();
        if i % 1000 == 0 {
            let mut guest = module
                .instantiate(InstanceConfig::new(
                    format!("counter-{i}"),
                    Arc::new(NoHostServices),
                ))
                .await
                .unwrap();
            // Fresh state: the first message always counts 1.
            let reply = guest
                .handle_message(&GuestMessage::new(&b"x"[..]))
                .await
                .unwrap();
            assert_eq!(le_i32(&reply.unwrap()), 1);
            let reply = guest
                .handle_message(&GuestMessage::new(&b"x"[..]))
                .await
                .unwrap();
            assert_eq!(le_i32(&reply.unwrap()), 2);
        }
    }
    assert_eq!(engine.compile_count(), 1);
    assert_eq!(engine.cached_modules(), 1);
}

/// An echo module made distinct by an exported constant.
fn distinct_echo(n: usize) -> String {
    let echo = fixture("echo");
    let end = echo.rfind(')').expect("a module ends with `)`");
    format!(
        "{} (global (export \"variant\") i32 (i32.const {n})))",
        &echo[..end]
    )
}

#[test]
fn the_module_cache_evicts_the_oldest_unused_guests_past_its_capacity() {
    let engine = WasmEngine::new(
        EngineConfig::default()
            .max_components(4)
            .module_cache_capacity(3),
    )
    .unwrap();
    for n in 0..10 {
        engine
            .load(&id("echo"), distinct_echo(n).as_bytes())
            .unwrap();
        assert!(
            engine.cached_modules() <= 3,
            "after {n}: {}",
            engine.cached_modules()
        );
    }
    assert_eq!(engine.cached_modules(), 3);
    assert_eq!(engine.evicted_modules(), 7);
    // The three newest are still cached; the oldest compiles again.
    engine
        .load(&id("echo"), distinct_echo(9).as_bytes())
        .unwrap();
    assert_eq!(engine.compile_count(), 10);
    engine
        .load(&id("echo"), distinct_echo(0).as_bytes())
        .unwrap();
    assert_eq!(engine.compile_count(), 11);
}

#[test]
fn the_module_cache_never_evicts_a_guest_still_in_use() {
    let engine = WasmEngine::new(
        EngineConfig::default()
            .max_components(4)
            .module_cache_capacity(2),
    )
    .unwrap();
    // Held, as a live component's template holds its module.
    let held: Vec<_> = (0..3)
        .map(|n| {
            engine
                .load(&id("echo"), distinct_echo(n).as_bytes())
                .unwrap()
        })
        .collect();
    for n in 3..8 {
        engine
            .load(&id("echo"), distinct_echo(n).as_bytes())
            .unwrap();
    }
    // The three in use stay, with the newest unused one (capacity 2).
    assert_eq!(engine.cached_modules(), 4);
    for n in 0..3 {
        engine
            .load(&id("echo"), distinct_echo(n).as_bytes())
            .unwrap();
    }
    assert_eq!(
        engine.compile_count(),
        8,
        "no held guest was compiled twice"
    );
    drop(held);
    engine
        .load(&id("echo"), distinct_echo(8).as_bytes())
        .unwrap();
    assert_eq!(
        engine.cached_modules(),
        2,
        "released guests are evictable again"
    );
}

#[tokio::test]
async fn async_load_compiles_off_the_worker_and_shares_the_cache() {
    let engine = engine();
    let source = fixture("echo").into_bytes();
    let a = engine.load_async(id("echo"), source.clone()).await.unwrap();
    let b = engine.load_async(id("echo"), source.clone()).await.unwrap();
    engine.load(&id("echo"), &source).unwrap();
    assert_eq!(engine.compile_count(), 1);
    drop((a, b));
    assert!(matches!(
        engine.load_async(id("junk"), b"junk".to_vec()).await,
        Err(WasmError::InvalidBinary { .. })
    ));
}

#[tokio::test]
async fn ten_thousand_instantiations_from_the_cache_compile_once() {
    let engine = WasmEngine::new(EngineConfig::default().max_components(16)).unwrap();
    let source = fixture("counter");
    for i in 0..10_000 {
        let module = engine.load(&id("counter"), source.as_bytes()).unwrap();
        let guest = module
            .instantiate(InstanceConfig::new(
                format!("c{i}"),
                Arc::new(NoHostServices),
            ))
            .await
            .unwrap();
        drop(guest); // frees the pool slot
    }
    assert_eq!(engine.compile_count(), 1);
}

#[tokio::test]
async fn pool_exhaustion_is_a_typed_capacity_error_not_a_hang() {
    let engine = WasmEngine::new(EngineConfig::default().max_components(2)).unwrap();
    assert_eq!(engine.allocator(), &AllocatorKind::Pooling);
    let module = engine
        .load(&id("echo"), fixture("echo").as_bytes())
        .unwrap();
    let cfg = |n: &str| InstanceConfig::new(n, Arc::new(NoHostServices));
    let a = module.instantiate(cfg("a")).await.unwrap();
    let _b = module.instantiate(cfg("b")).await.unwrap();
    let third = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        module.instantiate(cfg("c")),
    )
    .await
    .expect("instantiation must fail fast, not wait for a slot");
    match third {
        Err(WasmError::Capacity { component, reason }) => {
            assert_eq!(component.as_str(), "c");
            assert!(!reason.is_empty());
        }
        other => panic!("expected Capacity, got {:?}", other.err()),
    }
    // Freeing a slot makes room again.
    drop(a);
    module.instantiate(cfg("d")).await.unwrap();
}

#[tokio::test]
async fn unreservable_pool_falls_back_to_on_demand_allocation() {
    let engine = WasmEngine::new(
        EngineConfig::default()
            .max_components(u32::MAX / 2)
            .max_memory_per_component(1 << 32),
    )
    .unwrap();
    match engine.allocator() {
        AllocatorKind::OnDemand { reason } => assert!(!reason.is_empty()),
        other => panic!("expected on-demand fallback, got {other:?}"),
    }
    // And it still runs guests.
    let module = engine
        .load(&id("echo"), fixture("echo").as_bytes())
        .unwrap();
    let mut guest = module
        .instantiate(InstanceConfig::new("echo", Arc::new(NoHostServices)))
        .await
        .unwrap();
    let reply = guest
        .handle_message(&GuestMessage::new(&b"ok"[..]))
        .await
        .unwrap();
    assert_eq!(reply.as_deref(), Some(&b"ok"[..]));
}

#[test]
fn pooling_can_be_disabled() {
    let engine = WasmEngine::new(EngineConfig::default().pooling(false)).unwrap();
    assert!(matches!(engine.allocator(), AllocatorKind::OnDemand { .. }));
}

#[test]
fn public_types_are_send_and_sync_where_the_actor_needs_it() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<WasmEngine>();
    send_sync::<airssys_wasm::GuestModule>();
    send::<airssys_wasm::GuestInstance>();
    send_sync::<WasmError>();
    send_sync::<airssys_wasm::GuestError>();
}

/// The futures an actor awaits in `handle_message` must be `Send` so the
/// actor can run on a multi-threaded runtime. Compile-time check only.
#[allow(dead_code)]
fn guest_futures_are_send(
    guest: &mut airssys_wasm::GuestInstance,
    msg: &GuestMessage,
    module: &airssys_wasm::GuestModule,
    cfg: InstanceConfig,
) {
    fn is_send<T: Send>(_: T) {}
    is_send(module.instantiate(cfg));
    is_send(guest.init());
    is_send(guest.handle_message(msg));
    is_send(guest.invoke("f", &[]));
    is_send(guest.health());
    is_send(guest.cleanup());
}
