//! Resident memory per live idle component, 10,000 of them (one-page echo
//! guests), beside 10,000 raw wasmtime instances of the same module kept
//! alive in their stores. Each side runs in a fresh process so neither
//! reuses the other's freed memory. Prints bytes per unit and the ratio.
//!
//! Run: `cargo bench -p airssys-wasm --bench component_memory`

#[path = "raw.rs"]
mod raw;

use std::time::Duration;

use airssys_wasm::{ComponentHost, ComponentSpec, EngineConfig};

const ECHO: &str = include_str!("../tests/fixtures/echo.wat");
const COMPONENTS: usize = 10_000;

/// Resident set size of this process in bytes, from /proc/self/statm.
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0)
        * 4096
}

fn measure(mode: &str) -> f64 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let host = ComponentHost::builder()
            .engine(
                EngineConfig::default()
                    .max_components(COMPONENTS as u32 + 16)
                    .max_memory_per_component(1 << 20),
            )
            .build()
            .expect("host");
        // Compile once and warm up outside the measurement.
        let warm = host
            .spawn(ComponentSpec::new("warm", ECHO.as_bytes()))
            .await
            .expect("spawn");
        warm.request(&b"hi"[..], Duration::from_secs(5))
            .await
            .expect("warm");
        let pre = raw::raw_pre(host.engine(), ECHO);
        let mut raws = Vec::new();
        let mut refs = Vec::new();
        let before = rss_bytes();
        for i in 0..COMPONENTS {
            if mode == "airssys" {
                let spec = ComponentSpec::new(format!("echo-{i}"), ECHO.as_bytes());
                refs.push(host.spawn(spec).await.expect("spawn"));
            } else {
                raws.push(raw::RawGuest::new(host.engine(), &pre).await);
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let per_unit = rss_bytes().saturating_sub(before) as f64 / COMPONENTS as f64;
        drop(raws);
        host.shutdown(Duration::from_secs(60)).await;
        per_unit
    })
}

fn main() {
    if let Some(mode) = std::env::args()
        .nth(1)
        .filter(|a| a == "airssys" || a == "raw")
    {
        println!("{}", measure(&mode));
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let run = |mode: &str| -> f64 {
        let out = std::process::Command::new(&exe)
            .arg(mode)
            .output()
            .expect("run self");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(f64::NAN)
    };
    let ours = run("airssys");
    let raw = run("raw");
    println!("memory_per_component/{COMPONENTS}");
    println!(
        "  airssys        {ours:>9.0} bytes per idle component ({:.1} KiB)",
        ours / 1024.0
    );
    println!(
        "  wasmtime_raw   {raw:>9.0} bytes per idle instance  ({:.1} KiB)",
        raw / 1024.0
    );
    println!("  ratio          {:>9.2}x", ours / raw);
}
