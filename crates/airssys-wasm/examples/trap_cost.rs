//! What a trap costs on bare wasmtime, on this machine: the floor under
//! any crash → restart, whatever the host around it does.
//!
//! Times 20,000 calls of an export that returns and 20,000 of one that
//! hits `unreachable` (each in a fresh instance), then a trap followed by
//! dropping the store and instantiating afresh, as a restart must. Same
//! pooling allocator and `memset` slot reset as the host's engine.
//!
//! ```sh
//! cargo run --release -p airssys-wasm --example trap_cost
//! ```

use std::time::Instant;

use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, Store,
};

const GUEST: &str = r#"(module (memory (export "memory") 1)
    (func (export "ok") (result i32) i32.const 1)
    (func (export "boom") (result i32) unreachable))"#;

const CALLS: usize = 20_000;

#[tokio::main]
async fn main() -> wasmtime::Result<()> {
    let mut config = Config::new();
    let mut pool = PoolingAllocationConfig::new();
    pool.total_memories(4)
        .total_tables(4)
        .total_core_instances(4)
        .linear_memory_keep_resident(airssys_wasm::runtime::config::DEFAULT_KEPT_RESIDENT);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config)?;
    let module = Module::new(&engine, GUEST)?;
    let pre = Linker::<()>::new(&engine).instantiate_pre(&module)?;

    for export in ["ok", "boom"] {
        let mut samples = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let mut store = Store::new(&engine, ());
            let instance = pre.instantiate_async(&mut store).await?;
            let call = instance.get_typed_func::<(), i32>(&mut store, export)?;
            let t = Instant::now();
            let outcome = call.call_async(&mut store, ()).await;
            samples.push(micros(t));
            std::hint::black_box(outcome.is_ok());
        }
        report(&format!("call of `{export}`"), &mut samples);
    }

    let mut samples = Vec::with_capacity(CALLS);
    let mut store = Store::new(&engine, ());
    let mut instance = pre.instantiate_async(&mut store).await?;
    for _ in 0..CALLS {
        let t = Instant::now();
        let call = instance.get_typed_func::<(), i32>(&mut store, "boom")?;
        std::hint::black_box(call.call_async(&mut store, ()).await.is_ok());
        drop(store);
        (store, instance) = fresh(&engine, &pre).await?;
        samples.push(micros(t));
    }
    report("trap, store dropped, fresh instance", &mut samples);
    Ok(())
}

async fn fresh(
    engine: &Engine,
    pre: &InstancePre<()>,
) -> wasmtime::Result<(Store<()>, wasmtime::Instance)> {
    let mut store = Store::new(engine, ());
    let instance = pre.instantiate_async(&mut store).await?;
    Ok((store, instance))
}

fn micros(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e6
}

fn report(what: &str, samples: &mut [f64]) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!("{what}: p50 {:.2} µs, p99 {:.2} µs", at(0.5), at(0.99));
}
