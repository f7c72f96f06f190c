//! The hostile-guest catalogue for Component Model guests: each case of
//! `tests/hostile.rs`, with components of the `airssys:component` world
//! (fixtures in `tests/fixtures/components/`, made components with
//! `airssys_wasm::wit::componentize`) and a component echo as the healthy
//! neighbour. The cases both forms have are written once, in
//! `tests/common/hostile/cases/`; this file calls them and holds what only
//! the component form has (`cabi_realloc`, `messaging.reply` beside a
//! returned reply, raw components, exports, nested core modules).
//!
//! Each test checks the four things `tests/common/hostile.rs` states: the
//! attack ends in a typed error naming the component; the host stays alive
//! (the neighbour answers, shutdown is clean); every message is accounted
//! for; the neighbour's p99 under attack stays within 2x its quiet p99 (or
//! quiet p99 + 5 ms, best of three samples). `docs/reliability.md` ("The
//! component form") lists the cases.

mod common;

use airssys_wasm::{ComponentSpec, ComponentValue, EngineConfig, GuestError, HostError, WasmError};
use common::hostile::*;
use common::{component_fixture, other_world};

const FORM: Form = Form::Component;

fn spec(id: &str, fixture_name: &str) -> ComponentSpec {
    FORM.spec(id, fixture_name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_in_handle_message_is_interrupted_at_the_execution_timeout() {
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
async fn an_oversized_payload_in_is_handed_back_or_dead_lettered_without_calling_the_guest() {
    cases::oversized_in(FORM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_payload_out_is_refused_with_too_large_on_send_publish_reply_and_return() {
    cases::oversized_out(FORM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cabi_realloc_returning_an_out_of_bounds_pointer_is_an_abi_violation() {
    cases::abi_violation(
        FORM,
        "realloc_out_of_bounds",
        "realloc return: beyond end of memory",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cabi_realloc_returning_a_misaligned_pointer_is_an_abi_violation() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, FORM.neighbour()).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_truncated_components_are_refused_with_a_typed_error() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, FORM.neighbour()).await;
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
                flipped[code_end(&echo) - 1] = 0xfe;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_mistyped_exports_are_refused_and_bad_invokes_are_typed() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, FORM.neighbour()).await;
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
                let e = guest_error(
                    counter.invoke_dynamic("nope", vec![], WAIT).await,
                    "counter",
                );
                assert!(matches!(e, GuestError::ExportNotFound { .. }), "{e:?}");
                let e = guest_error(
                    counter.invoke_dynamic("handle-message", vec![], WAIT).await,
                    "counter",
                );
                assert!(
                    matches!(e, GuestError::ArityMismatch { expected: 1, got: 0, .. }),
                    "{e:?}"
                );
                let e = guest_error(
                    counter
                        .invoke_dynamic("handle-message", vec![ComponentValue::U32(1)], WAIT)
                        .await,
                    "counter",
                );
                assert!(matches!(e, GuestError::ValueMismatch { index: 0, .. }), "{e:?}");
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
async fn a_reply_through_the_import_and_a_returned_reply_is_an_abi_violation() {
    cases::abi_violation(
        FORM,
        "reply_and_return",
        "both called `reply` and returned a reply",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_check_that_never_returns_is_interrupted_and_the_instance_replaced() {
    cases::health_that_never_returns(FORM).await;
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
    // A million functions; one 2 MiB body (over the default 1 MiB); 5 MiB
    // of modest bodies (over this host's 4 MiB) — each as a component's
    // core module, directly and two components deep.
    let modules = [
        (bomb(1_000_000, &[0, 0x0b]), "function count", 50_000),
        (
            bomb(1, &nops(2 << 20)),
            "function body size in bytes",
            1 << 20,
        ),
        (bomb(10, &nops(500 << 10)), "module size in bytes", 4 << 20),
    ];
    let bombs = modules
        .iter()
        .flat_map(|(module, limit, max)| {
            [0, 2].map(|depth| Bomb {
                binary: in_component(module, depth),
                limit,
                max: *max,
            })
        })
        .collect();
    compile_bombs_refused(host, FORM.neighbour(), bombs).await;
}
