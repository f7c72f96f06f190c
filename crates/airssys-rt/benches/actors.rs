//! Actor core against bare tokio, in the same run:
//! spawn (10k actors ready to receive) vs `tokio::spawn` + mpsc, each side
//! in its own steady state and interleaved with the other,
//! tell throughput vs a bare mpsc loop, ask round trip vs mpsc + oneshot.
//!
//! `cargo bench -p airssys-rt --bench actors`

use std::time::{Duration, Instant};

use airssys_rt::{Actor, ActorContext, ActorSystem};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

const SPAWN_COUNT: usize = 10_000;
const TELL_COUNT: u64 = 100_000;
const MAILBOX: usize = 1024;

/// Adds what it receives; answers with the running total.
#[derive(Default)]
struct Sum(u64);

impl Actor for Sum {
    type Message = u64;
    type Reply = u64;
    type Error = std::convert::Infallible;

    async fn handle_message(
        &mut self,
        n: u64,
        _: &mut ActorContext<Self>,
    ) -> Result<u64, Self::Error> {
        self.0 += n;
        Ok(self.0)
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Spawns `SPAWN_COUNT` actors into a fresh system; returns the time the
/// spawns took (the shutdown after is not timed).
async fn spawn_airssys() -> Duration {
    let system = ActorSystem::new();
    let mut refs = Vec::with_capacity(SPAWN_COUNT);
    let start = Instant::now();
    for _ in 0..SPAWN_COUNT {
        refs.push(
            system
                .spawn(Sum::default)
                .mailbox_capacity(MAILBOX)
                .await
                .expect("spawn"),
        );
    }
    let elapsed = start.elapsed();
    system.shutdown(Duration::from_secs(10)).await;
    elapsed
}

/// The baseline: `SPAWN_COUNT` tasks, each owning the receiver of a bounded
/// mpsc channel of the same capacity; returns the time the spawns took.
async fn spawn_bare() -> Duration {
    let mut senders = Vec::with_capacity(SPAWN_COUNT);
    let mut tasks = Vec::with_capacity(SPAWN_COUNT);
    let start = Instant::now();
    for _ in 0..SPAWN_COUNT {
        let (tx, mut rx) = mpsc::channel::<u64>(MAILBOX);
        tasks.push(tokio::spawn(async move {
            let mut sum = 0u64;
            while let Some(n) = rx.recv().await {
                sum += n;
            }
            sum
        }));
        senders.push(tx);
    }
    let elapsed = start.elapsed();
    drop(senders);
    for task in tasks {
        let _ = task.await;
    }
    elapsed
}

fn spawn(c: &mut Criterion) {
    let rt = runtime();
    // Both sides run once untimed first, so the heap has grown to what
    // either needs before any sample: whichever group runs second must not
    // get its memory pre-faulted by the first.
    rt.block_on(async {
        for _ in 0..3 {
            spawn_airssys().await;
            spawn_bare().await;
        }
    });
    let mut group = c.benchmark_group("spawn");
    group.throughput(Throughput::Elements(SPAWN_COUNT as u64));
    group.sample_size(30);
    group.bench_function(BenchmarkId::new("airssys", SPAWN_COUNT), |b| {
        b.iter_custom(|iters| timed_rounds(&rt, iters, nothing, spawn_airssys))
    });
    group.bench_function(BenchmarkId::new("tokio_spawn_mpsc", SPAWN_COUNT), |b| {
        b.iter_custom(|iters| timed_rounds(&rt, iters, nothing, spawn_bare))
    });
    group.finish();

    // The same spawns, each timed round right after an untimed round of
    // the other side: both start from a heap the other just used, as in a
    // program that does both. Stricter on whichever allocation pattern
    // suffers more from the other's leftovers.
    let mut group = c.benchmark_group("spawn_interleaved");
    group.throughput(Throughput::Elements(SPAWN_COUNT as u64));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("airssys", SPAWN_COUNT), |b| {
        b.iter_custom(|iters| timed_rounds(&rt, iters, spawn_bare, spawn_airssys))
    });
    group.bench_function(BenchmarkId::new("tokio_spawn_mpsc", SPAWN_COUNT), |b| {
        b.iter_custom(|iters| timed_rounds(&rt, iters, spawn_airssys, spawn_bare))
    });
    group.finish();
}

/// No untimed round before a timed one.
async fn nothing() -> Duration {
    Duration::ZERO
}

/// Runs `iters` rounds of `timed`, each after an untimed round of
/// `before`; returns the time the timed rounds reported.
fn timed_rounds<B, T>(rt: &Runtime, iters: u64, before: fn() -> B, timed: fn() -> T) -> Duration
where
    B: std::future::Future<Output = Duration>,
    T: std::future::Future<Output = Duration>,
{
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            before().await;
            total += timed().await;
        }
        total
    })
}

