//! `airssys chaos`: many components, many messages across send, request and
//! publish, a fraction of them trapping, components stopped and restarted at
//! random; then the ledger. Every message the host accepted must end handled,
//! replied or dead-lettered (zero unaccounted), the host must still answer,
//! and the process RSS must come back within a tolerance of its level before
//! the run.
//!
//! ```no_run
//! # async fn demo() {
//! use airssys_cli::chaos::{run, ChaosConfig};
//!
//! let report = run(ChaosConfig::default().components(100).messages(10_000)).await.unwrap();
//! assert_eq!(report.unaccounted(), 0);
//! println!("{report}");
//! # }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_wasm::{
    ComponentHost, ComponentLimits, ComponentRef, ComponentSpec, EngineConfig, HostError,
};
use bytes::Bytes;
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The guest every chaos component runs (WAT): echoes, or traps on a
/// payload starting with `T`.
pub const GUEST: &str = include_str!("guest.wat");

/// How long a chaos request waits for its reply.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the run waits, once every message is sent, for the ledger to
/// move when it does not balance yet; after that it reports what is
/// unaccounted.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a chaos run. Defaults: 1 000 components, 100 000 messages,
/// 1 % traps, seed 1, 64 concurrent senders, a random stop-and-restart
/// every 2 ms, RSS tolerance 5 %.
#[derive(Clone, Debug)]
#[must_use]
pub struct ChaosConfig {
    components: u32,
    messages: u64,
    warmup_messages: u64,
    trap_rate: f64,
    seed: u64,
    senders: u32,
    restart_every: Duration,
    rss_tolerance: f64,
}

impl Default for ChaosConfig {
    fn default() -> Self {
        Self {
            components: 1000,
            messages: 100_000,
            warmup_messages: 300_000,
            trap_rate: 0.01,
            seed: 1,
            senders: 64,
            restart_every: Duration::from_millis(2),
            rss_tolerance: 0.05,
        }
    }
}

impl ChaosConfig {
    /// Number of components (default 1 000).
    pub fn components(mut self, n: u32) -> Self {
        self.components = n.max(1);
        self
    }
    /// Messages to send in all (default 100 000): 40 % sends, 40 % requests,
    /// 20 % publishes.
    pub fn messages(mut self, n: u64) -> Self {
        self.messages = n;
        self
    }
    /// Messages of the warm-up round sent, with the same mix, traps and
    /// restarts, before RSS is first read (default 300 000): the allocator's
    /// caches and free lists, the queues and the pool's slots reach their
    /// working size in it, so the measured round's growth is what the host
    /// keeps, not what it needed once. On a 1,000-component host RSS still
    /// rises through the first ~200,000 messages and is level after.
    pub fn warmup_messages(mut self, n: u64) -> Self {
        self.warmup_messages = n;
        self
    }
    /// Fraction of messages that trap their handler (default 0.01).
    pub fn trap_rate(mut self, rate: f64) -> Self {
        self.trap_rate = rate.clamp(0.0, 1.0);
        self
    }
    /// Seed of the message mix, targets and traps (default 1).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Concurrent sending tasks (default 64).
    pub fn senders(mut self, n: u32) -> Self {
        self.senders = n.max(1);
        self
    }
    /// Interval between random stop-and-restarts of a component (default
    /// 2 ms); `Duration::ZERO` disables them.
    pub fn restart_every(mut self, every: Duration) -> Self {
        self.restart_every = every;
        self
    }
    /// Allowed RSS growth over the run, as a fraction (default 0.05).
    pub fn rss_tolerance(mut self, fraction: f64) -> Self {
        self.rss_tolerance = fraction;
        self
    }
}

/// The ledger of a chaos run.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ChaosReport {
    /// Components at the start.
    pub components: u32,
    /// Messages attempted (both rounds; so are the counts below).
    pub attempted: u64,
    /// Messages the host accepted (the rest were refused at the sender, e.g.
    /// to a component stopped at that moment, and handed back); a publish
    /// counts once per subscription it matched.
    pub accepted: u64,
    /// Accepted messages handled without a reply being awaited (sends,
    /// topic messages, requests whose asker had given up).
    pub handled: u64,
    /// Requests answered with the guest's reply.
    pub replied: u64,
    /// Accepted messages dead-lettered (trapped, rejected, stopped with it
    /// queued, mailbox full on topic fan-out).
    pub dead_lettered: u64,
    /// Messages that were sent to trap (a trap is also dead-lettered).
    pub traps: u64,
    /// Random stop-and-restarts performed.
    pub restarts: u64,
    /// Supervisor restarts after traps.
    pub supervisor_restarts: u64,
    /// Resident set size before the measured round, bytes (after spawning,
    /// one request per component and the warm-up round).
    pub rss_before: u64,
    /// Resident set size after the run, bytes.
    pub rss_after: u64,
    /// Allowed RSS growth fraction.
    pub rss_tolerance: f64,
    /// Whether the host still answered a request after the run.
    pub host_alive: bool,
    /// Time sending and settling.
    pub elapsed: Duration,
}

