//! A cluster of hosts on NATS JetStream: membership, ownership of units,
//! and the lease that fences a host that can no longer prove it owns them.
//!
//! No consensus of our own: JetStream's key-value buckets are the shared
//! state, with their compare-and-set on revisions and their expiry.
//!
//! - **Membership** (`<p>_hosts` bucket, entries expiring `host_ttl` after
//!   their last write): each host writes its [`HostRecord`] every
//!   `heartbeat`; a host whose record expired is dead to the others.
//! - **Ownership** (`<p>_owners` bucket, no expiry): one key per unit,
//!   naming the owning host and its session ([`OwnerRecord`]), written only
//!   by compare-and-set. A unit whose owner is not live is orphaned and may
//!   be claimed by anyone, once.
//! - **Fencing**: each confirmed heartbeat extends the host's [`Lease`] to
//!   `lease` after the write was sent; `lease < host_ttl`, so a host stops
//!   acting on its units before the others can see its record expire.
//!
//! `<p>` is the application prefix with `.` replaced by `_`. What runs a
//! unit, and which host should, is the caller's (see [`placement`]); this
//! module keeps the shared records and the views of them.

mod config;
pub mod durable;
mod follow;
pub mod membership;
pub mod ownership;
pub mod placement;
pub mod topics;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airssys_rt::Lease;
use async_nats::jetstream::{self, kv};
use async_nats::Client;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use config::{BucketNames, ClusterConfig, DEFAULT_HEARTBEAT, DEFAULT_HOST_TTL, DEFAULT_LEASE};
pub use membership::HostRecord;
pub use ownership::{Owned, OwnerRecord, UnitState};

use membership::{HostView, Seen};
use ownership::OwnerView;

/// Why the cluster could not be joined or a record not written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The timings cannot fence safely.
    #[error("invalid cluster timings: {0}")]
    Timings(String),
    /// JetStream is not enabled on the server, or the bucket could not be
    /// made or opened.
    #[error("cluster bucket `{bucket}`: {reason} (is JetStream enabled on the NATS server? nats-server -js)")]
    Bucket {
        /// The bucket.
        bucket: String,
        /// Why, in the server's or client's words.
        reason: String,
    },
    /// A bucket exists with other settings than this host's (another host
    /// of the application runs with other timings).
    #[error("cluster bucket `{bucket}` exists with {theirs:?} record life, this host asks for {ours:?}: every host of an application must use the same cluster timings")]
    Mismatch {
        /// The bucket.
        bucket: String,
        /// Its record life.
        theirs: Duration,
        /// This host's.
        ours: Duration,
    },
    /// The host's first heartbeat was not stored.
    #[error("host `{host}` could not announce itself: {reason}")]
    Announce {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// A record could not be written (transport or server error; not a
    /// lost compare-and-set, which is `Ok(None)`).
    #[error("cluster record `{key}` in `{bucket}`: {reason}")]
    Write {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

pub(crate) struct ClusterInner {
    pub(crate) config: ClusterConfig,
    pub(crate) names: BucketNames,
    pub(crate) hosts: kv::Store,
    pub(crate) owners: kv::Store,
    pub(crate) snapshots: kv::Store,
    pub(crate) me: RwLock<HostRecord>,
    /// The session the owner of this host has accepted (stopped what ran
    /// under any earlier one): the lease is renewed only under it.
    pub(crate) accepted_session: RwLock<String>,
    /// The session the lease was last renewed under. A lapse ends that
    /// session; a newer one that has not held the lease yet has nothing
    /// to lapse (it is waiting to be accepted and renewed).
    pub(crate) leased_session: RwLock<String>,
    pub(crate) lease: Lease,
    pub(crate) view: RwLock<HostView>,
    pub(crate) owners_view: RwLock<OwnerView>,
    pub(crate) changed: Notify,
    pub(crate) renewals: AtomicU64,
    left: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl ClusterInner {
    pub(crate) fn leaving_done(&self) -> bool {
        self.left.load(Ordering::Acquire)
    }

    /// Records `record` in the view; `true` when it says something new (a
    /// host joined, or its record changed beyond a heartbeat's rewrite).
    pub(crate) fn note_host(&self, record: HostRecord, revision: u64) -> bool {
        let mut view = self.view.write();
        if view.get(&record.id).is_some_and(|s| s.revision > revision) {
            return false;
        }
        let news = match view.get(&record.id) {
            None => {
                tracing::info!(host = %record.id, session = %record.session, "host joined the cluster");
                true
            }
            Some(seen) => seen.record != record,
        };
        view.insert(
            record.id.clone(),
            Seen {
                record,
                revision,
                at: std::time::Instant::now(),
            },
        );
        news
    }
}

/// This host's membership of a cluster. Cheap to clone.
///
/// Made by [`Cluster::join`]; ends with [`Cluster::leave`] (or when
/// dropped everywhere, without deleting the record, which then expires).
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<ClusterInner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("host", &self.inner.me.read().id)
            .field("buckets", &self.inner.names)
            .finish_non_exhaustive()
    }
}

async fn open_bucket(
    js: &jetstream::Context,
    bucket: &str,
    max_age: Duration,
    memory: bool,
) -> Result<kv::Store, ClusterError> {
    let failed = |reason: String| ClusterError::Bucket {
        bucket: bucket.to_owned(),
        reason,
    };
    if let Ok(mut stream) = js.get_stream(format!("KV_{bucket}")).await {
        let info = stream.info().await.map_err(|e| failed(e.to_string()))?;
        let theirs = membership::bucket_ttl(&info.config).unwrap_or_default();
        if theirs != max_age {
            return Err(ClusterError::Mismatch {
                bucket: bucket.to_owned(),
                theirs,
                ours: max_age,
            });
        }
        return js
            .get_key_value(bucket)
            .await
            .map_err(|e| failed(e.to_string()));
    }
    // The bucket's stream, made as async-nats's `create_key_value` makes
    // it, without its account query (whose answer nats-server 2.9 words
    // differently from what async-nats 0.51 reads).
    let config = jetstream::stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age,
        // Duplicates are never looked for: no publish of ours carries an id.
        duplicate_window: if max_age.is_zero() {
            Duration::from_secs(120)
        } else {
            max_age.min(Duration::from_secs(120))
        },
        storage: if memory {
            jetstream::stream::StorageType::Memory
        } else {
            jetstream::stream::StorageType::File
        },
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: jetstream::stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    };
    match js.create_stream(config).await {
        Ok(_) => {}
        // Another host may have made it meanwhile: opening it says.
        Err(error) => tracing::debug!(bucket, %error, "bucket not made here"),
    }
    js.get_key_value(bucket)
        .await
        .map_err(|e| failed(e.to_string()))
}

