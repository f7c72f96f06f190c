//! The hostile-guest catalogue for Component Model guests: each case of
//! `tests/hostile.rs`, with components of the `airssys:component` world
//! (fixtures in `tests/fixtures/components/`, made components with
//! `airssys_wasm::wit::componentize`) and a component echo as the healthy
//! neighbour, plus what only the component form has (`cabi_realloc`,
//! `messaging.reply` beside a returned reply, nested core modules).
//!
//! Each test checks the four things `tests/common/hostile.rs` states: the
//! attack ends in a typed error naming the component; the host stays alive
//! (the neighbour answers, shutdown is clean); every message is accounted
//! for; the neighbour's p99 under attack stays within 2x its quiet p99 (or
//! quiet p99 + 5 ms, best of three samples). `docs/reliability.md` ("The
//! component form") lists the cases.

mod common;

use std::time::{Duration, Instant};

use airssys_rt::supervisor::{
    BackoffPolicy, ChildSpec, RestartPolicy, SupervisionEvent, SupervisorNode,
};
use airssys_wasm::{
    ComponentFailure, ComponentLimits, ComponentSpec, ComponentValue, EngineConfig, GuestError,
    GuestHealth, HostError, Permissions, SubjectPattern, WasmError,
};
use bytes::Bytes;
use common::component_fixture;
use common::hostile::*;

fn spec(id: &str, fixture_name: &str) -> ComponentSpec {
    ComponentSpec::new(id, component_fixture(fixture_name))
}

/// The healthy neighbour: the echo component.
fn neighbour() -> ComponentSpec {
    spec("neighbour", "echo")
}

/// A u32 LE at `at` of a reply.
fn word(reply: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(reply[at..at + 4].try_into().unwrap())
}

