//! Component Model guests (the `airssys:component` WIT world): the same
//! behaviours the core fixtures cover, through the same instance API.

mod common;

use std::sync::Arc;
use std::time::Duration;

use airssys_wasm::{
    ComponentId, ComponentLimits, ComponentValue, GuestError, GuestHealth, GuestMessage,
    InstanceConfig, Permissions, SubjectPattern, WasmError,
};
use common::{
    component_fixture, engine, other_world, spawn_component, Call, FakeHost, RequestBehaviour,
};

fn limits() -> ComponentLimits {
    ComponentLimits::default()
        .max_memory_bytes(2 << 20)
        .execution_timeout(Duration::from_millis(200))
}

#[tokio::test]
async fn a_component_echoes_a_request_with_its_sender_subject_and_correlation() {
    let engine = engine();
    let mut echo = spawn_component(
        &engine,
        "echo",
        "echo",
        FakeHost::new(),
        limits(),
        Permissions::deny_all(),
    )
    .await;
    let msg = GuestMessage::new(&b"ping"[..])
        .from("caller")
        .subject("a.b")
        .correlation_id(7);
    let reply = echo.handle_message(&msg).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"ping"[..]));
    // A large payload crosses the canonical ABI too (realloc grows memory).
    let big = vec![0xab_u8; 200_000];
    let reply = echo
        .handle_message(&GuestMessage::new(big.clone()))
        .await
        .unwrap();
    assert_eq!(reply.as_deref(), Some(&big[..]));
}

#[tokio::test]
async fn a_component_sees_whether_the_message_it_handles_is_a_redelivery() {
    let engine = engine();
    let mut guest = spawn_component(
        &engine,
        "redelivery",
        "r",
        FakeHost::new(),
        limits(),
        Permissions::deny_all(),
    )
    .await;
    let fresh = GuestMessage::new(&b"x"[..]);
    let mut again = fresh.clone();
    again.redelivered = true;
    assert_eq!(
        guest.handle_message(&fresh).await.unwrap().as_deref(),
        Some(&b"N"[..])
    );
    assert_eq!(
        guest.handle_message(&again).await.unwrap().as_deref(),
        Some(&b"R"[..])
    );
    // The flag is the handled message's, not left over from the last one.
    assert_eq!(
        guest.handle_message(&fresh).await.unwrap().as_deref(),
        Some(&b"N"[..])
    );
}

#[tokio::test]
async fn a_component_keeps_state_between_messages_and_instances_do_not_share_it() {
    let engine = engine();
    let host = FakeHost::new();
    let mut first = spawn_component(
        &engine,
        "counter",
        "c1",
        host.clone(),
        limits(),
        Permissions::deny_all(),
    )
    .await;
    let mut second = spawn_component(
        &engine,
        "counter",
        "c2",
        host,
        limits(),
        Permissions::deny_all(),
    )
    .await;
    for expected in 1..=3u32 {
        let reply = first
            .handle_message(&GuestMessage::new(&b"x"[..]))
            .await
            .unwrap();
        assert_eq!(reply.as_deref(), Some(&expected.to_le_bytes()[..]));
    }
    let reply = second
        .handle_message(&GuestMessage::new(&b"x"[..]))
        .await
        .unwrap();
    assert_eq!(reply.as_deref(), Some(&1u32.to_le_bytes()[..]));
}

