//! The cluster agent: one task per host that makes what this host runs
//! match what the owners bucket says it owns.
//!
//! On every change of the shared records (and at least once a heartbeat)
//! it walks the manifest's units:
//!
//! - a unit this host owns (its id and current session) and does not run
//!   is started; one it runs but no longer owns is stopped;
//! - an orphaned unit (no owner, a released one, or an owner whose host
//!   record expired) is claimed with a compare-and-set by the first live
//!   host of its ranking ([`placement::rank`]); the next in rank claims it
//!   if it is still orphaned two heartbeats later, and so on;
//! - a unit that runs here while another live host ranks first for it is
//!   handed over to that host (one at a time), so hosts that join take
//!   their share;
//! - when the lease stops holding, everything stops at once (fencing).
//!
//! A unit whose supervisor gives up here (its restart intensity exceeded)
//! is released with its failure count; after `[cluster] intensity` such
//! failures within the window it is marked failed and runs nowhere.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airssys_nats::cluster::durable::DurableStore;
use airssys_nats::cluster::{placement, Cluster, HostRecord, Owned, OwnerRecord, UnitState};
use airssys_nats::NatsBroker;

use airssys_rt::supervisor::{SupervisionEvent, SupervisorRef};
use airssys_wasm::host::{ComponentHost, ComponentInfo};
use airssys_wasm::TopicMessage;
use parking_lot::Mutex;
use tokio::sync::{broadcast, mpsc, oneshot};

mod lifecycle;

use super::durable::Pump;
use super::hold::Hold;
use super::peer::{self, Incoming, PeerComponent, PeerReply, PeerRequest};
use super::units::Unit;
use crate::manifest::{ClusterSettings, Manifest};

/// A unit running here.
pub(crate) struct Running {
    /// The session it was claimed under.
    pub(crate) session: String,
    /// Its supervisor.
    pub(crate) supervisor: SupervisorRef,
}

/// What the agent is asked from outside its loop.
pub(crate) enum Command {
    /// Hand everything over and stop; answered when done.
    Leave(oneshot::Sender<LeaveReport>),
    /// A request from another host.
    Peer(Incoming),
}

/// What a graceful leave did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LeaveReport {
    /// Units handed over to another host.
    pub handed_over: usize,
    /// Units stopped and released (no other host could take them).
    pub released: usize,
    /// The last counts of every component that ran here and stopped or
    /// moved away during the run, oldest first (for the summary).
    pub retired: Vec<ComponentInfo>,
}

/// Where each unit runs, for the control API and `/health`.
#[derive(Debug, Default, Clone)]
pub struct Placement {
    /// Unit key → owner record, as this host sees it (read when asked).
    pub owners: Vec<(String, Owned)>,
    /// The live hosts (read when asked).
    pub hosts: Vec<HostRecord>,
    /// Units running here.
    pub running: Vec<String>,
    /// Whether this host holds its lease now.
    pub lease_holds: bool,
}

pub(crate) struct Agent {
    pub(crate) cluster: Cluster,
    pub(crate) host: ComponentHost,
    pub(crate) broker: NatsBroker<TopicMessage>,
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) units: Vec<Unit>,
    pub(crate) settings: ClusterSettings,
    pub(crate) running: HashMap<String, Running>,
    /// Since when each orphaned unit has been seen orphaned.
    orphaned_since: HashMap<String, Instant>,
    /// Host sessions the server confirmed gone (a session never comes
    /// back: a host that rejoins has a new one).
    confirmed_dead: std::collections::HashSet<(String, String)>,
    /// Units whose supervisor gave up here, with why.
    failed_here: Arc<Mutex<HashMap<String, String>>>,
    pub(crate) holds: HashMap<String, Hold>,
    leaving: bool,
    pub(crate) placement: Arc<Mutex<Placement>>,
    /// `running` changed since the placement was last shared.
    pub(crate) running_changed: bool,
    /// The last counts of components that stopped or moved away from
    /// here, for the run's summary.
    pub(crate) retired: Arc<Mutex<Vec<ComponentInfo>>>,
    /// The durable mailboxes, when some component is durable.
    durable: Option<DurableStore>,
    /// The pump of each durable component running here.
    pumps: HashMap<String, Pump>,
    /// The snapshot task of each component running here whose state the
    /// cluster keeps.
    snapshots: HashMap<String, tokio::task::JoinHandle<()>>,
}

