//! The cluster scenarios of `airssys bench --nats <url> --scenario NAME`:
//! `airssys run --cluster` child processes of this same binary on a server
//! with JetStream, each beside the raw layer or bound it cannot beat.
//!
//! | scenario | airssys | raw baseline | unit |
//! |---|---|---|---|
//! | `failover` | 3 hosts, 6 components: `kill -9` of the host owning `w-0` until a request to `w-0` is answered again (the host is restarted and placement settles between kills); [`KILLS`] kills | a fresh process of this binary (`bench --respond-once`) until it answers on a subject: spawn, connect, subscribe, first reply | ms (p50/p99) |
//! | `heartbeat_cost` | CPU of one idle host owning [`OWNED`] components (fewer if `vm.max_map_count` cannot map them, then scaled), over a [`WINDOW`] | the same host owning 10 | cpu ms/s |
//! | `heartbeat_msgs` (with `heartbeat_cost`) | NATS messages the server carried meanwhile (a subscriber on `>`) | the same host owning 10 | idle msg/s |
//! | `replacement` | 8 hosts, [`REPLACED`] components: `kill -9` of the host owning most, until every one of its components answers elsewhere | the detection bound (`host_ttl`, 1.5 s) | ms |
//! | `claim_rate` (with `replacement`) | units the survivors claimed per second, first claim to last (owners bucket watched) | one plain client's sequential key-value creates | claim/s |
//! | `cluster_idle_msgs` (with `replacement`) | messages the server carried for 8 idle hosts | their heartbeats alone (writes to `<p>_hosts`) | idle msg/s |
//!
//! Each takes 30 s to a few minutes, so none runs unless named with
//! `--scenario`. Without JetStream on the server they are skipped, saying
//! why.

mod durable;
mod fleet;
mod traffic;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use airssys_nats::async_nats;
use airssys_nats::cluster::{OwnerRecord, UnitState, DEFAULT_HOST_TTL};
use bytes::Bytes;
use futures::StreamExt;

use super::{BenchError, Scenario};
use fleet::{instance, jetstream_enabled, nats_err, Fleet};
use traffic::{idle_window, MessageCounter};

/// The cluster scenarios, in run order; each runs only when named.
pub const CLUSTER_SCENARIOS: [&str; 4] =
    ["failover", "heartbeat_cost", "replacement", "durable_tell"];

/// Kills timed in `failover` (3 with `--quick`).
pub const KILLS: usize = 10;

/// Components the loaded host owns in `heartbeat_cost` (1,000 with
/// `--quick`).
pub const OWNED: usize = 10_000;

/// Components placed over 8 hosts in `replacement` (400 with `--quick`).
pub const REPLACED: usize = 2_000;

/// The idle window over which CPU and messages are counted.
pub const WINDOW: Duration = Duration::from_secs(10);

/// How long one failover or one re-placement may take.
const STALL: Duration = Duration::from_secs(120);

/// What a cluster scenario gave.
pub(super) enum Outcome {
    /// Its rows.
    Measured(Vec<Scenario>),
    /// It could not run here, and why.
    Skipped(String),
}

