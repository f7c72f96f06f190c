//! `airssys bench`: the host measured against the raw layers beneath it, in
//! one run. Each scenario times what its name says and its baseline the
//! same way:
//!
//! | scenario | airssys | raw baseline | unit |
//! |---|---|---|---|
//! | `spawn` | `ComponentHost::spawn` (instantiate, init, register, supervise) | wasmtime `InstancePre::instantiate_async` | µs per op (p50/p99) |
//! | `tell_throughput` | `ComponentHost::send` to one component until all handled | a loop of typed `handle-message` calls | msg/s |
//! | `request_rtt` | `ComponentHost::request` (echo) | tokio mpsc + oneshot round trip | µs (p50/p99) |
//! | `memory_per_component` | RSS growth per spawned component | RSS growth per bare wasmtime instance | KiB |
//! | `restart` | poison message → trap → restart → next request answered | fresh `InstancePre::instantiate_async` | µs (p50/p99) |
//! | `broker_fanout` | publish to 8 subscribed components until all handled | tokio mpsc fan-out to 8 tasks | deliveries/s |
//! | `monitor_down` | a monitored component stopped → the monitoring component's guest has the `_airssys.down` message | a tokio task told to stop reports its end on a oneshot | µs (p50/p99) |
//! | `monitor_memory` | RSS growth per idle monitor a guest holds on another component (`monitor` import) | RSS growth per idle tokio oneshot channel | B |
//! | `request_guest` | a guest's `request` to another component, timed in the guest | the same guest on bare wasmtime, its `request` over tokio mpsc + oneshot to a bare echo task | µs (p50/p99) |
//! | `telemetry` | `request_guest`'s path with telemetry on (histogram clock reads, spans and trace context, sampling 0, no exporter) | the same path with telemetry off, alternating message by message | µs (p50/p99) |
//!
//!
//! With `--nats <url>`, [`NATS_SCENARIOS`] run too: see the `nats` module.
//! The [`CLUSTER_SCENARIOS`] (`failover`, `heartbeat_cost`, `replacement`)
//! run `airssys run --cluster` child processes on a server with JetStream
//! and take 30 s to minutes each: they run only when named with
//! `--scenario` (see the `cluster` module).
//!
//! Ratios are airssys / baseline: above 1 for latencies and memory means
//! slower or larger, below 1 for throughputs means slower.

use std::time::{Duration, Instant};

use airssys_wasm::host::{ComponentHost, ComponentSpec, HostError};
use airssys_wasm::{EngineConfig, WasmEngine, WasmError};
use futures::future::BoxFuture;
use serde::Serialize;
use wasmtime::{Caller, Instance, InstancePre, Linker, Module, Store, TypedFunc};

/// The guest every scenario runs: replies with its payload, traps on a
/// payload starting with `!`.
pub const ECHO: &str = r#"(module
  (import "airssys" "reply" (func $reply (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) i32.const 1024)
  (func (export "handle-message") (param $ptr i32) (param $len i32) (result i32)
    (local $payload i32) (local $n i32)
    (local.set $n (i32.load offset=12 (local.get $ptr)))
    (local.set $payload
      (i32.add (i32.add (i32.add (local.get $ptr) (i32.const 24))
        (i32.load offset=4 (local.get $ptr))) (i32.load offset=8 (local.get $ptr))))
    (if (i32.and (i32.gt_u (local.get $n) (i32.const 0))
                 (i32.eq (i32.load8_u (local.get $payload)) (i32.const 33)))
      (then unreachable))
    (drop (call $reply (local.get $payload) (local.get $n)))
    i32.const 0))"#;

/// Names of the scenarios, in run order (the last four need the example's
/// Python and JavaScript components, see [`Plan::guests`]).
pub const SCENARIOS: [&str; 18] = [
    "spawn",
    "tell_throughput",
    "request_rtt",
    "memory_per_component",
    "restart",
    "broker_fanout",
    "spawn_component",
    "tell_component",
    "request_component",
    "memory_component",
    "request_guest",
    "telemetry",
    "monitor_down",
    "monitor_memory",
    "spawn_python",
    "memory_python",
    "spawn_js",
    "memory_js",
];

