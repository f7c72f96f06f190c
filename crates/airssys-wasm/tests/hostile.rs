//! The hostile-guest catalogue: one test per way a guest can misbehave.
//!
//! Each test checks the four things `tests/common/hostile.rs` states
//! (typed containment, host alive, every message accounted for, the
//! neighbour's p99 bound), with core-module guests and a core echo
//! neighbour; `tests/hostile_components.rs` is the same catalogue for
//! components. The cases both forms have are written once, in
//! `tests/common/hostile/cases/`; this file calls them and holds the cases
//! only a core module has (the mailbox flood, `alloc`'s pointers, raw
//! binaries, exports, compile bombs). `docs/reliability.md` lists the
//! cases and what the host guarantees for each.

mod common;

use airssys_wasm::{ComponentSpec, EngineConfig, GuestError, Permissions, WasmError, WasmValue};
use common::fixture_binary;
use common::hostile::*;

const FORM: Form = Form::Core;

fn spec(id: &str, fixture_name: &str) -> ComponentSpec {
    FORM.spec(id, fixture_name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_is_interrupted_at_the_execution_timeout() {
    cases::infinite_loop(FORM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_stops_at_its_memory_cap() {
    cases::memory_bomb(FORM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_overflow_is_a_typed_error_not_a_crash() {
    cases::stack_overflow(FORM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_storm_exceeds_its_group_intensity_and_escalates_without_touching_other_groups() {
    cases::trap_storm(FORM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_flood_is_refused_or_backpressured_and_every_accepted_message_is_handled() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, FORM.neighbour()).await;
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
    cases::oversized_in(FORM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_payload_out_is_refused_with_too_large_on_send_publish_and_reply() {
    cases::oversized_out(FORM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alloc_returning_an_out_of_bounds_pointer_is_an_abi_violation() {
    cases::abi_violation(FORM, "bad_alloc", "out of bounds").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alloc_returning_null_is_an_abi_violation() {
    cases::abi_violation(FORM, "null_alloc", "returned 0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_truncated_binaries_are_refused_with_a_typed_error() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, FORM.neighbour()).await;
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
    let mut neighbour = Neighbour::spawn(&host, FORM.neighbour()).await;
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
                let e = guest_error(counter.invoke("nope", vec![], WAIT).await, "counter");
                assert!(matches!(e, GuestError::ExportNotFound { .. }), "{e:?}");
                let e = guest_error(
                    counter.invoke("add", vec![WasmValue::I32(1)], WAIT).await,
                    "counter",
                );
                assert!(matches!(e, GuestError::ArityMismatch { expected: 2, got: 1, .. }), "{e:?}");
                let e = guest_error(
                    counter
                        .invoke("add", vec![WasmValue::I64(1), WasmValue::I64(2)], WAIT)
                        .await,
                    "counter",
                );
                assert!(matches!(e, GuestError::TypeMismatch { index: 0, .. }), "{e:?}");
                invokes += 3;
                if stop.stopped() {
                    return invokes;
                }
            }
        })
        .await;
    bad_invokes_accounted(&host, "counter", invokes);
    neighbour.host_alive_and_shutdown(&host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_send_publish_and_request_are_denied_and_counted() {
    cases::forbidden_calls(FORM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_to_itself_times_out_without_deadlock() {
    cases::request_to_itself(FORM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cycle_times_out_without_deadlock() {
    cases::request_cycle(FORM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_spam_gets_already_replied_and_only_the_first_reply_counts() {
    cases::reply_spam(FORM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_check_that_never_returns_is_interrupted_and_the_instance_replaced() {
    cases::health_that_never_returns(FORM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_bomb_of_a_million_functions_is_refused_before_compiling() {
    let _serial = SERIAL.lock().await;
    let bomb = Bomb {
        binary: bomb(1_000_000, &[0, 0x0b]),
        limit: "function count",
        max: 50_000,
    };
    compile_bombs_refused(host(), FORM.neighbour(), vec![bomb]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_bomb_of_one_huge_body_or_a_huge_module_is_refused_before_compiling() {
    let _serial = SERIAL.lock().await;
    let host = host_with(EngineConfig::default().max_module_bytes(4 << 20));
    let bombs = vec![
        // One function of 2 MiB of `nop`s (the default body limit is 1 MiB).
        Bomb {
            binary: bomb(1, &nops(2 << 20)),
            limit: "function body size in bytes",
            max: 1 << 20,
        },
        // Many modest bodies, 5 MiB in all (over this host's 4 MiB).
        Bomb {
            binary: bomb(10, &nops(500 << 10)),
            limit: "module size in bytes",
            max: 4 << 20,
        },
    ];
    compile_bombs_refused(host, FORM.neighbour(), bombs).await;
}
