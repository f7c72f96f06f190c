//! The per-component and per-host metrics move when they should: a slow
//! guest raises its handle-duration histogram, a growing one its memory
//! gauge, a refused host call its refusals of that kind, a trap its traps
//! of that kind.

mod common;

use std::time::Duration;

use airssys_wasm::metrics::{DeniedKind, HistogramSnapshot, TrapKind};
use airssys_wasm::{ComponentHost, ComponentLimits, ComponentSpec, EngineConfig, Permissions};
use common::{fixture, host};

const WAIT: Duration = Duration::from_secs(10);

/// Spins `handle-message` for about 30 million iterations (tens of
/// milliseconds), then replies nothing.
const SLOW: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param i32 i32) (result i32)
    (local $i i32)
    (local.set $i (i32.const 30000000))
    (loop $spin
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br_if $spin (i32.gt_s (local.get $i) (i32.const 0))))
    i32.const 0))"#;

/// Grows its memory by 4 pages (256 KiB) per message.
const GROWER: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param i32 i32) (result i32)
    (drop (memory.grow (i32.const 4)))
    i32.const 0))"#;

/// What the host's metrics say about one component.
#[derive(Debug, Default)]
struct Seen {
    handle: HistogramSnapshot,
    wait: HistogramSnapshot,
    request: HistogramSnapshot,
    memory: u64,
    peak: u64,
    fuel: u64,
    denied: Vec<(DeniedKind, u64)>,
    traps: Vec<(TrapKind, u64)>,
}

fn seen(host: &ComponentHost, id: &str) -> Seen {
    let mut out = None;
    host.visit_metrics(|cid, stats| {
        if cid.as_str() == id {
            out = Some(Seen {
                handle: stats.handle_seconds.snapshot(),
                wait: stats.mailbox_wait_seconds.snapshot(),
                request: stats.request_seconds.snapshot(),
                memory: stats.memory_bytes(),
                peak: stats.memory_peak_bytes(),
                fuel: stats.fuel_consumed(),
                denied: DeniedKind::ALL
                    .iter()
                    .map(|k| (*k, stats.denied_of(*k)))
                    .collect(),
                traps: TrapKind::ALL
                    .iter()
                    .map(|k| (*k, stats.traps_of(*k)))
                    .collect(),
            });
        }
    });
    out.unwrap_or_else(|| panic!("no metrics for {id}"))
}

fn denied(seen: &Seen, kind: DeniedKind) -> u64 {
    seen.denied
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(0, |(_, n)| *n)
}

fn traps(seen: &Seen, kind: TrapKind) -> u64 {
    seen.traps
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(0, |(_, n)| *n)
}

/// Observations at or below `seconds`.
fn at_most(h: &HistogramSnapshot, seconds: f64) -> u64 {
    h.cumulative()
        .take_while(|(le, _)| *le <= seconds)
        .last()
        .map_or(0, |(_, n)| n)
}