impl Cluster {
    /// Joins the cluster of application `prefix` on `client`'s server:
    /// opens (or makes) the buckets, stores this host's first heartbeat,
    /// and starts the heartbeat and the watches of hosts and owners. The
    /// lease holds from the first confirmed heartbeat.
    ///
    /// # Errors
    /// [`ClusterError::Timings`], [`ClusterError::Bucket`] (JetStream off,
    /// or not permitted), [`ClusterError::Mismatch`],
    /// [`ClusterError::Announce`].
    pub async fn join(
        client: Client,
        prefix: &str,
        mut config: ClusterConfig,
    ) -> Result<Cluster, ClusterError> {
        config.check()?;
        let js = jetstream::new(client);
        let names = BucketNames::for_prefix(prefix);
        let hosts = open_bucket(&js, &names.hosts, config.host_ttl, config.memory_storage).await?;
        let owners = open_bucket(&js, &names.owners, Duration::ZERO, config.memory_storage).await?;
        let snapshots =
            open_bucket(&js, &names.snapshots, Duration::ZERO, config.memory_storage).await?;
        config.host.session = membership::new_session();
        let me = config.host.clone();
        let lease = Lease::new();
        lease.end();
        let inner = Arc::new(ClusterInner {
            names,
            hosts,
            owners,
            snapshots,
            accepted_session: RwLock::new(me.session.clone()),
            leased_session: RwLock::new(me.session.clone()),
            me: RwLock::new(me.clone()),
            lease,
            view: RwLock::default(),
            owners_view: RwLock::default(),
            changed: Notify::new(),
            renewals: AtomicU64::new(0),
            left: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            config,
        });
        // The first heartbeat, here, so that a host that cannot write its
        // record does not start.
        let value = serde_json::to_vec(&me).map_err(|e| ClusterError::Announce {
            host: me.id.clone(),
            reason: e.to_string(),
        })?;
        let sent = std::time::Instant::now();
        let revision =
            inner
                .hosts
                .put(&me.id, value.into())
                .await
                .map_err(|e| ClusterError::Announce {
                    host: me.id.clone(),
                    reason: e.to_string(),
                })?;
        inner.lease.renew_until(sent + inner.config.lease);
        inner.note_host(me, revision);
        // Every host already there, before anything is placed: a unit
        // whose owner is not in the view looks orphaned.
        // Each watch goes on from where its read ended: no write falls
        // between them.
        let hosts_watch = load_hosts(&inner).await?;
        // Everything already in the owners bucket, before anything is placed.
        let owners_watch = load_owners(&inner).await?;
        let tasks = vec![
            tokio::spawn(membership::heartbeat(Arc::clone(&inner))),
            tokio::spawn(membership::watch_hosts(Arc::clone(&inner), hosts_watch)),
            tokio::spawn(membership::sweep(Arc::clone(&inner))),
            tokio::spawn(ownership::watch_owners(Arc::clone(&inner), owners_watch)),
        ];
        *inner.tasks.lock() = tasks;
        Ok(Cluster { inner })
    }

