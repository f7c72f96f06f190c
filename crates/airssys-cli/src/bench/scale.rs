//! `airssys bench --scale N`: N live idle components on one host, each its
//! own actor and wasm instance, beside N bare wasmtime instances on an
//! engine configured the same way.
//!
//! | scenario | airssys | raw baseline | unit |
//! |---|---|---|---|
//! | `scale_spawn` | `ComponentHost::spawn_many` of N components of one spec (the batch form) | `InstancePre::instantiate_async` of N instances, each kept in its own `Store` | spawn/s |
//! | `scale_memory` | RSS growth per live component (actor, instance, registry, pool: all included), each having handled one message | RSS growth per kept bare instance, each having handled one call | KiB |
//! | `scale_request` | `ComponentHost::request` to a random one of the N | a typed `handle-message` call on a random one of the N bare instances | µs (p50/p99) |
//! | `scale_shutdown` | `ComponentHost::shutdown` of all N | dropping the N stores | ms |
//!
//! The engine's memory slots are one 64 KiB page (the guest's whole memory),
//! so a million slots take 64 GiB of address space.

use std::time::{Duration, Instant};

use airssys_wasm::host::ComponentHost;
use airssys_wasm::{AllocatorKind, EngineConfig, WasmEngine, WasmError};
use futures::StreamExt;
use rand::Rng;

use super::{
    host_err, micros, raw_deliver_one, raw_instance, raw_pre, rss_bytes, spec, wasm_err,
    BenchError, Scenario, ECHO, RAW_ONE_BYTE_MESSAGE,
};

/// The scale scenarios, in run order.
pub const SCALE_SCENARIOS: [&str; 4] = [
    "scale_spawn",
    "scale_memory",
    "scale_request",
    "scale_shutdown",
];

/// Requests in flight at once while `scale_memory` touches every component.
pub const IN_FLIGHT: usize = 64;

/// Requests timed in `scale_request`.
const REQUESTS: usize = 10_000;

/// One guest memory page: each component's whole memory slot.
const SLOT: usize = 64 * 1024;

/// How long a request may take, and shutdown as a whole.
const TIMEOUT: Duration = Duration::from_secs(120);

fn engine_config(n: usize) -> EngineConfig {
    EngineConfig::default()
        .max_components(u32::try_from(n + 8).unwrap_or(u32::MAX))
        .max_memory_per_component(SLOT)
}

/// What the host side measured.
struct Ours {
    spawns_per_s: f64,
    kib_each: f64,
    requests: Vec<f64>,
    shutdown_ms: f64,
}

/// What the bare-wasmtime side measured.
struct Raw {
    instantiations_per_s: f64,
    kib_each: f64,
    calls: Vec<f64>,
    drop_ms: f64,
}

/// Runs the scale scenarios with `n` components; `progress` hears each
/// phase as it starts.
///
/// # Errors
/// The first step that fails, naming the scenario.
pub(super) async fn run(
    n: usize,
    mut progress: impl FnMut(&str),
) -> Result<Vec<Scenario>, BenchError> {
    let n = n.max(1);
    // Unlike the other scenarios (`super::on_worker`), the sides run on the
    // caller's thread: in a worker task the RSS per component measured
    // 16.6 KiB against 16.1 KiB here (`--scale 10000`, three runs each;
    // the cause is not known).
    progress("scale: components (spawn, touch, requests, shutdown)");
    let ours = host_side(n).await?;
    progress("scale: bare wasmtime instances");
    let raw = raw_side(n).await?;
    let (mut ours_requests, mut raw_calls) = (ours.requests, raw.calls);
    Ok(vec![
        Scenario::value(
            "scale_spawn",
            "spawn/s",
            n as u64,
            ours.spawns_per_s,
            "InstancePre::instantiate_async into a kept Store",
            raw.instantiations_per_s,
        ),
        Scenario::value(
            "scale_memory",
            "KiB",
            n as u64,
            ours.kib_each,
            "bare wasmtime instance (Store + Instance)",
            raw.kib_each,
        ),
        Scenario::latency(
            "scale_request",
            &mut ours_requests,
            "typed handle-message call on a random bare instance",
            &mut raw_calls,
        ),
        Scenario::value(
            "scale_shutdown",
            "ms",
            n as u64,
            ours.shutdown_ms,
            "dropping the bare stores",
            raw.drop_ms,
        ),
    ])
}

