//! Resource limits: each violation gives its typed error naming the
//! component, and the engine keeps serving other instances afterwards.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_wasm::{
    ComponentId, ComponentLimits, EngineConfig, GuestError, GuestInstance, GuestMessage,
    InstanceConfig, NoHostServices, Permissions, WasmEngine, WasmError,
};
use common::*;

async fn spawn_limited(
    engine: &WasmEngine,
    name: &str,
    id: &str,
    limits: ComponentLimits,
) -> GuestInstance {
    spawn_with(
        engine,
        name,
        id,
        FakeHost::new(),
        limits,
        Permissions::deny_all(),
    )
    .await
}

/// A healthy echo on the same engine still works.
async fn engine_still_serves(engine: &WasmEngine) {
    let mut echo = spawn(engine, "echo", "bystander").await;
    let reply = echo
        .handle_message(&GuestMessage::new(&b"still here"[..]))
        .await
        .unwrap();
    assert_eq!(reply.as_deref(), Some(&b"still here"[..]));
}

#[tokio::test]
async fn trap_is_a_typed_error_and_fails_only_that_instance() {
    let engine = engine();
    let mut guest = spawn(&engine, "crasher", "crasher-1").await;
    let ok = guest
        .handle_message(&GuestMessage::new(&b"hello"[..]))
        .await
        .unwrap();
    assert_eq!(ok.as_deref(), Some(&b"hello"[..]));
    match guest
        .handle_message(&GuestMessage::new(&b"crash"[..]))
        .await
    {
        Err(GuestError::Trap { component, message }) => {
            assert_eq!(component.as_str(), "crasher-1");
            assert!(message.contains("unreachable"), "{message}");
        }
        other => panic!("expected Trap, got {other:?}"),
    }
    assert!(guest.is_failed());
    assert!(matches!(
        guest
            .handle_message(&GuestMessage::new(&b"hello"[..]))
            .await,
        Err(GuestError::InstanceFailed { .. })
    ));
    engine_still_serves(&engine).await;
}

#[tokio::test]
async fn handler_failure_code_is_returned_without_failing_the_instance() {
    let engine = engine();
    let mut guest = spawn(&engine, "crasher", "crasher-2").await;
    match guest.handle_message(&GuestMessage::new(&b"fail"[..])).await {
        Err(GuestError::HandlerFailed { component, code }) => {
            assert_eq!(component.as_str(), "crasher-2");
            assert_eq!(code, 7);
        }
        other => panic!("expected HandlerFailed, got {other:?}"),
    }
    assert!(!guest.is_failed());
    assert!(guest
        .handle_message(&GuestMessage::new(&b"ok"[..]))
        .await
        .is_ok());
}

