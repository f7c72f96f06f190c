//! A unit's life on this host: its supervisor, nested groups and
//! components started (with the state kept for them), its pumps and
//! snapshots, and its stop, here for good or after a failure that counts
//! against the cluster's restart intensity.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use airssys_nats::cluster::{Cluster, HostRecord, UnitState};
use airssys_rt::supervisor::{
    ChildSpec, RestartPolicy, ShutdownPolicy, SupervisorBuilder, SupervisorRef,
};
use airssys_wasm::host::ComponentHost;

use super::{millis, unix_ms, Agent, Running};
use crate::cluster::durable::{mailboxes, KeepState, Pump};
use crate::cluster::units::{Supervision, Unit};
use crate::manifest::spec::supervisor_builder;
use crate::manifest::SnapshotPolicy;

impl Agent {
    /// Starts unit `i`'s supervisor, nested groups and components; then
    /// delivers what a hold kept for it. A unit that cannot start is
    /// released as failed.
    pub(crate) async fn start_unit(&mut self, i: usize, me: &HostRecord) {
        let unit = self.units[i].clone();
        match self.spawn_unit(&unit).await {
            Ok(supervisor) => {
                self.running_changed = true;
                self.running.insert(
                    unit.key.clone(),
                    Running {
                        session: me.session.clone(),
                        supervisor,
                    },
                );
                tracing::info!(unit = %unit.key, components = unit.members.len(), "unit running here");
                if let Some(store) = &self.durable {
                    let topics = self.manifest.durable_topics();
                    // Members an operator stopped were not started: no pump.
                    for m in unit
                        .members
                        .iter()
                        .filter(|m| self.host.component(&m.id).is_some())
                    {
                        let def = &self.manifest.components[m.component];
                        let mailboxes = mailboxes(def, &m.id, &topics);
                        if mailboxes.is_empty() {
                            continue;
                        }
                        let keep = def.snapshot.map(|policy| KeepState {
                            cluster: self.cluster.clone(),
                            policy,
                        });
                        let pump = Pump::start(
                            store.clone(),
                            self.host.clone(),
                            m.id.clone(),
                            mailboxes,
                            keep,
                        );
                        if let Some(old) = self.pumps.insert(m.id.clone(), pump) {
                            old.abort();
                        }
                    }
                }
                for m in unit
                    .members
                    .iter()
                    .filter(|m| self.host.component(&m.id).is_some())
                {
                    let def = &self.manifest.components[m.component];
                    // One with a pump keeps its state through the pump, in
                    // step with its acknowledgements.
                    if self.pumps.contains_key(&m.id) {
                        continue;
                    }
                    if let Some(policy) = def.snapshot {
                        let task = tokio::spawn(keep_state(
                            self.host.clone(),
                            self.cluster.clone(),
                            m.id.clone(),
                            policy,
                        ));
                        if let Some(old) = self.snapshots.insert(m.id.clone(), task) {
                            old.abort();
                        }
                    }
                }
                if let Some(hold) = self.holds.remove(&unit.key) {
                    // The components' own subscriptions are at the server
                    // before the hold lets go of its subjects.
                    if let Err(error) = self.broker.sync().await {
                        tracing::warn!(%error, "could not confirm the unit's subscriptions");
                    }
                    hold.deliver(&self.host, &self.broker, &unit, &self.manifest)
                        .await;
                }
            }
            Err(why) => {
                tracing::warn!(unit = %unit.key, %why, "unit did not start here");
                self.fail_unit(&unit.key, &why).await;
            }
        }
    }