/// Names of the scenarios run only with a NATS server (`--nats <url>`),
/// after [`SCENARIOS`].
pub const NATS_SCENARIOS: [&str; 2] = ["nats_tell", "nats_request"];

mod big_guest;
mod cluster;
pub mod compare;
mod component;
mod guest_request;
mod monitor_down;
mod monitor_memory;
mod nats;
mod scale;
mod telemetry;

pub use big_guest::{BIG_GUEST_SCENARIOS, DEFAULT_GUEST_DIR};
pub use cluster::{respond_once, CLUSTER_SCENARIOS};
pub use scale::{IN_FLIGHT, SCALE_SCENARIOS};

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The host refused something.
    #[error("{scenario}: {source}")]
    Host {
        /// The scenario.
        scenario: &'static str,
        /// Why.
        source: HostError,
    },
    /// The engine or wasmtime refused something.
    #[error("{scenario}: {reason}")]
    Wasm {
        /// The scenario.
        scenario: &'static str,
        /// Why.
        reason: String,
    },
    /// The NATS server or a raw client refused something.
    #[error("{scenario}: {reason}")]
    Nats {
        /// The scenario.
        scenario: &'static str,
        /// Why.
        reason: String,
    },
    /// The task running the scenario panicked (a bug in the benchmark or
    /// the host).
    #[error("{scenario}: the task running it panicked: {reason}")]
    Panicked {
        /// The scenario.
        scenario: &'static str,
        /// The panic, in words.
        reason: String,
    },
    /// The scenario did not finish in time.
    #[error("{scenario}: did not finish within {timeout:?}")]
    Stalled {
        /// The scenario.
        scenario: &'static str,
        /// Its deadline.
        timeout: Duration,
    },
}

/// A baseline's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    /// What it is.
    pub name: String,
    /// Median (latency scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    /// 99th percentile (latency scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    /// The figure (throughput and memory scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// One scenario's result.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Scenario name (one of [`SCENARIOS`]).
    pub name: &'static str,
    /// `us`, `msg/s`, `KiB` or `B`.
    pub unit: &'static str,
    /// How many operations were measured.
    pub samples: u64,
    /// Median (latency scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    /// 99th percentile (latency scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
    /// The figure (throughput and memory scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The raw layer's figures.
    pub baseline: Baseline,
    /// p50 / baseline p50 (latency scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_p50: Option<f64>,
    /// p99 / baseline p99 (latency scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_p99: Option<f64>,
    /// value / baseline value (throughput and memory scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

impl Scenario {
    fn latency(name: &'static str, ours: &mut [f64], base_name: &str, base: &mut [f64]) -> Self {
        let (p50, p99) = (percentile(ours, 50.0), percentile(ours, 99.0));
        let (b50, b99) = (percentile(base, 50.0), percentile(base, 99.0));
        Scenario {
            name,
            unit: "us",
            samples: ours.len() as u64,
            p50: Some(p50),
            p99: Some(p99),
            value: None,
            baseline: Baseline {
                name: base_name.into(),
                p50: Some(b50),
                p99: Some(b99),
                value: None,
            },
            ratio_p50: Some(p50 / b50),
            ratio_p99: Some(p99 / b99),
            ratio: None,
        }
    }

    fn value(
        name: &'static str,
        unit: &'static str,
        samples: u64,
        ours: f64,
        base_name: &str,
        base: f64,
    ) -> Self {
        Scenario {
            name,
            unit,
            samples,
            p50: None,
            p99: None,
            value: Some(ours),
            baseline: Baseline {
                name: base_name.into(),
                p50: None,
                p99: None,
                value: Some(base),
            },
            ratio_p50: None,
            ratio_p99: None,
            ratio: Some(ours / base),
        }
    }
}

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model, from /proc/cpuinfo when available.
    pub cpu: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// `linux`, `macos`, ...
    pub os: &'static str,
    /// `x86_64`, `aarch64`, ...
    pub arch: &'static str,
    /// `release` or `debug` (debug figures are not meaningful).
    pub profile: &'static str,
    /// `quick` or `full`.
    pub mode: &'static str,
    /// airssys version.
    pub airssys: &'static str,
    /// Seconds since the Unix epoch when the run started.
    pub timestamp: u64,
}

