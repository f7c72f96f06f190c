//! The hostile-guest catalogue's shared checks (`tests/hostile.rs` for core
//! modules, `tests/hostile_components.rs` for components): the attackers'
//! group, the healthy neighbour and its latency bound, the accounting.
//!
//! Each catalogue test checks the same four things (`docs/reliability.md`
//! lists the cases and what the host guarantees for each):
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
//! The tests of one file run one at a time ([`SERIAL`]) so that one test's
//! attack does not show up in another's latency figures.
//!
//! The cases both guest forms have are written once, in [`cases`], over the
//! guest's [`Form`]; the two test files call them and hold only what one
//! form has.

pub mod cases;
mod form;

pub use form::{Form, Refusal};

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_rt::supervisor::{BackoffPolicy, ChildSpec, RestartPolicy, SupervisorNode};
use airssys_wasm::{
    ComponentFailure, ComponentHost, ComponentLimits, ComponentRef, ComponentSpec, EngineConfig,
    GuestError, HostError, WasmError,
};
use bytes::Bytes;
use tokio::time::timeout;

pub const WAIT: Duration = Duration::from_secs(20);
/// Requests per latency sample.
pub const SAMPLES: usize = 200;
/// The absolute slack allowed on the neighbour's p99 (see the module doc).
pub const P99_FLOOR: Duration = Duration::from_millis(5);
/// Samples taken under attack before the p99 bound is declared broken.
pub const ATTEMPTS: usize = 3;

pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn host() -> ComponentHost {
    host_with(EngineConfig::default())
}

pub fn host_with(engine: EngineConfig) -> ComponentHost {
    ComponentHost::builder()
        .engine(engine.max_components(32).max_memory_per_component(16 << 20))
        .build()
        .unwrap()
}

