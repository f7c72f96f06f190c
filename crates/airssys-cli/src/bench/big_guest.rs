//! Components in Python and JavaScript (`examples/sensors/advisor.py` and
//! `notifier.js`, built by `examples/sensors/build.sh`): spawn→ready and
//! memory per live instance, each against bare wasmtime instantiating the
//! same component in the same run.
//!
//! Each instance carries its language's runtime: 18 MB (componentize-py)
//! or 12 MB (componentize-js) of code and tens of MB of initialised linear
//! memory. What these scenarios show is that an instance shares that
//! image copy-on-write (the pool maps it; only the pages an instance
//! writes are its own) and starts in milliseconds, not what a 64-byte echo
//! costs. Both engines use the user's compilation cache, so only a fresh
//! machine compiles (10-20 s per component, outside the timed part).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_wasm::host::ComponentSpec;
use airssys_wasm::{ComponentLimits, EngineConfig, WasmEngine};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Instance, InstancePre, Linker, ResourceTable};
use wasmtime::Store;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::component::{Handle, Message};
use super::{host_err, micros, rss_bytes, wasm_err, BenchError, Scenario};

/// The scenarios of this file, and the guest each runs.
pub const BIG_GUEST_SCENARIOS: [&str; 4] =
    ["spawn_python", "memory_python", "spawn_js", "memory_js"];

/// Where the guests are looked for when `--guests` is not given (relative
/// to the working directory: the repository root).
pub const DEFAULT_GUEST_DIR: &str = "examples/sensors/build";

/// Linear memory each instance may use (the example's manifest gives the
/// same).
const MAX_MEMORY: usize = 64 << 20;

/// One of the two guests.
struct Guest {
    language: &'static str,
    file: &'static str,
    /// A request it answers without calling the host.
    probe: &'static [u8],
}

const PYTHON: Guest = Guest {
    language: "Python",
    file: "advisor.component.wasm",
    probe: b"report",
};
const JAVASCRIPT: Guest = Guest {
    language: "JavaScript",
    file: "notifier.component.wasm",
    probe: b"count",
};

/// What a scenario of this file found: figures, or why it did not run.
pub enum Outcome {
    /// Measured.
    Measured(Box<Scenario>),
    /// The guest is not built.
    Skipped(String),
}

/// Runs scenario `name` (one of [`BIG_GUEST_SCENARIOS`]) with `n`
/// instances, the guests taken from `dir`.
///
/// # Errors
/// [`BenchError`] when the host or wasmtime refuses the guest.
pub async fn run(name: &'static str, dir: &Path, n: usize) -> Result<Outcome, BenchError> {
    let guest = if name.ends_with("python") {
        &PYTHON
    } else {
        &JAVASCRIPT
    };
    let path = dir.join(guest.file);
    let Ok(binary) = std::fs::read(&path).map(Arc::<[u8]>::from) else {
        return Ok(Outcome::Skipped(format!(
            "no {} component at {} (run examples/sensors/build.sh, or pass --guests DIR)",
            guest.language,
            path.display()
        )));
    };
    let scenario = if name.starts_with("spawn") {
        spawn(name, guest, &binary, n).await?
    } else {
        memory(name, guest, &binary, n).await?
    };
    Ok(Outcome::Measured(Box::new(scenario)))
}

/// The engine both sides use: room for `n` instances and the compilation
/// cache.
fn engine_config(n: usize) -> EngineConfig {
    let config = EngineConfig::default().max_components(u32::try_from(n + 4).unwrap_or(u32::MAX));
    match EngineConfig::user_compile_cache_dir() {
        Some(dir) => config.compile_cache(dir),
        None => config,
    }
}

/// A host with room for `n` instances that has spawned one of `binary`
/// (loaded, and its first instance's pages touched) before anything is
/// timed.
async fn warm_host(
    name: &'static str,
    n: usize,
    binary: &Arc<[u8]>,
) -> Result<airssys_wasm::ComponentHost, BenchError> {
    let host = airssys_wasm::ComponentHost::builder()
        .engine(engine_config(n))
        .build()
        .map_err(host_err(name))?;
    host.spawn(spec("warm".into(), binary))
        .await
        .map_err(host_err(name))?;
    Ok(host)
}

/// Bare wasmtime's side, warmed the same way: the engine, the component's
/// `InstancePre`, and one instance made and dropped.
async fn warm_raw(
    name: &'static str,
    n: usize,
    binary: &[u8],
) -> Result<(WasmEngine, InstancePre<RawData>), BenchError> {
    let engine = WasmEngine::new(engine_config(n)).map_err(wasm_err(name))?;
    let pre = raw_pre(&engine, binary, name)?;
    drop(raw_instance(&engine, &pre, name).await?);
    Ok((engine, pre))
}

/// The spec of instance `id`: every instance shares the binary's `Arc`, as
/// the instances of one `[[component]]` do.
fn spec(id: String, binary: &Arc<[u8]>) -> ComponentSpec {
    ComponentSpec::new(id, Arc::clone(binary))
        .limits(ComponentLimits::default().max_memory_bytes(MAX_MEMORY))
}

