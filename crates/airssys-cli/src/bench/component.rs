//! The Component Model form beside the core one: spawn→ready, tell
//! throughput, request round trip and memory per idle component, each
//! against bare wasmtime running the same component (`_component`
//! scenarios).

use std::time::{Duration, Instant};

use airssys_wasm::host::ComponentSpec;
use airssys_wasm::{EngineConfig, WasmEngine, WasmError};
use wasmtime::component::{
    Component, ComponentType, Instance, InstancePre, Lift, Linker, Lower, TypedFunc,
};
use wasmtime::Store;

use super::rounds::{Rounds, Side, ROUNDS};
use super::tell::HostTells;
use super::{host, host_err, micros, rss_bytes, wasm_err, BenchError, Scenario};

/// The component every `_component` scenario runs: replies with its
/// payload (core module in WAT, made a component of the
/// `airssys:component` world at run time). It imports nothing, so the
/// bare-wasmtime baseline links it with an empty linker.
pub const ECHO_COMPONENT_CORE: &str = r#"(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "cabi_realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
      (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $p) (local.get $size)))
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (local.get $size) (i32.const 16)) (i32.const 1))) (i32.const -1))
        (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $p))
  (func (export "cabi_post_handle-message") (param i32) (global.set $heap (i32.const 1024)))
  (func (export "handle-message")
    (param i32 i32 i32 i32 i32 i32 i32 i64) (param $payload i32) (param $len i32) (result i32)
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store8 (i32.const 20) (i32.const 1))
    (i32.store (i32.const 24) (local.get $payload))
    (i32.store (i32.const 28) (local.get $len))
    (i32.const 16)))"#;

/// The world's `message` record, as the baseline lowers it.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(super) struct Message<'a> {
    pub(super) sender: Option<&'a str>,
    pub(super) subject: Option<&'a str>,
    #[component(name = "correlation-id")]
    pub(super) correlation_id: Option<u64>,
    pub(super) payload: &'a [u8],
}

/// The world's `handler-error` record.
#[derive(ComponentType, Lift)]
#[component(record)]
pub(super) struct HandlerError {
    pub(super) code: i32,
    pub(super) reason: String,
}

pub(super) type Handle = TypedFunc<(Message<'static>,), (Result<Option<Vec<u8>>, HandlerError>,)>;

/// The 64-byte payload the tell and request scenarios send.
static PAYLOAD: [u8; 64] = [0xab; 64];

fn echo_component(scenario: &'static str) -> Result<Vec<u8>, BenchError> {
    airssys_wasm::wit::componentize(ECHO_COMPONENT_CORE.as_bytes(), None)
        .map_err(wasm_err(scenario))
}

fn spec(id: String, binary: &[u8]) -> ComponentSpec {
    ComponentSpec::new(id, binary.to_vec())
}

/// The component on bare wasmtime: its `InstancePre` on an engine
/// configured like the host's.
fn raw_pre(
    engine: &WasmEngine,
    binary: &[u8],
    scenario: &'static str,
) -> Result<InstancePre<()>, BenchError> {
    let component = Component::new(engine.wasmtime(), binary).map_err(wasm_err(scenario))?;
    Linker::<()>::new(engine.wasmtime())
        .instantiate_pre(&component)
        .map_err(wasm_err(scenario))
}

async fn raw_instance(
    engine: &WasmEngine,
    pre: &InstancePre<()>,
    scenario: &'static str,
) -> Result<(Store<()>, Instance), BenchError> {
    let mut store = Store::new(engine.wasmtime(), ());
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = pre
        .instantiate_async(&mut store)
        .await
        .map_err(wasm_err(scenario))?;
    Ok((store, instance))
}

fn raw_handle(
    store: &mut Store<()>,
    instance: &Instance,
    scenario: &'static str,
) -> Result<Handle, BenchError> {
    instance
        .get_typed_func(store, "handle-message")
        .map_err(wasm_err(scenario))
}

async fn raw_call(
    store: &mut Store<()>,
    handle: &Handle,
    scenario: &'static str,
) -> Result<Option<Vec<u8>>, BenchError> {
    let message = Message {
        sender: None,
        subject: None,
        correlation_id: None,
        payload: &PAYLOAD,
    };
    let (result,) = handle
        .call_async(&mut *store, (message,))
        .await
        .map_err(wasm_err(scenario))?;
    result.map_err(|e| wasm_err(scenario)(format!("handler error {}: {}", e.code, e.reason)))
}

fn engine(n: usize, scenario: &'static str) -> Result<WasmEngine, BenchError> {
    WasmEngine::new(
        EngineConfig::default().max_components(u32::try_from(n + 4).unwrap_or(u32::MAX)),
    )
    .map_err(wasm_err(scenario))
}

/// `spawn_component`: spawn→ready of a component (instantiate, `init`,
/// registered, its actor running) against `InstancePre::instantiate_async`.
pub(super) async fn spawn(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "spawn_component";
    let binary = echo_component(S)?;
    let host = host(S, n + 4)?;
    host.engine()
        .load(&"warm".into(), &binary)
        .map_err(|e: WasmError| host_err(S)(e.into()))?;
    let mut ours = Vec::with_capacity(n);
    for i in 0..n {
        let spec = spec(format!("c{i}"), &binary);
        let t = Instant::now();
        host.spawn(spec).await.map_err(host_err(S))?;
        ours.push(micros(t.elapsed()));
    }
    host.shutdown(Duration::from_secs(10)).await;
    let engine = engine(n, S)?;
    let pre = raw_pre(&engine, &binary, S)?;
    let mut base = super::timed_kept(n, || raw_instance(&engine, &pre, S)).await?;
    Ok(Scenario::latency(
        S,
        &mut ours,
        "wasmtime component InstancePre::instantiate_async, kept",
        &mut base,
    ))
}

/// The raw side of `tell_component`: typed `handle-message` calls on one
/// bare instance, in a loop.
struct RawTells {
    store: Store<()>,
    handle: Handle,
}

impl Side for RawTells {
    async fn round(&mut self, n: usize) -> Result<f64, BenchError> {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(raw_call(&mut self.store, &self.handle, "tell_component").await?);
        }
        Ok(n as f64 / t.elapsed().as_secs_f64())
    }
}