impl Machine {
    fn detect(quick: bool) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            mode: if quick { "quick" } else { "full" },
            airssys: env!("CARGO_PKG_VERSION"),
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

/// Everything `airssys bench` measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where.
    pub machine: Machine,
    /// What.
    pub scenarios: Vec<Scenario>,
    /// Scenarios asked for that could not run here, and why (a cluster
    /// scenario on a server without JetStream).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// A scenario that was asked for and not run.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The scenario.
    pub name: &'static str,
    /// Why.
    pub reason: String,
}

/// How much work each scenario does.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Spawns timed.
    pub spawns: usize,
    /// Messages sent in `tell_throughput`.
    pub tells: usize,
    /// Requests timed.
    pub requests: usize,
    /// Components kept alive in `memory_per_component`.
    pub memory_components: usize,
    /// Restarts timed.
    pub restarts: usize,
    /// Messages published in `broker_fanout` (each to 8 subscribers).
    pub publishes: usize,
    /// Live instances of a Python or JavaScript component
    /// (`spawn_python`, `memory_js`, ...).
    pub big_instances: usize,
}

impl Sizes {
    /// `--quick`: a few seconds, even in a debug build.
    pub const QUICK: Sizes = Sizes {
        spawns: 100,
        tells: 20_000,
        requests: 2_000,
        memory_components: 100,
        restarts: 50,
        publishes: 5_000,
        big_instances: 10,
    };
    /// The default.
    pub const FULL: Sizes = Sizes {
        spawns: 500,
        tells: 200_000,
        requests: 20_000,
        memory_components: 500,
        restarts: 200,
        publishes: 20_000,
        big_instances: 40,
    };
}

/// Subscribers in `broker_fanout`.
pub const FANOUT: usize = 8;

/// What [`run_all`] runs.
#[derive(Debug, Clone, Default)]
pub struct Plan<'a> {
    /// `--quick` sizes (and recorded as the report's mode).
    pub quick: bool,
    /// A NATS server's URL: the [`NATS_SCENARIOS`] run too, and the
    /// [`CLUSTER_SCENARIOS`] named in `only`.
    pub nats: Option<&'a str>,
    /// Only these scenarios (all but the cluster ones when empty).
    pub only: &'a [String],
    /// `--scale N`: the [`SCALE_SCENARIOS`] with N components. Without
    /// `--scenario`, only they run.
    pub scale: Option<usize>,
    /// `--guests DIR`: where the [`BIG_GUEST_SCENARIOS`] find the Python
    /// and JavaScript components (default [`DEFAULT_GUEST_DIR`]); they are
    /// skipped, with the reason, when the components are not there.
    pub guests: Option<&'a std::path::Path>,
}

impl Plan<'_> {
    fn wants(&self, scenario: &str) -> bool {
        let scaled = SCALE_SCENARIOS.contains(&scenario);
        let clustered = CLUSTER_SCENARIOS.contains(&scenario);
        let listed = if self.only.is_empty() {
            // `--scale` alone runs the scale scenarios only; the cluster
            // ones only when named.
            scaled == self.scale.is_some() && !clustered
        } else {
            self.only.iter().any(|s| s == scenario)
        };
        listed
            && (self.nats.is_some() || !(NATS_SCENARIOS.contains(&scenario) || clustered))
            && (self.scale.is_some() || !scaled)
    }

    /// The scenarios this plan runs, in order.
    pub fn scenarios(&self) -> Vec<&'static str> {
        SCENARIOS
            .iter()
            .chain(NATS_SCENARIOS.iter())
            .chain(CLUSTER_SCENARIOS.iter())
            .chain(SCALE_SCENARIOS.iter())
            .copied()
            .filter(|s| self.wants(s))
            .collect()
    }
}

