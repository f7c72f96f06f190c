//! Graceful hand-over of a unit from this host to another, and the
//! graceful leave that hands over everything (`SIGTERM`, Ctrl-C, the end
//! of `--duration`).
//!
//! 1. The owner record says `handing_over` to the new host (compare-and-set
//!    on the revision this host holds: nobody else can move the unit
//!    meanwhile).
//! 2. The new host opens a hold ([`super::hold`]): it subscribes the unit's
//!    subjects and keeps what arrives.
//! 3. This host hands each component off ([`ComponentHost::hand_off`]):
//!    out of the registry, subject drained, queued messages handled, stopped.
//! 4. The owner record names the new host (and its session), running.
//! 5. The new host, seeing that, starts the unit and delivers what it held.
//!
//! If the new host does not open its hold, the record goes back to running
//! here and nothing moved. If it dies after step 4, the unit is orphaned and
//! failover places it, as for any dead host.

use std::time::{Duration, Instant};

use airssys_nats::cluster::{placement, HostRecord, OwnerRecord, UnitState};

use super::agent::{ask_peer, Agent, LeaveReport};
use super::peer::{PeerReply, PeerRequest};

impl Agent {
    /// Hands unit `key`, running here, to host `to`. `true` when it moved.
    pub(crate) async fn hand_over(&mut self, key: &str, to: &HostRecord) -> bool {
        let started = Instant::now();
        let Some(owned) = self.cluster.owner(key) else {
            return false;
        };
        let me = self.cluster.me();
        let mut record = owned.record.clone();
        record.state = UnitState::HandingOver;
        record.to = Some(to.id.clone());
        let Ok(Some(revision)) = self
            .cluster
            .write_owner(key, Some(owned.revision), &record)
            .await
        else {
            return false;
        };
        let timeout = self.settings.handover_timeout;
        let prepared = ask_peer(
            &self.broker,
            &to.id,
            &PeerRequest::Prepare {
                unit: key.to_owned(),
            },
            timeout / 2,
        )
        .await;
        if !matches!(prepared, Ok(PeerReply::Ok)) {
            tracing::warn!(unit = %key, to = %to.id, answer = ?prepared, "hand-over refused; the unit stays here");
            let mut back = owned.record.clone();
            back.state = UnitState::Running;
            back.to = None;
            let _ = self.cluster.write_owner(key, Some(revision), &back).await;
            return false;
        }
        let deadline = Instant::now() + timeout;
        // Durable messages in flight are handled and acknowledged here;
        // the rest stay stored for the new owner.
        self.finish_pumps(key).await;
        self.retire(key);
        if let Some(unit) = self.units.iter().find(|u| u.key == key).cloned() {
            for m in unit.members.iter().rev() {
                self.stop_snapshots(&m.id);
                let keeps_state = self.manifest.components[m.component].snapshot.is_some();
                let left = deadline.saturating_duration_since(Instant::now());
                match self
                    .host
                    .hand_off(&m.id, left.max(Duration::from_millis(10)), keeps_state)
                    .await
                {
                    Ok(done) => {
                        if !done.drained || !done.handled_queued {
                            tracing::warn!(
                                component = %m.id, drained = done.drained,
                                "hand-off ran out of time: what was left is dead-lettered actor_stopped"
                            );
                        }
                        // The new owner restores this state: taken after
                        // the last message handled here.
                        if let Some(state) = done.state {
                            if let Err(error) = self.cluster.put_snapshot(&m.id, state).await {
                                tracing::warn!(component = %m.id, %error, "the hand-off's snapshot was not stored; the new owner restores the last one");
                            }
                        }
                    }
                    Err(error) => {
                        tracing::warn!(component = %m.id, %error, "hand-off failed");
                    }
                }
            }
        }
        if let Some(running) = self.running.remove(key) {
            self.running_changed = true;
            let name = running.supervisor.name().to_owned();
            let _ = self.host.supervisor().terminate_child(&name).await;
        }
        let mut next = OwnerRecord::running(&to.id, &to.session);
        next.failures = record.failures;
        next.last_failure = record.last_failure.clone();
        next.failures_since_ms = record.failures_since_ms;
        next.stopped = record.stopped.clone();
        match self.cluster.write_owner(key, Some(revision), &next).await {
            Ok(Some(_)) => {
                tracing::info!(unit = %key, from = %me.id, to = %to.id, took = ?started.elapsed(), "unit handed over");
                true
            }
            other => {
                tracing::warn!(unit = %key, answer = ?other, "the hand-over's last write failed; the unit is orphaned and will be placed again");
                false
            }
        }
    }

    /// Hands every unit running here to the host that ranks first for it
    /// among the others (releasing those no other host can take), then
    /// leaves the cluster.
    pub(crate) async fn leave(&mut self) -> LeaveReport {
        self.leaving_now();
        let mut report = LeaveReport::default();
        // The others learn at once that this host takes nothing new.
        self.cluster.update_me(|r| r.leaving = true);
        if let Err(error) = self.cluster.announce().await {
            tracing::warn!(%error, "could not announce the leave; the others learn it with the next heartbeat");
        }
        let me = self.cluster.me();
        let others: Vec<HostRecord> = self
            .cluster
            .live_hosts()
            .into_iter()
            .filter(|h| h.id != me.id && !h.leaving && h.ready)
            .collect();
        let mut keys: Vec<String> = self.running.keys().cloned().collect();
        keys.sort();
        for key in keys {
            let Some(unit) = self.units.iter().find(|u| u.key == key) else {
                continue;
            };
            let target = placement::rank(&key, &unit.requires, &others)
                .into_iter()
                .next()
                .cloned();
            if let Some(to) = target {
                if self.hand_over(&key, &to).await {
                    report.handed_over += 1;
                    continue;
                }
            }
            // Nobody to take it: stopped here, released for the next host.
            self.stop_unit(&key).await;
            if let Some(owned) = self.cluster.owner(&key) {
                let mut record = owned.record.clone();
                record.state = UnitState::Released;
                let _ = self
                    .cluster
                    .write_owner(&key, Some(owned.revision), &record)
                    .await;
            }
            report.released += 1;
        }
        for (_, hold) in self.holds.drain() {
            hold.release_elsewhere(&self.broker).await;
        }
        self.cluster.leave().await;
        tracing::info!(?report, "left the cluster");
        report
    }
}
