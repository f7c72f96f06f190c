//! `monitor_memory`: bytes per idle monitor, beside `monitor_down`. One
//! component's guest monitors one idle component over and over through
//! the `monitor` import (docs/core-abi.md "Monitors"), and the growth of
//! the process's resident set is divided by the monitors made: the
//! target's slot (an airssys-rt `monitor_with` callback) and the
//! monitoring instance's table entry. Baseline: as many idle tokio
//! oneshot channels (sender and receiver kept, 16 bytes of handles each
//! in a vector), the bare way to be told once that something ended,
//! made first and kept to the end so that neither side reuses memory the
//! other freed.

use std::time::Duration;

use airssys_wasm::host::ComponentSpec;
use airssys_wasm::{ComponentLimits, Permissions};

use super::{host, host_err, rss_bytes, spec, BenchError, Scenario};

const S: &str = "monitor_memory";

/// Monitors per guest call: a call runs within the component's execution
/// time limit even in a debug build.
const PER_CALL: u32 = 5_000;

/// On a payload `<count: u32 LE><target>`, monitors `target` `count` times
/// and replies with the last import result (an i64: the monitor id, or a
/// negative error code).
const WATCHER: &str = r#"(module
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (import "airssys" "monitor" (func $monitor (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param $m i32) (param $len i32) (result i32)
    (local $p i32) (local $n i32) (local $left i32) (local $last i64)
    (local.set $p (i32.add (i32.add (i32.add (local.get $m) (i32.const 24))
      (i32.load offset=4 (local.get $m))) (i32.load offset=8 (local.get $m))))
    (local.set $n (i32.load offset=12 (local.get $m)))
    (local.set $left (i32.load (local.get $p)))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $left)))
        (local.set $last (call $monitor
          (i32.add (local.get $p) (i32.const 4)) (i32.sub (local.get $n) (i32.const 4))))
        (local.set $left (i32.sub (local.get $left) (i32.const 1)))
        (br $next)))
    (i64.store (i32.const 16) (local.get $last))
    (drop (call $reply (i32.const 16) (i32.const 8)))
    i32.const 0))"#;

/// `n` monitors (rounded up to a whole call) on each side.
pub(super) async fn run(n: usize) -> Result<Scenario, BenchError> {
    let calls = u32::try_from(n.div_ceil(PER_CALL as usize)).unwrap_or(u32::MAX);
    let monitors = u64::from(calls) * u64::from(PER_CALL);
    // The baseline first, kept until the end: memory either side freed
    // would be reused by the other, and its growth not seen.
    let before = rss_bytes();
    let channels: Vec<_> = (0..monitors)
        .map(|_| tokio::sync::oneshot::channel::<u64>())
        .collect();
    let base = rss_bytes().saturating_sub(before) as f64 / monitors as f64;

    let host = host(S, 4)?;
    let watcher = ComponentSpec::new("watcher", WATCHER.as_bytes().to_vec())
        .permissions(Permissions::allow_all())
        .limits(ComponentLimits::default().execution_timeout(Duration::from_secs(30)));
    host.spawn(watcher).await.map_err(host_err(S))?;
    let target = host
        .spawn(spec("target".into()))
        .await
        .map_err(host_err(S))?;
    let mut payload = PER_CALL.to_le_bytes().to_vec();
    payload.extend_from_slice(b"target");
    // One call first, so what the first call allocates once (the table's
    // first buckets, the guest's message buffer) is not counted.
    let ask = |payload: Vec<u8>| host.request("watcher", payload, Duration::from_secs(60));
    ask(payload.clone()).await.map_err(host_err(S))?;
    let armed_before = target.monitor_count();
    let before = rss_bytes();
    for _ in 0..calls {
        let reply = ask(payload.clone()).await.map_err(host_err(S))?;
        let last = reply
            .as_deref()
            .and_then(|r| r.get(..8))
            .and_then(|r| r.try_into().ok())
            .map_or(-1, i64::from_le_bytes);
        if last <= 0 {
            return Err(BenchError::Wasm {
                scenario: S,
                reason: format!("the guest's monitor import answered {last}"),
            });
        }
    }
    let grown = rss_bytes().saturating_sub(before);
    let armed = target.monitor_count() - armed_before;
    if armed as u64 != monitors {
        return Err(BenchError::Wasm {
            scenario: S,
            reason: format!("{armed} monitors armed, {monitors} made"),
        });
    }
    let ours = grown as f64 / monitors as f64;
    host.shutdown(Duration::from_secs(10)).await;
    std::hint::black_box(&channels);
    drop(channels);
    Ok(Scenario::value(
        S,
        "B",
        monitors,
        ours,
        "idle tokio oneshot channel (sender and receiver)",
        base.max(1.0),
    ))
}