/// `tell_component`: messages/s into one component through the host
/// against a loop of typed `handle-message` calls on bare wasmtime,
/// [`ROUNDS`] interleaved rounds of `n / ROUNDS` on each side.
pub(super) async fn tell(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "tell_component";
    let binary = echo_component(S)?;
    let host = host(S, 4)?;
    host.spawn(spec("sink".into(), &binary))
        .await
        .map_err(host_err(S))?;
    let mut ours = HostTells {
        host: host.clone(),
        payload: bytes::Bytes::from_static(&PAYLOAD),
        scenario: S,
        handled: 0,
    };
    let engine = engine(1, S)?;
    let pre = raw_pre(&engine, &binary, S)?;
    let (mut store, instance) = raw_instance(&engine, &pre, S).await?;
    let handle = raw_handle(&mut store, &instance, S)?;
    let mut base = RawTells { store, handle };
    let per_round = n.div_ceil(ROUNDS);
    let rounds = Rounds::run(&mut ours, &mut base, per_round).await?;
    host.shutdown(Duration::from_secs(10)).await;
    Ok(rounds.scenario(
        S,
        "msg/s",
        (per_round * ROUNDS) as u64,
        "typed component handle-message calls in a loop",
    ))
}

/// `request_component`: a request's round trip through the host to a
/// component and back, against one typed call on bare wasmtime.
pub(super) async fn request(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "request_component";
    let binary = echo_component(S)?;
    let payload = bytes::Bytes::from_static(&PAYLOAD);
    let host = host(S, 4)?;
    host.spawn(spec("echo".into(), &binary))
        .await
        .map_err(host_err(S))?;
    let mut ours = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let reply = host
            .request("echo", payload.clone(), Duration::from_secs(5))
            .await
            .map_err(host_err(S))?;
        ours.push(micros(t.elapsed()));
        std::hint::black_box(reply);
    }
    host.shutdown(Duration::from_secs(10)).await;

    let engine = engine(1, S)?;
    let pre = raw_pre(&engine, &binary, S)?;
    let (mut store, instance) = raw_instance(&engine, &pre, S).await?;
    let handle = raw_handle(&mut store, &instance, S)?;
    let mut base = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let reply = raw_call(&mut store, &handle, S).await?;
        base.push(micros(t.elapsed()));
        std::hint::black_box(reply);
    }
    Ok(Scenario::latency(
        S,
        &mut ours,
        "typed component handle-message call",
        &mut base,
    ))
}

/// `memory_component`: RSS growth per live idle component (after one
/// message each), everything included, against bare Store + instance.
pub(super) async fn memory(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "memory_component";
    let binary = echo_component(S)?;
    let host = host(S, n + 4)?;
    host.spawn(spec("warm-0".into(), &binary))
        .await
        .map_err(host_err(S))?;
    let ours = super::memory::host_kib_per_component(&host, n, |id| spec(id, &binary), S).await?;
    host.shutdown(Duration::from_secs(10)).await;

    let engine = engine(n, S)?;
    let pre = raw_pre(&engine, &binary, S)?;
    let before = rss_bytes();
    let mut keep = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut store, instance) = raw_instance(&engine, &pre, S).await?;
        let handle = raw_handle(&mut store, &instance, S)?;
        raw_call(&mut store, &handle, S).await?;
        keep.push((store, instance));
    }
    let base = (rss_bytes().saturating_sub(before)) as f64 / n as f64 / 1024.0;
    drop(keep);
    Ok(Scenario::value(
        S,
        "KiB",
        n as u64,
        ours,
        "bare wasmtime component (Store + Instance)",
        base,
    ))
}