async fn host_side(n: usize) -> Result<Ours, BenchError> {
    const S: &str = "scale_spawn";
    let host = ComponentHost::builder()
        .engine(engine_config(n))
        .build()
        .map_err(host_err(S))?;
    if let AllocatorKind::OnDemand { reason } = host.engine().allocator() {
        return Err(BenchError::Wasm {
            scenario: S,
            reason: format!("the instance pool for {n} components is not available: {reason}"),
        });
    }
    host.engine()
        .load(&"warm".into(), ECHO.as_bytes())
        .map_err(|e: WasmError| host_err(S)(e.into()))?;
    let before = rss_bytes();
    // The batch form: one spec, N ids, its binary shared.
    let one = spec("c0".into());
    let t = Instant::now();
    let spawned = host
        .spawn_many((0..n).map(|i| one.clone().with_id(format!("c{i}"))))
        .await;
    let spawn_s = t.elapsed().as_secs_f64();
    for outcome in spawned {
        outcome.map_err(host_err(S))?;
    }
    let spawns_per_s = n as f64 / spawn_s;

    // Each component handles one message, so its memory is touched.
    const M: &str = "scale_memory";
    let touched = futures::stream::iter(0..n)
        .map(|i| {
            let host = host.clone();
            async move {
                host.request(&format!("c{i}"), &b"x"[..], TIMEOUT)
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .fold(Ok(()), |all, one| async move { all.and(one) })
        .await;
    touched.map_err(host_err(M))?;
    let kib_each = rss_bytes().saturating_sub(before) as f64 / n as f64 / 1024.0;

    const R: &str = "scale_request";
    let mut requests = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let id = format!("c{}", rand::thread_rng().gen_range(0..n));
        let t = Instant::now();
        let reply = host
            .request(&id, &b"ping"[..], TIMEOUT)
            .await
            .map_err(host_err(R))?;
        requests.push(micros(t.elapsed()));
        std::hint::black_box(reply);
    }

    const D: &str = "scale_shutdown";
    let t = Instant::now();
    let report = host.shutdown(TIMEOUT).await;
    let shutdown_ms = t.elapsed().as_secs_f64() * 1e3;
    if report.stopped < n || !report.aborted.is_empty() {
        return Err(BenchError::Wasm {
            scenario: D,
            reason: format!(
                "shutdown stopped {} of {n} components, aborted {}",
                report.stopped,
                report.aborted.len()
            ),
        });
    }
    Ok(Ours {
        spawns_per_s,
        kib_each,
        requests,
        shutdown_ms,
    })
}

async fn raw_side(n: usize) -> Result<Raw, BenchError> {
    const S: &str = "scale_spawn";
    let engine = WasmEngine::new(engine_config(n)).map_err(wasm_err(S))?;
    let pre = raw_pre(&engine, S)?;
    let before = rss_bytes();
    let t = Instant::now();
    let mut live = Vec::with_capacity(n);
    for _ in 0..n {
        live.push(raw_instance(&engine, &pre, S).await?);
    }
    let instantiations_per_s = n as f64 / t.elapsed().as_secs_f64();

    const M: &str = "scale_memory";
    let mut handles = Vec::with_capacity(n);
    for (store, instance) in &mut live {
        handles.push(raw_deliver_one(store, instance, M).await?);
    }
    let kib_each = rss_bytes().saturating_sub(before) as f64 / n as f64 / 1024.0;

    const R: &str = "scale_request";
    let mut calls = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let i = rand::thread_rng().gen_range(0..n);
        let (store, _) = &mut live[i];
        let t = Instant::now();
        handles[i]
            .call_async(&mut *store, RAW_ONE_BYTE_MESSAGE)
            .await
            .map_err(wasm_err(R))?;
        calls.push(micros(t.elapsed()));
        std::hint::black_box(store.data_mut().take());
    }

    let t = Instant::now();
    drop(handles);
    drop(live);
    let drop_ms = t.elapsed().as_secs_f64() * 1e3;
    Ok(Raw {
        instantiations_per_s,
        kib_each,
        calls,
        drop_ms,
    })
}
