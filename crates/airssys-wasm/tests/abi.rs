//! The core ABI as seen from the host: message layout, reply, init,
//! cleanup, health, typed invoke.

mod common;

use airssys_wasm::{
    ComponentLimits, GuestError, GuestHealth, GuestMessage, Permissions, WasmType, WasmValue,
};
use common::*;

/// The most a delivery's future may take: the core path's typed call
/// (224 bytes in wasmtime 48) and the few values kept beside it.
const DELIVERY_FUTURE_BYTES: usize = 320;

#[tokio::test]
async fn message_layout_matches_the_documented_header() {
    let engine = engine();
    let mut guest = spawn(&engine, "inspect", "inspect").await;
    let msg = GuestMessage::new(&b"payload!"[..])
        .from("alice")
        .subject("orders.eu")
        .correlation_id(0x0102_0304_0506_0708);
    let raw = guest.handle_message(&msg).await.unwrap().unwrap();
    let u32_at = |o: usize| u32::from_le_bytes(raw[o..o + 4].try_into().unwrap());
    assert_eq!(u32_at(0), 1, "flags: correlation present");
    assert_eq!(u32_at(4), 5);
    assert_eq!(u32_at(8), 9);
    assert_eq!(u32_at(12), 8);
    assert_eq!(
        u64::from_le_bytes(raw[16..24].try_into().unwrap()),
        0x0102_0304_0506_0708
    );
    assert_eq!(&raw[24..], b"aliceorders.eupayload!");

    let raw = guest
        .handle_message(&GuestMessage::new(&b"p"[..]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw.len(), 25);
    let mut header = [0u8; 24];
    header[12] = 1; // payload_len = 1; no flags, sender, subject, correlation
    assert_eq!(&raw[..24], &header);
    assert_eq!(raw[24], b'p');
}

/// A delivery's future is awaited inline by the component's actor, so
/// its size is part of every live component's task, idle or not (see
/// docs/performance.md, "A million components"): the first message's
/// buffer growth and the component form's typed call run boxed so that
/// what stays inline is the core call alone.
#[tokio::test]
async fn a_deliverys_future_holds_only_the_core_call() {
    let engine = engine();
    let mut guest = spawn(&engine, "inspect", "inspect").await;
    let msg = GuestMessage::new(&b"x"[..]);
    let delivery = guest.handle_message(&msg);
    let size = std::mem::size_of_val(&delivery);
    drop(delivery);
    eprintln!("a delivery's future: {size} bytes");
    assert!(
        size <= DELIVERY_FUTURE_BYTES,
        "a delivery's future takes {size} bytes, over {DELIVERY_FUTURE_BYTES}"
    );
}

#[tokio::test]
async fn handler_without_reply_returns_none() {
    let engine = engine();
    let mut guest = spawn(&engine, "health_healthy", "quiet").await;
    assert_eq!(
        guest
            .handle_message(&GuestMessage::new(&b"x"[..]))
            .await
            .unwrap(),
        None
    );
}

/// Replies twice; traps unless the first reply is `OK` (0) and the
/// second `ALREADY_REPLIED` (-7), whether or not the reply is kept.
const REPLIES_TWICE: &str = r#"(module
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "answer")
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param i32 i32) (result i32)
    (if (i32.ne (call $reply (i32.const 0) (i32.const 6)) (i32.const 0))
      (then unreachable))
    (if (i32.ne (call $reply (i32.const 0) (i32.const 6)) (i32.const -7))
      (then unreachable))
    i32.const 0))"#;

#[tokio::test]
async fn a_send_is_answered_like_a_request_but_its_reply_is_not_kept() {
    let engine = engine();
    let mut guest = spawn_bytes(
        &engine,
        REPLIES_TWICE.as_bytes(),
        "replier",
        FakeHost::new(),
        ComponentLimits::default(),
        Permissions::deny_all(),
    )
    .await;
    let msg = GuestMessage::new(&b"x"[..]);
    // The guest's calls see the same answers either way (it traps if not).
    guest.handle_send(&msg).await.unwrap();
    assert_eq!(
        guest.handle_message(&msg).await.unwrap().as_deref(),
        Some(&b"answer"[..])
    );
    guest.handle_send(&msg).await.unwrap();
}

#[tokio::test]
async fn init_runs_before_the_first_message() {
    let engine = engine();
    let mut guest = spawn(&engine, "with_init", "init").await;
    let reply = guest
        .handle_message(&GuestMessage::new(&b"x"[..]))
        .await
        .unwrap();
    assert_eq!(le_i32(&reply.unwrap()), 42);
    guest.cleanup().await.unwrap();
}