#[tokio::test]
async fn infinite_loop_times_out_with_the_limit_and_does_not_block_the_runtime() {
    let engine = engine();
    let limit = Duration::from_millis(50);
    let mut guest = spawn_limited(
        &engine,
        "infinite_loop",
        "looper",
        ComponentLimits::default().execution_timeout(limit),
    )
    .await;
    // A concurrent task on the same current-thread runtime must keep running
    // while the guest loops: the guest yields every epoch tick.
    let progress = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = progress.clone();
    let ticker = tokio::spawn(async move {
        loop {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::task::yield_now().await;
        }
    });
    let started = Instant::now();
    match guest.handle_message(&GuestMessage::new(&b"spin"[..])).await {
        Err(GuestError::ExecutionTimeout {
            component,
            limit: l,
        }) => {
            assert_eq!(component.as_str(), "looper");
            assert_eq!(l, limit);
        }
        other => panic!("expected ExecutionTimeout, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(took >= limit, "interrupted early: {took:?}");
    assert!(took < Duration::from_secs(2), "interrupted late: {took:?}");
    let during = progress.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        during >= 5,
        "other task ran only {during} times while the guest looped"
    );
    ticker.abort();
    engine_still_serves(&engine).await;
}

#[tokio::test]
async fn memory_bomb_hits_the_limiter_with_the_limit() {
    let engine = engine();
    let cap = 2 * 1024 * 1024;
    let mut guest = spawn_limited(
        &engine,
        "memory_bomb",
        "bomb",
        ComponentLimits::default().max_memory_bytes(cap),
    )
    .await;
    match guest.handle_message(&GuestMessage::new(&b"boom"[..])).await {
        Err(GuestError::MemoryLimitExceeded { component, limit }) => {
            assert_eq!(component.as_str(), "bomb");
            assert_eq!(limit, cap);
        }
        other => panic!("expected MemoryLimitExceeded, got {other:?}"),
    }
    engine_still_serves(&engine).await;
}

#[tokio::test]
async fn memory_cap_is_bounded_by_the_pool_slot() {
    let slot = 4 * 1024 * 1024;
    let engine = WasmEngine::new(
        EngineConfig::default()
            .max_components(8)
            .max_memory_per_component(slot),
    )
    .unwrap();
    let mut guest = spawn_limited(
        &engine,
        "memory_bomb",
        "bomb",
        ComponentLimits::default().max_memory_bytes(usize::MAX),
    )
    .await;
    match guest.handle_message(&GuestMessage::new(&b"boom"[..])).await {
        Err(GuestError::MemoryLimitExceeded { limit, .. }) => assert_eq!(limit, slot),
        other => panic!("expected MemoryLimitExceeded, got {other:?}"),
    }
}

#[tokio::test]
async fn initial_memory_above_the_cap_fails_instantiation() {
    let engine = engine();
    let module = engine
        .load(&ComponentId::new("echo"), fixture("echo").as_bytes())
        .unwrap();
    let result = module
        .instantiate(
            InstanceConfig::new("tiny", Arc::new(NoHostServices))
                .limits(ComponentLimits::default().max_memory_bytes(1024)),
        )
        .await;
    match result {
        Err(WasmError::Guest(GuestError::MemoryLimitExceeded { component, limit })) => {
            assert_eq!(component.as_str(), "tiny");
            assert_eq!(limit, 1024);
        }
        other => panic!("expected MemoryLimitExceeded, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn deep_recursion_is_a_stack_overflow() {
    let engine = engine();
    let mut guest = spawn(&engine, "deep_recursion", "recurse").await;
    match guest.handle_message(&GuestMessage::new(&b"down"[..])).await {
        Err(GuestError::StackOverflow { component }) => assert_eq!(component.as_str(), "recurse"),
        other => panic!("expected StackOverflow, got {other:?}"),
    }
    engine_still_serves(&engine).await;
}

#[tokio::test]
async fn fuel_exhaustion_is_typed_with_the_limit() {
    let engine = WasmEngine::new(EngineConfig::default().max_components(8).fuel(true)).unwrap();
    let limits = ComponentLimits::default().fuel_per_call(Some(10_000));
    let mut guest = spawn_limited(&engine, "infinite_loop", "burner", limits.clone()).await;
    match guest.handle_message(&GuestMessage::new(&b"spin"[..])).await {
        Err(GuestError::FuelExhausted { component, limit }) => {
            assert_eq!(component.as_str(), "burner");
            assert_eq!(limit, 10_000);
        }
        other => panic!("expected FuelExhausted, got {other:?}"),
    }
    // Fuel is per call: a fresh echo gets its full budget on every message.
    let mut echo = spawn_limited(&engine, "echo", "echo", limits).await;
    for _ in 0..100 {
        echo.handle_message(&GuestMessage::new(&b"x"[..]))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn fuel_limit_on_an_engine_without_fuel_is_a_config_error() {
    let engine = engine();
    let module = engine
        .load(&ComponentId::new("echo"), fixture("echo").as_bytes())
        .unwrap();
    let result = module
        .instantiate(
            InstanceConfig::new("echo", Arc::new(NoHostServices))
                .limits(ComponentLimits::default().fuel_per_call(Some(5))),
        )
        .await;
    assert!(matches!(result, Err(WasmError::InvalidConfig { .. })));
}

#[tokio::test]
async fn oversized_message_is_rejected_before_calling_the_guest() {
    let engine = engine();
    let mut guest = spawn_limited(
        &engine,
        "counter",
        "small",
        ComponentLimits::default().max_message_bytes(16),
    )
    .await;
    match guest
        .handle_message(&GuestMessage::new(vec![0u8; 17]))
        .await
    {
        Err(GuestError::MessageTooLarge {
            component,
            size,
            limit,
        }) => {
            assert_eq!(component.as_str(), "small");
            assert_eq!((size, limit), (17, 16));
        }
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    assert!(!guest.is_failed());
    // The guest was not called: its counter starts at 1 now.
    let reply = guest
        .handle_message(&GuestMessage::new(vec![0u8; 16]))
        .await
        .unwrap();
    assert_eq!(le_i32(&reply.unwrap()), 1);
}

#[tokio::test]
async fn limits_defaults_match_the_documentation() {
    let limits = ComponentLimits::default();
    assert_eq!(limits.max_memory_bytes, 16 * 1024 * 1024);
    assert_eq!(limits.execution_timeout, Duration::from_secs(1));
    assert_eq!(limits.fuel_per_call, None);
    assert_eq!(limits.max_message_bytes, 1024 * 1024);
    assert_eq!(limits.max_request_timeout, Duration::from_secs(5));
    let config = EngineConfig::default().build();
    assert_eq!(config.max_components, 1000);
    assert_eq!(config.max_memory_per_component, 64 * 1024 * 1024);
    assert_eq!(config.epoch_tick, Duration::from_millis(1));
}

#[tokio::test]
async fn growing_messages_reallocate_the_guest_buffer() {
    let engine = engine();
    let mut guest = spawn(&engine, "echo", "echo").await;
    for size in [1usize, 10, 1000, 100_000, 10, 200_000] {
        let payload = vec![(size % 251) as u8; size];
        let reply = guest
            .handle_message(&GuestMessage::new(payload.clone()))
            .await
            .unwrap();
        assert_eq!(reply.as_deref(), Some(&payload[..]));
    }
}