    /// This host's record as it is announced now.
    pub fn me(&self) -> HostRecord {
        self.inner.me.read().clone()
    }

    /// The settings it joined with.
    pub fn config(&self) -> &ClusterConfig {
        &self.inner.config
    }

    /// The bucket names.
    pub fn buckets(&self) -> &BucketNames {
        &self.inner.names
    }

    /// The lease this host acts under: give it to whatever must not act
    /// without ownership (the component host checks it per message).
    pub fn lease(&self) -> Lease {
        self.inner.lease.clone()
    }

    /// Heartbeats confirmed since joining (for measuring their cost).
    pub fn renewals(&self) -> u64 {
        self.inner.renewals.load(Ordering::Relaxed)
    }

    /// The session the owner of this host accepted.
    pub fn accepted_session(&self) -> String {
        self.inner.accepted_session.read().clone()
    }

    /// Accepts the current session: the caller has stopped everything it
    /// ran under an earlier one. The lease is renewed again from the next
    /// heartbeat.
    pub fn accept_session(&self) {
        let session = self.inner.me.read().session.clone();
        *self.inner.accepted_session.write() = session;
    }

    /// Updates this host's record (component count, leaving); written with
    /// the next heartbeat.
    pub fn update_me(&self, change: impl FnOnce(&mut HostRecord)) {
        change(&mut self.inner.me.write());
    }

    /// Writes this host's record now, instead of at the next heartbeat, so
    /// the others learn at once of a change (it is leaving, it is ready).
    /// Does not renew the lease.
    ///
    /// # Errors
    /// [`ClusterError::Write`].
    pub async fn announce(&self) -> Result<(), ClusterError> {
        let record = self.inner.me.read().clone();
        let failed = |reason: String| ClusterError::Write {
            bucket: self.inner.names.hosts.clone(),
            key: record.id.clone(),
            reason,
        };
        let value = serde_json::to_vec(&record).map_err(|e| failed(e.to_string()))?;
        let revision = self
            .inner
            .hosts
            .put(&record.id, value.into())
            .await
            .map_err(|e| failed(e.to_string()))?;
        self.inner.note_host(record, revision);
        Ok(())
    }

    /// The live hosts (records not expired), sorted by id; this one
    /// included while its record is live.
    pub fn live_hosts(&self) -> Vec<HostRecord> {
        let mut hosts: Vec<HostRecord> = self
            .inner
            .view
            .read()
            .values()
            .map(|s| s.record.clone())
            .collect();
        hosts.sort_by(|a, b| a.id.cmp(&b.id));
        hosts
    }

    /// Whether host `id` is live in session `session`.
    pub fn is_live(&self, id: &str, session: &str) -> bool {
        self.inner
            .view
            .read()
            .get(id)
            .is_some_and(|s| s.record.session == session)
    }