#[tokio::test]
async fn failing_init_is_a_typed_error_with_the_code() {
    let engine = engine();
    let module = engine
        .load(&"bad-init".into(), fixture("init_fails").as_bytes())
        .unwrap();
    let mut guest = module
        .instantiate(airssys_wasm::InstanceConfig::new(
            "bad-init",
            FakeHost::new(),
        ))
        .await
        .unwrap();
    match guest.init().await {
        Err(GuestError::InitFailed { component, code }) => {
            assert_eq!(component.as_str(), "bad-init");
            assert_eq!(code, 3);
        }
        other => panic!("expected InitFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn health_reports_each_status_with_the_guest_reason() {
    let engine = engine();
    let cases = [
        ("echo", GuestHealth::Healthy), // no health export
        ("health_healthy", GuestHealth::Healthy),
        (
            "health_degraded",
            GuestHealth::Degraded("cache cold".into()),
        ),
        (
            "health_unhealthy",
            GuestHealth::Unhealthy("database unreachable".into()),
        ),
    ];
    for (name, expected) in cases {
        let mut guest = spawn(&engine, name, name).await;
        assert_eq!(guest.health().await, expected, "{name}");
        assert!(!guest.is_failed());
    }
}

#[tokio::test]
async fn trapping_health_check_is_unhealthy_and_fails_the_instance() {
    let engine = engine();
    let mut guest = spawn(&engine, "health_trap", "sick").await;
    match guest.health().await {
        GuestHealth::Unhealthy(reason) => {
            assert!(
                reason.contains("sick") && reason.contains("unreachable"),
                "{reason}"
            )
        }
        other => panic!("expected Unhealthy, got {other:?}"),
    }
    assert!(guest.is_failed());
}

#[tokio::test]
async fn invoke_calls_exports_with_typed_values() {
    let engine = engine();
    let mut guest = spawn(&engine, "counter", "calc").await;
    guest
        .handle_message(&GuestMessage::new(&b"x"[..]))
        .await
        .unwrap();
    assert_eq!(
        guest.invoke("get_count", &[]).await.unwrap(),
        vec![WasmValue::I32(1)]
    );
    assert_eq!(
        guest
            .invoke("add", &[WasmValue::I32(-2), WasmValue::I64(1 << 40)])
            .await
            .unwrap(),
        vec![WasmValue::I64((1 << 40) - 2)]
    );
    assert_eq!(
        guest
            .invoke("scale", &[WasmValue::F32(1.5), WasmValue::F64(4.0)])
            .await
            .unwrap(),
        vec![WasmValue::F64(6.0)]
    );
}

#[tokio::test]
async fn invoke_rejects_unknown_exports_wrong_arity_and_wrong_types() {
    let engine = engine();
    let mut guest = spawn(&engine, "counter", "calc").await;
    match guest.invoke("nope", &[]).await {
        Err(GuestError::ExportNotFound { component, export }) => {
            assert_eq!((component.as_str(), export.as_str()), ("calc", "nope"));
        }
        other => panic!("expected ExportNotFound, got {other:?}"),
    }
    match guest.invoke("add", &[WasmValue::I32(1)]).await {
        Err(GuestError::ArityMismatch {
            export,
            expected,
            got,
            ..
        }) => {
            assert_eq!((export.as_str(), expected, got), ("add", 2, 1));
        }
        other => panic!("expected ArityMismatch, got {other:?}"),
    }
    match guest
        .invoke("add", &[WasmValue::I32(1), WasmValue::I32(2)])
        .await
    {
        Err(GuestError::TypeMismatch {
            export,
            index,
            expected,
            got,
            ..
        }) => {
            assert_eq!(export, "add");
            assert_eq!((index, expected, got), (1, WasmType::I64, WasmType::I32));
        }
        other => panic!("expected TypeMismatch, got {other:?}"),
    }
    // Argument errors do not fail the instance.
    assert!(!guest.is_failed());
    assert_eq!(
        guest.invoke("get_count", &[]).await.unwrap(),
        vec![WasmValue::I32(0)]
    );
}

#[tokio::test]
async fn cancelled_call_marks_the_instance_failed() {
    let engine = engine();
    let mut guest = spawn(&engine, "infinite_loop", "cancelled").await;
    let msg = GuestMessage::new(&b"x"[..]);
    let call = guest.handle_message(&msg);
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(20), call)
            .await
            .is_err()
    );
    assert!(guest.is_failed());
}

#[tokio::test]
async fn message_buffer_is_reused_and_abandoned_buffers_are_deallocated() {
    let engine = engine();
    let mut guest = spawn(&engine, "with_dealloc", "dealloc").await;
    assert_eq!(
        guest.invoke("started", &[]).await.unwrap(),
        vec![WasmValue::I32(1)],
        "_start ran as init"
    );
    let send = |n: usize| GuestMessage::new(vec![0u8; n]);
    guest.handle_message(&send(10)).await.unwrap(); // first buffer
    guest.handle_message(&send(5)).await.unwrap(); // fits: reused
    guest.handle_message(&send(10)).await.unwrap(); // fits: reused
    assert_eq!(
        guest.invoke("freed", &[]).await.unwrap(),
        vec![WasmValue::I32(0)]
    );
    guest.handle_message(&send(100)).await.unwrap(); // larger: new buffer, old freed
    assert_eq!(
        guest.invoke("freed", &[]).await.unwrap(),
        vec![WasmValue::I32(1)]
    );
}