impl ChaosReport {
    /// Accepted messages neither handled, replied nor dead-lettered: must be 0.
    pub fn unaccounted(&self) -> i64 {
        self.accepted as i64 - (self.handled + self.replied + self.dead_lettered) as i64
    }
    /// RSS growth over the run as a fraction of the level before.
    pub fn rss_growth(&self) -> f64 {
        if self.rss_before == 0 {
            return 0.0;
        }
        (self.rss_after as f64 - self.rss_before as f64) / self.rss_before as f64
    }
    /// `true` when nothing is unaccounted, the host is alive and RSS stayed
    /// within the tolerance.
    pub fn passed(&self) -> bool {
        self.unaccounted() == 0 && self.host_alive && self.rss_growth() <= self.rss_tolerance
    }
}

impl fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        writeln!(f, "components     {}", self.components)?;
        writeln!(f, "attempted      {}", self.attempted)?;
        writeln!(f, "accepted       {}", self.accepted)?;
        writeln!(f, "handled        {}", self.handled)?;
        writeln!(f, "replied        {}", self.replied)?;
        writeln!(f, "dead-lettered  {}", self.dead_lettered)?;
        writeln!(f, "unaccounted    {}", self.unaccounted())?;
        writeln!(f, "traps          {}", self.traps)?;
        writeln!(f, "stop+restarts  {}", self.restarts)?;
        writeln!(f, "sup. restarts  {}", self.supervisor_restarts)?;
        writeln!(
            f,
            "rss            {:.1} MiB before, {:.1} MiB after ({:+.2} %, allowed {:.0} %)",
            mib(self.rss_before),
            mib(self.rss_after),
            self.rss_growth() * 100.0,
            self.rss_tolerance * 100.0
        )?;
        writeln!(f, "host alive     {}", self.host_alive)?;
        write!(
            f,
            "elapsed        {:.1} s ({:.0} msg/s)",
            self.elapsed.as_secs_f64(),
            self.attempted as f64 / self.elapsed.as_secs_f64().max(1e-9)
        )
    }
}

/// Errors that stop a chaos run before its ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChaosError {
    /// The host or a component could not be set up.
    #[error("chaos setup: {0}")]
    Setup(#[from] HostError),
}

/// Resident set size of this process in bytes, from `/proc/self/statm`
/// (0 where that file does not exist).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

#[derive(Default)]
struct Ledger {
    attempted: AtomicU64,
    accepted: AtomicU64,
    replied: AtomicU64,
    traps: AtomicU64,
    /// Topic copies the broker could not queue (dead-lettered by the broker).
    broker_dropped: AtomicU64,
}

struct Shared {
    host: ComponentHost,
    /// The live incarnation of each component, by index, and the counters
    /// of the stopped ones folded in (a stopped incarnation's reference is
    /// dropped, as an operator's would be, so the run measures the host's
    /// memory, not the references it kept).
    incarnations: Mutex<Incarnations>,
    ledger: Ledger,
    limits: ComponentLimits,
}

/// Counters of a component's incarnations: handled and supervisor
/// restarts.
#[derive(Clone, Copy, Default)]
struct Counted {
    handled: u64,
    restarts: u64,
}

impl Counted {
    fn of(component: &ComponentRef) -> Self {
        let stats = component.stats();
        Self {
            handled: stats.handled,
            restarts: stats.restarts,
        }
    }

    fn add(self, other: Self) -> Self {
        Self {
            handled: self.handled + other.handled,
            restarts: self.restarts + other.restarts,
        }
    }
}

/// The live incarnation of each component and the folded counters of
/// those that were stopped.
struct Incarnations {
    live: Vec<ComponentRef>,
    retired: Counted,
}

impl Incarnations {
    /// Replaces component `i`'s stopped incarnation with `next`, keeping
    /// the stopped one's (final) counters.
    fn replace(&mut self, i: u32, next: ComponentRef) {
        if let Some(slot) = self.live.get_mut(i as usize) {
            let stopped = std::mem::replace(slot, next);
            self.retired = self.retired.add(Counted::of(&stopped));
        }
    }

