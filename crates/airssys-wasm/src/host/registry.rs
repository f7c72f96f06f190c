//! [`ComponentRegistry`]: component id → running component, O(1).

use std::sync::Arc;

use airssys_rt::supervisor::{RestartPolicy, SupervisorRef};
use airssys_rt::ActorRef;
use dashmap::DashMap;

use super::actor::{ComponentActor, ComponentTemplate};
use super::lifecycle::{ComponentEnd, LifecycleState};
use crate::id::ComponentId;
use crate::metrics::HostCallStats;

/// One registered component: its actor handle and what the host needs to
/// route to it without asking the actor.
#[derive(Clone)]
pub(crate) struct RegistryEntry {
    pub(crate) actor: ActorRef<ComponentActor>,
    pub(crate) max_message_bytes: usize,
    /// The supervisor the component was spawned under: the one that stops it.
    pub(crate) group: SupervisorRef,
    /// What its incarnations are made from (the module a live upgrade swaps).
    pub(crate) template: Arc<ComponentTemplate>,
    /// Its restart policy: which of its exits end it for good.
    pub(crate) restart: RestartPolicy,
}

impl RegistryEntry {
    /// Whether it ended and will not come back by itself: its actor is
    /// gone for good (mailbox closed), or it ended on its own
    /// ([`ComponentEnd`]). Such an entry only shows what happened; a
    /// spawn of its id replaces it.
    pub(crate) fn is_over(&self) -> bool {
        !self.actor.is_alive() || self.template.lifecycle.is_ended()
    }
}

/// A component's actor and message limit: what a request to it holds
/// while it waits ([`ComponentRegistry::route`]).
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) actor: ActorRef<ComponentActor>,
    pub(crate) max_message_bytes: usize,
    /// It ended on its own ([`ComponentEnd`]): refuse, do not enqueue.
    pub(crate) ended: bool,
}

/// A row of [`ComponentHost::list`](super::ComponentHost::list).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComponentInfo {
    /// The component id.
    pub id: ComponentId,
    /// Its lifecycle state.
    pub state: LifecycleState,
    /// Why it is not running, when it ended on its own and will not come
    /// back by itself (a `Transient` component's normal exit, a group that
    /// gave up): it stays listed, [`Stopped`](LifecycleState::Stopped) or
    /// [`Failed`](LifecycleState::Failed), until `stop` or a new `spawn`
    /// of its id.
    pub ended: Option<ComponentEnd>,
    /// The restart its supervisor scheduled, while it is
    /// [`Restarting`](LifecycleState::Restarting).
    pub restart: Option<super::lifecycle::RestartPending>,
    /// Times its supervisor restarted it.
    pub restarts: u64,
    /// Messages it handled successfully: sends, requests, topic messages,
    /// downs and exits handed to its guest, and export calls. Control
    /// requests (health, upgrade, snapshot, restart, stop, faults) are not
    /// messages and are not counted.
    pub handled: u64,
    /// Messages whose handling failed (trap, error code, bad invoke, a
    /// message over the limit of a topic).
    pub failed: u64,
    /// Messages waiting in its mailbox now.
    pub mailbox_len: usize,
    /// Host calls its guest made that the allow-lists refused.
    pub denied: u64,
    /// Live upgrades applied to it ([`ComponentHost::upgrade`](super::ComponentHost::upgrade)).
    pub upgrades: u64,
}

/// Maps component ids to running components. Lookups are O(1) and never
/// wait for a component.
#[derive(Default)]
pub struct ComponentRegistry {
    entries: DashMap<ComponentId, RegistryEntry, foldhash::fast::RandomState>,
}

impl std::fmt::Debug for ComponentRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComponentRegistry")
            .field("len", &self.entries.len())
            .finish()
    }
}

impl ComponentRegistry {
    pub(crate) fn get(&self, id: &str) -> Option<RegistryEntry> {
        self.entries.get(id).map(|e| e.value().clone())
    }