    pub(super) async fn spawn_unit(&self, unit: &Unit) -> Result<SupervisorRef, String> {
        let supervision = Supervision::of(unit, &self.manifest);
        let timeout = self.manifest.host.shutdown_timeout;
        let name = unit.supervisor_name();
        // A leftover from an earlier run of the unit here.
        let _ = self.host.supervisor().terminate_child(&name).await;
        let supervisor = self
            .host
            .supervisor()
            .add_supervisor(
                ChildSpec::new(name.clone())
                    .restart(RestartPolicy::Temporary)
                    .shutdown(ShutdownPolicy::Graceful(timeout)),
                builder(&name, supervision),
            )
            .await
            .map_err(|e| format!("supervisor {name}: {e}"))?;
        let result = self.spawn_members(unit, &supervisor).await;
        if let Err(why) = result {
            for m in unit.members.iter().rev() {
                let _ = self.host.stop(&m.id).await;
            }
            let _ = self.host.supervisor().terminate_child(&name).await;
            return Err(why);
        }
        Ok(supervisor)
    }

    async fn spawn_members(&self, unit: &Unit, supervisor: &SupervisorRef) -> Result<(), String> {
        let timeout = self.manifest.host.shutdown_timeout;
        // Members an operator stopped are not started (`operate`).
        let stopped = self
            .cluster
            .owner(&unit.key)
            .map(|o| o.record.stopped)
            .unwrap_or_default();
        let mut groups: HashMap<&str, SupervisorRef> = HashMap::new();
        for g in &unit.nested {
            let parent = g
                .parent
                .as_deref()
                .and_then(|p| groups.get(p))
                .unwrap_or(supervisor)
                .clone();
            let made = parent
                .add_supervisor(
                    ChildSpec::new(g.name.clone()).shutdown(ShutdownPolicy::Graceful(timeout)),
                    builder(
                        &g.name,
                        Supervision {
                            strategy: g.strategy,
                            intensity: g.intensity,
                            backoff: g.backoff,
                        },
                    ),
                )
                .await
                .map_err(|e| format!("group {}: {e}", g.name))?;
            groups.insert(g.name.as_str(), made);
        }
        for m in unit.members.iter().filter(|m| !stopped.contains(&m.id)) {
            let def = &self.manifest.components[m.component];
            let mut spec =
                crate::manifest::spec::component_spec(def, &m.id, Arc::clone(&def.bytes));
            if def.snapshot.is_some() {
                // Its state where its last host left it.
                match self.cluster.snapshot(&m.id).await {
                    Ok(Some(state)) => {
                        tracing::info!(component = %m.id, bytes = state.len(), "restoring its kept state");
                        spec = spec.restore_state(state);
                    }
                    Ok(None) => {}
                    Err(error) => {
                        return Err(format!(
                            "component {}: its kept state cannot be read: {error}",
                            m.id
                        ))
                    }
                }
            }
            let group = m
                .group
                .as_deref()
                .and_then(|g| groups.get(g))
                .unwrap_or(supervisor);
            self.host
                .spawn_in(group, spec)
                .await
                .map_err(|e| format!("component {}: {e}", m.id))?;
        }
        Ok(())
    }

    /// Stops keeping component `id`'s state.
    pub(crate) fn stop_snapshots(&mut self, id: &str) {
        if let Some(task) = self.snapshots.remove(id) {
            task.abort();
        }
    }

    /// Stops unit `key`'s durable pumps gracefully: in-flight messages are
    /// handled and acknowledged, nothing more is taken.
    pub(crate) async fn finish_pumps(&mut self, key: &str) {
        let Some(unit) = self.units.iter().find(|u| u.key == key) else {
            return;
        };
        let ids: Vec<String> = unit.members.iter().map(|m| m.id.clone()).collect();
        for id in ids {
            if let Some(pump) = self.pumps.remove(&id) {
                pump.finish().await;
            }
        }
    }

    /// Keeps the counts of unit `key`'s components before they go.
    pub(crate) fn retire(&self, key: &str) {
        let Some(unit) = self.units.iter().find(|u| u.key == key) else {
            return;
        };
        let gone = self
            .host
            .list()
            .into_iter()
            .filter(|c| unit.has(c.id.as_str()));
        self.retired.lock().extend(gone);
    }