/// spawn→ready (instantiate, `init`, registered, running) of `n` live
/// instances, against `InstancePre::instantiate_async` and `init`, kept
/// alive.
async fn spawn(
    name: &'static str,
    guest: &Guest,
    binary: &Arc<[u8]>,
    n: usize,
) -> Result<Scenario, BenchError> {
    let host = warm_host(name, n, binary).await?;
    let mut ours = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        host.spawn(spec(format!("g{i}"), binary))
            .await
            .map_err(host_err(name))?;
        ours.push(micros(t.elapsed()));
    }
    host.shutdown(Duration::from_secs(30)).await;

    let (engine, pre) = warm_raw(name, n, binary).await?;
    let mut base = super::timed_kept(n, || raw_instance(&engine, &pre, name)).await?;
    Ok(Scenario::latency(
        name,
        &mut ours,
        &format!(
            "wasmtime instantiate_async + init of the same {} component, kept",
            guest.language
        ),
        &mut base,
    ))
}

/// RSS growth per live instance that has answered one request, against
/// bare wasmtime instances that handled the same message.
async fn memory(
    name: &'static str,
    guest: &Guest,
    binary: &Arc<[u8]>,
    n: usize,
) -> Result<Scenario, BenchError> {
    let host = warm_host(name, n, binary).await?;
    let before = rss_bytes();
    for i in 0..n {
        host.spawn(spec(format!("m{i}"), binary))
            .await
            .map_err(host_err(name))?;
        host.request(&format!("m{i}"), guest.probe, Duration::from_secs(10))
            .await
            .map_err(host_err(name))?;
    }
    let ours = rss_bytes().saturating_sub(before) as f64 / n as f64 / 1024.0;
    host.shutdown(Duration::from_secs(30)).await;

    let (engine, pre) = warm_raw(name, n, binary).await?;
    let before = rss_bytes();
    let mut keep = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut store, instance) = raw_instance(&engine, &pre, name).await?;
        raw_probe(&mut store, &instance, guest.probe, name).await?;
        keep.push((store, instance));
    }
    let base = rss_bytes().saturating_sub(before) as f64 / n as f64 / 1024.0;
    drop(keep);
    Ok(Scenario::value(
        name,
        "KiB",
        n as u64,
        ours,
        &format!(
            "bare wasmtime {} component (Store + Instance) after the same request",
            guest.language
        ),
        base,
    ))
}

/// The world's `init: func(config: list<tuple<string, string>>) -> result<_, string>`.
type Init = wasmtime::component::TypedFunc<(Vec<(String, String)>,), (Result<(), String>,)>;

/// A bare instance's store data: WASI with nothing granted, as the host
/// gives a component without grants (the language runtimes read their
/// environment on the first call).
struct RawData {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for RawData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The component on bare wasmtime, with WASI preview 2; the world's own
/// imports trap if called (instantiating and the probe request call none).
fn raw_pre(
    engine: &WasmEngine,
    binary: &[u8],
    name: &'static str,
) -> Result<InstancePre<RawData>, BenchError> {
    let component = Component::new(engine.wasmtime(), binary).map_err(wasm_err(name))?;
    let mut linker = Linker::<RawData>::new(engine.wasmtime());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wasm_err(name))?;
    // Only the world's own interfaces trap: `define_unknown_imports_as_traps`
    // would also shadow WASI's semver-compatible matches (a guest built
    // against `wasi:cli@0.2.9` links to wasmtime's 0.2.x).
    let ty = component.component_type();
    for (import, item) in ty.imports(engine.wasmtime()) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        if !import.starts_with("airssys:") {
            continue;
        }
        let mut defined = linker.instance(import).map_err(wasm_err(name))?;
        for (function, item) in instance.exports(engine.wasmtime()) {
            if matches!(item.ty, ComponentItem::ComponentFunc(_)) {
                let what = format!("{import}#{function}");
                defined
                    .func_new(function, move |_, _, _, _| {
                        Err(wasmtime::Error::msg(format!(
                            "{what} is not linked in the baseline"
                        )))
                    })
                    .map_err(wasm_err(name))?;
            }
        }
    }
    linker.instantiate_pre(&component).map_err(wasm_err(name))
}

async fn raw_instance(
    engine: &WasmEngine,
    pre: &InstancePre<RawData>,
    name: &'static str,
) -> Result<(Store<RawData>, Instance), BenchError> {
    let data = RawData {
        wasi: WasiCtxBuilder::new().build(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(engine.wasmtime(), data);
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = pre
        .instantiate_async(&mut store)
        .await
        .map_err(wasm_err(name))?;
    // Ready means `init` ran, on both sides: a language runtime does its
    // first work there.
    let init: Init = instance
        .get_typed_func(&mut store, "init")
        .map_err(wasm_err(name))?;
    let (result,) = init
        .call_async(&mut store, (Vec::new(),))
        .await
        .map_err(wasm_err(name))?;
    result.map_err(|e| wasm_err(name)(format!("init failed: {e}")))?;
    Ok((store, instance))
}

async fn raw_probe(
    store: &mut Store<RawData>,
    instance: &Instance,
    probe: &'static [u8],
    name: &'static str,
) -> Result<(), BenchError> {
    let handle: Handle = instance
        .get_typed_func(&mut *store, "handle-message")
        .map_err(wasm_err(name))?;
    let message = Message {
        sender: None,
        subject: None,
        correlation_id: Some(1),
        payload: probe,
    };
    let (result,) = handle
        .call_async(&mut *store, (message,))
        .await
        .map_err(wasm_err(name))?;
    result
        .map(drop)
        .map_err(|e| wasm_err(name)(format!("handler error {}: {}", e.code, e.reason)))
}

/// The guest folder: `--guests DIR` or [`DEFAULT_GUEST_DIR`].
pub fn guest_dir(given: Option<&Path>) -> PathBuf {
    given.map_or_else(|| PathBuf::from(DEFAULT_GUEST_DIR), Path::to_path_buf)
}