    /// `f` of the entry of `id`, read in place: nothing is cloned, which is
    /// what a send wants (an entry's clone is four reference counts taken
    /// and given back on every message). `f` runs under the registry
    /// shard's read lock, so it must not wait.
    pub(crate) fn with<R>(&self, id: &str, f: impl FnOnce(&RegistryEntry) -> R) -> Option<R> {
        self.entries.get(id).map(|e| f(e.value()))
    }

    /// What a request to `id` needs past the lookup (its actor and message
    /// limit), at one reference count.
    pub(crate) fn route(&self, id: &str) -> Option<Route> {
        self.with(id, |e| Route {
            actor: e.actor.clone(),
            max_message_bytes: e.max_message_bytes,
            ended: e.template.lifecycle.is_ended(),
        })
    }

    /// Registers `id`; `false` if it is taken.
    pub(crate) fn insert(&self, id: ComponentId, entry: RegistryEntry) -> bool {
        match self.entries.entry(id) {
            dashmap::Entry::Occupied(_) => false,
            dashmap::Entry::Vacant(slot) => {
                slot.insert(entry);
                true
            }
        }
    }

    pub(crate) fn remove(&self, id: &str) -> Option<RegistryEntry> {
        self.entries.remove(id).map(|(_, e)| e)
    }

    /// Removes `id` if it is over ([`RegistryEntry::is_over`]), atomically:
    /// `Ok(Some)` with the entry removed, `Ok(None)` when no entry has the
    /// id, `Err(())` when a live component has it.
    pub(crate) fn remove_if_over(&self, id: &str) -> Result<Option<RegistryEntry>, ()> {
        if let Some((_, entry)) = self.entries.remove_if(id, |_, e| e.is_over()) {
            return Ok(Some(entry));
        }
        if self.entries.contains_key(id) {
            Err(())
        } else {
            Ok(None)
        }
    }

    /// Calls `f` with every entry spawned under the group named `group`,
    /// under each shard's read lock (`f` must not wait). O(components).
    pub(crate) fn visit_group(&self, group: &str, mut f: impl FnMut(&RegistryEntry)) {
        for e in self.entries.iter() {
            if e.group.name() == group {
                f(e.value());
            }
        }
    }

    /// `true` if a component with this id is registered.
    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// How many components are registered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many registered components are not over (running, starting or
    /// restarting): those that did not end on their own. O(components).
    pub(crate) fn live_len(&self) -> usize {
        self.entries.iter().filter(|e| !e.is_over()).count()
    }

    /// `true` when no component is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The lifecycle state of `id`, if registered.
    pub fn state(&self, id: &str) -> Option<LifecycleState> {
        self.entries.get(id).map(|e| e.template.lifecycle.get())
    }

    /// Calls `f` with each registered component's id and counters, in no
    /// particular order, under each shard's read lock (`f` must not wait).
    pub(crate) fn visit_metrics(&self, mut f: impl FnMut(&ComponentId, &HostCallStats)) {
        for e in self.entries.iter() {
            if let Some(stats) = e.template.config.stats.as_deref() {
                f(e.key(), stats);
            }
        }
    }

    /// Every component's id, state, counters and mailbox length, sorted by id.
    pub fn list(&self) -> Vec<ComponentInfo> {
        let mut rows: Vec<ComponentInfo> = self
            .entries
            .iter()
            .map(|e| {
                let stats = e.actor.stats();
                ComponentInfo {
                    id: e.key().clone(),
                    state: e.template.lifecycle.get(),
                    ended: e.template.lifecycle.ended(),
                    restart: e.template.lifecycle.pending(),
                    restarts: stats.restarts,
                    handled: e
                        .template
                        .handled
                        .load(std::sync::atomic::Ordering::Relaxed),
                    failed: e.template.failed.load(std::sync::atomic::Ordering::Relaxed),
                    mailbox_len: e.actor.mailbox_len(),
                    denied: e.template.config.stats.as_ref().map_or(0, |calls| {
                        calls.denied.load(std::sync::atomic::Ordering::Relaxed)
                    }),
                    upgrades: e
                        .template
                        .upgrades
                        .load(std::sync::atomic::Ordering::Relaxed),
                }
            })
            .collect();
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        rows
    }
}
