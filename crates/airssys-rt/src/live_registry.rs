//! [`LiveRegistry`]: the running unsupervised actors, which shutdown walks.
//!
//! Every unsupervised spawn inserts one entry and every actor end removes it,
//! so both sit on the spawn path and must cost little. The registry is a few
//! slabs behind their own locks, picked by actor id: an insert is one
//! uncontended lock and a vector push, with no hashing and no rehash as the
//! population grows. The slot is reserved before the actor's task exists and
//! the task handle attached after, so the spawner never writes to the
//! actor's record while the new task may be running on another core. The
//! slot an actor got is kept in its shared record; the actor's end takes it
//! from there and removes the entry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use slab::Slab;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::actor::{ActorId, ActorShared, LiveActor};

/// Shards: enough that spawners on different cores rarely meet on one lock.
const SHARDS: usize = 16;

/// Marks "no slot" in [`ActorShared::live_slot`].
pub(crate) const NO_SLOT: usize = usize::MAX;

/// A running unsupervised actor, as shutdown sees it: its handle, to stop
/// it, and its task, to abort it if it does not stop in time (`None` for the
/// moment between reserving the slot and spawning the task).
pub(crate) struct LiveEntry {
    pub(crate) actor: Arc<dyn LiveActor>,
    id: ActorId,
    pub(crate) task: Option<JoinHandle<()>>,
}

/// A reserved registry slot, to attach the actor's task to once spawned.
pub(crate) struct LiveSlot {
    id: ActorId,
    slot: usize,
}

/// One lock and its slab, on a cache line of its own.
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<Slab<LiveEntry>>);

/// The running unsupervised actors of one system.
pub(crate) struct LiveRegistry {
    shards: [Shard; SHARDS],
    count: AtomicUsize,
    /// Notified when the last entry is removed, for shutdown's wait.
    removed: Notify,
}

impl LiveRegistry {
    pub(crate) fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| Shard::default()),
            count: AtomicUsize::new(0),
            removed: Notify::new(),
        }
    }

    fn shard(&self, id: ActorId) -> &Mutex<Slab<LiveEntry>> {
        // Ids are sequential: consecutive spawns use consecutive shards.
        &self.shards[(id.0 as usize) % SHARDS].0
    }

    /// Running actors now. O(1).
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Reserves the entry of an actor about to be spawned. Call before its
    /// task exists, then [`attach`](Self::attach) the task.
    pub(crate) fn reserve(&self, actor: Arc<dyn LiveActor>) -> LiveSlot {
        let id = actor.shared().id;
        let slot = self.shard(id).lock().insert(LiveEntry {
            actor: Arc::clone(&actor),
            id,
            task: None,
        });
        actor.shared().live_slot.store(slot, Ordering::Release);
        self.count.fetch_add(1, Ordering::AcqRel);
        LiveSlot { id, slot }
    }

    /// Attaches the spawned task to its reserved entry. If the actor
    /// already ended (its entry is gone, or the slot now holds another
    /// actor), the handle is simply dropped.
    pub(crate) fn attach(&self, reserved: LiveSlot, task: JoinHandle<()>) {
        let mut shard = self.shard(reserved.id).lock();
        if let Some(entry) = shard.get_mut(reserved.slot) {
            if entry.id == reserved.id {
                entry.task = Some(task);
            }
        }
    }

    /// Removes the actor's entry, if it still has one. Called when the
    /// actor ends for good.
    pub(crate) fn remove(&self, shared: &ActorShared) {
        let slot = shared.live_slot.swap(NO_SLOT, Ordering::AcqRel);
        if slot == NO_SLOT {
            return;
        }
        // Dropped after the lock is released: dropping the handle of the
        // actor's own task is fine, and nothing runs under the lock.
        let entry = self.shard(shared.id).lock().try_remove(slot);
        if entry.is_some() && self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.removed.notify_waiters();
        }
        drop(entry);
    }

    /// Calls `visit` on every entry, shard by shard, under that shard's lock.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(&LiveEntry)) {
        for shard in &self.shards {
            for (_, entry) in shard.0.lock().iter() {
                visit(entry);
            }
        }
    }

    /// Waits until no actor is left.
    pub(crate) async fn wait_empty(&self) {
        loop {
            // Registered before the check, so emptying in between wakes it.
            let removed = self.removed.notified();
            if self.len() == 0 {
                return;
            }
            removed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::atomic::AtomicBool;
    use std::task::Context;

    use super::*;
    use crate::testing::WakeFlag;

    /// A stand-in for an actor's record.
    struct Probe {
        shared: ActorShared,
        stop_requested: AtomicBool,
    }

    impl LiveActor for Probe {
        fn shared(&self) -> &ActorShared {
            &self.shared
        }

        fn request_stop(&self) {
            self.stop_requested.store(true, Ordering::SeqCst);
        }
    }

    fn probe(id: u64) -> Arc<Probe> {
        Arc::new(Probe {
            shared: ActorShared::new(ActorId(id), None),
            stop_requested: AtomicBool::new(false),
        })
    }

    #[tokio::test]
    async fn an_actor_is_live_from_reservation_until_removed_once() {
        let registry = LiveRegistry::new();
        let actor = probe(1);
        let slot = registry.reserve(actor.clone());
        registry.attach(slot, tokio::spawn(async {}));
        assert_eq!(registry.len(), 1);
        let mut tasks = 0;
        registry.for_each(|entry| {
            entry.actor.request_stop();
            tasks += usize::from(entry.task.is_some());
        });
        assert_eq!(tasks, 1);
        assert!(actor.stop_requested.load(Ordering::SeqCst));
        registry.remove(&actor.shared);
        registry.remove(&actor.shared);
        assert_eq!(registry.len(), 0);
    }

    #[tokio::test]
    async fn a_task_attached_after_its_actor_ended_is_dropped() {
        let registry = LiveRegistry::new();
        let ended = probe(1 + SHARDS as u64);
        let slot = registry.reserve(ended.clone());
        registry.remove(&ended.shared);
        // Another actor in the same shard takes the freed slot meanwhile.
        let next = probe(1);
        let _next_slot = registry.reserve(next.clone());
        registry.attach(slot, tokio::spawn(async {}));
        let mut attached = Vec::new();
        registry.for_each(|entry| attached.push((entry.id, entry.task.is_some())));
        assert_eq!(
            attached,
            vec![(ActorId(1), false)],
            "not attached to the newcomer"
        );
    }

    #[test]
    fn waiting_for_empty_ends_when_the_last_actor_is_removed() {
        let registry = LiveRegistry::new();
        let actors: Vec<_> = (1..=3).map(probe).collect();
        for actor in &actors {
            registry.reserve(actor.clone());
        }
        let (waker, woken) = WakeFlag::waker();
        let mut cx = Context::from_waker(&waker);
        let mut wait = std::pin::pin!(registry.wait_empty());
        for actor in &actors {
            assert!(!woken.take(), "not woken while actors are left");
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            registry.remove(&actor.shared);
        }
        assert!(woken.take(), "woken by the last removal");
        assert!(wait.as_mut().poll(&mut cx).is_ready());
    }
}
