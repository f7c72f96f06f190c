//! The hostile-guest catalogue: one test per way a guest can misbehave.
//!
//! Each test checks the four things `tests/common/hostile.rs` states
//! (typed containment, host alive, every message accounted for, the
//! neighbour's p99 bound), with core-module guests and a core echo
//! neighbour; `tests/hostile_components.rs` is the same catalogue for
//! components. `docs/reliability.md` lists the cases and what the host
//! guarantees for each.

mod common;

use std::time::{Duration, Instant};

use airssys_rt::supervisor::{
    BackoffPolicy, ChildSpec, RestartPolicy, SupervisionEvent, SupervisorNode,
};
use airssys_wasm::{
    codes, ComponentFailure, ComponentLimits, ComponentSpec, EngineConfig, GuestError, GuestHealth,
    HostError, Permissions, SubjectPattern, WasmError, WasmValue,
};
use bytes::Bytes;
use common::hostile::*;
use common::{fixture, fixture_binary};

fn spec(id: &str, fixture_name: &str) -> ComponentSpec {
    ComponentSpec::new(id, fixture(fixture_name).into_bytes())
}

/// The healthy neighbour: the core echo module.
fn neighbour() -> ComponentSpec {
    spec("neighbour", "echo")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_is_interrupted_at_the_execution_timeout() {
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

    // Every crash message is accounted for: the ones that ran failed the
    // component, the ones still queued when the group gave up were
    // dead-lettered as stopped.
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
    // The other group is untouched: same incarnation, state kept.
    let reply = bystander.request(&b"after"[..], WAIT).await.unwrap();
    assert_eq!(code(&reply.unwrap(), 0), 2, "its count survived the storm");
    assert_eq!(bystander.stats().restarts, 0);
    neighbour.host_alive_and_shutdown(&host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_flood_is_refused_or_backpressured_and_every_accepted_message_is_handled() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    host.spawn(spec("victim", "echo").mailbox_capacity(16))
        .await
        .unwrap();
    let attacker = spawn_attacker(
        &host,
        spec("attacker", "flooder").permissions(Permissions::deny_all().allow_target("victim")),
    )
    .await;
    let h = host.clone();
    let (host_sent, guest_accepted, guest_tried) = neighbour
        .under_attack(|stop| async move {
            let (mut host_sent, mut accepted, mut tried) = (0u64, 0u64, 0u64);
            loop {
                // Four host-side senders wait for room (backpressure) ...
                let senders: Vec<_> = (0..4)
                    .map(|_| {
                        let h = h.clone();
                        tokio::spawn(async move {
                            for _ in 0..50 {
                                h.send("victim", &b"from host"[..]).await.unwrap();
                            }
                        })
                    })
                    .collect();
                // ... while the guest's sends never wait: a full mailbox
                // is MAILBOX_FULL for it.
                let reply = attacker.request(&b"flood"[..], WAIT).await.unwrap();
                accepted += code(&reply.unwrap(), 0) as u64;
                tried += 1000;
                for s in senders {
                    s.await.unwrap();
                }
                host_sent += 200;
                if stop.stopped() {
                    return (host_sent, accepted, tried);
                }
            }
        })
        .await;
    assert!(
        guest_accepted < guest_tried,
        "the flood hit the full mailbox ({guest_accepted} of {guest_tried} accepted)"
    );
    let total = host_sent + guest_accepted;
    settle(&host, "victim drained", |h| {
        let v = info(h, "victim");
        v.mailbox_len == 0 && v.handled == total
    })
    .await;
    assert_eq!(info(&host, "victim").failed, 0);
    assert_eq!(
        host.dead_letter_stats().total(),
        0,
        "nothing accepted was lost"
    );
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
                // Direct: refused at the sender, the payload handed back.
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
                // Through a topic: accepted by the fan-out, refused before
                // the guest is called, dead-lettered.
                // (A copy the topic's queue could not take is dead-lettered by
                // the broker itself: `dropped`.)
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
async fn an_oversized_payload_out_is_refused_with_too_large_on_send_publish_and_reply() {
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
                    [code(&reply, 0), code(&reply, 4), code(&reply, 8)],
                    [codes::TOO_LARGE; 3],
                    "send, publish and reply of 4096 bytes over a 1024 limit"
                );
                rounds += 1;
                if stop.stopped() {
                    return rounds;
                }
            }
        })
        .await;
    let a = info(&host, "attacker");
    assert_eq!((a.handled, a.failed), (rounds, 0));
    assert_eq!(info(&host, "victim").handled, 0, "nothing got through");
    assert_eq!(host.dead_letter_stats().total(), 0);
    neighbour.host_alive_and_shutdown(&host).await;
}