    /// Counters over every incarnation, and the messages still queued.
    fn totals(&self) -> (Counted, u64) {
        self.live
            .iter()
            .fold((self.retired, 0), |(sum, queued), c| {
                (sum.add(Counted::of(c)), queued + c.mailbox_len() as u64)
            })
    }
}

fn name(i: u32) -> String {
    format!("c{i}")
}

fn component_spec(i: u32, limits: &ComponentLimits) -> ComponentSpec {
    ComponentSpec::new(name(i), GUEST.as_bytes().to_vec())
        .limits(limits.clone())
        .mailbox_capacity(256)
        .subscribe(format!("chaos.{}", name(i)))
}

/// Whether a failed send or request had been accepted: the host hands
/// the payload back when it was not.
fn was_accepted(error: HostError) -> bool {
    error.into_payload().is_none()
}

async fn drive(shared: Arc<Shared>, config: ChaosConfig, sender: u32, count: u64) {
    let mut rng = StdRng::seed_from_u64(config.seed.wrapping_mul(1_000_003) ^ u64::from(sender));
    let ledger = &shared.ledger;
    for n in 0..count {
        let target = rng.gen_range(0..config.components);
        let trap = rng.gen_bool(config.trap_rate);
        let payload = Bytes::from(if trap {
            format!("T{sender}.{n}")
        } else {
            format!("m{sender}.{n}")
        });
        let op = rng.gen_range(0..10u8);
        ledger.attempted.fetch_add(1, Ordering::Relaxed);
        // How many copies the host accepted: one for a send or a request;
        // for a publish, one per broker subscription it matched. Each
        // component is the only subscriber of its topic, so that is one,
        // or two while a restarted component's old subscription drains
        // beside its new one (the old copy is then dead-lettered
        // `actor_stopped`, the new one handled).
        let accepted: u64 = match op {
            0..=3 => match shared.host.send(&name(target), payload).await {
                Ok(()) => 1,
                Err(e) => u64::from(was_accepted(e)),
            },
            4..=7 => match shared
                .host
                .request(&name(target), payload.clone(), REQUEST_TIMEOUT)
                .await
            {
                Ok(reply) => {
                    if reply.as_ref() == Some(&payload) {
                        ledger.replied.fetch_add(1, Ordering::Relaxed);
                    }
                    1
                }
                Err(e) => u64::from(was_accepted(e)),
            },
            _ => match shared
                .host
                .publish(&format!("chaos.{}", name(target)), payload)
            {
                Ok(report) => {
                    ledger
                        .broker_dropped
                        .fetch_add(report.dropped as u64, Ordering::Relaxed);
                    report.matched as u64
                }
                Err(_) => 0,
            },
        };
        if accepted > 0 {
            ledger.accepted.fetch_add(accepted, Ordering::Relaxed);
            if trap {
                ledger.traps.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Stops a random component and spawns it again, until `done`.
async fn monkey(shared: Arc<Shared>, config: ChaosConfig, done: Arc<AtomicBool>) -> u64 {
    if config.restart_every.is_zero() {
        return 0;
    }
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5eed);
    let mut restarts = 0;
    while !done.load(Ordering::Acquire) {
        tokio::time::sleep(config.restart_every).await;
        let i = rng.gen_range(0..config.components);
        if shared.host.stop(&name(i)).await.is_err() {
            continue;
        }
        match shared.host.spawn(component_spec(i, &shared.limits)).await {
            Ok(component) => {
                shared.incarnations.lock().replace(i, component);
                restarts += 1;
            }
            Err(error) => tracing::warn!(component = %name(i), %error, "chaos respawn failed"),
        }
    }
    restarts
}

/// One round: `config.messages` from the senders while the monkey stops
/// and respawns components; returns the monkey's restarts. Round `round`
/// draws its own targets, traps and mix from the seed.
async fn storm(shared: &Arc<Shared>, config: &ChaosConfig, round: u64) -> u64 {
    let config = config
        .clone()
        .seed(config.seed ^ round.wrapping_mul(0x9e37_79b9));
    let done = Arc::new(AtomicBool::new(false));
    let monkey = tokio::spawn(monkey(shared.clone(), config.clone(), done.clone()));
    let per_sender = config.messages / u64::from(config.senders);
    let extra = config.messages % u64::from(config.senders);
    let drivers: Vec<_> = (0..config.senders)
        .map(|s| {
            let count = per_sender + u64::from(u64::from(s) < extra);
            tokio::spawn(drive(shared.clone(), config.clone(), s, count))
        })
        .collect();
    for d in drivers {
        if let Err(error) = d.await {
            tracing::error!(%error, "a chaos sender panicked");
        }
    }
    done.store(true, Ordering::Release);
    monkey.await.unwrap_or(0)
}

/// Messages dead-lettered so far, by the host and by the broker.
fn dead_lettered(shared: &Shared) -> u64 {
    shared.host.dead_letter_stats().total() + shared.ledger.broker_dropped.load(Ordering::Relaxed)
}

/// Waits until every accepted message is handled or dead-lettered, or
/// until the ledger has not moved for [`SETTLE_TIMEOUT`] (the report then
/// shows what is unaccounted). `warm_handled` are the warm-up requests,
/// not in the ledger.
async fn settle(shared: &Shared, warm_handled: u64) {
    let accepted = shared.ledger.accepted.load(Ordering::Relaxed);
    let mut deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut last = 0;
    loop {
        let (counted, queued) = shared.incarnations.lock().totals();
        let done = counted.handled - warm_handled + dead_lettered(shared);
        if done >= accepted && queued == 0 {
            return;
        }
        if done != last {
            last = done;
            deadline = Instant::now() + SETTLE_TIMEOUT;
        } else if Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs the chaos scenario and returns its ledger. Must be called inside a
/// multi-threaded tokio runtime.
///
/// # Errors
/// [`ChaosError::Setup`] when the host cannot be built or a component cannot
/// be spawned at the start.
pub async fn run(config: ChaosConfig) -> Result<ChaosReport, ChaosError> {
    let host = ComponentHost::builder()
        .engine(
            EngineConfig::default()
                .max_components(config.components + 16)
                .max_memory_per_component(1 << 20),
        )
        // Traps restart their component at once; the run is about
        // accounting, not about the root giving up.
        .intensity(u32::MAX, Duration::from_secs(1))
        .build()?;
    let limits = ComponentLimits::default().max_memory_bytes(1 << 20);
    let mut spawned = Vec::with_capacity(config.components as usize);
    for i in 0..config.components {
        spawned.push(host.spawn(component_spec(i, &limits)).await?);
    }
    // Warm-up: one request per component, so lazily built state exists
    // before the "before" RSS is read.
    for c in &spawned {
        let _ = c.request(&b"warm"[..], REQUEST_TIMEOUT).await;
    }
    let warm_handled: u64 = spawned.iter().map(|c| c.stats().handled).sum();
    let shared = Arc::new(Shared {
        host: host.clone(),
        incarnations: Mutex::new(Incarnations {
            live: spawned,
            retired: Counted::default(),
        }),
        ledger: Ledger::default(),
        limits,
    });
    let started = Instant::now();
    // Two rounds: the warm-up brings the allocator's caches, the queues
    // and the pool's slots to their working size; the second is measured.
    // A leak grows in both, warm-up only in the first.
    let warmup = config.clone().messages(config.warmup_messages);
    let mut restarts = storm(&shared, &warmup, 0).await;
    settle(&shared, warm_handled).await;
    let rss_before = rss_bytes();
    restarts += storm(&shared, &config, 1).await;
    settle(&shared, warm_handled).await;
    let elapsed = started.elapsed();
    let ledger = &shared.ledger;
    let accepted = ledger.accepted.load(Ordering::Relaxed);
    let dead = dead_lettered(&shared);
    let (counted, _) = shared.incarnations.lock().totals();
    let replied = ledger.replied.load(Ordering::Relaxed);
    let host_alive = matches!(
        host.request("c0", &b"alive?"[..], REQUEST_TIMEOUT).await,
        Ok(Some(ref r)) if &r[..] == b"alive?"
    );
    // The counters were read before the alive-check request, which is not
    // part of the ledger.
    let mut report = ChaosReport {
        components: config.components,
        attempted: ledger.attempted.load(Ordering::Relaxed),
        accepted,
        handled: (counted.handled - warm_handled).saturating_sub(replied),
        replied,
        dead_lettered: dead,
        traps: ledger.traps.load(Ordering::Relaxed),
        restarts,
        supervisor_restarts: counted.restarts,
        rss_before,
        rss_after: 0,
        rss_tolerance: config.rss_tolerance,
        host_alive,
        elapsed,
    };
    report.rss_after = rss_bytes();
    drop(shared);
    host.shutdown(Duration::from_secs(10)).await;
    Ok(report)
}
