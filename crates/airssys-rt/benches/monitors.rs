//! Monitors against bare tokio, in the same run:
//!
//! - `down_latency`: from `ActorRef::stop()` to the down received by a task
//!   waiting on it (a `Monitor` future, a `monitor_with` callback sending on
//!   a oneshot, an actor's `handle_down`), beside a bare `tokio::sync::oneshot`
//!   from `send` to the waiting task's receipt. Each round spawns its target
//!   and arms its monitor untimed; the waiting task stamps the time it got
//!   the down, so both sides end at the same point. Then 10,000 rounds per
//!   mode outside criterion give the median and the 99th percentile.
//! - `bytes per idle monitor`: 1,000,000 monitors of each kind on one
//!   actor, counted by a global allocator (heap bytes requested).
//!
//! `cargo bench -p airssys-rt --bench monitors`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use airssys_rt::{Actor, ActorContext, ActorRef, ActorSystem, Down};
use criterion::{criterion_group, BenchmarkId, Criterion};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// Counts the bytes live on the heap (one relaxed add per allocation, for
/// every mode alike).
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only a counter is
// updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ROUNDS: usize = 10_000;
const IDLE_MONITORS: usize = 1_000_000;

/// An actor that does nothing but exist, and, as a watcher, passes its
/// down on with the time it handled it.
struct Idle {
    down: Option<oneshot::Sender<Instant>>,
}

enum Cmd {
    Monitor(ActorRef<Idle>),
    MonitorMany(ActorRef<Idle>, usize),
}

impl Actor for Idle {
    type Message = Cmd;
    type Reply = ();
    type Error = std::convert::Infallible;

    async fn handle_message(
        &mut self,
        cmd: Cmd,
        ctx: &mut ActorContext<Self>,
    ) -> Result<(), Self::Error> {
        match cmd {
            Cmd::Monitor(target) => {
                ctx.monitor(&target);
            }
            Cmd::MonitorMany(target, n) => {
                for _ in 0..n {
                    ctx.monitor(&target);
                }
            }
        }
        Ok(())
    }

    async fn handle_down(
        &mut self,
        _: Down,
        ctx: &mut ActorContext<Self>,
    ) -> Result<(), Self::Error> {
        // A round's watcher passes the time on and is done.
        if let Some(down) = self.down.take() {
            let _ = down.send(Instant::now());
            ctx.stop();
        }
        Ok(())
    }
}

fn idle() -> Idle {
    Idle { down: None }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The ways a down is received, and the baseline.
#[derive(Clone, Copy)]
enum Mode {
    Oneshot,
    Future,
    Callback,
    Actor,
}

impl Mode {
    const ALL: [Mode; 4] = [Mode::Oneshot, Mode::Future, Mode::Callback, Mode::Actor];

    fn name(self) -> &'static str {
        match self {
            Mode::Oneshot => "tokio_oneshot",
            Mode::Future => "monitor_future",
            Mode::Callback => "monitor_with",
            Mode::Actor => "actor_handle_down",
        }
    }
}

/// One round: arms the notification untimed, then times the trigger (a
/// stop, or the bare oneshot's send) until the waiting task has it.
async fn round(system: &ActorSystem, mode: Mode) -> Duration {
    let (stamp, stamped) = oneshot::channel::<Instant>();
    let trigger: Box<dyn FnOnce() + Send> = match mode {
        Mode::Oneshot => {
            let (tx, rx) = oneshot::channel::<()>();
            tokio::spawn(async move {
                if rx.await.is_ok() {
                    let _ = stamp.send(Instant::now());
                }
            });
            Box::new(move || {
                let _ = tx.send(());
            })
        }
        Mode::Future => {
            let target = system.spawn(idle).await.expect("spawn");
            let monitor = target.monitor();
            tokio::spawn(async move {
                let _down = monitor.await;
                let _ = stamp.send(Instant::now());
            });
            Box::new(move || target.stop())
        }
        Mode::Callback => {
            let target = system.spawn(idle).await.expect("spawn");
            let (tx, rx) = oneshot::channel::<Down>();
            target.monitor_with(move |down| {
                let _ = tx.send(down);
            });
            tokio::spawn(async move {
                if rx.await.is_ok() {
                    let _ = stamp.send(Instant::now());
                }
            });
            Box::new(move || target.stop())
        }
        Mode::Actor => {
            let target = system.spawn(idle).await.expect("spawn");
            let mut stamp = Some(stamp);
            let watcher = system
                .spawn(move || Idle { down: stamp.take() })
                .await
                .expect("spawn");
            watcher
                .ask(Cmd::Monitor(target.clone()), Duration::from_secs(5))
                .await
                .expect("monitor");
            // The watcher stops itself once it handled the down.
            drop(watcher);
            Box::new(move || target.stop())
        }
    };
    // Let the waiting task park first.
    tokio::task::yield_now().await;
    let start = Instant::now();
    trigger();
    let end = stamped.await.expect("the down arrived");
    end.saturating_duration_since(start)
}