async fn bad_alloc_case(fixture_name: &str, expected: &'static str) {
    contained_fatal_attack(
        neighbour(),
        spec("attacker", fixture_name),
        move |e| match e {
            GuestError::AbiViolation { reason, .. } => {
                assert!(reason.contains(expected), "{reason}")
            }
            other => panic!("expected AbiViolation, got {other:?}"),
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alloc_returning_an_out_of_bounds_pointer_is_an_abi_violation() {
    let _serial = SERIAL.lock().await;
    bad_alloc_case("bad_alloc", "out of bounds").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alloc_returning_null_is_an_abi_violation() {
    let _serial = SERIAL.lock().await;
    bad_alloc_case("null_alloc", "returned 0").await;
}

/// Where the code section of `module` ends (custom sections such as `name`
/// may follow it; a cut after the code is a complete module).
fn code_end(module: &[u8]) -> usize {
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::CodeSectionStart { range, .. } = payload.unwrap() {
            return range.end;
        }
    }
    panic!("no code section")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_truncated_binaries_are_refused_with_a_typed_error() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let h = host.clone();
    let refusals = neighbour
        .under_attack(|stop| async move {
            let echo = fixture_binary("echo");
            let not_wasm = std::fs::read(format!(
                "{}/tests/fixtures/not_wasm.txt",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            let mut refusals = 0u64;
            loop {
                let e = refused(&h, "text", not_wasm.clone()).await;
                assert!(matches!(e, WasmError::InvalidBinary { .. }), "{e:?}");
                let e = refused(&h, "garbage", vec![0xff; 300]).await;
                assert!(matches!(e, WasmError::InvalidBinary { .. }), "{e:?}");
                let e = refused(&h, "bad-version", b"\0asm\x09\0\0\0rest".to_vec()).await;
                assert!(matches!(e, WasmError::InvalidBinary { .. }), "{e:?}");
                // Every prefix of a valid module that ends before its code
                // does: invalid, or valid but missing what the ABI
                // requires; never accepted.
                for cut in (0..code_end(&echo)).step_by(7) {
                    refused(&h, "truncated", echo[..cut].to_vec()).await;
                    refusals += 1;
                }
                // A corrupted byte in the code section.
                // The last byte of the code section is the last body's
                // `end`: without it the body runs off the section.
                let mut flipped = echo.clone();
                flipped[code_end(&echo) - 1] = 0xfe;
                refused(&h, "corrupted", flipped).await;
                refusals += 4;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_mistyped_exports_are_refused_and_bad_invokes_are_typed() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let counter = host
        .spawn(spec("counter", "crashing_counter"))
        .await
        .unwrap();
    let h = host.clone();
    let invokes = neighbour
        .under_attack(|stop| async move {
            let mut invokes = 0u64;
            loop {
                let e = refused(&h, "empty", fixture_binary("missing_everything")).await;
                assert!(
                    matches!(&e, WasmError::MissingExports { missing, .. } if missing.len() == 3),
                    "{e:?}"
                );
                let e = refused(&h, "no-handler", fixture_binary("missing_handle_message")).await;
                assert!(
                    matches!(&e, WasmError::MissingExports { missing, .. } if missing == &["handle-message"]),
                    "{e:?}"
                );
                let e = refused(&h, "mistyped", fixture_binary("mistyped_alloc")).await;
                assert!(
                    matches!(&e, WasmError::InvalidExport { export, .. } if export == "alloc"),
                    "{e:?}"
                );
                let invoke_error = |r: Result<Vec<WasmValue>, HostError>| match r {
                    Err(HostError::HandlerFailed {
                        component,
                        cause: ComponentFailure::Guest(e),
                    }) => {
                        assert_eq!(component.as_str(), "counter");
                        e
                    }
                    other => panic!("expected a typed invoke failure, got {other:?}"),
                };
                let e = invoke_error(counter.invoke("nope", vec![], WAIT).await);
                assert!(matches!(e, GuestError::ExportNotFound { .. }), "{e:?}");
                let e = invoke_error(counter.invoke("add", vec![WasmValue::I32(1)], WAIT).await);
                assert!(matches!(e, GuestError::ArityMismatch { expected: 2, got: 1, .. }), "{e:?}");
                let e = invoke_error(
                    counter
                        .invoke("add", vec![WasmValue::I64(1), WasmValue::I64(2)], WAIT)
                        .await,
                );
                assert!(matches!(e, GuestError::TypeMismatch { index: 0, .. }), "{e:?}");
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
                    [code(&reply, 0), code(&reply, 4), code(&reply, 8)],
                    [codes::DENIED; 3]
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
                assert_eq!(
                    code(&reply, 0),
                    codes::TIMEOUT,
                    "its own mailbox is behind it"
                );
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
    // Still answers.
    let reply = a_request(&host, "attacker", b"0").await;
    assert_eq!(&reply[..], b"leaf");
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
                let rc = code(&reply, 0);
                assert!(
                    rc == codes::TIMEOUT || rc == 4,
                    "ping timed out, or got pong's 4-byte timeout code: {rc}"
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
        .invoke("rejected_replies", vec![], WAIT)
        .await
        .unwrap();
    assert_eq!(
        refused,
        vec![WasmValue::I32(99 * rounds as i32)],
        "every extra reply was ALREADY_REPLIED"
    );
    let a = info(&host, "attacker");
    assert_eq!((a.handled, a.failed), (rounds + 1, 0));
    assert_eq!(host.dead_letter_stats().total(), 0);
    neighbour.host_alive_and_shutdown(&host).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_bomb_of_a_million_functions_is_refused_before_compiling() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let h = host.clone();
    let binary = bomb(1_000_000, &[0, 0x0b]);
    let refusals = neighbour
        .under_attack(|stop| async move {
            let mut refusals = 0u64;
            loop {
                let started = Instant::now();
                let e = refused(&h, "bomb", binary.clone()).await;
                assert!(started.elapsed() < Duration::from_secs(2), "refused fast");
                match e {
                    WasmError::LimitExceeded {
                        limit, value, max, ..
                    } => {
                        assert_eq!(limit, "function count");
                        assert_eq!(max, 50_000);
                        assert!(value > max);
                    }
                    other => panic!("expected LimitExceeded, got {other:?}"),
                }
                refusals += 1;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_bomb_of_one_huge_body_or_a_huge_module_is_refused_before_compiling() {
    let _serial = SERIAL.lock().await;
    let host = host_with(EngineConfig::default().max_module_bytes(4 << 20));
    let mut neighbour = Neighbour::spawn(&host, neighbour()).await;
    let h = host.clone();
    // One function of 2 MiB of `nop`s (the default body limit is 1 MiB).
    let mut body = vec![0u8];
    body.extend(std::iter::repeat_n(0x01u8, 2 << 20));
    body.push(0x0b);
    let huge_body = bomb(1, &body);
    // Many modest bodies, 5 MiB in all (over this host's 4 MiB).
    let mut body = vec![0u8];
    body.extend(std::iter::repeat_n(0x01u8, 500 << 10));
    body.push(0x0b);
    let huge_module = bomb(10, &body);
    let refusals = neighbour
        .under_attack(|stop| async move {
            let mut refusals = 0u64;
            loop {
                for (binary, expected) in [
                    (&huge_body, "function body size in bytes"),
                    (&huge_module, "module size in bytes"),
                ] {
                    let started = Instant::now();
                    match refused(&h, "bomb", binary.clone()).await {
                        WasmError::LimitExceeded { limit, .. } => assert_eq!(limit, expected),
                        other => panic!("expected LimitExceeded, got {other:?}"),
                    }
                    assert!(started.elapsed() < Duration::from_secs(2), "refused fast");
                    refusals += 1;
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