/// Runs the scenarios of `plan`; `progress(name)` is called before each.
///
/// # Errors
/// The first scenario that fails.
pub async fn run_all(
    plan: &Plan<'_>,
    mut progress: impl FnMut(&str),
) -> Result<Report, BenchError> {
    let sizes = if plan.quick {
        Sizes::QUICK
    } else {
        Sizes::FULL
    };
    let mut scenarios = Vec::with_capacity(SCENARIOS.len() + NATS_SCENARIOS.len());
    let mut skipped = Vec::new();
    let scaled = |name: &&str| SCALE_SCENARIOS.contains(name);
    for name in plan.scenarios().into_iter().filter(|s| !scaled(s)) {
        progress(name);
        if CLUSTER_SCENARIOS.contains(&name) {
            let Some(url) = plan.nats else { continue };
            match on_worker(name, cluster::run(name, url.to_owned(), plan.quick)).await? {
                cluster::Outcome::Measured(rows) => scenarios.extend(rows),
                cluster::Outcome::Skipped(reason) => skipped.push(Skipped { name, reason }),
            }
            continue;
        }
        if BIG_GUEST_SCENARIOS.contains(&name) {
            let dir = big_guest::guest_dir(plan.guests);
            let n = sizes.big_instances;
            match on_worker(name, async move { big_guest::run(name, &dir, n).await }).await? {
                big_guest::Outcome::Measured(row) => scenarios.push(row),
                big_guest::Outcome::Skipped(reason) => skipped.push(Skipped { name, reason }),
            }
            continue;
        }
        let measure: BoxFuture<'static, Result<Scenario, BenchError>> = match name {
            "spawn" => Box::pin(spawn(sizes.spawns)),
            "tell_throughput" => Box::pin(tell_throughput(sizes.tells)),
            "request_rtt" => Box::pin(request_rtt(sizes.requests)),
            "memory_per_component" => Box::pin(memory_per_component(sizes.memory_components)),
            "restart" => Box::pin(restart(sizes.restarts)),
            "broker_fanout" => Box::pin(broker_fanout(sizes.publishes)),
            "spawn_component" => Box::pin(component::spawn(sizes.spawns)),
            "tell_component" => Box::pin(component::tell(sizes.tells)),
            "request_component" => Box::pin(component::request(sizes.requests)),
            "memory_component" => Box::pin(component::memory(sizes.memory_components)),
            "request_guest" => Box::pin(guest_request::run(sizes.requests)),
            "telemetry" => Box::pin(telemetry::run(sizes.requests * 5)),
            "monitor_down" => Box::pin(monitor_down::run(sizes.restarts * 5)),
            "monitor_memory" => Box::pin(monitor_memory::run(sizes.publishes * 10)),
            "nats_tell" | "nats_request" => {
                let Some(url) = plan.nats else { continue };
                let url = url.to_owned();
                if name == "nats_tell" {
                    Box::pin(async move { nats::tell(&url, sizes.tells).await })
                } else {
                    Box::pin(async move { nats::request(&url, sizes.requests).await })
                }
            }
            _ => continue,
        };
        let scenario = on_worker(name, measure).await?;
        scenarios.push(scenario);
    }
    if let Some(n) = plan
        .scale
        .filter(|_| SCALE_SCENARIOS.iter().any(|s| plan.wants(s)))
    {
        let measured = scale::run(n, &mut progress).await?;
        scenarios.extend(measured.into_iter().filter(|s| plan.wants(s.name)));
    }
    Ok(Report {
        machine: Machine::detect(plan.quick),
        scenarios,
        skipped,
    })
}

