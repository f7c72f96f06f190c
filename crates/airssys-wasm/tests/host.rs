//! The component host end to end: components as supervised actors.

mod common;

use std::time::Duration;

use airssys_rt::broker::{DeadLetterReason, Undelivered};
use airssys_rt::supervisor::{HealthConfig, RestartPolicy};
use airssys_wasm::{
    ComponentFailure, ComponentHost, ComponentLimits, ComponentSpec, EngineConfig, GuestError,
    GuestHealth, HostError, LifecycleState, Permissions, SubjectPattern, WasmError, WasmValue,
};
use common::{fixture, host};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn spec(id: &str, fixture_name: &str) -> ComponentSpec {
    ComponentSpec::new(id, fixture(fixture_name).into_bytes())
}

fn count(reply: Option<bytes::Bytes>) -> i32 {
    let bytes = reply.expect("a reply");
    i32::from_le_bytes(bytes[..4].try_into().unwrap())
}

#[tokio::test]
async fn spawn_returns_a_ready_component_that_answers_requests() {
    let host = host(8);
    let echo = host.spawn(spec("echo", "echo")).await.unwrap();
    assert_eq!(host.registry().state("echo"), Some(LifecycleState::Ready));
    let reply = echo.request(&b"ping"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"ping"[..]));
    let listed = host.list();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id.as_str(), "echo");
    assert_eq!(listed[0].handled, 1);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_trap_restarts_the_component_with_fresh_state_and_keeps_the_queue() {
    let host = host(8);
    let mut dead = host.broker().subscribe("_airssys.deadletter").unwrap();
    let counter = host
        .spawn(spec("counter", "crashing_counter"))
        .await
        .unwrap();
    for _ in 0..3 {
        counter.send(&b"x"[..]).await.unwrap();
    }
    counter.send(&b"!crash"[..]).await.unwrap();
    for _ in 0..5 {
        counter.send(&b"y"[..]).await.unwrap();
    }
    // The five messages queued behind the crash reached the new instance,
    // whose count started from zero.
    let reply = counter.request(&b"z"[..], WAIT).await.unwrap();
    assert_eq!(count(reply), 6);
    assert_eq!(counter.stats().restarts, 1);
    let letter = timeout(WAIT, dead.recv()).await.unwrap().unwrap();
    assert_eq!(&letter.payload.payload[..], b"!crash");
    match letter.dead_letter {
        Some(Undelivered {
            target,
            reason: DeadLetterReason::HandlerFailed(why),
            ..
        }) => {
            assert_eq!(&*target, "counter");
            assert!(why.contains("trap"), "{why}");
        }
        other => panic!("expected a handler_failed dead letter, got {other:?}"),
    }
    assert_eq!(host.dead_letter_stats().handler_failed, 1);
    // Dead-lettered once: by the host, with the message; not again by the
    // actor runtime, without it.
    assert_eq!(host.actor_system().stats().dead_letters.total(), 0);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn an_infinite_loop_times_out_and_the_component_recovers() {
    let host = host(8);
    let limits = ComponentLimits::default().execution_timeout(Duration::from_millis(100));
    // The stop waits out the running call: a stop timeout far past the
    // execution timeout, so that on a loaded machine (the epoch ticker
    // late) the call still ends by its timeout, not by the stop's abort.
    let looper = host
        .spawn(
            spec("looper", "infinite_loop")
                .limits(limits)
                .stop_timeout(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    let err = looper.request(&b"spin"[..], WAIT).await.unwrap_err();
    match err {
        HostError::HandlerFailed {
            component,
            cause: ComponentFailure::Guest(GuestError::ExecutionTimeout { limit, .. }),
        } => {
            assert_eq!(component.as_str(), "looper");
            assert_eq!(limit, Duration::from_millis(100));
        }
        other => panic!("expected a typed execution timeout, got {other:?}"),
    }
    // Restarted: ready again and counted.
    timeout(WAIT, async {
        while looper.stats().restarts < 1
            || host.registry().state("looper") != Some(LifecycleState::Ready)
        {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn memory_bomb_and_stack_overflow_fail_only_their_own_component() {
    let host = host(8);
    let limits = ComponentLimits::default().max_memory_bytes(512 * 1024);
    let bomb = host
        .spawn(spec("bomb", "memory_bomb").limits(limits))
        .await
        .unwrap();
    let deep = host.spawn(spec("deep", "deep_recursion")).await.unwrap();
    let echo = host.spawn(spec("echo", "echo")).await.unwrap();
    let err = bomb.request(&b"boom"[..], WAIT).await.unwrap_err();
    assert!(
        matches!(
            err,
            HostError::HandlerFailed {
                cause: ComponentFailure::Guest(GuestError::MemoryLimitExceeded {
                    limit: 524_288,
                    ..
                }),
                ..
            }
        ),
        "{err}"
    );
    let err = deep.request(&b"down"[..], WAIT).await.unwrap_err();
    assert!(
        matches!(
            err,
            HostError::HandlerFailed {
                cause: ComponentFailure::Guest(GuestError::StackOverflow { .. }),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        echo.request(&b"still here"[..], WAIT)
            .await
            .unwrap()
            .as_deref(),
        Some(&b"still here"[..])
    );
    assert_eq!(host.dead_letter_stats().handler_failed, 2);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn bad_binaries_are_refused_with_typed_errors_naming_the_component() {
    let host = host(8);
    let not_wasm = ComponentSpec::new("text", b"hello, world".to_vec());
    assert!(matches!(
        host.spawn(not_wasm).await,
        Err(HostError::Wasm(WasmError::InvalidBinary { ref component, .. })) if component.as_str() == "text"
    ));
    let mut truncated = common::fixture_binary("echo");
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(
        host.spawn(ComponentSpec::new("cut", truncated)).await,
        Err(HostError::Wasm(WasmError::InvalidBinary { .. }))
    ));
    match host.spawn(spec("partial", "missing_handle_message")).await {
        Err(HostError::Wasm(WasmError::MissingExports { component, missing })) => {
            assert_eq!(component.as_str(), "partial");
            assert_eq!(missing, vec!["handle-message".to_owned()]);
        }
        other => panic!("expected MissingExports, got {:?}", other.err()),
    }
    match host.spawn(spec("bad-init", "init_fails")).await {
        Err(HostError::Guest(GuestError::InitFailed { component, code })) => {
            assert_eq!(component.as_str(), "bad-init");
            assert_eq!(code, 3);
        }
        other => panic!("expected InitFailed, got {:?}", other.err()),
    }
    assert!(host.list().is_empty());
    let bad_pattern = spec("sub", "echo").subscribe("orders..new");
    assert!(matches!(
        host.spawn(bad_pattern).await,
        Err(HostError::InvalidSubject { .. })
    ));
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_full_pool_fails_spawn_with_a_capacity_error() {
    let host = host(2);
    host.spawn(spec("a", "echo")).await.unwrap();
    host.spawn(spec("b", "echo")).await.unwrap();
    match host.spawn(spec("c", "echo")).await {
        Err(HostError::Wasm(WasmError::Capacity { component, .. })) => {
            assert_eq!(component.as_str(), "c")
        }
        other => panic!("expected Capacity, got {:?}", other.err()),
    }
    // Stopping one frees its slot.
    host.stop("a").await.unwrap();
    host.spawn(spec("c", "echo")).await.unwrap();
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn duplicate_ids_and_oversized_messages_are_refused() {
    let host = host(8);
    host.spawn(spec("echo", "echo").limits(ComponentLimits::default().max_message_bytes(16)))
        .await
        .unwrap();
    assert!(matches!(
        host.spawn(spec("echo", "echo")).await,
        Err(HostError::AlreadyExists { .. })
    ));
    match host.send("echo", vec![7u8; 17]).await {
        Err(HostError::MessageTooLarge {
            component,
            size,
            limit,
            payload,
        }) => {
            assert_eq!((component.as_str(), size, limit), ("echo", 17, 16));
            assert_eq!(&payload[..], &[7u8; 17][..], "the payload is handed back");
        }
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    let err = host.send("nobody", &b"x"[..]).await.unwrap_err();
    assert!(matches!(err, HostError::UnknownComponent { .. }), "{err:?}");
    assert_eq!(err.into_payload().as_deref(), Some(&b"x"[..]));
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn components_send_publish_and_request_through_host_imports() {
    let host = host(8);
    let sink = host.spawn(spec("sink", "crashing_counter")).await.unwrap();
    let listener = host
        .spawn(spec("listener", "crashing_counter").subscribe("events.*"))
        .await
        .unwrap();
    let permissions = Permissions::deny_all()
        .allow_target("sink")
        .allow_subject(SubjectPattern::new("events.>").unwrap());
    let forwarder = host
        .spawn(spec("forwarder", "forwarder").permissions(permissions))
        .await
        .unwrap();
    let reply = forwarder
        .request(&b"s-hello"[..], WAIT)
        .await
        .unwrap()
        .unwrap();
    // send code ++ publish code, both OK.
    assert_eq!(&reply[..], &[0u8; 8]);
    // The sink and the topic listener each got exactly one message.
    assert_eq!(count(sink.request(&b"q"[..], WAIT).await.unwrap()), 2);
    assert_eq!(count(listener.request(&b"q"[..], WAIT).await.unwrap()), 2);

    // The responder answers the requester; the requester's guest waits suspended.
    host.spawn(spec("responder", "echo")).await.unwrap();
    let requester = host
        .spawn(
            spec("requester", "requester")
                .permissions(Permissions::deny_all().allow_target("responder")),
        )
        .await
        .unwrap();
    let reply = requester.request(&b"round trip"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"round trip"[..]));
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn sends_outside_the_allow_list_are_denied_and_counted() {
    let host = host(8);
    host.spawn(spec("sink", "echo")).await.unwrap();
    let forwarder = host.spawn(spec("forwarder", "forwarder")).await.unwrap();
    let reply = forwarder
        .request(&b"s-hello"[..], WAIT)
        .await
        .unwrap()
        .unwrap();
    let send_code = i32::from_le_bytes(reply[..4].try_into().unwrap());
    let publish_code = i32::from_le_bytes(reply[4..8].try_into().unwrap());
    assert_eq!(
        (send_code, publish_code),
        (airssys_wasm::codes::DENIED, airssys_wasm::codes::DENIED)
    );
    let listed = host.list();
    assert_eq!(
        listed
            .iter()
            .find(|c| c.id.as_str() == "sink")
            .unwrap()
            .handled,
        0
    );
    assert_eq!(
        listed
            .iter()
            .find(|c| c.id.as_str() == "forwarder")
            .unwrap()
            .denied,
        2
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn topic_messages_fan_out_to_every_matching_subscriber() {
    let host = host(8);
    let star = host
        .spawn(spec("star", "crashing_counter").subscribe("orders.*"))
        .await
        .unwrap();
    let tail = host
        .spawn(spec("tail", "crashing_counter").subscribe("orders.>"))
        .await
        .unwrap();
    let other = host
        .spawn(spec("other", "crashing_counter").subscribe("billing.*"))
        .await
        .unwrap();
    host.publish("orders.new", &b"1"[..]).unwrap();
    host.publish("orders.eu.new", &b"2"[..]).unwrap();
    host.publish("billing.paid", &b"3"[..]).unwrap();
    // Topic delivery goes through the host's pump; wait until it has landed.
    timeout(WAIT, async {
        while host.list().iter().map(|c| c.handled).sum::<u64>() < 4 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    // Each reply counts the topic messages that arrived before the request.
    assert_eq!(count(star.request(&b"q"[..], WAIT).await.unwrap()), 2);
    assert_eq!(count(tail.request(&b"q"[..], WAIT).await.unwrap()), 3);
    assert_eq!(count(other.request(&b"q"[..], WAIT).await.unwrap()), 2);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_stopped_component_dead_letters_what_was_left_in_its_mailbox() {
    let host = host(8);
    let limits = ComponentLimits::default().execution_timeout(Duration::from_millis(300));
    // The stop waits out the running call: a stop timeout far past the
    // execution timeout, so that on a loaded machine (the epoch ticker
    // late) the call still ends by its timeout, not by the stop's abort.
    let looper = host
        .spawn(
            spec("looper", "infinite_loop")
                .limits(limits)
                .stop_timeout(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        looper.send(&b"spin"[..]).await.unwrap();
    }
    timeout(WAIT, async {
        while looper.mailbox_len() != 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    host.stop("looper").await.unwrap();
    let stats = host.dead_letter_stats();
    assert_eq!(
        stats.handler_failed, 1,
        "the message that was running timed out"
    );
    assert_eq!(stats.actor_stopped, 2, "the two queued behind it");
    assert!(matches!(
        host.send("looper", &b"late"[..]).await,
        Err(HostError::UnknownComponent { .. })
    ));
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn invoke_calls_exports_with_typed_arguments_and_errors() {
    let host = host(8);
    let counter = host.spawn(spec("counter", "counter")).await.unwrap();
    let out = counter
        .invoke("add", vec![WasmValue::I32(2), WasmValue::I64(40)], WAIT)
        .await
        .unwrap();
    assert_eq!(out, vec![WasmValue::I64(42)]);
    let err = counter
        .invoke("add", vec![WasmValue::I32(2)], WAIT)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HostError::HandlerFailed {
                cause: ComponentFailure::Guest(GuestError::ArityMismatch {
                    expected: 2,
                    got: 1,
                    ..
                }),
                ..
            }
        ),
        "{err}"
    );
    let err = counter.invoke("nope", vec![], WAIT).await.unwrap_err();
    assert!(
        matches!(
            err,
            HostError::HandlerFailed {
                cause: ComponentFailure::Guest(GuestError::ExportNotFound { ref export, .. }),
                ..
            } if export == "nope"
        ),
        "{err}"
    );
    // Bad invokes are not crashes.
    assert_eq!(counter.stats().restarts, 0);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn health_combines_lifecycle_and_the_guest_export() {
    let host = host(8);
    let degraded = host
        .spawn(spec("degraded", "health_degraded"))
        .await
        .unwrap();
    let health = degraded.health(WAIT).await.unwrap();
    assert_eq!(health.state, LifecycleState::Ready);
    assert!(matches!(health.guest, GuestHealth::Degraded(_)));
    let plain = host.spawn(spec("plain", "echo")).await.unwrap();
    assert_eq!(
        plain.health(WAIT).await.unwrap().guest,
        GuestHealth::Healthy
    );
    host.shutdown(WAIT).await;
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_component_is_restarted_after_the_threshold() {
    let host = host(8);
    let mut events = host.supervisor().events();
    let health = HealthConfig::new(Duration::from_secs(1), Duration::from_millis(500), 2);
    let sick = host
        .spawn(
            spec("sick", "health_unhealthy")
                .health(health)
                .restart(RestartPolicy::Permanent),
        )
        .await
        .unwrap();
    timeout(Duration::from_secs(30), async {
        loop {
            if let airssys_rt::supervisor::SupervisionEvent::ChildRestarted { .. } =
                events.recv().await.unwrap()
            {
                return;
            }
        }
    })
    .await
    .expect("a health-triggered restart");
    assert!(sick.stats().restarts >= 1);
    host.shutdown(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_components_keep_answering_while_one_keeps_crashing() {
    let host = ComponentHost::builder()
        .engine(
            EngineConfig::default()
                .max_components(1_010)
                .max_memory_per_component(1 << 20),
        )
        .intensity(1_000, Duration::from_secs(60))
        .build()
        .unwrap();
    const N: usize = 1_000;
    let mut components = Vec::with_capacity(N);
    for i in 0..N {
        components.push(
            within(
                "spawning",
                &host,
                host.spawn(spec(&format!("c{i}"), "crashing_counter")),
            )
            .await
            .unwrap(),
        );
    }
    let crasher = components[0].clone();
    let crashing = tokio::spawn(async move {
        for _ in 0..20 {
            let _ = crasher.request(&b"!boom"[..], WAIT).await;
        }
    });
    let mut sent = 0u64;
    for round in 1..=3 {
        let mut replies = Vec::with_capacity(N - 1);
        for component in &components[1..] {
            let component = component.clone();
            replies.push(tokio::spawn(async move {
                component.request(&b"x"[..], WAIT).await
            }));
            sent += 1;
        }
        for reply in replies {
            assert_eq!(
                count(
                    within("a request round", &host, reply)
                        .await
                        .unwrap()
                        .unwrap()
                ),
                round
            );
        }
    }
    within("the crashing requests", &host, crashing)
        .await
        .unwrap();
    // The last crash's restart may still be under way when its error arrives.
    timeout(WAIT, async {
        while host.list()[0].restarts < 20 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    let stats = host.list();
    let handled: u64 = stats.iter().map(|c| c.handled).sum();
    let crashes = host.dead_letter_stats().handler_failed;
    // Every message accounted for: the 2,997 handled plus 20 crashes dead-lettered.
    assert_eq!(handled, sent);
    assert_eq!(crashes, 20);
    assert_eq!(stats[0].restarts, 20);
    within("shutdown", &host, host.shutdown(Duration::from_secs(30))).await;
}

/// Awaits `future`, failing the test with the phase's name if it stalls:
/// every wait inside has its own timeout, so a stall here is a lost wake-up
/// somewhere. The failure names the phase and what the host looked like
/// then (components by state, the ones with queued messages, dead letters),
/// to say where to look.
async fn within<T>(
    phase: &str,
    host: &ComponentHost,
    future: impl std::future::Future<Output = T>,
) -> T {
    match timeout(Duration::from_secs(120), future).await {
        Ok(value) => value,
        Err(_) => panic!("stalled for 120 s during {phase}\n{}", host_state(host)),
    }
}

#[tokio::test]
async fn the_stall_report_counts_components_by_state_and_names_queued_ones() {
    let host = host(4);
    for id in ["a", "b"] {
        host.spawn(spec(id, "crashing_counter")).await.unwrap();
    }
    let report = host_state(&host);
    assert!(
        report.starts_with("2 components by state: {\"Ready\": 2}"),
        "{report}"
    );
    assert!(
        report.contains("with queued messages (first 20): []"),
        "{report}"
    );
    host.shutdown(WAIT).await;
}

/// A summary of the host's components for a stall report.
fn host_state(host: &ComponentHost) -> String {
    let components = host.list();
    let mut by_state = std::collections::BTreeMap::new();
    for component in &components {
        *by_state
            .entry(format!("{:?}", component.state))
            .or_insert(0usize) += 1;
    }
    let queued: Vec<String> = components
        .iter()
        .filter(|component| component.mailbox_len > 0)
        .take(20)
        .map(|component| {
            format!(
                "{} {:?}: {} queued, {} handled, {} failed, {} restarts",
                component.id,
                component.state,
                component.mailbox_len,
                component.handled,
                component.failed,
                component.restarts
            )
        })
        .collect();
    format!(
        "{} components by state: {by_state:?}\nwith queued messages (first 20): {queued:#?}\ndead letters: {:?}",
        components.len(),
        host.dead_letter_stats()
    )
}

#[tokio::test]
async fn a_shutdown_message_stops_a_transient_component_after_what_was_queued_before_it() {
    let host = host(8);
    let counter = host
        .spawn(spec("counter", "crashing_counter").restart(RestartPolicy::Transient))
        .await
        .unwrap();
    counter.send(&b"a"[..]).await.unwrap();
    counter.send(&b"b"[..]).await.unwrap();
    counter.stop_after_queued().await.unwrap();
    let late = counter.send(&b"late"[..]).await;
    timeout(WAIT, async {
        while host.registry().state("counter") != Some(LifecycleState::Stopped) {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    let info = host
        .list()
        .into_iter()
        .find(|c| c.id.as_str() == "counter")
        .unwrap();
    assert_eq!(
        info.handled, 2,
        "a and b; the shutdown is a control request, not a message"
    );
    assert_eq!(info.restarts, 0, "transient: a requested stop is final");
    // The late message was either refused at the sender or dead-lettered: never lost.
    match late {
        Ok(()) => assert_eq!(host.dead_letter_stats().actor_stopped, 1),
        Err(error) => assert!(
            matches!(error, HostError::ComponentStopped { .. }),
            "{error}"
        ),
    }
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_guest_reads_its_configuration_through_config_get() {
    let host = host(8);
    let configured = host
        .spawn(
            spec("configured", "configured")
                .config("region", "eu-west")
                .config("greeting", "a value longer than sixteen bytes"),
        )
        .await
        .unwrap();
    let reply = configured.request(&b"region"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"eu-west"[..]));
    // Longer values are truncated to the guest's buffer (it sees the full length).
    let reply = configured.request(&b"greeting"[..], WAIT).await.unwrap();
    assert_eq!(reply.as_deref(), Some(&b"a value longer t"[..]));
    let reply = configured
        .request(&b"missing"[..], WAIT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        i32::from_le_bytes(reply[..4].try_into().unwrap()),
        airssys_wasm::codes::NOT_FOUND
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn restart_runs_after_the_queued_messages_and_keeps_the_mailbox() {
    let host = host(8);
    let c = host.spawn(spec("c", "counter")).await.unwrap();
    for _ in 0..3 {
        c.send(&b"m"[..]).await.unwrap();
    }
    host.restart("c", Duration::from_secs(5)).await.unwrap();
    // The three queued messages reached the old incarnation; the next one
    // reaches a fresh instance through the same mailbox.
    let reply = c.request(&b"m"[..], Duration::from_secs(5)).await.unwrap();
    assert_eq!(count(reply), 1);
    let info = &host.list()[0];
    assert_eq!((info.restarts, info.handled, info.failed), (1, 4, 0));
    assert_eq!(host.dead_letter_stats().total(), 0);
    assert!(matches!(
        host.restart("nobody", Duration::from_secs(1)).await,
        Err(HostError::UnknownComponent { .. })
    ));
    host.shutdown(Duration::from_secs(1)).await;
}

/// A guest that checks its messages arrive in order (each payload's first
/// byte is the next number, mod 256; anything else traps) and spins a
/// while on the first one, so the sends behind it find its mailbox full.
const IN_ORDER: &str = r#"(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 0))
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param $ptr i32) (param $len i32) (result i32)
    (local $byte i32) (local $spin i32)
    (local.set $byte (i32.load8_u
      (i32.add (i32.add (i32.add (local.get $ptr) (i32.const 24))
        (i32.load offset=4 (local.get $ptr))) (i32.load offset=8 (local.get $ptr)))))
    (if (i32.ne (local.get $byte) (global.get $next)) (then unreachable))
    (global.set $next (i32.and (i32.add (global.get $next) (i32.const 1)) (i32.const 255)))
    (if (i32.eqz (local.get $byte))
      (then (loop $busy
        (local.set $spin (i32.add (local.get $spin) (i32.const 1)))
        (br_if $busy (i32.lt_u (local.get $spin) (i32.const 20000000))))))
    i32.const 0))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_that_find_the_mailbox_full_wait_for_room_and_keep_their_order() {
    const SENDS: u32 = 200;
    let host = host(8);
    let target = host
        .spawn(ComponentSpec::new("in-order", IN_ORDER.as_bytes().to_vec()).mailbox_capacity(2))
        .await
        .unwrap();
    for i in 0..SENDS {
        timeout(WAIT, host.send("in-order", vec![i as u8]))
            .await
            .expect("a send waits for room, not forever")
            .unwrap();
    }
    timeout(WAIT, async {
        while target.stats().handled < u64::from(SENDS) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("every send handled");
    let stats = target.stats();
    assert_eq!(stats.handled, u64::from(SENDS));
    assert_eq!(stats.failed, 0, "a message out of order would have trapped");
    assert_eq!(host.dead_letter_stats().total(), 0);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_component_ref_addresses_its_own_incarnation_not_a_namesake_spawned_later() {
    let host = host(8);
    let old = host.spawn(spec("c", "counter")).await.unwrap();
    assert_eq!(count(old.request(&b"m"[..], WAIT).await.unwrap()), 1);
    host.stop("c").await.unwrap();
    let new = host.spawn(spec("c", "counter")).await.unwrap();
    // The old handle holds the stopped component's actor: it never looks
    // the id up again, so it cannot reach the new component by its name.
    let refused = old.send(&b"m"[..]).await.unwrap_err();
    assert!(
        matches!(&refused, HostError::ComponentStopped { payload: Some(p), .. } if p.as_ref() == b"m"),
        "{refused:?}"
    );
    assert!(matches!(
        old.request(&b"m"[..], WAIT).await,
        Err(HostError::ComponentStopped { .. })
    ));
    assert_eq!(count(new.request(&b"m"[..], WAIT).await.unwrap()), 1);
    host.shutdown(WAIT).await;
}