fn down_latency(c: &mut Criterion) {
    let rt = runtime();
    let system = rt.block_on(async { ActorSystem::new() });
    let mut group = c.benchmark_group("down_latency");
    for mode in Mode::ALL {
        group.bench_function(BenchmarkId::new(mode.name(), "stop_to_received"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += round(&system, mode).await;
                    }
                    total
                })
            })
        });
    }
    group.finish();
    rt.block_on(system.shutdown(Duration::from_secs(10)));
}

/// Median and 99th percentile of `ROUNDS` rounds per mode, interleaved.
fn percentiles() {
    let rt = runtime();
    rt.block_on(async {
        let system = ActorSystem::new();
        let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(ROUNDS); Mode::ALL.len()];
        for _ in 0..ROUNDS {
            for (i, mode) in Mode::ALL.into_iter().enumerate() {
                samples[i].push(round(&system, mode).await);
            }
        }
        println!("down_latency/{ROUNDS} rounds (stop -> down received by a waiting task)");
        let baseline = percentile(&mut samples[0], 0.5);
        for (i, mode) in Mode::ALL.into_iter().enumerate() {
            let p50 = percentile(&mut samples[i], 0.5);
            let p99 = percentile(&mut samples[i], 0.99);
            println!(
                "  {:<18} p50 {:>7.2} us  p99 {:>7.2} us  ({:.1}x the oneshot's p50)",
                mode.name(),
                p50.as_secs_f64() * 1e6,
                p99.as_secs_f64() * 1e6,
                p50.as_secs_f64() / baseline.as_secs_f64(),
            );
        }
        system.shutdown(Duration::from_secs(10)).await;
    });
}

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort_unstable();
    let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[i]
}

/// Heap bytes per idle monitor, `IDLE_MONITORS` of each kind on one actor.
fn bytes_per_idle_monitor() {
    let rt = runtime();
    rt.block_on(async {
        let system = ActorSystem::new();
        let target = system.spawn(idle).await.expect("spawn");
        // The target's lists exist before counting.
        drop(target.monitor());
        let live = || LIVE.load(Ordering::SeqCst);
        let n = IDLE_MONITORS;

        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Down)>();
        let mut refs = Vec::with_capacity(n);
        let before = live();
        for tag in 0..n as u64 {
            let tx = tx.clone();
            refs.push(target.monitor_with(move |down| {
                let _ = tx.send((tag, down));
            }));
        }
        let callback = (live() - before) as f64 / n as f64;
        for monitor in refs.drain(..) {
            target.demonitor(monitor);
        }

        let watcher = system.spawn(idle).await.expect("spawn");
        let before = live();
        watcher
            .ask(Cmd::MonitorMany(target.clone(), n), Duration::from_secs(60))
            .await
            .expect("monitors");
        let actor = (live() - before) as f64 / n as f64;
        watcher.stop();
        watcher.wait_for_stop().await;

        let before = live();
        let futures: Vec<_> = (0..n).map(|_| target.monitor()).collect();
        let future = (live() - before) as f64 / n as f64;
        drop(futures);

        println!("bytes per idle monitor ({n} on one actor, heap bytes requested)");
        println!("  monitor_with (callback: channel sender + tag)  {callback:>6.1}");
        println!("  ActorContext::monitor (entry + record)          {actor:>6.1}");
        println!("  ActorRef::monitor (Monitor future, its own size) {future:>6.1}");
        system.shutdown(Duration::from_secs(10)).await;
    });
}

criterion_group!(benches, down_latency);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    percentiles();
    bytes_per_idle_monitor();
}
