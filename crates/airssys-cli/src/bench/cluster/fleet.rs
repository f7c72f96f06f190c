//! A fleet of `airssys run --cluster` child processes of this same binary,
//! on one generated manifest in a directory of their own, and the plain
//! NATS client the cluster scenarios watch and ask them with.
//!
//! Every host's log goes to `<dir>/<id>.log`; the directory, the children
//! and the application's buckets go when the fleet is finished (or, without
//! the buckets, when it is dropped).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use airssys_nats::async_nats::{self, jetstream};
use airssys_nats::cluster::{BucketNames, HostRecord, OwnerRecord, UnitState};
use bytes::Bytes;
use futures::TryStreamExt;

use crate::bench::{BenchError, ECHO};

/// How long a host may take to say `ready:`.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The component every host runs: [`ECHO`] (answers with its payload).
pub(super) const COMPONENT: &str = "w";

/// Instance `i`'s component id.
pub(super) fn instance(i: usize) -> String {
    format!("{COMPONENT}-{i}")
}

/// Child host processes of one application (one prefix, one manifest).
pub(super) struct Fleet {
    scenario: &'static str,
    dir: PathBuf,
    url: String,
    prefix: String,
    manifest: PathBuf,
    hosts: BTreeMap<String, Child>,
    client: async_nats::Client,
    js: jetstream::Context,
}

pub(super) fn nats_err<E: std::fmt::Display>(scenario: &'static str) -> impl Fn(E) -> BenchError {
    move |e| BenchError::Nats {
        scenario,
        reason: e.to_string(),
    }
}

fn io_err<'a>(
    scenario: &'static str,
    what: &'a Path,
) -> impl Fn(std::io::Error) -> BenchError + 'a {
    move |e| BenchError::Wasm {
        scenario,
        reason: format!("{}: {e}", what.display()),
    }
}

