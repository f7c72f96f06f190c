//! The hostile-guest catalogue: one test per way a guest can misbehave.
//!
//! Each test checks the same four things (`docs/reliability.md` lists the
//! cases and what the host guarantees for each):
//!
//! 1. the attack is contained with a typed error naming the component;
//! 2. the host stays alive (a healthy neighbour answers afterwards, `list`
//!    works, shutdown completes);
//! 3. every message the host accepted is accounted for: handled, failed or
//!    dead-lettered, from `ComponentHost::list` and `dead_letter_stats`;
//! 4. a healthy neighbour's request p99 while the attack runs stays within
//!    2x its quiet p99 measured just before, in the same test, or within
//!    quiet p99 + 5 ms, whichever is larger (the floor absorbs debug-build
//!    scheduling noise on a small shared machine).
//!
//! Attackers run in their own supervisor group ("attackers", generous
//! restart intensity, `Temporary` under the root) and the neighbour under
//! the root: a crash-looping guest must not use up the restart intensity of
//! the group its neighbour lives in.
//!
//! The p99 under attack is the best of up to three samples of 200 requests
//! taken while the attack runs.
//!
//! The tests run one at a time (a process-wide lock) so that one test's
//! attack does not show up in another's latency figures.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_rt::supervisor::{
    BackoffPolicy, ChildSpec, RestartPolicy, SupervisionEvent, SupervisorNode,
};
use airssys_wasm::{
    codes, ComponentFailure, ComponentHost, ComponentLimits, ComponentRef, ComponentSpec,
    EngineConfig, GuestError, GuestHealth, HostError, Permissions, SubjectPattern, WasmError,
    WasmValue,
};
use bytes::Bytes;
use common::{fixture, fixture_binary};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);
/// Requests per latency sample.
const SAMPLES: usize = 200;
/// The absolute slack allowed on the neighbour's p99 (see the module doc).
const P99_FLOOR: Duration = Duration::from_millis(5);
/// Samples taken under attack before the p99 bound is declared broken.
const ATTEMPTS: usize = 3;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn host() -> ComponentHost {
    host_with(EngineConfig::default())
}

fn host_with(engine: EngineConfig) -> ComponentHost {
    ComponentHost::builder()
        .engine(engine.max_components(32).max_memory_per_component(16 << 20))
        .build()
        .unwrap()
}

/// The group attackers are spawned in: restarts without limit, and if it
/// ever failed, the root would not restart it (`Temporary`).
async fn attackers(host: &ComponentHost) -> airssys_rt::supervisor::SupervisorRef {
    host.supervisor()
        .add_supervisor(
            ChildSpec::new("attackers").restart(RestartPolicy::Temporary),
            SupervisorNode::builder("attackers")
                .intensity(u32::MAX, Duration::from_secs(1))
                .backoff(BackoffPolicy::none()),
        )
        .await
        .unwrap()
}

/// Spawns `spec` in the attackers' group.
async fn spawn_attacker(host: &ComponentHost, spec: ComponentSpec) -> ComponentRef {
    let group = attackers(host).await;
    host.spawn_in(&group, spec).await.unwrap()
}

fn spec(id: &str, fixture_name: &str) -> ComponentSpec {
    ComponentSpec::new(id, fixture(fixture_name).into_bytes())
}

fn fast_timeout() -> ComponentLimits {
    ComponentLimits::default().execution_timeout(Duration::from_millis(100))
}

fn code(reply: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(reply[at..at + 4].try_into().unwrap())
}

/// Tells a repeating attack when the measurement is over.
#[derive(Clone, Default)]
struct Stop(Arc<AtomicBool>);