/// What the fixtures answer for a host call that failed with host-error
/// case `case` (the case + 100).
const TOO_LARGE: u32 = 102;
const TIMEOUT: u32 = 103;
const DENIED: u32 = 104;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_in_handle_message_is_interrupted_at_the_execution_timeout() {
    let _serial = SERIAL.lock().await;
    contained_fatal_attack(
        neighbour(),
        spec("attacker", "infinite_loop").limits(fast_timeout()),
        |e| {
            assert!(
                matches!(e, GuestError::ExecutionTimeout { limit, .. } if limit == Duration::from_millis(100)),
                "{e:?}"
            )
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_stops_at_its_memory_cap() {
    let _serial = SERIAL.lock().await;
    contained_fatal_attack(
        neighbour(),
        spec("attacker", "memory_bomb")
            .limits(ComponentLimits::default().max_memory_bytes(2 << 20)),
        |e| {
            assert!(
                matches!(e, GuestError::MemoryLimitExceeded { limit, .. } if limit == 2 << 20),
                "{e:?}"
            )
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_overflow_is_a_typed_error_not_a_crash() {
    let _serial = SERIAL.lock().await;
    contained_fatal_attack(neighbour(), spec("attacker", "deep_recursion"), |e| {
        assert!(matches!(e, GuestError::StackOverflow { .. }), "{e:?}")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_storm_exceeds_its_group_intensity_and_escalates_without_touching_other_groups() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let group = |name: &'static str| {
        host.supervisor().add_supervisor(
            ChildSpec::new(name).restart(RestartPolicy::Temporary),
            SupervisorNode::builder(name)
                .intensity(2, Duration::from_secs(60))
                .backoff(BackoffPolicy::none()),
        )
    };
    let storm = group("storm").await.unwrap();
    let calm = group("calm").await.unwrap();
    let attacker = host
        .spawn_in(&storm, spec("attacker", "crashing_counter"))
        .await
        .unwrap();
    let bystander = host
        .spawn_in(&calm, spec("bystander", "crashing_counter"))
        .await
        .unwrap();
    bystander.send(&b"before"[..]).await.unwrap();
    let mut events = host.supervisor().events();
    const CRASHES: u64 = 10;
    let handle = attacker.clone();
    neighbour
        .under_attack(|_stop| async move {
            for _ in 0..CRASHES {
                handle.send(&b"!crash"[..]).await.unwrap();
            }
            loop {
                match events.recv().await.unwrap() {
                    SupervisionEvent::SupervisorFailed { supervisor, .. }
                        if supervisor == "storm" =>
                    {
                        break
                    }
                    _ => {}
                }
            }
        })
        .await;
    // The crashes that ran failed the component; the ones still queued
    // when the group gave up were dead-lettered as stopped.
    settle(&host, "storm dead letters", |h| {
        h.dead_letter_stats().total() == CRASHES
    })
    .await;
    let dead = host.dead_letter_stats();
    assert_eq!(
        dead.component_failed, 3,
        "intensity 2: the third crash escalates"
    );
    assert_eq!(dead.component_stopped, CRASHES - 3);
    let crashed = info(&host, "attacker");
    assert_eq!((crashed.handled, crashed.failed), (0, 3));
    let refused = attacker.send(&b"late"[..]).await.unwrap_err();
    assert!(
        matches!(&refused, HostError::ComponentStopped { component, payload: Some(_) } if component.as_str() == "attacker"),
        "{refused:?}"
    );
    // The other group is untouched: same instance, state kept.
    let reply = bystander.request(&b"after"[..], WAIT).await.unwrap();
    assert_eq!(word(&reply.unwrap(), 0), 2, "its count survived the storm");
    assert_eq!(bystander.stats().restarts, 0);
    neighbour.host_alive_and_shutdown(&host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_payload_in_is_handed_back_or_dead_lettered_without_calling_the_guest() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let victim = host
        .spawn(
            spec("victim", "echo")
                .limits(ComponentLimits::default().max_message_bytes(1024))
                .subscribe("big.in"),
        )
        .await
        .unwrap();
    let h = host.clone();
    let published = neighbour
        .under_attack(|stop| async move {
            let big = Bytes::from(vec![7u8; 4096]);
            let mut published = 0u64;
            loop {
                match victim.request(big.clone(), WAIT).await {
                    Err(HostError::MessageTooLarge {
                        component,
                        size,
                        limit,
                        payload,
                    }) => {
                        assert_eq!(component.as_str(), "victim");
                        assert_eq!((size, limit), (4096, 1024));
                        assert_eq!(payload, big);
                    }
                    other => panic!("expected MessageTooLarge, got {other:?}"),
                }
                let refused = victim.send(big.clone()).await.unwrap_err();
                assert_eq!(refused.into_payload(), Some(big.clone()));
                let report = h.publish("big.in", big.clone()).unwrap();
                assert_eq!(report.matched, 1);
                published += report.delivered as u64;
                if stop.stopped() {
                    return published;
                }
            }
        })
        .await;
    settle(&host, "oversized publishes", |h| {
        h.dead_letter_stats().rejected == published
    })
    .await;
    let v = info(&host, "victim");
    assert_eq!((v.handled, v.failed, v.restarts), (0, published, 0));
    assert_eq!(host.dead_letter_stats().total(), published);
    neighbour.host_alive_and_shutdown(&host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_payload_out_is_refused_with_too_large_on_send_publish_reply_and_return() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    host.spawn(spec("victim", "echo").subscribe("big.out"))
        .await
        .unwrap();
    let attacker = spawn_attacker(
        &host,
        spec("attacker", "oversized_out")
            .limits(ComponentLimits::default().max_message_bytes(1024))
            .permissions(
                Permissions::deny_all()
                    .allow_target("victim")
                    .allow_subject(SubjectPattern::new("big.>").unwrap()),
            ),
    )
    .await;
    let rounds = neighbour
        .under_attack(|stop| async move {
            let mut rounds = 0u64;
            loop {
                let reply = attacker.request(&b"go"[..], WAIT).await.unwrap().unwrap();
                assert_eq!(
                    [word(&reply, 0), word(&reply, 4), word(&reply, 8)],
                    [TOO_LARGE; 3],
                    "send, publish and reply of 4096 bytes over a 1024 limit"
                );
                // A reply returned from handle-message over the limit.
                match guest_error(attacker.request(&b"big"[..], WAIT).await, "attacker") {
                    GuestError::MessageTooLarge { size, limit, .. } => {
                        assert_eq!((size, limit), (4096, 1024))
                    }
                    other => panic!("expected MessageTooLarge, got {other:?}"),
                }
                rounds += 1;
                if stop.stopped() {
                    return rounds;
                }
            }
        })
        .await;
    // The oversized return failed its message (dead-lettered) without
    // failing the instance: no restart.
    settle(&host, "oversized returns", |h| {
        h.dead_letter_stats().total() == rounds
    })
    .await;
    let a = info(&host, "attacker");
    assert_eq!((a.handled, a.failed, a.restarts), (rounds, rounds, 0));
    assert_eq!(info(&host, "victim").handled, 0, "nothing got through");
    neighbour.host_alive_and_shutdown(&host).await;
}

/// A fatal attack whose error is an ABI violation mentioning `expected`.
async fn abi_violation_case(attacker: ComponentSpec, expected: &'static str) {
    contained_fatal_attack(neighbour(), attacker, move |e| match e {
        GuestError::AbiViolation { reason, .. } => {
            assert!(reason.contains(expected), "{reason}")
        }
        other => panic!("expected AbiViolation, got {other:?}"),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cabi_realloc_returning_an_out_of_bounds_pointer_is_an_abi_violation() {
    let _serial = SERIAL.lock().await;
    abi_violation_case(
        spec("attacker", "realloc_out_of_bounds"),
        "realloc return: beyond end of memory",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cabi_realloc_returning_a_misaligned_pointer_is_an_abi_violation() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let h = host.clone();
    // Only init's config (a list of string pairs) is aligned to more than a
    // byte, so the attack is a spawn with a config: refused, nothing kept.
    let refusals = neighbour
        .under_attack(|stop| async move {
            let mut refusals = 0u64;
            loop {
                let attacker = spec("attacker", "realloc_misaligned").config("key", "value");
                match h.spawn(attacker).await {
                    Err(HostError::Guest(GuestError::AbiViolation { component, reason })) => {
                        assert_eq!(component.as_str(), "attacker");
                        assert!(
                            reason.contains("realloc return: result not aligned"),
                            "{reason}"
                        );
                    }
                    other => panic!("expected an ABI violation at init, got {other:?}"),
                }
                assert!(h.component("attacker").is_none());
                refusals += 1;
                if stop.stopped() {
                    return refusals;
                }
            }
        })
        .await;
    assert!(refusals > 0);
    assert_eq!(host.list().len(), 1, "only the neighbour is registered");
    // Without a config nothing 4-aligned is allocated: it runs.
    let plain = host
        .spawn(spec("plain", "realloc_misaligned"))
        .await
        .unwrap();
    let reply = plain.request(&b"fine"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"fine"[..]));
    neighbour.host_alive_and_shutdown(&host).await;
}

/// Where the last top-level section of `component` that is not a custom
/// section ends: cut there or later, only custom sections are lost and
/// the component is whole.
fn last_section_end(component: &[u8]) -> usize {
    let (mut depth, mut end) = (0usize, 0usize);
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let payload = payload.unwrap();
        if depth == 0 {
            if let Some((id, range)) = payload.as_section() {
                if id != 0 {
                    end = range.end;
                }
            }
        }
        match payload {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) if depth > 0 => depth -= 1,
            _ => {}
        }
    }
    end
}

/// Where the first code section of a core module nested in `component`
/// ends.
fn nested_code_end(component: &[u8]) -> usize {
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        if let wasmparser::Payload::CodeSectionStart { range, .. } = payload.unwrap() {
            return range.end;
        }
    }
    panic!("no nested code section")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_truncated_components_are_refused_with_a_typed_error() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let h = host.clone();
    let refusals = neighbour
        .under_attack(|stop| async move {
            let echo = component_fixture("echo");
            let whole = last_section_end(&echo);
            let mut refusals = 0u64;
            loop {
                let e = refused(&h, "bad-layer", b"\0asm\x0d\0\x02\0rest".to_vec()).await;
                assert!(matches!(e, WasmError::InvalidBinary { .. }), "{e:?}");
                let mut garbage = echo[..8].to_vec();
                garbage.extend_from_slice(&[0xff; 300]);
                let e = refused(&h, "garbage", garbage).await;
                assert!(matches!(e, WasmError::InvalidBinary { .. }), "{e:?}");
                // Every prefix of a valid component short of its last
                // section: invalid, or valid but without handle-message.
                for cut in (0..whole).step_by(7) {
                    let e = refused(&h, "truncated", echo[..cut].to_vec()).await;
                    assert!(
                        matches!(
                            e,
                            WasmError::InvalidBinary { .. } | WasmError::MissingExports { .. }
                        ),
                        "cut at {cut}: {e:?}"
                    );
                    refusals += 1;
                }
                // A corrupted byte in the nested core module's code: the
                // last body loses its `end`.
                let mut flipped = echo.clone();
                flipped[nested_code_end(&echo) - 1] = 0xfe;
                let e = refused(&h, "corrupted", flipped).await;
                assert!(matches!(e, WasmError::InvalidBinary { .. }), "{e:?}");
                refusals += 3;
                if stop.stopped() {
                    return refusals;
                }
            }
        })
        .await;
    assert!(refusals > 0);
    assert_eq!(host.list().len(), 1, "only the neighbour is registered");
    neighbour.host_alive_and_shutdown(&host).await;
}

/// A component of another world (`wit`, world `w`) from the core module
/// `wat`.
fn other_world(wit: &str, wat: &str) -> Vec<u8> {
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve.push_str("other.wit", wit).unwrap();
    let world = resolve.select_world(&[pkg], Some("w")).unwrap();
    let mut core = wat::parse_str(wat).unwrap();
    wit_component::embed_component_metadata(
        &mut core,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    wit_component::ComponentEncoder::default()
        .module(&core)
        .unwrap()
        .encode()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_mistyped_exports_are_refused_and_bad_invokes_are_typed() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let counter = host.spawn(spec("counter", "counter")).await.unwrap();
    let empty = wat::parse_str("(component)").unwrap();
    let no_handler = other_world(
        "package other:thing; world w { export ping: func() -> u32; }",
        r#"(module (func (export "ping") (result i32) (i32.const 1)))"#,
    );
    let mistyped = other_world(
        "package other:thing; world w { export handle-message: func(x: u32) -> u32; }",
        r#"(module (func (export "handle-message") (param i32) (result i32) (local.get 0)))"#,
    );
    let h = host.clone();
    let invokes = neighbour
        .under_attack(|stop| async move {
            let mut invokes = 0u64;
            loop {
                for (id, binary) in [("empty", &empty), ("no-handler", &no_handler)] {
                    let e = refused(&h, id, binary.clone()).await;
                    assert!(
                        matches!(&e, WasmError::MissingExports { missing, .. } if missing == &["handle-message"]),
                        "{e:?}"
                    );
                }
                let e = refused(&h, "mistyped", mistyped.clone()).await;
                assert!(
                    matches!(&e, WasmError::InvalidExport { export, found, .. }
                        if export == "handle-message" && found == "func(u32) -> u32"),
                    "{e:?}"
                );
                let invoke_error = |r: Result<Vec<ComponentValue>, HostError>| match r {
                    Err(HostError::HandlerFailed {
                        component,
                        cause: ComponentFailure::Guest(e),
                    }) => {
                        assert_eq!(component.as_str(), "counter");
                        e
                    }
                    other => panic!("expected a typed invoke failure, got {other:?}"),
                };
                let e = invoke_error(counter.invoke_dynamic("nope", vec![], WAIT).await);
                assert!(matches!(e, GuestError::ExportNotFound { .. }), "{e:?}");
                let e = invoke_error(counter.invoke_dynamic("handle-message", vec![], WAIT).await);
                assert!(
                    matches!(e, GuestError::ArityMismatch { expected: 1, got: 0, .. }),
                    "{e:?}"
                );
                let e = invoke_error(
                    counter
                        .invoke_dynamic("handle-message", vec![ComponentValue::U32(1)], WAIT)
                        .await,
                );
                assert!(matches!(e, GuestError::ValueMismatch { index: 0, .. }), "{e:?}");
                invokes += 3;
                if stop.stopped() {
                    return invokes;
                }
            }
        })
        .await;
    // The bad invokes were refused before calling the guest: no restart.
    let c = info(&host, "counter");
    assert_eq!((c.handled, c.failed, c.restarts), (0, invokes, 0));
    assert_eq!(host.list().len(), 2);
    assert_eq!(host.dead_letter_stats().total(), 0);
    neighbour.host_alive_and_shutdown(&host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_send_publish_and_request_are_denied_and_counted() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    host.spawn(spec("victim", "echo").subscribe("secrets.*"))
        .await
        .unwrap();
    let attacker = spawn_attacker(
        &host,
        spec("attacker", "forbidden").permissions(Permissions::deny_all()),
    )
    .await;
    let rounds = neighbour
        .under_attack(|stop| async move {
            let mut rounds = 0u64;
            loop {
                let reply = attacker.request(&b"x"[..], WAIT).await.unwrap().unwrap();
                assert_eq!(
                    [word(&reply, 0), word(&reply, 4), word(&reply, 8)],
                    [DENIED; 3]
                );
                rounds += 1;
                if stop.stopped() {
                    return rounds;
                }
            }
        })
        .await;
    let a = info(&host, "attacker");
    assert_eq!((a.handled, a.failed, a.denied), (rounds, 0, 3 * rounds));
    assert_eq!(
        info(&host, "victim").handled,
        0,
        "nothing reached the victim"
    );
    assert_eq!(host.dead_letter_stats().total(), 0);
    neighbour.host_alive_and_shutdown(&host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_itself_times_out_without_deadlock() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let attacker = spawn_attacker(
        &host,
        spec("attacker", "cycler")
            .config("target", "attacker")
            .permissions(Permissions::deny_all().allow_target("attacker")),
    )
    .await;
    let rounds = neighbour
        .under_attack(|stop| async move {
            let mut rounds = 0u64;
            loop {
                let started = Instant::now();
                let reply = attacker.request(&b"1"[..], WAIT).await.unwrap().unwrap();
                assert_eq!(word(&reply, 0), TIMEOUT, "its own mailbox is behind it");
                assert!(started.elapsed() < Duration::from_secs(5));
                rounds += 1;
                if stop.stopped() {
                    return rounds;
                }
            }
        })
        .await;
    // Each round: the outer message, then the inner request, handled late
    // (its asker gone).
    settle(&host, "self requests", |h| {
        let a = info(h, "attacker");
        a.mailbox_len == 0 && a.handled == 2 * rounds
    })
    .await;
    let a = info(&host, "attacker");
    assert_eq!((a.failed, a.restarts), (0, 0));
    assert_eq!(host.dead_letter_stats().total(), 0);
    assert_eq!(&a_request(&host, "attacker", b"0").await[..], b"leaf");
    neighbour.host_alive_and_shutdown(&host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cycle_times_out_without_deadlock() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let group = attackers(&host).await;
    for (id, target) in [("ping", "pong"), ("pong", "ping")] {
        host.spawn_in(
            &group,
            spec(id, "cycler")
                .config("target", target)
                .permissions(Permissions::deny_all().allow_target(target)),
        )
        .await
        .unwrap();
    }
    let h = host.clone();
    let rounds = neighbour
        .under_attack(|stop| async move {
            let mut rounds = 0u64;
            loop {
                // ping -> pong -> ping: ping is busy waiting on pong.
                let started = Instant::now();
                let reply = a_request(&h, "ping", b"2").await;
                let rc = word(&reply, 0);
                assert!(
                    rc == TIMEOUT || rc == 4,
                    "ping timed out, or got pong's 4-byte timeout answer: {rc}"
                );
                assert!(started.elapsed() < Duration::from_secs(5));
                rounds += 1;
                if stop.stopped() {
                    return rounds;
                }
            }
        })
        .await;
    settle(&host, "request cycle", |h| {
        let (ping, pong) = (info(h, "ping"), info(h, "pong"));
        ping.mailbox_len == 0 && ping.handled == 2 * rounds && pong.handled == rounds
    })
    .await;
    for id in ["ping", "pong"] {
        let c = info(&host, id);
        assert_eq!((c.failed, c.restarts), (0, 0), "{id}");
    }
    assert_eq!(host.dead_letter_stats().total(), 0);
    neighbour.host_alive_and_shutdown(&host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_spam_gets_already_replied_and_only_the_first_reply_counts() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let attacker = spawn_attacker(&host, spec("attacker", "reply_spam")).await;
    let handle = attacker.clone();
    let rounds = neighbour
        .under_attack(|stop| async move {
            let mut rounds = 0u64;
            loop {
                let reply = handle.request(&b"first"[..], WAIT).await.unwrap();
                assert_eq!(reply.as_deref(), Some(&b"first"[..]));
                rounds += 1;
                if stop.stopped() {
                    return rounds;
                }
            }
        })
        .await;
    let refused = attacker
        .request(&b"count"[..], WAIT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        u64::from(word(&refused, 0)),
        99 * rounds,
        "every extra reply was already-replied"
    );
    let a = info(&host, "attacker");
    assert_eq!((a.handled, a.failed), (rounds + 1, 0));
    assert_eq!(host.dead_letter_stats().total(), 0);
    neighbour.host_alive_and_shutdown(&host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_through_the_import_and_a_returned_reply_is_an_abi_violation() {
    let _serial = SERIAL.lock().await;
    abi_violation_case(
        spec("attacker", "reply_and_return"),
        "both called `reply` and returned a reply",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_check_that_never_returns_is_interrupted_and_the_instance_replaced() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let attacker = spawn_attacker(
        &host,
        spec("attacker", "health_hang").limits(fast_timeout()),
    )
    .await;
    let handle = attacker.clone();
    let rounds = neighbour
        .under_attack(|stop| async move {
            let mut rounds = 0u64;
            loop {
                let started = Instant::now();
                let health = handle.health(WAIT).await.unwrap();
                assert!(started.elapsed() < Duration::from_secs(5));
                match health.guest {
                    GuestHealth::Unhealthy(reason) => {
                        assert!(reason.contains("attacker"), "{reason}");
                        assert!(reason.contains("timed out"), "{reason}");
                    }
                    other => panic!("expected Unhealthy, got {other:?}"),
                }
                // The next message meets a fresh instance, not a dead one.
                let reply = handle.request(&b"after"[..], WAIT).await.unwrap();
                assert_eq!(reply.as_deref(), Some(&b"after"[..]));
                rounds += 1;
                if stop.stopped() {
                    return rounds;
                }
            }
        })
        .await;
    let a = info(&host, "attacker");
    // Handled: the echoed requests; failed: the health checks.
    assert_eq!((a.handled, a.failed, a.restarts), (rounds, rounds, rounds));
    assert_eq!(host.dead_letter_stats().total(), 0, "no message was lost");
    neighbour.host_alive_and_shutdown(&host).await;
}

/// A component whose only content is the core module `module` (section 1
/// of the component binary format), nested `depth` components deep.
fn in_component(module: &[u8], depth: usize) -> Vec<u8> {
    const PREAMBLE: &[u8] = b"\0asm\x0d\0\x01\0";
    let mut component = PREAMBLE.to_vec();
    section(1, module, &mut component);
    for _ in 0..depth {
        let mut outer = PREAMBLE.to_vec();
        section(4, &component, &mut outer);
        component = outer;
    }
    component
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_bomb_inside_a_component_is_refused_before_compiling() {
    let _serial = SERIAL.lock().await;
    let host = host_with(EngineConfig::default().max_module_bytes(4 << 20));
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let h = host.clone();
    // A million functions; one 2 MiB body (over the default 1 MiB); 5 MiB
    // of modest bodies (over this host's 4 MiB) — each as a component's
    // core module, directly and two components deep.
    let mut huge_body = vec![0u8];
    huge_body.extend(std::iter::repeat_n(0x01u8, 2 << 20));
    huge_body.push(0x0b);
    let mut modest_body = vec![0u8];
    modest_body.extend(std::iter::repeat_n(0x01u8, 500 << 10));
    modest_body.push(0x0b);
    let bombs = [
        (bomb(1_000_000, &[0, 0x0b]), "function count"),
        (bomb(1, &huge_body), "function body size in bytes"),
        (bomb(10, &modest_body), "module size in bytes"),
    ];
    let refusals = neighbour
        .under_attack(|stop| async move {
            let mut refusals = 0u64;
            loop {
                for (module, expected) in &bombs {
                    for depth in [0, 2] {
                        let started = Instant::now();
                        match refused(&h, "bomb", in_component(module, depth)).await {
                            WasmError::LimitExceeded {
                                limit, value, max, ..
                            } => {
                                assert_eq!(limit, *expected);
                                assert!(value > max);
                            }
                            other => panic!("expected LimitExceeded, got {other:?}"),
                        }
                        assert!(started.elapsed() < Duration::from_secs(2), "refused fast");
                        refusals += 1;
                    }
                }
                if stop.stopped() {
                    return refusals;
                }
            }
        })
        .await;
    assert!(refusals > 0);
    assert_eq!(
        host.engine().cached_modules(),
        1,
        "only the neighbour was compiled"
    );
    neighbour.host_alive_and_shutdown(&host).await;
}
