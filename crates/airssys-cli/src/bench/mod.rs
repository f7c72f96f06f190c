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
//! | `restart` | poison message → trap → restart → next request answered | the same on bare wasmtime: trap, store dropped, fresh `instantiate_async`, next call | µs (p50/p99) |
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
mod fanout;
mod guest_request;
mod memory;
mod monitor_down;
mod monitor_memory;
mod nats;
mod raw;
mod request;
mod restart;
mod rounds;
mod scale;
mod sizes;
mod spawn;
mod table;
mod telemetry;
mod tell;

pub use big_guest::{BIG_GUEST_SCENARIOS, DEFAULT_GUEST_DIR};
pub use cluster::{respond_once, CLUSTER_SCENARIOS};
pub use memory::rss_bytes;
pub use scale::{IN_FLIGHT, SCALE_SCENARIOS};
pub use sizes::Sizes;
pub use table::table;

use fanout::broker_fanout;
use memory::memory_per_component;
use raw::{
    raw_deliver, raw_deliver_one, raw_instance, raw_pre, RAW_MESSAGE_AT, RAW_ONE_BYTE_MESSAGE,
};
use request::request_rtt;
use restart::restart;
use rounds::{Rounds, Side, ROUNDS};
use spawn::spawn;
use tell::{tell_throughput, wait_handled};

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
    /// value / baseline value (throughput and memory scenarios); for an
    /// interleaved scenario the median of `round_ratios`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// Each round's ratio, in the order run, for a scenario measured in
    /// interleaved rounds (see `bench/rounds.rs`): how steady it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round_ratios: Option<Vec<f64>>,
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
            round_ratios: None,
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
            round_ratios: None,
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
        all_scenarios()
            .into_iter()
            .filter(|s| self.wants(s))
            .collect()
    }
}

/// Every scenario `airssys bench` knows, in the order it runs them: the
/// local ones, then the NATS, cluster and scale ones.
pub fn all_scenarios() -> Vec<&'static str> {
    SCENARIOS
        .iter()
        .chain(NATS_SCENARIOS.iter())
        .chain(CLUSTER_SCENARIOS.iter())
        .chain(SCALE_SCENARIOS.iter())
        .copied()
        .collect()
}

/// Runs the scenarios of `plan`; `progress(name)` is called before each.
///
/// # Errors
/// The first scenario that fails.
pub async fn run_all(
    plan: &Plan<'_>,
    mut progress: impl FnMut(&str),
) -> Result<Report, BenchError> {
    // Timed as `airssys run` times messages by default.
    airssys_wasm::metrics::set_timing_every(crate::telemetry::DEFAULT_TIMING_EVERY);
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
                big_guest::Outcome::Measured(row) => scenarios.push(*row),
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

fn spec(id: String) -> ComponentSpec {
    ComponentSpec::new(id, ECHO.as_bytes().to_vec())
}
