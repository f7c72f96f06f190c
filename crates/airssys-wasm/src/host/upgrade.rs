//! Live upgrade: [`ComponentHost::upgrade`] and
//! [`ComponentHost::upgrade_all`] replace running components' binaries
//! through their own mailboxes (the swap itself is
//! [`ComponentMessage::Upgrade`], handled by the component actor).

use std::sync::Arc;
use std::time::Duration;

use super::error::{ComponentFailure, HostError};
use super::facade::ComponentHost;
use super::message::{ComponentMessage, UpgradeOutcome};
use super::operate::control;
use super::registry::RegistryEntry;
use crate::guest::GuestModule;
use crate::id::ComponentId;

impl ComponentHost {
    /// Live upgrade: replaces the binary of running component `id` without
    /// losing or repeating a message, and returns what was done.
    ///
    /// The new binary is loaded and checked first (form, exports, imports
    /// against the host's, as at spawn; the component's limits and
    /// allow-lists carry over). Then an upgrade message goes through the
    /// component's own mailbox, so it is ordered after every message already
    /// queued: the component finishes those, makes and `init`s an instance
    /// of the new version, hands its state over when the old version exports
    /// `snapshot` and the new one `restore` (docs/core-abi.md), runs the old
    /// instance's `cleanup`, and carries on with the next message in the
    /// same mailbox. Its id and `ActorRef` stay; later restarts use the new
    /// version. Costs one compilation (none if the binary is cached) and one
    /// instantiation; the old and the new instance briefly hold a pool slot
    /// each.
    ///
    /// # Errors
    /// [`HostError::UnknownComponent`]; [`HostError::Wasm`] (the binary is
    /// invalid or does not follow the ABI: nothing was sent);
    /// [`HostError::UpgradeFailed`] (the new version failed to instantiate,
    /// `init` or `restore`: the old version keeps serving, unchanged);
    /// [`HostError::Timeout`] when the component did not reach the upgrade
    /// within `timeout` (see cancel safety); [`HostError::ComponentStopped`].
    ///
    /// # Cancel safety
    /// Once the upgrade message is in the mailbox it is applied when the
    /// component reaches it, even if this future is dropped or times out;
    /// [`ComponentInfo::upgrades`](crate::host::ComponentInfo::upgrades) tells whether it was.
    pub async fn upgrade(
        &self,
        id: &str,
        binary: impl Into<Arc<[u8]>>,
        timeout: Duration,
    ) -> Result<UpgradeReport, HostError> {
        let entry = self.entry(id)?;
        let module = self
            .inner
            .engine
            .load_async(ComponentId::new(id), binary.into())
            .await?;
        upgrade_one(id, &entry, module, timeout).await
    }

    /// Live-upgrades several components (e.g. every instance of one spec)
    /// to one binary, one after the other, as [`upgrade`](Self::upgrade)
    /// does each. If one fails, those already upgraded are upgraded back to
    /// the version each ran before (their state handed back the same way),
    /// the rest are left alone, and the error names the one that failed and
    /// those rolled back. All ids are checked, and the binary loaded, before
    /// any component is touched.
    ///
    /// # Errors
    /// As [`upgrade`](Self::upgrade); [`HostError::UpgradeFailed`] carries
    /// `rolled_back`.
    pub async fn upgrade_all(
        &self,
        ids: &[&str],
        binary: impl Into<Arc<[u8]>>,
        timeout: Duration,
    ) -> Result<Vec<UpgradeReport>, HostError> {
        let entries = ids
            .iter()
            .map(|id| self.entry(id).map(|e| (*id, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let Some((first, _)) = entries.first() else {
            return Ok(Vec::new());
        };
        let module = self
            .inner
            .engine
            .load_async(ComponentId::new(*first), binary.into())
            .await?;
        let mut done: Vec<(&str, &RegistryEntry, GuestModule)> = Vec::new();
        let mut reports = Vec::with_capacity(entries.len());
        for (id, entry) in &entries {
            let old = entry.template.module();
            match upgrade_one(id, entry, module.clone(), timeout).await {
                Ok(report) => {
                    reports.push(report);
                    done.push((*id, entry, old));
                }
                Err(error) => {
                    let mut rolled_back = Vec::new();
                    for (done_id, done_entry, old) in done.into_iter().rev() {
                        match upgrade_one(done_id, done_entry, old, timeout).await {
                            Ok(_) => rolled_back.push(ComponentId::new(done_id)),
                            Err(rollback) => tracing::error!(
                                component = done_id,
                                error = %rollback,
                                "rollback of an upgraded component failed; it runs the new version"
                            ),
                        }
                    }
                    return Err(match error {
                        HostError::UpgradeFailed {
                            component, cause, ..
                        } => HostError::UpgradeFailed {
                            component,
                            cause,
                            rolled_back,
                        },
                        other => {
                            if !rolled_back.is_empty() {
                                tracing::warn!(component = *id, error = %other, ?rolled_back, "upgrade failed; rolled back");
                            }
                            other
                        }
                    });
                }
            }
        }
        Ok(reports)
    }
}

async fn upgrade_one(
    id: &str,
    entry: &RegistryEntry,
    module: GuestModule,
    timeout: Duration,
) -> Result<UpgradeReport, HostError> {
    let asked = control(id, &entry.actor, timeout, |answer| {
        ComponentMessage::Upgrade { module, answer }
    });
    match asked.await {
        Ok(outcome) => Ok(UpgradeReport {
            component: ComponentId::new(id),
            outcome,
        }),
        Err(HostError::HandlerFailed { component, cause }) => Err(HostError::UpgradeFailed {
            component,
            cause: match cause {
                ComponentFailure::UpgradeRejected(inner) => inner,
                other => Box::new(other),
            },
            rolled_back: Vec::new(),
        }),
        Err(other) => Err(other),
    }
}

/// What [`ComponentHost::upgrade`] did to one component.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpgradeReport {
    /// The component upgraded.
    pub component: ComponentId,
    /// State handed over and the component's upgrade count.
    pub outcome: UpgradeOutcome,
}