#[tokio::test]
async fn traps_timeouts_and_memory_bombs_are_typed_and_fail_the_instance() {
    let engine = engine();
    let host = FakeHost::new();
    let mut crasher = spawn_component(
        &engine,
        "crasher",
        "crasher",
        host.clone(),
        limits(),
        Permissions::deny_all(),
    )
    .await;
    let fine = crasher
        .handle_message(&GuestMessage::new(&b"fine"[..]))
        .await
        .unwrap();
    assert_eq!(fine.as_deref(), Some(&b"fine"[..]));
    let err = crasher
        .handle_message(&GuestMessage::new(&b"crash!"[..]))
        .await
        .unwrap_err();
    assert!(matches!(err, GuestError::Trap { .. }), "{err:?}");
    assert_eq!(err.component().as_str(), "crasher");
    assert!(crasher.is_failed());
    let again = crasher
        .handle_message(&GuestMessage::new(&b"fine"[..]))
        .await
        .unwrap_err();
    assert!(
        matches!(again, GuestError::InstanceFailed { .. }),
        "{again:?}"
    );

    let mut looping = spawn_component(
        &engine,
        "infinite_loop",
        "loop",
        host.clone(),
        limits(),
        Permissions::deny_all(),
    )
    .await;
    let err = looping
        .handle_message(&GuestMessage::new(&b"x"[..]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, GuestError::ExecutionTimeout { .. }),
        "{err:?}"
    );

    let mut bomb = spawn_component(
        &engine,
        "memory_bomb",
        "bomb",
        host,
        limits(),
        Permissions::deny_all(),
    )
    .await;
    let err = bomb
        .handle_message(&GuestMessage::new(&b"x"[..]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, GuestError::MemoryLimitExceeded { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_init_error_is_an_init_failure_naming_the_component() {
    let engine = engine();
    let module = engine
        .load(&ComponentId::new("db"), &component_fixture("init_fails"))
        .unwrap();
    let mut guest = module
        .instantiate(InstanceConfig::new("db", FakeHost::new()).limits(limits()))
        .await
        .unwrap();
    let err = guest.init().await.unwrap_err();
    assert!(
        matches!(err, GuestError::InitFailed { ref component, .. } if component.as_str() == "db"),
        "{err:?}"
    );
}

#[tokio::test]
async fn health_handler_errors_and_cleanup_follow_the_world() {
    let engine = engine();
    let mut guest = spawn_component(
        &engine,
        "health",
        "h",
        FakeHost::new(),
        limits(),
        Permissions::deny_all(),
    )
    .await;
    assert_eq!(
        guest.health().await,
        GuestHealth::Degraded("warming up".into())
    );
    let err = guest
        .handle_message(&GuestMessage::new(&b"fail"[..]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, GuestError::HandlerFailed { code: 7, .. }),
        "{err:?}"
    );
    assert!(!guest.is_failed(), "a handler error is not fatal");
    guest
        .handle_message(&GuestMessage::new(&b"ok"[..]))
        .await
        .unwrap();
    assert_eq!(guest.health().await, GuestHealth::Healthy);
    guest.cleanup().await.unwrap();
}

#[tokio::test]
async fn host_calls_go_through_the_allow_lists_and_denials_are_counted() {
    let engine = engine();
    let host = FakeHost::new();
    *host.request.lock() = RequestBehaviour::Reply(b"pong".to_vec());
    let allowed = Permissions::deny_all()
        .allow_target("echo-target")
        .allow_subject(SubjectPattern::new("events.>").unwrap());
    let mut guest = spawn_component(
        &engine,
        "host_calls",
        "caller",
        host.clone(),
        limits(),
        allowed,
    )
    .await;
    guest
        .handle_message(&GuestMessage::new(&b"shello"[..]))
        .await
        .unwrap();
    guest
        .handle_message(&GuestMessage::new(&b"pnews"[..]))
        .await
        .unwrap();
    let reply = guest
        .handle_message(&GuestMessage::new(&b"rping"[..]))
        .await
        .unwrap();
    assert_eq!(reply.as_deref(), Some(&b"pong"[..]));
    let id = guest
        .handle_message(&GuestMessage::new(&b"i"[..]))
        .await
        .unwrap();
    assert_eq!(id.as_deref(), Some(&b"caller"[..]));
    let config = guest
        .handle_message(&GuestMessage::new(&b"c"[..]))
        .await
        .unwrap();
    assert_eq!(config.as_deref(), Some(&b"none"[..]));
    let calls = host.calls();
    assert_eq!(
        calls[..2],
        [
            Call::Send {
                from: "caller".into(),
                to: "echo-target".into(),
                payload: b"hello".to_vec()
            },
            Call::Publish {
                from: "caller".into(),
                subject: "events.out".into(),
                payload: b"news".to_vec()
            },
        ]
    );
    assert!(
        matches!(&calls[2], Call::Request { to, payload, .. } if to == "echo-target" && payload == b"ping")
    );

    // The same component without permissions: every call is denied
    // (host-error `denied`, case 4, surfaced by the fixture as code 104).
    let host = FakeHost::new();
    let mut denied = spawn_component(
        &engine,
        "host_calls",
        "denied",
        host.clone(),
        limits(),
        Permissions::deny_all(),
    )
    .await;
    for op in [&b"sx"[..], b"px", b"rx"] {
        let err = denied
            .handle_message(&GuestMessage::new(op))
            .await
            .unwrap_err();
        assert!(
            matches!(err, GuestError::HandlerFailed { code: 104, .. }),
            "{err:?}"
        );
    }
    assert_eq!(denied.denied_count(), 3);
    assert!(host.calls().is_empty(), "nothing denied reaches the host");
}

#[tokio::test]
async fn config_values_reach_the_component() {
    let engine = engine();
    let module = engine
        .load(&ComponentId::new("cfg"), &component_fixture("host_calls"))
        .unwrap();
    let config: airssys_wasm::ConfigValues = [("greeting".to_string(), Arc::<str>::from("hello"))]
        .into_iter()
        .collect();
    let mut guest = module
        .instantiate(InstanceConfig::new("cfg", FakeHost::new()).config_values(Arc::new(config)))
        .await
        .unwrap();
    guest.init().await.unwrap();
    let reply = guest
        .handle_message(&GuestMessage::new(&b"c"[..]))
        .await
        .unwrap();
    assert_eq!(reply.as_deref(), Some(&b"hello"[..]));
}

#[tokio::test]
async fn invoke_dynamic_calls_exports_with_wit_values_and_checks_them_first() {
    let engine = engine();
    let mut guest = spawn_component(
        &engine,
        "health",
        "h",
        FakeHost::new(),
        limits(),
        Permissions::deny_all(),
    )
    .await;
    let results = guest.invoke_dynamic("health", &[]).await.unwrap();
    assert_eq!(
        results,
        vec![ComponentValue::Variant(
            "degraded".into(),
            Some(Box::new(ComponentValue::String("warming up".into())))
        )]
    );
    let err = guest.invoke_dynamic("nope", &[]).await.unwrap_err();
    assert!(matches!(err, GuestError::ExportNotFound { .. }), "{err:?}");
    let err = guest
        .invoke_dynamic("health", &[ComponentValue::U32(1)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            GuestError::ArityMismatch {
                expected: 0,
                got: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let message = ComponentValue::Record(vec![
        ("sender".into(), ComponentValue::Option(None)),
        ("subject".into(), ComponentValue::Option(None)),
        ("correlation-id".into(), ComponentValue::Option(None)),
        ("payload".into(), ComponentValue::String("not bytes".into())),
    ]);
    let err = guest
        .invoke_dynamic("handle-message", &[message])
        .await
        .unwrap_err();
    assert!(
        matches!(err, GuestError::ValueMismatch { index: 0, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("payload"), "{err}");
    assert!(
        !guest.is_failed(),
        "a refused call does not fail the instance"
    );
}

#[tokio::test]
async fn components_without_the_handler_or_with_a_mistyped_export_are_refused_at_load() {
    let engine = engine();
    let module = r#"(module (memory (export "memory") 1)
        (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 0)))"#;
    let no_handler = airssys_wasm::wit::componentize(module.as_bytes(), None);
    // The world requires handle-message, so wit-component refuses first.
    assert!(no_handler.is_err());

    // A component of another world, whose handle-message takes a u32.
    let bytes = other_world(
        "package other:thing; world w { export handle-message: func(x: u32) -> u32; }",
        r#"(module (memory (export "memory") 1)
            (func (export "handle-message") (param i32) (result i32) (local.get 0)))"#,
    );
    let err = engine.load(&ComponentId::new("odd"), &bytes).unwrap_err();
    match err {
        WasmError::InvalidExport {
            component,
            export,
            expected,
            found,
        } => {
            assert_eq!(component.as_str(), "odd");
            assert_eq!(export, "handle-message");
            assert!(expected.contains("record"), "{expected}");
            assert_eq!(found, "func(u32) -> u32");
        }
        other => panic!("expected InvalidExport, got {other:?}"),
    }
}

mod hosted {
    //! Components in the full host: the same actor, supervision, routing,
    //! accounting and façade as core modules, side by side with them.

    use std::time::Duration;

    use airssys_rt::broker::{DeadLetterReason, Undelivered};
    use airssys_wasm::{
        ComponentFailure, ComponentHost, ComponentSpec, ComponentValue, EngineConfig, GuestError,
        HostError, LifecycleState, Permissions,
    };
    use tokio::time::timeout;

    use super::common::{component_fixture, fixture};

    const WAIT: Duration = Duration::from_secs(10);

    fn host() -> ComponentHost {
        ComponentHost::builder()
            .engine(
                EngineConfig::default()
                    .max_components(16)
                    .max_memory_per_component(4 << 20),
            )
            .build()
            .unwrap()
    }

    fn component(id: &str, name: &str) -> ComponentSpec {
        ComponentSpec::new(id, component_fixture(name))
    }

    #[tokio::test]
    async fn a_crashing_component_is_restarted_with_fresh_state_and_its_crash_dead_lettered() {
        let host = host();
        let mut dead = host.broker().subscribe("_airssys.deadletter").unwrap();
        let counter = host.spawn(component("counter", "counter")).await.unwrap();
        let crasher = host.spawn(component("crasher", "crasher")).await.unwrap();
        assert_eq!(
            host.registry().state("crasher"),
            Some(LifecycleState::Ready)
        );
        for _ in 0..3 {
            counter.send(&b"x"[..]).await.unwrap();
        }
        let reply = counter.request(&b"x"[..], WAIT).await.unwrap().unwrap();
        assert_eq!(&reply[..], &4u32.to_le_bytes());

        crasher.send(&b"crash"[..]).await.unwrap();
        let reply = crasher.request(&b"after"[..], WAIT).await.unwrap();
        assert_eq!(reply.as_deref(), Some(&b"after"[..]));
        assert_eq!(crasher.stats().restarts, 1);
        let letter = timeout(WAIT, dead.recv()).await.unwrap().unwrap();
        assert_eq!(&letter.payload.payload[..], b"crash");
        assert!(matches!(
            letter.dead_letter,
            Some(Undelivered { ref target, reason: DeadLetterReason::HandlerFailed(_), .. }) if &**target == "crasher"
        ));
        host.shutdown(WAIT).await;
    }

    #[tokio::test]
    async fn a_component_requests_a_core_module_through_the_host() {
        let host = host();
        host.spawn(ComponentSpec::new(
            "echo-target",
            fixture("echo").into_bytes(),
        ))
        .await
        .unwrap();
        let caller = host
            .spawn(
                component("caller", "host_calls")
                    .permissions(Permissions::deny_all().allow_target("echo-target")),
            )
            .await
            .unwrap();
        let reply = caller.request(&b"rping"[..], WAIT).await.unwrap();
        assert_eq!(reply.as_deref(), Some(&b"ping"[..]));
        // A target outside the allow-list is refused inside the guest, and
        // the handler's failure comes back to the façade.
        let err = caller.request(&b"pnews"[..], WAIT).await.unwrap_err();
        assert!(
            matches!(
                err,
                HostError::HandlerFailed {
                    cause: ComponentFailure::Guest(GuestError::HandlerFailed { code: 104, .. }),
                    ..
                }
            ),
            "{err:?}"
        );
        let listed = host.list();
        let caller = listed.iter().find(|c| c.id.as_str() == "caller").unwrap();
        assert_eq!(caller.denied, 1);
        host.shutdown(WAIT).await;
    }

    #[tokio::test]
    async fn the_facade_invokes_component_exports_with_dynamic_values() {
        let host = host();
        let h = host.spawn(component("h", "health")).await.unwrap();
        let results = h.invoke_dynamic("health", vec![], WAIT).await.unwrap();
        assert!(matches!(&results[..], [ComponentValue::Variant(case, _)] if case == "degraded"));
        let err = h
            .invoke_dynamic("health", vec![ComponentValue::Bool(true)], WAIT)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                HostError::HandlerFailed {
                    cause: ComponentFailure::Guest(GuestError::ArityMismatch { .. }),
                    ..
                }
            ),
            "{err:?}"
        );
        host.shutdown(WAIT).await;
    }
}