impl Stop {
    fn stopped(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The healthy neighbour: an echo component and the requests sent to it.
struct Neighbour {
    component: ComponentRef,
    sent: u64,
}

#[derive(Debug, Clone, Copy)]
struct Latency {
    p50: Duration,
    p99: Duration,
}

impl Neighbour {
    async fn spawn(host: &ComponentHost) -> Self {
        let component = host.spawn(spec("neighbour", "echo")).await.unwrap();
        let mut neighbour = Neighbour { component, sent: 0 };
        neighbour.measure().await; // warm-up: first-call costs out of the figures
        neighbour
    }

    async fn measure(&mut self) -> Latency {
        let mut times = Vec::with_capacity(SAMPLES);
        for i in 0..SAMPLES {
            let payload = Bytes::from(format!("n{i}"));
            let started = Instant::now();
            let reply = self.component.request(payload.clone(), WAIT).await.unwrap();
            times.push(started.elapsed());
            assert_eq!(reply, Some(payload), "the neighbour answers correctly");
            self.sent += 1;
        }
        times.sort_unstable();
        Latency {
            p50: times[SAMPLES / 2],
            p99: times[SAMPLES * 99 / 100],
        }
    }

    /// Measures quiet, then again while `attack` runs in its own task, and
    /// asserts the p99 bound. Returns the attack's output.
    async fn under_attack<T, Fut>(&mut self, attack: impl FnOnce(Stop) -> Fut) -> T
    where
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let quiet = self.measure().await;
        let stop = Stop::default();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let attack = attack(stop.clone());
        let task = tokio::spawn(async move {
            let _ = started_tx.send(());
            attack.await
        });
        timeout(WAIT, started_rx).await.unwrap().unwrap();
        let allowed = (quiet.p99 * 2).max(quiet.p99 + P99_FLOOR);
        // Best of three samples under attack: one preemption by another
        // process on a shared machine is not the host's doing; a host that
        // lets an attack slow its neighbour fails all three.
        let mut during = self.measure().await;
        for _ in 1..ATTEMPTS {
            if during.p99 <= allowed {
                break;
            }
            eprintln!(
                "neighbour p99 {:?} over {allowed:?}; sampling again",
                during.p99
            );
            during = self.measure().await;
        }
        stop.0.store(true, Ordering::Release);
        let output = timeout(WAIT, task)
            .await
            .expect("the attack ends once told to")
            .unwrap();
        eprintln!(
            "neighbour: quiet p50 {:?} p99 {:?}; under attack p50 {:?} p99 {:?} (allowed {allowed:?})",
            quiet.p50, quiet.p99, during.p50, during.p99
        );
        assert!(
            during.p99 <= allowed,
            "neighbour p99 under attack {:?} > allowed {allowed:?} (quiet p99 {:?})",
            during.p99,
            quiet.p99
        );
        output
    }

    /// The host is alive: the neighbour still answers, it handled exactly
    /// what it was sent and failed nothing; then the host shuts down cleanly.
    async fn host_alive_and_shutdown(mut self, host: &ComponentHost) {
        self.measure().await;
        let info = host
            .list()
            .into_iter()
            .find(|c| c.id.as_str() == "neighbour")
            .unwrap();
        assert_eq!(info.handled, self.sent, "neighbour handled every request");
        assert_eq!(info.failed, 0);
        assert_eq!(info.restarts, 0);
        let report = host.shutdown(WAIT).await;
        assert!(report.aborted.is_empty(), "{report:?}");
    }
}

/// Waits until `component`'s mailbox is empty and `done` holds.
async fn settle(host: &ComponentHost, what: &str, mut done: impl FnMut(&ComponentHost) -> bool) {
    timeout(WAIT, async {
        while !done(host) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{what}: not settled; list {:?}, dead letters {:?}",
            host.list(),
            host.dead_letter_stats()
        )
    });
}

fn info(host: &ComponentHost, id: &str) -> airssys_wasm::ComponentInfo {
    host.list()
        .into_iter()
        .find(|c| c.id.as_str() == id)
        .unwrap_or_else(|| panic!("{id} is listed"))
}

/// The guest error inside a failed request, checking it names `id`.
fn guest_error(result: Result<Option<Bytes>, HostError>, id: &str) -> GuestError {
    match result {
        Err(HostError::HandlerFailed {
            component,
            cause: ComponentFailure::Guest(error),
        }) => {
            assert_eq!(component.as_str(), id);
            assert_eq!(error.component().as_str(), id);
            error
        }
        other => panic!("expected a guest failure of {id}, got {other:?}"),
    }
}

/// The common case of a fatal attacker: spawned from `attacker` in its own
/// group beside a healthy neighbour, it fails every request with a guest
/// error that `check` accepts, while the neighbour stays within its quiet
/// p99; every round is accounted for and the host survives.
async fn contained_fatal_attack(
    attacker: ComponentSpec,
    check: impl Fn(GuestError) + Send + 'static,
) {
    let host = host();
    let mut neighbour = Neighbour::spawn(&host).await;
    let attacker = spawn_attacker(&host, attacker).await;
    let rounds = neighbour
        .under_attack(|stop| async move { fatal_rounds(attacker, stop, check).await })
        .await;
    fatal_rounds_accounted(&host, rounds).await;
    neighbour.host_alive_and_shutdown(&host).await;
}