/// Runs one scenario in a task on the runtime's worker threads, where an
/// application's code runs (a request handler, a supervisor, a component),
/// not on the thread that only waits for the runtime: there, every hand-off
/// to a task would be a wake-up of a parked worker from outside, on both
/// sides of each comparison.
async fn on_worker<T, F>(scenario: &'static str, measure: F) -> Result<T, BenchError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, BenchError>> + Send + 'static,
{
    tokio::spawn(measure)
        .await
        .map_err(|e| BenchError::Panicked {
            scenario,
            reason: e.to_string(),
        })?
}

/// Value at percentile `p` (nearest rank); sorts `v`.
pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn host(scenario: &'static str, components: usize) -> Result<ComponentHost, BenchError> {
    ComponentHost::builder()
        .engine(
            EngineConfig::default().max_components(u32::try_from(components).unwrap_or(u32::MAX)),
        )
        // Restarts are what `restart` measures: never let intensity stop it.
        .intensity(u32::MAX, Duration::from_secs(1))
        .build()
        .map_err(|source| BenchError::Host { scenario, source })
}

fn host_err(scenario: &'static str) -> impl Fn(HostError) -> BenchError {
    move |source| BenchError::Host { scenario, source }
}

fn wasm_err<E: std::fmt::Display>(scenario: &'static str) -> impl Fn(E) -> BenchError {
    move |e| BenchError::Wasm {
        scenario,
        reason: format!("{e:#}"),
    }
}

/// A bare-wasmtime `InstancePre` of [`ECHO`] on the host's engine, with a
/// `reply` import that copies the reply out as the host's does.
fn raw_pre(
    engine: &WasmEngine,
    scenario: &'static str,
) -> Result<InstancePre<Option<Vec<u8>>>, BenchError> {
    let wt = engine.wasmtime();
    let module = Module::new(wt, ECHO).map_err(wasm_err(scenario))?;
    let mut linker = Linker::<Option<Vec<u8>>>::new(wt);
    linker
        .func_wrap(
            "airssys",
            "reply",
            |mut caller: Caller<'_, Option<Vec<u8>>>, ptr: i32, len: i32| -> i32 {
                let Some(memory) = caller.get_export("memory").and_then(|e| e.into_memory()) else {
                    return -9;
                };
                let (mem, data) = memory.data_and_store_mut(&mut caller);
                let (start, len) = (ptr as usize, len as usize);
                *data = mem.get(start..start + len).map(<[u8]>::to_vec);
                0
            },
        )
        .map_err(wasm_err(scenario))?;
    linker.instantiate_pre(&module).map_err(wasm_err(scenario))
}

/// A bare instance of [`ECHO`] in its own store, as the baselines keep them.
async fn raw_instance(
    engine: &WasmEngine,
    pre: &InstancePre<Option<Vec<u8>>>,
    scenario: &'static str,
) -> Result<(Store<Option<Vec<u8>>>, Instance), BenchError> {
    let mut store = Store::new(engine.wasmtime(), None);
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = pre
        .instantiate_async(&mut store)
        .await
        .map_err(wasm_err(scenario))?;
    Ok((store, instance))
}

/// Delivers a one-byte message to a bare instance as the host would (the
/// header at 1024, the payload at 1048), so its memory is touched; returns
/// its `handle-message` for more calls with the same arguments.
async fn raw_deliver_one(
    store: &mut Store<Option<Vec<u8>>>,
    instance: &Instance,
    scenario: &'static str,
) -> Result<TypedFunc<(i32, i32), i32>, BenchError> {
    let handle = instance
        .get_typed_func::<(i32, i32), i32>(&mut *store, "handle-message")
        .map_err(wasm_err(scenario))?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| wasm_err(scenario)("no memory"))?;
    memory.data_mut(&mut *store)[1024 + 12] = 1;
    memory.data_mut(&mut *store)[1048] = b'x';
    handle
        .call_async(&mut *store, RAW_ONE_BYTE_MESSAGE)
        .await
        .map_err(wasm_err(scenario))?;
    Ok(handle)
}

/// Where the bare baselines write a message in guest memory (what the
/// guests' `alloc` returns).
const RAW_MESSAGE_AT: i32 = 1024;

/// `handle-message`'s arguments for the message [`raw_deliver_one`] wrote.
const RAW_ONE_BYTE_MESSAGE: (i32, i32) = (RAW_MESSAGE_AT, 25);

