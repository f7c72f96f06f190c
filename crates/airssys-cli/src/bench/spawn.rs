//! The `spawn` scenario: `ComponentHost::spawn` against wasmtime's
//! `InstancePre::instantiate_async` alone, in interleaved rounds.

use super::rounds::{latency_rounds, Sampler};
#[allow(clippy::wildcard_imports)]
use super::*;

/// Spawns through the host, each component kept (a fresh pool slot each
/// time, as a spawn takes).
struct HostSpawns {
    host: ComponentHost,
    spawned: usize,
}

impl Sampler for HostSpawns {
    async fn sample(&mut self, n: usize, out: &mut Vec<f64>) -> Result<(), BenchError> {
        for _ in 0..n {
            let t = Instant::now();
            self.host
                .spawn(spec(format!("c{}", self.spawned)))
                .await
                .map_err(host_err("spawn"))?;
            out.push(micros(t.elapsed()));
            self.spawned += 1;
        }
        Ok(())
    }
}

/// Bare `InstancePre::instantiate_async`, each instance kept.
struct RawSpawns {
    engine: WasmEngine,
    pre: InstancePre<Option<Vec<u8>>>,
    kept: Vec<(Store<Option<Vec<u8>>>, Instance)>,
}

impl Sampler for RawSpawns {
    async fn sample(&mut self, n: usize, out: &mut Vec<f64>) -> Result<(), BenchError> {
        for _ in 0..n {
            let t = Instant::now();
            let instance = raw_instance(&self.engine, &self.pre, "spawn").await?;
            out.push(micros(t.elapsed()));
            self.kept.push(instance);
        }
        Ok(())
    }
}

/// `spawn`: [`ROUNDS`] interleaved rounds of `n / ROUNDS` spawns on each
/// side, every component and instance kept until the end.
pub(super) async fn spawn(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "spawn";
    let per_round = n.div_ceil(ROUNDS);
    let slots = per_round * ROUNDS + 4;
    let host = host(S, slots)?;
    // Warm the module cache: spawn measures instantiation, not compilation.
    host.engine()
        .load(&"warm".into(), ECHO.as_bytes())
        .map_err(|e: WasmError| host_err(S)(e.into()))?;
    let engine = WasmEngine::new(
        EngineConfig::default().max_components(u32::try_from(slots).unwrap_or(u32::MAX)),
    )
    .map_err(wasm_err(S))?;
    let pre = raw_pre(&engine, S)?;
    let mut ours = HostSpawns {
        host: host.clone(),
        spawned: 0,
    };
    let mut base = RawSpawns {
        engine,
        pre,
        kept: Vec::with_capacity(slots),
    };
    let row = latency_rounds(
        S,
        &mut ours,
        "wasmtime InstancePre::instantiate_async, kept",
        &mut base,
        per_round,
    )
    .await;
    drop(base);
    host.shutdown(Duration::from_secs(10)).await;
    row
}
