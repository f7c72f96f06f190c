//! Resident memory per live idle actor, 100,000 of them, beside the same
//! number of bare `tokio::spawn` tasks each waiting on an mpsc channel.
//! Not a criterion bench: it prints the RSS delta divided by the count.
//!
//! `cargo bench -p airssys-rt --bench idle_memory`

use std::time::Duration;

use airssys_rt::{Actor, ActorContext, ActorSystem};
use tokio::sync::mpsc;

const ACTORS: usize = 100_000;
const MAILBOX: usize = 1024;

#[derive(Default)]
struct Idle;

impl Actor for Idle {
    type Message = u64;
    type Reply = ();
    type Error = std::convert::Infallible;

    async fn handle_message(
        &mut self,
        _: u64,
        _: &mut ActorContext<Self>,
    ) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Resident set size of this process in bytes, from /proc/self/statm.
fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Bytes of RSS per idle unit for one mode, measured in this process.
fn measure(mode: &str) -> f64 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        // Warm the allocator and the runtime so the measurement is fair.
        let warm = ActorSystem::new();
        for _ in 0..1000 {
            let _ = warm.spawn(|| Idle).await;
        }
        warm.shutdown(Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;

        let before = rss_bytes();
        let system = ActorSystem::new();
        let mut refs = Vec::with_capacity(ACTORS);
        let mut senders = Vec::with_capacity(ACTORS);
        for _ in 0..ACTORS {
            if mode == "airssys" {
                refs.push(
                    system
                        .spawn(|| Idle)
                        .mailbox_capacity(MAILBOX)
                        .await
                        .expect("spawn"),
                );
            } else {
                let (tx, mut rx) = mpsc::channel::<u64>(MAILBOX);
                tokio::spawn(async move { while rx.recv().await.is_some() {} });
                senders.push(tx);
            }
        }
        // Let every task run once and park on its empty mailbox.
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The vectors of handles are the caller's, not the actors': leave them out.
        let handles = refs.capacity() * std::mem::size_of::<airssys_rt::ActorRef<Idle>>()
            + senders.capacity() * std::mem::size_of::<mpsc::Sender<u64>>();
        let per_unit = (rss_bytes() - before - handles) as f64 / ACTORS as f64;
        system.shutdown(Duration::from_secs(30)).await;
        per_unit
    })
}

fn main() {
    // Each mode runs in a fresh process so neither reuses the other's freed memory.
    if let Some(mode) = std::env::args()
        .nth(1)
        .filter(|a| a == "airssys" || a == "bare")
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
    let bare = run("bare");
    println!("idle_memory/{ACTORS}");
    println!(
        "  airssys           {ours:>8.0} bytes per idle actor ({:.2} KiB)",
        ours / 1024.0
    );
    println!(
        "  tokio_spawn_mpsc  {bare:>8.0} bytes per idle task  ({:.2} KiB)",
        bare / 1024.0
    );
    println!("  ratio             {:>8.2}x", ours / bare);
}