/// Times `n` calls of `make`, keeping what each made until all are done,
/// as spawned components are kept: each instance then takes a slot of the
/// pool that no instance used before, as a spawn's does. (Dropped before
/// the next, the slot is reused warm, 1-2 µs here: a restart's case, not a
/// spawn's.)
pub(super) async fn timed_kept<T, F, Fut>(n: usize, mut make: F) -> Result<Vec<f64>, BenchError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BenchError>>,
{
    let mut samples = Vec::with_capacity(n);
    let mut kept = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        kept.push(make().await?);
        samples.push(micros(t.elapsed()));
    }
    drop(kept);
    Ok(samples)
}

/// `n` bare instantiations, each store dropped before the next: the pool
/// slot is reused, as a restart reuses its component's.
async fn bare_instantiations(
    engine: &WasmEngine,
    n: usize,
    scenario: &'static str,
) -> Result<Vec<f64>, BenchError> {
    let pre = raw_pre(engine, scenario)?;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let mut store = Store::new(engine.wasmtime(), None);
        pre.instantiate_async(&mut store)
            .await
            .map_err(wasm_err(scenario))?;
        samples.push(micros(t.elapsed()));
        drop(store);
    }
    Ok(samples)
}

fn spec(id: String) -> ComponentSpec {
    ComponentSpec::new(id, ECHO.as_bytes().to_vec())
}

async fn spawn(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "spawn";
    let host = host(S, n + 4)?;
    // Warm the module cache: spawn measures instantiation, not compilation.
    host.engine()
        .load(&"warm".into(), ECHO.as_bytes())
        .map_err(|e: WasmError| host_err(S)(e.into()))?;
    let mut ours = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        host.spawn(spec(format!("c{i}")))
            .await
            .map_err(host_err(S))?;
        ours.push(micros(t.elapsed()));
    }
    host.shutdown(Duration::from_secs(10)).await;
    let engine = WasmEngine::new(
        EngineConfig::default().max_components(u32::try_from(n + 4).unwrap_or(u32::MAX)),
    )
    .map_err(wasm_err(S))?;
    let pre = raw_pre(&engine, S)?;
    let mut base = timed_kept(n, || raw_instance(&engine, &pre, S)).await?;
    Ok(Scenario::latency(
        S,
        &mut ours,
        "wasmtime InstancePre::instantiate_async, kept",
        &mut base,
    ))
}