impl Fleet {
    /// A directory and a manifest of `instances` instances of [`ECHO`]
    /// under an application prefix unique to this run (`tag` tells runs of
    /// one process apart), each host taking at most `capacity` of them; no
    /// host started yet.
    pub(super) async fn new(
        url: &str,
        scenario: &'static str,
        tag: &str,
        instances: usize,
        capacity: usize,
    ) -> Result<Self, BenchError> {
        let prefix = format!("bench{tag}{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("airssys-{prefix}"));
        std::fs::create_dir_all(&dir).map_err(io_err(scenario, &dir))?;
        let wat = dir.join("echo.wat");
        std::fs::write(&wat, ECHO).map_err(io_err(scenario, &wat))?;
        let manifest = dir.join("app.toml");
        std::fs::write(
            &manifest,
            format!(
                r#"[host]
max_components = {capacity}
shutdown_timeout = "2s"

[broker]
prefix = "{prefix}"

[cluster]

[[component]]
name = "{COMPONENT}"
path = "echo.wat"
instances = {instances}
"#,
            ),
        )
        .map_err(io_err(scenario, &manifest))?;
        let client = async_nats::connect(url).await.map_err(nats_err(scenario))?;
        let js = jetstream::new(client.clone());
        Ok(Self {
            scenario,
            dir,
            url: url.to_owned(),
            prefix,
            manifest,
            hosts: BTreeMap::new(),
            client,
            js,
        })
    }

    /// The application prefix (component subjects are
    /// `<prefix>.component.<id>`).
    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The fleet's own client.
    pub(super) fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Starts host `id` (`airssys run <manifest> --cluster --host-id id`);
    /// does not wait for it (see [`wait_ready`](Self::wait_ready)).
    pub(super) fn start(&mut self, id: &str) -> Result<(), BenchError> {
        let exe = std::env::current_exe().map_err(|e| BenchError::Wasm {
            scenario: self.scenario,
            reason: format!("cannot find this binary to start hosts: {e}"),
        })?;
        let log_path = self.log(id);
        // Truncated: `wait_ready` looks for this start's `ready:` line.
        let log = std::fs::File::create(&log_path).map_err(io_err(self.scenario, &log_path))?;
        let child = Command::new(exe)
            .arg("run")
            .arg(&self.manifest)
            .args(["--nats", &self.url, "--host-id", id, "--cluster", "--quiet"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| BenchError::Wasm {
                scenario: self.scenario,
                reason: format!("cannot start host {id}: {e}"),
            })?;
        self.hosts.insert(id.to_owned(), child);
        Ok(())
    }

    fn log(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.log"))
    }

    /// Waits until host `id` printed `ready:` (joined, agent started).
    ///
    /// # Errors
    /// [`BenchError::Stalled`] after [`READY_WITHIN`], or when the host
    /// exited (its log's end is in the error).
    pub(super) async fn wait_ready(&mut self, id: &str) -> Result<(), BenchError> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let log = std::fs::read_to_string(self.log(id)).unwrap_or_default();
            if log.contains("ready: ") {
                return Ok(());
            }
            let exited = self
                .hosts
                .get_mut(id)
                .map(|c| c.try_wait().ok().flatten().is_some())
                .unwrap_or(true);
            if exited {
                let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                return Err(BenchError::Nats {
                    scenario: self.scenario,
                    reason: format!("host {id} exited before it was ready: {tail}"),
                });
            }
            if Instant::now() > deadline {
                return Err(BenchError::Stalled {
                    scenario: self.scenario,
                    timeout: READY_WITHIN,
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Host `id`'s process id, while it runs.
    pub(super) fn pid(&self, id: &str) -> Option<u32> {
        self.hosts.get(id).map(Child::id)
    }

    /// Kills host `id` with `SIGKILL` (`kill -9`) and reaps it.
    pub(super) fn kill(&mut self, id: &str) {
        if let Some(mut child) = self.hosts.remove(id) {
            // Already exited is fine: it is gone either way.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every owner record, by unit key, from the server (one read per key).
    pub(super) async fn owners(&self) -> Result<HashMap<String, OwnerRecord>, BenchError> {
        let kv = self.bucket(|b| b.owners).await?;
        let keys: Vec<String> = kv
            .keys()
            .await
            .map_err(nats_err(self.scenario))?
            .try_collect()
            .await
            .map_err(nats_err(self.scenario))?;
        let mut out = HashMap::with_capacity(keys.len());
        for key in keys {
            if let Some(v) = kv.get(&key).await.map_err(nats_err(self.scenario))? {
                if let Ok(record) = serde_json::from_slice(&v) {
                    out.insert(key, record);
                }
            }
        }
        Ok(out)
    }

    /// Host `id`'s live record, from the server.
    pub(super) async fn host_record(&self, id: &str) -> Result<Option<HostRecord>, BenchError> {
        let kv = self.bucket(|b| b.hosts).await?;
        let value = kv.get(id).await.map_err(nats_err(self.scenario))?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// The owners or hosts bucket.
    pub(super) async fn bucket(
        &self,
        which: fn(BucketNames) -> String,
    ) -> Result<jetstream::kv::Store, BenchError> {
        self.js
            .get_key_value(which(BucketNames::for_prefix(&self.prefix)))
            .await
            .map_err(nats_err(self.scenario))
    }

    /// Waits until the hosts in `hosts` say they run `instances`
    /// components together and no owner record was written for `quiet`:
    /// placement has stopped moving (cheap: one stream query and a read
    /// per host each time). Read errors of a busy server are retried.
    pub(super) async fn quiescent(
        &self,
        instances: usize,
        hosts: &[&str],
        quiet: Duration,
        within: Duration,
    ) -> Result<(), BenchError> {
        let deadline = Instant::now() + within;
        let stream = format!("KV_{}", BucketNames::for_prefix(&self.prefix).owners);
        let mut last: Option<(u64, Instant)> = None;
        loop {
            if Instant::now() > deadline {
                return Err(BenchError::Stalled {
                    scenario: self.scenario,
                    timeout: within,
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            let Ok(mut owners) = self.js.get_stream(&stream).await else {
                continue;
            };
            let Ok(info) = owners.info().await else {
                continue;
            };
            let seq = info.state.last_sequence;
            let mut running = 0usize;
            for h in hosts {
                if let Ok(Some(r)) = self.host_record(h).await {
                    running += r.components as usize;
                }
            }
            match last {
                Some((s, since)) if s == seq => {
                    if running == instances && since.elapsed() >= quiet {
                        return Ok(());
                    }
                }
                _ => last = Some((seq, Instant::now())),
            }
        }
    }

    /// Waits until every one of `instances` units is `Running` on one of
    /// `hosts`, and the owners stayed the same over three reads 200 ms
    /// apart (hosts that just joined have taken their share back).
    pub(super) async fn settled(
        &self,
        instances: usize,
        hosts: &[&str],
        within: Duration,
    ) -> Result<HashMap<String, OwnerRecord>, BenchError> {
        let deadline = Instant::now() + within;
        let mut last: Option<HashMap<String, String>> = None;
        let mut same = 0;
        loop {
            let owners = self.owners().await?;
            let placed: HashMap<String, String> = owners
                .iter()
                .filter(|(_, o)| o.state == UnitState::Running && hosts.contains(&o.host.as_str()))
                .map(|(k, o)| (k.clone(), o.host.clone()))
                .collect();
            if placed.len() == instances {
                same = if last.as_ref() == Some(&placed) {
                    same + 1
                } else {
                    0
                };
                if same == 2 {
                    return Ok(owners);
                }
            }
            last = Some(placed);
            if Instant::now() > deadline {
                return Err(BenchError::Stalled {
                    scenario: self.scenario,
                    timeout: within,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A request to component `id` from the fleet's client: `true` when
    /// it answered with the payload within `timeout`.
    pub(super) async fn ask(&self, id: &str, payload: String, timeout: Duration) -> bool {
        let subject = format!("{}.component.{id}", self.prefix);
        let asked = self.client.request(subject, Bytes::from(payload.clone()));
        matches!(
            tokio::time::timeout(timeout, asked).await,
            Ok(Ok(reply)) if reply.payload.as_ref() == payload.as_bytes()
        )
    }

    /// Kills every host, deletes the application's buckets and the
    /// directory.
    pub(super) async fn finish(mut self) {
        let ids: Vec<String> = self.hosts.keys().cloned().collect();
        for id in ids {
            self.kill(&id);
        }
        let names = BucketNames::for_prefix(&self.prefix);
        for bucket in [names.hosts, names.owners, names.snapshots] {
            if let Err(error) = self.js.delete_stream(format!("KV_{bucket}")).await {
                tracing::warn!(bucket, %error, "bench: could not delete the bucket");
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in self.hosts.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the server at `client` has JetStream for this account: `Err`
/// with the reason when it has not.
pub(super) async fn jetstream_enabled(
    client: &async_nats::Client,
    scenario: &'static str,
) -> Result<Result<(), String>, BenchError> {
    let asked = client.request("$JS.API.INFO", Bytes::new());
    match tokio::time::timeout(Duration::from_secs(5), asked).await {
        Ok(Ok(reply)) => {
            let info: serde_json::Value =
                serde_json::from_slice(&reply.payload).unwrap_or_default();
            Ok(match info.get("error") {
                Some(e) => Err(format!("JetStream refused: {e}")),
                None => Ok(()),
            })
        }
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => Ok(Err(
            "the NATS server has no JetStream (start it with -js or a `jetstream {}` block)".into(),
        )),
        Ok(Err(e)) => Err(nats_err(scenario)(e)),
        Err(_) => Err(BenchError::Stalled {
            scenario,
            timeout: Duration::from_secs(5),
        }),
    }
}

/// CPU time process `pid` used so far (user + system, all threads), from
/// `/proc/<pid>/stat`; `None` when it cannot be read (not Linux, gone).
pub(super) fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after
    // the name, in USER_HZ ticks: 100 a second on Linux.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}