/// Runs cluster scenario `name` against the server at `url`.
pub(super) async fn run(
    name: &'static str,
    url: String,
    quick: bool,
) -> Result<Outcome, BenchError> {
    let client = async_nats::connect(&url).await.map_err(nats_err(name))?;
    if let Err(why) = jetstream_enabled(&client, name).await? {
        return Ok(Outcome::Skipped(why));
    }
    let rows = match name {
        "failover" => vec![failover(&url, if quick { 3 } else { KILLS }).await?],
        "heartbeat_cost" => heartbeat_cost(&url, if quick { 1_000 } else { OWNED }).await?,
        "replacement" => replacement(&url, if quick { 400 } else { REPLACED }).await?,
        "durable_tell" => {
            vec![durable::durable_tell(&url, if quick { 2_100 } else { 70_000 }).await?]
        }
        _ => Vec::new(),
    };
    Ok(Outcome::Measured(rows))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Asks component `id` until it answers; the time from `since`.
async fn until_answered(
    fleet: &Fleet,
    id: &str,
    since: Instant,
    scenario: &'static str,
) -> Result<Duration, BenchError> {
    let mut n = 0u64;
    loop {
        if fleet
            .ask(id, format!("m{n}"), Duration::from_millis(250))
            .await
        {
            return Ok(since.elapsed());
        }
        if since.elapsed() > STALL {
            return Err(BenchError::Stalled {
                scenario,
                timeout: STALL,
            });
        }
        n += 1;
        // "No responders" comes back at once: do not spin on it.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn failover(url: &str, kills: usize) -> Result<Scenario, BenchError> {
    const S: &str = "failover";
    const HOSTS: [&str; 3] = ["h1", "h2", "h3"];
    const INSTANCES: usize = 6;
    let target = instance(0);
    let mut fleet = Fleet::new(url, S, "f", INSTANCES, INSTANCES + 8).await?;
    for h in HOSTS {
        fleet.start(h)?;
    }
    for h in HOSTS {
        fleet.wait_ready(h).await?;
    }
    let mut ours = Vec::with_capacity(kills);
    for _ in 0..kills {
        let owners = fleet.settled(INSTANCES, &HOSTS, STALL).await?;
        let Some(victim) = owners.get(&format!("c.{target}")).map(|o| o.host.clone()) else {
            return Err(BenchError::Nats {
                scenario: S,
                reason: format!("{target} has no owner after placement settled"),
            });
        };
        until_answered(&fleet, &target, Instant::now(), S).await?;
        let killed = Instant::now();
        fleet.kill(&victim);
        ours.push(millis(until_answered(&fleet, &target, killed, S).await?));
        fleet.start(&victim)?;
        fleet.wait_ready(&victim).await?;
    }
    fleet.finish().await;
    let mut base = Vec::with_capacity(kills);
    for i in 0..kills {
        base.push(millis(fresh_process_answers(url, i).await?));
    }
    let mut row = Scenario::latency(
        S,
        &mut ours,
        "fresh process: spawn, connect, subscribe, reply",
        &mut base,
    );
    row.unit = "ms";
    Ok(row)
}

/// The failover baseline: this binary started as `bench --respond-once
/// <subject>`, timed from the spawn until it answered a request.
async fn fresh_process_answers(url: &str, i: usize) -> Result<Duration, BenchError> {
    const S: &str = "failover";
    let client = async_nats::connect(url).await.map_err(nats_err(S))?;
    let subject = format!("airssys-bench.bare.{}.{i}", std::process::id());
    let exe = std::env::current_exe().map_err(nats_err(S))?;
    let started = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args(["bench", "--nats", url, "--respond-once", &subject])
        .env("RUST_LOG", "off")
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(nats_err(S))?;
    let answered = loop {
        let asked = client.request(subject.clone(), Bytes::from_static(b"x"));
        if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(250), asked).await {
            break started.elapsed();
        }
        if started.elapsed() > STALL {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BenchError::Stalled {
                scenario: S,
                timeout: STALL,
            });
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let _ = child.wait();
    Ok(answered)
}

/// `airssys bench --respond-once <subject>`: connects, subscribes, answers
/// the first request with its payload and returns (the failover
/// baseline's fresh process).
///
/// # Errors
/// [`BenchError::Nats`] when the server cannot be reached;
/// [`BenchError::Stalled`] when no request came within two minutes.
pub async fn respond_once(url: &str, subject: &str) -> Result<(), BenchError> {
    const S: &str = "failover";
    let client = async_nats::connect(url).await.map_err(nats_err(S))?;
    let mut sub = client
        .subscribe(subject.to_owned())
        .await
        .map_err(nats_err(S))?;
    client.flush().await.map_err(nats_err(S))?;
    let Ok(Some(message)) = tokio::time::timeout(STALL, sub.next()).await else {
        return Err(BenchError::Stalled {
            scenario: S,
            timeout: STALL,
        });
    };
    if let Some(reply) = message.reply {
        client
            .publish(reply, message.payload)
            .await
            .map_err(nats_err(S))?;
    }
    client.flush().await.map_err(nats_err(S))
}

/// One idle host owning `instances` components: its CPU seconds per
/// second and the server's messages per second over [`WINDOW`].
async fn idle_host(url: &str, tag: &str, instances: usize) -> Result<(f64, f64), BenchError> {
    const S: &str = "heartbeat_cost";
    let mut fleet = Fleet::new(url, S, tag, instances, instances + 8).await?;
    fleet.start("h1")?;
    fleet.wait_ready("h1").await?;
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let running = fleet.host_record("h1").await?.map_or(0, |r| r.components);
        if running as usize >= instances {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Stalled {
                scenario: S,
                timeout: Duration::from_secs(900),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Past the claims' own writes and their watch deliveries.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counter = MessageCounter::start(url, fleet.prefix(), S).await?;
    let pid = fleet.pid("h1").unwrap_or_default();
    let (cpu, rates) = idle_window(&[pid], &counter, WINDOW, S).await?;
    drop(counter);
    fleet.finish().await;
    Ok((cpu, rates.all))
}

/// How many components one host's pool can map here, up to `wanted`.
fn mappable(wanted: usize) -> usize {
    let wanted_u32 = u32::try_from(wanted + 8).unwrap_or(u32::MAX);
    match airssys_wasm::max_map_count() {
        Some(limit) if limit < airssys_wasm::pool_mappings_needed(wanted_u32) => {
            let base = airssys_wasm::pool_mappings_needed(0);
            usize::try_from(limit.saturating_sub(base) / 2)
                .unwrap_or(wanted)
                .saturating_sub(64)
                .min(wanted)
        }
        _ => wanted,
    }
}

async fn heartbeat_cost(url: &str, wanted: usize) -> Result<Vec<Scenario>, BenchError> {
    const SMALL: usize = 10;
    let n = mappable(wanted).max(SMALL + 1);
    let (small_cpu, small_msgs) = idle_host(url, "s", SMALL).await?;
    let (big_cpu, big_msgs) = idle_host(url, "b", n).await?;
    // Per 10,000 components: what 10 cost, plus the growth from 10 to n
    // scaled to 10,000 (exactly the figure at n when n is 10,000).
    let per_10k =
        |small: f64, big: f64| small + (big - small) * (10_000 - SMALL) as f64 / (n - SMALL) as f64;
    let scaled = if n == 10_000 {
        String::new()
    } else {
        format!(", measured at {n} and scaled")
    };
    let cpu = Scenario::value(
        "heartbeat_cost",
        "cpu ms/s",
        n as u64,
        per_10k(small_cpu, big_cpu) * 1e3,
        &format!("same host owning 10{scaled}"),
        small_cpu * 1e3,
    );
    let msgs = Scenario::value(
        "heartbeat_msgs",
        "idle msg/s",
        n as u64,
        per_10k(small_msgs, big_msgs),
        &format!("same host owning 10{scaled}"),
        small_msgs,
    );
    Ok(vec![cpu, msgs])
}

async fn replacement(url: &str, instances: usize) -> Result<Vec<Scenario>, BenchError> {
    const S: &str = "replacement";
    let hosts: Vec<String> = (1..=8).map(|i| format!("r{i}")).collect();
    let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let mut fleet = Fleet::new(url, S, "r", instances, instances + 8).await?;
    for h in &names {
        fleet.start(h)?;
    }
    for h in &names {
        fleet.wait_ready(h).await?;
    }
    fleet
        .quiescent(
            instances,
            &names,
            Duration::from_secs(3),
            Duration::from_secs(900),
        )
        .await?;
    // A read of 2,000 keys may meet a busy server: once more before failing.
    let owners = match fleet.owners().await {
        Ok(owners) => owners,
        Err(_) => fleet.owners().await?,
    };
    let counter = MessageCounter::start(url, fleet.prefix(), S).await?;
    let pids: Vec<u32> = names.iter().filter_map(|h| fleet.pid(h)).collect();
    let (_, idle) = idle_window(&pids, &counter, WINDOW, S).await?;
    drop(counter);

    let mut per_host: HashMap<&str, usize> = HashMap::new();
    for o in owners.values() {
        *per_host.entry(o.host.as_str()).or_default() += 1;
    }
    let victim = per_host
        .iter()
        .max_by_key(|(h, n)| (**n, std::cmp::Reverse(**h)))
        .map(|(h, _)| (*h).to_owned())
        .unwrap_or_default();
    let moved: HashSet<String> = owners
        .iter()
        .filter(|(_, o)| o.host == victim)
        .map(|(k, _)| k.clone())
        .collect();
    let claims = watch_claims(&fleet, &victim, moved.clone()).await?;
    let killed = Instant::now();
    fleet.kill(&victim);
    let claimed = tokio::time::timeout(STALL, claims)
        .await
        .map_err(|_| BenchError::Stalled {
            scenario: S,
            timeout: STALL,
        })?
        .map_err(nats_err(S))?;
    for key in &moved {
        let id = key.strip_prefix("c.").unwrap_or(key);
        until_answered(&fleet, id, killed, S).await?;
    }
    let all_running = killed.elapsed();
    let (first, last) = (
        claimed.iter().min().copied().unwrap_or(killed),
        claimed.iter().max().copied().unwrap_or(killed),
    );
    let claim_rate = moved.len() as f64 / (last - first).as_secs_f64().max(1e-3);
    let raw_rate = raw_creates(&fleet, 500).await?;
    fleet.finish().await;
    Ok(vec![
        Scenario::value(
            S,
            "ms",
            moved.len() as u64,
            millis(all_running),
            &format!(
                "detection bound host_ttl; first claim at {:.0} ms",
                millis(first - killed)
            ),
            millis(DEFAULT_HOST_TTL),
        ),
        Scenario::value(
            "claim_rate",
            "claim/s",
            moved.len() as u64,
            claim_rate,
            "sequential key-value creates, one client",
            raw_rate,
        ),
        Scenario::value(
            "cluster_idle_msgs",
            "idle msg/s",
            WINDOW.as_secs(),
            idle.all,
            "8 hosts' heartbeats (<p>_hosts writes)",
            idle.heartbeats,
        ),
    ])
}

/// Watches the owners bucket: resolves with when each unit of `moved`
/// was first seen `Running` on a host other than `victim`.
async fn watch_claims(
    fleet: &Fleet,
    victim: &str,
    mut moved: HashSet<String>,
) -> Result<tokio::task::JoinHandle<Vec<Instant>>, BenchError> {
    const S: &str = "replacement";
    let kv = fleet.bucket(|b| b.owners).await?;
    let mut watch = kv.watch_all().await.map_err(nats_err(S))?;
    let victim = victim.to_owned();
    Ok(tokio::spawn(async move {
        let mut seen = Vec::with_capacity(moved.len());
        while !moved.is_empty() {
            let Some(Ok(entry)) = watch.next().await else {
                break;
            };
            let Ok(record) = serde_json::from_slice::<OwnerRecord>(&entry.value) else {
                continue;
            };
            if record.host != victim
                && record.state == UnitState::Running
                && moved.remove(&entry.key)
            {
                seen.push(Instant::now());
            }
        }
        seen
    }))
}

/// The claim rate's baseline: `n` sequential creates of fresh keys in a
/// scratch bucket (memory storage) by one plain client, per second.
async fn raw_creates(fleet: &Fleet, n: usize) -> Result<f64, BenchError> {
    const S: &str = "replacement";
    let js = async_nats::jetstream::new(fleet.client().clone());
    let bucket = format!("{}_scratch", fleet.prefix());
    // Made as the cluster makes its buckets (`airssys_nats::cluster`):
    // async-nats's `create_key_value` asks for account details that
    // nats-server 2.9 words differently.
    js.create_stream(async_nats::jetstream::stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: async_nats::jetstream::stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .map_err(nats_err(S))?;
    let kv = js.get_key_value(&bucket).await.map_err(nats_err(S))?;
    let t = Instant::now();
    for i in 0..n {
        kv.create(format!("k{i}"), Bytes::from_static(b"{}"))
            .await
            .map_err(nats_err(S))?;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let _ = js.delete_stream(format!("KV_{bucket}")).await;
    Ok(rate)
}