async fn wait_handled(
    host: &ComponentHost,
    ids: &[String],
    target: u64,
    scenario: &'static str,
) -> Result<(), BenchError> {
    let refs: Vec<_> = ids.iter().filter_map(|id| host.component(id)).collect();
    let timeout = Duration::from_secs(120);
    let deadline = Instant::now() + timeout;
    loop {
        let done: u64 = refs
            .iter()
            .map(|r| {
                let s = r.stats();
                s.handled + s.failed
            })
            .sum();
        if done >= target {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Stalled { scenario, timeout });
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

async fn tell_throughput(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "tell_throughput";
    let payload = bytes::Bytes::from(vec![0xabu8; 64]);
    let host = host(S, 4)?;
    host.spawn(spec("sink".into())).await.map_err(host_err(S))?;
    let t = Instant::now();
    for _ in 0..n {
        host.send("sink", payload.clone())
            .await
            .map_err(host_err(S))?;
    }
    wait_handled(&host, &["sink".into()], n as u64, S).await?;
    let ours = n as f64 / t.elapsed().as_secs_f64();
    host.shutdown(Duration::from_secs(10)).await;

    // Baseline: write the message into guest memory and call handle-message.
    let engine = WasmEngine::new(EngineConfig::default().max_components(4)).map_err(wasm_err(S))?;
    let pre = raw_pre(&engine, S)?;
    let mut store = Store::new(engine.wasmtime(), None);
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = pre
        .instantiate_async(&mut store)
        .await
        .map_err(wasm_err(S))?;
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or_else(|| wasm_err(S)("no memory"))?;
    let handle = instance
        .get_typed_func::<(i32, i32), i32>(&mut store, "handle-message")
        .map_err(wasm_err(S))?;
    let mut header = [0u8; 24];
    header[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let total = (header.len() + payload.len()) as i32;
    let t = Instant::now();
    for _ in 0..n {
        let mem = memory.data_mut(&mut store);
        mem[1024..1048].copy_from_slice(&header);
        mem[1048..1048 + payload.len()].copy_from_slice(&payload);
        let code = handle
            .call_async(&mut store, (1024, total))
            .await
            .map_err(wasm_err(S))?;
        std::hint::black_box(code);
        std::hint::black_box(store.data_mut().take());
    }
    let base = n as f64 / t.elapsed().as_secs_f64();
    Ok(Scenario::value(
        S,
        "msg/s",
        n as u64,
        ours,
        "typed handle-message calls in a loop",
        base,
    ))
}

async fn request_rtt(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "request_rtt";
    let payload = bytes::Bytes::from(vec![0xabu8; 64]);
    let host = host(S, 4)?;
    host.spawn(spec("echo".into())).await.map_err(host_err(S))?;
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

    // Baseline: a task answering over tokio mpsc + oneshot.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(
        bytes::Bytes,
        tokio::sync::oneshot::Sender<bytes::Bytes>,
    )>(1024);
    let server = tokio::spawn(async move {
        while let Some((msg, reply)) = rx.recv().await {
            let _ = reply.send(msg);
        }
    });
    let mut base = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (otx, orx) = tokio::sync::oneshot::channel();
        if tx.send((payload.clone(), otx)).await.is_err() {
            break;
        }
        let reply = orx.await;
        base.push(micros(t.elapsed()));
        std::hint::black_box(reply.ok());
    }
    drop(tx);
    let _ = server.await;
    Ok(Scenario::latency(
        S,
        &mut ours,
        "tokio mpsc + oneshot round trip",
        &mut base,
    ))
}

/// Resident set size in bytes (Linux; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

async fn memory_per_component(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "memory_per_component";
    let host = host(S, n + 4)?;
    host.engine()
        .load(&"warm".into(), ECHO.as_bytes())
        .map_err(|e: WasmError| host_err(S)(e.into()))?;
    host.spawn(spec("warm-0".into()))
        .await
        .map_err(host_err(S))?;
    let before = rss_bytes();
    for i in 0..n {
        host.spawn(spec(format!("m{i}")))
            .await
            .map_err(host_err(S))?;
    }
    // Each component handles one message, so its memory is touched.
    for i in 0..n {
        host.request(&format!("m{i}"), &b"x"[..], Duration::from_secs(5))
            .await
            .map_err(host_err(S))?;
    }
    let ours = (rss_bytes().saturating_sub(before)) as f64 / n as f64 / 1024.0;
    host.shutdown(Duration::from_secs(10)).await;

    let engine = WasmEngine::new(
        EngineConfig::default().max_components(u32::try_from(n + 4).unwrap_or(u32::MAX)),
    )
    .map_err(wasm_err(S))?;
    let pre = raw_pre(&engine, S)?;
    let before = rss_bytes();
    let mut keep = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut store, instance) = raw_instance(&engine, &pre, S).await?;
        raw_deliver_one(&mut store, &instance, S).await?;
        keep.push((store, instance));
    }
    let base = (rss_bytes().saturating_sub(before)) as f64 / n as f64 / 1024.0;
    drop(keep);
    Ok(Scenario::value(
        S,
        "KiB",
        n as u64,
        ours,
        "bare wasmtime instance (Store + Instance)",
        base,
    ))
}

async fn restart(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "restart";
    let host = host(S, 4)?;
    host.spawn(spec("victim".into()))
        .await
        .map_err(host_err(S))?;
    let mut ours = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        host.send("victim", &b"!boom"[..])
            .await
            .map_err(host_err(S))?;
        host.request("victim", &b"ok"[..], Duration::from_secs(5))
            .await
            .map_err(host_err(S))?;
        ours.push(micros(t.elapsed()));
    }
    host.shutdown(Duration::from_secs(10)).await;
    let engine = WasmEngine::new(EngineConfig::default().max_components(4)).map_err(wasm_err(S))?;
    let mut base = bare_instantiations(&engine, n, S).await?;
    Ok(Scenario::latency(
        S,
        &mut ours,
        "fresh wasmtime InstancePre::instantiate_async",
        &mut base,
    ))
}