#[tokio::test]
async fn a_slow_guest_raises_its_handle_duration_histogram() {
    let host = host(8);
    let fast = host
        .spawn(ComponentSpec::new("fast", fixture("echo").into_bytes()))
        .await
        .unwrap();
    let slow = host
        .spawn(ComponentSpec::new("slow", SLOW.as_bytes().to_vec()))
        .await
        .unwrap();
    fast.request(&b"x"[..], WAIT).await.unwrap();
    slow.request(&b"x"[..], WAIT).await.unwrap();

    let (fast, slow) = (seen(&host, "fast"), seen(&host, "slow"));
    assert_eq!((fast.handle.count(), slow.handle.count()), (1, 1));
    // The spin takes milliseconds; an echo takes microseconds.
    assert_eq!(at_most(&slow.handle, 0.001), 0, "{:?}", slow.handle);
    assert!(
        slow.handle.sum_seconds() > 10.0 * fast.handle.sum_seconds(),
        "{slow:?} {fast:?}"
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn messages_queued_behind_a_slow_one_show_their_wait() {
    let host = host(8);
    let slow = host
        .spawn(ComponentSpec::new("slow", SLOW.as_bytes().to_vec()))
        .await
        .unwrap();
    for _ in 0..3 {
        slow.send(&b"x"[..]).await.unwrap();
    }
    // The request queues behind the three sends.
    slow.request(&b"x"[..], WAIT).await.unwrap();
    let seen = seen(&host, "slow");
    assert_eq!(seen.wait.count(), 4, "{:?}", seen.wait);
    // The 2nd waited for one slow handling, the 3rd for two, the 4th for
    // three: six in all, of which three is a safe floor.
    let one_handling = seen.handle.sum_seconds() / 4.0;
    assert!(seen.wait.sum_seconds() >= 3.0 * one_handling, "{seen:?}");
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_memory_growing_guest_raises_its_memory_gauge() {
    let host = host(8);
    let grower = host
        .spawn(ComponentSpec::new("grower", GROWER.as_bytes().to_vec()))
        .await
        .unwrap();
    let before = seen(&host, "grower");
    assert_eq!(before.memory, 1 << 16, "{before:?}");
    grower.request(&b"x"[..], WAIT).await.unwrap();
    grower.request(&b"x"[..], WAIT).await.unwrap();
    let after = seen(&host, "grower");
    assert_eq!(after.memory, 9 << 16, "{after:?}");
    assert_eq!(after.peak, 9 << 16);

    // A fresh instance starts small again; the peak stays.
    host.restart("grower", WAIT).await.unwrap();
    grower.request(&b"x"[..], WAIT).await.unwrap();
    let restarted = seen(&host, "grower");
    assert_eq!(
        (restarted.memory, restarted.peak),
        (5 << 16, 9 << 16),
        "{restarted:?}"
    );
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_refused_host_call_counts_under_its_kind() {
    let host = host(8);
    host.spawn(ComponentSpec::new("sink", fixture("echo").into_bytes()))
        .await
        .unwrap();
    let forwarder = host
        .spawn(ComponentSpec::new(
            "forwarder",
            fixture("forwarder").into_bytes(),
        ))
        .await
        .unwrap();
    forwarder.request(&b"s-hello"[..], WAIT).await.unwrap();
    let seen = seen(&host, "forwarder");
    assert_eq!(denied(&seen, DeniedKind::Send), 1, "{seen:?}");
    assert_eq!(denied(&seen, DeniedKind::Publish), 1, "{seen:?}");
    assert_eq!(denied(&seen, DeniedKind::Request), 0, "{seen:?}");
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_trap_and_a_timeout_count_under_their_kinds() {
    let host = host(8);
    let crasher = host
        .spawn(ComponentSpec::new(
            "crasher",
            fixture("crasher").into_bytes(),
        ))
        .await
        .unwrap();
    assert!(crasher.request(&b"crash"[..], WAIT).await.is_err());
    // A handler's error code is not a trap.
    assert!(crasher.request(&b"fail"[..], WAIT).await.is_err());
    let looper = host
        .spawn(
            ComponentSpec::new("looper", fixture("infinite_loop").into_bytes())
                .limits(ComponentLimits::default().execution_timeout(Duration::from_millis(50))),
        )
        .await
        .unwrap();
    assert!(looper.request(&b"spin"[..], WAIT).await.is_err());

    let crasher = seen(&host, "crasher");
    assert_eq!(traps(&crasher, TrapKind::Trap), 1, "{crasher:?}");
    assert_eq!(traps(&crasher, TrapKind::Timeout), 0, "{crasher:?}");
    let looper = seen(&host, "looper");
    assert_eq!(traps(&looper, TrapKind::Timeout), 1, "{looper:?}");
    assert_eq!(traps(&looper, TrapKind::Trap), 0, "{looper:?}");
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn a_requester_times_its_round_trips() {
    let host = host(8);
    host.spawn(ComponentSpec::new(
        "responder",
        fixture("echo").into_bytes(),
    ))
    .await
    .unwrap();
    let requester = host
        .spawn(
            ComponentSpec::new("requester", fixture("requester").into_bytes())
                .permissions(Permissions::deny_all().allow_target("responder")),
        )
        .await
        .unwrap();
    requester.request(&b"one"[..], WAIT).await.unwrap();
    requester.request(&b"two"[..], WAIT).await.unwrap();
    assert_eq!(seen(&host, "requester").request.count(), 2);
    assert_eq!(seen(&host, "responder").request.count(), 0);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn fuel_consumed_is_counted_when_fuel_is_on() {
    let host = ComponentHost::builder()
        .engine(
            EngineConfig::default()
                .max_components(4)
                .max_memory_per_component(1 << 20)
                .fuel(true),
        )
        .build()
        .unwrap();
    let slow = host
        .spawn(
            ComponentSpec::new("slow", SLOW.as_bytes().to_vec())
                .limits(ComponentLimits::default().fuel_per_call(Some(1_000_000_000))),
        )
        .await
        .unwrap();
    slow.request(&b"x"[..], WAIT).await.unwrap();
    let first = seen(&host, "slow").fuel;
    // 30 million iterations of a handful of instructions each.
    assert!(first > 30_000_000, "{first}");
    slow.request(&b"x"[..], WAIT).await.unwrap();
    assert!(seen(&host, "slow").fuel >= 2 * first - first / 100);
    host.shutdown(WAIT).await;
}

#[tokio::test]
async fn the_host_counts_spawns_pool_slots_and_module_cache_hits() {
    let host = host(8);
    let echo = fixture("echo").into_bytes();
    for id in ["a", "b", "c"] {
        host.spawn(ComponentSpec::new(id, echo.clone()))
            .await
            .unwrap();
    }
    assert_eq!(host.metrics().spawn_seconds.snapshot().count(), 3);
    let cache = host.engine().module_cache_stats();
    assert_eq!((cache.misses, cache.hits), (1, 2), "{cache:?}");
    assert_eq!(cache.compile_seconds.count(), 1);
    let pool = host.engine().pool_usage().expect("the pooling allocator");
    assert_eq!(pool.memories_in_use, 3, "{pool:?}");
    assert!(pool.memories_total >= 8, "{pool:?}");
    host.stop("c").await.unwrap();
    assert_eq!(host.engine().pool_usage().unwrap().memories_in_use, 2);
    host.shutdown(WAIT).await;
}
