//! Guest benchmarks: our spawn and message paths against the raw wasmtime
//! calls beneath them, in the same criterion group.
//!
//! Run: `cargo bench -p airssys-wasm --bench guest`

#[path = "raw.rs"]
mod raw;

use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_wasm::{
    ComponentId, EngineConfig, GuestMessage, InstanceConfig, NoHostServices, WasmEngine,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use raw::{raw_pre, Raw};
use wasmtime::Store;

const ECHO: &str = include_str!("../tests/fixtures/echo.wat");

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn instantiate(c: &mut Criterion) {
    let rt = runtime();
    let engine = WasmEngine::new(EngineConfig::default().max_components(64)).unwrap();
    let id = ComponentId::new("echo");
    engine.load(&id, ECHO.as_bytes()).unwrap(); // warm the cache
    let pre = raw_pre(&engine, ECHO);
    let host = Arc::new(NoHostServices);
    let config = InstanceConfig::new(id.clone(), host);

    let mut group = c.benchmark_group("instantiate");
    group.bench_function(
        BenchmarkId::new("airssys_spawn", "cache_hit+instantiate+init"),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let module = engine.load(&id, ECHO.as_bytes()).unwrap();
                        let mut guest = module.instantiate(config.clone()).await.unwrap();
                        guest.init().await.unwrap();
                        drop(guest);
                    }
                    start.elapsed()
                })
            })
        },
    );
    let held = engine.load(&id, ECHO.as_bytes()).unwrap();
    group.bench_function(
        BenchmarkId::new("airssys_spawn", "module_held+instantiate+init"),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut guest = held.instantiate(config.clone()).await.unwrap();
                        guest.init().await.unwrap();
                        drop(guest);
                    }
                    start.elapsed()
                })
            })
        },
    );
    group.bench_function(
        BenchmarkId::new("wasmtime_raw", "InstancePre::instantiate_async"),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut store = Store::new(engine.wasmtime(), Raw::default());
                        pre.instantiate_async(&mut store).await.unwrap();
                        drop(store);
                    }
                    start.elapsed()
                })
            })
        },
    );
    group.finish();
}

fn handle_message(c: &mut Criterion) {
    let rt = runtime();
    let engine = WasmEngine::new(EngineConfig::default().max_components(64)).unwrap();
    let payload = vec![0xabu8; 64];
    let msg = GuestMessage::new(payload.clone()).from("bench");

    let mut group = c.benchmark_group("handle_message");
    group.throughput(criterion::Throughput::Elements(1));

    let module = engine.load(&"echo".into(), ECHO.as_bytes()).unwrap();
    let mut guest = rt
        .block_on(module.instantiate(InstanceConfig::new("echo", Arc::new(NoHostServices))))
        .unwrap();
    group.bench_function(BenchmarkId::new("airssys", "echo_64B"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let reply = guest.handle_message(&msg).await.unwrap();
                    std::hint::black_box(reply);
                }
                start.elapsed()
            })
        })
    });

    // Baseline: cached TypedFuncs, alloc + memory write + call, per message.
    let pre = raw_pre(&engine, ECHO);
    let mut store = Store::new(engine.wasmtime(), Raw::default());
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = rt.block_on(pre.instantiate_async(&mut store)).unwrap();
    let memory = instance.get_memory(&mut store, "memory").unwrap();
    let alloc = instance
        .get_typed_func::<i32, i32>(&mut store, "alloc")
        .unwrap();
    let handle = instance
        .get_typed_func::<(i32, i32), i32>(&mut store, "handle-message")
        .unwrap();
    let mut header = [0u8; 24];
    header[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    let total = (header.len() + payload.len()) as i32;
    group.bench_function(BenchmarkId::new("wasmtime_raw", "typed_calls_64B"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let ptr = alloc.call_async(&mut store, total).await.unwrap() as usize;
                    let mem = memory.data_mut(&mut store);
                    mem[ptr..ptr + 24].copy_from_slice(&header);
                    mem[ptr + 24..ptr + total as usize].copy_from_slice(&payload);
                    handle
                        .call_async(&mut store, (ptr as i32, total))
                        .await
                        .unwrap();
                    std::hint::black_box(store.data_mut().reply.take());
                }
                start.elapsed()
            })
        })
    });
    // Floor: the same buffer reused (as our ABI does), one typed call per message.
    let ptr = rt.block_on(alloc.call_async(&mut store, total)).unwrap() as usize;
    group.bench_function(
        BenchmarkId::new("wasmtime_raw", "typed_call_reused_buffer_64B"),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mem = memory.data_mut(&mut store);
                        mem[ptr..ptr + 24].copy_from_slice(&header);
                        mem[ptr + 24..ptr + total as usize].copy_from_slice(&payload);
                        handle
                            .call_async(&mut store, (ptr as i32, total))
                            .await
                            .unwrap();
                        std::hint::black_box(store.data_mut().reply.take());
                    }
                    start.elapsed()
                })
            })
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = instantiate, handle_message
}
criterion_main!(benches);