    /// Whether host `id`'s record in session `session` is gone, asked of
    /// the server (not of this host's view, which may lag behind a host
    /// that just joined): what a host checks before it takes over a unit
    /// from an owner it does not see.
    ///
    /// # Errors
    /// [`ClusterError::Write`] when the server could not be asked.
    pub async fn confirm_dead(&self, id: &str, session: &str) -> Result<bool, ClusterError> {
        let entry =
            self.inner
                .hosts
                .entry(id.to_owned())
                .await
                .map_err(|e| ClusterError::Write {
                    bucket: self.inner.names.hosts.clone(),
                    key: id.to_owned(),
                    reason: e.to_string(),
                })?;
        Ok(match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                match serde_json::from_slice::<HostRecord>(&e.value) {
                    Ok(record) => {
                        let alive = record.session == session;
                        self.inner.note_host(record, e.revision);
                        !alive
                    }
                    Err(_) => true,
                }
            }
            _ => true,
        })
    }

    /// Every unit's owner record, as last seen.
    pub fn owners(&self) -> Vec<(String, Owned)> {
        let mut owners: Vec<(String, Owned)> = self
            .inner
            .owners_view
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        owners.sort_by(|a, b| a.0.cmp(&b.0));
        owners
    }

    /// Unit `unit`'s owner record, as last seen.
    pub fn owner(&self, unit: &str) -> Option<Owned> {
        self.inner.owners_view.read().get(unit).cloned()
    }

    /// Waits until something in the views changed (a host joined, left or
    /// beat; an owner record changed) or `within` passed.
    pub async fn changed(&self, within: Duration) {
        let _ = tokio::time::timeout(within, self.inner.changed.notified()).await;
    }

    /// Writes `record` as unit `unit`'s owner, if its key is still at
    /// `expected` (`None`: the key has no value). `Ok(Some(revision))` when
    /// written; `Ok(None)` when another write came first (nothing changed).
    ///
    /// # Errors
    /// [`ClusterError::Write`] when the server could not be asked.
    pub async fn write_owner(
        &self,
        unit: &str,
        expected: Option<u64>,
        record: &OwnerRecord,
    ) -> Result<Option<u64>, ClusterError> {
        let failed = |reason: String| ClusterError::Write {
            bucket: self.inner.names.owners.clone(),
            key: unit.to_owned(),
            reason,
        };
        let value: bytes::Bytes = serde_json::to_vec(record)
            .map_err(|e| failed(e.to_string()))?
            .into();
        let written = match expected {
            None => match self.inner.owners.create(unit, value).await {
                Ok(revision) => Some(revision),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => None,
                Err(e) => return Err(failed(e.to_string())),
            },
            Some(revision) => match self.inner.owners.update(unit, value, revision).await {
                Ok(revision) => Some(revision),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => None,
                Err(e) => return Err(failed(e.to_string())),
            },
        };
        match written {
            Some(revision) => {
                self.inner.owners_view.write().insert(
                    unit.to_owned(),
                    Owned {
                        record: record.clone(),
                        revision,
                    },
                );
            }
            // Another write came first: read it now rather than wait for
            // the watch, so this host does not try again on a stale view.
            None => match self.inner.owners.entry(unit).await {
                Ok(Some(entry)) => ownership::apply(&self.inner, &entry),
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(%unit, %error, "could not read the record that won");
                }
            },
        }
        Ok(written)
    }

    /// Deletes unit `unit`'s owner record if it is still at `expected`
    /// (after a graceful stop: nobody owns it, the next host may claim it
    /// at once). `Ok(false)` when another write came first.
    ///
    /// # Errors
    /// [`ClusterError::Write`].
    pub async fn release(&self, unit: &str, expected: u64) -> Result<bool, ClusterError> {
        match self
            .inner
            .owners
            .delete_expect_revision(unit, Some(expected))
            .await
        {
            Ok(()) => {
                self.inner.owners_view.write().remove(unit);
                Ok(true)
            }
            Err(e) if e.to_string().contains("wrong last sequence") => Ok(false),
            Err(e) => Err(ClusterError::Write {
                bucket: self.inner.names.owners.clone(),
                key: unit.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    /// Stores `state` as unit `unit`'s snapshot.
    ///
    /// # Errors
    /// [`ClusterError::Write`].
    pub async fn put_snapshot(&self, unit: &str, state: bytes::Bytes) -> Result<(), ClusterError> {
        self.inner
            .snapshots
            .put(unit, state)
            .await
            .map(|_| ())
            .map_err(|e| ClusterError::Write {
                bucket: self.inner.names.snapshots.clone(),
                key: unit.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Unit `unit`'s last snapshot, if any.
    ///
    /// # Errors
    /// [`ClusterError::Write`] when the server could not be asked.
    pub async fn snapshot(&self, unit: &str) -> Result<Option<bytes::Bytes>, ClusterError> {
        self.inner
            .snapshots
            .get(unit)
            .await
            .map_err(|e| ClusterError::Write {
                bucket: self.inner.names.snapshots.clone(),
                key: unit.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Leaves: stops the heartbeat and deletes this host's record, so the
    /// others see it gone at once. Call it after the units were handed
    /// over or released.
    pub async fn leave(&self) {
        self.inner.left.store(true, Ordering::Release);
        for task in self.inner.tasks.lock().drain(..) {
            task.abort();
        }
        let id = self.inner.me.read().id.clone();
        if let Err(error) = self.inner.hosts.delete(&id).await {
            tracing::warn!(host = %id, %error, "could not delete this host's record; it expires instead");
        }
        self.inner.lease.end();
    }
}

/// Reads the whole hosts bucket into the view; returns the watch that
/// follows it from there.
pub(crate) async fn load_hosts(inner: &ClusterInner) -> Result<kv::Watch, ClusterError> {
    follow::follow(&inner.hosts, &inner.names.hosts, |entry| {
        membership::apply_host(inner, entry);
    })
    .await
}

/// Reads the whole owners bucket into the view; returns the watch that
/// follows it from there.
pub(crate) async fn load_owners(inner: &ClusterInner) -> Result<kv::Watch, ClusterError> {
    follow::follow(&inner.owners, &inner.names.owners, |entry| {
        ownership::apply(inner, entry)
    })
    .await
}
