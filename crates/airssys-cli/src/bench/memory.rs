//! The `memory_per_component` scenario: RSS growth per spawned component,
//! against RSS growth per bare wasmtime instance; and the RSS reading.

#[allow(clippy::wildcard_imports)]
use super::*;

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

/// RSS growth per component on `host`, KiB: spawns `n` components
/// (`spec_of(id)`, ids `m0`, `m1`, ...), then sends each one request, so
/// its memory is touched as a component that has run once.
pub(super) async fn host_kib_per_component(
    host: &ComponentHost,
    n: usize,
    spec_of: impl Fn(String) -> ComponentSpec,
    scenario: &'static str,
) -> Result<f64, BenchError> {
    let before = rss_bytes();
    for i in 0..n {
        host.spawn(spec_of(format!("m{i}")))
            .await
            .map_err(host_err(scenario))?;
    }
    for i in 0..n {
        host.request(&format!("m{i}"), &b"x"[..], Duration::from_secs(5))
            .await
            .map_err(host_err(scenario))?;
    }
    Ok((rss_bytes().saturating_sub(before)) as f64 / n as f64 / 1024.0)
}

pub(super) async fn memory_per_component(n: usize) -> Result<Scenario, BenchError> {
    const S: &str = "memory_per_component";
    let host = host(S, n + 4)?;
    host.engine()
        .load(&"warm".into(), ECHO.as_bytes())
        .map_err(|e: WasmError| host_err(S)(e.into()))?;
    host.spawn(spec("warm-0".into()))
        .await
        .map_err(host_err(S))?;
    let ours = host_kib_per_component(&host, n, spec, S).await?;
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
