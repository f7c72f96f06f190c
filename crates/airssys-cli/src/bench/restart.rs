//! The `restart` scenario: poison message, trap, restart, next request
//! answered; against a fresh `InstancePre::instantiate_async`.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) async fn restart(n: usize) -> Result<Scenario, BenchError> {
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
