//! Embedding the component host: spawn components, talk to them, watch one
//! crash and come back, read the dead letters.
//!
//! `cargo run -p airssys-wasm --example host`

use std::time::Duration;

use airssys_wasm::{ComponentHost, ComponentLimits, ComponentSpec, EngineConfig};

const ECHO: &str = include_str!("../tests/fixtures/echo.wat");
const COUNTER: &str = include_str!("../tests/fixtures/crashing_counter.wat");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let wait = Duration::from_secs(1);

    // 1. One host: a shared engine (pooling allocator for 64 components), a
    //    broker, and a root supervisor.
    let host = ComponentHost::builder()
        .engine(EngineConfig::default().max_components(64))
        .build()?;

    // 2. Spawn components; each is an actor with its own mailbox and limits.
    let echo = host
        .spawn(ComponentSpec::new("echo", ECHO.as_bytes()))
        .await?;
    let counter = host
        .spawn(
            ComponentSpec::new("counter", COUNTER.as_bytes())
                .limits(ComponentLimits::default().execution_timeout(Duration::from_millis(50)))
                .subscribe("ticks.>"),
        )
        .await?;

    // 3. Request/reply with a component.
    let reply = echo.request(&b"hello"[..], wait).await?;
    println!(
        "echo replied {:?}",
        reply.map(|b| String::from_utf8_lossy(&b).into_owned())
    );

    // 4. Pub-sub: the host holds the subscription and fans out to mailboxes.
    host.publish("ticks.second", &b"tick"[..])?;
    host.publish("ticks.minute.first", &b"tick"[..])?;

    // 5. A payload starting with '!' traps the counter: its supervisor
    //    restarts it with fresh state; the crashing message is dead-lettered.
    let mut dead_letters = host.broker().subscribe("_airssys.deadletter")?;
    let _ = counter.request(&b"!boom"[..], wait).await;
    let after = counter.request(&b"x"[..], wait).await?.unwrap_or_default();
    println!(
        "counter after restart: {} (restarts: {})",
        i32::from_le_bytes(after[..4].try_into()?),
        counter.stats().restarts
    );
    if let Some(letter) = dead_letters.recv().await {
        println!(
            "dead letter: {:?} because {:?}",
            letter.payload.payload, letter.dead_letter
        );
    }

    // 6. List, then shut down: cleanup runs, instances are freed.
    for info in host.list() {
        println!(
            "{} {} handled={} restarts={}",
            info.id, info.state, info.handled, info.restarts
        );
    }
    let report = host.shutdown(wait).await;
    println!(
        "shutdown: {} stopped, dead letters {:?}",
        report.stopped, report.dead_letters
    );
    Ok(())
}