fn tell(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("tell_throughput");
    group.throughput(Throughput::Elements(TELL_COUNT));
    group.sample_size(20);
    let system = rt.block_on(async { ActorSystem::new() });
    let actor = rt.block_on(async { system.spawn(Sum::default).await.expect("spawn") });
    group.bench_function(BenchmarkId::new("airssys", TELL_COUNT), |b| {
        b.iter(|| {
            rt.block_on(async {
                for n in 0..TELL_COUNT {
                    actor.tell(n).await.expect("tell");
                }
                // Wait until the last message was handled.
                actor.ask(0, Duration::from_secs(10)).await.expect("ask")
            })
        })
    });
    let (tx, mut rx) = mpsc::channel::<(u64, Option<oneshot::Sender<u64>>)>(MAILBOX);
    rt.spawn(async move {
        let mut sum = 0u64;
        while let Some((n, reply)) = rx.recv().await {
            sum += n;
            if let Some(reply) = reply {
                let _ = reply.send(sum);
            }
        }
    });
    group.bench_function(BenchmarkId::new("bare_mpsc", TELL_COUNT), |b| {
        b.iter(|| {
            rt.block_on(async {
                for n in 0..TELL_COUNT {
                    tx.send((n, None)).await.expect("send");
                }
                let (reply, answer) = oneshot::channel();
                tx.send((0, Some(reply))).await.expect("send");
                answer.await.expect("answer")
            })
        })
    });
    group.finish();
}

fn ask(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("ask_round_trip");
    let system = rt.block_on(async { ActorSystem::new() });
    let actor = rt.block_on(async { system.spawn(Sum::default).await.expect("spawn") });
    group.bench_function("airssys", |b| {
        b.iter(|| rt.block_on(async { actor.ask(1, Duration::from_secs(10)).await.expect("ask") }))
    });
    let (tx, mut rx) = mpsc::channel::<(u64, oneshot::Sender<u64>)>(MAILBOX);
    rt.spawn(async move {
        let mut sum = 0u64;
        while let Some((n, reply)) = rx.recv().await {
            sum += n;
            let _ = reply.send(sum);
        }
    });
    group.bench_function("bare_mpsc_oneshot", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (reply, answer) = oneshot::channel();
                tx.send((1, reply)).await.expect("send");
                answer.await.expect("answer")
            })
        })
    });
    group.finish();
}

/// Fails on `u64::MAX`, answers the running total otherwise.
#[derive(Default)]
struct Fragile(u64);

#[derive(Debug)]
struct Crash;

impl std::fmt::Display for Crash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("crash")
    }
}

impl std::error::Error for Crash {}

impl Actor for Fragile {
    type Message = u64;
    type Reply = u64;
    type Error = Crash;

    async fn handle_message(&mut self, n: u64, _: &mut ActorContext<Self>) -> Result<u64, Crash> {
        if n == u64::MAX {
            return Err(Crash);
        }
        self.0 += n;
        Ok(self.0)
    }
}

/// Failure → new incarnation handling its next message, under a supervisor
/// with no backoff; beside a hand-made restart with bare tokio: the task
/// ends, hands back its receiver, and a new task takes it.
fn restart(c: &mut Criterion) {
    use airssys_rt::supervisor::{BackoffPolicy, ChildSpec, SupervisorNode};
    let rt = runtime();
    let mut group = c.benchmark_group("supervised_restart");
    let system = rt.block_on(async { ActorSystem::new() });
    let supervisor = rt.block_on(async {
        SupervisorNode::builder("bench")
            .intensity(u32::MAX, Duration::from_secs(1))
            .backoff(BackoffPolicy::none())
            .start()
    });
    let actor = rt.block_on(async {
        system
            .spawn(Fragile::default)
            .supervisor(&supervisor, ChildSpec::new("fragile"))
            .await
            .expect("spawn")
    });
    group.bench_function("airssys", |b| {
        b.iter(|| {
            rt.block_on(async {
                actor.tell(u64::MAX).await.expect("tell");
                actor
                    .ask(1, Duration::from_secs(10))
                    .await
                    .expect("ask after restart")
            })
        })
    });

    type Request = (u64, Option<oneshot::Sender<u64>>);
    async fn incarnation(mut rx: mpsc::Receiver<Request>) -> mpsc::Receiver<Request> {
        let mut sum = 0u64;
        while let Some((n, reply)) = rx.recv().await {
            if n == u64::MAX {
                return rx;
            }
            sum += n;
            if let Some(reply) = reply {
                let _ = reply.send(sum);
            }
        }
        rx
    }
    let (tx, rx) = mpsc::channel::<Request>(MAILBOX);
    let mut running = Some(rt.spawn(incarnation(rx)));
    group.bench_function("tokio_respawn", |b| {
        b.iter(|| {
            rt.block_on(async {
                tx.send((u64::MAX, None)).await.expect("send");
                let rx = running.take().expect("running").await.expect("join");
                running = Some(tokio::spawn(incarnation(rx)));
                let (reply, answer) = oneshot::channel();
                tx.send((1, Some(reply))).await.expect("send");
                answer.await.expect("answer")
            })
        })
    });
    group.finish();
}

criterion_group!(benches, spawn, tell, ask, restart);
criterion_main!(benches);
