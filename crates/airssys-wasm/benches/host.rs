//! The component host against the raw layers beneath it, in the same
//! criterion groups: spawn → ready, tell throughput (64-byte payload),
//! request round trip, crash → ready restart.
//!
//! Run: `cargo bench -p airssys-wasm --bench host`

#[path = "raw.rs"]
mod raw;

use std::time::{Duration, Instant};

use airssys_wasm::{ComponentHost, ComponentSpec, EngineConfig};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use raw::{raw_pre, RawGuest};
use tokio::runtime::Runtime;

const ECHO: &str = include_str!("../tests/fixtures/echo.wat");
const COUNTER: &str = include_str!("../tests/fixtures/crashing_counter.wat");
const TELLS: u64 = 10_000;
const WAIT: Duration = Duration::from_secs(10);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn host(rt: &Runtime, max_components: u32) -> ComponentHost {
    rt.block_on(async {
        ComponentHost::builder()
            .engine(
                EngineConfig::default()
                    .max_components(max_components)
                    .max_memory_per_component(1 << 20),
            )
            .intensity(u32::MAX, Duration::from_secs(1))
            .build()
            .expect("host")
    })
}

fn spawn(c: &mut Criterion) {
    let rt = runtime();
    let host = host(&rt, 1_100);
    let mut group = c.benchmark_group("spawn");
    let mut next = 0u64;
    group.bench_function(BenchmarkId::new("airssys", "spawn_to_ready"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                let mut ids = Vec::new();
                for i in 0..iters {
                    let id = format!("echo-{next}");
                    next += 1;
                    let start = Instant::now();
                    host.spawn(ComponentSpec::new(id.as_str(), ECHO.as_bytes()))
                        .await
                        .expect("spawn");
                    total += start.elapsed();
                    ids.push(id);
                    // Free the pool now and then, outside the timed part.
                    if ids.len() == 1_000 || i + 1 == iters {
                        for id in ids.drain(..) {
                            host.stop(&id).await.expect("stop");
                        }
                    }
                }
                total
            })
        })
    });
    let pre = raw_pre(host.engine(), ECHO);
    group.bench_function(
        BenchmarkId::new("wasmtime_raw", "InstancePre::instantiate_async"),
        |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let guest = RawGuest::new(host.engine(), &pre).await;
                        total += start.elapsed();
                        drop(guest);
                    }
                    total
                })
            })
        },
    );
    group.finish();
    rt.block_on(host.shutdown(WAIT));
}

fn tell_throughput(c: &mut Criterion) {
    let rt = runtime();
    let host = host(&rt, 8);
    let echo = rt
        .block_on(host.spawn(ComponentSpec::new("echo", ECHO.as_bytes()).mailbox_capacity(1024)))
        .expect("spawn");
    let payload = bytes::Bytes::from(vec![0xab_u8; 64]);
    let mut group = c.benchmark_group("tell_throughput");
    group.throughput(Throughput::Elements(TELLS));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("airssys", "send_64B"), |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..TELLS {
                    echo.send(payload.clone()).await.expect("send");
                }
                // Wait until the last one was handled.
                echo.request(payload.clone(), WAIT).await.expect("sync")
            })
        })
    });
    let pre = raw_pre(host.engine(), ECHO);
    let mut guest = rt.block_on(RawGuest::new(host.engine(), &pre));
    group.bench_function(BenchmarkId::new("wasmtime_raw", "typed_calls_64B"), |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..=TELLS {
                    guest.deliver(&payload).await;
                }
            })
        })
    });
    group.finish();
    rt.block_on(host.shutdown(WAIT));
}

fn request_rtt(c: &mut Criterion) {
    let rt = runtime();
    let host = host(&rt, 8);
    let echo = rt
        .block_on(host.spawn(ComponentSpec::new("echo", ECHO.as_bytes())))
        .expect("spawn");
    let payload = bytes::Bytes::from(vec![0xab_u8; 64]);
    let mut group = c.benchmark_group("request_rtt");
    group.bench_function(BenchmarkId::new("airssys", "request_64B"), |b| {
        b.iter(|| {
            rt.block_on(echo.request(payload.clone(), WAIT))
                .expect("request")
        })
    });
    let pre = raw_pre(host.engine(), ECHO);
    let mut guest = rt.block_on(RawGuest::new(host.engine(), &pre));
    group.bench_function(BenchmarkId::new("wasmtime_raw", "typed_call_64B"), |b| {
        b.iter(|| rt.block_on(guest.deliver(&payload)))
    });
    group.finish();
    rt.block_on(host.shutdown(WAIT));
}

fn restart(c: &mut Criterion) {
    let rt = runtime();
    let host = host(&rt, 8);
    let counter = rt
        .block_on(host.spawn(ComponentSpec::new("counter", COUNTER.as_bytes())))
        .expect("spawn");
    let mut group = c.benchmark_group("restart");
    group.bench_function(BenchmarkId::new("airssys", "crash_to_ready"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let _ = counter.request(&b"!"[..], WAIT).await;
                counter
                    .request(&b"x"[..], WAIT)
                    .await
                    .expect("after restart")
            })
        })
    });
    let pre = raw_pre(host.engine(), COUNTER);
    let mut guest = Some(rt.block_on(RawGuest::new(host.engine(), &pre)));
    group.bench_function(
        BenchmarkId::new("wasmtime_raw", "trap_drop_reinstantiate"),
        |b| {
            b.iter(|| {
                rt.block_on(async {
                    if let Some(mut old) = guest.take() {
                        old.deliver(b"!").await;
                    }
                    let mut fresh = RawGuest::new(host.engine(), &pre).await;
                    let code = fresh.deliver(b"x").await;
                    guest = Some(fresh);
                    code
                })
            })
        },
    );
    group.finish();
    rt.block_on(host.shutdown(WAIT));
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = spawn, tell_throughput, request_rtt, restart
}
criterion_main!(benches);
