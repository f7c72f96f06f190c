//! The `restart` scenario: poison message, trap, restart, next request
//! answered; against the same on bare wasmtime (the trap, the store
//! dropped, a fresh `InstancePre::instantiate_async`, the next call).

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
    let mut base = bare_crashes(&engine, n).await?;
    Ok(Scenario::latency(
        S,
        &mut ours,
        "bare trap, fresh instantiate_async, next call",
        &mut base,
    ))
}

/// The raw layer of a crash and its restart, `n` times: a bare instance
/// traps on the poison message, its store is dropped, a fresh one is
/// instantiated (in the slot the dropped one left warm) and handles the
/// next message. On this machine the trap alone, the kernel delivering
/// the signal wasmtime turns into a `Trap`, is most of it (8 µs of 11).
async fn bare_crashes(engine: &WasmEngine, n: usize) -> Result<Vec<f64>, BenchError> {
    const S: &str = "restart";
    let pre = raw_pre(engine, S)?;
    let (mut store, mut instance) = raw_instance(engine, &pre, S).await?;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        if raw_deliver(&mut store, &instance, b"!boom").await.is_ok() {
            return Err(wasm_err(S)("the poison message did not trap"));
        }
        drop(store);
        (store, instance) = raw_instance(engine, &pre, S).await?;
        raw_deliver(&mut store, &instance, b"ok")
            .await
            .map_err(wasm_err(S))?;
        samples.push(micros(t.elapsed()));
    }
    Ok(samples)
}
