//! `monitor_down`: a component is stopped, and the component monitoring it
//! receives its down (the `monitor` import, docs/core-abi.md "Monitors"),
//! beside a bare tokio oneshot: a task told to stop that reports its end
//! on a oneshot. Rounds interleave the two sides.

use std::time::{Duration, Instant};

use airssys_wasm::host::{ComponentHost, ComponentSpec};
use airssys_wasm::{Permissions, SubjectPattern};

use super::{host, host_err, micros, spec, BenchError, Scenario};

const S: &str = "monitor_down";

/// Monitors the component named by a data message (`m<id>`, replies with
/// the import's i64); publishes every down it receives (any message with
/// a subject) on `bench.down`.
const WATCHER: &str = r#"(module
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (import "airssys" "publish" (func $publish (param i32 i32 i32 i32) (result i32)))
  (import "airssys" "monitor" (func $monitor (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 100) "bench.down")
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param $m i32) (param $len i32) (result i32)
    (local $p i32) (local $n i32)
    (local.set $p (i32.add (i32.add (i32.add (local.get $m) (i32.const 24))
      (i32.load offset=4 (local.get $m))) (i32.load offset=8 (local.get $m))))
    (local.set $n (i32.load offset=12 (local.get $m)))
    (if (i32.load offset=8 (local.get $m))
      (then
        (drop (call $publish (i32.const 100) (i32.const 10) (local.get $p) (local.get $n)))
        (return (i32.const 0))))
    (i64.store (i32.const 16) (call $monitor
      (i32.add (local.get $p) (i32.const 1)) (i32.sub (local.get $n) (i32.const 1))))
    (drop (call $reply (i32.const 16) (i32.const 8)))
    i32.const 0))"#;

/// Time one down may take before the scenario is declared stalled.
const DOWN_WAIT: Duration = Duration::from_secs(10);

/// `n` rounds of each side.
pub(super) async fn run(n: usize) -> Result<Scenario, BenchError> {
    let host = host(S, 4)?;
    let watcher = ComponentSpec::new("watcher", WATCHER.as_bytes().to_vec()).permissions(
        Permissions::allow_all().allow_subject(SubjectPattern::new("bench.>").map_err(|e| {
            BenchError::Wasm {
                scenario: S,
                reason: e.to_string(),
            }
        })?),
    );
    host.spawn(watcher).await.map_err(host_err(S))?;
    let mut downs = host
        .broker()
        .subscribe("bench.down")
        .map_err(|e| BenchError::Wasm {
            scenario: S,
            reason: e.to_string(),
        })?;
    let (mut ours, mut base) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for round in 0..n {
        ours.push(one_down(&host, &mut downs, round).await?);
        base.push(one_oneshot().await);
    }
    host.shutdown(Duration::from_secs(10)).await;
    Ok(Scenario::latency(
        S,
        &mut ours,
        "tokio task end reported on a oneshot",
        &mut base,
    ))
}

/// Spawns a target, has the watcher monitor it, then times its stop until
/// the watcher's guest has the down (it publishes it on `bench.down`).
async fn one_down(
    host: &ComponentHost,
    downs: &mut airssys_rt::broker::Subscription<airssys_wasm::TopicMessage>,
    round: usize,
) -> Result<f64, BenchError> {
    let id = format!("target-{round}");
    host.spawn(spec(id.clone())).await.map_err(host_err(S))?;
    host.request("watcher", format!("m{id}").into_bytes(), DOWN_WAIT)
        .await
        .map_err(host_err(S))?;
    let t = Instant::now();
    host.stop(&id).await.map_err(host_err(S))?;
    match tokio::time::timeout(DOWN_WAIT, downs.recv()).await {
        Ok(Some(_)) => Ok(micros(t.elapsed())),
        _ => Err(BenchError::Stalled {
            scenario: S,
            timeout: DOWN_WAIT,
        }),
    }
}

/// The baseline: a task waiting to be told to stop, whose end is reported
/// on a oneshot; timed from the stop to the report.
async fn one_oneshot() -> f64 {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (down_tx, down_rx) = tokio::sync::oneshot::channel::<&'static str>();
    let task = tokio::spawn(async move {
        let _ = stop_rx.await;
        let _ = down_tx.send("shutdown");
    });
    tokio::task::yield_now().await;
    let t = Instant::now();
    let _ = stop_tx.send(());
    let down = down_rx.await;
    let elapsed = micros(t.elapsed());
    std::hint::black_box(down.ok());
    let _ = task.await;
    elapsed
}