    /// Stops unit `key` here at once (not owned here any more, or fenced).
    pub(crate) async fn stop_unit(&mut self, key: &str) {
        let Some(running) = self.running.remove(key) else {
            return;
        };
        self.running_changed = true;
        self.retire(key);
        if let Some(unit) = self.units.iter().find(|u| u.key == key) {
            for m in unit.members.iter().rev() {
                // What it had in flight is not acknowledged: delivered
                // again to the next owner.
                if let Some(pump) = self.pumps.remove(&m.id) {
                    pump.abort();
                }
                if let Some(task) = self.snapshots.remove(&m.id) {
                    task.abort();
                }
                let _ = self.host.stop(&m.id).await;
            }
        }
        let name = running.supervisor.name().to_owned();
        let _ = self.host.supervisor().terminate_child(&name).await;
        tracing::info!(unit = %key, session = %running.session, "unit stopped here");
    }

    /// Unit `key` failed here: stops it and releases it with one more
    /// failure, or marks it failed past the cluster's restart intensity.
    pub(super) async fn fail_unit(&mut self, key: &str, why: &str) {
        self.stop_unit(key).await;
        let Some(owned) = self.cluster.owner(key) else {
            return;
        };
        let me = self.cluster.me();
        if owned.record.host != me.id || owned.record.session != me.session {
            return;
        }
        let now_ms = unix_ms();
        let (max, within) = self.settings.intensity;
        let window_start = owned
            .record
            .failures_since_ms
            .filter(|since| now_ms.saturating_sub(*since) <= millis(within));
        let mut record = owned.record.clone();
        record.failures = if window_start.is_some() {
            record.failures + 1
        } else {
            1
        };
        record.failures_since_ms = Some(window_start.unwrap_or(now_ms));
        record.last_failure = Some(format!("on host {}: {why}", me.id));
        record.state = if record.failures >= max {
            tracing::error!(unit = %key, failures = record.failures, %why,
                "unit failed on {} hosts within {:?}: marked failed, it runs nowhere until restarted", record.failures, within);
            UnitState::Failed
        } else {
            tracing::warn!(unit = %key, failures = record.failures, %why, "unit failed here; released to another host");
            UnitState::Released
        };
        if let Err(error) = self
            .cluster
            .write_owner(key, Some(owned.revision), &record)
            .await
        {
            tracing::warn!(unit = %key, %error, "could not record the unit's failure");
        }
    }
}

/// Keeps component `id`'s state in the snapshots bucket per `policy`,
/// until aborted: after every `every` messages it handled, and every
/// `interval` in which it handled any.
pub(super) async fn keep_state(
    host: ComponentHost,
    cluster: Cluster,
    id: String,
    policy: SnapshotPolicy,
) {
    let poll = policy
        .interval
        .unwrap_or(Duration::from_secs(1))
        .min(Duration::from_millis(100));
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let handled = |host: &ComponentHost| host.component(&id).map(|c| c.stats().handled);
    let mut kept_at = handled(&host).unwrap_or(0);
    let mut kept_when = tokio::time::Instant::now();
    loop {
        tick.tick().await;
        let Some(now) = handled(&host) else {
            return;
        };
        let since = now.saturating_sub(kept_at);
        let due = policy.every.is_some_and(|n| since >= n)
            || policy
                .interval
                .is_some_and(|i| since > 0 && kept_when.elapsed() >= i);
        if !due {
            continue;
        }
        match host.snapshot(&id, Duration::from_secs(5)).await {
            Ok(Some(state)) => {
                if let Err(error) = cluster.put_snapshot(&id, state).await {
                    tracing::warn!(component = %id, %error, "state not kept");
                    continue;
                }
                kept_at = now;
                kept_when = tokio::time::Instant::now();
            }
            Ok(None) => return,
            Err(error) => tracing::warn!(component = %id, %error, "snapshot failed"),
        }
    }
}

/// The supervisor builder of `settings`.
fn builder(name: &str, settings: Supervision) -> SupervisorBuilder {
    supervisor_builder(
        name,
        settings.strategy,
        settings.intensity,
        settings.backoff,
    )
}
