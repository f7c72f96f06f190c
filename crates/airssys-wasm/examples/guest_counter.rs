//! Load a core-ABI guest once, spawn two instances, deliver messages, check
//! health — the calls a component actor makes.
//!
//! Run: `cargo run -p airssys-wasm --example guest_counter`

use std::sync::Arc;

use airssys_wasm::{
    ComponentId, ComponentLimits, EngineConfig, GuestMessage, InstanceConfig, NoHostServices,
    WasmEngine,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. One engine per host: pool for 16 components, epoch ticker started.
    let engine = WasmEngine::new(EngineConfig::default().max_components(16))?;
    println!("allocator: {:?}", engine.allocator());

    // 2. Load (compile + link) once; WAT text is accepted as well as binaries.
    let source = include_str!("../tests/fixtures/counter.wat");
    let module = engine
        .load_async(ComponentId::new("counter"), source.as_bytes())
        .await?;

    // 3. Each instance gets its own store, memory and limits.
    let limits = ComponentLimits::default().max_memory_bytes(1 << 20);
    for name in ["counter-a", "counter-b"] {
        let config = InstanceConfig::new(name, Arc::new(NoHostServices)).limits(limits.clone());
        let mut guest = module.instantiate(config).await?;
        guest.init().await?;

        // 4. Deliver messages; the counter replies with its count.
        for _ in 0..3 {
            let reply = guest
                .handle_message(&GuestMessage::new(&b"tick"[..]))
                .await?;
            let count = reply.map(|r| i32::from_le_bytes([r[0], r[1], r[2], r[3]]));
            println!("{name}: count = {count:?}");
        }

        // 5. Health (Healthy: this guest exports no `health`), then cleanup.
        println!("{name}: {:?}", guest.health().await);
        guest.cleanup().await?;
    }
    println!("compilations: {}", engine.compile_count());
    Ok(())
}