impl Agent {
    pub(crate) fn new(
        cluster: Cluster,
        host: ComponentHost,
        broker: NatsBroker<TopicMessage>,
        manifest: Arc<Manifest>,
        units: Vec<Unit>,
        settings: ClusterSettings,
        durable: Option<DurableStore>,
    ) -> Self {
        Self {
            cluster,
            host,
            broker,
            manifest,
            units,
            settings,
            running: HashMap::new(),
            orphaned_since: HashMap::new(),
            confirmed_dead: std::collections::HashSet::new(),
            failed_here: Arc::default(),
            holds: HashMap::new(),
            leaving: false,
            placement: Arc::default(),
            running_changed: false,
            retired: Arc::default(),
            durable,
            pumps: HashMap::new(),
            snapshots: HashMap::new(),
        }
    }

    /// From now on nothing new is claimed or accepted here.
    pub(crate) fn leaving_now(&mut self) {
        self.leaving = true;
    }

    /// Runs until told to leave.
    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let failed = Arc::clone(&self.failed_here);
        let mut events = self.host.supervisor().events();
        let watch_failures = tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(SupervisionEvent::IntensityExceeded {
                        supervisor,
                        restarts,
                        within,
                    }) => {
                        if let Some(unit) = supervisor.strip_prefix("unit:") {
                            failed.lock().insert(
                                unit.to_owned(),
                                format!("{restarts} restarts within {within:?} on this host"),
                            );
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        let tick = self.settings.heartbeat;
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Leave(done)) => {
                        let report = self.leave().await;
                        let _ = done.send(report);
                        break;
                    }
                    Some(Command::Peer(incoming)) => self.answer(incoming).await,
                    None => break,
                },
                _ = self.cluster.changed(tick) => {}
            }
            self.reconcile().await;
        }
        watch_failures.abort();
    }

    /// Answers another host.
    async fn answer(&mut self, incoming: Incoming) {
        let reply = match incoming.request {
            PeerRequest::Prepare { unit } => self.prepare(&unit).await,
            PeerRequest::Cancel { unit } => {
                if let Some(hold) = self.holds.remove(&unit) {
                    hold.release_elsewhere(&self.broker).await;
                }
                PeerReply::Ok
            }
            PeerRequest::List => PeerReply::Components {
                components: self.host.list().iter().map(PeerComponent::from).collect(),
            },
            PeerRequest::Stop { id } => self.operator_stop(&id).await,
            PeerRequest::Restart { id } => self.operator_restart(&id).await,
            PeerRequest::Subscribe { id, pattern } => {
                self.operator_subscription(&id, &pattern, true).await
            }
            PeerRequest::Unsubscribe { id, pattern } => {
                self.operator_subscription(&id, &pattern, false).await
            }
        };
        let _ = incoming.reply.send(reply);
    }

    /// Opens a hold for `unit`, about to be handed to this host.
    async fn prepare(&mut self, key: &str) -> PeerReply {
        if self.leaving {
            return PeerReply::Error {
                error: "this host is leaving".into(),
            };
        }
        let Some(unit) = self.units.iter().find(|u| u.key == key) else {
            return PeerReply::Error {
                error: format!("no unit {key} in this host's manifest"),
            };
        };
        match Hold::open(&self.broker, unit, &self.manifest).await {
            Ok(hold) => {
                self.holds.insert(key.to_owned(), hold);
                PeerReply::Ok
            }
            Err(error) => PeerReply::Error { error },
        }
    }

    /// One pass over the units.
    pub(crate) async fn reconcile(&mut self) {
        let lease = self.cluster.lease();
        if !lease.holds() && !self.running.is_empty() {
            tracing::warn!(
                units = self.running.len(),
                "cluster lease lost: stopping every component this host ran (fenced)"
            );
            let keys: Vec<String> = self.running.keys().cloned().collect();
            for key in keys {
                self.stop_unit(&key).await;
            }
        }
        let me = self.cluster.me();
        if me.session != self.cluster.accepted_session() {
            // Rejoined after a lapse: what ran under the old session is
            // stopped (above, or it was never started); claim afresh.
            let keys: Vec<String> = self.running.keys().cloned().collect();
            for key in keys {
                self.stop_unit(&key).await;
            }
            self.cluster.accept_session();
            tracing::info!(session = %me.session, "rejoined the cluster under a new session");
        }
        self.publish_placement(lease.holds());
        if !lease.holds() || self.leaving {
            return;
        }
        self.expire_holds();
        let failed: Vec<(String, String)> = self.failed_here.lock().drain().collect();
        for (key, why) in failed {
            self.fail_unit(&key, &why).await;
        }
        let candidates: Vec<HostRecord> = self
            .cluster
            .live_hosts()
            .into_iter()
            .filter(|h| !h.leaving)
            .collect();
        let mut handed_over = false;
        for i in 0..self.units.len() {
            let key = self.units[i].key.clone();
            let owner = self.cluster.owner(&key);
            match owner {
                Some(o) if o.record.host == me.id && o.record.session == me.session => {
                    self.orphaned_since.remove(&key);
                    match o.record.state {
                        UnitState::Running if !self.running.contains_key(&key) => {
                            self.start_unit(i, &me).await;
                        }
                        UnitState::Running if !handed_over => {
                            if let Some(to) = self.better_host(i, &candidates, &me) {
                                handed_over = true;
                                self.hand_over(&key, &to).await;
                            }
                        }
                        UnitState::HandingOver => {
                            // A hand-over runs inside one pass: one seen
                            // here was cut short (its last write failed).
                            // The unit is still this host's: run it again.
                            let mut record = o.record.clone();
                            record.state = UnitState::Running;
                            record.to = None;
                            if let Ok(Some(_)) = self
                                .cluster
                                .write_owner(&key, Some(o.revision), &record)
                                .await
                            {
                                tracing::warn!(unit = %key, "an unfinished hand-over was taken back");
                                if !self.running.contains_key(&key) {
                                    self.start_unit(i, &me).await;
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Some(o)
                    if o.record.state != UnitState::Released
                        && (matches!(o.record.state, UnitState::Failed | UnitState::Stopped)
                            || self.cluster.is_live(&o.record.host, &o.record.session)) =>
                {
                    self.orphaned_since.remove(&key);
                    if self.running.contains_key(&key) {
                        self.stop_unit(&key).await;
                    }
                }
                orphan => {
                    if self.running.contains_key(&key) {
                        self.stop_unit(&key).await;
                    }
                    self.maybe_claim(i, orphan, &candidates, &me).await;
                }
            }
        }
        let components = self.host.registry().len();
        self.cluster.update_me(|r| {
            r.components = u32::try_from(components).unwrap_or(u32::MAX);
        });
        self.publish_placement(self.cluster.lease().holds());
    }

    /// Lets go of holds whose hand-over never completed (the old owner
    /// died or took the unit back): what they held goes back on its
    /// subjects, to whoever runs the components now.
    fn expire_holds(&mut self) {
        let limit = self.settings.handover_timeout * 2;
        let me = self.cluster.me();
        let stale: Vec<String> =
            self.holds
                .iter()
                .filter(|(key, hold)| {
                    hold.age() > limit
                        && self.cluster.owner(key).is_none_or(|o| {
                            o.record.host != me.id || o.record.session != me.session
                        })
                })
                .map(|(key, _)| key.clone())
                .collect();
        for key in stale {
            if let Some(hold) = self.holds.remove(&key) {
                tracing::warn!(unit = %key, "a hand-over to this host never completed; what was held goes back");
                let broker = self.broker.clone();
                tokio::spawn(async move { hold.release_elsewhere(&broker).await });
            }
        }
    }

    /// Shares what runs here and whether the lease holds. Cheap when
    /// nothing started or stopped: it runs on every pass, and the owners
    /// and hosts (one entry per unit) are read from the cluster only when
    /// someone asks ([`ClusterRun::placement`](super::ClusterRun::placement)).
    fn publish_placement(&mut self, lease_holds: bool) {
        let mut p = self.placement.lock();
        p.lease_holds = lease_holds;
        if self.running_changed {
            p.running = self.running.keys().cloned().collect();
            p.running.sort();
            self.running_changed = false;
        }
    }

    /// Another live host that ranks first for unit `i`, if this host runs
    /// it and a hold of that host's would be better placement.
    fn better_host(
        &self,
        i: usize,
        candidates: &[HostRecord],
        me: &HostRecord,
    ) -> Option<HostRecord> {
        let unit = &self.units[i];
        let first = placement::rank(&unit.key, &unit.requires, candidates)
            .into_iter()
            .next()?;
        (first.id != me.id && first.ready && self.owned_by(&first.id) < first.capacity as usize)
            .then(|| first.clone())
    }

    /// Units owned by host `id`, as seen here.
    fn owned_by(&self, id: &str) -> usize {
        self.cluster
            .owners()
            .iter()
            .filter(|(_, o)| o.record.host == id && o.record.state != UnitState::Released)
            .count()
    }

    /// Claims unit `i` if this host's turn has come.
    async fn maybe_claim(
        &mut self,
        i: usize,
        orphan: Option<Owned>,
        candidates: &[HostRecord],
        me: &HostRecord,
    ) {
        let unit = &self.units[i];
        let key = unit.key.clone();
        let rank = placement::rank(&key, &unit.requires, candidates);
        let Some(position) = rank.iter().position(|h| h.id == me.id) else {
            return;
        };
        let since = *self
            .orphaned_since
            .entry(key.clone())
            .or_insert_with(Instant::now);
        if since.elapsed() < self.settings.heartbeat * 2 * u32::try_from(position).unwrap_or(1000) {
            return;
        }
        if self.host.registry().len() + unit.members.len() > me.capacity as usize {
            return;
        }
        let mut record = OwnerRecord::running(&me.id, &me.session);
        if let Some(o) = &orphan {
            if o.record.state != UnitState::Released {
                // Taken from a host that died with it: make sure it did,
                // asking the server rather than this host's view (once per
                // dead session, not once per unit).
                let dead = (o.record.host.clone(), o.record.session.clone());
                let confirmed = if self.confirmed_dead.contains(&dead) {
                    Ok(true)
                } else {
                    self.cluster
                        .confirm_dead(&o.record.host, &o.record.session)
                        .await
                };
                if matches!(confirmed, Ok(true)) {
                    self.confirmed_dead.insert(dead);
                }
                match confirmed {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(error) => {
                        tracing::warn!(unit = %key, %error, "cannot confirm the owner is gone; not claiming");
                        return;
                    }
                }
            }
            record.failures = o.record.failures;
            record.last_failure = o.record.last_failure.clone();
            record.failures_since_ms = o.record.failures_since_ms;
            record.stopped = o.record.stopped.clone();
        }
        match self
            .cluster
            .write_owner(&key, orphan.as_ref().map(|o| o.revision), &record)
            .await
        {
            Ok(Some(_)) => {
                self.orphaned_since.remove(&key);
                match &orphan {
                    Some(o) if o.record.state != UnitState::Released => tracing::warn!(
                        unit = %key,
                        from = %o.record.host,
                        "took over a unit from a dead host"
                    ),
                    _ => tracing::info!(unit = %key, "claimed"),
                }
                self.start_unit(i, me).await;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(unit = %key, %error, "claim failed"),
        }
    }
}

pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, millis)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Asks host `id` something, with this agent's client.
pub(crate) async fn ask_peer(
    broker: &NatsBroker<TopicMessage>,
    id: &str,
    request: &PeerRequest,
    timeout: Duration,
) -> Result<PeerReply, String> {
    peer::ask(broker.client(), broker.prefix(), id, request, timeout).await
}
