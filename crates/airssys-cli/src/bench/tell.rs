//! The `tell_throughput` scenario: sends to one component until all are
//! handled, against a loop of typed `handle-message` calls.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) async fn wait_handled(
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

pub(super) async fn tell_throughput(n: usize) -> Result<Scenario, BenchError> {
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