/// The group attackers are spawned in: restarts without limit, and if it
/// ever failed, the root would not restart it (`Temporary`).
pub async fn attackers(host: &ComponentHost) -> airssys_rt::supervisor::SupervisorRef {
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
pub async fn spawn_attacker(host: &ComponentHost, spec: ComponentSpec) -> ComponentRef {
    let group = attackers(host).await;
    host.spawn_in(&group, spec).await.unwrap()
}

pub fn fast_timeout() -> ComponentLimits {
    ComponentLimits::default().execution_timeout(Duration::from_millis(100))
}

/// An i32 LE at `at` of a reply (a core fixture's number or code).
pub fn code(reply: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(reply[at..at + 4].try_into().unwrap())
}

/// A u32 LE at `at` of a reply (a component fixture's number).
pub fn word(reply: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(reply[at..at + 4].try_into().unwrap())
}

/// Tells a repeating attack when the measurement is over.
#[derive(Clone, Default)]
pub struct Stop(pub Arc<AtomicBool>);

impl Stop {
    pub fn stopped(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The healthy neighbour: an echo guest (of either form) and the requests
/// sent to it.
pub struct Neighbour {
    component: ComponentRef,
    sent: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub p50: Duration,
    pub p99: Duration,
}

impl Neighbour {
    /// Spawns `echo` (an echo guest of either form) as "neighbour" under
    /// the root and warms it up.
    pub async fn spawn(host: &ComponentHost, echo: ComponentSpec) -> Self {
        assert_eq!(echo.id().as_str(), "neighbour");
        let component = host.spawn(echo).await.unwrap();
        let mut neighbour = Neighbour { component, sent: 0 };
        neighbour.measure().await; // warm-up: first-call costs out of the figures
        neighbour
    }

    pub async fn measure(&mut self) -> Latency {
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
    pub async fn under_attack<T, Fut>(&mut self, attack: impl FnOnce(Stop) -> Fut) -> T
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
    pub async fn host_alive_and_shutdown(mut self, host: &ComponentHost) {
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
pub async fn settle(
    host: &ComponentHost,
    what: &str,
    mut done: impl FnMut(&ComponentHost) -> bool,
) {
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

pub fn info(host: &ComponentHost, id: &str) -> airssys_wasm::ComponentInfo {
    host.list()
        .into_iter()
        .find(|c| c.id.as_str() == id)
        .unwrap_or_else(|| panic!("{id} is listed"))
}

/// The guest error inside a failed request or invoke, checking it names
/// `id`.
pub fn guest_error<T: std::fmt::Debug>(result: Result<T, HostError>, id: &str) -> GuestError {
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
pub async fn contained_fatal_attack(
    neighbour: ComponentSpec,
    attacker: ComponentSpec,
    check: impl Fn(GuestError) + Send + 'static,
) {
    let host = host();
    let mut neighbour = Neighbour::spawn(&host, neighbour).await;
    let attacker = spawn_attacker(&host, attacker).await;
    let rounds = neighbour
        .under_attack(|stop| async move { fatal_rounds(attacker, stop, check).await })
        .await;
    fatal_rounds_accounted(&host, rounds).await;
    neighbour.host_alive_and_shutdown(&host).await;
}

/// A repeated request that fails its guest: each round is one accepted
/// message that must end failed and dead-lettered, with a restart.
pub async fn fatal_rounds(
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
pub async fn fatal_rounds_accounted(host: &ComponentHost, rounds: u64) {
    settle(host, "attacker restarts", |h| {
        info(h, "attacker").restarts == rounds
    })
    .await;
    let attacker = info(host, "attacker");
    assert_eq!(attacker.handled, 0);
    assert_eq!(attacker.failed, rounds, "every accepted message failed");
    let dead = host.dead_letter_stats();
    assert_eq!(dead.handler_failed, rounds, "and was dead-lettered");
    assert_eq!(dead.total(), rounds);
}

/// Accounting after `invokes` bad invokes of `id` beside refused spawns:
/// each invoke failed before the guest was called (nothing handled, no
/// restart, nothing dead-lettered), and only `id` and the neighbour are
/// registered.
pub fn bad_invokes_accounted(host: &ComponentHost, id: &str, invokes: u64) {
    let c = info(host, id);
    assert_eq!((c.handled, c.failed, c.restarts), (0, invokes, 0));
    assert_eq!(host.list().len(), 2);
    assert_eq!(host.dead_letter_stats().total(), 0);
}

/// `spawn` fails with a `WasmError` naming `id`; nothing is registered.
pub async fn refused(host: &ComponentHost, id: &str, binary: Vec<u8>) -> WasmError {
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

/// LEB128 of `n`.
pub fn leb(mut n: usize, out: &mut Vec<u8>) {
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

pub fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(body.len(), out);
    out.extend_from_slice(body);
}

/// A module of `count` functions of type `() -> ()`, each with the body
/// `body` (without its size prefix; must end in `end`).
pub fn bomb(count: usize, body: &[u8]) -> Vec<u8> {
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

/// A function body for [`bomb`]: no locals, `len` `nop`s, `end`.
pub fn nops(len: usize) -> Vec<u8> {
    let mut body = vec![0u8];
    body.extend(std::iter::repeat_n(0x01u8, len));
    body.push(0x0b);
    body
}

/// Where the first code section in `binary` ends: a core module's own, or
/// that of the first core module nested in a component. Custom sections
/// such as `name` may follow; the byte before is the last body's `end`.
pub fn code_end(binary: &[u8]) -> usize {
    for payload in wasmparser::Parser::new(0).parse_all(binary) {
        if let wasmparser::Payload::CodeSectionStart { range, .. } = payload.unwrap() {
            return range.end;
        }
    }
    panic!("no code section")
}

/// A compile bomb, and the limit its refusal must name with that limit's
/// value on the host under test.
pub struct Bomb {
    pub binary: Vec<u8>,
    pub limit: &'static str,
    pub max: u64,
}

/// Spawns each of `bombs` as "bomb" again and again while the neighbour
/// (`neighbour`, spawned on `host`) is measured: each is refused within 2 s
/// with `LimitExceeded` naming its limit and max and a value over it;
/// nothing but the neighbour is compiled, and the host survives.
pub async fn compile_bombs_refused(
    host: ComponentHost,
    neighbour: ComponentSpec,
    bombs: Vec<Bomb>,
) {
    let mut neighbour = Neighbour::spawn(&host, neighbour).await;
    let h = host.clone();
    let refusals = neighbour
        .under_attack(|stop| async move {
            let mut refusals = 0u64;
            loop {
                for bomb in &bombs {
                    let started = Instant::now();
                    match refused(&h, "bomb", bomb.binary.clone()).await {
                        WasmError::LimitExceeded {
                            limit, value, max, ..
                        } => {
                            assert_eq!((limit, max), (bomb.limit, bomb.max));
                            assert!(value > max, "{limit}: {value} over {max}");
                        }
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

pub async fn a_request(host: &ComponentHost, id: &str, payload: &'static [u8]) -> Bytes {
    host.request(id, payload, WAIT).await.unwrap().unwrap()
}
