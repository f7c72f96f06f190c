//! Attacks that fail the attacker's instance: a handler that runs away
//! (time, memory, stack), breaks the ABI, or a health check that never
//! returns.

use std::time::{Duration, Instant};

use airssys_wasm::{ComponentLimits, GuestError, GuestHealth};

use crate::common::hostile::*;

/// A handler that never returns is interrupted at the execution timeout
/// with `ExecutionTimeout` carrying the limit.
pub async fn infinite_loop(form: Form) {
    let _serial = SERIAL.lock().await;
    contained_fatal_attack(
        form.neighbour(),
        form.spec("attacker", "infinite_loop").limits(fast_timeout()),
        |e| {
            assert!(
                matches!(e, GuestError::ExecutionTimeout { limit, .. } if limit == Duration::from_millis(100)),
                "{e:?}"
            )
        },
    )
    .await;
}

/// Memory grown without end stops at `max_memory_bytes` with
/// `MemoryLimitExceeded` carrying the limit.
pub async fn memory_bomb(form: Form) {
    let _serial = SERIAL.lock().await;
    contained_fatal_attack(
        form.neighbour(),
        form.spec("attacker", "memory_bomb")
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

/// Unbounded recursion is `StackOverflow`, not a host crash.
pub async fn stack_overflow(form: Form) {
    let _serial = SERIAL.lock().await;
    contained_fatal_attack(
        form.neighbour(),
        form.spec("attacker", "deep_recursion"),
        |e| assert!(matches!(e, GuestError::StackOverflow { .. }), "{e:?}"),
    )
    .await;
}

/// Fixture `fixture_name` fails every message with an `AbiViolation`
/// whose reason contains `expected`.
pub async fn abi_violation(form: Form, fixture_name: &str, expected: &'static str) {
    let _serial = SERIAL.lock().await;
    contained_fatal_attack(
        form.neighbour(),
        form.spec("attacker", fixture_name),
        move |e| match e {
            GuestError::AbiViolation { reason, .. } => {
                assert!(reason.contains(expected), "{reason}")
            }
            other => panic!("expected AbiViolation, got {other:?}"),
        },
    )
    .await;
}

/// A `health` export that loops is interrupted at the execution timeout:
/// `Unhealthy` naming the component and the timeout, fast; the instance is
/// replaced at once, so the next message meets a fresh one and nothing is
/// lost.
pub async fn health_that_never_returns(form: Form) {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, form.neighbour()).await;
    let attacker = spawn_attacker(
        &host,
        form.spec("attacker", "health_hang").limits(fast_timeout()),
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
    // Handled: the echoed requests. Each health check failed the instance
    // (a restart), but a check is a control request, not a message: it
    // counts no failed message.
    assert_eq!((a.handled, a.failed, a.restarts), (rounds, 0, rounds));
    assert_eq!(host.dead_letter_stats().total(), 0, "no message was lost");
    neighbour.host_alive_and_shutdown(&host).await;
}
