//! The owner's side of an operator's stop or restart: the agent of the
//! host that runs the unit writes the unit's owner record first (so no
//! host starts a stopped component again), then acts.

use std::time::Duration;

use airssys_nats::cluster::{Owned, OwnerRecord, UnitState};

use super::mark_stopped;
use crate::cluster::agent::Agent;
use crate::cluster::peer::PeerReply;
use crate::cluster::units::Unit;

/// Time a restart waits for the messages queued before it: 30 s.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

impl Agent {
    /// An operator's stop of component `id`, whose unit runs here: written
    /// into the unit's owner record first (so no host starts it again),
    /// then done.
    pub(crate) async fn operator_stop(&mut self, id: &str) -> PeerReply {
        let (unit, owned) = match self.operated_here(id) {
            Ok(found) => found,
            Err(error) => return PeerReply::Error { error },
        };
        let mut record = owned.record.clone();
        mark_stopped(&mut record, &unit, id);
        if let Err(error) = self.write_operated(&unit.key, &owned, &record).await {
            return PeerReply::Error { error };
        }
        if record.state == UnitState::Stopped {
            self.stop_unit(&unit.key).await;
        } else {
            let gone = self.host.list().into_iter().filter(|c| c.id.as_str() == id);
            self.retired.lock().extend(gone);
            if let Err(e) = self.host.stop(id).await {
                tracing::warn!(component = %id, error = %e, "stopping the component");
            }
        }
        tracing::info!(component = %id, unit = %unit.key, "stopped by an operator; runs nowhere until restarted");
        PeerReply::Ok
    }

    /// An operator's restart of component `id`, whose unit runs here: a
    /// running component restarts after its queued messages; a stopped
    /// member is cleared from the record and its unit restarted here.
    pub(crate) async fn operator_restart(&mut self, id: &str) -> PeerReply {
        let (unit, owned) = match self.operated_here(id) {
            Ok(found) => found,
            Err(error) => return PeerReply::Error { error },
        };
        if !owned.record.stopped.iter().any(|s| s == id) {
            return match self.host.restart(id, QUEUE_TIMEOUT).await {
                Ok(()) => PeerReply::Ok,
                Err(e) => PeerReply::Error {
                    error: e.to_string(),
                },
            };
        }
        let mut record = owned.record.clone();
        record.stopped.retain(|s| s != id);
        if let Err(error) = self.write_operated(&unit.key, &owned, &record).await {
            return PeerReply::Error { error };
        }
        let me = self.cluster.me();
        self.stop_unit(&unit.key).await;
        if let Some(i) = self.units.iter().position(|u| u.key == unit.key) {
            self.start_unit(i, &me).await;
        }
        tracing::info!(component = %id, unit = %unit.key, "restarted by an operator");
        PeerReply::Ok
    }

    /// Component `id`'s unit and its owner record, if this host runs it.
    fn operated_here(&self, id: &str) -> Result<(Unit, Owned), String> {
        let unit = self
            .units
            .iter()
            .find(|u| u.has(id))
            .cloned()
            .ok_or_else(|| format!("no component {id} in this host's manifest"))?;
        let me = self.cluster.me();
        match self.cluster.owner(&unit.key) {
            Some(o)
                if o.record.host == me.id
                    && o.record.session == me.session
                    && o.record.state == UnitState::Running
                    && self.running.contains_key(&unit.key) =>
            {
                Ok((unit, o))
            }
            _ => Err(format!(
                "unit {} is not running on this host now (it is moving); try again",
                unit.key
            )),
        }
    }

    async fn write_operated(
        &self,
        key: &str,
        owned: &Owned,
        record: &OwnerRecord,
    ) -> Result<(), String> {
        match self
            .cluster
            .write_owner(key, Some(owned.revision), record)
            .await
        {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!(
                "the owner record of unit {key} changed meanwhile; try again"
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}