async fn broker_fanout(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "broker_fanout";
    const WINDOW: u64 = 256;
    let payload = bytes::Bytes::from(vec![0xabu8; 64]);
    let host = host(S, FANOUT + 4)?;
    let ids: Vec<String> = (0..FANOUT).map(|i| format!("sub{i}")).collect();
    for id in &ids {
        host.spawn(
            spec(id.clone())
                .subscribe("bench.fanout")
                .mailbox_capacity(4096),
        )
        .await
        .map_err(host_err(S))?;
    }
    let refs: Vec<_> = ids.iter().filter_map(|id| host.component(id)).collect();
    let t = Instant::now();
    for i in 0..n as u64 {
        // Keep at most WINDOW messages in flight per subscriber: the topic
        // fan-out never waits, so a flood would be dead-lettered as
        // mailbox_full instead of measured.
        if i % 64 == 0 {
            loop {
                let slowest = refs
                    .iter()
                    .map(|r| {
                        let s = r.stats();
                        s.handled + s.failed
                    })
                    .min()
                    .unwrap_or(0);
                if i - slowest.min(i) < WINDOW {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        host.publish("bench.fanout", payload.clone())
            .map_err(host_err(S))?;
    }
    wait_handled(&host, &ids, (n * FANOUT) as u64, S).await?;
    let ours = (n * FANOUT) as f64 / t.elapsed().as_secs_f64();
    host.shutdown(Duration::from_secs(10)).await;

    // Baseline: one producer, FANOUT consumer tasks on bounded mpsc channels.
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut senders = Vec::with_capacity(FANOUT);
    for _ in 0..FANOUT {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4096);
        let done = done_tx.clone();
        tokio::spawn(async move {
            let mut seen = 0usize;
            while let Some(m) = rx.recv().await {
                std::hint::black_box(m);
                seen += 1;
                if seen == n {
                    let _ = done.send(());
                }
            }
        });
        senders.push(tx);
    }
    let t = Instant::now();
    for _ in 0..n {
        for tx in &senders {
            if tx.send(payload.clone()).await.is_err() {
                break;
            }
        }
    }
    for _ in 0..FANOUT {
        done_rx.recv().await;
    }
    let base = (n * FANOUT) as f64 / t.elapsed().as_secs_f64();
    drop(senders);
    Ok(Scenario::value(
        S,
        "msg/s",
        (n * FANOUT) as u64,
        ours,
        "tokio mpsc fan-out to 8 tasks",
        base,
    ))
}

/// The report as a table.
pub fn table(report: &Report) -> String {
    let mut out = format!(
        "machine: {} ({} cpus), {}/{}, {} build, {} mode\n",
        report.machine.cpu,
        report.machine.cpus,
        report.machine.os,
        report.machine.arch,
        report.machine.profile,
        report.machine.mode
    );
    out.push_str(&format!(
        "{:<22} {:>6} {:>12} {:>12}   {:<44} {:>12} {:>12} {:>8}\n",
        "scenario", "unit", "p50/value", "p99", "raw baseline", "p50/value", "p99", "ratio"
    ));
    let f = |v: Option<f64>| {
        v.map_or_else(
            || "-".to_owned(),
            |v| {
                if v >= 1000.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            },
        )
    };
    for s in &report.scenarios {
        let ratio = s
            .ratio_p50
            .or(s.ratio)
            .map_or_else(|| "-".into(), |r| format!("{r:.2}x"));
        out.push_str(&format!(
            "{:<22} {:>6} {:>12} {:>12}   {:<44} {:>12} {:>12} {:>8}\n",
            s.name,
            s.unit,
            f(s.p50.or(s.value)),
            f(s.p99),
            s.baseline.name,
            f(s.baseline.p50.or(s.baseline.value)),
            f(s.baseline.p99),
            ratio
        ));
    }
    for s in &report.skipped {
        out.push_str(&format!("{:<22} skipped: {}\n", s.name, s.reason));
    }
    out
}
