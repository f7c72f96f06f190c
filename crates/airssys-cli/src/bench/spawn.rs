//! The `spawn` scenario: `ComponentHost::spawn` against wasmtime's
//! `InstancePre::instantiate_async` alone.

#[allow(clippy::wildcard_imports)]
use super::*;

/// `n` bare instantiations, each store dropped before the next: the pool
/// slot is reused, as a restart reuses its component's.
pub(super) async fn bare_instantiations(
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

pub(super) async fn spawn(n: usize) -> Result<Scenario, BenchError> {
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