/// A repeated request that fails its guest: each round is one accepted
/// message that must end failed and dead-lettered, with a restart.
async fn fatal_rounds(
    attacker: ComponentRef,
    stop: Stop,
    check: impl Fn(GuestError) + Send + 'static,
) -> u64 {
    let mut rounds = 0;
    loop {
        let error = guest_error(attacker.request(&b"attack"[..], WAIT).await, "attacker");
        check(error);
        rounds += 1;
        if stop.stopped() {
            return rounds;
        }
    }
}

/// Accounting after [`fatal_rounds`]: every round failed, was dead-lettered
/// as a component failure, and restarted the attacker.
async fn fatal_rounds_accounted(host: &ComponentHost, rounds: u64) {
    settle(host, "attacker restarts", |h| {
        info(h, "attacker").restarts == rounds
    })
    .await;
    let attacker = info(host, "attacker");
    assert_eq!(attacker.handled, 0);
    assert_eq!(attacker.failed, rounds, "every accepted message failed");
    let dead = host.dead_letter_stats();
    assert_eq!(dead.component_failed, rounds, "and was dead-lettered");
    assert_eq!(dead.total(), rounds);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_is_interrupted_at_the_execution_timeout() {
    let _serial = SERIAL.lock().await;
    contained_fatal_attack(
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
    contained_fatal_attack(spec("attacker", "deep_recursion"), |e| {
        assert!(matches!(e, GuestError::StackOverflow { .. }), "{e:?}")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_storm_exceeds_its_group_intensity_and_escalates_without_touching_other_groups() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host).await;
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
    let mut neighbour = Neighbour::spawn(&host).await;
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
    let mut neighbour = Neighbour::spawn(&host).await;
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
    let mut neighbour = Neighbour::spawn(&host).await;
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
    contained_fatal_attack(spec("attacker", fixture_name), move |e| match e {
        GuestError::AbiViolation { reason, .. } => {
            assert!(reason.contains(expected), "{reason}")
        }
        other => panic!("expected AbiViolation, got {other:?}"),
    })
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

/// `spawn` fails with a `WasmError` naming `id`; nothing is registered.
async fn refused(host: &ComponentHost, id: &str, binary: Vec<u8>) -> WasmError {
    match host.spawn(ComponentSpec::new(id, binary)).await {
        Err(HostError::Wasm(error)) => {
            assert_eq!(error.component().map(|c| c.as_str()), Some(id), "{error}");
            assert!(error.to_string().contains(id), "{error}");
            assert!(host.component(id).is_none());
            error
        }
        other => panic!("expected a WasmError for {id}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_truncated_binaries_are_refused_with_a_typed_error() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host).await;
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
    let mut neighbour = Neighbour::spawn(&host).await;
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
    let mut neighbour = Neighbour::spawn(&host).await;
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
    let mut neighbour = Neighbour::spawn(&host).await;
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

async fn a_request(host: &ComponentHost, id: &str, payload: &'static [u8]) -> Bytes {
    host.request(id, payload, WAIT).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cycle_times_out_without_deadlock() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host).await;
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
    let mut neighbour = Neighbour::spawn(&host).await;
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
    let mut neighbour = Neighbour::spawn(&host).await;
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

/// LEB128 of `n`.
fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(body.len(), out);
    out.extend_from_slice(body);
}

/// A module of `count` functions of type `() -> ()`, each with the body
/// `body` (without its size prefix; must end in `end`).
fn bomb(count: usize, body: &[u8]) -> Vec<u8> {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut module);
    let mut functions = Vec::new();
    leb(count, &mut functions);
    functions.extend(std::iter::repeat_n(0u8, count));
    section(3, &functions, &mut module);
    let mut code = Vec::new();
    leb(count, &mut code);
    for _ in 0..count {
        leb(body.len(), &mut code);
        code.extend_from_slice(body);
    }
    section(10, &code, &mut module);
    module
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compile_bomb_of_a_million_functions_is_refused_before_compiling() {
    let _serial = SERIAL.lock().await;
    let host = host();
    let mut neighbour = Neighbour::spawn(&host).await;
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
    let mut neighbour = Neighbour::spawn(&host).await;
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
